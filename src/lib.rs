//! twofold: a self-hosted second factor for Linux.
//!
//! The PAM module (`pam_twofold.so`, this crate's cdylib) and the `twofold` command share
//! this library. Table of contents:

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
pub mod serve;
pub mod store;
pub mod username;
pub mod verify;
