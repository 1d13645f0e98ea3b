//! The fleet endpoints of the approval service as typed calls (docs/fleet.md, "The wire
//! contract"), over the push client, with failover: the URLs are tried in order, each within
//! the connect timeout, and the first that answers serves the rest of this sign-in.
#![forbid(unsafe_code)]

use super::envelope::SealedRecord;
pub use super::wire::{Claim, ClaimAnswer, Claims, ListedUser, Use, UserView};
use crate::push::client::{Client, HttpError, Response};
use crate::push::config::check_url;
use crate::push::token::{TokenError, read_host_token};
use crate::secret::SecretString;
use crate::username::UserName;
use serde::{Deserialize, Serialize};
use std::cell::Cell;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Why a fleet call gave no usable answer.
#[derive(Debug, thiserror::Error)]
pub enum FleetError {
    /// No URL answered within its connect timeout (or each answered 5xx).
    #[error("no fleet service answered ({0})")]
    Offline(String),
    #[error("host token refused by {url} (HTTP {status})")]
    Unauthorized { url: String, status: u16 },
    #[error("the service is not in fleet mode ([serve] fleet = true) at {0}")]
    Disabled(String),
    /// 409 on a compare-and-swap: someone else changed the record first.
    #[error("the record changed meanwhile (now version {current})")]
    Conflict { current: u64 },
    #[error("not found")]
    NotFound,
    #[error("unexpected answer from {url}: {reason}")]
    Unexpected { url: String, reason: String },
}

/// Why this host cannot talk to its fleet at all.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("fleet mode is not configured: set [fleet] urls")]
    NotConfigured,
    #[error("[fleet] urls: {0}")]
    Url(String),
    #[error(transparent)]
    Token(#[from] TokenError),
}

#[derive(Deserialize)]
struct ErrorBody {
    error: String,
    #[serde(default)]
    current_version: Option<u64>,
}

/// The fleet's services as this host reaches them.
pub struct FleetService {
    clients: Vec<(String, Client)>,
    /// The URL that answered first; the rest of the sign-in stays with it.
    active: Cell<Option<usize>>,
}

impl FleetService {
    /// Clients for `urls`, authenticated with the host token.
    pub fn new(
        urls: &[String],
        token: SecretString,
        connect_timeout: Duration,
        ca_file: Option<PathBuf>,
    ) -> Result<Self, SetupError> {
        if urls.is_empty() {
            return Err(SetupError::NotConfigured);
        }
        let mut clients = Vec::with_capacity(urls.len());
        for url in urls {
            let endpoint = check_url(url).map_err(|e| SetupError::Url(format!("{url}: {e}")))?;
            let client = Client::new(endpoint, Some(token.clone()), connect_timeout)
                .with_ca_file(ca_file.clone());
            clients.push((url.clone(), client));
        }
        Ok(FleetService {
            clients,
            active: Cell::new(None),
        })
    }

    /// The fleet of `config` (`[fleet] urls`, `[push]` host token, CA file and connect timeout).
    pub fn for_host(config: &crate::config::Config) -> Result<Self, SetupError> {
        let push = &config.push;
        let token = read_host_token(&push.host_token_file)?;
        FleetService::new(
            &config.fleet.urls,
            token,
            Duration::from_millis(push.connect_timeout_ms),
            push.ca_file.clone(),
        )
    }

    /// The URL that answered, once one has.
    pub fn active_url(&self) -> Option<&str> {
        self.active
            .get()
            .and_then(|i| self.clients.get(i))
            .map(|(url, _)| url.as_str())
    }

    /// Every configured URL.
    pub fn urls(&self) -> impl Iterator<Item = &str> {
        self.clients.iter().map(|(url, _)| url.as_str())
    }

    /// Sends one request: to the URL that answered before first, then to each other in order
    /// until one answers (a 5xx is a proxy before a dead instance: the next URL is tried). An
    /// instance that dies between a sign-in's record check and its claim is so failed over too;
    /// a claim the dead instance took but did not answer is refused by the next one as used,
    /// which fails closed.
    fn call(
        &self,
        method: &str,
        path: &str,
        body: Option<&[u8]>,
    ) -> Result<(String, Response), FleetError> {
        let first = self.active.get().unwrap_or(0);
        let order = std::iter::once(first).chain((0..self.clients.len()).filter(|&i| i != first));
        let mut why = Vec::new();
        for i in order {
            let (url, client) = &self.clients[i];
            let deadline = Instant::now() + 2 * client.connect_timeout();
            match client.request(method, path, body, &[], deadline) {
                Ok(r) if r.status >= 500 => why.push(format!("{url}: HTTP {}", r.status)),
                Ok(r) => {
                    self.active.set(Some(i));
                    return Ok((url.clone(), r));
                }
                Err(e) => why.push(format!("{url}: {}", describe(&e))),
            }
        }
        Err(FleetError::Offline(why.join("; ")))
    }

