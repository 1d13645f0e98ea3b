//! Is this answer a valid second factor right now? Pure: record, state, limits and a time in;
//! a verdict and the updated state out.
#![forbid(unsafe_code)]

use crate::config::Config;
use crate::factor::Method;
use crate::factor::recovery::{self, RecoveryHash};
use crate::factor::sms;
use crate::secret::SecretString;
use crate::signin::ratelimit;
use crate::store::{UserRecord, UserState};

/// Longest answer considered; anything longer is refused without further work.
pub const MAX_ANSWER_LEN: usize = 512;

/// Why an answer was refused, as written in the audit log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    WrongCode,
    ReplayedCode,
    WrongRecoveryCode,
    MalformedAnswer,
    AnswerTooLong,
    /// Fleet mode: right here, but the service's claim got no answer (once-only unproven).
    ClaimUnanswered,
}

impl Refusal {
    /// The audit log's reason.
    pub fn as_str(self) -> &'static str {
        match self {
            Refusal::WrongCode => "wrong_code",
            Refusal::ReplayedCode => "replayed_code",
            Refusal::WrongRecoveryCode => "wrong_recovery_code",
            Refusal::MalformedAnswer => "malformed_answer",
            Refusal::AnswerTooLong => "answer_too_long",
            Refusal::ClaimUnanswered => "fleet_claim_unanswered",
        }
    }
}

/// What an answer looks like, before any secret is consulted.
pub enum Shape {
    /// As many digits as the user's codes have (spaces removed).
    Totp(SecretString),
    /// A recovery code, normalised.
    Recovery(SecretString),
    TooLong,
    Malformed,
}

/// Classifies an answer for a user whose codes have `digits` digits.
pub fn classify(answer: &str, digits: u8) -> Shape {
    if answer.len() > MAX_ANSWER_LEN {
        return Shape::TooLong;
    }
    let compact = SecretString::new(answer.chars().filter(|c| !c.is_whitespace()).collect());
    let code = compact.expose();
    if code.len() == usize::from(digits) && code.bytes().all(|b| b.is_ascii_digit()) {
        return Shape::Totp(compact);
    }
    match recovery::normalize(answer.trim()) {
        Some(code) => Shape::Recovery(code),
        None => Shape::Malformed,
    }
}

/// Whether `answer` has the shape of a code or recovery code, so that a password handed over
/// by an earlier module (`try_first_pass`) is not counted as a failed code.
pub fn looks_like_code(answer: &str, digits: u8) -> bool {
    matches!(
        classify(answer, digits),
        Shape::Totp(_) | Shape::Recovery(_)
    )
}

/// Checks `answer` (a TOTP or recovery code) and records the result in `state`:
/// the accepted step or used recovery code on success, a counted failure otherwise — except a
/// replay: a code the app really showed, at or before the last accepted step, proves knowledge
/// of a code already used (an onlooker, a replaying script), not a guess, so it is refused
/// without counting towards the lockout, and a burst of replays cannot lock the user out.
/// `recovery` holds the user's recovery code hashes; callers load them only when
/// [`classify`] says the answer is a recovery code.
pub fn verify(
    answer: &str,
    record: &UserRecord,
    recovery: &[RecoveryHash],
    state: &mut UserState,
    config: &Config,
    now: u64,
) -> Result<Method, (Method, Refusal)> {
    let result = check(answer, record, recovery, state, config, now);
    match result {
        Ok(_) => ratelimit::record_success(state, now),
        Err((_, Refusal::ReplayedCode)) => {}
        Err(_) => ratelimit::record_failure(state, &config.rate_limit, now),
    }
    result
}

