//! Fleet mode, the host's half of what the service may never see: the fleet key and the sealed
//! user record. The approval service stores and serves [`envelope::SealedRecord`]s; only hosts
//! and administrators hold the [`key::FleetKey`] that opens them. See docs/fleet.md.
#![forbid(unsafe_code)]

pub mod config;
pub mod envelope;
pub mod host;
pub mod key;
pub mod service;
pub mod wire;

#[cfg(test)]
mod host_tests;
