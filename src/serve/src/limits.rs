//! Abuse limits that are not about one request's content: requests per client address for
//! the endpoints anyone can call (token buckets, IPv6 counted per /64).
#![forbid(unsafe_code)]

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use tokio::time::Instant;

/// Largest request body accepted anywhere (a push subscription is the biggest legitimate one).
pub const MAX_BODY_BYTES: usize = 16 * 1024;

/// Longest a long-poll may wait (`?wait=S`, clamped).
pub const MAX_WAIT_SECONDS: u64 = 60;

/// How long a pairing stays open.
pub const PAIRING_SECONDS: u64 = 600;

/// Open pairings one host may have at once.
pub const MAX_OPEN_PAIRINGS_PER_HOST: u64 = 1000;

/// Client addresses tracked before full buckets are forgotten.
const MAX_TRACKED: usize = 100_000;

struct Bucket {
    tokens: f64,
    last: Instant,
}

/// Token buckets per client address: `per_minute` requests a minute, bursts up to one
/// minute's worth. Zero turns the limit off.
pub struct ClientLimiter {
    per_minute: u32,
    buckets: Mutex<HashMap<IpAddr, Bucket>>,
}

impl ClientLimiter {
    pub fn new(per_minute: u32) -> ClientLimiter {
        ClientLimiter {
            per_minute,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one token for `addr`; false when its bucket is empty.
    pub fn allow(&self, addr: IpAddr) -> bool {
        if self.per_minute == 0 {
            return true;
        }
        let capacity = f64::from(self.per_minute);
        let rate = capacity / 60.0;
        let now = Instant::now();
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if buckets.len() >= MAX_TRACKED {
            buckets.retain(|_, b| {
                b.tokens + now.duration_since(b.last).as_secs_f64() * rate < capacity
            });
        }
        let bucket = buckets.entry(key(addr)).or_insert(Bucket {
            tokens: capacity,
            last: now,
        });
        let refill = now.duration_since(bucket.last).as_secs_f64() * rate;
        bucket.tokens = (bucket.tokens + refill).min(capacity);
        bucket.last = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// IPv4 addresses count alone; IPv6 addresses per /64 (one customer's network).
fn key(addr: IpAddr) -> IpAddr {
    match addr {
        IpAddr::V4(_) => addr,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let mut s = v6.segments();
                s[4..].fill(0);
                IpAddr::V6(s.into())
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_gets_its_burst_then_is_limited_others_are_not() {
        let l = ClientLimiter::new(3);
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        assert!((0..3).all(|_| l.allow(a)));
        assert!(!l.allow(a));
        assert!(l.allow(b));
    }

    #[test]
    fn ipv6_addresses_of_one_network_share_a_bucket() {
        let l = ClientLimiter::new(1);
        assert!(l.allow("2001:db8::1".parse().unwrap()));
        assert!(!l.allow("2001:db8::2".parse().unwrap()));
        assert!(l.allow("2001:db8:0:1::1".parse().unwrap()));
    }

    #[test]
    fn zero_means_unlimited() {
        let l = ClientLimiter::new(0);
        assert!((0..1000).all(|_| l.allow("192.0.2.1".parse().unwrap())));
    }
}