fn check(
    answer: &str,
    record: &UserRecord,
    recovery: &[RecoveryHash],
    state: &mut UserState,
    config: &Config,
    now: u64,
) -> Result<Method, (Method, Refusal)> {
    // A live text-message code is tried first, whatever prompt it was typed at.
    if answer.len() <= MAX_ANSWER_LEN && sms::is_live(state, now) {
        let compact = SecretString::new(answer.chars().filter(|c| !c.is_whitespace()).collect());
        let code = compact.expose();
        if code.len() == sms::DIGITS && code.bytes().all(|b| b.is_ascii_digit()) {
            if sms::take(state, code, now) {
                return Ok(Method::Sms);
            }
            if usize::from(record.totp.digits) != sms::DIGITS {
                return Err((Method::Sms, Refusal::WrongCode));
            }
        }
    }
    match classify(answer, record.totp.digits) {
        Shape::TooLong => Err((Method::None, Refusal::AnswerTooLong)),
        Shape::Malformed => Err((Method::None, Refusal::MalformedAnswer)),
        Shape::Totp(code) => match record
            .totp
            .matching_step(code.expose(), now, config.totp.skew)
        {
            Some(step) if step > state.last_step => {
                state.last_step = step;
                Ok(Method::Totp)
            }
            Some(_) => Err((Method::Totp, Refusal::ReplayedCode)),
            None => Err((Method::Totp, Refusal::WrongCode)),
        },
        Shape::Recovery(code) => {
            match recovery::find_match(&code, recovery, &state.used_recovery) {
                Some(id) => {
                    state.used_recovery.push(id.to_string());
                    // Forget ids of codes no longer stored (regenerated since).
                    state
                        .used_recovery
                        .retain(|u| recovery.iter().any(|r| &r.id == u));
                    Ok(Method::Recovery)
                }
                None => Err((Method::Recovery, Refusal::WrongRecoveryCode)),
            }
        }
    }
}

