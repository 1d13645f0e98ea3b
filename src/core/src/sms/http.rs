//! The HTTP gateway: one request from `[sms.http]`'s template through the core's blocking
//! client (rustls, every step bounded by the deadline). "Sent" means a status in
//! `success_status` and, if set, `success_body` found in the answer.
#![forbid(unsafe_code)]

use super::{BodyFormat, HttpGateway, Text, secret_file};
use crate::push::client::Client;
use crate::push::endpoint::Endpoint;
use crate::secret::SecretString;
use base64::Engine;
use std::time::{Duration, Instant};

/// The URL split for the client: where to connect, and the path with its query template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub endpoint: Endpoint,
    /// The query string template after `?` ("" for none).
    pub query: String,
}

impl Target {
    /// Parses `https://host[:port]/path[?query]`; plain `http://` only on loopback.
    pub fn parse(url: &str) -> Result<Self, String> {
        let (base, query) = url.split_once('?').unwrap_or((url, ""));
        if query.contains(['#', ' ']) {
            return Err("no fragment or spaces in the query".into());
        }
        let endpoint = Endpoint::parse(base)?;
        if !endpoint.tls && !endpoint.is_loopback() {
            return Err("must be https:// (plain http:// only on loopback)".into());
        }
        Ok(Target {
            endpoint,
            query: query.to_string(),
        })
    }
}

pub(super) fn send(
    gateway: &HttpGateway,
    phone: &str,
    text: &Text<'_>,
    timeout: Duration,
) -> Result<(), String> {
    let deadline = Instant::now() + timeout;
    let target = Target::parse(&gateway.url)?;
    let values = [
        ("phone", phone),
        ("message", text.message.expose()),
        ("code", text.code.expose()),
    ];
    // Below the URL's path (the client puts that in front); "/" for a URL without one.
    let root = if target.endpoint.base_path.is_empty() {
        "/"
    } else {
        ""
    };
    let path = match target.query.as_str() {
        "" => root.to_string(),
        query => format!(
            "{root}?{}",
            super::fill(query, &values, &|v| form_escape(v))
        ),
    };
    let body = SecretString::new(body(gateway, &values)?);
    let mut secrets: Vec<(String, SecretString)> = Vec::new();
    for (name, file) in &gateway.secret_headers {
        secrets.push((name.clone(), secret_file::read(file)?));
    }
    if let (Some(user), Some(file)) = (&gateway.basic_user, &gateway.basic_password_file) {
        let password = secret_file::read(file)?;
        let pair = SecretString::new(format!("{user}:{}", password.expose()));
        let encoded = base64::engine::general_purpose::STANDARD.encode(pair.expose());
        secrets.push((
            "Authorization".into(),
            SecretString::new(format!("Basic {encoded}")),
        ));
    }
    let content_type = match gateway.body_format {
        BodyFormat::Form => "application/x-www-form-urlencoded",
        BodyFormat::Json => "application/json",
    };
    let mut headers: Vec<(&str, &str)> = gateway
        .headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    headers.extend(secrets.iter().map(|(k, v)| (k.as_str(), v.expose())));
    let send_body = gateway.method != "GET";
    if send_body {
        headers.push(("Content-Type", content_type));
    }
    let client = Client::new(target.endpoint, None, timeout);
    let response = client
        .request(
            &gateway.method,
            &path,
            send_body.then_some(body.expose().as_bytes()),
            &headers,
            deadline,
        )
        .map_err(|e| format!("{}: {e}", gateway.url_without_query()))?;
    if !gateway.success_status.contains(&response.status) {
        return Err(format!(
            "{} answered status {}",
            gateway.url_without_query(),
            response.status
        ));
    }
    if let Some(expected) = &gateway.success_body
        && !String::from_utf8_lossy(&response.body).contains(expected.as_str())
    {
        return Err(format!(
            "{} answered status {} without {expected:?} in its body",
            gateway.url_without_query(),
            response.status
        ));
    }
    Ok(())
}

