//! Minimal safe wrapper over the libpam application API (the side sshd and sudo play).
//!
//! Linux-PAM refuses `PAM_AUTHTOK` from applications (`pam_set_item`/`pam_get_item`
//! return `PAM_BAD_ITEM`), so it cannot be pre-set or read here: put a
//! `pam_exec.so expose_authtok` line before (to set it) or after (to read it on stdin)
//! the module under test instead.
#![deny(clippy::undocumented_unsafe_blocks)]

use std::borrow::Cow;
use std::collections::VecDeque;
use std::ffi::{CStr, CString, c_char, c_int, c_void};
use std::os::unix::ffi::OsStrExt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use std::{fmt, ptr};

const PAM_SUCCESS: c_int = 0;
const PAM_CONV_ERR: c_int = 19;
const PAM_MAX_NUM_MSG: c_int = 32;
const PAM_TTY: c_int = 3;
const PAM_RHOST: c_int = 4;
/// `PAM_SILENT`: modules should send no informational messages.
pub const PAM_SILENT: i32 = 0x8000;
/// `PAM_DISALLOW_NULL_AUTHTOK`: users with an empty password fail.
pub const PAM_DISALLOW_NULL_AUTHTOK: i32 = 0x0001;
#[rustfmt::skip]
const NAMES: [&str; 32] = [
    "PAM_SUCCESS", "PAM_OPEN_ERR", "PAM_SYMBOL_ERR", "PAM_SERVICE_ERR", "PAM_SYSTEM_ERR",
    "PAM_BUF_ERR", "PAM_PERM_DENIED", "PAM_AUTH_ERR", "PAM_CRED_INSUFFICIENT",
    "PAM_AUTHINFO_UNAVAIL", "PAM_USER_UNKNOWN", "PAM_MAXTRIES", "PAM_NEW_AUTHTOK_REQD",
    "PAM_ACCT_EXPIRED", "PAM_SESSION_ERR", "PAM_CRED_UNAVAIL", "PAM_CRED_EXPIRED", "PAM_CRED_ERR",
    "PAM_NO_MODULE_DATA", "PAM_CONV_ERR", "PAM_AUTHTOK_ERR", "PAM_AUTHTOK_RECOVERY_ERR",
    "PAM_AUTHTOK_LOCK_BUSY", "PAM_AUTHTOK_DISABLE_AGING", "PAM_TRY_AGAIN", "PAM_IGNORE",
    "PAM_ABORT", "PAM_AUTHTOK_EXPIRED", "PAM_MODULE_UNKNOWN", "PAM_BAD_ITEM", "PAM_CONV_AGAIN",
    "PAM_INCOMPLETE",
];

/// The same opaque handle type the module side uses, so both declare libpam alike.
use pam::module::PamHandle;
#[repr(C)]
struct PamMessage {
    msg_style: c_int,
    msg: *const c_char,
}
#[repr(C)]
struct PamResponse {
    resp: *mut c_char,
    resp_retcode: c_int,
}
type ConvFn = unsafe extern "C" fn(
    c_int,
    *const *const PamMessage,
    *mut *mut PamResponse,
    *mut c_void,
) -> c_int;
#[repr(C)]
struct PamConv {
    conv: Option<ConvFn>,
    appdata_ptr: *mut c_void,
}

#[link(name = "pam")]
unsafe extern "C" {
    fn pam_start_confdir(
        service: *const c_char,
        user: *const c_char,
        conv: *const PamConv,
        confdir: *const c_char,
        pamh: *mut *mut PamHandle,
    ) -> c_int;
    fn pam_set_item(pamh: *mut PamHandle, item_type: c_int, item: *const c_void) -> c_int;
    fn pam_authenticate(pamh: *mut PamHandle, flags: c_int) -> c_int;
    fn pam_end(pamh: *mut PamHandle, status: c_int) -> c_int;
}