/// Splits a `forward_pass` answer into (password, code): the code is the trailing
/// `digits` digits, or else a trailing recovery code.
pub fn split_password_and_code(answer: &str, digits: u8) -> (&str, &str) {
    let n = usize::from(digits);
    let tail_is = |len: usize, ok: &dyn Fn(&str) -> bool| {
        answer
            .len()
            .checked_sub(len)
            .filter(|&i| answer.is_char_boundary(i))
            .filter(|&i| ok(&answer[i..]))
    };
    let digits_only = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    let recovery_dashed =
        |s: &str| s.as_bytes().get(4) == Some(&b'-') && recovery::normalize(s).is_some();
    let recovery_plain = |s: &str| !s.contains('-') && recovery::normalize(s).is_some();
    let split = tail_is(n, &digits_only)
        .or_else(|| tail_is(14, &recovery_dashed))
        .or_else(|| tail_is(12, &recovery_plain));
    match split {
        Some(i) => (&answer[..i], &answer[i..]),
        None => (answer, ""),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::factor::totp::{Algorithm, TotpParams};

    fn record() -> (UserRecord, Vec<RecoveryHash>, Vec<SecretString>) {
        let (codes, hashes) = recovery::generate(3).unwrap();
        let totp = TotpParams {
            secret: SecretString::new("JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP".into()),
            algorithm: Algorithm::SHA1,
            digits: 6,
            period: 30,
            skew: None,
        };
        (
            UserRecord {
                version: 1,
                created: 0,
                id: String::new(),
                confirmed_step: 0,
                totp,
                devices: Vec::new(),
                phone: None,
                default_method: None,
                recovery: None,
                language: None,
                recovery_deferred: false,
            },
            hashes,
            codes,
        )
    }

    const NOW: u64 = 1_800_000_000;

    #[test]
    fn right_code_once_then_replay_is_refused() {
        let (rec, hashes, _) = record();
        let cfg = Config::default();
        let mut st = UserState::default();
        let code = rec.totp.code_at(NOW).unwrap();
        assert_eq!(
            verify(&code, &rec, &hashes, &mut st, &cfg, NOW),
            Ok(Method::Totp)
        );
        assert_eq!(st.last_step, NOW / 30);
        assert_eq!(
            verify(&code, &rec, &hashes, &mut st, &cfg, NOW + 1),
            Err((Method::Totp, Refusal::ReplayedCode))
        );
        let earlier = rec.totp.code_at(NOW - 30).unwrap();
        assert_eq!(
            verify(&earlier, &rec, &hashes, &mut st, &cfg, NOW),
            Err((Method::Totp, Refusal::ReplayedCode)),
            "older step after a newer one"
        );
        assert_eq!(st.failures, 0, "replays are not counted as guesses");
    }

    #[test]
    fn a_burst_of_replays_does_not_lock_the_user_out_but_wrong_codes_do() {
        let (rec, hashes, _) = record();
        let cfg = Config::default();
        let mut st = UserState::default();
        let code = rec.totp.code_at(NOW).unwrap();
        assert_eq!(
            verify(&code, &rec, &hashes, &mut st, &cfg, NOW),
            Ok(Method::Totp)
        );
        for i in 0..100 {
            let replay = verify(&code, &rec, &hashes, &mut st, &cfg, NOW + i % 30);
            assert_eq!(replay, Err((Method::Totp, Refusal::ReplayedCode)));
        }
        assert!(!ratelimit::is_locked(&st, NOW + 29), "{st:?}");
        let next = rec.totp.code_at(NOW + 30).unwrap();
        assert_eq!(
            verify(&next, &rec, &hashes, &mut st, &cfg, NOW + 30),
            Ok(Method::Totp)
        );
        let wrong = if next == "000000" { "111111" } else { "000000" };
        for _ in 0..cfg.rate_limit.max_failures {
            let _ = verify(wrong, &rec, &hashes, &mut st, &cfg, NOW + 31);
        }
        assert!(
            ratelimit::is_locked(&st, NOW + 31),
            "wrong codes still lock"
        );
    }

    #[test]
    fn spaced_code_is_accepted_and_garbage_is_malformed() {
        let (rec, hashes, _) = record();
        let cfg = Config::default();
        let mut st = UserState::default();
        let code = rec.totp.code_at(NOW).unwrap();
        let spaced = format!("{} {}", &code[..3], &code[3..]);
        assert_eq!(
            verify(&spaced, &rec, &hashes, &mut st, &cfg, NOW),
            Ok(Method::Totp)
        );
        assert_eq!(
            verify("hello", &rec, &hashes, &mut st, &cfg, NOW),
            Err((Method::None, Refusal::MalformedAnswer))
        );
        assert_eq!(
            verify(&"9".repeat(1 << 20), &rec, &hashes, &mut st, &cfg, NOW),
            Err((Method::None, Refusal::AnswerTooLong))
        );
    }

    #[test]
    fn recovery_code_works_once() {
        let (rec, hashes, codes) = record();
        let cfg = Config::default();
        let mut st = UserState::default();
        assert_eq!(
            verify(codes[1].expose(), &rec, &hashes, &mut st, &cfg, NOW),
            Ok(Method::Recovery)
        );
        assert_eq!(
            verify(codes[1].expose(), &rec, &hashes, &mut st, &cfg, NOW),
            Err((Method::Recovery, Refusal::WrongRecoveryCode))
        );
        assert_eq!(
            verify(codes[2].expose(), &rec, &hashes, &mut st, &cfg, NOW),
            Ok(Method::Recovery)
        );
    }

    #[test]
    fn a_text_message_code_works_once_and_counts_failures_like_any_code() {
        let (rec, hashes, _) = record();
        let cfg = Config::default();
        let mut st = UserState::default();
        let mut os = crate::secret::random_bytes::<16>;
        let code = sms::issue(&mut st, &cfg.sms, NOW, &mut os)
            .unwrap()
            .unwrap();
        let spaced = format!("{} {}", &code.expose()[..3], &code.expose()[3..]);
        assert_eq!(
            verify(&spaced, &rec, &hashes, &mut st, &cfg, NOW + 5),
            Ok(Method::Sms)
        );
        let again = verify(code.expose(), &rec, &hashes, &mut st, &cfg, NOW + 6);
        assert!(again.is_err(), "used once");
        assert_eq!(st.failures, 1, "a used code counts as a wrong one");
        let code = sms::issue(&mut st, &cfg.sms, NOW + 10, &mut os)
            .unwrap()
            .unwrap();
        let late = NOW + 10 + cfg.sms.code_seconds;
        assert!(verify(code.expose(), &rec, &hashes, &mut st, &cfg, late).is_err());
        assert_eq!(st.failures, 2, "expired");
    }

    #[test]
    fn passwords_do_not_look_like_codes() {
        assert!(looks_like_code("123 456", 6));
        assert!(looks_like_code("abcd-efgh-jk01", 6));
        assert!(!looks_like_code("hunter2!", 6));
        assert!(!looks_like_code("1234567", 6));
    }

    #[test]
    fn forward_pass_answers_are_split() {
        assert_eq!(
            split_password_and_code("hunter2123456", 6),
            ("hunter2", "123456")
        );
        assert_eq!(
            split_password_and_code("pw abcd-efgh-jk01", 6),
            ("pw ", "abcd-efgh-jk01")
        );
        assert_eq!(
            split_password_and_code("pwabcdefghjk01", 6),
            ("pw", "abcdefghjk01")
        );
        assert_eq!(split_password_and_code("12", 6), ("12", ""));
        assert_eq!(split_password_and_code("pässwörd", 6), ("pässwörd", ""));
    }
}
