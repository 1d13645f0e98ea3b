//! The push client's reading of a service's answer: never a panic, within the limits, and
//! the same answer (or a refusal) however the bytes are split across reads.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::io::Read;
use twofold_core::push::client::parse_response;
use twofold_core::push::client::response::{MAX_BODY, read_response};

/// Hands out the bytes in pieces whose sizes come from `steps`, as a slow peer would.
struct Pieces<'a> {
    bytes: &'a [u8],
    steps: &'a [u8],
}

impl Read for Pieces<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let step = match self.steps.split_first() {
            Some((&s, rest)) => {
                self.steps = rest;
                usize::from(s).max(1)
            }
            None => usize::MAX,
        };
        let n = step.min(buf.len()).min(self.bytes.len());
        buf[..n].copy_from_slice(&self.bytes[..n]);
        self.bytes = &self.bytes[n..];
        Ok(n)
    }
}

fuzz_target!(|data: &[u8]| {
    // First byte: how many of the next bytes are read sizes; the rest is the answer.
    let Some((&n, rest)) = data.split_first() else {
        return;
    };
    let (steps, bytes) = rest.split_at(usize::from(n % 32).min(rest.len()));
    let whole = parse_response(bytes);
    if let Ok(response) = &whole {
        assert!((200..=599).contains(&response.status));
        assert!(response.body.len() <= MAX_BODY);
    }
    let pieces = read_response(&mut Pieces { bytes, steps });
    match (&whole, &pieces) {
        (Ok(a), Ok(b)) => assert_eq!(a, b),
        // Which limit or rule refuses first may depend on where the reads end.
        (Err(_), Err(_)) => {}
        _ => panic!("whole: {whole:?}, in pieces: {pieces:?}"),
    }
});
