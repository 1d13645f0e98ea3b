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

/// First lines of guided enrollment, before the QR code. Everything the user must read is in
/// the prompt itself: OpenSSH before 10.3 holds PAM info messages until the next prompt.
pub const ENROLL_INTRO: &str = "More information required\n\
Your account now needs a second factor. Setting it up takes a minute:\n\
1. Install an authenticator app on your phone (Microsoft Authenticator, Google Authenticator, Aegis, ...).\n\
2. In the app, add an account and scan this QR code:\n";
/// After the QR code: the key in text; `{key}` and `{digits}` are filled in.
pub const ENROLL_KEY: &str = "Or enter this key by hand: {key}\n(time-based, {digits} digits)\n";
/// The code prompt during enrollment.
pub const ENROLL_PROMPT: &str = "3. Code shown in the app: ";
/// After a wrong code during enrollment.
pub const ENROLL_RETRY: &str = "That code is not right. Code shown in the app: ";
/// Shown once enrollment is saved, followed by the recovery codes.
pub const ENROLL_DONE: &str = "✓ Your second factor is set up.\n\
Recovery codes: each one works once, for when you lose your phone. Write them down now;\n\
they will not be shown again.\n";
/// Closes a prompt that only shows a message (over SSH).
pub const PRESS_ENTER: &str = "Press Enter: ";
/// Closes the recovery codes prompt.
pub const ENROLL_CONTINUE: &str = "Press Enter to continue: ";
