//! A sign-in in fleet mode: the cached record brought up to date from the service before the
//! usual decision, the fleet-wide lockout merged into this host's state, and a code that is
//! right here claimed on the service (only an accepted claim is a success). With no service
//! answering, `offline` decides: the cache and this host's state, the use queued for later
//! (`cached`), or a refusal (`deny`).
#![forbid(unsafe_code)]

use super::answer::Refusal;
use super::{Decision, Run, notify};
use crate::audit::Severity;
use crate::config::{Config, Offline};
use crate::factor::Method;
use crate::fleet::host::{self, Change, SyncError};
use crate::fleet::key::FleetKey;
use crate::fleet::service::{Claim, Claims, FleetService, Use};
use crate::store::{UserState, UserStore};
use crate::username::UserName;

const OFFLINE_CHANGE: &str = "no fleet service answered, and a record changes only through it";

/// What this sign-in knows of the fleet.
pub struct FleetSignIn {
    /// The service that answered; `None`: offline, on the cache (`offline = "cached"`).
    service: Option<FleetService>,
    keys: Vec<FleetKey>,
    /// The fleet-wide claims as the service sent them.
    claims: Claims,
}

impl FleetSignIn {
    /// No service answered: this sign-in runs on the cache (`offline = "cached"`).
    pub fn is_offline(&self) -> bool {
        self.service.is_none()
    }

    /// A success without a code (push approval): the fleet-wide failure count starts again.
    /// Best effort: the sign-in stands either way.
    /// Nothing is sent when the count was 0 already (one round trip less per sign-in; a failure
    /// counted elsewhere meanwhile then stays counted, the safe side).
    pub fn succeeded(&self, user: &UserName) {
        if let Some(service) = self.service.as_ref().filter(|_| self.claims.failures > 0) {
            let _ = service.claim(user, &Claim::Success);
        }
    }

    /// The URL that answered (push uses it too), if any.
    pub fn active_url(&self) -> Option<&str> {
        self.service.as_ref().and_then(FleetService::active_url)
    }

    /// Enrollment at first sign-in: uploads the new record as the next version (compare-and-swap
    /// on "none yet", or on the sealed deletion of an earlier enrollment this sign-in verified)
    /// and caches it. `Ok(false)`: enrolled meanwhile, here or on another host.
    pub fn publish_new(
        &self,
        store: &UserStore,
        user: &UserName,
        record: &crate::store::UserRecord,
    ) -> Result<bool, String> {
        let service = self.service.as_ref().ok_or(OFFLINE_CHANGE)?;
        let lock = store.lock(user).map_err(|e| e.to_string())?;
        if store
            .load_record(user)
            .map_err(|e| e.to_string())?
            .is_some()
        {
            return Ok(false);
        }
        let seen = host::seen_version(store, user).map_err(|e| e.to_string())?;
        match host::publish(service, &self.keys, store, user, &lock, record, seen) {
            Ok(_) => Ok(true),
            Err(SyncError::Service(crate::fleet::service::FleetError::Conflict { .. })) => {
                Ok(false)
            }
            Err(e) => Err(e.to_string()),
        }
    }

    /// Uploads the cached record as changed here (a device paired), compare-and-swap on the
    /// version verified last. On failure the cache is brought back to the service's record.
    pub fn publish_cached(&self, store: &UserStore, user: &UserName) -> Result<u64, String> {
        let service = self.service.as_ref().ok_or(OFFLINE_CHANGE)?;
        let result = (|| {
            let lock = store.lock(user)?;
            let record = store.load_record(user)?.ok_or_else(|| {
                SyncError::Refused("the record disappeared during the sign-in".into())
            })?;
            let seen = store.fleet_seen(user)?.version;
            host::publish(service, &self.keys, store, user, &lock, &record, seen)
        })();
        result.map_err(|e: SyncError| {
            let _ = host::pull(service, &self.keys, store, user);
            e.to_string()
        })
    }

    /// Folds the fleet-wide claims into this host's state: a step or recovery code used on
    /// another host is used here too, a lockout anywhere is a lockout here.
    pub fn merge(&self, state: &mut UserState) {
        let c = &self.claims;
        state.last_step = state.last_step.max(c.last_step);
        state.locked_until = state.locked_until.max(c.locked_until);
        for id in &c.used_recovery {
            if !state.used_recovery.contains(id) {
                state.used_recovery.push(id.clone());
            }
        }
    }
}

