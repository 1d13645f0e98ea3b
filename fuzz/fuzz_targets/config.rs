//! The configuration file (and the `[serve]` section the service reads), the module's
//! arguments from a pam.d line, and `[push] url` as the client reads it; the plain reader
//! reads a configuration as the general TOML parser does.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::path::Path;
use twofold_core::config::Config;
use twofold_core::options::ModuleOptions;
use twofold_core::push::config::check_url;
use twofold_core::push::endpoint::Endpoint;
use twofold_core::store::plain_toml;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // The plain reader (store::plain_toml) reads what the general TOML parser reads.
    let plain = plain_toml::from_str::<Config>(text).map(|c| format!("{c:?}"));
    let general = toml::from_str::<Config>(text).map(|c| format!("{c:?}"));
    assert_eq!(plain.ok(), general.ok(), "configuration reading differs");
    let file = Path::new("/etc/twofold/config.toml");
    if let Ok(config) = Config::parse(text, file) {
        let _ = config.serve_config(file);
        let _ = config.unenrolled_at(1_800_000_000);
        let _ = config.algorithm();
        let _ = config.push.host_name();
    }
    let args: Vec<&str> = text.split([' ', '\t', '\n']).collect();
    let _ = ModuleOptions::parse(&args);
    if let Ok(endpoint) = Endpoint::parse(text) {
        assert!(!endpoint.host.is_empty());
        assert!(!endpoint.base_path.ends_with('/'));
        let _ = endpoint.host_header();
        let _ = check_url(text);
    }
});
