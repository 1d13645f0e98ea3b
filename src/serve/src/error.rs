//! The one error type of the HTTP API: a status, a stable machine-readable code and a message,
//! answered as `{"error": code, "message": message}`.
#![forbid(unsafe_code)]

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

/// An answer other than success.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{status} {code}: {message}")]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }

    /// 400: a field is missing, malformed or out of range.
    pub fn bad_request(message: impl Into<String>) -> ApiError {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    /// 401: no or a wrong host token, or a device request that does not verify.
    pub fn unauthorized() -> ApiError {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "authentication failed",
        )
    }

    /// 403: authenticated or well-formed, but not allowed to do this.
    pub fn forbidden(message: impl Into<String>) -> ApiError {
        Self::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    /// 404: unknown, expired, or not this host's.
    pub fn not_found(what: &str) -> ApiError {
        Self::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no such {what} (or it expired)"),
        )
    }

    /// 409: the thing exists or was done already.
    pub fn conflict(message: impl Into<String>) -> ApiError {
        Self::new(StatusCode::CONFLICT, "conflict", message)
    }

    /// 413: the body is over the limit.
    pub fn too_large() -> ApiError {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            "request body too large",
        )
    }

    /// 408: the request (headers or body) did not arrive in time.
    pub fn timeout() -> ApiError {
        Self::new(
            StatusCode::REQUEST_TIMEOUT,
            "timeout",
            "the request body did not arrive in time",
        )
    }

    /// 429: this client address sent too many requests.
    pub fn too_many(message: impl Into<String>) -> ApiError {
        Self::new(StatusCode::TOO_MANY_REQUESTS, "rate_limited", message)
    }

    /// 503: the service holds as many challenges as it may.
    pub fn full() -> ApiError {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "full",
            "too many pending challenges; try again later",
        )
    }

    /// 503: this host holds as many challenges as one host may (other hosts are unaffected).
    pub fn host_full() -> ApiError {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "full",
            "this host holds too many pending challenges; try again later",
        )
    }

    /// 503: this host holds as many long-polls as one host may.
    pub fn host_busy() -> ApiError {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "full",
            "this host holds too many waiting requests; try again later",
        )
    }

    /// 404 `fleet_disabled`: a fleet endpoint, but `[serve] fleet` is off.
    pub fn fleet_disabled() -> ApiError {
        Self::new(
            StatusCode::NOT_FOUND,
            "fleet_disabled",
            "this service does not run in fleet mode ([serve] fleet = true)",
        )
    }

    /// 400 `bad_user`: not a user name twofold accepts.
    pub fn bad_user() -> ApiError {
        Self::new(StatusCode::BAD_REQUEST, "bad_user", "not a valid user name")
    }

    /// 400 `bad_version`: a record whose user or version does not fit the request.
    pub fn bad_version(message: impl Into<String>) -> ApiError {
        Self::new(StatusCode::BAD_REQUEST, "bad_version", message)
    }

    /// 500: the database or a task failed; the details go to the log, not to the client.
    pub fn internal(detail: impl std::fmt::Display) -> ApiError {
        super::log(&format!(
            "event=internal_error detail={:?}",
            detail.to_string()
        ));
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal error (see the service log)",
        )
    }
}

impl From<super::store::StoreError> for ApiError {
    fn from(e: super::store::StoreError) -> ApiError {
        ApiError::internal(e)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({ "error": self.code, "message": self.message });
        (self.status, Json(body)).into_response()
    }
}
