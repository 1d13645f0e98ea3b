//! The module's way out of the process: `pam_twofold_outside.so`, loaded on the first request
//! to a service or the first program a sign-in runs, and called through the C interface in
//! `twofold_core::outside::abi`. An app-code sign-in never loads it, so sshd and sudo bind none
//! of its sockets, TLS, resolver, threads or process spawning.
//!
//! The object is found next to this one: `…/pam_twofold.so` → `…/pam_twofold_outside.so` (in a
//! build tree `libpam_twofold.so` → `libpam_twofold_outside.so`), and must report the same
//! interface version. It stays loaded for the process's lifetime. When it cannot be loaded a
//! request fails like a service that does not answer (push falls back to `[push] fail_mode`,
//! a text is not sent) and a program fails to run; the reason is in the audit line.

use std::ffi::{CStr, CString, c_void};
use std::sync::OnceLock;
use std::time::{Duration, Instant};
use twofold_core::outside::{Outside, abi};
use twofold_core::push::client::{Client, HttpError, Response};

/// What the module installs: the same calls, through the outside object.
pub static LOADED_ON_FIRST_USE: Outside = Outside { exchange, run };

type AbiFn = unsafe extern "C" fn() -> u32;
type ExchangeFn = unsafe extern "C" fn(*const abi::ExchangeCall, *mut abi::ExchangeAnswer);
type RunFn = unsafe extern "C" fn(*const abi::RunCall) -> abi::Owned;
type FreeFn = unsafe extern "C" fn(abi::Owned);

/// The outside object's entry points.
#[derive(Clone, Copy)]
struct Loaded {
    exchange: ExchangeFn,
    run: RunFn,
    free: FreeFn,
}

/// Kept once loaded; a failure is not kept, so a later sign-in in the same process tries again.
static LOADED: OnceLock<Loaded> = OnceLock::new();

fn loaded() -> Result<Loaded, String> {
    if let Some(loaded) = LOADED.get() {
        return Ok(*loaded);
    }
    let loaded = load()?;
    Ok(*LOADED.get_or_init(|| loaded))
}

fn exchange(client: &Client, request: &[u8], deadline: Instant) -> Result<Response, HttpError> {
    let outside = loaded().map_err(HttpError::Relayed)?;
    let endpoint = client.endpoint();
    let ca_file = client
        .ca_file()
        .map(|p| std::os::unix::ffi::OsStrExt::as_bytes(p.as_os_str()))
        .unwrap_or_default();
    let call = abi::ExchangeCall {
        host: abi::Bytes::of(endpoint.host.as_bytes()),
        port: endpoint.port,
        tls: endpoint.tls,
        ca_file: abi::Bytes::of(ca_file),
        connect_timeout_ms: millis(client.connect_timeout()),
        deadline_ms: millis(deadline.saturating_duration_since(Instant::now())),
        request: abi::Bytes::of(request),
    };
    let mut answer = abi::ExchangeAnswer {
        outcome: abi::OTHER,
        status: 0,
        data: abi::Owned {
            ptr: std::ptr::null_mut(),
            len: 0,
            cap: 0,
        },
    };
    // SAFETY: `call` borrows slices that outlive the call; the outside object fills `answer`
    // (it always sets `data`, which is then handed back to its own free function once copied).
    unsafe { (outside.exchange)(&call, &mut answer) };
    let data = take(outside, answer.data);
    match answer.outcome {
        abi::ANSWERED => Ok(Response {
            status: answer.status,
            body: data,
        }),
        abi::TIMEOUT => Err(HttpError::Timeout),
        abi::RESOLVE => Err(HttpError::Resolve(text(data))),
        abi::TLS => Err(HttpError::Tls(text(data))),
        _ => Err(HttpError::Relayed(text(data))),
    }
}

fn run(program: &str, args: &[String], input: &[u8], timeout: Duration) -> Result<(), String> {
    let outside = loaded().map_err(|why| format!("cannot run {program}: {why}"))?;
    let args: Vec<abi::Bytes> = args.iter().map(|a| abi::Bytes::of(a.as_bytes())).collect();
    let call = abi::RunCall {
        program: abi::Bytes::of(program.as_bytes()),
        args: args.as_ptr(),
        nargs: args.len(),
        input: abi::Bytes::of(input),
        timeout_ms: millis(timeout),
    };
    // SAFETY: `call` borrows slices that outlive the call; the answer is the object's to free.
    let error = take(outside, unsafe { (outside.run)(&call) });
    if error.is_empty() {
        Ok(())
    } else {
        Err(text(error))
    }
}

