//! Fleet mode end to end: three hosts (own configuration, host token and state directory)
//! and one real `twofold serve` in fleet mode (SQLite), sign-ins through real libpam. A user
//! enrolled on host A signs in on B and C; each code works once fleet-wide, also when 64
//! sign-ins race over the three hosts; a record the service tampered with, moved or rolled
//! back is refused; with the service down the cached record signs in (or `offline = "deny"`
//! refuses) and the use is reported once the service is back.

mod common;

use common::fleet::Fleet;
use common::*;
use std::sync::{Arc, Barrier};
use twofold_core::fleet::envelope::seal;

#[test]
fn enrolled_on_a_signs_in_on_b_and_c_and_each_code_works_once_fleet_wide() {
    let fleet = Fleet::new("");
    let alice = fleet.a().enroll("alice");
    wait_for_step_margin(&alice, 5);
    let (earlier, now, later) = (
        code_at_offset(&alice, -1),
        code_at_offset(&alice, 0),
        code_at_offset(&alice, 1),
    );

    let (outcome, _) = fleet.a().host.sign_in("alice", &[&earlier]);
    assert_eq!(
        outcome.name,
        "PAM_SUCCESS",
        "{}",
        fleet.a().host.audit_text()
    );

    // B has never seen alice: it fetches the record, and the code used on A is refused.
    let (outcome, _) = fleet.b().host.sign_in("alice", &[&earlier]);
    assert_eq!(outcome.name, "PAM_AUTH_ERR");
    fleet
        .b()
        .host
        .last_decision()
        .assert_decision("alice", "failure", "replayed_code");
    let (outcome, _) = fleet.b().host.sign_in("alice", &[&now]);
    assert_eq!(
        outcome.name,
        "PAM_SUCCESS",
        "{}",
        fleet.b().host.audit_text()
    );

    let (outcome, _) = fleet.c().host.sign_in("alice", &[&now]);
    assert_eq!(outcome.name, "PAM_AUTH_ERR", "used on B: refused on C");
    let (outcome, _) = fleet.c().host.sign_in("alice", &[&later]);
    assert_eq!(
        outcome.name,
        "PAM_SUCCESS",
        "{}",
        fleet.c().host.audit_text()
    );
    fleet
        .c()
        .host
        .last_decision()
        .assert_decision("alice", "success", "ok");

    for h in &fleet.hosts {
        h.host
            .assert_log_holds_none_of(&[alice.secret.expose().to_string(), later.clone()]);
    }
    let db = std::fs::read(fleet.service.dir.path().join("serve.db")).unwrap_or_default();
    let secret = alice.secret.expose().as_bytes();
    assert!(
        !db.windows(secret.len()).any(|w| w == secret),
        "the service's database holds no base32 key"
    );
}

#[test]
fn one_code_raced_by_64_sign_ins_over_three_hosts_succeeds_once_in_each_of_5_rounds() {
    let fleet = Arc::new(Fleet::new(""));
    for round in 0..5 {
        let user = format!("racer{round}");
        let params = fleet.a().enroll(&user);
        wait_for_step_margin(&params, 8);
        let code = code_now(&params);
        let barrier = Arc::new(Barrier::new(64));
        let threads: Vec<_> = (0..64)
            .map(|i| {
                let (fleet, barrier, user, code) =
                    (fleet.clone(), barrier.clone(), user.clone(), code.clone());
                std::thread::spawn(move || {
                    barrier.wait();
                    let (outcome, _) = fleet.hosts[i % 3].host.sign_in(&user, &[&code]);
                    outcome.name == "PAM_SUCCESS"
                })
            })
            .collect();
        let successes = threads
            .into_iter()
            .map(|t| t.join().unwrap())
            .filter(|ok| *ok)
            .count();
        assert_eq!(successes, 1, "round {round}: exactly one sign-in succeeds");
        let refused: usize = fleet
            .hosts
            .iter()
            .map(|h| {
                h.host
                    .decisions()
                    .iter()
                    .filter(|d| d.get("user") == user && d.get("reason") == "replayed_code")
                    .count()
            })
            .sum();
        assert_eq!(
            refused, 63,
            "round {round}: the others are refused as replays"
        );
    }
}

