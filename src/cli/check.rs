//! `twofold check-config`: the configuration file (every mistake at once, with file, key and
//! reason), the state directory and host token, and, as root or with `--installation`, what
//! matters before reloading sshd: the module file, the PAM files that name it (and any that
//! names it twice), whether root and the invoking administrator are enrolled, whether the
//! approval service answers.
#![forbid(unsafe_code)]

use super::CliResult;
use std::collections::BTreeMap;
use std::net::{TcpStream, ToSocketAddrs};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;
use twofold_core::config::{Config, Unenrolled};
use twofold_core::store::UserStore;
use twofold_core::store::file::{Dir, Policy};
use twofold_core::username::UserName;

/// The module's file name in a security directory.
const MODULE_FILE: &str = "pam_twofold.so";
/// The object beside it through which the module sends requests and runs programs.
const OUTSIDE_FILE: &str = "pam_twofold_outside.so";
/// Where PAM looks for modules on Debian/Ubuntu (multiarch), older layouts, and RHEL/SUSE.
const MODULE_DIRS: &[&str] = &[
    "/usr/lib/x86_64-linux-gnu/security",
    "/lib/x86_64-linux-gnu/security",
    "/usr/lib/aarch64-linux-gnu/security",
    "/lib/aarch64-linux-gnu/security",
    "/usr/lib64/security",
    "/lib64/security",
    "/usr/lib/security",
    "/lib/security",
];
/// How long `[push] url` may take to accept a connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// Where the installation checks look (overridable, so tests never read the host's files).
pub struct Installation {
    /// Check it at all: as root on the default configuration, or `--installation`.
    pub check: bool,
    pub pam_dir: PathBuf,
    pub module_dirs: Vec<PathBuf>,
}

/// What the checks found: lines for stdout, problems for stderr.
#[derive(Default)]
struct Report {
    problems: usize,
}

impl Report {
    fn ok(&self, line: &str) {
        println!("{line}");
    }
    fn warn(&self, line: &str) {
        println!("warning: {line}");
    }
    fn problem(&mut self, line: &str) {
        eprintln!("{line}");
        self.problems += 1;
    }
}

/// Validates the configuration (and, when asked, the installation); non-zero exit on any problem.
pub fn check_config(path: &Path, explicit: bool, installation: &Installation) -> CliResult {
    let mut report = Report::default();
    let config = match Config::load(path, explicit) {
        Ok(config) => Some(config),
        Err(errors) => {
            for e in &errors {
                report.problem(&e.to_string());
            }
            None
        }
    };
    if let Some(config) = &config {
        check_files(path, config, &mut report);
    }
    if installation.check {
        check_installation(config.as_ref(), installation, &mut report);
    }
    if report.problems > 0 {
        return Ok(ExitCode::FAILURE);
    }
    println!("{}: OK", path.display());
    Ok(ExitCode::SUCCESS)
}

/// The parts of the configuration that name files: `[serve]`, the state directory, the token.
fn check_files(path: &Path, config: &Config, report: &mut Report) {
    if !path.exists() {
        report.ok(&format!(
            "{}: not present; built-in defaults apply",
            path.display()
        ));
    }
    if let Err(errors) = config.serve_config(path) {
        for e in &errors {
            report.problem(&e.to_string());
        }
    }
    match Dir::open(&config.state_dir, Policy::secrets()) {
        Ok(_) => {}
        Err(e) if e.is_not_found() => report.ok(&format!(
            "{}: state_dir: does not exist yet; `twofold enroll` creates it",
            path.display()
        )),
        Err(e) => report.problem(&format!("{}: state_dir: {e}", path.display())),
    }
    let shared = twofold_core::store::placement::shares_file_system_with(
        &config.state_dir,
        &twofold_core::store::placement::USER_WRITABLE,
    );
    for place in shared {
        report.ok(&format!(
            "{}: state_dir: warning: on the same file system as {}, which unprivileged users can fill; a full disk refuses sign-ins (see README, \"When the disk is full or read-only\")",
            path.display(),
            place.display()
        ));
    }
    if config.push.enabled()
        && let Err(e) = twofold_core::push::token::read_host_token(&config.push.host_token_file)
    {
        report.problem(&format!("{}: push.host_token_file: {e}", path.display()));
    }
    for (key, problem) in twofold_core::sms::file_problems(&config.sms) {
        report.problem(&format!("{}: {key}: {problem}", path.display()));
    }
    if config.fleet.enabled() {
        match twofold_core::fleet::host::read_keys(&config.fleet.key_file) {
            Ok(keys) => {
                let ids: Vec<&str> = keys.iter().map(|k| k.id()).collect();
                report.ok(&format!(
                    "{}: fleet.key_file: fleet key {}",
                    path.display(),
                    ids.join(", ")
                ));
            }
            Err(e) => report.problem(&format!("{}: fleet.key_file: {e}", path.display())),
        }
    }
}

