//! The fleet endpoints (docs/fleet.md, "The service"): sealed user records with a
//! compare-and-swap on their version, and the claims that make a code count once fleet-wide.
//! The service stores ciphertext and step numbers and code ids; it never sees a code or a secret.
#![forbid(unsafe_code)]

use super::{HostAuth, LargeJsonBody, Shared, json_status};
use crate::error::ApiError;
use crate::store::{Claim, Claims, DeleteOutcome, PutOutcome, SealedRecord};
use crate::{log, unix_now};
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

/// Most uses one report may carry.
const MAX_REPORTED_USES: usize = 1000;

/// Longest lock a failure claim may ask for (a year).
const MAX_LOCK_SECONDS: u64 = 366 * 24 * 3600;

/// Longest key id, nonce and ciphertext (base64url) a record may have.
const MAX_KEY_ID: usize = 64;
const MAX_NONCE: usize = 64;
const MAX_CIPHERTEXT: usize = 90 * 1024;

/// `PUT /v1/fleet/users/{user}` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Upload {
    expected_version: u64,
    record: SealedRecord,
    /// The sealed record is a tombstone (a fleet-wide reset); shown by the list.
    #[serde(default)]
    deleted: bool,
}

/// `POST /v1/fleet/reports` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Report {
    uses: Vec<Use>,
}

/// A use a host made while it reached no service instance.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Use {
    user: String,
    kind: String,
    step: Option<u64>,
    code_id: Option<String>,
    #[allow(dead_code)] // kept for the wire contract; the claim needs no time
    at: u64,
}

/// 404 unless the service runs in fleet mode.
fn fleet_on(state: &Shared) -> Result<(), ApiError> {
    if state.fleet {
        Ok(())
    } else {
        Err(ApiError::fleet_disabled())
    }
}

/// A user name by twofold's rules, or 400 `bad_user` (logged).
fn checked_user(host: &str, user: &str) -> Result<(), ApiError> {
    twofold_core::username::UserName::parse(user.as_bytes())
        .map(|_| ())
        .map_err(|e| {
            log(&format!(
                "event=refused reason=bad_user host={host:?} detail={:?}",
                e.to_string()
            ));
            ApiError::bad_user()
        })
}

/// A value the database holds as a signed 64-bit number.
fn fits(value: u64, what: &str) -> Result<u64, ApiError> {
    if value > i64::MAX as u64 {
        return Err(ApiError::bad_request(format!("{what}: too large")));
    }
    Ok(value)
}

/// Base64url text of at most `max` characters.
fn checked_b64u(text: &str, max: usize, what: &str) -> Result<(), ApiError> {
    let ok = !text.is_empty()
        && text.len() <= max
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(ApiError::bad_request(format!(
            "{what}: must be 1 to {max} base64url characters"
        )))
    }
}

/// A recovery code id: 1 to 64 letters, digits, '-' or '_' (an id, never the code).
fn checked_code_id(code_id: &str) -> Result<(), ApiError> {
    checked_b64u(code_id, 64, "code_id")
}

/// A claim whose numbers fit and whose code id is well-formed.
fn checked_claim(claim: &Claim) -> Result<(), ApiError> {
    match claim {
        Claim::Totp { step } => fits(*step, "step").map(|_| ()),
        Claim::Recovery { code_id } => checked_code_id(code_id),
        Claim::Failure {
            lock_after,
            lock_seconds,
            now,
        } => {
            if *lock_after == 0 {
                return Err(ApiError::bad_request("lock_after: must be at least 1"));
            }
            if *lock_seconds > MAX_LOCK_SECONDS {
                return Err(ApiError::bad_request("lock_seconds: at most a year"));
            }
            fits(now.saturating_add(*lock_seconds), "now + lock_seconds").map(|_| ())
        }
        Claim::Success => Ok(()),
    }
}

/// `?name=N` as a number (absent: 0), read with serde_urlencoded; other parameters are ignored.
fn query_number(query: Option<&str>, name: &str) -> Result<u64, ApiError> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query.unwrap_or(""))
        .map_err(|_| ApiError::bad_request("malformed query string"))?;
    match pairs.iter().rev().find(|(key, _)| key == name) {
        Some((_, value)) => value
            .parse::<u64>()
            .map_err(|_| ApiError::bad_request(format!("{name}: must be a number"))),
        None => Ok(0),
    }
}