/// What a PAM conversation asks, as the application sees it (text decoded lossily).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Message<'a> {
    /// A prompt whose answer is not echoed (a password, a code).
    PromptEchoOff(&'a str),
    /// A prompt whose answer is echoed (a user name).
    PromptEchoOn(&'a str),
    /// An error to show.
    ErrorMsg(&'a str),
    /// Information to show.
    TextInfo(&'a str),
}

/// Answers the module's prompts (a test script, a terminal, ...).
pub trait Responder {
    /// Answers a prompt (`None` fails the conversation); the result for info/error is ignored.
    fn respond(&mut self, msg: Message<'_>) -> Option<Vec<u8>>;
}

impl<F: FnMut(Message<'_>) -> Option<Vec<u8>>> Responder for F {
    fn respond(&mut self, msg: Message<'_>) -> Option<Vec<u8>> {
        self(msg)
    }
}

/// Options of one sign-in.
#[derive(Debug, Clone, Copy)]
pub struct SignIn<'a> {
    /// Service name: the file read from `confdir`.
    pub service: &'a str,
    /// User name as raw bytes (need not be UTF-8).
    pub user: &'a [u8],
    /// Directory used instead of /etc/pam.d.
    pub confdir: &'a Path,
    /// `PAM_RHOST`, if any.
    pub rhost: Option<&'a str>,
    /// `PAM_TTY`, if any.
    pub tty: Option<&'a str>,
    /// Flags for `pam_authenticate`, e.g. [`PAM_SILENT`].
    pub flags: i32,
}

/// Result of `pam_authenticate`: the raw PAM return code and its name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// Raw code, e.g. 0 or 7.
    pub code: i32,
    /// Its name, e.g. "PAM_SUCCESS" or "PAM_AUTH_ERR".
    pub name: &'static str,
}

/// Why a sign-in could not be attempted at all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientError {
    /// The named input contains a NUL byte.
    InteriorNul(&'static str),
    /// `pam_start_confdir` failed (PAM_ABORT when the service file is missing).
    Start { code: i32, name: &'static str },
    /// `pam_set_item` refused the named item.
    SetItem {
        item: &'static str,
        code: i32,
        name: &'static str,
    },
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InteriorNul(field) => write!(f, "{field} contains a NUL byte"),
            Self::Start { code, name } => write!(f, "pam_start_confdir failed: {name} ({code})"),
            Self::SetItem { item, code, name } => {
                write!(f, "pam_set_item({item}) failed: {name} ({code})")
            }
        }
    }
}

impl std::error::Error for ClientError {}

/// The name of a PAM return code, or "PAM_UNKNOWN".
pub fn code_name(code: i32) -> &'static str {
    usize::try_from(code)
        .ok()
        .and_then(|i| NAMES.get(i))
        .copied()
        .unwrap_or("PAM_UNKNOWN")
}

/// Runs `pam_authenticate` for `sign_in` through real libpam, answering prompts with `responder`.
pub fn authenticate(
    sign_in: &SignIn,
    responder: &mut dyn Responder,
) -> Result<Outcome, ClientError> {
    let cstr =
        |field, bytes: &[u8]| CString::new(bytes).map_err(|_| ClientError::InteriorNul(field));
    let service = cstr("service", sign_in.service.as_bytes())?;
    let user = cstr("user", sign_in.user)?;
    let confdir = cstr("confdir", sign_in.confdir.as_os_str().as_bytes())?;
    let mut items = Vec::new();
    for (kind, item, value) in [
        (PAM_RHOST, "rhost", sign_in.rhost),
        (PAM_TTY, "tty", sign_in.tty),
    ] {
        if let Some(value) = value {
            items.push((kind, item, cstr(item, value.as_bytes())?));
        }
    }
    let mut ctx = Ctx {
        responder,
        poisoned: false,
    };
    let conv = PamConv {
        conv: Some(converse),
        appdata_ptr: (&raw mut ctx).cast(),
    };
    let mut pamh = ptr::null_mut();
    // SAFETY: the strings are NUL-terminated and outlive the call; `conv` and `ctx` outlive
    // the handle, which is ended before this function returns.
    let code = unsafe {
        pam_start_confdir(
            service.as_ptr(),
            user.as_ptr(),
            &raw const conv,
            confdir.as_ptr(),
            &raw mut pamh,
        )
    };
    if code != PAM_SUCCESS || pamh.is_null() {
        return Err(ClientError::Start {
            code,
            name: code_name(code),
        });
    }
    for (kind, item, value) in &items {
        // SAFETY: `pamh` is live; libpam copies the NUL-terminated string.
        let rc = unsafe { pam_set_item(pamh, *kind, value.as_ptr().cast()) };
        if rc != PAM_SUCCESS {
            // SAFETY: `pamh` is live and not used afterwards.
            unsafe { pam_end(pamh, rc) };
            return Err(ClientError::SetItem {
                item,
                code: rc,
                name: code_name(rc),
            });
        }
    }
    // SAFETY: `pamh` is live; `ctx` is reached only through `appdata_ptr` during the call.
    let code = unsafe { pam_authenticate(pamh, sign_in.flags) };
    // SAFETY: `pamh` is live and not used afterwards.
    unsafe { pam_end(pamh, code) };
    Ok(Outcome {
        code,
        name: code_name(code),
    })
}

