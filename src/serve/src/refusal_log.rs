//! Logging refusals without letting the log become the attack: for refusals anyone can cause
//! at will (rate-limited requests, connections from addresses that are not a trusted proxy),
//! at most one line per reason and client address a minute, saying how many were not logged.
#![forbid(unsafe_code)]

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// How often one reason may be logged for one client address.
const EVERY: Duration = Duration::from_secs(60);

/// Entries kept before old ones are dropped.
const MAX_TRACKED: usize = 10_000;

struct Seen {
    logged: Instant,
    suppressed: u64,
}

fn table() -> &'static Mutex<HashMap<(&'static str, IpAddr), Seen>> {
    static TABLE: OnceLock<Mutex<HashMap<(&'static str, IpAddr), Seen>>> = OnceLock::new();
    TABLE.get_or_init(|| Mutex::new(HashMap::new()))
}

/// Logs `event=refused reason={reason} client={client}{detail}` unless this reason was logged
/// for this client within the last minute; the next line says how many were left out.
pub fn refused(reason: &'static str, client: IpAddr, detail: &str) {
    let now = Instant::now();
    let mut t = table().lock().unwrap_or_else(|p| p.into_inner());
    if t.len() >= MAX_TRACKED {
        t.retain(|_, s| now.duration_since(s.logged) < EVERY);
    }
    let suppressed = match t.get_mut(&(reason, client)) {
        Some(s) if now.duration_since(s.logged) < EVERY => {
            s.suppressed += 1;
            return;
        }
        Some(s) => {
            let n = s.suppressed;
            *s = Seen {
                logged: now,
                suppressed: 0,
            };
            n
        }
        None => {
            t.insert(
                (reason, client),
                Seen {
                    logged: now,
                    suppressed: 0,
                },
            );
            0
        }
    };
    drop(t);
    let more = if suppressed > 0 {
        format!(" not_logged_since_last={suppressed}")
    } else {
        String::new()
    };
    super::log(&format!(
        "event=refused reason={reason} client={client}{detail}{more}"
    ));
}
