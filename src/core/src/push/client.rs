//! A small blocking HTTP/1.1 client for the module and the command: one request per
//! connection, every step bounded by a deadline. No async runtime inside sshd or sudo.
#![forbid(unsafe_code)]

use super::endpoint::Endpoint;
use super::tls;
use crate::secret::SecretString;
use std::io::{self, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream, ToSocketAddrs};
use std::path::PathBuf;
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

pub mod response;

pub use response::parse_response;

/// Why a request got no answer.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("cannot resolve {0}")]
    Resolve(String),
    #[error("connect: {0}")]
    Connect(io::Error),
    #[error("timed out")]
    Timeout,
    #[error("TLS: {0}")]
    Tls(String),
    #[error("{0}")]
    Io(io::Error),
    #[error("malformed response: {0}")]
    Malformed(&'static str),
    /// No way out of the process is installed (`crate::outside`).
    #[error("no network in this process")]
    NotLinked,
    /// An error that crossed from `pam_twofold_outside.so` (connect, I/O, a malformed answer),
    /// or why that object could not be used: its words.
    #[error("{0}")]
    Relayed(String),
}

impl HttpError {
    fn from_io(e: io::Error) -> Self {
        match e.kind() {
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => HttpError::Timeout,
            _ => HttpError::Io(e),
        }
    }
}

/// A response: status and body.
#[derive(Debug, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub body: Vec<u8>,
}

/// The service as one host (or the command) talks to it.
pub struct Client {
    endpoint: Endpoint,
    token: Option<SecretString>,
    connect_timeout: Duration,
    ca_file: Option<PathBuf>,
    tls_config: std::sync::OnceLock<Result<Arc<rustls::ClientConfig>, String>>,
}

impl Client {
    /// A client for `endpoint`; `token` is the host token (None: unauthenticated calls only).
    pub fn new(endpoint: Endpoint, token: Option<SecretString>, connect_timeout: Duration) -> Self {
        Client {
            endpoint,
            token,
            connect_timeout,
            ca_file: None,
            tls_config: std::sync::OnceLock::new(),
        }
    }

    /// Trusts only this CA bundle for `https://` (instead of the system's).
    pub fn with_ca_file(mut self, ca_file: Option<PathBuf>) -> Self {
        self.ca_file = ca_file;
        self
    }

    /// How long connecting may take.
    pub fn connect_timeout(&self) -> Duration {
        self.connect_timeout
    }

    /// Where it connects (host, port, TLS).
    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// The only CA bundle it trusts, if not the system's.
    pub fn ca_file(&self) -> Option<&std::path::Path> {
        self.ca_file.as_deref()
    }

    /// Sends one request; `path` is below the endpoint's prefix (e.g. `/v1/challenges`).
    /// Everything, connecting included, ends by `deadline`.
    pub fn request(
        &self,
        method: &str,
        path: &str,
        body: Option<&[u8]>,
        headers: &[(&str, &str)],
        deadline: Instant,
    ) -> Result<Response, HttpError> {
        let mut head = format!(
            "{method} {}{path} HTTP/1.1\r\nHost: {}\r\nUser-Agent: twofold/{}\r\nAccept: application/json\r\nConnection: close\r\n",
            self.endpoint.base_path,
            self.endpoint.host_header(),
            env!("CARGO_PKG_VERSION"),
        );
        if let Some(token) = &self.token {
            head.push_str(&format!("Authorization: Bearer {}\r\n", token.expose()));
        }
        for (name, value) in headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        if let Some(body) = body {
            // JSON unless the caller says otherwise (a text-message gateway's form body).
            if !headers
                .iter()
                .any(|(name, _)| name.eq_ignore_ascii_case("content-type"))
            {
                head.push_str("Content-Type: application/json\r\n");
            }
            head.push_str(&format!("Content-Length: {}\r\n", body.len()));
        }
        head.push_str("\r\n");
        let mut request = head.into_bytes();
        request.extend_from_slice(body.unwrap_or_default());
        let result = match crate::outside::get() {
            Some(outside) => (outside.exchange)(self, &request, deadline),
            None => Err(HttpError::NotLinked),
        };
        zeroize::Zeroize::zeroize(&mut request);
        result
    }

