//! Migration from other second-factor tools.
#![forbid(unsafe_code)]

pub mod google_authenticator;
