//! The service's endpoints as typed calls (docs/push-protocol.md, "Endpoints"): what a host
//! asks for, and what the built-in test device uses.
#![forbid(unsafe_code)]

use super::client::{Client, HttpError, Response};
use super::protocol::{Challenge, SignedDecision};
use super::token::{TokenError, read_host_token};
use crate::push::config::{PushConfig, check_url};
use serde::{Deserialize, Serialize};
use std::time::{Duration, Instant};

/// Longest long-poll the service allows (seconds).
pub const MAX_WAIT: u64 = 60;

/// Why a call did not give the expected answer.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// Not reachable in time (refused, timed out, TLS, garbage).
    #[error("service unreachable: {0}")]
    Unreachable(#[from] HttpError),
    /// 401/403: the host token was not accepted.
    #[error("host token refused (HTTP {0})")]
    Unauthorized(u16),
    /// 409: already pending / already done.
    #[error("conflict (HTTP 409)")]
    Conflict,
    /// 404: unknown or expired.
    #[error("not found (HTTP 404)")]
    NotFound,
    /// Anything else.
    #[error("unexpected answer: HTTP {0}")]
    Status(u16),
    /// The body is not what the protocol says.
    #[error("unexpected answer: {0}")]
    Body(String),
}

/// `POST /v1/pairings` → `{pairing_id, expires}`.
#[derive(Debug, Clone, Deserialize)]
pub struct NewPairing {
    pub pairing_id: String,
    pub expires: u64,
}

/// A completed pairing as the host sees it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CompletedPairing {
    pub device_id: String,
    pub public_key: String,
    pub proof: String,
    #[serde(default)]
    pub device_name: String,
}

#[derive(Deserialize)]
struct PairingStatus {
    status: String,
    #[serde(flatten)]
    complete: Option<CompletedPairing>,
}

#[derive(Serialize)]
struct ChallengeBody<'a> {
    #[serde(flatten)]
    challenge: &'a Challenge,
    device_ids: &'a [String],
}

fn json<T: for<'de> Deserialize<'de>>(r: &Response) -> Result<T, ServiceError> {
    serde_json::from_slice(&r.body).map_err(|e| ServiceError::Body(e.to_string()))
}

fn accept(r: Response, ok: &[u16]) -> Result<Response, ServiceError> {
    match r.status {
        s if ok.contains(&s) => Ok(r),
        401 | 403 => Err(ServiceError::Unauthorized(r.status)),
        404 => Err(ServiceError::NotFound),
        409 => Err(ServiceError::Conflict),
        s => Err(ServiceError::Status(s)),
    }
}

/// What the host made of a decision, for the phone that gave it (`POST
/// /v1/challenges/{id}/verdict`): display-only, never a number or a secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VerdictReport {
    /// `approved`, `denied`, `reported`, `number_mismatch`, `late` or `invalid`.
    pub outcome: &'static str,
    /// For `reported`: whether `[alerts]` told someone.
    pub alerted: bool,
    /// When push is paused for the user after this (0: not paused).
    pub paused_until: u64,
}

impl VerdictReport {
    /// The verdict's word for the phone.
    pub fn of(verdict: &super::verify::PushVerdict) -> VerdictReport {
        use super::verify::{Invalid, PushVerdict};
        let outcome = match verdict {
            PushVerdict::Approved => "approved",
            PushVerdict::Denied => "denied",
            PushVerdict::Reported => "reported",
            PushVerdict::Invalid(Invalid::NumberMismatch) => "number_mismatch",
            PushVerdict::Invalid(Invalid::Expired | Invalid::OutsideWindow) => "late",
            PushVerdict::Invalid(_) => "invalid",
        };
        VerdictReport {
            outcome,
            alerted: false,
            paused_until: 0,
        }
    }
}

/// Why this host cannot talk to its service: `[push]` or the host token.
#[derive(Debug, thiserror::Error)]
pub enum HostServiceError {
    #[error("push approval is not configured: set [push] url in the configuration (see README)")]
    NotConfigured,
    #[error("[push] url: {0}")]
    Url(String),
    #[error(transparent)]
    Token(#[from] TokenError),
}

/// A host's (or a device's) view of the service.
pub struct Service {
    client: Client,
}

impl Service {
    pub fn new(client: Client) -> Self {
        Service { client }
    }

