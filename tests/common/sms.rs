//! Text-message gateways for tests: a command that records its argv and stdin, a local HTTP
//! server that records the request, and a user with a confirmed number.

use super::{Host, RHOST, now, user_name};
use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use twofold_core::signin::choice::Choice;
use twofold_core::store::UserStore;
use twofold_core::store::record::Phone;
use twofold_pam_client::Message;

/// The Dutch number every test user gets.
pub const NUMBER: &str = "+31612345678";
/// It as the module shows it.
pub const MASKED: &str = "+31 6 ****5678";

/// A command gateway: a shell script appending each call's argv and stdin to files in the
/// host's directory, then exiting with `status` (after `sleep` seconds).
pub struct CommandGateway {
    pub argv_log: PathBuf,
    pub stdin_log: PathBuf,
}

impl CommandGateway {
    /// Installs the script and points `[sms]` at it (`extra` is more TOML for `[sms]`).
    pub fn install(host: &Host, status: u8, sleep: u32, extra: &str) -> Self {
        Self::install_with(host, status, sleep, extra, "")
    }

    /// Like [`CommandGateway::install`], with other sections (`sections`) too.
    pub fn install_with(host: &Host, status: u8, sleep: u32, extra: &str, sections: &str) -> Self {
        let script = host.root.join("gateway.sh");
        let gw = CommandGateway {
            argv_log: host.root.join("gateway.argv"),
            stdin_log: host.root.join("gateway.stdin"),
        };
        fs::write(
            &script,
            format!(
                "#!/bin/sh\nprintf '%s\\n' \"$@\" >> {argv}\ncat >> {stdin}\nsleep {sleep}\nexit {status}\n",
                argv = gw.argv_log.display(),
                stdin = gw.stdin_log.display(),
            ),
        )
        .unwrap();
        fs::set_permissions(&script, fs::Permissions::from_mode(0o755)).unwrap();
        host.configure(&format!(
            "[sms]\ngateway = \"command\"\ndefault_country = \"NL\"\ntimeout_seconds = 2\n{extra}\n[sms.command]\nargv = [\"/bin/sh\", {:?}, \"{{phone}}\"]\n{sections}",
            script.display().to_string()
        ));
        gw
    }

    /// Every number the gateway was called with, in order.
    pub fn numbers(&self) -> Vec<String> {
        fs::read_to_string(&self.argv_log)
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }

    /// Every message it received, in order.
    pub fn messages(&self) -> Vec<String> {
        fs::read_to_string(&self.stdin_log)
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }

    /// The code in the last message.
    pub fn last_code(&self) -> String {
        let messages = self.messages();
        let last = messages.last().expect("a text was sent");
        code_in(last)
    }
}

/// The six digits a message starts with.
pub fn code_in(message: &str) -> String {
    let code: String = message.chars().take(6).collect();
    assert!(
        code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit()),
        "{message}"
    );
    code
}

/// Gives `user` a confirmed number and a default method, as `twofold phone` and
/// `twofold default-method` would.
pub fn set_phone(host: &Host, user: &str, number: Option<&str>, default: Option<Choice>) {
    let store = UserStore::open(&host.state_dir).unwrap();
    let name = user_name(user);
    let lock = store.lock(&name).unwrap();
    let mut record = store.load_record(&name).unwrap().unwrap();
    record.phone = number.map(|n| Phone {
        number: n.into(),
        verified: now(),
        verified_by: "admin".into(),
    });
    record.default_method = default;
    store.save_record(&name, &lock, &record).unwrap();
}

/// One request as the local HTTP gateway received it.
#[derive(Debug, Clone, Default)]
pub struct Request {
    pub line: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Request {
    /// The header's value (names compared case-insensitively).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A local HTTP server on 127.0.0.1 answering every request with `status` and `body`.
pub struct HttpGateway {
    pub url: String,
    pub requests: Arc<Mutex<Vec<Request>>>,
}

impl HttpGateway {
    pub fn start(status: u16, body: &'static str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let requests = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&requests);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut request = Request::default();
                let _ = reader.read_line(&mut request.line);
                request.line = request.line.trim_end().to_string();
                let mut length = 0;
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || line.trim().is_empty() {
                        break;
                    }
                    if let Some((name, value)) = line.trim_end().split_once(':') {
                        let value = value.trim().to_string();
                        if name.eq_ignore_ascii_case("content-length") {
                            length = value.parse().unwrap_or(0);
                        }
                        request.headers.push((name.to_string(), value));
                    }
                }
                let mut received = vec![0u8; length];
                let _ = reader.read_exact(&mut received);
                request.body = String::from_utf8_lossy(&received).into_owned();
                seen.lock().unwrap().push(request);
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status} X\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        });
        HttpGateway { url, requests }
    }

    /// The requests so far.
    pub fn requests(&self) -> Vec<Request> {
        self.requests.lock().unwrap().clone()
    }
}

/// Writes a secret file with `mode` in the host's directory.
pub fn secret_file(host: &Host, name: &str, text: &str, mode: u32) -> PathBuf {
    let path = host.root.join(name);
    fs::write(&path, text).unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(mode)).unwrap();
    path
}

/// Signs in answering the text-message prompt with the code the gateway got, and every other
/// prompt with the next of `answers`.
pub fn sign_in_reading_texts(
    host: &Host,
    gw: &CommandGateway,
    user: &str,
    answers: &[&str],
) -> (String, Vec<String>) {
    let mut answers: std::collections::VecDeque<String> =
        answers.iter().map(|a| a.to_string()).collect();
    let mut transcript = Vec::new();
    let mut responder = |msg: Message<'_>| -> Option<Vec<u8>> {
        let (tag, text) = match msg {
            Message::PromptEchoOff(t) => ("PROMPT_ECHO_OFF", t),
            Message::PromptEchoOn(t) => ("PROMPT_ECHO_ON", t),
            Message::ErrorMsg(t) => ("ERROR", t),
            Message::TextInfo(t) => ("INFO", t),
        };
        transcript.push(format!("{tag}: {text}"));
        if tag.starts_with("PROMPT") {
            let next = answers.pop_front()?;
            if next == "<sms>" {
                return Some(gw.last_code().into_bytes());
            }
            return Some(next.into_bytes());
        }
        None
    };
    let outcome = host.sign_in_with(user, Some(RHOST), &mut responder);
    (outcome.name.to_string(), transcript)
}
