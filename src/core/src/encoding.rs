//! Small text encodings shared by the store, the factors and the push protocol.
#![forbid(unsafe_code)]

/// Lower-case hex of bytes.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
