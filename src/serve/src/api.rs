//! The HTTP API under `/v1/` (docs/push-protocol.md) and the page routes: the router, the
//! shared state, and the extractors every handler uses (host token, client address, JSON body).
#![forbid(unsafe_code)]

mod challenges;
mod devices;
mod fleet;
mod pairings;

use super::auth;
use super::body;
use super::error::ApiError;
use super::limits::{ClientLimiter, MAX_WAIT_SECONDS};
use super::log;
use super::notify::Notifier;
use super::page;
use super::pending::Pending;
use super::store::{DeviceRow, Store};
use axum::Router;
use axum::extract::{FromRef, FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use serde::de::DeserializeOwned;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use tokio::sync::watch;

/// Everything the handlers share.
pub struct AppState {
    pub store: Store,
    pub challenges: Pending,
    /// Bumped whenever a pairing completes; pairing long-polls wait on it.
    pub pairings_changed: watch::Sender<u64>,
    pub limiter: ClientLimiter,
    pub notifier: Arc<Notifier>,
    pub behind_proxy: bool,
    /// Proxies (besides loopback) whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<IpAddr>,
    pub challenge_max_seconds: u64,
    pub allow_loopback_push: bool,
    /// Where Web Push may go (public addresses unless configured).
    pub push_targets: Arc<super::push_target::PushTargets>,
    /// How long a client may take to send a request body.
    pub body_timeout: std::time::Duration,
    /// Long-polls held per host (`max_pending_per_host` each).
    pub waiters: super::quota::HostWaiters,
    /// Fleet mode (`[serve] fleet`): the fleet endpoints answer, devices serve every host.
    pub fleet: bool,
}

impl AppState {
    /// Whose challenges a device answers: those of the host that paired it, or in fleet mode
    /// (`None`) every host's.
    pub fn paired_by<'a>(&self, device: &'a DeviceRow) -> Option<&'a str> {
        (!self.fleet).then_some(device.host.as_str())
    }

    /// A long-poll slot for `host`, or 503 (logged) when the host holds its quota.
    pub fn waiter_slot(&self, host: &str) -> Result<super::quota::WaiterSlot, ApiError> {
        self.waiters.acquire(host).ok_or_else(|| {
            log(&format!(
                "event=refused reason=host_quota host={host:?} quota=long_polls"
            ));
            ApiError::host_busy()
        })
    }
}

/// The state as handlers receive it.
pub type Shared = Arc<AppState>;

/// The connection's peer address, put into each request by the accept loop.
#[derive(Debug, Clone, Copy)]
pub struct Peer(pub SocketAddr);

/// The whole service: API and page. (The accept loop adds [`common_headers`] to every answer.)
pub fn router(state: Shared) -> Router {
    let mut app = Router::new()
        .route("/v1/pairings", post(pairings::create))
        .route("/v1/pairings/{id}", get(pairings::wait))
        .route("/v1/pairings/{id}/complete", post(pairings::complete))
        .route("/v1/challenges", post(challenges::create))
        .route("/v1/challenges/{id}", delete(challenges::withdraw))
        .route(
            "/v1/challenges/{id}/decision",
            get(challenges::wait_for_decision).post(challenges::decide),
        )
        .route("/v1/challenges/{id}/verdict", post(challenges::verdict))
        .route("/v1/devices/{device_id}", delete(devices::remove))
        .route("/v1/devices/{device_id}/pending", get(devices::pending))
        .route(
            "/v1/devices/{device_id}/challenges/{id}/verdict",
            get(devices::verdict),
        )
        .route(
            "/v1/devices/{device_id}/subscription",
            put(devices::subscribe),
        )
        .route("/v1/push-key", get(devices::push_key))
        .route("/v1/fleet/users", get(fleet::list))
        .route(
            "/v1/fleet/users/{user}",
            get(fleet::fetch).put(fleet::store).delete(fleet::remove),
        )
        .route("/v1/fleet/users/{user}/claims", post(fleet::claim))
        .route("/v1/fleet/users/{user}/lock", delete(fleet::unlock))
        .route("/v1/fleet/reports", post(fleet::report));
    app = app.route(page::TEXTS_PATH, get(page::serve));
    for file in page::FILES {
        app = app.route(file.path, get(page::serve));
    }
    // Bodies are read only through `JsonBody` (size, deadline, copying: body.rs).
    app.fallback(not_found).with_state(state)
}

async fn not_found() -> ApiError {
    ApiError::not_found("resource")
}

/// Headers on every answer: no sniffing, no referrer (the pairing URL must not leak), and
/// API answers are never cached.
pub fn common_headers(mut response: Response) -> Response {
    let h = response.headers_mut();
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

/// An authenticated host, by the name it was added with (`twofold serve --add-host NAME`).
pub struct HostAuth(pub String);

impl FromRequestParts<Shared> for HostAuth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &Shared) -> Result<Self, ApiError> {
        let presented = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        let host = match auth::presented_digest(presented) {
            Some(digest) => {
                let row = state.store.host_by_token_digest(&digest).await?;
                auth::host_for(&digest, row)
            }
            None => None,
        };
        match host {
            Some(name) => Ok(HostAuth(name)),
            None => {
                // Failed guesses count against the client like any unauthenticated request.
                let client = Client::from_parts(parts, state);
                if !state.limiter.allow(client.0) {
                    return Err(ApiError::too_many("too many failed requests"));
                }
                Err(ApiError::unauthorized())
            }
        }
    }
}

