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

/// Push, prompt mode (SSH): everything in the prompt; `{number}` is filled in.
pub const PUSH_PROMPT: &str =
    "Approve the sign-in on your phone: number {number}. Then press Enter — or type a code: ";
/// Push, prompt mode, after Enter while no answer has come yet.
pub const PUSH_PROMPT_AGAIN: &str = "No answer from your phone yet (number {number}). \
Press Enter once you have approved — or type a code: ";
/// Push, wait mode (console): `{number}` and `{seconds}` are filled in.
pub const PUSH_WAIT: &str = "Approve on your phone — number {number} (waiting {seconds} s)";
/// Push, wait mode, every 15 seconds.
pub const PUSH_STILL_WAITING: &str =
    "Still waiting for your phone — number {number} ({seconds} s left)";
/// The phone said no.
pub const PUSH_DENIED: &str = "The sign-in was denied on your phone.";
/// The phone said "not me".
pub const PUSH_REPORTED: &str =
    "The sign-in was reported as not you. Push approval is paused for your account.";
/// No answer in time.
pub const PUSH_TIMEOUT: &str = "No answer from your phone in time.";
/// The answer did not check out.
pub const PUSH_INVALID: &str = "The answer from your phone could not be verified.";
/// Push cannot be used now; a code is asked for next.
pub const PUSH_USE_CODE: &str =
    "Push approval is not available right now: use a code from your app.";
/// Push cannot be used now and `fail_mode = "deny"`: the sign-in is refused.
pub const PUSH_UNAVAILABLE: &str =
    "Push approval is not available right now, and this system accepts nothing else.";

/// First sign-in with `[push]` configured, after the app is set up: before the pairing QR code.
pub const ENROLL_PUSH_OFFER: &str = "✓ Your authenticator app is set up.\n\
Optional: approve sign-ins on your phone instead of typing codes.\n\
Scan this QR code with your phone's camera:\n";
/// After the pairing QR code; `{url}` is filled in.
pub const ENROLL_PUSH_URL: &str =
    "Or open this address on your phone (it holds a one-time secret; do not share it):\n{url}\n";
/// Closes the pairing prompt.
pub const ENROLL_PUSH_PROMPT: &str =
    "Open it on your phone, then press Enter (or just press Enter to skip): ";
/// The test push after pairing; `{name}` and `{number}` are filled in.
pub const ENROLL_PUSH_TEST: &str = "✓ Phone paired ({name}).\n\
Approve the test notification on your phone: number {number}, then press Enter: ";
/// Above the recovery codes: the test push came back approved.
pub const ENROLL_PUSH_APPROVED: &str = "Notification approved ✓\n";
/// Above the recovery codes: the test push was not approved, so the pairing was undone.
pub const ENROLL_PUSH_NOT_APPROVED: &str = "The test notification was not approved, so the phone \
was not paired. Use codes from your app; an administrator can pair the phone later.\n";
/// Above the recovery codes: a phone answered, but its pairing did not verify.
pub const ENROLL_PUSH_REFUSED: &str =
    "The phone's pairing could not be verified and was not saved: use codes from your app.\n";
/// Above the recovery codes: the approval service could not be used.
pub const ENROLL_PUSH_UNAVAILABLE: &str =
    "Push approval is not available right now: use codes from your app.\n";
