//! twofold-core: everything a sign-in decides, with no libpam and no async runtime.
//!
//! The PAM module (src/pam) is a thin adapter over [`signin::authenticate`]; the command
//! (src/cli) and the approval service (src/serve) call the same core. Table of contents:
#![forbid(unsafe_code)]

pub mod alert;
pub mod audit;
pub mod child;
pub mod clock;
pub mod config;
pub mod conversation;
pub mod encoding;
pub mod enrollment;
pub mod factor;
pub mod fleet;
pub mod import;
pub mod messages;
pub mod options;
pub mod outside;
pub mod push;
pub mod qr;
pub mod secret;
pub mod signin;
pub mod sms;
pub mod store;
pub mod username;
pub mod when;
