//! Passing a sign-in to `pam_twofold_full.so`: the same `pam_sm_authenticate` call, with the
//! same handle, flags and arguments, to the object beside this one that has the push client,
//! the fleet's client, the text-message gateways and the alert command linked in.
//!
//! The object is found next to this file: `…/pam_twofold.so` → `…/pam_twofold_full.so` (in a
//! build tree `libpam_twofold.so` → `libpam_twofold_full.so`). It is loaded once per process
//! and stays loaded: libpam may call back into it (data cleanups) until `pam_end`, and the next
//! sign-in in the same process needs it again. If it cannot be loaded the sign-in is refused
//! (PAM_AUTHINFO_UNAVAIL) with a syslog line saying why; nobody gets in without the second
//! factor.

use pam::constants::{PamFlag, PamResultCode};
use pam::module::PamHandle;
use std::ffi::{CStr, CString, c_char, c_int, c_void};
use std::sync::OnceLock;

/// `pam_sm_authenticate`'s C signature.
type Authenticate =
    unsafe extern "C" fn(*mut PamHandle, PamFlag, c_int, *const *const c_char) -> c_int;

#[link(name = "pam")]
unsafe extern "C" {
    fn pam_syslog(pamh: *const PamHandle, priority: c_int, fmt: *const c_char, ...);
}

/// The full module's entry point once loaded (a failure is not kept: the next sign-in tries
/// again, so a long-running application recovers once the file is back).
static FULL: OnceLock<Authenticate> = OnceLock::new();

pub fn authenticate(pamh: &mut PamHandle, args: &[&CStr], flags: PamFlag) -> PamResultCode {
    let entry = match FULL.get() {
        Some(entry) => *entry,
        None => match load() {
            Ok(entry) => *FULL.get_or_init(|| entry),
            Err(why) => {
                log(pamh, &why);
                return PamResultCode::PAM_AUTHINFO_UNAVAIL;
            }
        },
    };
    let argv: Vec<*const c_char> = args.iter().map(|a| a.as_ptr()).collect();
    let Ok(argc) = c_int::try_from(argv.len()) else {
        return PamResultCode::PAM_AUTHINFO_UNAVAIL;
    };
    // SAFETY: `entry` is pam_sm_authenticate of a PAM module built from this source tree;
    // pamh is the live handle libpam gave us, argv holds argc pointers to NUL-terminated
    // strings that outlive the call. Its own entry point catches panics.
    let code = unsafe { entry(pamh, flags, argc, argv.as_ptr()) };
    PamResultCode::try_from(code).unwrap_or(PamResultCode::PAM_SYSTEM_ERR)
}

/// The path of the full module: this object's path with `.so` → `_full.so`.
fn full_path() -> Result<CString, String> {
    let mut info = libc::Dl_info {
        dli_fname: std::ptr::null(),
        dli_fbase: std::ptr::null_mut(),
        dli_sname: std::ptr::null(),
        dli_saddr: std::ptr::null_mut(),
    };
    // SAFETY: dladdr only reads the address (a function of this object) and fills `info`.
    let found = unsafe { libc::dladdr(full_path as *const c_void, &mut info) };
    if found == 0 || info.dli_fname.is_null() {
        return Err("cannot find pam_twofold.so's own path (dladdr)".into());
    }
    // SAFETY: dladdr set dli_fname to the NUL-terminated path of the loaded object.
    let own = unsafe { CStr::from_ptr(info.dli_fname) }.to_bytes();
    let Some(stem) = own.strip_suffix(b".so") else {
        return Err(format!(
            "{} does not end in .so: cannot name pam_twofold_full.so beside it",
            String::from_utf8_lossy(own)
        ));
    };
    let mut path = stem.to_vec();
    path.extend_from_slice(b"_full.so");
    CString::new(path).map_err(|_| "module path holds a NUL byte".into())
}

fn load() -> Result<Authenticate, String> {
    let path = full_path()?;
    let shown = path.to_string_lossy().into_owned();
    // SAFETY: dlopen of a path built above; RTLD_LOCAL keeps its symbols out of the
    // application's scope. The handle is never closed (see the module comment).
    let handle = unsafe { libc::dlopen(path.as_ptr(), libc::RTLD_NOW | libc::RTLD_LOCAL) };
    if handle.is_null() {
        return Err(format!("cannot load {shown}: {}", dlerror()));
    }
    // SAFETY: looks a symbol up in the handle just opened.
    let symbol = unsafe { libc::dlsym(handle, c"pam_sm_authenticate".as_ptr()) };
    if symbol.is_null() {
        return Err(format!("{shown} has no pam_sm_authenticate: {}", dlerror()));
    }
    // SAFETY: the symbol is pam_sm_authenticate, whose C signature is `Authenticate`.
    Ok(unsafe { std::mem::transmute::<*mut c_void, Authenticate>(symbol) })
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

fn log(pamh: &PamHandle, why: &str) {
    let Ok(text) = CString::new(format!("twofold: {why}; sign-in refused")) else {
        return;
    };
    // SAFETY: a "%s" format with one NUL-terminated argument; pamh is the live handle.
    unsafe { pam_syslog(pamh, libc::LOG_ERR, c"%s".as_ptr(), text.as_ptr()) };
}
