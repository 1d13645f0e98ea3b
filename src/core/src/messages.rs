//! User-facing texts of the module, in one place so they can be translated.
#![forbid(unsafe_code)]

/// Widest line of a message: an 80-column terminal, less a margin.
pub const WIDTH: usize = 78;

/// Room the SSH client takes in front of a prompt's first line: "(user@host) ".
pub const SSH_PREFIX: usize = 24;

/// Wraps `text` at word boundaries to [`WIDTH`] columns (existing line breaks are kept).
pub fn wrap(text: &str) -> String {
    wrap_from(text, 0)
}

/// Like [`wrap`], for a prompt over SSH: the first line leaves room for the client's
/// "(user@host) " in front of it.
pub fn wrap_prompt(text: &str) -> String {
    wrap_from(text, SSH_PREFIX)
}

fn wrap_from(text: &str, first_indent: usize) -> String {
    let mut out = String::new();
    for (i, paragraph) in text.split('\n').enumerate() {
        if i > 0 {
            out.push('\n');
        }
        let mut column = if i == 0 { first_indent } else { 0 };
        for word in paragraph.split(' ').filter(|w| !w.is_empty()) {
            let len = word.chars().count();
            if column > 0 && !out.is_empty() && column + 1 + len > WIDTH {
                out.push('\n');
                column = 0;
            } else if column > 0 && !out.is_empty() && !out.ends_with('\n') {
                out.push(' ');
                column += 1;
            }
            out.push_str(word);
            column += len;
        }
    }
    out
}

/// The default code prompt.
pub const PROMPT_CODE: &str = "Code from your authenticator app (or a recovery code): ";
/// Before the code prompt, for a user without a phone where push is configured.
pub const PAIR_TIP: &str =
    "Tip: type pair (instead of a code) to approve sign-ins on your phone from now on.";
/// After "pair": the second factor first.
pub const PAIR_CODE_PROMPT: &str = "To pair a phone, first a code from your authenticator app: ";
/// The prompt with `forward_pass`: password and code typed together.
pub const PROMPT_PASSWORD_AND_CODE: &str = "Password & verification code: ";
/// Shown when the second factor is locked after too many failures; `{time}` is filled in with
/// what is left of the lockout ("14 minutes").
pub const LOCKED: &str = "Too many failed attempts: locked for {time} more. Try again then, or \
ask your administrator to unlock you.";

/// A duration as people say it: "40 seconds", "1 minute", "15 minutes", "3 hours", "2 days".
pub fn duration(seconds: u64) -> String {
    let (n, unit) = match seconds {
        0..60 => (seconds.max(1), "second"),
        60..7200 => (seconds.div_ceil(60), "minute"),
        7200..172_800 => (seconds.div_ceil(3600), "hour"),
        _ => (seconds.div_ceil(86_400), "day"),
    };
    format!("{n} {unit}{}", if n == 1 { "" } else { "s" })
}
/// After a sign-in with a recovery code; `{left}` is filled in ("9 codes").
pub const RECOVERY_ACCEPTED: &str = "Recovery code accepted: {left} left. Each works once; ask \
your administrator for new ones (`twofold recovery-codes`) before they run out.";
/// After a sign-in with the last recovery code.
pub const RECOVERY_LAST: &str = "Recovery code accepted: that was your last one. Ask your \
administrator for new ones now (`twofold recovery-codes`).";
/// Shown when the user's files or the configuration cannot be used.
pub const UNAVAILABLE: &str =
    "The second factor is unavailable. Please contact your administrator.";

/// First line of guided enrollment, above the QR code. Everything the user must read is in the
/// prompt itself (OpenSSH before 10.3 holds PAM info messages until the next prompt), and the
/// whole prompt fits an 80x24 terminal: this line, the code, the key in two lines, the question.
/// The SSH client puts "(user@host) " in front of this line, so it stays short.
pub const ENROLL_INTRO: &str = "More information required. Scan with an authenticator app:\n";
/// After the QR code: the key in text; `{key}` and `{digits}` are filled in.
pub const ENROLL_KEY: &str =
    "Light background, or won't scan? Type this key:\n{key}  (time-based, {digits} digits)\n";
