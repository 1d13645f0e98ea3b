//! Running the approval service: TLS, refusing plain HTTP off loopback, host tokens added and
//! removed, limits (rate, pending challenges), configuration checks, the page, file modes.

mod serve_support;

use serde_json::{Value, json};
use serve_support::*;
use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Stdio};

#[tokio::test]
async fn tls_is_served_when_a_certificate_is_configured() {
    let dir = tempfile::tempdir().unwrap();
    let cert = rcgen::generate_simple_self_signed(vec!["127.0.0.1".into(), "localhost".into()])
        .expect("certificate");
    let (cert_pem, key_pem) = (cert.cert.pem(), cert.key_pair.serialize_pem());
    std::fs::write(dir.path().join("cert.pem"), &cert_pem).unwrap();
    std::fs::write(dir.path().join("key.pem"), key_pem).unwrap();
    let config = write_config(
        dir.path(),
        &format!(
            "tls_cert = \"{d}/cert.pem\"\ntls_key = \"{d}/key.pem\"",
            d = dir.path().display()
        ),
    );
    let (mut child, base) = spawn(&config, dir.path());
    assert!(base.starts_with("https://127.0.0.1:"), "{base}");
    let https = reqwest::Client::builder()
        .no_proxy()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(cert_pem.as_bytes()).unwrap())
        .build()
        .unwrap();
    let r = https.get(format!("{base}/v1/push-key")).send().await;
    let plain = client()
        .get(base.replace("https://", "http://") + "/v1/push-key")
        .send()
        .await;
    child.kill().ok();
    child.wait().ok();
    assert_eq!(r.expect("HTTPS request").status(), 200);
    assert!(
        plain.map(|r| r.status() != 200).unwrap_or(true),
        "no plain HTTP on the TLS port"
    );
}

#[test]
fn plain_http_on_a_public_address_refuses_to_start() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), "");
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(&config, text.replace("127.0.0.1:0", "0.0.0.0:0")).unwrap();
    let out = Command::new(TWOFOLD)
        .arg("--config")
        .arg(&config)
        .arg("serve")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("plain HTTP"), "{stderr}");
    assert!(stderr.contains("behind_proxy"), "{stderr}");
    // The same mistake is reported by check-config.
    let check = Command::new(TWOFOLD)
        .arg("--config")
        .arg(&config)
        .arg("check-config")
        .output()
        .unwrap();
    assert!(!check.status.success());
    assert!(String::from_utf8_lossy(&check.stderr).contains("serve.listen"));
}

#[test]
fn a_mistake_in_serve_is_reported_by_check_config_but_does_not_break_the_module_config() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), "max_pendingg = 5");
    let check = Command::new(TWOFOLD)
        .arg("--config")
        .arg(&config)
        .arg("check-config")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&check.stderr);
    assert!(!check.status.success());
    assert!(
        stderr.contains("serve") && stderr.contains("max_pendingg"),
        "{stderr}"
    );
    // The module reads the same file; [serve] is not its business.
    let loaded = twofold_core::config::Config::load(&config, true);
    assert!(loaded.is_ok(), "{loaded:?}");
}

#[tokio::test]
async fn a_removed_host_token_stops_working() {
    let service = Service::start("");
    let host = Host::new(&service, "web1");
    let again = service.cli(&["serve", "--add-host", "web1"]);
    assert!(!again.status.success(), "a name is added once");
    let c = Host::challenge("alice", &["d1"], 60);
    host.open(&c).await;
    let out = service.cli(&["serve", "--remove-host", "web1"]);
    assert!(out.status.success(), "{out:?}");
    let c = Host::challenge("bob", &["d1"], 60);
    assert_eq!(
        host.post("/v1/challenges", &c)
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
    assert!(
        !service
            .cli(&["serve", "--remove-host", "web1"])
            .status
            .success()
    );
    assert!(
        !service
            .cli(&["serve", "--add-host", "bad/name"])
            .status
            .success()
    );
}

#[tokio::test]
async fn unauthenticated_endpoints_are_rate_limited_per_client() {
    let service = Service::start("client_requests_per_minute = 5");
    let http = client();
    let decision = json!({"device_id": "d", "decision": "deny", "number": "", "decided_at": 1,
        "signature": b64u([1u8; 64])});
    let mut statuses = Vec::new();
    for _ in 0..7 {
        let r = http
            .post(service.url("/v1/challenges/AAAAAAAAAAAAAAAAAAAAAA/decision"))
            .body(decision.to_string())
            .send()
            .await
            .unwrap();
        statuses.push(r.status().as_u16());
    }
    assert_eq!(statuses[..5], [404; 5]);
    assert_eq!(statuses[5..], [429; 2]);
}

#[tokio::test]
async fn a_full_service_answers_503() {
    let service = Service::start("max_pending = 2");
    let host = Host::new(&service, "web1");
    for user in ["a", "b"] {
        let c = Host::challenge(user, &["d1"], 60);
        host.open(&c).await;
    }
    let c = Host::challenge("c", &["d1"], 60);
    let r = host.post("/v1/challenges", &c).send().await.unwrap();
    assert_eq!(r.status(), 503);
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "full");
}

