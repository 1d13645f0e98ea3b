//! The push dialogue of one sign-in: make a challenge and a number, post it, show the number,
//! wait for the phone (prompt mode over SSH, wait mode at a console), verify the answer, and
//! keep the user's push state (one pending push, back-off, suspension). Knows nothing of libpam.
#![forbid(unsafe_code)]

use crate::alert::{self, Event, Sent};
use crate::audit::{AuditSink, Line, Severity};
use crate::clock::Clock;
use crate::config::{Config, PushMode};
use crate::conversation::Conversation;
use crate::messages::{self, Texts};
use crate::push::protocol::{Challenge, new_number};
use crate::push::service::{HostServiceError, Service, ServiceError, VerdictReport};
use crate::push::verify::{Invalid, PushVerdict, verify};
use crate::secret::SecretString;
use crate::signin::ratelimit;
use crate::store::lock::UserLock;
use crate::store::{UserRecord, UserState, UserStore};
use crate::username::UserName;

/// Longest single wait for a decision after Enter in prompt mode (seconds).
const PROMPT_POLL: u64 = 5;
/// Longest single wait in wait mode: a countdown line follows each (seconds).
const WAIT_POLL: u64 = 15;

/// How the push part of a sign-in ended.
#[derive(Debug)]
pub enum Outcome {
    Approved,
    Denied,
    Reported,
    TimedOut,
    Invalid(Invalid),
    /// The user typed a code instead: check it.
    Code(SecretString),
    /// The conversation failed (the user went away).
    NoAnswer,
    /// The service could not be used: `[push] fail_mode` applies.
    Unavailable {
        reason: &'static str,
        detail: String,
    },
    /// Push was not tried (paused, pending, ...): ask for a code. `until`: when the pause
    /// ends (0 when there is none).
    Skipped {
        reason: &'static str,
        until: u64,
    },
}

/// Everything the dialogue needs from the sign-in.
pub struct PushSignIn<'a> {
    pub conv: &'a mut dyn Conversation,
    pub store: &'a UserStore,
    pub user: &'a UserName,
    pub record: &'a UserRecord,
    pub config: &'a Config,
    pub clock: &'a dyn Clock,
    pub service: &'a str,
    pub rhost: &'a str,
    pub silent: bool,
    /// The user's language.
    pub texts: Texts,
    /// Other methods can be typed (a number for text messages): the prompt says "?".
    pub more: bool,
}

/// Whether push applies: configured and the user has a device that may approve.
pub fn applies(record: &UserRecord, config: &Config) -> bool {
    config.push.enabled() && record.active_devices().next().is_some()
}

