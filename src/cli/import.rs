//! `twofold import-google-authenticator USER [FILE]`.
#![forbid(unsafe_code)]

use super::{CliResult, open_store};
use std::io::Read;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use twofold_core::clock::Clock;
use twofold_core::config::Config;
use twofold_core::enrollment::{self, EnrollOptions};
use twofold_core::factor::recovery;
use twofold_core::factor::totp::{Algorithm, normalize_base32};
use twofold_core::import::google_authenticator::{self, MAX_FILE_SIZE};
use twofold_core::username::UserName;

pub fn run(
    config: &Config,
    user: &UserName,
    file: Option<PathBuf>,
    clock: &dyn Clock,
) -> CliResult {
    let path = match file {
        Some(path) => path,
        None => home_of(user)?.join(".google_authenticator"),
    };
    let bytes = read_limited(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let ga = google_authenticator::parse(&bytes).map_err(|e| format!("{}: {e}", path.display()))?;
    let store = open_store(config)?;
    if store
        .load_record(user)
        .map_err(|e| e.to_string())?
        .is_some()
    {
        return Err(format!(
            "{user} is already enrolled in twofold; run `twofold reset {user}` first"
        ));
    }
    let secret =
        normalize_base32(&ga.secret_base32).ok_or("the file's secret is not valid base32")?;
    let skew = u8::try_from(ga.skew_steps().min(10)).unwrap_or(10);
    let opts = EnrollOptions {
        secret: Some(secret),
        algorithm: Some(Algorithm::SHA1),
        digits: Some(6),
        period: Some(ga.step_seconds()),
        skew: Some(skew),
    };
    let mut pending = enrollment::prepare(config, opts, clock).map_err(|e| e.to_string())?;
    pending.recovery_hashes =
        recovery::hash_existing(&ga.scratch_codes).map_err(|e| e.to_string())?;
    enrollment::save(&store, user, &pending, None).map_err(|e| e.to_string())?;
    println!(
        "✓ Imported {} for {user}: the same app entry keeps working.",
        path.display()
    );
    println!(
        "  period {} s, accepted skew ±{skew} step(s), {} scratch code(s) now recovery codes (each works once).",
        ga.step_seconds(),
        ga.scratch_codes.len()
    );
    if ga.rate_limit.is_some() {
        println!("  RATE_LIMIT is replaced by twofold's [rate_limit] settings.");
    }
    if !ga.disallow_reuse {
        println!("  Note: the file allowed code reuse; twofold accepts each code only once.");
    }
    if ga.time_skew.is_some_and(|s| s != 0) {
        println!(
            "  Note: the learned clock drift (TIME_SKEW) is not carried over; if codes fail, check the phone's clock."
        );
    }
    println!(
        "  The old file was left in place; remove it once pam_google_authenticator is out of the PAM stack."
    );
    Ok(ExitCode::SUCCESS)
}

/// Reads a file without following a symlink and without reading more than the parser accepts.
fn read_limited(path: &Path) -> std::io::Result<Vec<u8>> {
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
        .open(path)?;
    let mut bytes = Vec::new();
    file.take(MAX_FILE_SIZE as u64 + 1)
        .read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// The user's home directory from /etc/passwd (directory users: give FILE explicitly).
fn home_of(user: &UserName) -> Result<PathBuf, String> {
    let passwd = std::fs::read_to_string("/etc/passwd").map_err(|e| format!("/etc/passwd: {e}"))?;
    passwd
        .lines()
        .map(|l| l.split(':').collect::<Vec<_>>())
        .find(|f| f.len() >= 7 && f[0] == user.as_str())
        .map(|f| PathBuf::from(f[5]))
        .ok_or_else(|| format!("{user} is not in /etc/passwd; give the file's path as FILE"))
}
