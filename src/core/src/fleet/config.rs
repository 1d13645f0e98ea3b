//! `[fleet]` in `/etc/twofold/twofold.toml`: which services keep this fleet's records, where
//! the fleet key is, and what a sign-in does when no service answers.
#![forbid(unsafe_code)]

use crate::push::config::check_url;
use serde::Deserialize;
use std::path::PathBuf;

/// Where the fleet key is kept unless `key_file` says otherwise.
pub const DEFAULT_KEY_FILE: &str = "/etc/twofold/fleet-key";

/// `[fleet]`. Fleet mode is on when `urls` is not empty.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FleetConfig {
    /// The fleet's service instances, tried in order (failover within the connect timeout).
    pub urls: Vec<String>,
    /// The fleet key (root, 0600): one line per key, old and new during a rotation.
    pub key_file: PathBuf,
    /// What a sign-in does when no service answers.
    pub offline: Offline,
}

/// See [`FleetConfig::offline`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Offline {
    /// Use the cached record and this host's state; report the use when a service answers.
    #[default]
    Cached,
    /// Refuse the sign-in.
    Deny,
}

impl Offline {
    /// The configuration's word.
    pub fn as_str(self) -> &'static str {
        match self {
            Offline::Cached => "cached",
            Offline::Deny => "deny",
        }
    }
}

impl Default for FleetConfig {
    fn default() -> Self {
        FleetConfig {
            urls: Vec::new(),
            key_file: PathBuf::from(DEFAULT_KEY_FILE),
            offline: Offline::Cached,
        }
    }
}

impl FleetConfig {
    /// Whether this host belongs to a fleet.
    pub fn enabled(&self) -> bool {
        !self.urls.is_empty()
    }

    /// Semantic checks, as (key, reason).
    pub fn problems(&self, p: &mut Vec<(&'static str, String)>) {
        if self.urls.len() > 16 {
            p.push(("fleet.urls", "at most 16 URLs".into()));
        }
        for url in &self.urls {
            if let Err(e) = check_url(url) {
                p.push(("fleet.urls", format!("{url:?}: {e}")));
            }
        }
        if !self.key_file.is_absolute() {
            p.push(("fleet.key_file", "must be an absolute path".into()));
        }
    }
}