/// The same in one line, for a 6-digit key short enough to fit 78 columns: with it a
/// version-4 QR code (about half of all keys) leaves the prompt's first line on 80x24.
pub const ENROLL_KEY_ONE_LINE: &str = "Light background, or won't scan? Key: {key}\n";
/// The code prompt under a code drawn for dark backgrounds (`qr = "utf8"`).
pub const ENROLL_PROMPT: &str =
    "Code from the app (or L to redraw the QR code for a light background): ";
/// The code prompt under a code drawn for light backgrounds.
pub const ENROLL_PROMPT_LIGHT: &str =
    "Code from the app (or D to redraw the QR code for a dark background): ";
/// The code prompt under a code that scans on any background (`qr = "ansi"`).
pub const ENROLL_PROMPT_ANY: &str = "Code from the app: ";
/// After a wrong code during enrollment: the key stays the same. A prompt of its own, so the
/// SSH client puts "(user@host) " in front of it: short.
pub const ENROLL_RETRY: &str = "Wrong code (same key). Newest code from the app: ";
/// After the last wrong code: nothing saved, and what the next sign-in will do.
pub const ENROLL_GAVE_UP: &str = "That code is not right either, so nothing was saved. Delete \
the entry from your app: your next sign-in shows a new key and QR code.";

/// Shown once enrollment is saved, followed by the recovery codes.
pub const ENROLL_DONE: &str = "✓ Your second factor is set up.\n\
Recovery codes, each good for one sign-in if you lose your phone. Write them\n\
down now; they will not be shown again.\n";
/// Closes a prompt that only shows a message (over SSH).
pub const PRESS_ENTER: &str = "Press Enter: ";
/// Closes the recovery codes prompt.
pub const ENROLL_CONTINUE: &str = "Press Enter to continue: ";

/// Push, prompt mode (SSH): everything in the prompt; `{number}` is filled in.
/// Two short lines, so neither wraps at 80 columns behind the SSH client's "(user@host) ".
pub const PUSH_PROMPT: &str =
    "Approve the sign-in on your phone: number {number}.\nThen press Enter, or type a code: ";
/// Push, prompt mode, after Enter while no answer has come yet.
pub const PUSH_PROMPT_AGAIN: &str = "No answer from your phone yet (number {number}).\n\
Press Enter once you have approved, or type a code: ";
/// Push, wait mode (console): `{number}` and `{seconds}` are filled in.
pub const PUSH_WAIT: &str = "Approve on your phone — number {number} (waiting {seconds} s)";
/// Push, wait mode, every 15 seconds.
pub const PUSH_STILL_WAITING: &str =
    "Still waiting for your phone — number {number} ({seconds} s left)";
/// The phone said no; `{time}` is the back-off.
pub const PUSH_DENIED: &str = "The sign-in was denied on your phone, so it was refused. For the \
next {time}, sign-ins ask for a code from your app instead of a push.";
/// "This wasn't me" on the phone; `{until}` and `{told}` are filled in.
pub const PUSH_REPORTED: &str = "You reported this sign-in as not you: it was refused, and push \
approval is paused for your account until {until} (codes from your app still work). {told}";
/// After a report, the `[alerts] command` ran.
pub const PUSH_REPORTED_TOLD: &str = "Your administrator has been told.";
/// After a report, no alert went out (none configured, or it failed).
pub const PUSH_REPORTED_TELL: &str = "Please tell your administrator.";
/// No answer in time; `{time}` is the back-off.
pub const PUSH_TIMEOUT: &str = "No answer from your phone in time: the request expired and the \
sign-in was refused. For the next {time}, sign-ins ask for a code instead.";
/// Approved with another number; `{number}` is the one shown.
pub const PUSH_NUMBER_MISMATCH: &str = "The number typed on your phone was not {number}, so the \
sign-in was refused. Next time type the number shown here; it changes every sign-in.";
/// Answered after the request expired.
pub const PUSH_LATE: &str =
    "Your phone answered after the request had expired, so the sign-in was refused.";
/// The answer did not check out.
pub const PUSH_INVALID: &str =
    "The answer from your phone could not be verified, so the sign-in was refused.";
/// Push skipped: a denial or timeout a moment ago; `{time}` left.
pub const PUSH_SKIPPED_BACKOFF: &str = "No push for {time} more (the last one was denied or \
not answered): use a code from your app.";
/// Push skipped: suspended after a report; `{until}`.
pub const PUSH_SKIPPED_SUSPENDED: &str = "Push approval is paused for your account until \
{until}, after a sign-in was reported as not you: use a code from your app.";
/// Push skipped: another sign-in is waiting for the phone.
pub const PUSH_SKIPPED_PENDING: &str =
    "Another sign-in is waiting for your phone: use a code from your app.";