impl PushSignIn<'_> {
    /// Runs the dialogue and records its result in the user's state.
    pub fn run(&mut self) -> Outcome {
        let service = match Service::for_host(&self.config.push) {
            Ok(service) => service,
            Err(e @ HostServiceError::Token(_)) => return unavailable("push_host_token", e),
            Err(e) => return unavailable("push_config", e),
        };
        let now = self.clock.now();
        let host = self.config.push.host_name();
        let challenge = match Challenge::new(
            self.user.as_str(),
            &host,
            self.service,
            self.rhost,
            now,
            self.config.push.timeout_seconds,
        ) {
            Ok(challenge) => challenge,
            Err(_) => {
                return Outcome::Skipped {
                    reason: "push_bad_context",
                    until: 0,
                };
            }
        };
        let number = match new_number() {
            Ok(number) => number,
            Err(e) => return unavailable("push_no_randomness", e),
        };
        let waiting = match self.reserve(&challenge) {
            Ok(waiting) => waiting,
            Err((reason, until)) => return Outcome::Skipped { reason, until },
        };
        let outcome = self.converse(&service, &challenge, number);
        if matches!(outcome, Outcome::Code(_) | Outcome::NoAnswer) {
            // Best effort: the phone stops showing a request nobody waits for.
            let _ = service.withdraw_challenge(&challenge.id);
        }
        let until = self.settle(&outcome);
        drop(waiting);
        let alerted = match outcome {
            Outcome::Reported => Some(self.alert()),
            _ => None,
        };
        // Before the terminal's own words (over SSH they wait for Enter): the phone learns
        // what was decided instead of guessing.
        self.report_verdict(&service, &challenge, &outcome, until, alerted.as_ref());
        self.tell(&outcome, number, until, alerted.as_ref());
        outcome
    }

    /// Under the user's lock: refuses while paused or while another sign-in waits for an
    /// unexpired push; else records this challenge and returns the push lock to hold while
    /// waiting. One durable write, before the number is shown.
    fn reserve(&self, challenge: &Challenge) -> Result<Option<UserLock>, (&'static str, u64)> {
        let failed = |_| ("push_state", 0);
        let lock = self.store.lock(self.user).map_err(failed)?;
        let mut state = self.store.load_state(self.user, &lock).map_err(failed)?;
        let now = self.clock.now();
        if state.push_suspended_until > now {
            return Err(("push_suspended", state.push_suspended_until));
        }
        if state.push_backoff_until > now {
            return Err(("push_backoff", state.push_backoff_until));
        }
        let waiting = self.store.try_push_lock(self.user).map_err(failed)?;
        // Someone holds the push lock: pending, unless its challenge has expired (a sign-in
        // left sitting at its prompt does not block push for ever).
        if waiting.is_none() && state.push_pending_until > now {
            return Err(("push_pending", state.push_pending_until));
        }
        state.push_challenge = challenge.id.clone();
        state.push_challenge_at = challenge.created;
        state.push_pending_until = challenge.expires;
        self.store
            .save_state(self.user, &lock, &state)
            .map_err(failed)?;
        Ok(waiting)
    }

    /// Posts the challenge and waits for the answer the way the mode says.
    fn converse(&mut self, service: &Service, challenge: &Challenge, number: u8) -> Outcome {
        let device_ids: Vec<String> = self.record.active_devices().map(|d| d.id.clone()).collect();
        match service.create_challenge(challenge, &device_ids) {
            Ok(()) => {}
            Err(ServiceError::Conflict) => {
                return Outcome::Skipped {
                    reason: "push_pending",
                    until: challenge.expires,
                };
            }
            Err(e @ ServiceError::Unauthorized(_)) => return unavailable("push_host_refused", e),
            Err(e) => return unavailable("push_unreachable", e),
        }
        let prompt_mode = match self.config.push.mode {
            PushMode::Prompt => true,
            PushMode::Wait => false,
            PushMode::Auto => !self.rhost.is_empty() || self.service == "sshd",
        };
        // Without messages (PAM_SILENT) only a prompt can show the number.
        if prompt_mode || self.silent {
            self.prompt_mode(service, challenge, number)
        } else {
            self.wait_mode(service, challenge, number)
        }
    }

    /// SSH: OpenSSH before 10.3 shows PAM messages only with the next prompt, so the prompt
    /// itself carries the number; Enter means "I approved", anything typed is a code.
    fn prompt_mode(&mut self, service: &Service, challenge: &Challenge, number: u8) -> Outcome {
        let first = if self.more {
            "sms.push_prompt_more"
        } else {
            "push.prompt"
        };
        let mut text = fill(self.texts, first, number, 0);
        loop {
            let answer = match self.conv.ask_hidden(&text) {
                Ok(answer) => answer,
                Err(_) => return Outcome::NoAnswer,
            };
            if !answer.expose().trim().is_empty() {
                return Outcome::Code(answer);
            }
            let left = challenge.expires.saturating_sub(self.clock.now());
            if left == 0 {
                return Outcome::TimedOut;
            }
            match self.poll(service, challenge, number, left.min(PROMPT_POLL)) {
                Some(outcome) => return outcome,
                None => text = fill(self.texts, "push.prompt_again", number, 0),
            }
        }
    }

    /// Console: show the number and wait, with a countdown line every 15 seconds.
    fn wait_mode(&mut self, service: &Service, challenge: &Challenge, number: u8) -> Outcome {
        let left = challenge.expires.saturating_sub(self.clock.now());
        self.conv.info(&fill(self.texts, "push.wait", number, left));
        loop {
            let left = challenge.expires.saturating_sub(self.clock.now());
            if left == 0 {
                return Outcome::TimedOut;
            }
            if let Some(outcome) = self.poll(service, challenge, number, left.min(WAIT_POLL)) {
                return outcome;
            }
            let left = challenge.expires.saturating_sub(self.clock.now());
            if left > 0 {
                self.conv
                    .info(&fill(self.texts, "push.still_waiting", number, left));
            }
        }
    }

    /// One long-poll: `None` when no decision came within `wait` seconds.
    fn poll(
        &mut self,
        service: &Service,
        challenge: &Challenge,
        number: u8,
        wait: u64,
    ) -> Option<Outcome> {
        match service.wait_decision(&challenge.id, wait) {
            Ok(None) => None,
            Ok(Some(decision)) => {
                let devices = &self.record.devices;
                Some(
                    match verify(&decision, challenge, number, devices, self.clock.now()) {
                        PushVerdict::Approved => Outcome::Approved,
                        PushVerdict::Denied => Outcome::Denied,
                        PushVerdict::Reported => Outcome::Reported,
                        PushVerdict::Invalid(why) => Outcome::Invalid(why),
                    },
                )
            }
            // The service forgot it: it expired there.
            Err(ServiceError::NotFound) => Some(Outcome::TimedOut),
            Err(e) => Some(unavailable("push_unreachable", e)),
        }
    }

    /// Under the user's lock: a denial or timeout starts the back-off, a report the
    /// suspension, an invalid answer signed by the user's device counts as a failure (one
    /// that does not verify against the record is not the user's and does not count), an
    /// approval is the last success.
    /// Returns when the back-off or suspension ends (0 for none).
    fn settle(&self, outcome: &Outcome) -> u64 {
        let Ok(lock) = self.store.lock(self.user) else {
            return 0;
        };
        let Ok(mut state) = self.store.load_state(self.user, &lock) else {
            return 0;
        };
        let now = self.clock.now();
        let push = &self.config.push;
        let mut until = 0;
        match outcome {
            Outcome::Approved => {
                // `status` and `list` show the last sign-in, push ones included.
                ratelimit::record_success(&mut state, now);
                let (service, rhost) = (self.service, self.rhost);
                crate::signin::remember::remember(
                    &mut state,
                    &self.config.remember,
                    service,
                    rhost,
                    now,
                );
            }
            Outcome::Denied | Outcome::TimedOut => {
                until = now + push.backoff_seconds;
                state.push_backoff_until = until;
            }
            Outcome::Reported => {
                until = now + push.report_suspend_seconds;
                state.push_suspended_until = until;
            }
            Outcome::Invalid(why) if why.counts_as_failure() => {
                ratelimit::record_failure(&mut state, &self.config.rate_limit, now)
            }
            _ => return 0,
        }
        let _ = self.store.save_state(self.user, &lock, &state);
        until
    }

    /// Tells the service (for the phone) how a decision ended. Best effort and display-only:
    /// a failure is an audit line and changes nothing of the sign-in. Only for outcomes that
    /// came from a decision; the verdict carries no number.
    fn report_verdict(
        &self,
        service: &Service,
        challenge: &Challenge,
        outcome: &Outcome,
        until: u64,
        alerted: Option<&Sent>,
    ) {
        let verdict = match outcome {
            Outcome::Approved => PushVerdict::Approved,
            Outcome::Denied => PushVerdict::Denied,
            Outcome::Reported => PushVerdict::Reported,
            Outcome::Invalid(why) => PushVerdict::Invalid(*why),
            _ => return,
        };
        let mut report = VerdictReport::of(&verdict);
        report.alerted = matches!(alerted, Some(Sent::Delivered));
        report.paused_until = until;
        if let Err(e) = service.post_verdict(&challenge.id, &report) {
            let line = Line::new("push_verdict")
                .kv("user", self.user.as_str())
                .kv("service", self.service)
                .kv("outcome", report.outcome)
                .kv("result", "failed")
                .kv("detail", &e.to_string());
            AuditSink::from_config(&self.config.audit_log).write(Severity::Warning, &line.finish());
        }
    }

    /// `[alerts] command` for a report; its outcome in the audit log.
    fn alert(&self) -> Sent {
        let host = self.config.push.host_name();
        let sent = alert::send(
            &self.config.alerts,
            &Event {
                event: "push_reported",
                user: self.user.as_str(),
                host: &host,
                service: self.service,
                rhost: self.rhost,
                time: self.clock.now(),
            },
        );
        let line = Line::new("alert")
            .kv("user", self.user.as_str())
            .kv("service", self.service)
            .kv("rhost", self.rhost)
            .kv("event", "push_reported");
        let sink = AuditSink::from_config(&self.config.audit_log);
        match &sent {
            Sent::NotConfigured => {}
            Sent::Delivered => sink.write(Severity::Notice, &line.kv("result", "sent").finish()),
            Sent::Failed(why) => sink.write(
                Severity::Error,
                &line.kv("result", "failed").kv("detail", why).finish(),
            ),
        }
        sent
    }

    /// Tells the user how it ended and what follows (the sign-in's verdict follows from the
    /// caller). Over SSH a prompt of its own: the OpenSSH client drops messages of a sign-in
    /// that fails without another prompt.
    fn tell(&mut self, outcome: &Outcome, number: u8, until: u64, alerted: Option<&Sent>) {
        if self.silent {
            return;
        }
        let now = self.clock.now();
        let left = self.texts.duration(until.saturating_sub(now));
        let t = self.texts;
        let text = match outcome {
            Outcome::Denied => t.fill("push.denied", &[("time", &left)]),
            Outcome::TimedOut => t.fill("push.timeout", &[("time", &left)]),
            Outcome::Reported => {
                let told = match alerted {
                    Some(Sent::Delivered) => t.get("push.reported_told"),
                    _ => t.get("push.reported_tell"),
                };
                let until = crate::when::human(until);
                t.fill("push.reported", &[("until", &until), ("told", told)])
            }
            Outcome::Invalid(Invalid::NumberMismatch) => {
                t.fill("push.number_mismatch", &[("number", &number.to_string())])
            }
            Outcome::Invalid(Invalid::Expired | Invalid::OutsideWindow) => {
                self.texts.get("push.late").to_string()
            }
            Outcome::Invalid(_) => self.texts.get("push.invalid").to_string(),
            _ => return,
        };
        if self.rhost.is_empty() {
            self.conv.error(&messages::wrap(&text));
        } else {
            let text = messages::wrap_prompt(&text);
            let _ = self
                .conv
                .ask_visible(&format!("{text}\n{}", self.texts.get("signin.press_enter")));
        }
    }
}

fn unavailable(reason: &'static str, detail: impl ToString) -> Outcome {
    Outcome::Unavailable {
        reason,
        detail: detail.to_string(),
    }
}

fn fill(texts: Texts, key: &'static str, number: u8, seconds: u64) -> String {
    let (number, seconds) = (number.to_string(), seconds.to_string());
    texts.fill(key, &[("number", &number), ("seconds", &seconds)])
}

/// The state a later sign-in sees: whether push would be skipped, why, and until when (for
/// `status`).
pub fn paused(state: &UserState, now: u64) -> Option<(&'static str, u64)> {
    if state.push_suspended_until > now {
        Some((
            "suspended after a sign-in was reported as not them",
            state.push_suspended_until,
        ))
    } else if state.push_backoff_until > now {
        Some((
            "backing off after a denial or timeout",
            state.push_backoff_until,
        ))
    } else {
        None
    }
}

/// Lifts a suspension or back-off (`twofold unlock`); whether there was one.
pub fn resume(state: &mut UserState) -> bool {
    let paused = state.push_suspended_until > 0 || state.push_backoff_until > 0;
    state.push_suspended_until = 0;
    state.push_backoff_until = 0;
    paused
}