/// Enrolls alice on A and lets B cache her record; the key.
fn alice_cached_on_b(fleet: &Fleet) -> twofold_core::factor::totp::TotpParams {
    let alice = fleet.a().enroll("alice");
    let out = fleet.b().twofold(&["status", "alice"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    alice
}

fn assert_refused_record(fleet: &Fleet, alice: &twofold_core::factor::totp::TotpParams) {
    let (outcome, _) = fleet.b().host.sign_in("alice", &[&code_now(alice)]);
    assert_eq!(outcome.name, "PAM_AUTH_ERR");
    fleet
        .b()
        .host
        .last_decision()
        .assert_decision("alice", "failure", "fleet_record_refused");
}

#[test]
fn a_record_the_service_tampered_with_is_refused() {
    let fleet = Fleet::new("");
    let alice = alice_cached_on_b(&fleet);
    let (version, record) = fleet.served("alice");
    let mut record = record.expect("a record");
    // The service relabels the record as the next version and flips a byte.
    record.version = version + 1;
    let flipped = if record.ciphertext.starts_with('A') {
        "B"
    } else {
        "A"
    };
    record.ciphertext.replace_range(0..1, flipped);
    let api = fleet.a().client(&fleet.service.url);
    api.put(&user_name("alice"), version, &record)
        .expect("PUT accepted by the service");

    assert_refused_record(&fleet, &alice);
    let d = fleet.b().host.last_decision();
    assert!(d.get("detail").contains("tampered"), "{}", d.raw);
    // A host that never saw alice refuses it just the same.
    let (outcome, _) = fleet.c().host.sign_in("alice", &[&code_now(&alice)]);
    assert_eq!(outcome.name, "PAM_AUTH_ERR");
}

#[test]
fn a_record_moved_to_another_user_is_refused() {
    let fleet = Fleet::new("");
    let alice = alice_cached_on_b(&fleet);
    let (_, record) = fleet.served("alice");
    let mut moved = record.expect("a record");
    // The service files alice's sealed record under bob, who then "has" alice's key.
    moved.user = "bob".into();
    moved.version = 1;
    let api = fleet.a().client(&fleet.service.url);
    api.put(&user_name("bob"), 0, &moved).expect("PUT accepted");

    let (outcome, _) = fleet.b().host.sign_in("bob", &[&code_now(&alice)]);
    assert_eq!(outcome.name, "PAM_AUTH_ERR");
    fleet
        .b()
        .host
        .last_decision()
        .assert_decision("bob", "failure", "fleet_record_refused");
}

#[test]
fn a_record_rolled_back_by_the_service_is_refused() {
    let fleet = Fleet::new("");
    let alice = alice_cached_on_b(&fleet);
    let (_, old) = fleet.served("alice");
    let old = old.expect("version 1");
    // A new version (e.g. a device removed), which B verifies.
    let out = fleet.a().twofold(&["recovery-codes", "alice"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = fleet.b().twofold(&["status", "alice"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (version, _) = fleet.served("alice");
    assert_eq!(version, 2);
    // The service serves version 1 again: deleted and put back through the API.
    let api = fleet.a().client(&fleet.service.url);
    api.delete(&user_name("alice"), 2).expect("DELETE");
    api.put(&user_name("alice"), 0, &old)
        .expect("PUT version 1");

    assert_refused_record(&fleet, &alice);
    let d = fleet.b().host.last_decision();
    assert!(
        d.get("detail").contains("older than version 2"),
        "{}",
        d.raw
    );
}

#[test]
fn a_record_sealed_with_another_fleets_key_is_refused() {
    let fleet = Fleet::new("");
    let alice = alice_cached_on_b(&fleet);
    let (version, record) = fleet.served("alice");
    let _ = record;
    let stranger = twofold_core::fleet::key::FleetKey::generate().unwrap();
    let text = format!(
        "version = 1\ncreated = 1\nid = \"ffffffffffffffff\"\n[totp]\nsecret = {:?}\nalgorithm = \"SHA1\"\ndigits = 6\nperiod = 30\n",
        alice.secret.expose()
    );
    let forged = seal(&stranger, "alice", version + 1, text.as_bytes()).unwrap();
    let api = fleet.a().client(&fleet.service.url);
    api.put(&user_name("alice"), version, &forged)
        .expect("PUT accepted");
    assert_refused_record(&fleet, &alice);
}

#[test]
fn offline_the_cache_signs_in_and_the_use_is_reported_when_the_service_is_back() {
    let mut fleet = Fleet::new("");
    fleet.c().host.configure(
        &std::fs::read_to_string(&fleet.c().host.config_path)
            .unwrap()
            .replace("[fleet]\n", "[fleet]\noffline = \"deny\"\n"),
    );
    let alice = alice_cached_on_b(&fleet);
    let out = fleet.c().twofold(&["status", "alice"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    wait_for_step_margin(&alice, 8);
    let code = code_now(&alice);

    fleet.service.stop();
    let (outcome, _) = fleet.b().host.sign_in("alice", &[&code]);
    assert_eq!(
        outcome.name,
        "PAM_SUCCESS",
        "{}",
        fleet.b().host.audit_text()
    );
    assert!(
        fleet
            .b()
            .host
            .audit_lines()
            .iter()
            .any(|l| l.starts_with("fleet ") && l.contains("offline=cached")),
        "{}",
        fleet.b().host.audit_text()
    );
    let (outcome, transcript) = fleet.c().host.sign_in("alice", &[""]);
    assert_eq!(outcome.name, "PAM_AUTH_ERR");
    fleet
        .c()
        .host
        .last_decision()
        .assert_decision("alice", "failure", "fleet_offline");
    assert!(
        transcript[0].contains("cannot be reached"),
        "{transcript:?}"
    );

    fleet.service.start();
    // B's next sign-in (of anyone) reaches the service and reports the offline use.
    let (outcome, _) = fleet.b().host.sign_in("alice", &[&wrong_code(&alice)]);
    assert_eq!(outcome.name, "PAM_AUTH_ERR");
    let report = fleet
        .b()
        .host
        .audit_lines()
        .into_iter()
        .find(|l| l.starts_with("fleet_report "))
        .unwrap_or_else(|| panic!("no report: {}", fleet.b().host.audit_text()));
    let report = Entry::parse(&report);
    assert_eq!((report.get("uses"), report.get("refused")), ("1", "0"));

    // A (online, never used that code) refuses it now.
    let (outcome, _) = fleet.a().host.sign_in("alice", &[&code]);
    assert_eq!(outcome.name, "PAM_AUTH_ERR");
    fleet
        .a()
        .host
        .last_decision()
        .assert_decision("alice", "failure", "replayed_code");
}
