//! User-facing texts of the module, in one place so they can be translated.
#![forbid(unsafe_code)]

/// The default code prompt.
pub const PROMPT_CODE: &str = "Verification code: ";
/// The prompt with `forward_pass`: password and code typed together.
pub const PROMPT_PASSWORD_AND_CODE: &str = "Password & verification code: ";
/// Shown when the second factor is locked after too many failures.
pub const LOCKED: &str =
    "Too many failed attempts. Try again later, or ask your administrator to unlock you.";
/// Shown when the user's files or the configuration cannot be used.
pub const UNAVAILABLE: &str =
    "The second factor is unavailable. Please contact your administrator.";
