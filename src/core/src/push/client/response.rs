//! Reading one HTTP/1.1 response off the wire: the status line and headers by `httparse`, the
//! body by Content-Length, chunked or up to the close. Every length is checked against a hard
//! limit before it is used, and every refusal is an `HttpError::Malformed`, never a panic: the
//! bytes come from the network.
#![forbid(unsafe_code)]

use super::{HttpError, Response};
use std::io::{self, Read};

/// Largest response head (status line and headers).
pub const MAX_HEAD: usize = 16 * 1024;
/// Largest response body, after chunked decoding.
pub const MAX_BODY: usize = 256 * 1024;
/// Most headers in a response.
const MAX_HEADERS: usize = 64;
/// Longest chunk-size line (with extensions) or trailer line.
const MAX_LINE: usize = 1024;
/// Most bytes read for one response, framing included (many tiny chunks cost more than their body).
const MAX_READ: usize = 4 * MAX_BODY;

/// Decodes a whole response from `bytes`, the end of `bytes` being the connection's close.
/// Pure: what the fuzzer drives, and what `read_response` does with a socket.
pub fn parse_response(mut bytes: &[u8]) -> Result<Response, HttpError> {
    read_response(&mut bytes)
}

/// Reads one response from `stream`; stops at the body's end, or at the close when the
/// response has no length.
pub fn read_response(stream: &mut impl Read) -> Result<Response, HttpError> {
    let mut decoder = Decoder::default();
    let mut read = 0usize;
    loop {
        let n = read_some(stream, &mut decoder.raw)?;
        read = read.saturating_add(n);
        if read > MAX_READ {
            return Err(HttpError::Malformed("response too large"));
        }
        if let Some(response) = decoder.advance(n == 0)? {
            return Ok(response);
        }
    }
}

fn read_some(stream: &mut impl Read, buf: &mut Vec<u8>) -> Result<usize, HttpError> {
    let mut chunk = [0u8; 4096];
    loop {
        match stream.read(&mut chunk) {
            Ok(n) => {
                let got = chunk.get(..n).unwrap_or_default();
                buf.extend_from_slice(got);
                return Ok(got.len());
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(HttpError::from_io(e)),
        }
    }
}

/// How the body is delimited, and how far decoding has come.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Body {
    /// Still reading the head.
    Head,
    /// `left` more bytes by Content-Length.
    Length { left: usize },
    /// Chunked: expecting a chunk-size line.
    ChunkSize,
    /// Chunked: `left` more bytes of the current chunk.
    ChunkData { left: usize },
    /// Chunked: the CRLF after a chunk's data.
    ChunkEnd,
    /// Chunked: trailer lines after the last chunk, `seen` bytes of them so far.
    Trailers { seen: usize },
    /// No length: everything up to the close.
    UntilClose,
}

/// One response's decoding state; `raw` holds the bytes received and not yet decoded.
#[derive(Debug)]
struct Decoder {
    raw: Vec<u8>,
    status: u16,
    state: Body,
    body: Vec<u8>,
    /// Bytes of `raw` already known to hold no complete head (saves re-parsing per read).
    head_scanned: usize,
}

impl Default for Decoder {
    fn default() -> Self {
        Decoder {
            raw: Vec::with_capacity(1024),
            status: 0,
            state: Body::Head,
            body: Vec::new(),
            head_scanned: 0,
        }
    }
}

impl Decoder {
    /// Decodes what `raw` holds: the response once complete, None while more bytes are needed.
    /// `closed`: the peer has closed, no more bytes will come.
    fn advance(&mut self, closed: bool) -> Result<Option<Response>, HttpError> {
        let mut pos = 0;
        let result = self.step_all(&mut pos, closed);
        self.raw.drain(..pos.min(self.raw.len()));
        result
    }

