//! `pam_twofold_outside.so`: the module's requests to a service (TCP, TLS, name resolution)
//! and the programs it runs (alerts, the command gateway) — `twofold_core::outside::SYSTEM`
//! behind the C interface of `twofold_core::outside::abi`. `pam_twofold.so` loads it beside
//! itself when a sign-in first needs one of them; an app-code sign-in never does.
//!
//! Only plain data crosses. Every function catches panics, so none reaches the module.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use twofold_core::outside::{SYSTEM, abi};
use twofold_core::push::client::{Client, HttpError};
use twofold_core::push::endpoint::Endpoint;

/// The interface version this object speaks.
#[unsafe(no_mangle)]
pub extern "C" fn twofold_outside_abi() -> u32 {
    abi::VERSION
}

/// One HTTP exchange (see `abi::ExchangeCall`); the answer's `data` is always set.
///
/// # Safety
/// `call` points to a valid `ExchangeCall` whose byte strings are valid for the call, and
/// `answer` to writable memory for an `ExchangeAnswer`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn twofold_outside_exchange(
    call: *const abi::ExchangeCall,
    answer: *mut abi::ExchangeAnswer,
) {
    let result = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: the caller's contract above.
        let call = unsafe { &*call };
        exchange(call)
    }))
    .unwrap_or_else(|_| (abi::OTHER, 0, b"the request panicked".to_vec()));
    let (outcome, status, data) = result;
    // SAFETY: the caller's contract above.
    unsafe {
        answer.write(abi::ExchangeAnswer {
            outcome,
            status,
            data: abi::Owned::from_vec(data),
        })
    };
}

/// Runs one program (see `abi::RunCall`); empty on success, else why not.
///
/// # Safety
/// `call` points to a valid `RunCall` whose byte strings and argument array are valid for the
/// call.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn twofold_outside_run(call: *const abi::RunCall) -> abi::Owned {
    let result = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: the caller's contract above.
        let call = unsafe { &*call };
        run(call)
    }))
    .unwrap_or_else(|_| Err("running the program panicked".to_string()));
    match result {
        Ok(()) => abi::Owned::empty(),
        Err(why) => abi::Owned::from_vec(why.into_bytes()),
    }
}

/// Frees bytes this object handed out.
///
/// # Safety
/// `owned` came from this object and is freed once.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn twofold_outside_free(owned: abi::Owned) {
    if !owned.ptr.is_null() {
        // SAFETY: built by `abi::Owned::from_vec` in this object.
        drop(unsafe { Vec::from_raw_parts(owned.ptr, owned.len, owned.cap) });
    }
}

/// # Safety
/// `bytes` is valid for the call (the caller's contract).
unsafe fn borrowed<'a>(bytes: abi::Bytes) -> &'a [u8] {
    if bytes.ptr.is_null() || bytes.len == 0 {
        &[]
    } else {
        // SAFETY: the caller's contract.
        unsafe { std::slice::from_raw_parts(bytes.ptr, bytes.len) }
    }
}

fn exchange(call: &abi::ExchangeCall) -> (u8, u16, Vec<u8>) {
    // SAFETY (three): the exported function's contract.
    let host = unsafe { borrowed(call.host) };
    let ca_file = unsafe { borrowed(call.ca_file) };
    let request = unsafe { borrowed(call.request) };
    let Ok(host) = std::str::from_utf8(host) else {
        return (abi::OTHER, 0, b"host name is not UTF-8".to_vec());
    };
    let ca_file = (!ca_file.is_empty()).then(|| PathBuf::from(OsStr::from_bytes(ca_file)));
    let client = client(
        host,
        call.port,
        call.tls,
        ca_file,
        Duration::from_millis(call.connect_timeout_ms),
    );
    let deadline = Instant::now() + Duration::from_millis(call.deadline_ms);
    match (SYSTEM.exchange)(&client, request, deadline) {
        Ok(response) => (abi::ANSWERED, response.status, response.body),
        Err(HttpError::Timeout) => (abi::TIMEOUT, 0, Vec::new()),
        Err(HttpError::Resolve(host)) => (abi::RESOLVE, 0, host.into_bytes()),
        Err(HttpError::Tls(why)) => (abi::TLS, 0, why.into_bytes()),
        Err(other) => (abi::OTHER, 0, other.to_string().into_bytes()),
    }
}

/// Where a client connects; clients are kept per target so that each keeps its TLS
/// configuration (the CA bundle is read once per process, as in the command).
type Target = (String, u16, bool, Option<PathBuf>, Duration);

static CLIENTS: Mutex<Vec<(Target, Arc<Client>)>> = Mutex::new(Vec::new());

fn client(
    host: &str,
    port: u16,
    tls: bool,
    ca_file: Option<PathBuf>,
    connect_timeout: Duration,
) -> Arc<Client> {
    let target: Target = (host.to_string(), port, tls, ca_file, connect_timeout);
    let mut clients = CLIENTS
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some((_, client)) = clients.iter().find(|(t, _)| *t == target) {
        return client.clone();
    }
    let endpoint = Endpoint {
        tls,
        host: target.0.clone(),
        port,
        base_path: String::new(),
    };
    let client =
        Arc::new(Client::new(endpoint, None, connect_timeout).with_ca_file(target.3.clone()));
    clients.push((target, client.clone()));
    client
}

fn run(call: &abi::RunCall) -> Result<(), String> {
    // SAFETY (three): the exported function's contract.
    let program = unsafe { borrowed(call.program) };
    let input = unsafe { borrowed(call.input) };
    let args: &[abi::Bytes] = if call.args.is_null() || call.nargs == 0 {
        &[]
    } else {
        unsafe { std::slice::from_raw_parts(call.args, call.nargs) }
    };
    let program = std::str::from_utf8(program).map_err(|_| "program path is not UTF-8")?;
    let args: Vec<String> = args
        .iter()
        // SAFETY: each argument is valid for the call.
        .map(|a| String::from_utf8_lossy(unsafe { borrowed(*a) }).into_owned())
        .collect();
    (SYSTEM.run)(
        program,
        &args,
        input,
        Duration::from_millis(call.timeout_ms),
    )
}
