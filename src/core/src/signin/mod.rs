//! One sign-in's second factor, from user name to verdict: configuration, record, lockout,
//! the answer, verification, state update, audit line. Knows nothing of libpam.
#![forbid(unsafe_code)]

pub mod answer;
pub mod choice;
pub mod enrollment;
mod fleet;
mod method;
pub mod pass;
pub mod policy;
pub mod push;
pub mod ratelimit;
pub mod remember;

use crate::audit::{AuditSink, Line, Severity};
use crate::clock::Clock;
use crate::config::{Config, DEFAULT_PATH, Unenrolled, WriteErrorPolicy};
use crate::conversation::Conversation;
use crate::factor::Method;
use crate::messages::{self, Texts};
use crate::options::{ModuleOptions, PassMode};
use crate::secret::SecretString;
use crate::store::{UserRecord, UserStore};
use crate::username::UserName;
use answer::split_password_and_code;
use policy::Requirement;
use std::path::PathBuf;
use std::rc::Rc;

/// Who is signing in, where from: the PAM items.
#[derive(Debug, Clone, Default)]
pub struct SignIn {
    /// PAM_USER as raw bytes (validated here, not by the adapter).
    pub user: Vec<u8>,
    pub service: String,
    pub rhost: String,
    /// PAM_SILENT: no informational or error messages.
    pub silent: bool,
}

/// The outcome the adapter maps to a PAM return code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Second factor proven.
    Success,
    /// Wrong, replayed, missing or refused answer (PAM_AUTH_ERR).
    Refused,
    /// Not for this module to decide (`nullok` and no record: PAM_IGNORE).
    Ignore,
    /// Configuration or files unusable (PAM_AUTHINFO_UNAVAIL): refused, and an admin must look.
    Unavailable,
}

/// A decision with what the audit log says about it.
struct Decision {
    verdict: Verdict,
    method: Method,
    reason: &'static str,
    detail: Option<String>,
    /// "Not me" from the phone: `suspicious=yes` in the log.
    suspicious: bool,
    /// Logged at error level whatever the verdict (a success by `fail_mode = "allow"`).
    alarm: bool,
}

impl Decision {
    fn new(verdict: Verdict, method: Method, reason: &'static str) -> Self {
        Decision {
            verdict,
            method,
            reason,
            detail: None,
            suspicious: false,
            alarm: false,
        }
    }
    fn refused(reason: &'static str) -> Self {
        Self::new(Verdict::Refused, Method::None, reason)
    }
    fn unavailable(reason: &'static str, detail: impl ToString) -> Self {
        Decision {
            detail: Some(detail.to_string()),
            ..Self::new(Verdict::Unavailable, Method::None, reason)
        }
    }
}

/// Runs the second factor for one sign-in and writes its audit line.
pub fn authenticate(
    req: &SignIn,
    opts: &ModuleOptions,
    conv: &mut dyn Conversation,
    clock: &dyn Clock,
) -> Verdict {
    let mut run = Run {
        req,
        opts,
        conv,
        clock,
        sink: AuditSink::Syslog,
        offer_now: choice::Offer::default(),
        turns: 0,
        notice: None,
        texts: Texts::english(),
        fleet: None,
    };
    let decision = run.decide();
    if matches!(decision.verdict, Verdict::Unavailable) && !req.silent {
        let text = run.texts.get("signin.unavailable");
        notify(run.conv, req, run.texts, text);
    }
    run.log_decision(&decision);
    decision.verdict
}

/// "pair" (or Dutch "koppel") at the code prompt.
fn is_pair(answer: &str) -> bool {
    let word = answer.trim();
    word.eq_ignore_ascii_case("pair") || word.eq_ignore_ascii_case("koppel")
}