    /// One request on a new TCP connection, over TLS for `https://`: the way out that
    /// [`crate::outside::SYSTEM`] installs.
    fn exchange_over_network(
        &self,
        request: &[u8],
        deadline: Instant,
    ) -> Result<Response, HttpError> {
        let stream = self.connect(deadline)?;
        let stream = Deadlined { stream, deadline };
        if self.endpoint.tls {
            let config = self
                .tls_config
                .get_or_init(|| tls::client_config(self.ca_file.as_deref()))
                .clone()
                .map_err(HttpError::Tls)?;
            let conn = tls::connection(config, &self.endpoint.host).map_err(HttpError::Tls)?;
            exchange(rustls::StreamOwned::new(conn, stream), request)
        } else {
            exchange(stream, request)
        }
    }

    fn connect(&self, deadline: Instant) -> Result<TcpStream, HttpError> {
        let until = deadline.min(Instant::now() + self.connect_timeout);
        let addrs = resolve(&self.endpoint.host, self.endpoint.port, until)?;
        let mut last = None;
        for addr in addrs {
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(HttpError::Timeout);
            }
            match TcpStream::connect_timeout(&addr, left) {
                Ok(stream) => {
                    let _ = stream.set_nodelay(true);
                    return Ok(stream);
                }
                Err(e) if e.kind() == io::ErrorKind::TimedOut => return Err(HttpError::Timeout),
                Err(e) => last = Some(e),
            }
        }
        Err(last.map_or_else(
            || HttpError::Resolve(self.endpoint.host.clone()),
            HttpError::Connect,
        ))
    }
}

/// Resolves `host`; a name is looked up on a helper thread so a hanging resolver cannot hold
/// the sign-in past `until`.
fn resolve(host: &str, port: u16, until: Instant) -> Result<Vec<SocketAddr>, HttpError> {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(vec![SocketAddr::new(ip, port)]);
    }
    let (tx, rx) = mpsc::channel();
    let name = host.to_string();
    std::thread::Builder::new()
        .name("twofold-resolve".into())
        .spawn(move || {
            let found = (name.as_str(), port)
                .to_socket_addrs()
                .map(Iterator::collect::<Vec<_>>);
            let _ = tx.send(found);
        })
        .map_err(HttpError::Io)?;
    match rx.recv_timeout(until.saturating_duration_since(Instant::now())) {
        Ok(Ok(addrs)) if !addrs.is_empty() => Ok(addrs),
        Ok(_) => Err(HttpError::Resolve(host.to_string())),
        Err(_) => Err(HttpError::Timeout),
    }
}

/// A socket whose every read and write ends by the deadline.
struct Deadlined {
    stream: TcpStream,
    deadline: Instant,
}

impl Deadlined {
    fn left(&self) -> io::Result<Duration> {
        let left = self.deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            Err(io::ErrorKind::TimedOut.into())
        } else {
            Ok(left)
        }
    }
}

impl Read for Deadlined {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.stream.set_read_timeout(Some(self.left()?))?;
        self.stream.read(buf)
    }
}

impl Write for Deadlined {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.stream.set_write_timeout(Some(self.left()?))?;
        self.stream.write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.stream.flush()
    }
}

/// [`Client::exchange_over_network`] as a plain function, for [`crate::outside::SYSTEM`].
pub(crate) fn exchange_over_network(
    client: &Client,
    request: &[u8],
    deadline: Instant,
) -> Result<Response, HttpError> {
    client.exchange_over_network(request, deadline)
}

fn exchange(mut stream: impl Read + Write, request: &[u8]) -> Result<Response, HttpError> {
    stream.write_all(request).map_err(HttpError::from_io)?;
    stream.flush().map_err(HttpError::from_io)?;
    response::read_response(&mut stream)
}

#[cfg(test)]
mod tests;
