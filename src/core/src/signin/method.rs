//! Running the chosen method and switching between methods inside one sign-in: the default
//! first, then whatever word the user types (`sms`, `push`, `app`, `?` for the menu). Every
//! prompt also takes an app or recovery code. Text the user must read before answering (the
//! menu, why a text was not sent) goes into the prompt itself, for OpenSSH before 10.3.
#![forbid(unsafe_code)]

use super::choice::{self, Choice, Offer, Typed};
use super::{Decision, Run};
use crate::audit::Severity;
use crate::config::Config;
use crate::factor::Method;
use crate::messages;
use crate::options::PassMode;
use crate::secret::SecretString;
use crate::sms::PhoneNumber;
use crate::sms::deliver::{self, Undelivered};
use crate::store::{UserRecord, UserStore};
use crate::username::UserName;

/// Most method switches (and menus) in one sign-in.
const MAX_TURNS: u32 = 10;

/// Everything a method needs about the user.
#[derive(Clone, Copy)]
pub(super) struct Who<'a> {
    pub store: &'a UserStore,
    pub user: &'a UserName,
    pub record: &'a UserRecord,
    pub config: &'a Config,
}

impl Run<'_> {
    /// What this sign-in offers besides app and recovery codes: the configuration, the
    /// user's record and `methods=` together.
    pub(super) fn offer(&self, record: &UserRecord, config: &Config) -> Offer {
        let allowed = |c: Choice| self.opts.methods.as_ref().is_none_or(|m| m.contains(&c));
        let interactive = self.opts.pass_mode != PassMode::ForwardPass;
        Offer {
            push: interactive
                && allowed(Choice::Push)
                && super::push::dialogue::applies(record, config),
            sms: interactive
                && allowed(Choice::Sms)
                && config.sms.enabled()
                && record.phone_number().is_some(),
        }
    }

    /// Runs `choice`.
    pub(super) fn start(&mut self, who: Who<'_>, choice: Choice) -> Decision {
        match choice {
            Choice::Push => self.push(who.store, who.user, who.record, who.config),
            Choice::Sms => self.sms(who),
            Choice::App => self.code(who.store, who.user, who.record, who.config),
        }
    }

    /// The prompt with any pending notice (menu, why a text was not sent) above it.
    pub(super) fn with_notice(&mut self, prompt: &str) -> String {
        match self.notice.take() {
            Some(notice) => format!("{notice}\n{prompt}"),
            None => prompt.to_string(),
        }
    }

    /// A typed word: the method it asks for (or the menu), run now; `None` for a code.
    pub(super) fn typed_word(&mut self, who: Who<'_>, answer: &SecretString) -> Option<Decision> {
        let typed = choice::read(answer.expose());
        if typed != Typed::Code {
            self.turns += 1;
        }
        if self.turns > MAX_TURNS {
            return Some(Decision::refused("too_many_switches"));
        }
        let offer = self.offer_now;
        Some(match typed {
            Typed::Code => return None,
            Typed::Menu => {
                self.notice = Some(self.menu(who.record, offer));
                self.code(who.store, who.user, who.record, who.config)
            }
            Typed::Switch(choice) if offer.has(choice) => self.start(who, choice),
            Typed::Switch(choice) => {
                let text = match choice {
                    Choice::Sms => self.texts.get("sms.not_offered"),
                    _ => self.texts.get("sms.push_not_offered"),
                };
                self.notice = Some(messages::wrap_prompt(text));
                self.code(who.store, who.user, who.record, who.config)
            }
        })
    }

    /// The short menu of what can be typed here.
    fn menu(&self, record: &UserRecord, offer: Offer) -> String {
        let t = self.texts;
        let mut text = String::from(t.get("sms.menu_head"));
        text.push_str(t.get("sms.menu_app"));
        if offer.push {
            text.push_str(t.get("sms.menu_push"));
        }
        if offer.sms
            && let Some(phone) = record.phone_number()
        {
            text.push_str(&t.fill("sms.menu_sms", &[("phone", &phone.masked())]));
        }
        text.push_str(t.get("sms.menu_recovery"));
        text
    }

    /// A code by text message: send one (superseding any live one), then ask for it.
    fn sms(&mut self, who: Who<'_>) -> Decision {
        let Some(phone) = who.record.phone_number() else {
            return self.code(who.store, who.user, who.record, who.config);
        };
        match self.send_sms(who, &phone) {
            Ok(()) => {}
            Err(Some(decision)) => return decision,
            Err(None) => return self.code(who.store, who.user, who.record, who.config),
        }
        let prompt = self.texts.fill("sms.prompt", &[("phone", &phone.masked())]);
        let prompt = self.with_notice(&prompt);
        let Ok(answer) = self.conv.ask_hidden(&prompt) else {
            return Decision::refused("conversation_failed");
        };
        if let Some(decision) = self.typed_word(who, &answer) {
            return decision;
        }
        self.answered(who.store, who.user, who.record, who.config, &answer)
    }

    /// Sends a code (see `sms::deliver`). `Err(None)`: not sent, the user is told why above
    /// the app prompt that follows; `Err(Some)`: the sign-in ends.
    fn send_sms(&mut self, who: Who<'_>, phone: &PhoneNumber) -> Result<(), Option<Decision>> {
        let now = self.clock.now();
        let texts = self.texts;
        let sent = deliver::send_code(
            who.store, who.user, who.record, who.config, phone, now, texts,
        );
        match sent {
            Ok(()) => {
                self.sms_line("sent", None);
                Ok(())
            }
            Err(Undelivered::Locked(until)) => Err(Some(self.locked(until.saturating_sub(now)))),
            Err(Undelivered::Limit(next_at)) => {
                self.sms_line("limit_reached", None);
                let left = self.texts.duration(next_at.saturating_sub(now));
                let text = self.texts.fill("sms.limit", &[("time", &left)]);
                self.notice = Some(messages::wrap_prompt(&text));
                Err(None)
            }
            Err(Undelivered::Gateway(e)) => {
                self.sms_line("failed", Some(&e.to_string()));
                self.notice = Some(messages::wrap_prompt(self.texts.get("sms.not_sent")));
                Err(None)
            }
            Err(Undelivered::Store(e)) if e.is_write_failure() => {
                Err(Some(self.unrecordable(who.config, Some(Method::Sms), e)))
            }
            Err(Undelivered::Store(e)) => Err(Some(Decision::unavailable("bad_state", e))),
            Err(Undelivered::Random(e)) => Err(Some(Decision::unavailable("no_randomness", e))),
        }
    }

    /// The audit line of a send (never the code, the message or the whole number).
    fn sms_line(&self, result: &str, detail: Option<&str>) {
        let mut line = self.line("sms").kv("result", result);
        if let Some(detail) = detail {
            line = line.kv("detail", detail);
        }
        let severity = match result {
            "sent" => Severity::Info,
            _ => Severity::Warning,
        };
        self.sink.write(severity, &line.finish());
    }
}