fn check_installation(config: Option<&Config>, inst: &Installation, report: &mut Report) {
    // What is missing matters only where PAM would use it: otherwise it is a warning.
    let named = check_pam_files(&inst.pam_dir, report);
    let module = check_module(inst, named, report);
    let Some(config) = config else {
        return;
    };
    if let Some(module) = module.filter(|_| config.reaches_outside()) {
        let outside = module.with_file_name(OUTSIDE_FILE);
        if outside.is_file() {
            report.ok(&format!("module: {}", outside.display()));
        } else {
            let text = format!(
                "module: no {} beside {}: the module cannot reach [push], [fleet] or [sms] services or run the [alerts] command (they fail as if down)",
                OUTSIDE_FILE,
                module.display()
            );
            if named {
                report.problem(&text);
            } else {
                report.warn(&text);
            }
        }
    }
    check_enrolled(config, named, report);
    if config.push.enabled() {
        check_token_mode(&config.push.host_token_file, report);
        if let Some(url) = &config.push.url {
            check_answers(url, report);
        }
    }
}

/// Reports where the module is; returns its path.
fn check_module(inst: &Installation, named: bool, report: &mut Report) -> Option<PathBuf> {
    let found: Vec<PathBuf> = inst
        .module_dirs
        .iter()
        .map(|d| d.join(MODULE_FILE))
        .filter(|p| p.is_file())
        .collect();
    match found.first() {
        Some(file) => {
            report.ok(&format!("module: {}", file.display()));
            Some(file.clone())
        }
        None => {
            let dirs: Vec<String> = inst
                .module_dirs
                .iter()
                .map(|d| d.display().to_string())
                .collect();
            let text = format!(
                "module: {MODULE_FILE} is in none of {}: every PAM line naming it fails",
                dirs.join(", ")
            );
            if named {
                report.problem(&text);
            } else {
                report.warn(&text);
            }
            None
        }
    }
}

/// One line of a PAM file that names the module: where it is and what it is for.
struct Naming {
    /// `file:line`, with the including file first when it came in through an include.
    at: String,
    kind: String,
}

/// Whether any file names the module.
fn check_pam_files(dir: &Path, report: &mut Report) -> bool {
    let mut files: Vec<PathBuf> = match std::fs::read_dir(dir) {
        Ok(entries) => entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.is_file())
            .collect(),
        Err(e) => {
            report.problem(&format!("{}: cannot read: {e}", dir.display()));
            return false;
        }
    };
    files.sort();
    let mut named_anywhere = false;
    for file in &files {
        let Some(name) = file.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        let namings = namings(dir, name, 0);
        if namings.is_empty() {
            continue;
        }
        named_anywhere = true;
        let mut by_kind: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for n in &namings {
            by_kind.entry(&n.kind).or_default().push(&n.at);
        }
        for (kind, places) in by_kind {
            if places.len() > 1 {
                report.problem(&format!(
                    "{}: names pam_twofold {} times for {kind} ({}): users are asked for a code more than once",
                    file.display(),
                    places.len(),
                    places.join(", ")
                ));
            } else {
                report.ok(&format!(
                    "{}: {kind} uses pam_twofold ({})",
                    file.display(),
                    places[0]
                ));
            }
        }
    }
    if !named_anywhere {
        report.warn(&format!(
            "no file in {} names pam_twofold: no service asks for the second factor",
            dir.display()
        ));
    }
    named_anywhere
}

/// The lines naming pam_twofold in `name` and the files it includes (depth-limited).
fn namings(dir: &Path, name: &str, depth: usize) -> Vec<Naming> {
    if depth > 8 || name.contains('/') {
        return Vec::new();
    }
    let Ok(text) = std::fs::read_to_string(dir.join(name)) else {
        return Vec::new();
    };
    let mut found = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("").trim();
        let words: Vec<&str> = line.split_whitespace().collect();
        let at = format!("{name}:{}", i + 1);
        match words.as_slice() {
            ["@include", included, ..] => found.extend(included_from(dir, included, depth, &at)),
            [kind, control, rest @ ..] => {
                let kind = kind.trim_start_matches('-');
                if matches!(*control, "include" | "substack") {
                    if let Some(included) = rest.first() {
                        found.extend(
                            included_from(dir, included, depth, &at)
                                .into_iter()
                                .filter(|n| n.kind == kind),
                        );
                    }
                    continue;
                }
                // The control may be a bracketed list with spaces: find the module word.
                let module = words
                    .iter()
                    .skip(1)
                    .find(|w| w.ends_with(".so") || w.contains(".so "));
                // pam_twofold.so, or the build's libpam_twofold.so named by its path.
                if module.is_some_and(|m| {
                    m.rsplit('/')
                        .next()
                        .is_some_and(|f| f.ends_with(MODULE_FILE))
                }) {
                    found.push(Naming {
                        at,
                        kind: kind.to_string(),
                    });
                }
            }
            _ => {}
        }
    }
    found
}