    /// The service as this host reaches it (`[push]`), authenticated with the host token.
    pub fn for_host(push: &PushConfig) -> Result<Self, HostServiceError> {
        let url = push.url.as_deref().ok_or(HostServiceError::NotConfigured)?;
        let endpoint = check_url(url).map_err(HostServiceError::Url)?;
        let token = read_host_token(&push.host_token_file)?;
        let timeout = Duration::from_millis(push.connect_timeout_ms);
        let client = Client::new(endpoint, Some(token), timeout).with_ca_file(push.ca_file.clone());
        Ok(Service::new(client))
    }

    /// A call's deadline: connecting, plus as long again for the answer, plus the long-poll.
    fn deadline(&self, wait: u64) -> Instant {
        Instant::now() + 2 * self.client.connect_timeout() + Duration::from_secs(wait)
    }

    fn call(
        &self,
        method: &str,
        path: &str,
        body: Option<Vec<u8>>,
        headers: &[(&str, &str)],
        wait: u64,
    ) -> Result<Response, ServiceError> {
        let deadline = self.deadline(wait);
        Ok(self
            .client
            .request(method, path, body.as_deref(), headers, deadline)?)
    }

    /// `POST /v1/challenges`: 201, or Conflict when one is already pending for the user.
    pub fn create_challenge(
        &self,
        challenge: &Challenge,
        device_ids: &[String],
    ) -> Result<(), ServiceError> {
        let body = serde_json::to_vec(&ChallengeBody {
            challenge,
            device_ids,
        })
        .map_err(|e| ServiceError::Body(e.to_string()))?;
        let r = self.call("POST", "/v1/challenges", Some(body), &[], 0)?;
        accept(r, &[200, 201]).map(|_| ())
    }

    /// `GET /v1/challenges/{id}/decision?wait=S`: the decision, or None when none came in time.
    pub fn wait_decision(
        &self,
        id: &str,
        wait: u64,
    ) -> Result<Option<SignedDecision>, ServiceError> {
        let wait = wait.min(MAX_WAIT);
        let path = format!("/v1/challenges/{id}/decision?wait={wait}");
        let r = accept(self.call("GET", &path, None, &[], wait)?, &[200, 204])?;
        if r.status == 204 {
            return Ok(None);
        }
        json(&r).map(Some)
    }

    /// `POST /v1/challenges/{id}/verdict`: tells the phone how the host decided. Display-only;
    /// the caller treats a failure as a log line, never as a change of the sign-in.
    pub fn post_verdict(&self, id: &str, verdict: &VerdictReport) -> Result<(), ServiceError> {
        let body = serde_json::to_vec(verdict).map_err(|e| ServiceError::Body(e.to_string()))?;
        let path = format!("/v1/challenges/{id}/verdict");
        accept(
            self.call("POST", &path, Some(body), &[], 0)?,
            &[200, 201, 204],
        )
        .map(|_| ())
    }

    /// `DELETE /v1/challenges/{id}`: withdraws a challenge nobody waits for any more.
    pub fn withdraw_challenge(&self, id: &str) -> Result<(), ServiceError> {
        let r = self.call("DELETE", &format!("/v1/challenges/{id}"), None, &[], 0)?;
        accept(r, &[200, 202, 204]).map(|_| ())
    }

    /// `POST /v1/pairings` with the key the service checks the phone's completion with.
    pub fn create_pairing(
        &self,
        user: &str,
        completion_key: &str,
    ) -> Result<NewPairing, ServiceError> {
        let body = serde_json::to_vec(
            &serde_json::json!({ "user": user, "completion_key": completion_key }),
        )
        .map_err(|e| ServiceError::Body(e.to_string()))?;
        let r = accept(
            self.call("POST", "/v1/pairings", Some(body), &[], 0)?,
            &[200, 201],
        )?;
        json(&r)
    }

