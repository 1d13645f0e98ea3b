//! The ways out of the process: HTTP(S) to a service or a text-message gateway, and running an
//! administrator's program (alerts, the command gateway).
//!
//! They are reached through [`install`]ed function pointers, not called directly, so that an
//! object which never installs them does not link them: the PAM module `pam_twofold.so` signs in
//! with app and recovery codes alone and leaves out the sockets, TLS, name resolution, threads and
//! process spawning that every sshd and sudo would otherwise bind at load. When the configuration
//! needs them ([`Config::reaches_outside`](crate::config::Config::reaches_outside)), it hands the
//! sign-in to `pam_twofold_full.so`, which installs [`SYSTEM`]. The command and the approval
//! service install it at start. Without them a request fails as [`HttpError::NotLinked`] and a
//! program as "not in this build": refused, never let in.
#![forbid(unsafe_code)]

use crate::push::client::{Client, HttpError, Response};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Sends `request` (a whole HTTP/1.1 request) to the client's endpoint and reads the answer,
/// everything by the deadline.
pub type Exchange = fn(&Client, &[u8], Instant) -> Result<Response, HttpError>;

/// Runs `program` with `args`, `input` on stdin, killed after `timeout`; the error is fit for a
/// log line.
pub type Run =
    fn(program: &str, args: &[String], input: &[u8], timeout: Duration) -> Result<(), String>;

/// The implementations: one request on one connection; one program run to its end.
pub struct Outside {
    pub exchange: Exchange,
    pub run: Run,
}

/// Sockets (std), TLS (rustls), a resolver thread, `std::process`.
pub static SYSTEM: Outside = Outside {
    exchange: crate::push::client::exchange_over_network,
    run: crate::child::spawn_and_wait,
};

static INSTALLED: OnceLock<&'static Outside> = OnceLock::new();

/// Makes `outside` the way out for this process (the first call wins; later ones are no-ops).
pub fn install(outside: &'static Outside) {
    let _ = INSTALLED.set(outside);
}

/// Installs [`SYSTEM`].
pub fn install_system() {
    install(&SYSTEM);
}

/// The installed ways out. A unit test of this crate gets [`SYSTEM`] without installing it.
pub fn get() -> Option<&'static Outside> {
    #[cfg(test)]
    return Some(INSTALLED.get().copied().unwrap_or(&SYSTEM));
    #[cfg(not(test))]
    INSTALLED.get().copied()
}

/// Whether this process can reach a service and run programs.
pub fn installed() -> bool {
    get().is_some()
}
