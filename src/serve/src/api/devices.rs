//! Device endpoints: what a phone may see (its pending challenge) and change (its Web Push
//! subscription), each request signed by the device key; and removal by the device's host.
#![forbid(unsafe_code)]

use super::{Client, HostAuth, RateLimited, RawBody, Shared, header_str, json_status, parse_json};
use crate::auth::{self, DeviceHeaders};
use crate::error::ApiError;
use crate::store::DeviceRow;
use crate::wire::SubscriptionUpdate;
use crate::{log, unix_now};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// Checks a device-signed request; every failure is the same 401 to the client. (The client
/// was charged by [`RateLimited`] before anything was read: signature checks cost CPU.)
async fn device_auth(
    state: &Shared,
    client: Client,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    device_id: &str,
    body: &[u8],
) -> Result<DeviceRow, ApiError> {
    let presented = DeviceHeaders {
        device_id: header_str(headers, "x-twofold-device"),
        timestamp: header_str(headers, "x-twofold-time"),
        counter: header_str(headers, "x-twofold-counter"),
        signature: header_str(headers, "x-twofold-signature"),
    };
    let refused = |reason: auth::DeviceAuthError| {
        log(&format!(
            "event=device_auth_failed device={device_id:?} client={} reason={:?}",
            client.0,
            reason.to_string()
        ));
        ApiError::unauthorized()
    };
    let checked = presented.precheck(device_id, unix_now()).map_err(refused)?;
    let device = state
        .store
        .device(device_id)
        .await?
        .filter(|d| !d.removed)
        .ok_or_else(|| refused(auth::DeviceAuthError::UnknownDevice))?;
    let message = auth::device_request_message(
        method.as_str(),
        uri.path(),
        device_id,
        checked.timestamp,
        checked.counter_text,
        &auth::body_hash(body),
    );
    auth::verify(&device.public_key, message.as_bytes(), &checked.signature).map_err(refused)?;
    // Only a signature that verifies may move the counter; a replay finds it moved already.
    let fresh = state
        .store
        .claim_counter(device_id, checked.counter)
        .await?;
    if !fresh {
        return Err(refused(auth::DeviceAuthError::Replayed));
    }
    Ok(device)
}

/// `GET /v1/devices/{device_id}/pending` (device) → the challenges waiting for it (at most one
/// per host and user); never the number.
pub async fn pending(
    State(state): State<Shared>,
    RateLimited(client): RateLimited,
    Path(device_id): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let device = device_auth(&state, client, &method, &uri, &headers, &device_id, b"").await?;
    let waiting = state
        .challenges
        .pending_for(state.paired_by(&device), &device.user, &device.device_id)
        .await?;
    Ok(json_status(StatusCode::OK, json!(waiting)))
}

/// `GET /v1/devices/{device_id}/challenges/{id}/verdict` (device) → `200 {outcome, alerted,
/// paused_until}` once the host gave its verdict, `204` before; `404` when the challenge is not
/// one this device was asked, or is gone (past its expiry and a short grace).
pub async fn verdict(
    State(state): State<Shared>,
    RateLimited(client): RateLimited,
    Path((device_id, id)): Path<(String, String)>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let device = device_auth(&state, client, &method, &uri, &headers, &device_id, b"").await?;
    match state
        .challenges
        .verdict_for(
            &id,
            state.paired_by(&device),
            &device.user,
            &device.device_id,
        )
        .await?
    {
        Some(Some(v)) => Ok(json_status(StatusCode::OK, json!(v))),
        Some(None) => Ok(StatusCode::NO_CONTENT.into_response()),
        None => Err(ApiError::not_found("challenge")),
    }
}

/// `PUT /v1/devices/{device_id}/subscription` (device): `{push_subscription}` (or `null`) → `204`.
pub async fn subscribe(
    State(state): State<Shared>,
    RateLimited(client): RateLimited,
    Path(device_id): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    RawBody(raw): RawBody,
) -> Result<StatusCode, ApiError> {
    // The signature covers the body's hash: check it before the body is believed.
    let device = device_auth(&state, client, &method, &uri, &headers, &device_id, &raw).await?;
    let body: SubscriptionUpdate = parse_json(&raw)?;
    let json = match &body.push_subscription {
        Some(sub) => {
            sub.check(state.allow_loopback_push, &state.push_targets)?;
            Some(serde_json::to_string(sub).map_err(ApiError::internal)?)
        }
        None => None,
    };
    state
        .store
        .set_subscription(&device.device_id, json)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `DELETE /v1/devices/{device_id}` (the device's host; in fleet mode any fleet host) → `204`;
/// `404` if it is not this host's.
pub async fn remove(
    State(state): State<Shared>,
    HostAuth(host): HostAuth,
    Path(device_id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let paired_by = (!state.fleet).then_some(host.as_str());
    let removed = state
        .store
        .remove_device(paired_by, &device_id, unix_now())
        .await?;
    if removed {
        log(&format!(
            "event=device_removed host={host:?} device={device_id:?}"
        ));
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found("device"))
    }
}

/// `GET /v1/push-key` → `{vapid_public_key}`: the page subscribes to Web Push with it.
pub async fn push_key(State(state): State<Shared>) -> Json<serde_json::Value> {
    Json(json!({ "vapid_public_key": state.notifier.vapid_public() }))
}
