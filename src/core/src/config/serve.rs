//! `[serve]`: the approval service (`twofold serve`). Only the service reads these keys.
#![forbid(unsafe_code)]

use serde::Deserialize;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

/// The longest a challenge may live (`expires - created`), fixed by the push protocol.
pub const PROTOCOL_MAX_CHALLENGE_SECONDS: u64 = 300;

/// `[serve]`: where the service listens, where it keeps its data, how it notifies phones.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServeConfig {
    /// Address and port, e.g. `"127.0.0.1:8080"` or `"[::]:443"`; port 0 picks a free one.
    pub listen: String,
    /// Where the service keeps hosts, pairings, devices and fleet records: a SQLite file
    /// (`"/var/lib/twofold-serve/serve.db"` or `"sqlite:/path"`; one instance) or PostgreSQL
    /// (`"postgres://user@host/db"`, `"postgresql://…"`, or `"host=/run/postgresql dbname=…"`;
    /// several instances may share it).
    pub database: PathBuf,
    /// PEM CA certificates that PostgreSQL's server certificate must chain to, when `database`
    /// asks for TLS (`sslmode=require`); unset: the system's CA bundle.
    pub database_ca_file: Option<PathBuf>,
    /// Fleet mode: this service keeps every host's sealed user records and claims, and a
    /// device paired through any host serves every host (docs/fleet.md).
    pub fleet: bool,
    /// PEM certificate chain; with `tls_key` the service speaks HTTPS itself.
    pub tls_cert: Option<PathBuf>,
    /// PEM private key (PKCS#8, SEC1 or PKCS#1).
    pub tls_key: Option<PathBuf>,
    /// A reverse proxy terminates TLS: plain HTTP is served, but only to connections from
    /// loopback or from `trusted_proxies`, and the client address is taken from the proxy's
    /// `X-Forwarded-For`.
    pub behind_proxy: bool,
    /// With `behind_proxy`, the proxies' addresses (besides loopback) that may connect over
    /// plain HTTP; needed when `listen` is not a loopback address.
    pub trusted_proxies: Vec<String>,
    /// The address phones use, e.g. `"https://push.example.org"` (notification links, VAPID).
    pub public_url: Option<String>,
    /// The VAPID private key (base64url, 32 bytes); created on first start if missing.
    pub vapid_key_file: PathBuf,
    /// An ntfy topic URL that gets a POST with a link to the page for every challenge.
    pub ntfy_url: Option<String>,
    /// Pending challenges held at once (all hosts); more are refused with 503.
    pub max_pending: usize,
    /// Pending challenges one host may hold at once; more from that host are refused with 503,
    /// other hosts are not affected.
    pub max_pending_per_host: usize,
    /// Seconds a client has for each phase of a request: the TLS handshake, the request
    /// headers (also the idle time between requests on a kept-alive connection), the body.
    pub client_timeout_seconds: u64,
    /// The longest a challenge may live; at most 300 (the protocol's limit).
    pub challenge_max_seconds: u64,
    /// Unauthenticated requests (pairing completion, decisions, device requests) allowed per
    /// client address and minute; 0 turns the limit off.
    pub client_requests_per_minute: u32,
    /// Accept Web Push endpoints on loopback addresses, also `http://` (tests only).
    pub allow_loopback_push: bool,
    /// Networks (`"10.0.0.0/8"`, `"fd00::/8"`, single addresses) besides public addresses that
    /// Web Push endpoints may resolve to (an internal push service).
    pub push_allowed_networks: Vec<String>,
}

impl Default for ServeConfig {
    fn default() -> Self {
        ServeConfig {
            listen: "127.0.0.1:8080".into(),
            database: PathBuf::from("/var/lib/twofold-serve/serve.db"),
            database_ca_file: None,
            fleet: false,
            tls_cert: None,
            tls_key: None,
            behind_proxy: false,
            trusted_proxies: Vec::new(),
            public_url: None,
            vapid_key_file: PathBuf::from("/var/lib/twofold-serve/vapid.key"),
            ntfy_url: None,
            max_pending: 100_000,
            max_pending_per_host: 10_000,
            client_timeout_seconds: 10,
            challenge_max_seconds: PROTOCOL_MAX_CHALLENGE_SECONDS,
            client_requests_per_minute: 600,
            allow_loopback_push: false,
            push_allowed_networks: Vec::new(),
        }
    }
}

/// The service's database, as `[serve] database` names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Database {
    /// A SQLite file (an absolute path).
    Sqlite(PathBuf),
    /// A PostgreSQL connection string (URL or key=value form), passed to the client as is.
    Postgres(String),
}

impl ServeConfig {
    /// Which database `database` names: `postgres://`, `postgresql://` or a `host=` key=value
    /// string is PostgreSQL; `sqlite:PATH` or a plain path is SQLite.
    pub fn database(&self) -> Database {
        let text = self.database.to_string_lossy();
        if text.starts_with("postgres://")
            || text.starts_with("postgresql://")
            || text.starts_with("host=")
        {
            Database::Postgres(text.into_owned())
        } else if let Some(path) = text.strip_prefix("sqlite:") {
            Database::Sqlite(PathBuf::from(path))
        } else {
            Database::Sqlite(self.database.clone())
        }
    }