#[tokio::test]
async fn the_page_is_served_with_a_strict_content_security_policy() {
    let service = Service::start("");
    for path in ["/", "/pair"] {
        let r = client().get(service.url(path)).send().await.unwrap();
        assert_eq!(r.status(), 200, "{path}");
        let h = r.headers();
        assert!(h["content-type"].to_str().unwrap().starts_with("text/html"));
        assert!(
            h["content-security-policy"]
                .to_str()
                .unwrap()
                .contains("frame-ancestors 'none'")
        );
        assert_eq!(h["referrer-policy"], "no-referrer");
    }
    let r = client()
        .get(service.url("/v1/nothing"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
}

#[tokio::test]
async fn the_database_and_vapid_key_are_private() {
    let service = Service::start("");
    let host = Host::new(&service, "web1");
    for file in ["serve.db", "vapid.key"] {
        let mode = std::fs::metadata(service.dir.path().join(file))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "{file} mode {mode:o}");
    }
    let db = std::fs::read(service.dir.path().join("serve.db")).unwrap();
    assert!(
        !String::from_utf8_lossy(&db).contains(&host.token),
        "only the token's hash is stored"
    );
}

#[test]
fn a_database_root_creates_belongs_to_the_service_directory_owner() {
    if !rustix::process::geteuid().is_root() {
        assert_ne!(
            std::env::var("CI").as_deref(),
            Ok("true"),
            "CI=true: must run as root"
        );
        eprintln!("SKIP a_database_root_creates_belongs_to_the_service_directory_owner: not root");
        return;
    }
    use std::os::unix::fs::MetadataExt;
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("twofold-serve");
    std::fs::create_dir(&state).unwrap();
    // As systemd's StateDirectory= for a DynamicUser: owned by the service's user.
    std::os::unix::fs::chown(&state, Some(65534), Some(65534)).unwrap();
    let config = write_config(dir.path(), "");
    let text = std::fs::read_to_string(&config).unwrap();
    let moved = text.replace(
        &format!("{}/serve.db", dir.path().display()),
        &format!("{}/serve.db", state.display()),
    );
    std::fs::write(&config, moved).unwrap();
    let out = Command::new(TWOFOLD)
        .arg("--config")
        .arg(&config)
        .args(["serve", "--add-host", "web1"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let db = std::fs::metadata(state.join("serve.db")).unwrap();
    assert_eq!(
        (db.uid(), db.gid(), db.mode() & 0o777),
        (65534, 65534, 0o600)
    );
}

#[test]
fn the_systemd_unit_verifies() {
    let Ok(out) = Command::new("systemd-analyze").arg("--version").output() else {
        assert_ne!(
            std::env::var("CI").as_deref(),
            Ok("true"),
            "CI=true: systemd-analyze missing"
        );
        eprintln!("SKIP the_systemd_unit_verifies: systemd-analyze not installed");
        return;
    };
    assert!(out.status.success());
    let dir = tempfile::tempdir().unwrap();
    let unit = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/packaging/twofold-serve.service"
    ))
    .unwrap()
    .replace("/usr/sbin/twofold", TWOFOLD);
    let path = dir.path().join("twofold-serve.service");
    std::fs::write(&path, unit).unwrap();
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&path)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && stderr.trim().is_empty(), "{stderr}");
}

/// The service's allocator options are built into the binary (.cargo/config.toml,
/// src/cli/main.rs): without them every waiting long-poll keeps a resident page more.
#[test]
fn the_binary_carries_its_allocator_options() {
    let out = Command::new(TWOFOLD)
        .arg("--version")
        .env("_RJEM_MALLOC_CONF", "stats_print:true,stats_print_opts:J")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let start = stderr.find('{').expect("jemalloc's statistics on stderr");
    let stats: Value = serde_json::from_str(stderr[start..].trim()).expect("statistics as JSON");
    let opt = &stats["jemalloc"]["opt"];
    assert_eq!(opt["tcache_max"], 4096, "{opt}");
    assert_eq!(opt["dirty_decay_ms"], 0, "{opt}");
}