struct Ctx<'r> {
    responder: &'r mut dyn Responder,
    poisoned: bool,
}

/// The conversation function handed to libpam.
///
/// # Safety
/// libpam's contract: `msg` holds `num_msg` message pointers, `resp` is writable, and
/// `appdata` is the `Ctx` set up by [`authenticate`].
unsafe extern "C" fn converse(
    num_msg: c_int,
    msg: *const *const PamMessage,
    resp: *mut *mut PamResponse,
    appdata: *mut c_void,
) -> c_int {
    if resp.is_null() {
        return PAM_CONV_ERR;
    }
    // SAFETY: `resp` is non-null and writable per the contract.
    unsafe { *resp = ptr::null_mut() };
    if msg.is_null() || appdata.is_null() || !(1..=PAM_MAX_NUM_MSG).contains(&num_msg) {
        return PAM_CONV_ERR;
    }
    let n = usize::try_from(num_msg).unwrap_or(0);
    // SAFETY: `appdata` is the `Ctx` of the running `authenticate`, which does not touch it
    // while libpam runs; libpam calls back on that same thread.
    let ctx = unsafe { &mut *appdata.cast::<Ctx>() };
    // SAFETY: Linux-PAM passes `msg` as an array of `num_msg` (1..=32) pointers.
    let msgs = unsafe { std::slice::from_raw_parts(msg, n) };
    let mut answers: Vec<_> = msgs.iter().map_while(|&m| ask(ctx, m)).collect();
    let mut code = PAM_CONV_ERR;
    if answers.len() == n {
        // SAFETY: `resp` is writable; no answer holds a NUL byte (checked in `ask`).
        code = unsafe { hand_over(&answers, resp) };
    }
    for answer in answers.iter_mut().flatten() {
        wipe(answer);
    }
    code
}

/// Asks one message: `None` fails the conversation, `Some(None)` means no answer is due.
fn ask(ctx: &mut Ctx, m: *const PamMessage) -> Option<Option<Vec<u8>>> {
    if m.is_null() || ctx.poisoned {
        return None;
    }
    // SAFETY: `m` is non-null and points to a message valid for this call.
    let (style, text) = unsafe { ((*m).msg_style, (*m).msg) };
    let text = if text.is_null() {
        Cow::Borrowed("")
    } else {
        // SAFETY: a non-null `msg` is a NUL-terminated string valid for this call.
        unsafe { CStr::from_ptr(text) }.to_string_lossy()
    };
    let message = match style {
        1 => Message::PromptEchoOff(&text),
        2 => Message::PromptEchoOn(&text),
        3 => Message::ErrorMsg(&text),
        4 => Message::TextInfo(&text),
        _ => return None,
    };
    let Ok(answer) = catch_unwind(AssertUnwindSafe(|| ctx.responder.respond(message))) else {
        ctx.poisoned = true;
        return None;
    };
    let prompt = matches!(
        message,
        Message::PromptEchoOff(_) | Message::PromptEchoOn(_)
    );
    match (prompt, answer) {
        (true, Some(a)) if !a.contains(&0) => Some(Some(a)),
        (prompt, mut other) => {
            other.iter_mut().for_each(|a| wipe(a));
            (!prompt).then_some(None)
        }
    }
}

