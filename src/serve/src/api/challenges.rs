//! Sign-in challenges: the host posts one and long-polls for the decision; a device posts the
//! decision, which the service stores (first one wins) and relays without judging it.
#![forbid(unsafe_code)]

use super::{HostAuth, JsonBody, RateLimited, Shared, json_status, wait_seconds};
use crate::challenges::{Challenge, DecideError, Decision, InsertError, Verdict, VerdictError};
use crate::error::ApiError;
use crate::pending::Waited;
use crate::wire::{NewChallenge, NewDecision, NewVerdict};
use crate::{log, unix_now};
use axum::Json;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;
use std::time::Duration;
use tokio::time::Instant;

/// `POST /v1/challenges` (host) → `201 {id, devices}`; `devices` counts the named devices this
/// service can reach (0: none of them was paired through this service).
pub async fn create(
    State(state): State<Shared>,
    HostAuth(owner): HostAuth,
    JsonBody(body): JsonBody<NewChallenge>,
) -> Result<Response, ApiError> {
    body.check(unix_now(), state.challenge_max_seconds)?;
    // In fleet mode the user's devices serve every host, whichever paired them.
    let paired_by = (!state.fleet).then_some(owner.as_str());
    let registered = state.store.devices_for(paired_by, &body.user).await?;
    let devices: Vec<_> = registered
        .into_iter()
        .filter(|d| body.device_ids.contains(&d.device_id))
        .collect();
    let challenge = Challenge {
        id: body.id,
        nonce: body.nonce,
        user: body.user,
        host: body.host,
        service: body.service,
        rhost: body.rhost,
        created: body.created,
        expires: body.expires,
        device_ids: body.device_ids,
        owner,
    };
    let refused_host = challenge.owner.clone();
    let inserted = state.challenges.insert(challenge.clone()).await?;
    let held = if matches!(inserted, Err(InsertError::Full)) {
        state.challenges.held().await.unwrap_or(0)
    } else {
        0
    };
    inserted.map_err(|e| match e {
        InsertError::UserPending => {
            ApiError::conflict("this host has a pending challenge for this user")
        }
        InsertError::DuplicateId => ApiError::conflict("a challenge with this id exists"),
        InsertError::Full => {
            log(&format!(
                "event=refused reason=service_full host={refused_host:?} held={held}"
            ));
            ApiError::full()
        }
        InsertError::HostFull => {
            log(&format!(
                "event=refused reason=host_quota host={refused_host:?} quota=max_pending_per_host"
            ));
            ApiError::host_full()
        }
    })?;
    let c = &challenge;
    log(&format!(
        "event=challenge_created host={:?} user={:?} service={:?} devices={}",
        c.owner,
        c.user,
        c.service,
        devices.len()
    ));
    let reachable = devices.len();
    state.notifier.challenge_created(&c.id, c.expires, devices);
    Ok(json_status(
        StatusCode::CREATED,
        json!({ "id": c.id, "devices": reachable }),
    ))
}

/// `GET /v1/challenges/{id}/decision?wait=S` (the host that posted it): the decision as soon as
/// it arrives; `204` when the wait ends first; `404` once the challenge expired.
pub async fn wait_for_decision(
    State(state): State<Shared>,
    HostAuth(owner): HostAuth,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let wait = wait_seconds(query.as_deref())?;
    // What the request brought is not kept while it waits.
    drop(query);
    let _slot = state.waiter_slot(&owner)?;
    let until = Instant::now() + Duration::from_secs(wait);
    match state.challenges.wait(&id, &owner, until).await? {
        Some(Waited::Decided(decision)) => Ok(Json(decision).into_response()),
        Some(Waited::TimedOut) => Ok(StatusCode::NO_CONTENT.into_response()),
        Some(Waited::Gone) | None => Err(ApiError::not_found("challenge")),
    }
}

/// `DELETE /v1/challenges/{id}` (the host that posted it): the user signed in another way, so
/// the challenge stops being pending and the phone stops showing it.
pub async fn withdraw(
    State(state): State<Shared>,
    HostAuth(owner): HostAuth,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    if state.challenges.withdraw(&id, &owner).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found("challenge"))
    }
}

/// `POST /v1/challenges/{id}/decision` (a device; not verified here, the host verifies):
/// `202`, or `409` if the challenge was decided already.
pub async fn decide(
    State(state): State<Shared>,
    RateLimited(client): RateLimited,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<NewDecision>,
) -> Result<Response, ApiError> {
    body.check()?;
    let verb = body.decision.clone();
    let device = body.device_id.clone();
    let decision = Decision {
        decision: body.decision,
        number: body.number,
        device_id: body.device_id,
        decided_at: body.decided_at,
        signature: body.signature,
    };
    // Only a decision the named device signed over this very challenge may settle it.
    let challenge = state
        .challenges
        .get(&id)
        .await?
        .ok_or_else(|| ApiError::not_found("challenge"))?;
    if !challenge.device_ids.contains(&decision.device_id) {
        return Err(ApiError::forbidden("this device was not asked"));
    }
    let row = state.store.device(&decision.device_id).await?;
    if let Err(why) = crate::decision::check(&challenge, &decision, row.as_ref(), state.fleet) {
        log(&format!(
            "event=refused reason=decision_not_verified device={device:?} client={} detail={:?}",
            client.0,
            why.to_string()
        ));
        return Err(ApiError::forbidden(
            "the decision does not verify for this challenge and device",
        ));
    }
    state
        .challenges
        .decide(&id, decision)
        .await?
        .map_err(|e| match e {
            DecideError::NotFound => ApiError::not_found("challenge"),
            DecideError::AlreadyDecided => ApiError::conflict("this challenge was decided already"),
            DecideError::NotForDevice => ApiError::forbidden("this device was not asked"),
        })?;
    // The number is never logged.
    log(&format!(
        "event=decision_relayed device={device} decision={verb}"
    ));
    Ok(json_status(StatusCode::ACCEPTED, json!({})))
}

/// `POST /v1/challenges/{id}/verdict` (the host that posted it, after it verified the
/// decision) → `204`: kept with the challenge for the phone to show. Display-only: the host
/// decided already. `404` unknown, another host's or past the grace; `409` not decided yet, or
/// a different verdict was stored (the same one again is `204`).
pub async fn verdict(
    State(state): State<Shared>,
    HostAuth(owner): HostAuth,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<NewVerdict>,
) -> Result<StatusCode, ApiError> {
    body.check()?;
    let outcome = body.outcome.clone();
    let verdict = Verdict {
        outcome: body.outcome,
        alerted: body.alerted,
        paused_until: body.paused_until,
    };
    state
        .challenges
        .set_verdict(&id, &owner, verdict)
        .await?
        .map_err(|e| match e {
            VerdictError::NotFound => ApiError::not_found("challenge"),
            VerdictError::NotDecided => ApiError::conflict("this challenge has no decision yet"),
            VerdictError::Conflict => ApiError::conflict("another verdict was given already"),
        })?;
    log(&format!("event=verdict host={owner:?} outcome={outcome}"));
    Ok(StatusCode::NO_CONTENT)
}