/// `GET /v1/fleet/users/{user}?have=N` → `{version, record, claims}`: `record` is null when
/// the host has version N already, or when there is none (version 0).
pub async fn fetch(
    State(state): State<Shared>,
    HostAuth(host): HostAuth,
    Path(user): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    fleet_on(&state)?;
    checked_user(&host, &user)?;
    let have = query_number(query.as_deref(), "have")?;
    let (record, claims) = state.store.fleet_user(&user).await?;
    let version = record.as_ref().map_or(0, |r| r.version);
    let record = record.filter(|r| r.version != have);
    Ok(json_status(
        StatusCode::OK,
        json!({ "version": version, "record": record, "claims": claims }),
    ))
}

/// `PUT /v1/fleet/users/{user}` `{expected_version: E, record}` → `200 {version: E+1}` when
/// the stored version is E; `409 {error: version_conflict, current_version}` otherwise.
pub async fn store(
    State(state): State<Shared>,
    HostAuth(host): HostAuth,
    Path(user): Path<String>,
    LargeJsonBody(body): LargeJsonBody<Upload>,
) -> Result<Response, ApiError> {
    fleet_on(&state)?;
    checked_user(&host, &user)?;
    let record = body.record;
    if record.user != user {
        return Err(ApiError::bad_version(
            "record.user is not the user in the path",
        ));
    }
    if Some(record.version) != body.expected_version.checked_add(1) {
        return Err(ApiError::bad_version(
            "record.version must be expected_version + 1",
        ));
    }
    fits(record.version, "record.version")?;
    checked_b64u(&record.key_id, MAX_KEY_ID, "record.key_id")?;
    checked_b64u(&record.nonce, MAX_NONCE, "record.nonce")?;
    checked_b64u(&record.ciphertext, MAX_CIPHERTEXT, "record.ciphertext")?;
    let key_id = record.key_id.clone();
    match state
        .store
        .fleet_put(body.expected_version, record, body.deleted, unix_now())
        .await?
    {
        PutOutcome::Stored(version) => {
            let event = match body.deleted {
                true => "fleet_record_deleted",
                false => "fleet_record_stored",
            };
            log(&format!(
                "event={event} host={host:?} user={user:?} version={version} key={key_id}"
            ));
            Ok(json_status(StatusCode::OK, json!({ "version": version })))
        }
        PutOutcome::Conflict(current) => {
            log(&format!(
                "event=fleet_version_conflict host={host:?} user={user:?} expected={} current={current}",
                body.expected_version
            ));
            Ok(version_conflict(current))
        }
    }
}

fn version_conflict(current: u64) -> Response {
    json_status(
        StatusCode::CONFLICT,
        json!({ "error": "version_conflict", "current_version": current }),
    )
}

/// `DELETE /v1/fleet/users/{user}?version=V` → `204` (record and claims gone), `409` when
/// the stored version is another, `404` when there is no record.
pub async fn remove(
    State(state): State<Shared>,
    HostAuth(host): HostAuth,
    Path(user): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    fleet_on(&state)?;
    checked_user(&host, &user)?;
    let version = fits(query_number(query.as_deref(), "version")?, "version")?;
    match state.store.fleet_delete(&user, version).await? {
        DeleteOutcome::Deleted => {
            log(&format!(
                "event=fleet_record_deleted host={host:?} user={user:?} version={version}"
            ));
            Ok(StatusCode::NO_CONTENT.into_response())
        }
        DeleteOutcome::Conflict(current) => Ok(version_conflict(current)),
        DeleteOutcome::Missing => Err(ApiError::not_found("fleet record")),
    }
}

/// `GET /v1/fleet/users` → `{users: [{user, version, key_id, updated_at, failures, locked_until,
/// deleted}]}`.
pub async fn list(
    State(state): State<Shared>,
    HostAuth(_host): HostAuth,
) -> Result<Response, ApiError> {
    fleet_on(&state)?;
    let users = state.store.fleet_users().await?;
    Ok(json_status(StatusCode::OK, json!({ "users": users })))
}