impl HttpGateway {
    /// The URL for log lines: a query may carry a key.
    fn url_without_query(&self) -> &str {
        self.url.split('?').next().unwrap_or("")
    }
}

/// The request body: the template's values filled in and encoded for the format.
fn body(gateway: &HttpGateway, values: &[(&str, &str)]) -> Result<String, String> {
    match gateway.body_format {
        BodyFormat::Form => Ok(gateway
            .body
            .iter()
            .map(|(k, v)| {
                let v = v.as_str().unwrap_or_default();
                format!(
                    "{}={}",
                    form_escape(k),
                    super::fill(v, values, &|x| form_escape(x))
                )
            })
            .collect::<Vec<_>>()
            .join("&")),
        BodyFormat::Json => {
            let value = json(&toml::Value::Table(gateway.body.clone()), values);
            serde_json::to_string(&value).map_err(|e| e.to_string())
        }
    }
}

/// A TOML value as JSON, placeholders filled into every string (JSON escaping is serde's).
fn json(value: &toml::Value, values: &[(&str, &str)]) -> serde_json::Value {
    use serde_json::Value as J;
    match value {
        toml::Value::String(s) => J::String(super::fill(s, values, &|v| v.to_string())),
        toml::Value::Integer(i) => J::from(*i),
        toml::Value::Float(f) => J::from(*f),
        toml::Value::Boolean(b) => J::Bool(*b),
        toml::Value::Datetime(d) => J::String(d.to_string()),
        toml::Value::Array(a) => J::Array(a.iter().map(|v| json(v, values)).collect()),
        toml::Value::Table(t) => J::Object(
            t.iter()
                .map(|(k, v)| (k.clone(), json(v, values)))
                .collect(),
        ),
    }
}

/// application/x-www-form-urlencoded: unreserved characters as they are, space as `+`.
fn form_escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                out.push(char::from(b))
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gateway(format: BodyFormat, body: &str) -> HttpGateway {
        HttpGateway {
            url: "https://api.example.org/send".into(),
            body_format: format,
            body: toml::from_str(body).unwrap(),
            ..HttpGateway::default()
        }
    }

    const VALUES: [(&str, &str); 3] = [
        ("phone", "+31612345678"),
        ("message", "Code: 123456 & more"),
        ("code", "123456"),
    ];

    #[test]
    fn form_bodies_are_url_encoded_so_a_value_cannot_add_a_field() {
        let g = gateway(BodyFormat::Form, "To = \"{phone}\"\nBody = \"{message}\"\n");
        assert_eq!(
            body(&g, &VALUES).unwrap(),
            "Body=Code%3A+123456+%26+more&To=%2B31612345678"
        );
    }

    #[test]
    fn json_bodies_keep_their_shape_and_escape_the_values() {
        let g = gateway(
            BodyFormat::Json,
            "phoneNumbers = [\"{phone}\"]\n[textMessage]\ntext = \"{message} \\\"x\\\"\"\n",
        );
        let v: serde_json::Value = serde_json::from_str(&body(&g, &VALUES).unwrap()).unwrap();
        assert_eq!(v["phoneNumbers"][0], "+31612345678");
        assert_eq!(v["textMessage"]["text"], "Code: 123456 & more \"x\"");
    }

    #[test]
    fn urls_must_be_https_except_on_loopback() {
        assert!(Target::parse("https://rest.nexmo.com/sms/json").is_ok());
        assert!(Target::parse("http://127.0.0.1:8080/send?to={phone}").is_ok());
        assert!(Target::parse("http://sms.example.org/send").is_err());
        let t = Target::parse("https://h.example/p?a={phone}&b=1").unwrap();
        assert_eq!(t.query, "a={phone}&b=1");
        assert_eq!(t.endpoint.base_path, "/p");
    }
}
