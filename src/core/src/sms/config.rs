//! `[sms]`: text-message codes and the gateway that delivers them.
#![forbid(unsafe_code)]

use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// `[sms]`. Off until `gateway` is set.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SmsConfig {
    /// `"command"` or `"http"`; absent: no text-message codes.
    pub gateway: Option<GatewayKind>,
    /// How long a code counts (seconds).
    pub code_seconds: u64,
    /// Most texts sent to one user per `send_window_seconds`.
    pub max_sends: u32,
    pub send_window_seconds: u64,
    /// ISO 3166 country ("NL") for numbers typed without a country code ("06 12345678").
    pub default_country: Option<String>,
    /// How the number is handed to the gateway: `"+e164"` (+31612345678, default),
    /// `"e164"` (31612345678, no plus) or `"00"` (0031612345678).
    pub phone_format: PhoneFormat,
    /// The gateway gives up (and is killed) after this long.
    pub timeout_seconds: u64,
    /// `[sms.command]`.
    pub command: CommandGateway,
    /// `[sms.http]`.
    pub http: HttpGateway,
}

/// See [`SmsConfig::gateway`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GatewayKind {
    Command,
    Http,
}

/// See [`SmsConfig::phone_format`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
pub enum PhoneFormat {
    #[default]
    #[serde(rename = "+e164")]
    PlusE164,
    #[serde(rename = "e164")]
    E164,
    #[serde(rename = "00")]
    DoubleZero,
}

/// `[sms.command]`: a program run without a shell, the message on its stdin.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CommandGateway {
    /// `["/usr/bin/gammu-smsd-inject", "TEXT", "{phone}"]`: `{phone}` is the only placeholder
    /// (the code stays off the command line, where `ps` would show it).
    pub argv: Vec<String>,
}

/// `[sms.http]`: one HTTP request from a template.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpGateway {
    /// `https://` (or `http://` on loopback); a query string may carry placeholders too.
    pub url: String,
    /// `"POST"` (default), `"PUT"` or `"GET"`.
    pub method: String,
    /// `"form"` (application/x-www-form-urlencoded) or `"json"`.
    pub body_format: BodyFormat,
    /// The body: each string value may hold `{phone}`, `{message}`, `{code}` (escaped for the
    /// format, so a value can never break out of it).
    pub body: toml::Table,
    /// Headers sent as they are.
    pub headers: BTreeMap<String, String>,
    /// Headers whose whole value is read from a root-only file (`Authorization`, `X-Api-Key`).
    pub secret_headers: BTreeMap<String, PathBuf>,
    /// Basic authentication: the user name here, the password in a root-only file.
    pub basic_user: Option<String>,
    pub basic_password_file: Option<PathBuf>,
    /// Statuses that mean "sent".
    pub success_status: Vec<u16>,
    /// If set, the response body must also contain this text (Vonage answers 200 on failure).
    pub success_body: Option<String>,
}

/// See [`HttpGateway::body_format`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum BodyFormat {
    #[default]
    Form,
    Json,
}

impl Default for SmsConfig {
    fn default() -> Self {
        SmsConfig {
            gateway: None,
            code_seconds: 300,
            max_sends: 5,
            send_window_seconds: 3600,
            default_country: None,
            phone_format: PhoneFormat::default(),
            timeout_seconds: 10,
            command: CommandGateway::default(),
            http: HttpGateway::default(),
        }
    }
}

impl Default for HttpGateway {
    fn default() -> Self {
        HttpGateway {
            url: String::new(),
            method: "POST".into(),
            body_format: BodyFormat::default(),
            body: toml::Table::new(),
            headers: BTreeMap::new(),
            secret_headers: BTreeMap::new(),
            basic_user: None,
            basic_password_file: None,
            success_status: vec![200, 201, 202],
            success_body: None,
        }
    }
}

impl SmsConfig {
    /// Whether text-message codes are configured.
    pub fn enabled(&self) -> bool {
        self.gateway.is_some()
    }

    /// Semantic checks, as (key, reason).
    pub fn problems(&self, p: &mut Vec<(&'static str, String)>) {
        if !(60..=1800).contains(&self.code_seconds) {
            p.push(("sms.code_seconds", "must be 60..=1800".into()));
        }
        if !(1..=100).contains(&self.max_sends) {
            p.push(("sms.max_sends", "must be 1..=100".into()));
        }
        if !(60..=7 * 86400).contains(&self.send_window_seconds) {
            p.push(("sms.send_window_seconds", "must be 60..=604800".into()));
        }
        if !(1..=60).contains(&self.timeout_seconds) {
            p.push(("sms.timeout_seconds", "must be 1..=60".into()));
        }
        if let Some(country) = &self.default_country
            && super::phone::country(country).is_none()
        {
            p.push((
                "sms.default_country",
                format!("not a country this build knows (got {country:?}; e.g. \"NL\")"),
            ));
        }
        match self.gateway {
            None => {}
            Some(GatewayKind::Command) => match self.command.argv.first() {
                None => p.push(("sms.command.argv", "must name a program".into())),
                Some(program) if !Path::new(program).is_absolute() => p.push((
                    "sms.command.argv",
                    format!("the program must be an absolute path (got {program:?})"),
                )),
                Some(_) => {
                    if self.command.argv.iter().any(|a| a.contains("{code}")) {
                        p.push((
                            "sms.command.argv",
                            "{code} is not allowed on a command line (ps shows it); the message \
                             arrives on stdin"
                                .into(),
                        ));
                    }
                }
            },
            Some(GatewayKind::Http) => self.http.problems(p),
        }
    }
}

impl HttpGateway {
    fn problems(&self, p: &mut Vec<(&'static str, String)>) {
        if let Err(e) = super::http::Target::parse(&self.url) {
            p.push(("sms.http.url", e));
        }
        if !["POST", "PUT", "GET"].contains(&self.method.as_str()) {
            p.push((
                "sms.http.method",
                "must be \"POST\", \"PUT\" or \"GET\"".into(),
            ));
        }
        if self.body_format == BodyFormat::Form && self.body.values().any(|v| !v.is_str()) {
            p.push(("sms.http.body", "a form body holds only strings".into()));
        }
        let bad_header = |name: &str| {
            name.is_empty()
                || !name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        };
        if self
            .headers
            .keys()
            .chain(self.secret_headers.keys())
            .any(|n| bad_header(n))
            || self.headers.values().any(|v| v.contains(['\r', '\n']))
        {
            p.push((
                "sms.http.headers",
                "header names are letters, digits and '-'; values are one line".into(),
            ));
        }
        if self
            .secret_headers
            .values()
            .chain(self.basic_password_file.iter())
            .any(|f| !f.is_absolute())
        {
            p.push((
                "sms.http.secret_headers",
                "secret files must be absolute paths".into(),
            ));
        }
        if self.basic_user.is_some() != self.basic_password_file.is_some() {
            p.push((
                "sms.http.basic_user",
                "basic_user and basic_password_file go together".into(),
            ));
        }
        if self.success_status.is_empty() {
            p.push((
                "sms.http.success_status",
                "must list at least one status".into(),
            ));
        }
    }
}