    /// `GET /v1/pairings/{id}?wait=S`: the completed pairing, or None while pending.
    pub fn wait_pairing(
        &self,
        id: &str,
        wait: u64,
    ) -> Result<Option<CompletedPairing>, ServiceError> {
        let wait = wait.min(MAX_WAIT);
        let path = format!("/v1/pairings/{id}?wait={wait}");
        let r = accept(self.call("GET", &path, None, &[], wait)?, &[200])?;
        let status: PairingStatus = json(&r)?;
        match (status.status.as_str(), status.complete) {
            ("complete", Some(done)) => Ok(Some(done)),
            ("complete", None) => Err(ServiceError::Body("complete without a device".into())),
            _ => Ok(None),
        }
    }

    /// `DELETE /v1/devices/{id}`.
    pub fn delete_device(&self, id: &str) -> Result<(), ServiceError> {
        let r = self.call("DELETE", &format!("/v1/devices/{id}"), None, &[], 0)?;
        accept(r, &[200, 204]).map(|_| ())
    }

    /// Device side, `POST /v1/pairings/{id}/complete` → the new device id. `mac` makes the
    /// `X-Twofold-Pairing-Mac` header from the exact body.
    pub fn complete_pairing(
        &self,
        pairing_id: &str,
        public_key: &str,
        proof: &str,
        device_name: &str,
        mac: &dyn Fn(&[u8]) -> String,
    ) -> Result<String, ServiceError> {
        let body = serde_json::to_vec(&serde_json::json!({
            "public_key": public_key, "proof": proof, "device_name": device_name,
        }))
        .map_err(|e| ServiceError::Body(e.to_string()))?;
        let path = format!("/v1/pairings/{pairing_id}/complete");
        let mac = mac(&body);
        let headers = [("X-Twofold-Pairing-Mac", mac.as_str())];
        let r = accept(
            self.call("POST", &path, Some(body), &headers, 0)?,
            &[200, 201],
        )?;
        #[derive(Deserialize)]
        struct Done {
            device_id: String,
        }
        json::<Done>(&r).map(|d| d.device_id)
    }

    /// Device side, `GET /v1/devices/{id}/pending` with the device's signed headers (over an
    /// empty body).
    pub fn pending(
        &self,
        device_id: &str,
        headers: &[(&str, &str)],
    ) -> Result<Vec<Challenge>, ServiceError> {
        let path = format!("/v1/devices/{device_id}/pending");
        let r = accept(self.call("GET", &path, None, headers, 0)?, &[200])?;
        json(&r)
    }

    /// Device side, `POST /v1/challenges/{id}/decision`.
    pub fn post_decision(
        &self,
        challenge_id: &str,
        decision: &SignedDecision,
    ) -> Result<(), ServiceError> {
        let body = serde_json::to_vec(decision).map_err(|e| ServiceError::Body(e.to_string()))?;
        let path = format!("/v1/challenges/{challenge_id}/decision");
        accept(
            self.call("POST", &path, Some(body), &[], 0)?,
            &[200, 202, 204],
        )
        .map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::push::verify::{Invalid, PushVerdict};

    #[test]
    fn a_verdict_names_the_outcome_and_carries_no_number() {
        let cases = [
            (PushVerdict::Approved, "approved"),
            (PushVerdict::Denied, "denied"),
            (PushVerdict::Reported, "reported"),
            (
                PushVerdict::Invalid(Invalid::NumberMismatch),
                "number_mismatch",
            ),
            (PushVerdict::Invalid(Invalid::Expired), "late"),
            (PushVerdict::Invalid(Invalid::OutsideWindow), "late"),
            (PushVerdict::Invalid(Invalid::BadSignature), "invalid"),
        ];
        for (verdict, outcome) in cases {
            let report = VerdictReport::of(&verdict);
            assert_eq!(report.outcome, outcome);
            let json = serde_json::to_value(&report).unwrap();
            let mut keys: Vec<_> = json.as_object().unwrap().keys().cloned().collect();
            keys.sort();
            assert_eq!(keys, ["alerted", "outcome", "paused_until"], "{json}");
        }
    }
}