/// Brings the user's record up to date; `Err` is the decision when the sign-in ends here.
pub(super) fn start(
    run: &mut Run<'_>,
    config: &Config,
    store: &UserStore,
    user: &UserName,
) -> Result<FleetSignIn, Decision> {
    let keys = host::read_keys(&config.fleet.key_file)
        .map_err(|e| Decision::unavailable("fleet_key_unusable", e))?;
    let service =
        FleetService::for_host(config).map_err(|e| Decision::unavailable("fleet_unusable", e))?;
    match host::pull(&service, &keys, store, user) {
        Ok(pulled) => {
            if matches!(pulled.change, Change::Updated | Change::Removed) {
                let change = if pulled.change == Change::Updated {
                    "updated"
                } else {
                    "removed"
                };
                let line = run
                    .line("fleet_record")
                    .kv("change", change)
                    .kv("version", &pulled.version.to_string())
                    .kv("url", service.active_url().unwrap_or_default());
                run.sink.write(Severity::Info, &line.finish());
            }
            report_queue(run, store, &service);
            Ok(FleetSignIn {
                service: Some(service),
                keys,
                claims: pulled.claims,
            })
        }
        Err(e) if e.is_offline() => match config.fleet.offline {
            Offline::Deny => {
                notify(run.conv, run.req, run.texts, run.texts.get("fleet.offline"));
                Err(Decision {
                    detail: Some(e.to_string()),
                    ..Decision::refused("fleet_offline")
                })
            }
            Offline::Cached => {
                let line = run
                    .line("fleet")
                    .kv("offline", "cached")
                    .kv("detail", &e.to_string());
                run.sink.write(Severity::Warning, &line.finish());
                Ok(FleetSignIn {
                    service: None,
                    keys,
                    claims: Claims::default(),
                })
            }
        },
        Err(e @ SyncError::Refused(_)) => Err(Decision {
            detail: Some(e.to_string()),
            alarm: true,
            ..Decision::refused("fleet_record_refused")
        }),
        Err(e) => Err(Decision::unavailable("fleet_error", e)),
    }
}

/// After this host's verdict on an answer: a right code is claimed fleet-wide (or, offline,
/// queued); a counted failure is counted fleet-wide. Returns the verdict that stands.
pub(super) fn settle(
    fleet: &FleetSignIn,
    store: &UserStore,
    user: &UserName,
    result: Result<Method, (Method, Refusal)>,
    state: &mut UserState,
    config: &Config,
    now: u64,
) -> Result<Method, (Method, Refusal)> {
    let used = match result {
        Ok(Method::Totp) => Some(("totp", Some(state.last_step), None)),
        Ok(Method::Recovery) => Some(("recovery", None, state.used_recovery.last().cloned())),
        _ => None,
    };
    let Some(service) = &fleet.service else {
        if let Some((kind, step, code_id)) = used {
            let entry = Use {
                user: user.to_string(),
                kind: kind.to_string(),
                step,
                code_id,
                at: now,
            };
            // A use that cannot be queued still stands here (this host's state has it); the
            // fleet learns of it only through the replay window (docs/fleet.md).
            if let Ok(queue) = store.lock_queue() {
                let _ = queue.push(entry);
            }
        }
        return result;
    };
    match (result, used) {
        (Ok(method), Some((_, step, code_id))) => {
            let claim = match (step, code_id) {
                (Some(step), _) => Claim::Totp { step },
                (None, Some(code_id)) => Claim::Recovery { code_id },
                (None, None) => return Err((method, Refusal::ClaimUnanswered)),
            };
            match service.claim(user, &claim) {
                Ok(answer) if answer.accepted => {
                    fleet.succeeded(user);
                    Ok(method)
                }
                // Used on another host first: not a guess, so not counted (like a replay here).
                Ok(_) => Err((method, Refusal::ReplayedCode)),
                Err(_) => Err((method, Refusal::ClaimUnanswered)),
            }
        }
        (Err((method, refusal)), _) if refusal != Refusal::ReplayedCode => {
            let claim = Claim::Failure {
                lock_after: config.rate_limit.max_failures,
                lock_seconds: config.rate_limit.lockout_seconds,
                now,
            };
            if let Ok(Some(claims)) = service.claim(user, &claim).map(|a| a.claims) {
                state.failures = state.failures.max(claims.failures);
                state.locked_until = state.locked_until.max(claims.locked_until);
            }
            Err((method, refusal))
        }
        (other, _) => other,
    }
}

/// Sends the uses made while offline, once a service answers again; kept when it fails.
fn report_queue(run: &Run<'_>, store: &UserStore, service: &FleetService) {
    let Ok(queue) = store.lock_queue() else {
        return;
    };
    let uses = match queue.uses() {
        Ok(uses) if !uses.is_empty() => uses,
        _ => return,
    };
    match service.report(&uses) {
        Ok(results) => {
            let _ = queue.write(Vec::new());
            let refused = results.iter().filter(|accepted| !**accepted).count();
            let line = run
                .line("fleet_report")
                .kv("uses", &uses.len().to_string())
                .kv("refused", &refused.to_string());
            let severity = if refused > 0 {
                Severity::Warning
            } else {
                Severity::Info
            };
            run.sink.write(severity, &line.finish());
        }
        Err(e) => {
            let line = run
                .line("fleet_report")
                .kv("result", "kept")
                .kv("detail", &e.to_string());
            run.sink.write(Severity::Warning, &line.finish());
        }
    }
}