/// Push cannot be used now; a code is asked for next.
pub const PUSH_USE_CODE: &str =
    "Push approval is not available right now: use a code from your app.";
/// Push cannot be used now and `fail_mode = "deny"`: the sign-in is refused.
pub const PUSH_UNAVAILABLE: &str =
    "Push approval is not available right now, and this system accepts nothing else.";

/// First sign-in with `[push]` configured, after the app is set up: above the pairing QR code.
pub const ENROLL_PUSH_OFFER: &str =
    "✓ App set up. Optional: approve sign-ins on your phone. Scan with its camera:\n";
/// The pairing address in text, for a phone that cannot scan; `{url}` is filled in.
pub const ENROLL_PUSH_URL: &str =
    "Open this address on your phone (it holds a one-time secret; do not share it):\n{url}\n";
/// Closes the pairing prompt under a QR code that scans on any background (`ansi`).
pub const ENROLL_PUSH_PROMPT: &str =
    "Paired? Press Enter. Or type S to skip, U to show the address instead: ";
/// Closes the pairing prompt under a code drawn for dark backgrounds.
pub const ENROLL_PUSH_PROMPT_DARK: &str =
    "Paired? Press Enter. S: skip, U: show the address, L: light background: ";
/// Closes the pairing prompt under a code drawn for light backgrounds.
pub const ENROLL_PUSH_PROMPT_LIGHT: &str =
    "Paired? Press Enter. S: skip, U: show the address, D: dark background: ";
/// Closes the pairing prompt under the address.
pub const ENROLL_PUSH_PROMPT_URL: &str = "Paired? Press Enter. Or type S to skip: ";
/// The test push after pairing; `{name}` and `{number}` are filled in.
pub const ENROLL_PUSH_TEST: &str = "✓ Phone paired ({name}).\n\
Approve the test notification on your phone: number {number}, then press Enter: ";
/// Above the recovery codes: the test push came back approved.
pub const ENROLL_PUSH_APPROVED: &str = "Notification approved ✓\n";
/// Above the recovery codes: the test push was not approved, so the pairing was undone.
pub const ENROLL_PUSH_NOT_APPROVED: &str = "The test notification was not approved, so the phone \
was not paired. Use codes from your app; to try again, type pair at a later sign-in's code prompt.\n";
/// Above the recovery codes: a phone answered, but its pairing did not verify.
pub const ENROLL_PUSH_REFUSED: &str =
    "The phone's pairing could not be verified and was not saved: use codes from your app.\n";
/// Above the recovery codes: the approval service could not be used.
pub const ENROLL_PUSH_UNAVAILABLE: &str =
    "Push approval is not available right now: use codes from your app.\n";

/// Fleet mode, `offline = "deny"`: no service of the fleet answered.
pub const FLEET_OFFLINE: &str = "The sign-in service cannot be reached, and this host may not \
sign you in without it. Try again later, or contact your administrator.";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_people_say_them() {
        assert_eq!(duration(0), "1 second");
        assert_eq!(duration(40), "40 seconds");
        assert_eq!(duration(60), "1 minute");
        assert_eq!(duration(61), "2 minutes");
        assert_eq!(duration(900), "15 minutes");
        assert_eq!(duration(7200), "2 hours");
        assert_eq!(duration(86_400), "24 hours");
        assert_eq!(duration(3 * 86_400), "3 days");
    }

    #[test]
    fn wrap_breaks_at_word_boundaries_within_78_columns() {
        let text = wrap(ENROLL_GAVE_UP);
        assert!(text.lines().count() >= 2, "{text}");
        assert!(text.lines().all(|l| l.chars().count() <= WIDTH), "{text}");
        assert_eq!(text.replace('\n', " "), ENROLL_GAVE_UP);
    }

    #[test]
    fn wrap_prompt_leaves_room_for_the_ssh_prefix_on_the_first_line() {
        let text = wrap_prompt(ENROLL_GAVE_UP);
        let first = text.lines().next().unwrap();
        assert!(first.chars().count() + SSH_PREFIX <= WIDTH, "{text}");
        assert_eq!(text.replace('\n', " "), ENROLL_GAVE_UP);
        // Existing line breaks stay.
        assert_eq!(wrap("a\nb"), "a\nb");
    }
}
