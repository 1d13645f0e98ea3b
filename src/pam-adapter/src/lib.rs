//! The PAM adapter: reads PAM items, implements the core's [`Conversation`] over libpam, and
//! maps verdicts to PAM return codes. It decides nothing. Used by both module objects:
//! `pam_twofold.so` (src/pam) and `pam_twofold_full.so` (src/pam-full).
//!
//! [`Conversation`]: twofold_core::conversation::Conversation

mod conv;

use conv::PamConversation;
use pam::constants::{PAM_SILENT, PamFlag, PamResultCode};
use pam::items::{RHost, Service, User};
use pam::module::PamHandle;
use std::ffi::CStr;
use twofold_core::clock::SystemClock;
use twofold_core::options::ModuleOptions;
use twofold_core::signin::{SignIn, Verdict, authenticate};

/// What `pam_sm_authenticate` comes to.
pub enum Outcome {
    /// Decided: return this to libpam.
    Decided(PamResultCode),
    /// [`Verdict::Handover`]: nothing asked, nothing logged; another object must run it.
    Handover,
}

/// One `pam_sm_authenticate`: the user (asked through libpam when the application has not set
/// it), the service and remote host, the module arguments, then the core's sign-in.
pub fn sm_authenticate(pamh: &mut PamHandle, args: &[&CStr], flags: PamFlag) -> Outcome {
    let args: Vec<String> = args
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let opts = ModuleOptions::parse(&args);
    let user = match pamh.get_item::<User>() {
        Ok(Some(user)) => user.to_bytes().to_vec(),
        // No user yet (an application that lets modules ask): let libpam prompt for it.
        Ok(None) => match pamh.get_user(None) {
            Ok(user) => user.into_bytes(),
            Err(code) => return Outcome::Decided(code),
        },
        Err(code) => return Outcome::Decided(code),
    };
    let item = |v: Option<&CStr>| {
        v.map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default()
    };
    let service = item(pamh.get_item::<Service>().ok().flatten().map(|s| s.0));
    let rhost = item(pamh.get_item::<RHost>().ok().flatten().map(|s| s.0));
    let sign_in = SignIn {
        user,
        service,
        rhost,
        silent: flags & PAM_SILENT != 0,
    };
    let mut conversation = PamConversation::new(pamh);
    Outcome::Decided(
        match authenticate(&sign_in, &opts, &mut conversation, &SystemClock) {
            Verdict::Success => PamResultCode::PAM_SUCCESS,
            Verdict::Refused => PamResultCode::PAM_AUTH_ERR,
            Verdict::Ignore => PamResultCode::PAM_IGNORE,
            Verdict::Unavailable => PamResultCode::PAM_AUTHINFO_UNAVAIL,
            Verdict::Handover => return Outcome::Handover,
        },
    )
}

/// `pam_sm_setcred`: no credentials to establish; succeed so stacks with `auth required` work.
pub fn sm_setcred() -> PamResultCode {
    PamResultCode::PAM_SUCCESS
}
