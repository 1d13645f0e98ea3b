//! The push dialogue of one sign-in: make a challenge and a number, post it, show the number,
//! wait for the phone (prompt mode over SSH, wait mode at a console), verify the answer, and
//! keep the user's push state (one pending push, back-off, suspension). Knows nothing of libpam.
#![forbid(unsafe_code)]

use crate::clock::Clock;
use crate::config::{Config, PushMode};
use crate::conversation::Conversation;
use crate::messages;
use crate::push::protocol::{Challenge, new_number};
use crate::push::service::{HostServiceError, Service, ServiceError};
use crate::push::verify::{Invalid, PushVerdict, verify};
use crate::ratelimit;
use crate::secret::SecretString;
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
    /// Push was not tried (paused, pending, ...): ask for a code.
    Skipped {
        reason: &'static str,
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
                };
            }
        };
        let number = match new_number() {
            Ok(number) => number,
            Err(e) => return unavailable("push_no_randomness", e),
        };
        let waiting = match self.reserve(&challenge) {
            Ok(waiting) => waiting,
            Err(reason) => return Outcome::Skipped { reason },
        };
        let outcome = self.converse(&service, &challenge, number);
        if matches!(outcome, Outcome::Code(_) | Outcome::NoAnswer) {
            // Best effort: the phone stops showing a request nobody waits for.
            let _ = service.withdraw_challenge(&challenge.id);
        }
        self.settle(&outcome);
        drop(waiting);
        self.tell(&outcome);
        outcome
    }

    /// Under the user's lock: refuses while paused or while another sign-in waits for an
    /// unexpired push; else records this challenge and returns the push lock to hold while
    /// waiting. One durable write, before the number is shown.
    fn reserve(&self, challenge: &Challenge) -> Result<Option<UserLock>, &'static str> {
        let lock = self.store.lock(self.user).map_err(|_| "push_state")?;
        let mut state = self
            .store
            .load_state(self.user, &lock)
            .map_err(|_| "push_state")?;
        let now = self.clock.now();
        if state.push_suspended_until > now {
            return Err("push_suspended");
        }
        if state.push_backoff_until > now {
            return Err("push_backoff");
        }
        let waiting = self
            .store
            .try_push_lock(self.user)
            .map_err(|_| "push_state")?;
        // Someone holds the push lock: pending, unless its challenge has expired (a sign-in
        // left sitting at its prompt does not block push for ever).
        if waiting.is_none() && state.push_pending_until > now {
            return Err("push_pending");
        }
        state.push_challenge = challenge.id.clone();
        state.push_challenge_at = challenge.created;
        state.push_pending_until = challenge.expires;
        self.store
            .save_state(self.user, &lock, &state)
            .map_err(|_| "push_state")?;
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
        let mut text = fill(messages::PUSH_PROMPT, number, 0);
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
                None => text = fill(messages::PUSH_PROMPT_AGAIN, number, 0),
            }
        }
    }

    /// Console: show the number and wait, with a countdown line every 15 seconds.
    fn wait_mode(&mut self, service: &Service, challenge: &Challenge, number: u8) -> Outcome {
        let left = challenge.expires.saturating_sub(self.clock.now());
        self.conv.info(&fill(messages::PUSH_WAIT, number, left));
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
                    .info(&fill(messages::PUSH_STILL_WAITING, number, left));
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
    /// that does not verify against the record is not the user's and does not count). An approval writes only when it
    /// changes what later sign-ins see (failures to clear, `[remember]`), so the common case
    /// adds no disk sync between the tap and the return.
    fn settle(&self, outcome: &Outcome) {
        let Ok(lock) = self.store.lock(self.user) else {
            return;
        };
        let Ok(mut state) = self.store.load_state(self.user, &lock) else {
            return;
        };
        let now = self.clock.now();
        let push = &self.config.push;
        match outcome {
            Outcome::Approved if state.failures > 0 || self.config.remember.seconds > 0 => {
                ratelimit::record_success(&mut state, now);
                let (service, rhost) = (self.service, self.rhost);
                crate::remember::remember(&mut state, &self.config.remember, service, rhost, now);
            }
            Outcome::Denied | Outcome::TimedOut => {
                state.push_backoff_until = now + push.backoff_seconds;
            }
            Outcome::Reported => state.push_suspended_until = now + push.report_suspend_seconds,
            Outcome::Invalid(why) if why.counts_as_failure() => {
                ratelimit::record_failure(&mut state, &self.config.rate_limit, now)
            }
            _ => return,
        }
        let _ = self.store.save_state(self.user, &lock, &state);
    }

    /// Tells the user how it ended (the sign-in's verdict follows from the caller).
    fn tell(&mut self, outcome: &Outcome) {
        if self.silent {
            return;
        }
        let text = match outcome {
            Outcome::Denied => messages::PUSH_DENIED,
            Outcome::Reported => messages::PUSH_REPORTED,
            Outcome::TimedOut => messages::PUSH_TIMEOUT,
            Outcome::Invalid(_) => messages::PUSH_INVALID,
            _ => return,
        };
        self.conv.error(text);
    }
}

fn unavailable(reason: &'static str, detail: impl ToString) -> Outcome {
    Outcome::Unavailable {
        reason,
        detail: detail.to_string(),
    }
}

fn fill(template: &str, number: u8, seconds: u64) -> String {
    template
        .replace("{number}", &number.to_string())
        .replace("{seconds}", &seconds.to_string())
}

/// The state a later sign-in sees: whether push would be skipped, and why (for `status`).
pub fn paused(state: &UserState, now: u64) -> Option<&'static str> {
    if state.push_suspended_until > now {
        Some("suspended after a report")
    } else if state.push_backoff_until > now {
        Some("backing off after a denial or timeout")
    } else {
        None
    }
}