    fn step_all(&mut self, pos: &mut usize, closed: bool) -> Result<Option<Response>, HttpError> {
        loop {
            let rest = self.raw.get(*pos..).unwrap_or_default();
            match self.state {
                Body::Head => match self.head(closed)? {
                    Some(used) => *pos = used,
                    None => return Ok(None),
                },
                Body::Length { left } => {
                    let take = left.min(rest.len());
                    self.take(pos, take)?;
                    let left = left - take;
                    if left == 0 {
                        return Ok(Some(self.finish()));
                    }
                    if closed {
                        return Err(HttpError::Malformed("response body cut short"));
                    }
                    self.state = Body::Length { left };
                    return Ok(None);
                }
                Body::UntilClose => {
                    self.take(pos, rest.len())?;
                    return Ok(closed.then(|| self.finish()));
                }
                Body::ChunkSize => {
                    let Some(size) = chunk_size(rest, pos, closed)? else {
                        return Ok(None);
                    };
                    if self
                        .body
                        .len()
                        .checked_add(size)
                        .is_none_or(|n| n > MAX_BODY)
                    {
                        return Err(HttpError::Malformed("response body too large"));
                    }
                    self.state = if size == 0 {
                        Body::Trailers { seen: 0 }
                    } else {
                        Body::ChunkData { left: size }
                    };
                }
                Body::ChunkData { left } => {
                    let take = left.min(rest.len());
                    self.take(pos, take)?;
                    let left = left - take;
                    if left > 0 {
                        if closed {
                            return Err(HttpError::Malformed("chunk cut short"));
                        }
                        self.state = Body::ChunkData { left };
                        return Ok(None);
                    }
                    self.state = Body::ChunkEnd;
                }
                Body::ChunkEnd => match rest.get(..2) {
                    Some(b"\r\n") => {
                        *pos += 2;
                        self.state = Body::ChunkSize;
                    }
                    Some(_) => return Err(HttpError::Malformed("chunk longer than its size")),
                    None if closed => return Err(HttpError::Malformed("chunk cut short")),
                    None => return Ok(None),
                },
                Body::Trailers { seen } => {
                    let Some(end) = find_crlf(rest) else {
                        if rest.len() > MAX_LINE {
                            return Err(HttpError::Malformed("trailer line too long"));
                        }
                        if closed {
                            return Err(HttpError::Malformed("chunked body cut short"));
                        }
                        return Ok(None);
                    };
                    *pos += end + 2;
                    if end == 0 {
                        return Ok(Some(self.finish()));
                    }
                    let seen = seen.saturating_add(end + 2);
                    if end > MAX_LINE || seen > MAX_HEAD {
                        return Err(HttpError::Malformed("trailers too large"));
                    }
                    self.state = Body::Trailers { seen };
                }
            }
        }
    }

    /// Moves `n` bytes at `pos` from `raw` into the body, within the body's limit.
    fn take(&mut self, pos: &mut usize, n: usize) -> Result<(), HttpError> {
        let end = pos.saturating_add(n);
        let bytes = self
            .raw
            .get(*pos..end)
            .ok_or(HttpError::Malformed("response body cut short"))?;
        if self.body.len().saturating_add(bytes.len()) > MAX_BODY {
            return Err(HttpError::Malformed("response body too large"));
        }
        self.body.extend_from_slice(bytes);
        *pos = end;
        Ok(())
    }

    fn finish(&mut self) -> Response {
        Response {
            status: self.status,
            body: std::mem::take(&mut self.body),
        }
    }

    /// Parses the head once `raw` holds all of it: the bytes it took, or None for more.
    fn head(&mut self, closed: bool) -> Result<Option<usize>, HttpError> {
        let raw = self.raw.as_slice();
        // Not HTTP at all (an SSH banner, TLS on a plain port): no need to wait for more.
        let prefix = b"HTTP/1.";
        if !raw.starts_with(prefix) && !prefix.starts_with(raw) {
            return Err(HttpError::Malformed("bad status line"));
        }
        // A head ends in an empty line; until a new line break has come, re-parsing cannot
        // find its end.
        let fresh = raw.get(self.head_scanned..).unwrap_or_default();
        if !fresh.contains(&b'\n') {
            self.head_scanned = raw.len();
            return self.head_incomplete(closed).map(|()| None);
        }
        self.head_scanned = raw.len();
        let Some(head) = parse_head(raw)? else {
            return self.head_incomplete(closed).map(|()| None);
        };
        self.status = head.status;
        self.state = head.body;
        Ok(Some(head.len))
    }

    fn head_incomplete(&self, closed: bool) -> Result<(), HttpError> {
        if self.raw.len() > MAX_HEAD {
            Err(HttpError::Malformed("response head too large"))
        } else if closed && self.raw.is_empty() {
            Err(HttpError::Malformed(
                "connection closed before the response",
            ))
        } else if closed {
            Err(HttpError::Malformed("response head cut short"))
        } else {
            Ok(())
        }
    }
}

