//! Push approval, the host's half: the protocol's messages, verifying a device's decision, and
//! talking to the approval service (`twofold serve`). See docs/push-protocol.md.
#![forbid(unsafe_code)]

pub mod client;
pub mod config;
pub mod device;
pub mod endpoint;
pub mod local;
pub mod pairing;
pub mod protocol;
pub mod service;
pub mod tls;
pub mod token;
pub mod verify;
