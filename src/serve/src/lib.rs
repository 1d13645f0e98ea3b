//! `twofold serve`, the approval service: start-up, the accept loop (plain HTTP on loopback or
//! behind a proxy, else TLS with rustls), and host administration for the CLI.
//!
//! A package of its own (twofold-serve), used by the command only: tokio, hyper, rustls and
//! SQLite never reach the PAM module, whose package does not depend on this one.
#![forbid(unsafe_code)]

mod api;
pub mod auth;
mod body;
pub mod challenges;
mod decision;
mod error;
mod limits;
mod notify;
mod page;
pub mod pending;
pub mod push_target; // pub for the fuzz targets
mod quota;
mod refusal_log;
pub mod store;
mod tls;
pub mod webpush;
pub mod wire; // pub for the fuzz targets (fuzz/fuzz_targets/serve_wire.rs)

use api::{AppState, Peer};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use limits::ClientLimiter;
use notify::Notifier;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;
use store::Store;
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt;
use twofold_core::config::{Database, ServeConfig};

/// Why the service could not start (or stopped).
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("{0}")]
    Config(String),
    #[error(transparent)]
    Store(#[from] store::StoreError),
    #[error(transparent)]
    WebPush(#[from] webpush::WebPushError),
    #[error(transparent)]
    Tls(#[from] tls::TlsError),
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: String,
        source: std::io::Error,
    },
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("HTTP client: {0}")]
    Http(#[from] reqwest::Error),
    #[error("random number generator: {0}")]
    Random(#[from] getrandom::Error),
}

/// Unpadded base64url, the protocol's encoding of every binary value.
pub mod b64u {
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    pub fn encode(bytes: impl AsRef<[u8]>) -> String {
        URL_SAFE_NO_PAD.encode(bytes)
    }

    /// Decodes canonical unpadded base64url (no padding, no stray bits).
    pub fn decode(text: &str) -> Result<Vec<u8>, base64::DecodeError> {
        URL_SAFE_NO_PAD.decode(text)
    }
}

/// A random 128-bit identifier in base64url (22 characters).
pub fn random_id() -> Result<String, getrandom::Error> {
    let mut raw = [0u8; 16];
    getrandom::fill(&mut raw)?;
    Ok(b64u::encode(raw))
}

/// Seconds since the Unix epoch.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// One line to the service log (stderr; journald under systemd). Never a secret or a number.
/// A closed stderr loses the line rather than failing the request.
pub fn log(line: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr().lock(), "twofold-serve: {line}");
}

/// What `twofold serve` was asked to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServeAction {
    /// Run the service until SIGTERM.
    Run,
    AddHost(String),
    RemoveHost(String),
}

