//! TLS for `https://` service URLs: rustls (ring) with the system's CA bundle, read from fixed
//! paths. Not from `SSL_CERT_FILE` and friends: inside sudo the environment is the invoking
//! user's, and a user who can swap the trust store can make the service "unreachable" at will.
#![forbid(unsafe_code)]

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore};
use std::path::Path;
use std::sync::Arc;

/// Where distributions keep the CA bundle (Debian/Ubuntu, Fedora/RHEL, openSUSE, Alpine/BSD).
const SYSTEM_BUNDLES: &[&str] = &[
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/ca-bundle.pem",
    "/etc/ssl/cert.pem",
];

/// Builds the client configuration: trust `ca_file` if given, else the first system bundle found.
pub fn client_config(ca_file: Option<&Path>) -> Result<Arc<ClientConfig>, String> {
    let mut roots = RootCertStore::empty();
    let candidates: Vec<&Path> = match ca_file {
        Some(path) => vec![path],
        None => SYSTEM_BUNDLES.iter().map(Path::new).collect(),
    };
    for path in candidates {
        let Ok(certs) = CertificateDer::pem_file_iter(path) else {
            continue;
        };
        let certs: Vec<_> = certs.filter_map(Result::ok).collect();
        let (added, _) = roots.add_parsable_certificates(certs);
        if added > 0 {
            break;
        }
    }
    if roots.is_empty() {
        return Err(match ca_file {
            Some(p) => format!("no CA certificate in {}", p.display()),
            None => "no system CA bundle found (install ca-certificates)".into(),
        });
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// A client connection for `host` (a name or an IP address).
pub fn connection(config: Arc<ClientConfig>, host: &str) -> Result<ClientConnection, String> {
    let name = ServerName::try_from(host.to_string()).map_err(|e| e.to_string())?;
    ClientConnection::new(config, name).map_err(|e| e.to_string())
}
