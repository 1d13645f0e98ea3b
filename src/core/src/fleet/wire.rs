//! The fleet endpoints' bodies as the wire contract fixes them (docs/fleet.md): what a host
//! sends and what the service answers. Steps and code ids, never codes.
#![forbid(unsafe_code)]

use super::envelope::SealedRecord;
use serde::{Deserialize, Serialize};

/// The fleet-wide sign-in state of one user, as the service keeps it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    #[serde(default)]
    pub last_step: u64,
    #[serde(default)]
    pub failures: u32,
    #[serde(default)]
    pub locked_until: u64,
    #[serde(default)]
    pub used_recovery: Vec<String>,
}

/// `GET /v1/fleet/users/{user}?have=N`.
#[derive(Debug, Clone, Deserialize)]
pub struct UserView {
    pub version: u64,
    pub record: Option<SealedRecord>,
    #[serde(default)]
    pub claims: Claims,
}

/// One line of `GET /v1/fleet/users`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ListedUser {
    pub user: String,
    pub version: u64,
    #[serde(default)]
    pub key_id: String,
    #[serde(default)]
    pub updated_at: u64,
    #[serde(default)]
    pub failures: u32,
    #[serde(default)]
    pub locked_until: u64,
    /// The version is a sealed deletion (the host that sealed it says so; only for listing).
    #[serde(default)]
    pub deleted: bool,
}

/// What a sign-in claims (`POST /v1/fleet/users/{user}/claims`): steps and code ids, never codes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Claim {
    Totp {
        step: u64,
    },
    Recovery {
        code_id: String,
    },
    Failure {
        lock_after: u32,
        lock_seconds: u64,
        now: u64,
    },
    Success,
}

/// The service's answer to a claim.
#[derive(Debug, Clone, Deserialize)]
pub struct ClaimAnswer {
    pub accepted: bool,
    #[serde(default)]
    pub reason: Option<String>,
    #[serde(default)]
    pub claims: Option<Claims>,
}

/// A use made while no service answered, reported later (`POST /v1/fleet/reports`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Use {
    pub user: String,
    /// `totp` or `recovery`.
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code_id: Option<String>,
    pub at: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claims_name_steps_and_code_ids_as_the_contract_says() {
        let json = |c: &Claim| serde_json::to_value(c).unwrap();
        assert_eq!(
            json(&Claim::Totp { step: 7 }),
            serde_json::json!({"kind": "totp", "step": 7})
        );
        assert_eq!(
            json(&Claim::Recovery {
                code_id: "ab".into()
            }),
            serde_json::json!({"kind": "recovery", "code_id": "ab"})
        );
        assert_eq!(
            json(&Claim::Failure {
                lock_after: 5,
                lock_seconds: 60,
                now: 9
            }),
            serde_json::json!({"kind": "failure", "lock_after": 5, "lock_seconds": 60, "now": 9})
        );
        assert_eq!(
            json(&Claim::Success),
            serde_json::json!({"kind": "success"})
        );
    }
}