/// The client's address: the TCP peer, or behind a proxy the last `X-Forwarded-For` entry
/// (the one the proxy itself added) — believed only when the peer is loopback or a trusted proxy.
#[derive(Debug, Clone, Copy)]
pub struct Client(pub IpAddr);

impl Client {
    fn from_parts(parts: &Parts, state: &AppState) -> Client {
        let peer = parts
            .extensions
            .get::<Peer>()
            .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |p| p.0.ip());
        let proxy = peer.is_loopback() || state.trusted_proxies.contains(&peer);
        if !state.behind_proxy || !proxy {
            return Client(peer);
        }
        let forwarded = parts
            .headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .filter_map(|a| a.trim().parse::<IpAddr>().ok())
            .next_back();
        Client(forwarded.unwrap_or(peer))
    }

    /// Takes one request from this client's allowance.
    pub fn limit(&self, state: &AppState) -> Result<(), ApiError> {
        if state.limiter.allow(self.0) {
            Ok(())
        } else {
            Err(ApiError::too_many(
                "too many requests from this address; try again in a minute",
            ))
        }
    }
}

impl FromRequestParts<Shared> for Client {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &Shared) -> Result<Self, ApiError> {
        Ok(Client::from_parts(parts, state))
    }
}

/// A client that has been charged one request of its allowance — before the body is read,
/// so bodies that are slow, oversized or malformed count too. (Extractors run in order: put
/// this one before [`JsonBody`].)
#[derive(Debug, Clone, Copy)]
pub struct RateLimited(pub Client);

impl FromRequestParts<Shared> for RateLimited {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &Shared) -> Result<Self, ApiError> {
        let client = Client::from_parts(parts, state);
        if let Err(e) = client.limit(state) {
            // Anyone can cause this at will: at most one line a minute per address.
            let path = format!(" path={:?}", parts.uri.path());
            super::refusal_log::refused("client_rate_limit", client.0, &path);
            return Err(e);
        }
        // An announced oversized body is refused before anything else is done for it.
        body::check_announced_length(&parts.headers)?;
        Ok(RateLimited(client))
    }
}

/// A JSON body of at most 16 KiB, whatever its Content-Type; errors as JSON. Its length is
/// checked before it is read, and it must arrive within the client deadline (body.rs).
pub struct JsonBody<T>(pub T);

/// A JSON body of at most 96 KiB (a sealed record, a host's report of offline uses); otherwise
/// as [`JsonBody`].
pub struct LargeJsonBody<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for LargeJsonBody<T>
where
    Shared: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let shared = Shared::from_ref(state);
        let (parts, request_body) = req.into_parts();
        let max = body::MAX_LARGE_BODY_BYTES;
        body::check_announced_length_within(&parts.headers, max)?;
        let bytes = body::read_bounded_within(request_body, shared.body_timeout, max).await?;
        parse_json(&bytes).map(LargeJsonBody)
    }
}

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for JsonBody<T>
where
    Shared: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let RawBody(bytes) = RawBody::from_request(req, state).await?;
        parse_json(&bytes).map(JsonBody)
    }
}

/// A JSON body, parsed: every error a 400 that names the problem.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(bytes).map_err(|e| ApiError::bad_request(format!("body: {e}")))
}

/// The body's exact bytes (at most 16 KiB, within the client deadline), for requests whose
/// signature covers them.
pub struct RawBody(pub Vec<u8>);

impl<S: Send + Sync> FromRequest<S> for RawBody
where
    Shared: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let shared = Shared::from_ref(state);
        let (parts, request_body) = req.into_parts();
        body::check_announced_length(&parts.headers)?;
        body::read_bounded(request_body, shared.body_timeout)
            .await
            .inspect_err(|e| {
                if e.status == StatusCode::REQUEST_TIMEOUT {
                    log(&format!(
                        "event=refused reason=slow_body path={:?}",
                        parts.uri.path()
                    ));
                }
            })
            .map(RawBody)
    }
}

/// `?wait=S` in seconds (absent: 0), clamped to [`MAX_WAIT_SECONDS`].
pub fn wait_seconds(query: Option<&str>) -> Result<u64, ApiError> {
    let Some(query) = query else { return Ok(0) };
    let mut wait = 0;
    for pair in query.split('&') {
        if let Some(value) = pair.strip_prefix("wait=") {
            wait = value
                .parse::<u64>()
                .map_err(|_| ApiError::bad_request("wait: must be a number of seconds"))?;
        }
    }
    Ok(wait.min(MAX_WAIT_SECONDS))
}

/// A 201/202 answer with a JSON body.
pub fn json_status(status: StatusCode, body: serde_json::Value) -> Response {
    (status, axum::Json(body)).into_response()
}

/// A header as text, if present and ASCII.
pub fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wait_is_optional_and_clamped() {
        assert_eq!(wait_seconds(None), Ok(0));
        assert_eq!(wait_seconds(Some("wait=5")), Ok(5));
        assert_eq!(wait_seconds(Some("x=1&wait=3600")), Ok(MAX_WAIT_SECONDS));
        assert!(wait_seconds(Some("wait=-1")).is_err());
    }
}
