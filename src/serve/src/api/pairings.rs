//! Pairing a phone: the host opens a pairing, the page completes it with its public key and the
//! proof (which only the host can check), the host's long-poll picks the result up.
#![forbid(unsafe_code)]

use super::{
    HostAuth, JsonBody, RateLimited, RawBody, Shared, header_str, json_status, parse_json,
    wait_seconds,
};
use crate::error::ApiError;
use crate::limits::{MAX_OPEN_PAIRINGS_PER_HOST, PAIRING_SECONDS};
use crate::store::{CompletedPairing, Completion};
use crate::wire::{NewPairing, PairingCompletion, check_id};
use crate::{b64u, log, random_id, unix_now};
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::json;
use std::time::Duration;
use tokio::time::Instant;

/// `POST /v1/pairings` (host): `{user}` → `201 {pairing_id, expires}`.
pub async fn create(
    State(state): State<Shared>,
    HostAuth(host): HostAuth,
    JsonBody(body): JsonBody<NewPairing>,
) -> Result<Response, ApiError> {
    let completion_key = body.check()?;
    let id = random_id().map_err(ApiError::internal)?;
    let now = unix_now();
    let expires = now + PAIRING_SECONDS;
    let created = state
        .store
        .create_pairing(
            &id,
            &host,
            &body.user,
            (now, expires),
            &completion_key,
            MAX_OPEN_PAIRINGS_PER_HOST,
        )
        .await?;
    if !created {
        return Err(ApiError::too_many("too many open pairings for this host"));
    }
    log(&format!(
        "event=pairing_created host={host:?} user={:?}",
        body.user
    ));
    Ok(json_status(
        StatusCode::CREATED,
        json!({ "pairing_id": id, "expires": expires }),
    ))
}

/// `GET /v1/pairings/{id}?wait=S` (the host that opened it): the result, or pending at timeout.
pub async fn wait(
    State(state): State<Shared>,
    HostAuth(host): HostAuth,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let wait = wait_seconds(query.as_deref())?;
    check_id("pairing id", &id, 1, 64).map_err(|_| ApiError::not_found("pairing"))?;
    let _slot = state.waiter_slot(&host)?;
    let until = Instant::now() + Duration::from_secs(wait);
    // Subscribe before looking, so a completion between the look and the wait is not missed.
    let mut changed = state.pairings_changed.subscribe();
    // With several instances the phone may complete the pairing on another one, which this
    // channel does not hear of: look again every second (a pairing is one human action).
    let recheck = state.store.postgres().map(|_| Duration::from_secs(1));
    loop {
        let row = state.store.pairing(&id, unix_now()).await?;
        let Some(row) = row.filter(|r| r.host == host) else {
            return Err(ApiError::not_found("pairing"));
        };
        if let Some(done) = row.completed {
            return Ok(json_status(
                StatusCode::OK,
                json!({
                    "status": "complete",
                    "device_id": done.device_id,
                    "public_key": b64u::encode(&done.public_key),
                    "proof": done.proof,
                    "device_name": done.device_name,
                }),
            ));
        }
        let expiry = crate::challenges::deadline_of(row.expires);
        tokio::select! {
            r = changed.changed() => {
                if r.is_err() {
                    return Err(ApiError::internal("pairing notifier closed"));
                }
            }
            () = tokio::time::sleep(recheck.unwrap_or_default()), if recheck.is_some() => {}
            () = tokio::time::sleep_until(until.min(expiry)) => {
                if Instant::now() >= expiry {
                    return Err(ApiError::not_found("pairing"));
                }
                return Ok(json_status(StatusCode::OK, json!({ "status": "pending" })));
            }
        }
    }
}

/// `POST /v1/pairings/{id}/complete` (the phone holding the pairing secret: its
/// `X-Twofold-Pairing-Mac` over the body is checked before anything changes; the host checks
/// the proof).
pub async fn complete(
    State(state): State<Shared>,
    RateLimited(client): RateLimited,
    Path(id): Path<String>,
    headers: HeaderMap,
    RawBody(raw): RawBody,
) -> Result<Response, ApiError> {
    check_id("pairing id", &id, 1, 64).map_err(|_| ApiError::not_found("pairing"))?;
    let (host, key) = state
        .store
        .pairing_completion_key(&id, unix_now())
        .await?
        .ok_or_else(|| ApiError::not_found("pairing"))?;
    let mac = header_str(&headers, "x-twofold-pairing-mac");
    if !completion_mac_ok(key.as_deref(), &id, &raw, mac) {
        log(&format!(
            "event=refused reason=pairing_mac host={host:?} client={}",
            client.0
        ));
        return Err(ApiError::forbidden(
            "this completion is not from the phone that scanned the pairing code",
        ));
    }
    let body: PairingCompletion = parse_json(&raw)?;
    let public_key = body.check(state.allow_loopback_push, &state.push_targets)?;
    let subscription = body
        .push_subscription
        .as_ref()
        .map(serde_json::to_string)
        .transpose()
        .map_err(ApiError::internal)?;
    let done = CompletedPairing {
        device_id: random_id().map_err(ApiError::internal)?,
        public_key,
        proof: body.proof,
        device_name: body.device_name,
    };
    let device_id = done.device_id.clone();
    let outcome = state
        .store
        .complete_pairing(&id, done, subscription, unix_now())
        .await?;
    match outcome {
        Completion::Done => {
            state
                .pairings_changed
                .send_modify(|n| *n = n.wrapping_add(1));
            log(&format!(
                "event=pairing_completed host={host:?} device={device_id}"
            ));
            // `host`: the name the pairing's host was added with, for the page to show.
            Ok(json_status(
                StatusCode::CREATED,
                json!({ "device_id": device_id, "host": host }),
            ))
        }
        Completion::Unknown => Err(ApiError::not_found("pairing")),
        Completion::AlreadyCompleted => {
            Err(ApiError::conflict("this pairing is completed already"))
        }
        Completion::TooManyDevices => {
            log(&format!(
                "event=refused reason=host_quota host={host:?} quota=devices_per_user"
            ));
            Err(ApiError::conflict(
                "this user has as many paired devices as allowed; remove one first",
            ))
        }
        Completion::HostDevicesFull => {
            log(&format!(
                "event=refused reason=host_quota host={host:?} quota=devices_per_host"
            ));
            Err(ApiError::conflict(
                "this host has as many paired devices as allowed; remove some first",
            ))
        }
    }
}

/// Whether `mac` (b64u) is `HMAC-SHA256(key, "twofold-pairing-completion-v1\n{id}\n{body_sha256}")`,
/// compared in constant time. No key (a pairing from before keys existed): never.
fn completion_mac_ok(key: Option<&[u8]>, id: &str, body: &[u8], mac: Option<&str>) -> bool {
    use hmac::{Hmac, KeyInit, Mac};
    let (Some(key), Some(mac)) = (key, mac) else {
        return false;
    };
    let Ok(mac) = b64u::decode(mac) else {
        return false;
    };
    let Ok(mut expected) = <Hmac<sha2::Sha256> as KeyInit>::new_from_slice(key) else {
        return false;
    };
    let message = format!(
        "twofold-pairing-completion-v1\n{id}\n{}",
        crate::auth::body_hash(body)
    );
    expected.update(message.as_bytes());
    expected.verify_slice(&mac).is_ok()
}