/// Tells the user why they are refused. Over SSH (a remote address) the OpenSSH client before
/// 10.3 shows PAM messages only with a following prompt, so the text becomes a prompt of its
/// own; elsewhere it is an error message. Nothing under PAM_SILENT.
fn notify(conv: &mut dyn Conversation, req: &SignIn, texts: Texts, text: &str) {
    if req.silent {
        return;
    }
    if req.rhost.is_empty() {
        conv.error(&messages::wrap(text));
    } else {
        let text = messages::wrap_prompt(text);
        let _ = conv.ask_visible(&format!("{text}\n{}", texts.get("signin.press_enter")));
    }
}

struct Run<'a> {
    req: &'a SignIn,
    opts: &'a ModuleOptions,
    conv: &'a mut dyn Conversation,
    clock: &'a dyn Clock,
    sink: AuditSink,
    /// What this sign-in offers besides app and recovery codes.
    offer_now: choice::Offer,
    /// Method switches so far (bounded).
    turns: u32,
    /// Text for the top of the next prompt (the menu, why a text was not sent).
    notice: Option<String>,
    /// The user's language once known (the record's, else the configuration's), else English.
    texts: Texts,
    /// Fleet mode: what the service said (`None` on a single host).
    fleet: Option<Rc<fleet::FleetSignIn>>,
}