/// Copies `answers` into a calloc'd response array that libpam frees; frees all on failure.
///
/// # Safety
/// `resp` must be writable and no answer may contain a NUL byte.
unsafe fn hand_over(answers: &[Option<Vec<u8>>], resp: *mut *mut PamResponse) -> c_int {
    // SAFETY: plain allocation; all-zero bytes are a valid `PamResponse` (null, 0).
    let array =
        unsafe { libc::calloc(answers.len(), size_of::<PamResponse>()) }.cast::<PamResponse>();
    if array.is_null() {
        return PAM_CONV_ERR;
    }
    for (i, answer) in answers.iter().enumerate() {
        let Some(a) = answer else { continue };
        // SAFETY: plain allocation.
        let buf = unsafe { libc::malloc(a.len() + 1) }.cast::<u8>();
        if buf.is_null() {
            // SAFETY: `array` has `answers.len()` entries; those filled hold NUL-terminated mallocs.
            unsafe { free_responses(array, answers.len()) };
            return PAM_CONV_ERR;
        }
        // SAFETY: `buf` has room for `a` plus a NUL and does not overlap it; `i` is in bounds.
        unsafe {
            ptr::copy_nonoverlapping(a.as_ptr(), buf, a.len());
            *buf.add(a.len()) = 0;
            (*array.add(i)).resp = buf.cast();
        }
    }
    // SAFETY: `resp` is writable; libpam takes ownership and frees with free().
    unsafe { *resp = array };
    PAM_SUCCESS
}

/// # Safety
/// `array` is a malloc'd array of `n` responses whose non-null `resp` are NUL-terminated mallocs.
unsafe fn free_responses(array: *mut PamResponse, n: usize) {
    for i in 0..n {
        // SAFETY: `i < n`; a non-null `resp` is a NUL-terminated malloc we own.
        unsafe {
            let r = (*array.add(i)).resp;
            if !r.is_null() {
                libc::explicit_bzero(r.cast(), libc::strlen(r));
                libc::free(r.cast());
            }
        }
    }
    // SAFETY: `array` came from calloc and is no longer used.
    unsafe { libc::free(array.cast()) };
}

fn wipe(buf: &mut [u8]) {
    // SAFETY: `buf` is valid for writes of `buf.len()` bytes.
    unsafe { libc::explicit_bzero(buf.as_mut_ptr().cast(), buf.len()) };
}

/// A scripted [`Responder`]: answers prompts in order and records every message.
#[derive(Debug, Default)]
pub struct Script {
    answers: VecDeque<Vec<u8>>,
    /// Every message seen, e.g. "PROMPT_ECHO_OFF: Verification code: " or "INFO: ...".
    pub transcript: Vec<String>,
}

impl Script {
    /// A script answering successive prompts with `answers`.
    pub fn new<A: Into<Vec<u8>>>(answers: impl IntoIterator<Item = A>) -> Self {
        Self {
            answers: answers.into_iter().map(Into::into).collect(),
            transcript: Vec::new(),
        }
    }
}

impl Responder for Script {
    fn respond(&mut self, msg: Message<'_>) -> Option<Vec<u8>> {
        let (tag, text) = match msg {
            Message::PromptEchoOff(t) => ("PROMPT_ECHO_OFF", t),
            Message::PromptEchoOn(t) => ("PROMPT_ECHO_ON", t),
            Message::ErrorMsg(t) => ("ERROR", t),
            Message::TextInfo(t) => ("INFO", t),
        };
        self.transcript.push(format!("{tag}: {text}"));
        matches!(msg, Message::PromptEchoOff(_) | Message::PromptEchoOn(_))
            .then(|| self.answers.pop_front())
            .flatten()
    }
}
