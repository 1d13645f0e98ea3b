//! The push part of a sign-in's decision: runs the push dialogue and turns its outcome into the
//! decision and audit line; `[push] fail_mode` and the fall-back to a code live here.
#![forbid(unsafe_code)]

pub mod dialogue;

use super::{Decision, Run, Verdict};
use crate::audit::Severity;
use crate::config::{Config, FailMode};
use crate::factor::Method;
use crate::messages;
use crate::store::{UserRecord, UserStore};
use crate::username::UserName;
use dialogue::{Outcome, PushSignIn};

impl Run<'_> {
    /// Approval on the phone; a typed code, a pause or an unreachable service lead back to codes.
    pub(super) fn push(
        &mut self,
        store: &UserStore,
        user: &UserName,
        record: &UserRecord,
        config: &Config,
    ) -> Decision {
        let outcome = PushSignIn {
            conv: &mut *self.conv,
            store,
            user,
            record,
            config,
            clock: self.clock,
            service: &self.req.service,
            rhost: &self.req.rhost,
            silent: self.req.silent,
            texts: self.texts,
            more: self.offer_now.sms,
        }
        .run();
        let refused = |reason| Decision::new(Verdict::Refused, Method::Push, reason);
        match outcome {
            Outcome::Approved => {
                if let Some(fleet) = &self.fleet {
                    fleet.succeeded(user);
                }
                Decision::new(Verdict::Success, Method::Push, "push_approved")
            }
            Outcome::Denied => refused("push_denied"),
            Outcome::Reported => Decision {
                suspicious: true,
                ..refused("push_reported")
            },
            Outcome::TimedOut => refused("push_timeout"),
            Outcome::Invalid(why) => {
                self.conv.fail_delay(config.rate_limit.failure_delay_ms);
                refused(why.as_str())
            }
            Outcome::NoAnswer => refused("conversation_failed"),
            Outcome::Code(answer) => {
                let who = super::method::Who {
                    store,
                    user,
                    record,
                    config,
                };
                match self.typed_word(who, &answer) {
                    Some(decision) => decision,
                    None => self.answered(store, user, record, config, &answer),
                }
            }
            Outcome::Skipped { reason, until } => {
                self.push_fallback(reason, until, None, store, user, record, config)
            }
            Outcome::Unavailable { reason, detail } => match config.push.fail_mode {
                FailMode::Code => {
                    self.push_fallback(reason, 0, Some(detail), store, user, record, config)
                }
                FailMode::Deny => {
                    if !self.req.silent {
                        self.conv.error(self.texts.get("push.unavailable"));
                    }
                    Decision {
                        detail: Some(detail),
                        ..refused(reason)
                    }
                }
                FailMode::Allow => Decision {
                    detail: Some(format!("fail_mode=allow: {detail}")),
                    alarm: true,
                    ..Decision::new(Verdict::Success, Method::Push, reason)
                },
            },
        }
    }

    /// Push was not possible: log why, tell the user (what happened, until when), ask for a code.
    #[allow(clippy::too_many_arguments)]
    fn push_fallback(
        &mut self,
        reason: &'static str,
        until: u64,
        detail: Option<String>,
        store: &UserStore,
        user: &UserName,
        record: &UserRecord,
        config: &Config,
    ) -> Decision {
        let mut line = self
            .line("push")
            .kv("result", "code_instead")
            .kv("reason", reason);
        if let Some(detail) = &detail {
            line = line.kv("detail", detail);
        }
        self.sink.write(Severity::Warning, &line.finish());
        if !self.req.silent {
            let left = self.texts.duration(until.saturating_sub(self.clock.now()));
            let text = match reason {
                "push_backoff" => self.texts.fill("push.skipped_backoff", &[("time", &left)]),
                "push_suspended" => {
                    let until = crate::when::human(until);
                    self.texts
                        .fill("push.skipped_suspended", &[("until", &until)])
                }
                "push_pending" => self.texts.get("push.skipped_pending").to_string(),
                _ => self.texts.get("push.use_code").to_string(),
            };
            // Shown with the code prompt that follows (OpenSSH holds messages until then).
            self.conv.info(&messages::wrap(&text));
        }
        self.code(store, user, record, config)
    }
}