fn included_from(dir: &Path, included: &str, depth: usize, at: &str) -> Vec<Naming> {
    namings(dir, included, depth + 1)
        .into_iter()
        .map(|n| Naming {
            at: format!("{at} -> {}", n.at),
            kind: n.kind,
        })
        .collect()
}

/// Root, and the administrator running this through sudo: not enrolled means, with
/// `unenrolled = "refuse"`, locked out wherever the module is required.
fn check_enrolled(config: &Config, named: bool, report: &mut Report) {
    let mut users = vec!["root".to_string()];
    if let Ok(admin) = std::env::var("SUDO_USER")
        && !admin.is_empty()
        && admin != "root"
    {
        users.push(admin);
    }
    let store = UserStore::open(&config.state_dir).ok();
    for raw in users {
        let Ok(user) = UserName::parse(raw.as_bytes()) else {
            continue;
        };
        let enrolled = store
            .as_ref()
            .and_then(|s| s.load_record(&user).ok().flatten())
            .is_some();
        if enrolled {
            report.ok(&format!("{user}: enrolled"));
            continue;
        }
        match config.enrollment.unenrolled {
            Unenrolled::Refuse if !named => report.warn(&format!(
                "{user}: not enrolled; once a PAM file names pam_twofold, {user} cannot sign in there (`twofold enroll {user}` first)"
            )),
            Unenrolled::Refuse => report.problem(&format!(
                "{user}: not enrolled, and [enrollment] unenrolled = \"refuse\": {user} cannot sign in where pam_twofold is required (`twofold enroll {user}` first)"
            )),
            Unenrolled::Enroll => report.warn(&format!(
                "{user}: not enrolled; enrolls at the next sign-in ([enrollment] unenrolled = \"enroll\")"
            )),
            Unenrolled::Allow => report.warn(&format!(
                "{user}: not enrolled; signs in without a second factor ([enrollment] unenrolled = \"allow\")"
            )),
        }
    }
}

fn check_token_mode(file: &Path, report: &mut Report) {
    match std::fs::metadata(file) {
        Ok(meta) if meta.mode() & 0o077 != 0 => report.problem(&format!(
            "push.host_token_file: {} has mode {:04o}: others can act as this host (chmod 600)",
            file.display(),
            meta.mode() & 0o7777
        )),
        Ok(meta) => report.ok(&format!(
            "push.host_token_file: {} (mode {:04o})",
            file.display(),
            meta.mode() & 0o7777
        )),
        // read_host_token has said why.
        Err(_) => {}
    }
}

/// Whether `[push] url` accepts a TCP connection (a reachable service; TLS and the token are
/// checked by the first sign-in or `twofold push test`).
fn check_answers(url: &str, report: &mut Report) {
    let (default_port, rest) = if let Some(rest) = url.strip_prefix("https://") {
        (443, rest)
    } else if let Some(rest) = url.strip_prefix("http://") {
        (80, rest)
    } else {
        return;
    };
    let authority = rest.split('/').next().unwrap_or(rest);
    let target = if authority
        .rsplit_once(':')
        .is_some_and(|(_, p)| p.parse::<u16>().is_ok())
    {
        authority.to_string()
    } else {
        format!("{authority}:{default_port}")
    };
    let answered = target
        .to_socket_addrs()
        .ok()
        .into_iter()
        .flatten()
        .any(|addr| TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT).is_ok());
    if answered {
        report.ok(&format!("push.url: {url} answers"));
    } else {
        report.problem(&format!(
            "push.url: {url} does not answer: sign-ins fall back to [push] fail_mode"
        ));
    }
}

/// The module directories to look in: the given ones, else the usual ones.
pub fn module_dirs(given: Vec<PathBuf>) -> Vec<PathBuf> {
    if given.is_empty() {
        MODULE_DIRS.iter().map(PathBuf::from).collect()
    } else {
        given
    }
}