/// A complete head: its length, status and how its body is delimited.
struct Head {
    len: usize,
    status: u16,
    body: Body,
}

/// Parses a head; None while it is incomplete.
fn parse_head(raw: &[u8]) -> Result<Option<Head>, HttpError> {
    // Strict status line: `HTTP/1.x` at the very start (httparse skips leading empty lines;
    // `head` checks the start) and ended by CRLF (httparse also takes a bare LF).
    if let Some(lf) = raw.iter().position(|&b| b == b'\n') {
        if lf == 0 || raw.get(lf - 1) != Some(&b'\r') {
            return Err(HttpError::Malformed("bad status line"));
        }
    }
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut response = httparse::Response::new(&mut headers);
    let len = match response.parse(raw) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(httparse::Error::Version | httparse::Error::Status) => {
            return Err(HttpError::Malformed("bad status line"));
        }
        Err(httparse::Error::TooManyHeaders) => {
            return Err(HttpError::Malformed("too many headers"));
        }
        Err(_) => return Err(HttpError::Malformed("bad header")),
    };
    if len > MAX_HEAD {
        return Err(HttpError::Malformed("response head too large"));
    }
    let status = response
        .code
        .filter(|code| (200..=599).contains(code))
        .ok_or(HttpError::Malformed("bad status code"))?;
    let mut length = None;
    let mut chunked = false;
    for header in response.headers.iter() {
        if header.name.eq_ignore_ascii_case("content-length") {
            if length.is_some() {
                return Err(HttpError::Malformed("more than one Content-Length"));
            }
            length = Some(content_length(header.value)?);
        } else if header.name.eq_ignore_ascii_case("transfer-encoding") {
            // The service sends `chunked` or nothing; any other coding (or a list) is refused
            // rather than read as something it is not.
            if chunked || !header.value.trim_ascii().eq_ignore_ascii_case(b"chunked") {
                return Err(HttpError::Malformed("unsupported Transfer-Encoding"));
            }
            chunked = true;
        }
    }
    let body = match (status, chunked, length) {
        (204 | 304, _, _) => Body::Length { left: 0 },
        (_, true, Some(_)) => {
            return Err(HttpError::Malformed(
                "both Transfer-Encoding and Content-Length",
            ));
        }
        (_, true, None) => Body::ChunkSize,
        (_, false, Some(left)) => Body::Length { left },
        (_, false, None) => Body::UntilClose,
    };
    Ok(Some(Head { len, status, body }))
}

/// A Content-Length value: digits only, within the body's limit.
fn content_length(value: &[u8]) -> Result<usize, HttpError> {
    let digits = value.trim_ascii();
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return Err(HttpError::Malformed("bad Content-Length"));
    }
    let length = std::str::from_utf8(digits)
        .ok()
        .and_then(|s| s.parse::<usize>().ok())
        .filter(|&n| n <= MAX_BODY)
        .ok_or(HttpError::Malformed("response body too large"))?;
    Ok(length)
}

/// Parses a chunk-size line at the start of `rest`, moving `pos` past it; None for more bytes.
fn chunk_size(rest: &[u8], pos: &mut usize, closed: bool) -> Result<Option<usize>, HttpError> {
    // httparse reads an empty size as 0, the last chunk: a size needs a digit.
    if rest.first().is_some_and(|b| !b.is_ascii_hexdigit()) {
        return Err(HttpError::Malformed("bad chunk size"));
    }
    match httparse::parse_chunk_size(rest) {
        Ok(httparse::Status::Complete((used, _))) if used > MAX_LINE => {
            Err(HttpError::Malformed("chunk-size line too long"))
        }
        Ok(httparse::Status::Complete((used, size))) => {
            *pos += used;
            // Larger than the address space is larger than the limit too.
            Ok(Some(usize::try_from(size).unwrap_or(usize::MAX)))
        }
        Ok(httparse::Status::Partial) if rest.len() > MAX_LINE => {
            Err(HttpError::Malformed("chunk-size line too long"))
        }
        Ok(httparse::Status::Partial) if closed => {
            Err(HttpError::Malformed("chunked body cut short"))
        }
        Ok(httparse::Status::Partial) => Ok(None),
        Err(httparse::InvalidChunkSize) => Err(HttpError::Malformed("bad chunk size")),
    }
}

