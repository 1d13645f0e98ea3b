//! The configuration file: defaults, every key's validation, errors that name file and key.

use super::*;

#[test]
fn empty_file_gives_defaults() {
    let c = Config::parse("", Path::new("t.toml")).unwrap();
    assert_eq!(c.state_dir, PathBuf::from("/var/lib/twofold"));
    assert_eq!(c.totp.digits, 6);
    assert_eq!(c.rate_limit.max_failures, 5);
}

#[test]
fn errors_name_file_key_and_reason() {
    let text = "state_dir = \"relative\"\n[totp]\ndigits = 9\nalgorithm = \"MD5\"\n";
    let errs = Config::parse(text, Path::new("/etc/x.toml")).unwrap_err();
    let shown: Vec<String> = errs.iter().map(|e| e.to_string()).collect();
    assert!(
        shown.contains(&"/etc/x.toml: state_dir: must be an absolute path".to_string()),
        "{shown:?}"
    );
    assert!(
        shown
            .iter()
            .any(|s| s.starts_with("/etc/x.toml: totp.digits: must be 6, 7 or 8"))
    );
    assert!(
        shown
            .iter()
            .any(|s| s.starts_with("/etc/x.toml: totp.algorithm: unknown algorithm"))
    );
}

#[test]
fn deadline_ends_enrollment_after_the_day() {
    let c = Config::parse(
        "[enrollment]\nunenrolled = \"enroll\"\ndeadline = \"2027-01-31\"\n",
        Path::new("c"),
    )
    .unwrap();
    let end_of_day = 1_801_440_000; // 2027-02-01T00:00:00Z
    assert_eq!(c.unenrolled_at(end_of_day - 1), Unenrolled::Enroll);
    assert_eq!(c.unenrolled_at(end_of_day), Unenrolled::Refuse);
    assert!(Config::parse("[enrollment]\ndeadline = \"2027-02-30\"\n", Path::new("c")).is_err());
    assert_eq!(parse_date("1970-01-01"), Some(86_400));
}

#[test]
fn unknown_keys_and_syntax_errors_give_a_line() {
    let errs = Config::parse("issuer = \"x\"\n\n[totp]\ndigitz = 6\n", Path::new("c")).unwrap_err();
    assert_eq!(errs[0].at, "totp.digitz (line 4)");
    assert!(errs[0].reason.contains("digitz"), "{}", errs[0].reason);
    let errs = Config::parse("issuer = \n", Path::new("c")).unwrap_err();
    assert_eq!(errs[0].at, "line 1");
}

#[test]
fn push_settings_are_validated() {
    let ok = Config::parse(
        "[push]\nurl = \"https://push.example.org\"\n",
        Path::new("c"),
    );
    let ok = ok.unwrap();
    assert!(ok.push.enabled());
    assert_eq!(ok.push.page_url(), "https://push.example.org");
    assert_eq!(ok.push.timeout_seconds, 60);
    assert!(Config::parse("[push]\nurl = \"http://127.0.0.1:8080/\"\n", Path::new("c")).is_ok());
    let errs = Config::parse(
        "[push]\nurl = \"http://push.example.org\"\ntimeout_seconds = 900\nfail_mode = \"maybe\"\n",
        Path::new("c"),
    )
    .unwrap_err();
    assert!(errs[0].reason.contains("fail_mode") || errs[0].reason.contains("maybe"));
    let errs = Config::parse(
        "[push]\nurl = \"http://push.example.org\"\ntimeout_seconds = 900\nconnect_timeout_ms = 1\n",
        Path::new("c"),
    )
    .unwrap_err();
    let keys: Vec<&str> = errs.iter().map(|e| e.at.as_str()).collect();
    assert_eq!(
        keys,
        [
            "push.url",
            "push.timeout_seconds",
            "push.connect_timeout_ms"
        ]
    );
}

#[test]
fn push_is_off_without_a_url_and_the_host_name_defaults_to_the_kernels() {
    let c = Config::parse("", Path::new("c")).unwrap();
    assert!(!c.push.enabled());
    assert!(!c.push.host_name().is_empty());
}

#[test]
fn every_mistake_is_reported_at_once_with_its_key_in_plain_words() {
    let text = "[enrollment]\nunenrolled = \"yes\"\n\n[rate_limit]\nlockout_seconds = \"five\"\n\n[totp]\ndigits = 9\n";
    let errs = Config::parse(text, Path::new("/etc/twofold/twofold.toml")).unwrap_err();
    let shown: Vec<String> = errs.iter().map(ToString::to_string).collect();
    assert_eq!(
        shown,
        [
            "/etc/twofold/twofold.toml: enrollment.unenrolled (line 2): must be one of \"refuse\", \"allow\", \"enroll\" (got \"yes\")",
            "/etc/twofold/twofold.toml: rate_limit.lockout_seconds (line 5): must be a whole number, 0 or more (got the text \"five\")",
            "/etc/twofold/twofold.toml: totp.digits: must be 6, 7 or 8 (got 9)",
        ]
    );
}

