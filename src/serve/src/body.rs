//! Reading request bodies under attack: the size is checked from `Content-Length` before a
//! byte is read, the whole body must arrive within the client deadline, and every piece is
//! copied into one buffer of at most [`MAX_BODY_BYTES`] (a body trickled a byte at a time would
//! otherwise pin one of hyper's 8 KiB read buffers per byte: 100 such connections grew the
//! service by 1.5 GB).
#![forbid(unsafe_code)]

use super::error::ApiError;
use super::limits::MAX_BODY_BYTES;
use axum::body::{Body, HttpBody};
use axum::http::{HeaderMap, header};
use std::pin::Pin;
use std::time::Duration;
use tokio::time::Instant;

/// Largest body of the fleet endpoints that carry a sealed record or a report.
pub const MAX_LARGE_BODY_BYTES: usize = 96 * 1024;

/// Refuses a body whose announced length is over the limit, before it is read.
pub fn check_announced_length(headers: &HeaderMap) -> Result<(), ApiError> {
    check_announced_length_within(headers, MAX_BODY_BYTES)
}

/// [`check_announced_length`] with another limit.
pub fn check_announced_length_within(headers: &HeaderMap, max: usize) -> Result<(), ApiError> {
    let Some(value) = headers.get(header::CONTENT_LENGTH) else {
        return Ok(());
    };
    let length = value
        .to_str()
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok())
        .ok_or_else(|| ApiError::bad_request("Content-Length: not a number"))?;
    if length > max as u64 {
        return Err(ApiError::too_large());
    }
    Ok(())
}

/// The whole body, copied into one buffer, if it is at most [`MAX_BODY_BYTES`] and arrives
/// within `deadline` of now.
pub async fn read_bounded(body: Body, deadline: Duration) -> Result<Vec<u8>, ApiError> {
    read_bounded_within(body, deadline, MAX_BODY_BYTES).await
}

/// [`read_bounded`] with another limit.
pub async fn read_bounded_within(
    body: Body,
    deadline: Duration,
    max: usize,
) -> Result<Vec<u8>, ApiError> {
    let until = Instant::now() + deadline;
    let mut body = body;
    let mut out = Vec::new();
    loop {
        let frame = tokio::time::timeout_at(
            until,
            std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)),
        )
        .await
        .map_err(|_| ApiError::timeout())?;
        let Some(frame) = frame else {
            return Ok(out);
        };
        let frame = frame.map_err(|_| ApiError::bad_request("could not read the request body"))?;
        if let Ok(data) = frame.into_data() {
            if out.len() + data.len() > max {
                return Err(ApiError::too_large());
            }
            // Copy: keeping `data` would keep the connection's whole read buffer alive.
            out.extend_from_slice(&data);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Bytes;
    use std::task::{Context, Poll};

    /// A body that never sends anything: a client that stopped mid-body.
    struct Stalled;

    impl HttpBody for Stalled {
        type Data = Bytes;
        type Error = std::io::Error;

        fn poll_frame(
            self: Pin<&mut Self>,
            _: &mut Context<'_>,
        ) -> Poll<Option<Result<hyper::body::Frame<Bytes>, std::io::Error>>> {
            Poll::Pending
        }
    }

    #[tokio::test]
    async fn bodies_over_the_limit_or_too_slow_are_refused() {
        let small = Body::from(vec![b'x'; 10]);
        let read = read_bounded(small, Duration::from_secs(1)).await;
        assert_eq!(read.map(|b| b.len()), Ok(10));
        let big = Body::from(vec![b'x'; MAX_BODY_BYTES + 1]);
        let err = read_bounded(big, Duration::from_secs(1)).await.err();
        assert_eq!(err.map(|e| e.status.as_u16()), Some(413));
        let stalled = read_bounded(Body::new(Stalled), Duration::from_millis(50)).await;
        assert_eq!(stalled.err().map(|e| e.status.as_u16()), Some(408));
        let mut h = HeaderMap::new();
        h.insert(header::CONTENT_LENGTH, "16385".parse().unwrap());
        assert_eq!(
            check_announced_length(&h).err().map(|e| e.status.as_u16()),
            Some(413)
        );
        h.insert(header::CONTENT_LENGTH, "16384".parse().unwrap());
        assert!(check_announced_length(&h).is_ok());
    }
}
