//! The service on PostgreSQL over TLS (`sslmode=require`): a throwaway cluster with `ssl = on`
//! and a certificate from a test CA, on 127.0.0.1. The service connects only when the server's
//! certificate chains to `database_ca_file` and names the address; its connections are then
//! encrypted (PostgreSQL's own `pg_stat_ssl` says so); a CA file without `sslmode=require` is
//! refused rather than ignored.

mod serve_support;

use serve_support::postgres::Cluster;
use serve_support::*;
use std::process::Command;

/// A CA and a server certificate for 127.0.0.1 signed by it: (CA PEM, server cert PEM, key PEM).
fn test_ca() -> (String, String, String) {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let params = rcgen::CertificateParams::new(vec!["127.0.0.1".to_string()]).unwrap();
    let cert = params.signed_by(&key, &ca, &ca_key).unwrap();
    (ca.pem(), cert.pem(), key.serialize_pem())
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `twofold --config CONFIG serve --add-host web1` (it opens and migrates the database).
fn add_host(config: &std::path::Path) -> std::process::Output {
    Command::new(TWOFOLD)
        .arg("--config")
        .arg(config)
        .args(["serve", "--add-host", "web1"])
        .output()
        .expect("run twofold")
}

#[test]
fn the_service_reaches_postgresql_over_verified_tls_only() {
    let test = "serve_postgres_tls::the_service_reaches_postgresql_over_verified_tls_only";
    let (ca, cert, key) = test_ca();
    let cluster = match Cluster::start_tls(&cert, &key, free_port()) {
        Ok(c) => c,
        Err(why) => return skip(test, &why),
    };
    let out = cluster.client("psql", "postgres", &["-c", "CREATE DATABASE tls"]);
    assert!(out.status.success(), "{out:?}");
    let dir = tempfile::tempdir().unwrap();
    let ca_file = dir.path().join("pg-ca.pem");
    std::fs::write(&ca_file, &ca).unwrap();
    let tls = cluster.tcp_conninfo("127.0.0.1", "tls", "sslmode=require");

    // Trusting the test CA: the service starts, and its connections are TLS.
    let service = Service::start_on(
        &tls,
        &format!("database_ca_file = {:?}", ca_file.display().to_string()),
    );
    let host = Host::new(&service, "web1");
    assert!(!host.token.is_empty());
    let out = cluster.client(
        "psql",
        "postgres",
        &[
            "-At",
            "-c",
            "SELECT count(*) FILTER (WHERE s.ssl), count(*) FILTER (WHERE NOT s.ssl) \
             FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) WHERE a.datname = 'tls'",
        ],
    );
    let counts = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let (encrypted, plain) = counts.split_once('|').expect("two counts");
    assert!(
        encrypted.parse::<u32>().unwrap() >= 2,
        "pool and listener over TLS: {counts}"
    );
    assert_eq!(plain, "0", "no plain connection: {counts}");
    drop(service);

    // The system's CA bundle does not know the test CA: refused, saying why.
    let other = tempfile::tempdir().unwrap();
    let config = serve_support::backend::write_config_on(other.path(), &tls, "");
    let out = add_host(&config);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.to_lowercase().contains("certificate"),
        "names the certificate: {stderr}"
    );

    // A certificate for another name: refused too.
    let wrong_name = cluster.tcp_conninfo("localhost", "tls", "sslmode=require");
    let config = serve_support::backend::write_config_on(
        other.path(),
        &wrong_name,
        &format!("database_ca_file = {:?}", ca_file.display().to_string()),
    );
    let out = add_host(&config);
    assert!(
        !out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // A CA file while the connection string does not ask for TLS: refused, not ignored.
    let plain = cluster.tcp_conninfo("127.0.0.1", "tls", "");
    let config = serve_support::backend::write_config_on(
        other.path(),
        &plain,
        &format!("database_ca_file = {:?}", ca_file.display().to_string()),
    );
    let out = add_host(&config);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains("sslmode=require"), "{stderr}");
}
