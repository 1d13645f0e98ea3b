//! Per-host quotas for what a host's requests hold while they wait: every long-poll (a
//! decision or a pairing) keeps a connection and a task. One host that opens a flood of them
//! runs into its own quota; the other hosts keep theirs.
#![forbid(unsafe_code)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Long-polls held per host, at most `max` each.
pub struct HostWaiters {
    max: usize,
    held: Arc<Mutex<HashMap<String, usize>>>,
}

/// One held long-poll; given back when dropped.
pub struct WaiterSlot {
    host: String,
    held: Arc<Mutex<HashMap<String, usize>>>,
}

impl HostWaiters {
    pub fn new(max: usize) -> HostWaiters {
        HostWaiters {
            max,
            held: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    /// A slot for one more long-poll of `host`, or `None` when it holds `max` already.
    pub fn acquire(&self, host: &str) -> Option<WaiterSlot> {
        let mut held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        let n = held.entry(host.to_string()).or_default();
        if *n >= self.max {
            return None;
        }
        *n += 1;
        Some(WaiterSlot {
            host: host.to_string(),
            held: Arc::clone(&self.held),
        })
    }
}

impl Drop for WaiterSlot {
    fn drop(&mut self) {
        let mut held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = held.get_mut(&self.host) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                held.remove(&self.host);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_host_at_its_quota_does_not_take_others_slots() {
        let w = HostWaiters::new(2);
        let a1 = w.acquire("a");
        let a2 = w.acquire("a");
        assert!(a1.is_some() && a2.is_some());
        assert!(w.acquire("a").is_none());
        assert!(w.acquire("b").is_some());
        drop(a1);
        assert!(w.acquire("a").is_some(), "a slot is given back on drop");
    }
}