#[test]
fn an_unknown_section_is_one_mistake_not_one_per_key() {
    let text = "[pushh]\nurl = \"https://x\"\nmode = \"wait\"\n\n[totp]\ndigits = 5\n";
    let errs = Config::parse(text, Path::new("c")).unwrap_err();
    assert_eq!(errs.len(), 2, "{errs:?}");
    assert_eq!(errs[0].at, "pushh (line 1)");
    assert!(
        errs[0].reason.starts_with("unknown key \"pushh\""),
        "{}",
        errs[0].reason
    );
    assert_eq!(errs[1].at, "totp.digits");
}

#[test]
fn sms_settings_are_validated() {
    let ok = "[sms]\ngateway = \"command\"\ndefault_country = \"NL\"\n[sms.command]\nargv = [\"/usr/bin/x\", \"{phone}\"]\n";
    assert!(Config::parse(ok, Path::new("c")).unwrap().sms.enabled());
    let bad = "[sms]\ngateway = \"command\"\ndefault_country = \"XX\"\ncode_seconds = 5\n[sms.command]\nargv = [\"relative\", \"{code}\"]\n";
    let errs = Config::parse(bad, Path::new("c")).unwrap_err();
    let at: Vec<&str> = errs.iter().map(|e| e.at.as_str()).collect();
    assert!(at.contains(&"sms.default_country"), "{errs:?}");
    assert!(at.contains(&"sms.code_seconds"), "{errs:?}");
    assert!(at.contains(&"sms.command.argv"), "{errs:?}");
    let http = "[sms]\ngateway = \"http\"\n[sms.http]\nurl = \"http://sms.example.org/send\"\nbasic_user = \"u\"\n";
    let errs = Config::parse(http, Path::new("c")).unwrap_err();
    let at: Vec<&str> = errs.iter().map(|e| e.at.as_str()).collect();
    assert!(
        at.contains(&"sms.http.url"),
        "plain http off loopback: {errs:?}"
    );
    assert!(at.contains(&"sms.http.basic_user"), "{errs:?}");
    let argv_code =
        "[sms]\ngateway = \"command\"\n[sms.command]\nargv = [\"/bin/x\", \"{code}\"]\n";
    let errs = Config::parse(argv_code, Path::new("c")).unwrap_err();
    assert!(errs[0].reason.contains("ps shows it"), "{errs:?}");
}

#[test]
fn fleet_section_is_off_by_default_and_push_follows_the_first_fleet_url() {
    let c = Config::parse("", Path::new("t.toml")).unwrap();
    assert!(!c.fleet.enabled());
    assert_eq!(c.push.url, None, "no fleet, no push");
    let text = "[fleet]\nurls = [\"https://push1.example.org\", \"https://push2.example.org\"]\noffline = \"deny\"\n";
    let c = Config::parse(text, Path::new("t.toml")).unwrap();
    assert!(c.fleet.enabled());
    assert_eq!(c.fleet.offline, Offline::Deny);
    assert_eq!(c.fleet.key_file, PathBuf::from(DEFAULT_KEY_FILE));
    assert_eq!(c.push.url.as_deref(), Some("https://push1.example.org"));
    let own = format!("{text}[push]\nurl = \"https://approve.example.org\"\n");
    let c = Config::parse(&own, Path::new("t.toml")).unwrap();
    assert_eq!(c.push.url.as_deref(), Some("https://approve.example.org"));
}

#[test]
fn fleet_mistakes_are_named() {
    let text = "[fleet]\nurls = [\"http://push.example.org\"]\nkey_file = \"fleet-key\"\noffline = \"maybe\"\nurl = \"x\"\n";
    let errs = Config::parse(text, Path::new("/etc/x.toml")).unwrap_err();
    let shown: Vec<String> = errs.iter().map(|e| e.to_string()).collect();
    assert!(
        shown
            .iter()
            .any(|s| s.contains("fleet") && s.contains("url")),
        "unknown key named: {shown:?}"
    );
    let text = "[fleet]\nurls = [\"http://push.example.org\"]\nkey_file = \"fleet-key\"\n";
    let errs = Config::parse(text, Path::new("/etc/x.toml")).unwrap_err();
    let shown: Vec<String> = errs.iter().map(|e| e.to_string()).collect();
    assert!(
        shown.iter().any(|s| s
            .starts_with("/etc/x.toml: fleet.urls: \"http://push.example.org\": must be https://")),
        "{shown:?}"
    );
    assert!(
        shown.contains(&"/etc/x.toml: fleet.key_file: must be an absolute path".to_string()),
        "{shown:?}"
    );
    let errs = Config::parse("[fleet]\noffline = \"maybe\"\n", Path::new("c")).unwrap_err();
    assert!(errs[0].to_string().contains("offline"), "{errs:?}");
}
