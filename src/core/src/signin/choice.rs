//! Which method a sign-in offers and starts with, and what a typed word asks for. Pure.
//!
//! The user's default method runs first; every prompt also takes an app code or a recovery
//! code, or a word to switch (`sms`, `push`, `app`, and the Dutch `melding`, `code`, ...), or
//! `?` for a short menu — all inside ordinary prompts, so it works within one SSH
//! keyboard-interactive exchange.
#![forbid(unsafe_code)]

use serde::{Deserialize, Serialize};

/// A method a user can choose (`twofold default-method`, `methods=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Choice {
    /// Approve on the paired phone.
    Push,
    /// A code from the authenticator app.
    App,
    /// A code by text message.
    Sms,
}

impl Choice {
    /// The name in configuration, records and commands.
    pub fn as_str(self) -> &'static str {
        match self {
            Choice::Push => "push",
            Choice::App => "app",
            Choice::Sms => "sms",
        }
    }

    /// Reads a name as `twofold default-method` and `methods=` take it.
    pub fn parse(name: &str) -> Option<Self> {
        match name.trim().to_ascii_lowercase().as_str() {
            "push" => Some(Choice::Push),
            "app" | "totp" => Some(Choice::App),
            "sms" => Some(Choice::Sms),
            _ => None,
        }
    }
}

/// What a typed answer asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Typed {
    /// A word for another method.
    Switch(Choice),
    /// `?`: the menu.
    Menu,
    /// Anything else: a code to check.
    Code,
}

/// Reads an answer: a switch word (English or Dutch), `?`, or a code.
pub fn read(answer: &str) -> Typed {
    let word = answer.trim().to_lowercase();
    match word.as_str() {
        "?" | "help" | "menu" | "hulp" | "opties" => Typed::Menu,
        "sms" | "text" | "sms-code" | "smscode" | "sms code" | "tekst" | "sms-bericht" => {
            Typed::Switch(Choice::Sms)
        }
        "push" | "melding" | "notification" | "approve" | "goedkeuren" | "telefoon" | "phone" => {
            Typed::Switch(Choice::Push)
        }
        "app" | "code" | "authenticator" | "totp" => Typed::Switch(Choice::App),
        _ => Typed::Code,
    }
}

/// What this sign-in can offer besides app and recovery codes (always accepted).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Offer {
    pub push: bool,
    pub sms: bool,
}

impl Offer {
    /// Whether `choice` can be used in this sign-in.
    pub fn has(self, choice: Choice) -> bool {
        match choice {
            Choice::App => true,
            Choice::Push => self.push,
            Choice::Sms => self.sms,
        }
    }
}

/// The method a sign-in starts with: the user's default if offered here, else push when a
/// phone is paired (as before defaults existed), else the app.
pub fn first(default: Option<Choice>, offer: Offer) -> Choice {
    match default {
        Some(choice) if offer.has(choice) => choice,
        _ if offer.push => Choice::Push,
        _ => Choice::App,
    }
}

/// `methods=app,push`: the names, and the ones not understood (for a warning).
pub fn parse_list(list: &str) -> (Vec<Choice>, Vec<String>) {
    let mut known = Vec::new();
    let mut unknown = Vec::new();
    for name in list.split(',').filter(|n| !n.is_empty()) {
        match Choice::parse(name) {
            Some(choice) => known.push(choice),
            None => unknown.push(name.to_string()),
        }
    }
    (known, unknown)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_switch_in_english_and_dutch_and_codes_stay_codes() {
        assert_eq!(read(" SMS "), Typed::Switch(Choice::Sms));
        assert_eq!(read("melding"), Typed::Switch(Choice::Push));
        assert_eq!(read("push"), Typed::Switch(Choice::Push));
        assert_eq!(read("code"), Typed::Switch(Choice::App));
        assert_eq!(read("app"), Typed::Switch(Choice::App));
        assert_eq!(read("?"), Typed::Menu);
        assert_eq!(read("123456"), Typed::Code);
        assert_eq!(read("abcd-efgh-jk01"), Typed::Code);
    }

    #[test]
    fn the_default_runs_first_when_offered() {
        let all = Offer {
            push: true,
            sms: true,
        };
        let no_sms = Offer {
            push: true,
            sms: false,
        };
        assert_eq!(first(Some(Choice::Sms), all), Choice::Sms);
        assert_eq!(first(Some(Choice::App), all), Choice::App);
        assert_eq!(first(Some(Choice::Sms), no_sms), Choice::Push);
        assert_eq!(first(None, no_sms), Choice::Push);
        assert_eq!(first(Some(Choice::Push), Offer::default()), Choice::App);
    }

    #[test]
    fn method_lists_name_what_they_do_not_know() {
        let (known, unknown) = parse_list("app,push,,fax");
        assert_eq!(known, [Choice::App, Choice::Push]);
        assert_eq!(unknown, ["fax"]);
    }
}