    /// The listen address (validated at load).
    pub fn listen_addr(&self) -> Option<SocketAddr> {
        self.listen.parse().ok()
    }

    /// True when both TLS files are configured.
    pub fn tls(&self) -> bool {
        self.tls_cert.is_some() && self.tls_key.is_some()
    }

    /// `public_url` without a trailing slash.
    pub fn public_base(&self) -> Option<&str> {
        self.public_url.as_deref().map(|u| u.trim_end_matches('/'))
    }

    /// Semantic checks, as (key, reason).
    pub(crate) fn problems(&self) -> Vec<(&'static str, String)> {
        let mut p = Vec::new();
        match self.listen_addr() {
            None => p.push((
                "serve.listen",
                format!(
                    "must be an address and port such as \"127.0.0.1:8080\" or \"[::]:443\" (got {:?})",
                    self.listen
                ),
            )),
            Some(addr) if !self.tls() && !self.behind_proxy && !addr.ip().is_loopback() => p.push((
                "serve.listen",
                format!(
                    "plain HTTP is only served on a loopback address (got {addr}): set tls_cert and \
                     tls_key, or behind_proxy = true when a proxy on this machine terminates TLS"
                ),
            )),
            Some(addr)
                if !self.tls()
                    && self.behind_proxy
                    && !addr.ip().is_loopback()
                    && self.trusted_proxies.is_empty() =>
            {
                p.push((
                    "serve.trusted_proxies",
                    format!(
                        "behind_proxy on a non-loopback address ({addr}) needs the proxies' \
                         addresses: plain HTTP is only accepted from loopback and trusted_proxies"
                    ),
                ))
            }
            Some(_) => {}
        }
        for a in &self.trusted_proxies {
            if a.parse::<IpAddr>().is_err() {
                p.push((
                    "serve.trusted_proxies",
                    format!("{a:?} is not an IP address"),
                ));
            }
        }
        for n in &self.push_allowed_networks {
            if parse_network(n).is_none() {
                p.push((
                    "serve.push_allowed_networks",
                    format!("{n:?} is not an address or ADDRESS/PREFIX network"),
                ));
            }
        }
        if !(1..=10_000_000).contains(&self.max_pending_per_host) {
            p.push(("serve.max_pending_per_host", "must be 1..=10000000".into()));
        }
        if !(1..=60).contains(&self.client_timeout_seconds) {
            p.push(("serve.client_timeout_seconds", "must be 1..=60".into()));
        }
        let sqlite_path = match self.database() {
            Database::Sqlite(path) => Some(path),
            Database::Postgres(_) => None,
        };
        for (key, path) in [
            ("serve.database", sqlite_path.as_ref()),
            ("serve.vapid_key_file", Some(&self.vapid_key_file)),
            ("serve.database_ca_file", self.database_ca_file.as_ref()),
            ("serve.tls_cert", self.tls_cert.as_ref()),
            ("serve.tls_key", self.tls_key.as_ref()),
        ] {
            if path.is_some_and(|p| !p.is_absolute()) {
                p.push((key, "must be an absolute path".into()));
            }
        }
        if self.database_ca_file.is_some() && sqlite_path.is_some() {
            p.push((
                "serve.database_ca_file",
                "is for PostgreSQL over TLS (database = \"postgres://…?sslmode=require\")".into(),
            ));
        }
        if self.tls_cert.is_some() != self.tls_key.is_some() {
            p.push((
                "serve.tls_cert",
                "tls_cert and tls_key must be set together".into(),
            ));
        }
        if let Some(url) = &self.public_url
            && let Err(reason) = check_url(url, true)
        {
            p.push(("serve.public_url", reason));
        }
        if let Some(url) = &self.ntfy_url {
            if let Err(reason) = check_url(url, false) {
                p.push(("serve.ntfy_url", reason));
            }
            if self.public_url.is_none() {
                p.push((
                    "serve.ntfy_url",
                    "needs public_url (the link in the notification)".into(),
                ));
            }
        }
        if !(1..=10_000_000).contains(&self.max_pending) {
            p.push(("serve.max_pending", "must be 1..=10000000".into()));
        }
        if !(10..=PROTOCOL_MAX_CHALLENGE_SECONDS).contains(&self.challenge_max_seconds) {
            p.push((
                "serve.challenge_max_seconds",
                format!("must be 10..=300 (got {})", self.challenge_max_seconds),
            ));
        }
        p
    }
}