/// `POST /v1/fleet/users/{user}/claims` (one claim) → `{accepted, claims}` (with
/// `reason: replayed` when refused).
pub async fn claim(
    State(state): State<Shared>,
    HostAuth(host): HostAuth,
    Path(user): Path<String>,
    LargeJsonBody(claim): LargeJsonBody<Claim>,
) -> Result<Response, ApiError> {
    fleet_on(&state)?;
    checked_user(&host, &user)?;
    checked_claim(&claim)?;
    let kind = kind_of(&claim);
    let locking = matches!(claim, Claim::Failure { .. });
    let mut answers = state
        .store
        .fleet_claims(vec![(user.clone(), claim)])
        .await?;
    let (accepted, claims) = answers
        .pop()
        .ok_or_else(|| ApiError::internal("no answer to a claim"))?;
    if !accepted {
        log(&format!(
            "event=fleet_claim_refused host={host:?} user={user:?} kind={kind} reason=replayed"
        ));
        return Ok(claim_answer(false, &claims));
    }
    if locking && claims.locked_until > unix_now() {
        log(&format!(
            "event=fleet_locked host={host:?} user={user:?} failures={} until={}",
            claims.failures, claims.locked_until
        ));
    }
    Ok(claim_answer(true, &claims))
}

fn claim_answer(accepted: bool, claims: &Claims) -> Response {
    let body = if accepted {
        json!({ "accepted": true, "claims": claims })
    } else {
        json!({ "accepted": false, "reason": "replayed", "claims": claims })
    };
    json_status(StatusCode::OK, body)
}

fn kind_of(claim: &Claim) -> &'static str {
    match claim {
        Claim::Totp { .. } => "totp",
        Claim::Recovery { .. } => "recovery",
        Claim::Failure { .. } => "failure",
        Claim::Success => "success",
    }
}

/// `DELETE /v1/fleet/users/{user}/lock` → `204`: failures and lock cleared (`twofold unlock`).
pub async fn unlock(
    State(state): State<Shared>,
    HostAuth(host): HostAuth,
    Path(user): Path<String>,
) -> Result<StatusCode, ApiError> {
    fleet_on(&state)?;
    checked_user(&host, &user)?;
    state.store.fleet_unlock(&user).await?;
    log(&format!("event=fleet_unlocked host={host:?} user={user:?}"));
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /v1/fleet/reports` `{uses: [...]}` (at most 1000): uses a host made offline, applied
/// like claims, in order → `{results: [{accepted}]}`. A use not accepted (the code was used
/// elsewhere during the outage) is logged as `fleet_offline_replay`.
pub async fn report(
    State(state): State<Shared>,
    HostAuth(host): HostAuth,
    LargeJsonBody(body): LargeJsonBody<Report>,
) -> Result<Response, ApiError> {
    fleet_on(&state)?;
    if body.uses.len() > MAX_REPORTED_USES {
        return Err(ApiError::bad_request(format!(
            "uses: at most {MAX_REPORTED_USES}"
        )));
    }
    let mut claims = Vec::with_capacity(body.uses.len());
    for (i, u) in body.uses.into_iter().enumerate() {
        checked_user(&host, &u.user)?;
        let claim = match (u.kind.as_str(), u.step, u.code_id) {
            ("totp", Some(step), None) => Claim::Totp { step },
            ("recovery", None, Some(code_id)) => Claim::Recovery { code_id },
            _ => {
                return Err(ApiError::bad_request(format!(
                    "uses[{i}]: kind \"totp\" with a step, or \"recovery\" with a code_id"
                )));
            }
        };
        checked_claim(&claim)?;
        claims.push((u.user, claim));
    }
    let kinds: Vec<(String, &'static str)> = claims
        .iter()
        .map(|(u, c)| (u.clone(), kind_of(c)))
        .collect();
    let answers = state.store.fleet_claims(claims).await?;
    let mut results = Vec::with_capacity(answers.len());
    for ((user, kind), (accepted, _)) in kinds.iter().zip(&answers) {
        if !accepted {
            log(&format!(
                "event=fleet_offline_replay host={host:?} user={user:?} kind={kind}"
            ));
        }
        results.push(json!({ "accepted": accepted }));
    }
    log(&format!(
        "event=fleet_report host={host:?} uses={} refused={}",
        answers.len(),
        answers.iter().filter(|(a, _)| !a).count()
    ));
    Ok(json_status(StatusCode::OK, json!({ "results": results })))
}
