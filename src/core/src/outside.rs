//! The ways out of the process: HTTP(S) to a service or a text-message gateway, and running an
//! administrator's program (alerts, the command gateway).
//!
//! They are reached through [`install`]ed function pointers, not called directly, so that an
//! object which does not install [`SYSTEM`] does not link them. The PAM module does not: every
//! sign-in loads it into sshd or sudo, and libpam binds each symbol it imports at load, so the
//! sockets, TLS, name resolution, threads and process spawning stay in a second object,
//! `pam_twofold_outside.so`. The module installs a way out that loads that object on the first
//! request or program (an app-code sign-in never does) and calls it through the C interface in
//! [`abi`]. The command and the approval service install [`SYSTEM`] at start.
//!
//! With nothing installed a request fails as [`HttpError::NotLinked`] and a program as "not in
//! this build": the same as a service that does not answer — never a way in.
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

/// The C interface between the PAM module and `pam_twofold_outside.so` (both built from this
/// tree; [`abi::VERSION`] refuses a left-over object of another release). Only plain data
/// crosses: borrowed byte strings in, byte strings the outside object allocated out, which it
/// also frees (`twofold_outside_free`).
pub mod abi {
    /// Bumped whenever a type or function below changes.
    pub const VERSION: u32 = 1;

    /// `u32 twofold_outside_abi(void)`.
    pub const ABI_SYMBOL: &std::ffi::CStr = c"twofold_outside_abi";
    /// `void twofold_outside_exchange(const ExchangeCall *, ExchangeAnswer *)`.
    pub const EXCHANGE_SYMBOL: &std::ffi::CStr = c"twofold_outside_exchange";
    /// `Owned twofold_outside_run(const RunCall *)`: empty on success, else the error.
    pub const RUN_SYMBOL: &std::ffi::CStr = c"twofold_outside_run";
    /// `void twofold_outside_free(Owned)`.
    pub const FREE_SYMBOL: &std::ffi::CStr = c"twofold_outside_free";

    /// Borrowed bytes, valid for the call.
    #[repr(C)]
    #[derive(Clone, Copy)]
    pub struct Bytes {
        pub ptr: *const u8,
        pub len: usize,
    }

    impl Bytes {
        pub fn of(bytes: &[u8]) -> Self {
            Bytes {
                ptr: bytes.as_ptr(),
                len: bytes.len(),
            }
        }
    }

    /// Bytes the outside object allocated; handed back to `twofold_outside_free`.
    #[repr(C)]
    pub struct Owned {
        pub ptr: *mut u8,
        pub len: usize,
        pub cap: usize,
    }

    impl Owned {
        pub fn from_vec(v: Vec<u8>) -> Self {
            let mut v = std::mem::ManuallyDrop::new(v);
            Owned {
                ptr: v.as_mut_ptr(),
                len: v.len(),
                cap: v.capacity(),
            }
        }
        pub fn empty() -> Self {
            Owned::from_vec(Vec::new())
        }
    }

    /// One HTTP exchange: where to, and the whole request.
    #[repr(C)]
    pub struct ExchangeCall {
        pub host: Bytes,
        pub port: u16,
        pub tls: bool,
        /// Trust only this CA bundle (a path); empty: the system's.
        pub ca_file: Bytes,
        pub connect_timeout_ms: u64,
        /// Everything ends this long after the call starts.
        pub deadline_ms: u64,
        pub request: Bytes,
    }

    /// How an exchange ended: [`ANSWERED`] with `status` and the body in `data`, else one of
    /// the error kinds with its message in `data`.
    #[repr(C)]
    pub struct ExchangeAnswer {
        pub outcome: u8,
        pub status: u16,
        pub data: Owned,
    }

    pub const ANSWERED: u8 = 0;
    pub const TIMEOUT: u8 = 1;
    pub const RESOLVE: u8 = 2;
    pub const TLS: u8 = 3;
    /// Connect, I/O or a malformed answer: the message says which.
    pub const OTHER: u8 = 4;

    /// One program: its path, arguments, stdin and time limit.
    #[repr(C)]
    pub struct RunCall {
        pub program: Bytes,
        pub args: *const Bytes,
        pub nargs: usize,
        pub input: Bytes,
        pub timeout_ms: u64,
    }
}
