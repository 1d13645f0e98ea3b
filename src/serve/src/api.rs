//! The HTTP API under `/v1/` (docs/push-protocol.md) and the page routes: the router, the
//! shared state, and the extractors every handler uses (host token, client address, JSON body).
#![forbid(unsafe_code)]

mod challenges;
mod devices;
mod pairings;

use super::auth;
use super::challenges::Challenges;
use super::error::ApiError;
use super::limits::{ClientLimiter, MAX_BODY_BYTES, MAX_WAIT_SECONDS};
use super::notify::Notifier;
use super::page;
use super::store::{self, Store};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, FromRef, FromRequest, FromRequestParts, Request};
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
    pub challenges: Challenges,
    /// Bumped whenever a pairing completes; pairing long-polls wait on it.
    pub pairings_changed: watch::Sender<u64>,
    pub limiter: ClientLimiter,
    pub notifier: Arc<Notifier>,
    pub behind_proxy: bool,
    pub challenge_max_seconds: u64,
    pub allow_loopback_push: bool,
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
        .route("/v1/devices/{device_id}", delete(devices::remove))
        .route("/v1/devices/{device_id}/pending", get(devices::pending))
        .route(
            "/v1/devices/{device_id}/subscription",
            put(devices::subscribe),
        )
        .route("/v1/push-key", get(devices::push_key));
    for file in page::FILES {
        app = app.route(file.path, get(page::serve));
    }
    app.fallback(not_found)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state)
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
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let hosts = state.store.call(store::hosts).await?;
        match auth::host_for(presented.as_deref(), &hosts) {
            Some(name) => Ok(HostAuth(name)),
            None => {
                // Failed guesses count against the client like any unauthenticated request.
                let client = Client::from_parts(parts, state.behind_proxy);
                if !state.limiter.allow(client.0) {
                    return Err(ApiError::too_many("too many failed requests"));
                }
                Err(ApiError::unauthorized())
            }
        }
    }
}

/// The client's address: the TCP peer, or behind a proxy the last `X-Forwarded-For` entry
/// (the one the proxy itself added).
#[derive(Debug, Clone, Copy)]
pub struct Client(pub IpAddr);

impl Client {
    fn from_parts(parts: &Parts, behind_proxy: bool) -> Client {
        let peer = parts
            .extensions
            .get::<Peer>()
            .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |p| p.0.ip());
        if !behind_proxy {
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
        Ok(Client::from_parts(parts, state.behind_proxy))
    }
}

/// A JSON body of at most [`MAX_BODY_BYTES`], whatever its Content-Type; errors as JSON.
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for JsonBody<T>
where
    Shared: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let bytes = Bytes::from_request(req, state).await.map_err(|e| {
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::too_large()
            } else {
                ApiError::bad_request("could not read the request body")
            }
        })?;
        serde_json::from_slice(&bytes)
            .map(JsonBody)
            .map_err(|e| ApiError::bad_request(format!("body: {e}")))
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