fn find_crlf(bytes: &[u8]) -> Option<usize> {
    bytes.windows(2).position(|w| w == b"\r\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Response, HttpError> {
        parse_response(text.as_bytes())
    }

    fn refusal(text: &str) -> String {
        match parse(text) {
            Ok(r) => panic!("{text:?} was read as {r:?}"),
            Err(e) => e.to_string(),
        }
    }

    /// A reader that hands out `bytes` `step` at a time, as a slow peer would.
    struct Trickle<'a> {
        bytes: &'a [u8],
        step: usize,
    }

    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = self.step.min(buf.len()).min(self.bytes.len());
            buf[..n].copy_from_slice(&self.bytes[..n]);
            self.bytes = &self.bytes[n..];
            Ok(n)
        }
    }

    #[test]
    fn responses_by_length_chunked_and_close_are_read() {
        let r = parse("HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\n{}junk").unwrap();
        assert_eq!((r.status, r.body.as_slice()), (201, &b"{}"[..]));
        let r = parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;x=y\r\nde\r\n0\r\n\r\n")
            .unwrap();
        assert_eq!(r.body, b"abcde");
        let r = parse("HTTP/1.1 200 OK\r\ntransfer-encoding: Chunked\r\n\r\nA\r\n0123456789\r\n0\r\nX-Trailer: 1\r\n\r\n")
            .unwrap();
        assert_eq!(r.body, b"0123456789");
        let r = parse("HTTP/1.0 200 OK\r\n\r\nuntil close").unwrap();
        assert_eq!(r.body, b"until close");
        let r = parse("HTTP/1.1 204 No Content\r\n\r\n").unwrap();
        assert_eq!((r.status, r.body.len()), (204, 0));
        let r = parse("HTTP/1.1 404\r\nContent-Length: 0\r\n\r\n").unwrap();
        assert_eq!((r.status, r.body.len()), (404, 0));
    }

    #[test]
    fn a_response_trickling_in_byte_by_byte_reads_the_same() {
        let text = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3;ext\r\nabc\r\n2\r\nde\r\n0\r\n\r\n";
        for step in [1, 2, 3, 7, 4096] {
            let r = read_response(&mut Trickle { bytes: text, step }).unwrap();
            assert_eq!(
                (r.status, r.body.as_slice()),
                (200, &b"abcde"[..]),
                "step {step}"
            );
        }
    }

    /// Sends `bytes`, then never anything again (the read times out).
    struct ThenSilence(Option<&'static [u8]>);

    impl Read for ThenSilence {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let bytes = self.0.take().ok_or(io::ErrorKind::TimedOut)?;
            buf[..bytes.len()].copy_from_slice(bytes);
            Ok(bytes.len())
        }
    }

    #[test]
    fn a_peer_that_does_not_speak_http_is_refused_without_waiting() {
        for banner in [
            &b"SSH-2.0-OpenSSH_9.2"[..],
            b"\x16\x03\x01\x02\x00",
            b"HTTP/2",
        ] {
            let got = read_response(&mut ThenSilence(Some(banner)));
            assert!(
                matches!(got, Err(HttpError::Malformed("bad status line"))),
                "{banner:?}: {got:?}"
            );
        }
        // A slow but proper start is waited for (here: until the read times out).
        let got = read_response(&mut ThenSilence(Some(b"HTTP/1.1 2")));
        assert!(matches!(got, Err(HttpError::Timeout)), "{got:?}");
    }

    #[test]
    fn chunk_size_beyond_the_address_space_is_refused() {
        let text = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\nffffffffffffffff\r\nb\r\n0\r\n\r\n";
        assert!(refusal(text).contains("too large"));
        // 17 digits are beyond u64: httparse refuses the size itself.
        let text =
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n10000000000000000\r\n";
        assert!(refusal(text).contains("chunk size"));
    }

    #[test]
    fn chunked_body_over_the_limit_is_refused() {
        let mut text = String::from("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
        let chunk = "x".repeat(64 * 1024);
        for _ in 0..5 {
            text.push_str(&format!("{:x}\r\n{chunk}\r\n", chunk.len()));
        }
        text.push_str("0\r\n\r\n");
        assert!(refusal(&text).contains("too large"));
    }

    #[test]
    fn body_over_the_limit_is_refused_by_length_and_by_close() {
        let big = "x".repeat(MAX_BODY + 1);
        assert!(refusal(&format!("HTTP/1.1 200 OK\r\n\r\n{big}")).contains("too large"));
        let text = format!(
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n",
            MAX_BODY + 1
        );
        assert!(refusal(&text).contains("too large"));
        let text = "HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999999\r\n\r\n";
        assert!(refusal(text).contains("too large"));
    }

    #[test]
    fn malformed_status_lines_are_refused() {
        for bad in [
            "HTTP/1.1!200 OK\r\n\r\n",
            "HTTP/1.1  200 OK\r\n\r\n",
            "HTTP/1.1 20 OK\r\n\r\n",
            "HTTP/1.1 2000 OK\r\n\r\n",
            "HTTP/1.1 -20 OK\r\n\r\n",
            "HTTP/1.1 099 OK\r\n\r\n",
            "HTTP/1.1 600 OK\r\n\r\n",
            "HTTP/1.1 100 Continue\r\n\r\n",
            "HTTP/2 200 OK\r\n\r\n",
            "HTTP/1.1 200 OK\n\n",
            "\r\nHTTP/1.1 200 OK\r\n\r\n",
            " HTTP/1.1 200 OK\r\n\r\n",
            "http/1.1 200 OK\r\n\r\n",
            "SSH-2.0-OpenSSH\r\n\r\n",
        ] {
            let why = refusal(bad);
            assert!(why.contains("status"), "{bad:?}: {why}");
        }
    }

    #[test]
    fn ambiguous_framing_is_refused() {
        for bad in [
            "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nabc",
            "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nab",
            "HTTP/1.1 200 OK\r\nContent-Length: +2\r\n\r\nab",
            "HTTP/1.1 200 OK\r\nContent-Length: 2, 2\r\n\r\nab",
            "HTTP/1.1 200 OK\r\nContent-Length:\r\n\r\n",
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: identity\r\n\r\nab",
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n",
            "HTTP/1.1 200 OK\r\nContent-Length : 2\r\n\r\nab",
        ] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn broken_chunked_bodies_are_refused() {
        let head = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
        for bad in [
            "zz\r\n",
            "\r\n",
            " 3\r\nabc\r\n0\r\n\r\n",
            "-1\r\na\r\n0\r\n\r\n",
            "3\r\nabcd\r\n0\r\n\r\n",
            "3\r\nab",
            "3\nabc\r\n0\r\n\r\n",
            "3\r\nabc\r\n0\r\n",
            "3\r\nabc\r\n",
            "",
        ] {
            assert!(parse(&format!("{head}{bad}")).is_err(), "{bad:?}");
        }
        let long_extension = format!("{head}1;{}\r\na\r\n0\r\n\r\n", "x".repeat(2 * MAX_LINE));
        assert!(refusal(&long_extension).contains("too long"));
    }

    #[test]
    fn broken_responses_are_errors_not_panics() {
        for bad in [
            "",
            "HTTP/1.1\r\n\r\n",
            "HTTP/1.",
            "HTTP/1.1 200 OK\r\n",
            "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort",
            "HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n",
            "HTTP/1.1 200 OK\r\nBad Header\r\n\r\n",
            "HTTP/1.1 200 OK\r\nX: \x01\r\n\r\n",
        ] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
        let many = "X: y\r\n".repeat(MAX_HEADERS + 1);
        assert!(refusal(&format!("HTTP/1.1 200 OK\r\n{many}\r\n")).contains("too many"));
        let huge = format!("HTTP/1.1 200 OK\r\nX: {}\r\n\r\n", "y".repeat(MAX_HEAD));
        assert!(refusal(&huge).contains("too large"));
        let endless = format!("HTTP/1.1 200 OK\r\nX: {}", "y".repeat(2 * MAX_HEAD));
        assert!(refusal(&endless).contains("too large"));
    }

    #[test]
    fn many_tiny_chunks_stop_at_the_read_limit() {
        let mut text = String::from("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
        let chunk = format!("1;{}\r\na\r\n", "e".repeat(200));
        while text.len() <= MAX_READ {
            text.push_str(&chunk);
        }
        assert!(refusal(&text).contains("too large"));
    }
}
