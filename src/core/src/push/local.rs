//! A private `twofold serve` as a child process on 127.0.0.1 (a free port): its configuration,
//! database, VAPID key and log in a directory of the caller's, one host registered with
//! `--add-host`. Used by `twofold demo`, the tests and the benchmark — one copy of "start a
//! service and learn its URL and host token". Never reached from the module's entry points.
#![forbid(unsafe_code)]

use crate::secret::SecretString;
use std::io::{BufRead, BufReader};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// What `twofold serve` prints on stdout once it accepts connections, followed by its URL.
pub const LISTENING: &str = "twofold serve: listening on ";

/// How long a starting service may take to print [`LISTENING`].
const START_TIMEOUT: Duration = Duration::from_secs(15);

/// Why the service could not be started.
#[derive(Debug, thiserror::Error)]
pub enum LocalServiceError {
    #[error("{path}: {source}")]
    File {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot run {program}: {source}")]
    Run {
        program: String,
        source: std::io::Error,
    },
    #[error("`twofold serve --add-host {name}` failed: {output}")]
    AddHost { name: String, output: String },
    #[error("twofold serve did not start: {0}")]
    NotStarted(String),
}

/// Writes `text` to a new file `path` readable and writable by the owner only (0600) — as
/// configuration files and the host token must be.
pub fn write_private(path: &Path, text: &str) -> Result<(), LocalServiceError> {
    use std::io::Write;
    let err = |source| LocalServiceError::File {
        path: path.display().to_string(),
        source,
    };
    let _ = std::fs::remove_file(path);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(err)?;
    file.write_all(text.as_bytes()).map_err(err)
}

/// Writes `dir/twofold.toml` for a service on 127.0.0.1 (port 0: the kernel picks a free one)
/// with everything else in `dir`; `serve_extra` are more `[serve]` keys (a `database` among
/// them replaces the SQLite file in `dir`).
pub fn write_config(dir: &Path, serve_extra: &str) -> Result<PathBuf, LocalServiceError> {
    let config = dir.join("twofold.toml");
    let own_database = serve_extra
        .lines()
        .any(|l| l.split('=').next().is_some_and(|k| k.trim() == "database"));
    let database = match own_database {
        true => String::new(),
        false => format!(
            "database = {:?}\n",
            dir.join("serve.db").display().to_string()
        ),
    };
    let text = format!(
        "state_dir = {:?}\n\n[serve]\nlisten = \"127.0.0.1:0\"\n{database}vapid_key_file = {:?}\n{serve_extra}\n",
        dir.join("state").display().to_string(),
        dir.join("vapid.key").display().to_string(),
    );
    write_private(&config, &text)?;
    Ok(config)
}

/// `twofold --config CONFIG serve --add-host NAME`: the host token it printed (once).
pub fn add_host(
    twofold: &Path,
    config: &Path,
    name: &str,
) -> Result<SecretString, LocalServiceError> {
    let out = Command::new(twofold)
        .arg("--config")
        .arg(config)
        .args(["serve", "--add-host", name])
        .stdin(Stdio::null())
        .output()
        .map_err(|source| LocalServiceError::Run {
            program: twofold.display().to_string(),
            source,
        })?;
    let stdout = SecretString::from_bytes(out.stdout);
    let token =
        stdout.expose().lines().map(str::trim).find(|l| {
            l.len() == 43 && super::protocol::from_b64u(l).is_some_and(|b| b.len() == 32)
        });
    match (out.status.success(), token) {
        (true, Some(token)) => Ok(SecretString::new(token.to_string())),
        _ => Err(LocalServiceError::AddHost {
            name: name.to_string(),
            output: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        }),
    }
}

/// Starts `twofold --config CONFIG serve` (its log to `log`) and waits until it listens:
/// the process and its URL. Its stdout is drained for as long as it runs.
pub fn spawn(
    twofold: &Path,
    config: &Path,
    log: &Path,
) -> Result<(Child, String), LocalServiceError> {
    let log_file = std::fs::File::create(log).map_err(|source| LocalServiceError::File {
        path: log.display().to_string(),
        source,
    })?;
    let mut child = Command::new(twofold)
        .arg("--config")
        .arg(config)
        .arg("serve")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(log_file)
        .spawn()
        .map_err(|source| LocalServiceError::Run {
            program: twofold.display().to_string(),
            source,
        })?;
    let Some(stdout) = child.stdout.take() else {
        let _ = child.kill();
        let _ = child.wait();
        return Err(LocalServiceError::NotStarted("no stdout".into()));
    };
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut tx = Some(tx);
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(url) = line.strip_prefix(LISTENING)
                && let Some(tx) = tx.take()
            {
                let _ = tx.send(url.to_string());
            }
        }
    });
    match rx.recv_timeout(START_TIMEOUT) {
        Ok(url) => Ok((child, url)),
        Err(_) => {
            let _ = child.kill();
            let _ = child.wait();
            let text = std::fs::read_to_string(log).unwrap_or_default();
            Err(LocalServiceError::NotStarted(text.trim().to_string()))
        }
    }
}

/// A running `twofold serve` with one registered host; stopped (killed and reaped) when dropped.
pub struct LocalService {
    child: Child,
    url: String,
    token: SecretString,
    config: PathBuf,
    log: PathBuf,
}

impl LocalService {
    /// Writes the configuration into `dir` (which must exist), registers `host`, and starts the
    /// service; `serve_extra` are more `[serve]` keys (e.g. `client_requests_per_minute = 0`).
    pub fn start(
        twofold: &Path,
        dir: &Path,
        host: &str,
        serve_extra: &str,
    ) -> Result<Self, LocalServiceError> {
        let config = write_config(dir, serve_extra)?;
        let token = add_host(twofold, &config, host)?;
        let log = dir.join("serve.log");
        let (child, url) = spawn(twofold, &config, &log)?;
        Ok(LocalService {
            child,
            url,
            token,
            config,
            log,
        })
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The registered host's token.
    pub fn token(&self) -> &SecretString {
        &self.token
    }

    /// The service's configuration file.
    pub fn config(&self) -> &Path {
        &self.config
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// What the service logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for LocalService {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