/// Copies bytes the outside object allocated and hands them back to it.
fn take(outside: Loaded, owned: abi::Owned) -> Vec<u8> {
    let copy = if owned.ptr.is_null() || owned.len == 0 {
        Vec::new()
    } else {
        // SAFETY: the object set ptr/len to a live allocation of its own (`abi::Owned`).
        unsafe { std::slice::from_raw_parts(owned.ptr, owned.len) }.to_vec()
    };
    if !owned.ptr.is_null() {
        // SAFETY: returned to the allocator it came from, once.
        unsafe { (outside.free)(owned) };
    }
    copy
}

fn text(bytes: Vec<u8>) -> String {
    String::from_utf8_lossy(&bytes).into_owned()
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// The outside object's path: this object's path with `.so` → `_outside.so`.
fn path() -> Result<CString, String> {
    let mut info = libc::Dl_info {
        dli_fname: std::ptr::null(),
        dli_fbase: std::ptr::null_mut(),
        dli_sname: std::ptr::null(),
        dli_saddr: std::ptr::null_mut(),
    };
    // SAFETY: dladdr only reads the address (a function of this object) and fills `info`.
    let found = unsafe { libc::dladdr(path as *const c_void, &mut info) };
    if found == 0 || info.dli_fname.is_null() {
        return Err("cannot find pam_twofold.so's own path (dladdr)".into());
    }
    // SAFETY: dladdr set dli_fname to the NUL-terminated path of the loaded object.
    let own = unsafe { CStr::from_ptr(info.dli_fname) }.to_bytes();
    let Some(stem) = own.strip_suffix(b".so") else {
        return Err(format!(
            "{} does not end in .so: cannot name pam_twofold_outside.so beside it",
            String::from_utf8_lossy(own)
        ));
    };
    let mut path = stem.to_vec();
    path.extend_from_slice(b"_outside.so");
    CString::new(path).map_err(|_| "the module's path holds a NUL byte".into())
}

fn load() -> Result<Loaded, String> {
    let path = path()?;
    let shown = path.to_string_lossy().into_owned();
    // SAFETY: dlopen of the path built above; RTLD_LOCAL keeps its symbols out of the
    // application's scope. The handle is never closed: the object serves the whole process.
    let handle = unsafe { libc::dlopen(path.as_ptr(), libc::RTLD_NOW | libc::RTLD_LOCAL) };
    if handle.is_null() {
        return Err(format!("cannot load {shown}: {}", dlerror()));
    }
    let symbol = |name: &CStr| {
        // SAFETY: looks a symbol up in the handle just opened.
        let found = unsafe { libc::dlsym(handle, name.as_ptr()) };
        if found.is_null() {
            Err(format!("{shown} has no {}", name.to_string_lossy()))
        } else {
            Ok(found)
        }
    };
    // SAFETY (all four): each symbol is the function of that name in the outside object, built
    // from this tree with the C signature given by its type here (`abi`); the version check
    // below refuses an object of another interface.
    let version: AbiFn = unsafe { std::mem::transmute(symbol(abi::ABI_SYMBOL)?) };
    let found = unsafe { version() };
    if found != abi::VERSION {
        return Err(format!(
            "{shown} speaks interface {found}, this module {}: install both from one release",
            abi::VERSION
        ));
    }
    Ok(Loaded {
        exchange: unsafe {
            std::mem::transmute::<*mut c_void, ExchangeFn>(symbol(abi::EXCHANGE_SYMBOL)?)
        },
        run: unsafe { std::mem::transmute::<*mut c_void, RunFn>(symbol(abi::RUN_SYMBOL)?) },
        free: unsafe { std::mem::transmute::<*mut c_void, FreeFn>(symbol(abi::FREE_SYMBOL)?) },
    })
}

fn dlerror() -> String {
    // SAFETY: dlerror returns NULL or a NUL-terminated message owned by libc.
    let message = unsafe { libc::dlerror() };
    if message.is_null() {
        "unknown error".into()
    } else {
        // SAFETY: see above; copied before any other dl* call.
        unsafe { CStr::from_ptr(message) }
            .to_string_lossy()
            .into_owned()
    }
}