/// `twofold serve [--add-host NAME | --remove-host NAME]`: the exit status, or one line for
/// the administrator.
pub fn command(config: &ServeConfig, action: ServeAction) -> Result<ExitCode, String> {
    match action {
        ServeAction::Run => run(config).map_err(|e| e.to_string())?,
        ServeAction::AddHost(name) => {
            let token = add_host(config, &name).map_err(|e| e.to_string())?;
            print_token(&name, &token);
        }
        ServeAction::RemoveHost(name) => {
            if !remove_host(config, &name).map_err(|e| e.to_string())? {
                return Err(format!("no host named {name:?}"));
            }
            println!(
                "Host {name:?} removed: its token no longer works, its devices are forgotten."
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn print_token(name: &str, token: &str) {
    println!("Host {name:?} added. Its token, shown only this once:");
    println!();
    println!("  {token}");
    println!();
    println!("On {name}, as root, store it where the PAM module reads it (root, mode 0600):");
    println!();
    println!("  (umask 077; printf '%s\\n' '{token}' > /etc/twofold/host-token)");
    println!();
    println!("Lost it? `twofold serve --remove-host {name}`, then add the host again.");
}

/// Registers a host and returns its token (shown once; only its SHA-256 is stored).
fn add_host(config: &ServeConfig, name: &str) -> Result<String, ServeError> {
    let valid = (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'));
    if !valid {
        return Err(ServeError::Config(format!(
            "host name {name:?}: use 1 to 64 letters, digits, '.', '-' or '_'"
        )));
    }
    let (token, digest) = auth::new_host_token()?;
    admin_runtime()?.block_on(async {
        open_store(config)
            .await?
            .add_host(name, &digest, unix_now())
            .await
    })?;
    Ok(token)
}

/// Removes a host (its token stops working, its devices are marked removed). False if unknown.
fn remove_host(config: &ServeConfig, name: &str) -> Result<bool, ServeError> {
    Ok(admin_runtime()?.block_on(async {
        open_store(config)
            .await?
            .remove_host(name, unix_now())
            .await
    })?)
}

/// A small runtime for one administrative command (`--add-host`, `--remove-host`).
fn admin_runtime() -> Result<tokio::runtime::Runtime, ServeError> {
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?)
}

/// Opens (and migrates) the configured database.
async fn open_store(config: &ServeConfig) -> Result<Store, store::StoreError> {
    match config.database() {
        Database::Sqlite(path) => Store::open_sqlite(&path),
        Database::Postgres(conninfo) => {
            Store::open_postgres(&conninfo, config.database_ca_file.as_deref()).await
        }
    }
}

/// Runs the service until SIGTERM or SIGINT.
fn run(config: &ServeConfig) -> Result<(), ServeError> {
    let addr = config.listen_addr().ok_or_else(|| {
        ServeError::Config(format!(
            "serve.listen: {:?} is not an address",
            config.listen
        ))
    })?;
    if !config.tls() && !config.behind_proxy && !addr.ip().is_loopback() {
        return Err(ServeError::Config(format!(
            "refusing to serve plain HTTP on {addr}: set [serve] tls_cert and tls_key, or \
             behind_proxy = true when a reverse proxy on this machine terminates TLS"
        )));
    }
    let tls = match (&config.tls_cert, &config.tls_key) {
        (Some(cert), Some(key)) => Some(tls::acceptor(cert, key)?),
        _ => None,
    };
    let timeout = Duration::from_secs(config.client_timeout_seconds);
    let trusted: Vec<std::net::IpAddr> = config
        .trusted_proxies
        .iter()
        .filter_map(|a| a.parse().ok())
        .collect();
    // Behind a proxy, plain HTTP is for the proxy only: loopback and `trusted_proxies`.
    let admit = Admit {
        only_proxies: tls.is_none() && config.behind_proxy,
        trusted: trusted.clone(),
        timeout,
    };
    if admit.only_proxies && !addr.ip().is_loopback() && trusted.is_empty() {
        return Err(ServeError::Config(format!(
            "behind_proxy on {addr}: set [serve] trusted_proxies to the proxies' addresses \
             (plain HTTP is only accepted from loopback and those), or listen on 127.0.0.1"
        )));
    }
    raise_open_files_limit();
    let vapid = webpush::VapidKey::load_or_create(&config.vapid_key_file)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("twofold-serve")
        .build()?;
    runtime.block_on(async {
        let store = open_store(config).await?;
        let push_targets = Arc::new(push_target::PushTargets::new(
            config.allow_loopback_push,
            &config.push_allowed_networks,
        ));
        let notifier = Arc::new(Notifier::new(
            config,
            vapid,
            store.clone(),
            Arc::clone(&push_targets),
        )?);
        let (pairings_changed, _) = tokio::sync::watch::channel(0);
        let challenges = match store.postgres() {
            Some(db) => pending::Pending::shared(
                db.clone(),
                config.max_pending,
                config.max_pending_per_host,
            ),
            None => pending::Pending::memory(config.max_pending, config.max_pending_per_host),
        };
        let state = Arc::new(AppState {
            store,
            challenges,
            pairings_changed,
            limiter: ClientLimiter::new(config.client_requests_per_minute),
            notifier,
            behind_proxy: config.behind_proxy,
            trusted_proxies: trusted.clone(),
            challenge_max_seconds: config.challenge_max_seconds,
            allow_loopback_push: config.allow_loopback_push,
            push_targets,
            body_timeout: timeout,
            waiters: quota::HostWaiters::new(config.max_pending_per_host),
            fleet: config.fleet,
        });
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| ServeError::Listen {
                addr: addr.to_string(),
                source,
            })?;
        let local = listener.local_addr()?;
        let scheme = if tls.is_some() { "https" } else { "http" };
        // Tests and scripts read the port from this line (listen = "127.0.0.1:0").
        println!("twofold serve: listening on {scheme}://{local}");
        log(&format!(
            "event=started listen={scheme}://{local} fleet={}",
            config.fleet
        ));
        tokio::spawn(housekeeping(Arc::clone(&state)));
        accept_loop(listener, api::router(state), tls, admit).await
    })
}

/// Who may connect, and how long each phase of a request may take.
#[derive(Clone)]
struct Admit {
    /// Plain HTTP behind a proxy: only loopback and `trusted` peers.
    only_proxies: bool,
    trusted: Vec<std::net::IpAddr>,
    timeout: Duration,
}

impl Admit {
    fn allows(&self, peer: &SocketAddr) -> bool {
        let ip = peer.ip().to_canonical();
        !self.only_proxies || ip.is_loopback() || self.trusted.contains(&ip)
    }
}

async fn accept_loop(
    listener: TcpListener,
    app: axum::Router,
    tls: Option<TlsAcceptor>,
    admit: Admit,
) -> Result<(), ServeError> {
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = terminate.recv() => break,
            _ = tokio::signal::ctrl_c() => break,
        };
        match accepted {
            Ok((stream, peer)) => {
                if !admit.allows(&peer) {
                    refusal_log::refused("not_a_trusted_proxy", peer.ip(), "");
                    drop(stream);
                    continue;
                }
                // Small answers must leave at once, not wait for Nagle.
                let _ = stream.set_nodelay(true);
                // Separate tasks, so a waiting plain connection carries no TLS state.
                let timeout = admit.timeout;
                match &tls {
                    None => {
                        tokio::spawn(serve_http(TokioIo::new(stream), peer, app.clone(), timeout))
                    }
                    Some(acceptor) => tokio::spawn(serve_tls(
                        stream,
                        peer,
                        app.clone(),
                        acceptor.clone(),
                        timeout,
                    )),
                };
            }
            Err(e) => {
                // Out of file descriptors or memory: wait a moment instead of spinning.
                log(&format!("event=accept_failed reason={:?}", e.to_string()));
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
    log("event=stopped");
    Ok(())
}

/// Completes a TLS handshake (within `timeout`), then serves HTTP over it.
async fn serve_tls(
    stream: TcpStream,
    peer: SocketAddr,
    app: axum::Router,
    acceptor: TlsAcceptor,
    timeout: Duration,
) {
    let handshake = tokio::time::timeout(timeout, acceptor.accept(stream)).await;
    if let Ok(Ok(stream)) = handshake {
        serve_http(TokioIo::new(stream), peer, app, timeout).await;
    }
}

/// Serves one connection (HTTP/1.1, keep-alive), with limits on slow or huge headers: the
/// header timer also runs while a kept-alive connection waits for its next request, so an idle
/// connection is closed after `timeout`. (Bodies have their own deadline: body.rs.)
async fn serve_http<I>(io: I, peer: SocketAddr, app: axum::Router, timeout: Duration)
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let service = app
        .map_request(move |mut req: axum::extract::Request<_>| {
            req.extensions_mut().insert(Peer(peer));
            req
        })
        .map_response(api::common_headers);
    let connection = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(timeout)
        .max_buf_size(64 * 1024)
        .serve_connection(io, TowerToHyperService::new(service));
    // Clients going away mid-request is normal for long-polls; nothing to log.
    let _ = connection.await;
}

/// Forgets expired challenges and pairings now and then. (Correctness does not depend on
/// it: every lookup checks expiry itself.)
async fn housekeeping(state: Arc<AppState>) {
    let mut tick = tokio::time::interval(Duration::from_secs(5));
    loop {
        tick.tick().await;
        if let Err(e) = state.challenges.sweep().await {
            log(&format!(
                "event=housekeeping_failed reason={:?}",
                e.to_string()
            ));
        }
        let purged = state.store.purge_pairings(unix_now()).await;
        if let Err(e) = purged {
            log(&format!(
                "event=housekeeping_failed reason={:?}",
                e.to_string()
            ));
        }
    }
}

/// Every waiting request holds a socket: allow as many as the hard limit permits.
fn raise_open_files_limit() {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let mut limit = getrlimit(Resource::Nofile);
    if limit.current < limit.maximum {
        limit.current = limit.maximum;
        let _ = setrlimit(Resource::Nofile, limit);
    }
}
