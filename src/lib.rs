//! twofold: a self-hosted second factor for Linux.
//!
//! The PAM module (`pam_twofold.so`, this crate's cdylib) and the `twofold` command share
//! this library. The approval service (`twofold serve`) is not here: it lives in src/serve/ and
//! is compiled into the binary only, so its async runtime never reaches the module.
//! Table of contents:

pub mod audit;
pub mod authenticate;
pub mod cli;
pub mod clock;
pub mod config;
pub mod conversation;
pub mod enrollment;
pub mod factor;
pub mod guided_enrollment;
pub mod import;
pub mod messages;
pub mod options;
pub mod pam;
pub mod policy;
pub mod push;
pub mod push_signin;
pub mod qr;
pub mod ratelimit;
pub mod remember;
pub mod secret;
pub mod store;
pub mod username;
pub mod verify;
