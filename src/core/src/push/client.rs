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

/// Largest response head and body read.
const MAX_HEAD: usize = 16 * 1024;
const MAX_BODY: usize = 256 * 1024;

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
#[derive(Debug)]
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
            head.push_str(&format!(
                "Content-Type: application/json\r\nContent-Length: {}\r\n",
                body.len()
            ));
        }
        head.push_str("\r\n");
        let mut request = head.into_bytes();
        request.extend_from_slice(body.unwrap_or_default());
        let stream = self.connect(deadline)?;
        let stream = Deadlined { stream, deadline };
        let result = if self.endpoint.tls {
            let config = self
                .tls_config
                .get_or_init(|| tls::client_config(self.ca_file.as_deref()))
                .clone()
                .map_err(HttpError::Tls)?;
            let conn = tls::connection(config, &self.endpoint.host).map_err(HttpError::Tls)?;
            exchange(rustls::StreamOwned::new(conn, stream), &request)
        } else {
            exchange(stream, &request)
        };
        zeroize::Zeroize::zeroize(&mut request);
        result
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

fn exchange(mut stream: impl Read + Write, request: &[u8]) -> Result<Response, HttpError> {
    stream.write_all(request).map_err(HttpError::from_io)?;
    stream.flush().map_err(HttpError::from_io)?;
    read_response(&mut stream)
}

/// Reads a response: head, then a body by Content-Length, chunked, or up to the close.
fn read_response(stream: &mut impl Read) -> Result<Response, HttpError> {
    let mut buf = Vec::with_capacity(1024);
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
        if buf.len() > MAX_HEAD {
            return Err(HttpError::Malformed("response head too large"));
        }
        if read_some(stream, &mut buf)? == 0 {
            return Err(HttpError::Malformed(
                "connection closed before the response",
            ));
        }
    };
    let head = std::str::from_utf8(&buf[..head_end])
        .map_err(|_| HttpError::Malformed("response head is not text"))?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status = status_line
        .strip_prefix("HTTP/1.")
        .and_then(|s| s.get(2..5))
        .and_then(|s| s.parse::<u16>().ok())
        .ok_or(HttpError::Malformed("bad status line"))?;
    let mut length = None;
    let mut chunked = false;
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-length") {
            length = Some(
                value
                    .parse::<usize>()
                    .map_err(|_| HttpError::Malformed("bad Content-Length"))?,
            );
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            chunked = value.eq_ignore_ascii_case("chunked");
        }
    }
    let mut body = buf.split_off(head_end + 4);
    if status == 204 || status == 304 || (100..200).contains(&status) {
        body.clear();
    } else if chunked {
        body = read_chunked(stream, body)?;
    } else if let Some(length) = length {
        if length > MAX_BODY {
            return Err(HttpError::Malformed("response body too large"));
        }
        while body.len() < length {
            if read_some(stream, &mut body)? == 0 {
                return Err(HttpError::Malformed("response body cut short"));
            }
        }
        body.truncate(length);
    } else {
        while read_some(stream, &mut body)? > 0 {
            if body.len() > MAX_BODY {
                return Err(HttpError::Malformed("response body too large"));
            }
        }
    }
    Ok(Response { status, body })
}

fn read_chunked(stream: &mut impl Read, mut raw: Vec<u8>) -> Result<Vec<u8>, HttpError> {
    let mut body = Vec::new();
    let mut pos = 0;
    loop {
        let line_end = loop {
            if let Some(i) = raw[pos..].windows(2).position(|w| w == b"\r\n") {
                break pos + i;
            }
            if raw.len() > MAX_BODY + MAX_HEAD || read_some(stream, &mut raw)? == 0 {
                return Err(HttpError::Malformed("bad chunked body"));
            }
        };
        let size_text = std::str::from_utf8(&raw[pos..line_end])
            .ok()
            .and_then(|s| s.split(';').next())
            .map(str::trim)
            .ok_or(HttpError::Malformed("bad chunk size"))?;
        let size = usize::from_str_radix(size_text, 16)
            .map_err(|_| HttpError::Malformed("bad chunk size"))?;
        if size == 0 {
            return Ok(body);
        }
        if body.len() + size > MAX_BODY {
            return Err(HttpError::Malformed("response body too large"));
        }
        let start = line_end + 2;
        while raw.len() < start + size + 2 {
            if read_some(stream, &mut raw)? == 0 {
                return Err(HttpError::Malformed("chunk cut short"));
            }
        }
        body.extend_from_slice(&raw[start..start + size]);
        pos = start + size + 2;
    }
}

fn read_some(stream: &mut impl Read, buf: &mut Vec<u8>) -> Result<usize, HttpError> {
    let mut chunk = [0u8; 4096];
    loop {
        match stream.read(&mut chunk) {
            Ok(n) => {
                buf.extend_from_slice(&chunk[..n]);
                return Ok(n);
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(HttpError::from_io(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Response, HttpError> {
        read_response(&mut io::Cursor::new(text.as_bytes().to_vec()))
    }

    #[test]
    fn responses_by_length_chunked_and_close_are_read() {
        let r = parse("HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\n{}junk").unwrap();
        assert_eq!((r.status, r.body.as_slice()), (201, &b"{}"[..]));
        let r = parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;x=y\r\nde\r\n0\r\n\r\n")
            .unwrap();
        assert_eq!(r.body, b"abcde");
        let r = parse("HTTP/1.0 200 OK\r\n\r\nuntil close").unwrap();
        assert_eq!(r.body, b"until close");
        let r = parse("HTTP/1.1 204 No Content\r\n\r\n").unwrap();
        assert_eq!((r.status, r.body.len()), (204, 0));
    }

    #[test]
    fn broken_responses_are_errors_not_panics() {
        for bad in [
            "",
            "HTTP/1.1\r\n\r\n",
            "SSH-2.0-OpenSSH\r\n\r\n",
            "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort",
            "HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n",
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
            "HTTP/1.1 200 OK\r\nContent-Length: 99999999999\r\n\r\n",
        ] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
    }
}