impl Run<'_> {
    fn decide(&mut self) -> Decision {
        let explicit = self.opts.config.is_some();
        let path = self
            .opts
            .config
            .clone()
            .unwrap_or_else(|| PathBuf::from(DEFAULT_PATH));
        let mut config = match Config::load(&path, explicit) {
            Ok(config) => config,
            Err(errors) => return Decision::unavailable("config_error", &errors[0]),
        };
        self.sink = AuditSink::from_config(&config.audit_log);
        self.texts = Texts::for_language(&config.language);
        if self.opts.debug {
            let line = self
                .line("debug")
                .kv("config", &path.display().to_string())
                .kv("state_dir", &config.state_dir.display().to_string())
                .kv("pass_mode", &format!("{:?}", self.opts.pass_mode))
                .kv("nullok", &self.opts.nullok.to_string());
            self.sink.write(Severity::Debug, &line.finish());
        }
        if !self.opts.unknown.is_empty() {
            let line = self
                .line("warning")
                .kv("reason", "unknown_module_arguments")
                .kv("arguments", &self.opts.unknown.join(" "));
            self.sink.write(Severity::Warning, &line.finish());
        }
        // Judged after the configuration is read, so the decision goes to the configured audit log.
        let user = match UserName::parse(&self.req.user) {
            Ok(user) => user,
            Err(e) => {
                return Decision {
                    detail: Some(e.to_string()),
                    ..Decision::refused("invalid_user_name")
                };
            }
        };
        // One account, one record: a name the system spells differently (case-insensitive
        // sssd/winbind) would find no record, and `nullok` or `unenrolled = "allow"` would let
        // it through without a second factor.
        if let Err(e) = user.check_system_name() {
            let _ = self.obtain_answer(config.totp.digits);
            self.conv.fail_delay(config.rate_limit.failure_delay_ms);
            return Decision {
                detail: Some(e.to_string()),
                ..Decision::refused("user_name_mismatch")
            };
        }
        let require =
            (self.opts.require_groups.as_deref()).unwrap_or(&config.policy.require_groups);
        let exempt = (self.opts.exempt_groups.as_deref()).unwrap_or(&config.policy.exempt_groups);
        match policy::requirement(require, exempt, || policy::groups_of(user.as_str())) {
            Requirement::Required => {}
            Requirement::ExemptGroup => {
                return Decision::new(Verdict::Ignore, Method::None, "exempt_group");
            }
            Requirement::NotInRequiredGroup => {
                return Decision::new(Verdict::Ignore, Method::None, "not_in_required_group");
            }
        }
        let store = match UserStore::open(&config.state_dir) {
            Ok(store) => Some(store),
            // A fleet host caches records it has never seen: the directory is made on demand.
            Err(crate::store::StoreError::File(e))
                if e.is_not_found() && config.fleet.enabled() =>
            {
                match UserStore::create(&config.state_dir) {
                    Ok(store) => Some(store),
                    Err(e) => return Decision::unavailable("bad_state_dir", e),
                }
            }
            Err(crate::store::StoreError::File(e)) if e.is_not_found() => None,
            Err(e) => return Decision::unavailable("bad_state_dir", e),
        };
        if let (true, Some(store)) = (config.fleet.enabled(), &store) {
            let session = match fleet::start(self, &config, store, &user) {
                Ok(session) => session,
                Err(decision) => return decision,
            };
            // Push follows the fleet's failover unless [push] url names a service of its own.
            if let (Some(url), Some(active)) = (&config.push.url, session.active_url())
                && config.fleet.urls.contains(url)
            {
                config.push.url = Some(active.to_string());
            }
            self.fleet = Some(Rc::new(session));
        }
        let record = match store
            .as_ref()
            .map(|s| s.load_record_for_sign_in(&user))
            .transpose()
        {
            Ok(record) => record.flatten(),
            Err(e) => return Decision::unavailable("bad_record", e),
        };
        if let (Some(store), Some(record)) = (&store, &record) {
            if let Some(language) = &record.language {
                self.texts = Texts::for_language(language);
            }
            return self.enrolled(store, &user, record, &config);
        }
        // Offline, a user this host never cached may be enrolled fleet-wide: `nullok` or
        // `unenrolled = "allow"` must not let them in because the service is unreachable.
        if self.fleet.as_ref().is_some_and(|f| f.is_offline()) {
            notify(
                self.conv,
                self.req,
                self.texts,
                self.texts.get("fleet.offline"),
            );
            return Decision::refused("fleet_offline_not_cached");
        }
        let unenrolled = match self.opts.nullok {
            true => Unenrolled::Allow,
            false => config.unenrolled_at(self.clock.now()),
        };
        let exists =
            !matches!(unenrolled, Unenrolled::Allow) && policy::account_exists(user.as_str());
        match unenrolled {
            Unenrolled::Allow => Decision::new(Verdict::Ignore, Method::None, "not_enrolled"),
            // Only accounts that exist get a record: a stranger's name must not fill the disk.
            Unenrolled::Enroll if exists && config.enrollment.require_pass => {
                self.enroll_with_required_pass(&user, &config)
            }
            Unenrolled::Enroll if exists => self.enroll(&user, &config, None),
            Unenrolled::Refuse | Unenrolled::Enroll => {
                // Ask anyway, so the prompt does not tell who is enrolled (or exists). An
                // administrator's pass typed here leads into enrollment all the same.
                let answer = self.obtain_answer(config.totp.digits);
                let pass = answer.filter(|a| pass::looks_like_pass(a.expose()));
                if let Some(pass) = pass.filter(|_| exists && self.has_pass(&user, &config)) {
                    return self.with_pass(&user, None, &config, &pass);
                }
                self.conv.fail_delay(config.rate_limit.failure_delay_ms);
                Decision::refused("not_enrolled")
            }
        }
    }

    /// Enrollment inside this sign-in (`[enrollment] unenrolled = "enroll"`, or after a
    /// temporary access pass, replacing the record of an enrolled user).
    fn enroll(
        &mut self,
        user: &UserName,
        config: &Config,
        replaces: Option<&UserRecord>,
    ) -> Decision {
        let store = match UserStore::create(&config.state_dir) {
            Ok(store) => store,
            Err(e) => return Decision::unavailable("bad_state_dir", e),
        };
        use enrollment::Outcome;
        let console = self.console();
        let fleet = self.fleet.clone();
        let setting = enrollment::Setting {
            console,
            texts: &mut self.texts,
            replaces,
            fleet: fleet.as_deref(),
        };
        match enrollment::run(self.conv, &store, user, config, self.clock, setting) {
            Outcome::Enrolled(push, phone) => Decision {
                detail: match (push.detail(), phone.detail()) {
                    (Some(a), Some(b)) => Some(format!("{a}; {b}")),
                    (a, b) => a.or(b),
                },
                ..Decision::new(Verdict::Success, Method::Enrollment, "enrolled")
            },
            Outcome::WrongCodes => {
                // notify wraps it, leaving room for ssh's "(user@host) ".
                self.tell(self.texts.get("enroll.gave_up"));
                Decision::refused("enrollment_wrong_code")
            }
            Outcome::NoAnswer => Decision::refused("conversation_failed"),
            Outcome::AlreadyEnrolled => Decision::refused("enrollment_conflict"),
            Outcome::Failed(e) => Decision::unavailable("enrollment_failed", e),
        }
    }

    fn enrolled(
        &mut self,
        store: &UserStore,
        user: &UserName,
        record: &UserRecord,
        config: &Config,
    ) -> Decision {
        // A locked user is told so before typing anything; a remembered one is not asked.
        let now = self.clock.now();
        // Read without the lock: writes replace the file atomically, so this is a consistent
        // snapshot; the decision itself re-reads under the lock.
        let peeked = store.peek_state_for(user, record).map(|mut state| {
            if let Some(fleet) = &self.fleet {
                fleet.merge(&mut state);
            }
            state
        });
        match peeked {
            Ok(state) if ratelimit::is_locked(&state, now) => {
                return self.locked(state.locked_until - now);
            }
            Ok(state)
                if remember::is_remembered(&state, &self.req.service, &self.req.rhost, now) =>
            {
                return Decision::new(Verdict::Success, Method::Remembered, "remembered");
            }
            Ok(_) => {}
            Err(e) => return Decision::unavailable("bad_state", e),
        }
        let stacked = match self.opts.pass_mode {
            PassMode::UseFirstPass => self.conv.stacked_authtok(),
            // An earlier module's password is not a failed code: only try code-shaped answers.
            PassMode::TryFirstPass => self
                .conv
                .stacked_authtok()
                .filter(|a| answer::looks_like_code(a.expose(), record.totp.digits)),
            _ => None,
        };
        if let Some(answer) = stacked {
            let decision = self.check(store, user, record, config, &answer);
            if decision.verdict != Verdict::Refused || self.opts.pass_mode == PassMode::UseFirstPass
            {
                return decision;
            }
        } else if self.opts.pass_mode == PassMode::UseFirstPass {
            return Decision::refused("no_stacked_answer");
        }
        // forward_pass asks for password and code in one answer: no room for push or texts.
        self.offer_now = self.offer(record, config);
        let first = choice::first(record.default_method, self.offer_now);
        let who = method::Who {
            store,
            user,
            record,
            config,
        };
        self.start(who, first)
    }

    /// Asks for a code and checks it. A user without a phone, where push is configured, may
    /// type "pair" instead: after a good code, the pairing screen of first sign-in follows.
    fn code(
        &mut self,
        store: &UserStore,
        user: &UserName,
        record: &UserRecord,
        config: &Config,
    ) -> Decision {
        let may_pair = config.push.enabled()
            && record.active_devices().next().is_none()
            && self.opts.pass_mode != PassMode::ForwardPass
            && !self.req.silent;
        if may_pair && self.turns == 0 {
            self.conv.info(self.texts.get("signin.pair_tip"));
        }
        let Some(answer) = self.obtain_answer(record.totp.digits) else {
            return Decision::refused("conversation_failed");
        };
        if !(may_pair && is_pair(answer.expose())) {
            let who = method::Who {
                store,
                user,
                record,
                config,
            };
            if self.opts.pass_mode != PassMode::ForwardPass
                && let Some(decision) = self.typed_word(who, &answer)
            {
                return decision;
            }
            return self.answered(store, user, record, config, &answer);
        }
        let Ok(answer) = self
            .conv
            .ask_hidden(self.texts.get("signin.pair_code_prompt"))
        else {
            return Decision::refused("conversation_failed");
        };
        let decision = self.check(store, user, record, config, &answer);
        if decision.verdict != Verdict::Success {
            return decision;
        }
        let console = self.console();
        let fleet = self.fleet.clone();
        let place = enrollment::Place {
            console,
            texts: self.texts,
            fleet: fleet.as_deref(),
        };
        let push = enrollment::offer_push(self.conv, store, user, config, self.clock, place);
        let status = push.status(self.texts);
        if !status.is_empty() {
            self.conv.info(status.trim_end());
        }
        Decision {
            detail: push.detail(),
            ..decision
        }
    }

    /// Prompts for the code (or password and code, passing the password on).
    fn obtain_answer(&mut self, digits: u8) -> Option<SecretString> {
        let forward = self.opts.pass_mode == PassMode::ForwardPass;
        let default = if forward {
            self.texts.get("signin.password_and_code_prompt")
        } else if self.offer_now.sms {
            // A user with a phone number learns of the other ways here.
            self.texts.get("sms.code_prompt_more")
        } else {
            self.texts.get("signin.code_prompt")
        };
        let prompt = self
            .opts
            .prompt
            .clone()
            .unwrap_or_else(|| default.to_string());
        let prompt = self.with_notice(&prompt);
        let answer = self.conv.ask_hidden(&prompt).ok()?;
        if !forward {
            return Some(answer);
        }
        let (password, code) = split_password_and_code(answer.expose(), digits);
        let password = SecretString::new(password.to_string());
        if self.conv.set_authtok(&password).is_err() {
            self.sink.write(
                Severity::Warning,
                &self
                    .line("warning")
                    .kv("reason", "cannot_forward_password")
                    .finish(),
            );
        }
        Some(SecretString::new(code.to_string()))
    }

    /// Verifies under the user's lock and saves the state.
    fn check(
        &mut self,
        store: &UserStore,
        user: &UserName,
        record: &UserRecord,
        config: &Config,
        answer: &SecretString,
    ) -> Decision {
        let lock = match store.lock(user) {
            Ok(lock) => lock,
            // A read-only or full disk can refuse even the lock file of a user who never
            // signed in: that is the disk, not the files.
            Err(e) if e.is_write_failure() => return self.unrecordable(config, None, e),
            Err(e) => return Decision::unavailable("bad_state", e),
        };
        let mut state = match store.load_state_for(user, &lock, Some(record)) {
            Ok(state) => state,
            Err(e) => return Decision::unavailable("bad_state", e),
        };
        let fleet = self.fleet.clone();
        if let Some(fleet) = &fleet {
            fleet.merge(&mut state);
        }
        let now = self.clock.now();
        if ratelimit::is_locked(&state, now) {
            return self.locked(state.locked_until - now);
        }
        // Recovery hashes are read only when a recovery code was typed (older layout: a file
        // of their own).
        let recovery = match answer::classify(answer.expose(), record.totp.digits) {
            answer::Shape::Recovery(_) => match store.recovery_of(user, record) {
                Ok(recovery) => recovery,
                Err(e) => return Decision::unavailable("bad_recovery_codes", e),
            },
            _ => Vec::new(),
        };
        let mut result =
            answer::verify(answer.expose(), record, &recovery, &mut state, config, now);
        if let Some(fleet) = &fleet {
            result = fleet::settle(fleet, store, user, result, &mut state, config, now);
        }
        if result.is_ok() {
            let (service, rhost) = (&self.req.service, &self.req.rhost);
            remember::remember(&mut state, &config.remember, service, rhost, now);
        }
        let saved = store.record_state(user, &lock, &state);
        drop(lock);
        // The state file counts as written once it is in place, even if the directory sync
        // after the rename failed.
        let file = match saved.file {
            Ok(()) => None,
            Err(e) if e.replaced() => None,
            Err(e) => Some(e),
        };
        let guard_ok = saved.guard.is_ok();
        if result == Ok(Method::Recovery) && file.is_none() && !self.req.silent {
            let left = recovery
                .iter()
                .filter(|r| !state.used_recovery.contains(&r.id))
                .count();
            let text = match left {
                0 => self.texts.get("recovery.last").to_string(),
                n => {
                    let left =
                        self.texts
                            .fill_count("recovery.codes", n as u64, &[("n", &n.to_string())]);
                    self.texts.fill("recovery.accepted", &[("left", &left)])
                }
            };
            // Over SSH shown after the sign-in (sshd keeps it for the session's start).
            self.conv.info(&messages::wrap(&text));
        }
        match (result, file) {
            (Ok(method), None) => Decision::new(Verdict::Success, method, "ok"),
            // The code's step is in the guard, so it cannot be used again: `allow` may let it
            // through. A recovery code's use lives only in the state file: never.
            (Ok(Method::Totp), Some(e))
                if guard_ok && config.on_state_write_error == WriteErrorPolicy::Allow =>
            {
                Decision {
                    detail: Some(e.to_string()),
                    alarm: true,
                    ..Decision::new(Verdict::Success, Method::Totp, "ok_state_not_saved")
                }
            }
            (Ok(method), Some(e)) => self.unrecordable(config, Some(method), e),
            // Nothing could be written: the failure is not counted, so no answer may count
            // either — refused like a right code, with the longest delay.
            (Err((method, _)), Some(e)) if !guard_ok => self.unrecordable(config, Some(method), e),
            // Counted (in the guard at least): an ordinary refusal.
            (Err((method, refusal)), file) => {
                self.conv
                    .fail_delay(ratelimit::failure_delay_ms(&state, &config.rate_limit));
                if ratelimit::is_locked(&state, now) {
                    self.tell(&self.locked_text(state.locked_until - now));
                }
                let detail =
                    file.map(|e| format!("state file not saved (counted in the guard): {e}"));
                Decision {
                    detail,
                    ..Decision::new(Verdict::Refused, method, refusal.as_str())
                }
            }
        }
    }

    /// A sign-in whose outcome could not be recorded: refused whatever was typed (a right
    /// code could be used again, a wrong one would not count), logged at error level, with
    /// the longest failure delay so that guessing gains nothing.
    fn unrecordable(
        &mut self,
        config: &Config,
        method: Option<Method>,
        e: crate::store::StoreError,
    ) -> Decision {
        let limits = &config.rate_limit;
        self.conv
            .fail_delay(limits.failure_delay_ms.saturating_mul(10));
        Decision {
            method: method.unwrap_or(Method::None),
            ..Decision::unavailable("state_write_failed", e)
        }
    }

    fn locked(&mut self, left: u64) -> Decision {
        self.tell(&self.locked_text(left));
        Decision::refused("locked_out")
    }

    /// The lockout message with what is left of it.
    fn locked_text(&self, left: u64) -> String {
        let time = self.texts.duration(left);
        self.texts.fill("signin.locked", &[("time", &time)])
    }

    /// [`notify`] in the user's language.
    fn tell(&mut self, text: &str) {
        notify(self.conv, self.req, self.texts, text);
    }

    /// A local terminal (no remote address, not sshd): it shows colours, where the OpenSSH
    /// client shows escapes as text.
    fn console(&self) -> bool {
        self.req.rhost.is_empty() && self.req.service != "sshd"
    }

    /// An audit line starting with who and where.
    fn line(&self, event: &str) -> Line {
        Line::new(event)
            .kv("user", &String::from_utf8_lossy(&self.req.user))
            .kv("service", &self.req.service)
            .kv("rhost", &self.req.rhost)
    }

    fn log_decision(&self, d: &Decision) {
        let (result, mut severity) = match d.verdict {
            Verdict::Success => ("success", Severity::Notice),
            Verdict::Refused => ("failure", Severity::Warning),
            Verdict::Ignore => ("ignore", Severity::Info),
            Verdict::Unavailable => ("error", Severity::Error),
        };
        if d.alarm {
            severity = Severity::Error;
        }
        let mut line = self
            .line("auth")
            .kv("method", d.method.as_str())
            .kv("result", result)
            .kv("reason", d.reason);
        if d.suspicious {
            line = line.kv("suspicious", "yes");
        }
        if let Some(detail) = &d.detail {
            line = line.kv("detail", detail);
        }
        self.sink.write(severity, &line.finish());
    }
}
