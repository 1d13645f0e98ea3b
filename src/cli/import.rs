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
use twofold_core::messages::Texts;
use twofold_core::username::UserName;

pub fn run(
    config: &Config,
    user: &UserName,
    file: Option<PathBuf>,
    force: bool,
    clock: &dyn Clock,
) -> CliResult {
    let t = super::language::texts(config);
    let u = ("user", user.as_str());
    let path = match file {
        Some(path) => path,
        None => home_of(user)?.join(".google_authenticator"),
    };
    let (bytes, mode) = read_limited(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    if mode & 0o077 != 0 {
        let (file, mode) = (path.display().to_string(), format!("{mode:04o}"));
        let warning = t.fill("cli.import_readable", &[("file", &file), ("mode", &mode)]);
        if !force {
            return Err(t.fill("cli.import_refused", &[("warning", &warning), u]));
        }
        eprintln!("{}", t.fill("cli.import_forced", &[("warning", &warning)]));
    }
    let ga = google_authenticator::parse(&bytes).map_err(|e| format!("{}: {e}", path.display()))?;
    let store = open_store(config)?;
    if store
        .load_record(user)
        .map_err(|e| e.to_string())?
        .is_some()
    {
        return Err(t.fill("cli.import_enrolled", &[u]));
    }
    let secret =
        normalize_base32(&ga.secret_base32).ok_or("the file's secret is not valid base32")?;
    let wanted = ga.skew_steps();
    let skew = u8::try_from(wanted.min(u32::from(MAX_SKEW))).unwrap_or(MAX_SKEW);
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
    if let Err(e) = enrollment::save(&store, user, &pending, None) {
        return Err(super::enroll::save_failed(&store, user, &pending, &e));
    }
    let file = path.display().to_string();
    println!("{}", t.fill("cli.import_done", &[("file", &file), u]));
    let (period, codes) = (
        ga.step_seconds().to_string(),
        ga.scratch_codes.len().to_string(),
    );
    println!(
        "{}",
        t.fill_count(
            "cli.import_period",
            ga.scratch_codes.len() as u64,
            &[("period", &period), ("codes", &codes)]
        )
    );
    println!(
        "  {}",
        window_note(ga.window_size, wanted, skew, ga.step_seconds(), t)
    );
    if ga.rate_limit.is_some() {
        println!("{}", t.get("cli.import_rate_limit"));
    }
    if !ga.disallow_reuse {
        println!("{}", t.get("cli.import_reuse"));
    }
    if ga.time_skew.is_some_and(|s| s != 0) {
        println!("{}", t.get("cli.import_time_skew"));
    }
    println!("{}", t.get("cli.import_old_file"));
    Ok(ExitCode::SUCCESS)
}

/// The project's largest skew (`[totp] skew` and a record's own: 0-10 steps).
const MAX_SKEW: u8 = 10;

/// What the file's WINDOW_SIZE became: n codes in all is floor((n-1)/2) steps either side of
/// now, capped at twofold's maximum.
fn window_note(window: Option<u32>, wanted: u32, skew: u8, period: u32, t: Texts) -> String {
    let from = match window {
        Some(n) => t.fill_count("cli.import_window", n.into(), &[("n", &n.to_string())]),
        None => t.get("cli.import_no_window").to_string(),
    };
    let capped = wanted > u32::from(skew);
    let steps = u64::from(skew);
    let seconds = (u32::from(skew) * period).to_string();
    let (skew, wanted, max) = (skew.to_string(), wanted.to_string(), MAX_SKEW.to_string());
    let values = [
        ("from", from.as_str()),
        ("skew", skew.as_str()),
        ("seconds", seconds.as_str()),
        ("wanted", wanted.as_str()),
        ("max", max.as_str()),
    ];
    match capped {
        true => t.fill("cli.import_skew_capped", &values),
        false => t.fill_count("cli.import_skew", steps, &values),
    }
}

/// Reads a file without following a symlink, without blocking (a FIFO or device is refused,
/// never opened for reading) and without reading more than the parser accepts; returns the
/// contents and the file's mode.
fn read_limited(path: &Path) -> std::io::Result<(Vec<u8>, u32)> {
    use std::os::unix::fs::MetadataExt;
    let flags = rustix::fs::OFlags::NOFOLLOW | rustix::fs::OFlags::NONBLOCK;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(flags.bits() as i32)
        .open(path)
        .map_err(|e| match e.raw_os_error() {
            Some(40) => std::io::Error::other("is a symbolic link; give the file itself"),
            _ => e,
        })?;
    let meta = file.metadata()?;
    if !meta.file_type().is_file() {
        return Err(std::io::Error::other(
            "not a regular file (a FIFO, device or directory); refused",
        ));
    }
    let mut bytes = Vec::new();
    file.take(MAX_FILE_SIZE as u64 + 1)
        .read_to_end(&mut bytes)?;
    Ok((bytes, meta.mode() & 0o7777))
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
