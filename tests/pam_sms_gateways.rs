//! Text-message gateways through real libpam: a command (argv and stdin recorded) and an HTTP
//! request (a local server on 127.0.0.1 checks the templated body and the headers) receive the
//! number and a message with the code; a gateway that fails, hangs or is not there refuses
//! plainly within its timeout and logs why, never the code; the README's templates are valid.

mod common;

use common::sms::*;
use common::*;
use std::time::{Duration, Instant};
use twofold_core::signin::choice::Choice;
use twofold_pam_client::Message;

/// A gateway that fails, hangs or is missing: the user is told plainly (no details), within
/// the timeout, and asked for an app code; the log says why, without the code.
#[test]
fn a_failing_hanging_or_missing_gateway_refuses_plainly_within_its_timeout() {
    for (status, sleep, why) in [(1, 0, "exited with"), (0, 30, "killed after 2 s")] {
        let host = Host::new();
        let gw = CommandGateway::install(&host, status, sleep, "");
        host.enroll("dave");
        set_phone(&host, "dave", Some(NUMBER), Some(Choice::Sms));
        let started = Instant::now();

        let (outcome, transcript) = host.sign_in("dave", &[]);

        assert!(started.elapsed() < Duration::from_secs(6), "{why}");
        assert_eq!(outcome.name, "PAM_AUTH_ERR");
        assert!(
            transcript[0].contains("The text message could not be sent.")
                && !transcript[0].contains("gateway"),
            "{transcript:?}"
        );
        let code = gw.last_code();
        let line = host
            .audit_lines()
            .into_iter()
            .find(|l| l.starts_with("sms "))
            .unwrap();
        assert!(
            line.contains("result=failed") && line.contains(why),
            "{line}"
        );
        host.assert_log_holds_none_of(std::slice::from_ref(&code));
        // The code whose text failed was dropped: it does not sign anyone in.
        host.configure("");
        let (outcome, _) = host.sign_in("dave", &[&code]);
        assert_eq!(outcome.name, "PAM_AUTH_ERR", "{why}");
    }
    let host = Host::new();
    host.enroll("dave");
    set_phone(&host, "dave", Some(NUMBER), Some(Choice::Sms));
    host.configure(
        "[sms]\ngateway = \"command\"\n[sms.command]\nargv = [\"/nonexistent/send-sms\", \"{phone}\"]\n",
    );
    let (outcome, transcript) = host.sign_in("dave", &[]);
    assert_eq!(outcome.name, "PAM_AUTH_ERR");
    assert!(transcript[0].contains("The text message could not be sent."));
    assert!(
        host.audit_text()
            .contains("cannot run /nonexistent/send-sms")
    );
}

#[test]
fn the_http_gateway_gets_the_templated_body_and_the_secret_header() {
    let server = HttpGateway::start(200, "{\"messages\":[{\"status\":\"0\"}]}");
    let host = Host::new();
    let key = secret_file(&host, "sms.key", "s3cret-key\n", 0o600);
    let password = secret_file(&host, "sms.password", "pa55\n", 0o600);
    host.configure(&format!(
        r#"[sms]
gateway = "http"
phone_format = "e164"
[sms.http]
url = "{url}/sms/json?to={{phone}}"
basic_user = "api"
basic_password_file = {password:?}
success_body = "\"status\":\"0\""
[sms.http.body]
to = "{{phone}}"
text = "{{message}}"
[sms.http.secret_headers]
X-Api-Key = {key:?}
"#,
        url = server.url,
        password = password.display().to_string(),
        key = key.display().to_string(),
    ));
    host.enroll("erin");
    set_phone(&host, "erin", Some(NUMBER), Some(Choice::Sms));

    let mut responder = |msg: Message<'_>| -> Option<Vec<u8>> {
        match msg {
            Message::PromptEchoOff(_) => {
                let body = server.requests().pop().unwrap().body;
                let text = body.split("text=").nth(1).unwrap().to_string();
                Some(code_in(&text).into_bytes())
            }
            _ => None,
        }
    };
    let outcome = host.sign_in_with("erin", Some(RHOST), &mut responder);

    assert_eq!(outcome.name, "PAM_SUCCESS");
    let request = server.requests().pop().unwrap();
    assert_eq!(request.line, "POST /sms/json?to=31612345678 HTTP/1.1");
    assert_eq!(request.header("X-Api-Key"), Some("s3cret-key"));
    assert_eq!(request.header("Authorization"), Some("Basic YXBpOnBhNTU="));
    assert_eq!(
        request.header("Content-Type"),
        Some("application/x-www-form-urlencoded")
    );
    assert!(request.body.starts_with("text="), "{}", request.body);
    assert!(
        request.body.ends_with("&to=31612345678"),
        "{}",
        request.body
    );
    assert!(request.body.contains("+is+your+twofold+sign-in+code."));
    host.assert_log_holds_none_of(&["s3cret-key".into(), "pa55".into()]);
}