    fn expect<T: for<'de> Deserialize<'de>>(
        &self,
        method: &str,
        path: &str,
        body: Option<Vec<u8>>,
        ok: &[u16],
    ) -> Result<Option<T>, FleetError> {
        let (url, r) = self.call(method, path, body.as_deref())?;
        if ok.contains(&r.status) {
            if r.status == 204 {
                return Ok(None);
            }
            return serde_json::from_slice(&r.body)
                .map(Some)
                .map_err(|e| FleetError::Unexpected {
                    url,
                    reason: format!("HTTP {}: {e}", r.status),
                });
        }
        let error: Option<ErrorBody> = serde_json::from_slice(&r.body).ok();
        Err(match (r.status, error) {
            (401 | 403, _) => FleetError::Unauthorized {
                url,
                status: r.status,
            },
            (404, Some(e)) if e.error == "fleet_disabled" => FleetError::Disabled(url),
            (404, _) => FleetError::NotFound,
            (409, e) => FleetError::Conflict {
                current: e.and_then(|e| e.current_version).unwrap_or(0),
            },
            (status, e) => FleetError::Unexpected {
                url,
                reason: match e {
                    Some(e) => format!("HTTP {status} {}", printable(&e.error)),
                    None => format!("HTTP {status}"),
                },
            },
        })
    }

    /// `GET /v1/fleet/users/{user}?have=N`.
    pub fn user(&self, user: &UserName, have: u64) -> Result<UserView, FleetError> {
        let path = format!("/v1/fleet/users/{}?have={have}", user.encoded());
        self.expect("GET", &path, None, &[200])?
            .ok_or_else(|| self.empty())
    }

    /// `PUT /v1/fleet/users/{user}`: compare-and-swap from `expected` to `record.version`;
    /// `deleted`: `record` is a sealed deletion (the list shows it so).
    pub fn put(
        &self,
        user: &UserName,
        expected: u64,
        record: &SealedRecord,
        deleted: bool,
    ) -> Result<u64, FleetError> {
        #[derive(Serialize)]
        struct Body<'a> {
            expected_version: u64,
            record: &'a SealedRecord,
            #[serde(skip_serializing_if = "std::ops::Not::not")]
            deleted: bool,
        }
        #[derive(Deserialize)]
        struct Stored {
            version: u64,
        }
        let body = to_json(&Body {
            expected_version: expected,
            record,
            deleted,
        })?;
        let path = format!("/v1/fleet/users/{}", user.encoded());
        let stored: Stored = self
            .expect("PUT", &path, Some(body), &[200, 201])?
            .ok_or_else(|| self.empty())?;
        Ok(stored.version)
    }

    /// `DELETE /v1/fleet/users/{user}?version=V`: the record and its claims.
    pub fn delete(&self, user: &UserName, version: u64) -> Result<(), FleetError> {
        let path = format!("/v1/fleet/users/{}?version={version}", user.encoded());
        self.expect::<serde_json::Value>("DELETE", &path, None, &[200, 204])
            .map(|_| ())
    }

    /// `GET /v1/fleet/users`.
    pub fn list(&self) -> Result<Vec<ListedUser>, FleetError> {
        #[derive(Deserialize)]
        struct Users {
            users: Vec<ListedUser>,
        }
        let users: Users = self
            .expect("GET", "/v1/fleet/users", None, &[200])?
            .ok_or_else(|| self.empty())?;
        Ok(users.users)
    }

    /// `POST /v1/fleet/users/{user}/claims`.
    pub fn claim(&self, user: &UserName, claim: &Claim) -> Result<ClaimAnswer, FleetError> {
        let path = format!("/v1/fleet/users/{}/claims", user.encoded());
        self.expect("POST", &path, Some(to_json(claim)?), &[200])?
            .ok_or_else(|| self.empty())
    }

    /// `DELETE /v1/fleet/users/{user}/lock`.
    pub fn unlock(&self, user: &UserName) -> Result<(), FleetError> {
        let path = format!("/v1/fleet/users/{}/lock", user.encoded());
        self.expect::<serde_json::Value>("DELETE", &path, None, &[200, 204])
            .map(|_| ())
    }

    /// `POST /v1/fleet/reports`: whether each use was accepted, in order.
    pub fn report(&self, uses: &[Use]) -> Result<Vec<bool>, FleetError> {
        #[derive(Serialize)]
        struct Body<'a> {
            uses: &'a [Use],
        }
        #[derive(Deserialize)]
        struct Result {
            accepted: bool,
        }
        #[derive(Deserialize)]
        struct Results {
            results: Vec<Result>,
        }
        let results: Results = self
            .expect(
                "POST",
                "/v1/fleet/reports",
                Some(to_json(&Body { uses })?),
                &[200],
            )?
            .ok_or_else(|| self.empty())?;
        Ok(results.results.into_iter().map(|r| r.accepted).collect())
    }

    fn empty(&self) -> FleetError {
        FleetError::Unexpected {
            url: self.active_url().unwrap_or_default().to_string(),
            reason: "empty answer".into(),
        }
    }
}