/// An `http(s)://host[:port][/path]` URL without query, fragment or credentials.
/// `https_unless_loopback`: plain `http` only for loopback hosts.
fn check_url(url: &str, https_unless_loopback: bool) -> Result<(), String> {
    let bad = |why: &str| Err(format!("{why} (got {url:?})"));
    let (scheme, rest) = match url.split_once("://") {
        Some(("https", rest)) => ("https", rest),
        Some(("http", rest)) => ("http", rest),
        _ => return bad("must start with https:// or http://"),
    };
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) || url.contains(['?', '#', '@']) {
        return bad("must not contain spaces, '?', '#' or '@'");
    }
    let authority = rest.split('/').next().unwrap_or("");
    let host = authority_host(authority);
    if host.is_empty() {
        return bad("has no host name");
    }
    if https_unless_loopback && scheme == "http" && !is_loopback_host(host) {
        return bad("must use https:// (phones need a secure page), except on a loopback host");
    }
    Ok(())
}

/// `ADDRESS` or `ADDRESS/PREFIX` as (network address, prefix length).
pub fn parse_network(text: &str) -> Option<(IpAddr, u8)> {
    let (addr, prefix) = match text.split_once('/') {
        Some((a, p)) => (a.parse::<IpAddr>().ok()?, p.parse::<u8>().ok()?),
        None => {
            let a = text.parse::<IpAddr>().ok()?;
            (a, if a.is_ipv4() { 32 } else { 128 })
        }
    };
    let max = if addr.is_ipv4() { 32 } else { 128 };
    (prefix <= max).then_some((addr, prefix))
}

/// The host part of `host[:port]` or `[v6][:port]`.
pub fn authority_host(authority: &str) -> &str {
    if let Some(rest) = authority.strip_prefix('[') {
        rest.split(']').next().unwrap_or("")
    } else {
        authority.split(':').next().unwrap_or("")
    }
}

/// `localhost` or a loopback IP literal.
pub fn is_loopback_host(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problems(text: &str) -> Vec<(&'static str, String)> {
        let c: ServeConfig = toml::from_str(text).expect("parses");
        c.problems()
    }

    #[test]
    fn defaults_are_valid() {
        assert!(ServeConfig::default().problems().is_empty());
    }

    #[test]
    fn plain_http_on_a_public_address_is_refused() {
        let p = problems("listen = \"0.0.0.0:80\"\n");
        assert!(p[0].1.contains("plain HTTP"), "{p:?}");
        let p = problems("listen = \"0.0.0.0:80\"\nbehind_proxy = true\n");
        assert_eq!(p[0].0, "serve.trusted_proxies", "{p:?}");
        assert!(
            problems(
                "listen = \"0.0.0.0:80\"\nbehind_proxy = true\ntrusted_proxies = [\"10.0.0.5\"]\n"
            )
            .is_empty()
        );
        assert!(problems("listen = \"127.0.0.1:80\"\nbehind_proxy = true\n").is_empty());
        assert!(
            problems("listen = \"[::]:443\"\ntls_cert = \"/c.pem\"\ntls_key = \"/k.pem\"\n")
                .is_empty()
        );
        assert!(problems("listen = \"[::1]:8080\"\n").is_empty());
    }

    #[test]
    fn database_names_sqlite_or_postgres() {
        let db = |t: &str| {
            let c: ServeConfig = toml::from_str(&format!("database = {t:?}\n")).expect("parses");
            c.database()
        };
        assert_eq!(db("/v/s.db"), Database::Sqlite("/v/s.db".into()));
        assert_eq!(db("sqlite:/v/s.db"), Database::Sqlite("/v/s.db".into()));
        assert_eq!(
            db("postgres://a@b/c"),
            Database::Postgres("postgres://a@b/c".into())
        );
        assert_eq!(
            db("postgresql://a@b/c"),
            Database::Postgres("postgresql://a@b/c".into())
        );
        assert_eq!(
            db("host=/tmp/pg dbname=t"),
            Database::Postgres("host=/tmp/pg dbname=t".into())
        );
    }

    #[test]
    fn urls_and_paths_are_checked() {
        assert!(!problems("public_url = \"http://push.example.org\"\n").is_empty());
        assert!(problems("public_url = \"http://127.0.0.1:8080/\"\n").is_empty());
        assert!(!problems("public_url = \"https://x/?a\"\n").is_empty());
        assert!(!problems("ntfy_url = \"https://ntfy.sh/t\"\n").is_empty()); // no public_url
        assert!(!problems("database = \"rel.db\"\n").is_empty());
        assert!(!problems("database = \"sqlite:rel.db\"\n").is_empty());
        assert!(problems("database = \"sqlite:/v/serve.db\"\n").is_empty());
        assert!(problems("database = \"postgres://twofold@db/twofold\"\n").is_empty());
        let pg_tls = "database = \"postgres://twofold@db/twofold?sslmode=require\"\n";
        assert!(problems(&format!("{pg_tls}database_ca_file = \"/etc/ca.pem\"\n")).is_empty());
        assert!(!problems(&format!("{pg_tls}database_ca_file = \"ca.pem\"\n")).is_empty());
        assert!(!problems("database_ca_file = \"/etc/ca.pem\"\n").is_empty()); // SQLite
        assert!(!problems("tls_cert = \"/c.pem\"\n").is_empty());
        assert!(!problems("challenge_max_seconds = 301\n").is_empty());
    }
}