#[test]
fn an_http_gateway_that_answers_failure_or_has_a_readable_secret_sends_nothing_that_counts() {
    // Vonage answers 200 with an error status in the body.
    let server = HttpGateway::start(200, "{\"messages\":[{\"status\":\"4\"}]}");
    let host = Host::new();
    let config = |key: &std::path::Path| {
        format!(
            "[sms]\ngateway = \"http\"\n[sms.http]\nurl = \"{}/send\"\nbody_format = \"json\"\nsuccess_body = \"\\\"status\\\":\\\"0\\\"\"\n[sms.http.body]\nto = \"{{phone}}\"\n[sms.http.secret_headers]\nAuthorization = {:?}\n",
            server.url,
            key.display().to_string()
        )
    };
    let key = secret_file(&host, "sms.key", "Bearer k\n", 0o600);
    host.configure(&config(&key));
    host.enroll("frank");
    set_phone(&host, "frank", Some(NUMBER), Some(Choice::Sms));

    let (outcome, transcript) = host.sign_in("frank", &[]);

    assert_eq!(outcome.name, "PAM_AUTH_ERR");
    assert!(transcript[0].contains("The text message could not be sent."));
    let request = server.requests().pop().unwrap();
    assert_eq!(request.body, "{\"to\":\"+31612345678\"}");
    assert_eq!(request.header("Content-Type"), Some("application/json"));
    assert!(
        host.audit_text().contains("without"),
        "{}",
        host.audit_text()
    );

    // A key file others can read is refused before anything is sent.
    let loose = secret_file(&host, "loose.key", "Bearer k\n", 0o644);
    host.configure(&config(&loose));
    let before = server.requests().len();
    let (outcome, _) = host.sign_in("frank", &[]);
    assert_eq!(outcome.name, "PAM_AUTH_ERR");
    assert_eq!(server.requests().len(), before, "nothing sent");
    assert!(
        host.audit_text().contains("loose.key"),
        "{}",
        host.audit_text()
    );
}

/// The README's `[sms]` examples (the command gateway and the three HTTP templates) are
/// configurations the module accepts.
#[test]
fn the_readme_templates_are_valid_configuration() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let section = &readme[readme.find("## Text-message codes").unwrap()..];
    let blocks: Vec<&str> = section
        .split("```toml\n")
        .skip(1)
        .map(|b| b.split("```").next().unwrap())
        .collect();
    assert_eq!(blocks.len(), 2, "the [sms] example and the templates");
    let mut templates = vec![blocks[0].to_string()];
    for part in blocks[1].split("\n# ").filter(|p| p.contains("[sms]")) {
        templates.push(format!("# {part}"));
    }
    assert_eq!(templates.len(), 4, "{templates:#?}");
    for text in &templates {
        let parsed = twofold_core::config::Config::parse(text, std::path::Path::new("README"));
        let config = parsed.unwrap_or_else(|e| panic!("{e:?}\n{text}"));
        assert!(config.sms.enabled(), "{text}");
    }
}

#[test]
fn an_http_gateway_that_hangs_or_is_not_there_refuses_within_its_timeout() {
    // Accepts the connection and never answers.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let hanging = format!("http://{}", silent.local_addr().unwrap());
    // Nothing listens here any more.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", l.local_addr().unwrap())
    };
    for (url, why) in [(hanging, "timed out"), (closed, "connect")] {
        let host = Host::new();
        host.configure(&format!(
            "[sms]\ngateway = \"http\"\ntimeout_seconds = 1\n[sms.http]\nurl = \"{url}/send\"\n[sms.http.body]\nto = \"{{phone}}\"\n"
        ));
        host.enroll("judy");
        set_phone(&host, "judy", Some(NUMBER), Some(Choice::Sms));
        let started = Instant::now();

        let (outcome, transcript) = host.sign_in("judy", &[]);

        assert!(started.elapsed() < Duration::from_secs(4), "{why}");
        assert_eq!(outcome.name, "PAM_AUTH_ERR");
        assert!(transcript[0].contains("The text message could not be sent."));
        let line = host
            .audit_lines()
            .into_iter()
            .find(|l| l.starts_with("sms "))
            .unwrap();
        assert!(
            line.contains("result=failed") && line.contains(why),
            "{line}"
        );
    }
    drop(silent);
}
