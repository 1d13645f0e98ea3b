//! Making a user's record: a fresh (or given) key, recovery codes, and saving it only once
//! the user proved their app shows the right code.
#![forbid(unsafe_code)]

use crate::clock::Clock;
use crate::config::Config;
use crate::factor::recovery::{self, RecoveryHash};
use crate::factor::totp::{Algorithm, TotpParams, generate_secret};
use crate::secret::SecretString;
use crate::store::record::RECORD_VERSION;
use crate::store::{StoreError, UserRecord, UserStore};
use crate::username::UserName;

/// Choices an administrator may make at enrollment; `None` means the configuration's value.
#[derive(Debug, Default, Clone)]
pub struct EnrollOptions {
    pub secret: Option<SecretString>,
    pub algorithm: Option<Algorithm>,
    pub digits: Option<u8>,
    pub period: Option<u32>,
    /// Per-user skew (from an imported file); `None` follows the configuration.
    pub skew: Option<u8>,
}

/// A record not yet saved, with the recovery codes to show once and their hashes to store.
pub struct Pending {
    pub record: UserRecord,
    pub recovery_codes: Vec<SecretString>,
    pub recovery_hashes: Vec<RecoveryHash>,
}

/// Why an enrollment could not be made.
#[derive(Debug, thiserror::Error)]
pub enum EnrollError {
    #[error("{0}")]
    Invalid(String),
    #[error("no randomness from the operating system: {0}")]
    Random(#[from] getrandom::Error),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Builds a new record from the options and configuration.
pub fn prepare(
    config: &Config,
    opts: EnrollOptions,
    clock: &dyn Clock,
) -> Result<Pending, EnrollError> {
    let algorithm = opts.algorithm.unwrap_or_else(|| config.algorithm());
    let secret = match opts.secret {
        Some(secret) => secret,
        None => generate_secret(algorithm)?,
    };
    let totp = TotpParams {
        secret,
        algorithm,
        digits: opts.digits.unwrap_or(config.totp.digits),
        period: opts.period.unwrap_or(config.totp.period),
        skew: opts.skew,
    };
    totp.validate().map_err(EnrollError::Invalid)?;
    let (recovery_codes, hashes) = recovery::generate(config.recovery.count)?;
    let id: [u8; 8] = crate::secret::random_bytes()?;
    let record = UserRecord {
        version: RECORD_VERSION,
        created: clock.now(),
        id: crate::encoding::hex(&id),
        confirmed_step: 0,
        totp,
        devices: Vec::new(),
        phone: None,
        default_method: None,
        recovery: None,
        language: None,
        recovery_deferred: false,
    };
    Ok(Pending {
        record,
        recovery_codes,
        recovery_hashes: hashes,
    })
}

/// Checks a code typed during enrollment against the new key; returns its time step.
pub fn confirm(pending: &Pending, code: &str, config: &Config, clock: &dyn Clock) -> Option<u64> {
    let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    pending
        .record
        .totp
        .matching_step(&code, clock.now(), config.totp.skew)
}

/// The record as committed: the recovery hashes and the confirmed step go inside it, so one
/// rename switches from the old enrollment to the new one.
pub fn committed(pending: &Pending, confirmed_step: Option<u64>) -> UserRecord {
    UserRecord {
        confirmed_step: confirmed_step.unwrap_or(0),
        recovery: Some(pending.recovery_hashes.clone()),
        ..pending.record.clone()
    }
}

/// Saves the enrollment: one file, one rename (the commit). The state and guard files of an
/// earlier enrollment carry its id and are read as fresh from then on; the confirmed code's
/// step is in the record, so that code cannot be used again at the next sign-in.
pub fn save(
    store: &UserStore,
    user: &UserName,
    pending: &Pending,
    confirmed_step: Option<u64>,
) -> Result<(), StoreError> {
    let lock = store.lock(user)?;
    store.prepare_user_files(user, &lock)?;
    store.save_record(user, &lock, &committed(pending, confirmed_step))?;
    store.forget_legacy_recovery(user);
    Ok(())
}

/// Like [`save`] for a confirmed enrollment at sign-in, but never replaces a record another
/// sign-in saved meanwhile; returns false in that case.
pub fn save_new(
    store: &UserStore,
    user: &UserName,
    pending: &Pending,
    confirmed_step: u64,
) -> Result<bool, StoreError> {
    let lock = store.lock(user)?;
    if store.load_record(user)?.is_some() {
        return Ok(false);
    }
    store.prepare_user_files(user, &lock)?;
    store.save_record(user, &lock, &committed(pending, Some(confirmed_step)))?;
    store.forget_legacy_recovery(user);
    Ok(true)
}

/// Which enrollment is in force after a failed save, for an honest message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InForce {
    /// The new one (the rename happened; only a later sync failed).
    New,
    /// The one before (or none, if the user was not enrolled).
    Old,
    /// The record cannot be read back.
    Unknown,
}

/// Reads the record back and says whether `pending` is the enrollment now in force.
pub fn in_force(store: &UserStore, user: &UserName, pending: &Pending) -> InForce {
    match store.load_record(user) {
        Ok(Some(record)) if record.id == pending.record.id => InForce::New,
        Ok(_) => InForce::Old,
        Err(_) => InForce::Unknown,
    }
}
