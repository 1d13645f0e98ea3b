//! A temporary access pass at sign-in: typed at the code prompt (or asked for first when
//! `[enrollment] require_pass` is set), it stands in for the second factor and leads straight
//! into enrollment; for an enrolled user who lost the phone, the new enrollment replaces the
//! old one once the new app's code is confirmed. Every use is an audit line, never the pass.
#![forbid(unsafe_code)]

use super::{Decision, Run, Verdict};
use crate::audit::Severity;
use crate::config::Config;
use crate::factor::Method;
use crate::factor::pass;
use crate::secret::SecretString;
use crate::store::{UserRecord, UserStore};
use crate::username::UserName;

/// Whether an answer has the shape of an access pass (and so is not a code).
pub fn looks_like_pass(answer: &str) -> bool {
    pass::normalize(answer).is_some()
}

impl Run<'_> {
    /// Redeems `answer` as the user's pass and, if it is good, runs enrollment (replacing
    /// `replaces`, the record of an enrolled user).
    pub(super) fn with_pass(
        &mut self,
        user: &UserName,
        replaces: Option<&UserRecord>,
        config: &Config,
        answer: &SecretString,
    ) -> Decision {
        if let Err(decision) = self.redeem_pass(user, config, answer) {
            return decision;
        }
        let decision = self.enroll(user, config, replaces);
        match decision.verdict {
            Verdict::Success => Decision {
                method: Method::Pass,
                reason: if replaces.is_some() {
                    "reenrolled_with_pass"
                } else {
                    "enrolled_with_pass"
                },
                ..decision
            },
            _ => Decision {
                method: Method::Pass,
                ..decision
            },
        }
    }

    /// Asks for the pass before first-sign-in enrollment (`require_pass`), then enrolls.
    pub(super) fn enroll_with_required_pass(
        &mut self,
        user: &UserName,
        config: &Config,
    ) -> Decision {
        let prompt = self.texts.get("pass.prompt");
        let Ok(answer) = self.conv.ask_hidden(prompt) else {
            return Decision::refused("conversation_failed");
        };
        self.with_pass(user, None, config, &answer)
    }

    /// Checks the pass under the user's lock and counts (or spends) the use. A refusal
    /// tells the user, waits the failure delay, and is the decision.
    fn redeem_pass(
        &mut self,
        user: &UserName,
        config: &Config,
        answer: &SecretString,
    ) -> Result<(), Decision> {
        let refused = |reason: &'static str| Decision::new(Verdict::Refused, Method::Pass, reason);
        let result = self.try_redeem(user, config, answer);
        let (reason, detail) = match result {
            Ok(line) => {
                self.sink.write(Severity::Notice, &line);
                return Ok(());
            }
            Err(Redeem::Refused(reason)) => (reason, None),
            Err(Redeem::Unavailable(e)) => {
                return Err(Decision::unavailable("bad_pass", e));
            }
            Err(Redeem::NotSaved(e)) => ("pass_not_saved", Some(e)),
        };
        self.conv.fail_delay(config.rate_limit.failure_delay_ms);
        self.tell(self.texts.get("pass.refused"));
        Err(Decision {
            detail,
            ..refused(reason)
        })
    }

    /// The redemption itself; on success the audit line to write.
    fn try_redeem(
        &mut self,
        user: &UserName,
        config: &Config,
        answer: &SecretString,
    ) -> Result<String, Redeem> {
        let Some(typed) = pass::normalize(answer.expose()) else {
            return Err(Redeem::Refused("malformed_answer"));
        };
        let store = match UserStore::open(&config.state_dir) {
            Ok(store) => store,
            Err(crate::store::StoreError::File(e)) if e.is_not_found() => {
                return Err(Redeem::Refused("no_pass"));
            }
            Err(e) => return Err(Redeem::Unavailable(e.to_string())),
        };
        let lock = store
            .lock(user)
            .map_err(|e| Redeem::Unavailable(e.to_string()))?;
        let mut stored = match store.load_pass(user) {
            Ok(Some(stored)) => stored,
            Ok(None) => return Err(Redeem::Refused("no_pass")),
            Err(e) => return Err(Redeem::Unavailable(e.to_string())),
        };
        let now = self.clock.now();
        let redeemed = stored.redeem(&typed, now);
        // A pass that can do nothing more goes; a use that cannot be recorded lets no one in
        // (a once-only pass would work again).
        let saved = if stored.spent(now) {
            store.remove_pass(user, &lock).map(|_| ())
        } else {
            store.save_pass(user, &lock, &stored)
        };
        drop(lock);
        if let Err(refusal) = redeemed {
            return Err(Redeem::Refused(refusal.as_str()));
        }
        saved.map_err(|e| Redeem::NotSaved(e.to_string()))?;
        Ok(self
            .line("pass")
            .kv("result", "redeemed")
            .kv("uses", &stored.uses.to_string())
            .kv("once", if stored.once { "yes" } else { "no" })
            .kv("expires", &crate::when::iso8601(stored.expires))
            .finish())
    }

    /// Whether a pass is stored for the user (read without the lock; redeeming re-reads under
    /// it). Only then is a pass-shaped answer taken for one: for everyone else it is an
    /// ordinary wrong answer, so the reply does not tell who exists or is enrolled.
    pub(super) fn has_pass(&self, user: &UserName, config: &Config) -> bool {
        UserStore::open(&config.state_dir)
            .and_then(|store| store.load_pass(user))
            .is_ok_and(|pass| pass.is_some())
    }

    /// An enrolled user's answer: a pass (when one was issued) leads to enrollment again,
    /// anything else is checked as a code.
    pub(super) fn answered(
        &mut self,
        store: &UserStore,
        user: &UserName,
        record: &UserRecord,
        config: &Config,
        answer: &SecretString,
    ) -> Decision {
        if looks_like_pass(answer.expose()) && self.has_pass(user, config) {
            return self.with_pass(user, Some(record), config, answer);
        }
        self.check(store, user, record, config, answer)
    }
}

/// Why a pass could not be redeemed.
enum Redeem {
    /// Wrong, expired, used, missing: the audit reason.
    Refused(&'static str),
    /// The files could not be used.
    Unavailable(String),
    /// Right, but its use could not be written.
    NotSaved(String),
}