fn to_json(value: &impl Serialize) -> Result<Vec<u8>, FleetError> {
    serde_json::to_vec(value).map_err(|e| FleetError::Unexpected {
        url: String::new(),
        reason: e.to_string(),
    })
}

fn describe(e: &HttpError) -> String {
    match e {
        HttpError::Timeout => "timed out".into(),
        other => other.to_string(),
    }
}

fn printable(text: &str) -> String {
    text.chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
        .take(40)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_url_answering_is_offline_and_names_each_url() {
        // Port 9 on loopback: nothing listens (connection refused at once).
        let urls = vec![
            "http://127.0.0.1:9".to_string(),
            "http://[::1]:9".to_string(),
        ];
        let fleet = FleetService::new(
            &urls,
            SecretString::new("dG9rZW4".into()),
            Duration::from_millis(200),
            None,
        )
        .unwrap();
        let user = UserName::parse(b"alice").unwrap();
        match fleet.user(&user, 0) {
            Err(FleetError::Offline(why)) => {
                assert!(
                    why.contains("127.0.0.1:9") && why.contains("[::1]:9"),
                    "{why}"
                );
            }
            other => panic!("expected offline, got {other:?}"),
        }
        assert_eq!(fleet.active_url(), None);
    }

    /// A stand-in instance on loopback that answers `answers` requests with an empty user list,
    /// then stops listening.
    fn instance(answers: usize) -> (String, std::thread::JoinHandle<usize>) {
        use std::io::{Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let served = std::thread::spawn(move || {
            for served in 0..answers {
                let Ok((mut stream, _)) = listener.accept() else {
                    return served;
                };
                let mut request = Vec::new();
                let mut buf = [0u8; 1024];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => request.extend_from_slice(&buf[..n]),
                    }
                }
                let body = br#"{"users":[]}"#;
                let head = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                let _ = stream.write_all(head.as_bytes());
                let _ = stream.write_all(body);
            }
            answers
        });
        (url, served)
    }

    #[test]
    fn an_instance_that_dies_after_answering_is_failed_over_on_the_next_request() {
        let (first, first_served) = instance(1);
        let (second, second_served) = instance(2);
        let fleet = FleetService::new(
            &[first.clone(), second.clone()],
            SecretString::new("dG9rZW4".into()),
            Duration::from_millis(500),
            None,
        )
        .unwrap();
        assert_eq!(fleet.list().unwrap().len(), 0);
        assert_eq!(fleet.active_url(), Some(first.as_str()));
        assert_eq!(
            first_served.join().unwrap(),
            1,
            "the first instance answered once"
        );
        // The first instance is gone (its listener closed): the next request (a claim, in a
        // sign-in) goes to the second, and stays there.
        assert_eq!(fleet.list().unwrap().len(), 0);
        assert_eq!(fleet.active_url(), Some(second.as_str()));
        assert_eq!(fleet.list().unwrap().len(), 0);
        assert_eq!(second_served.join().unwrap(), 2);
    }

    #[test]
    fn a_plain_http_url_off_loopback_is_refused() {
        let urls = vec!["http://push.example.org".to_string()];
        let e = FleetService::new(
            &urls,
            SecretString::new("x".into()),
            Duration::from_secs(1),
            None,
        );
        assert!(matches!(e, Err(SetupError::Url(_))));
    }
}
