//! Push approval test support: a host whose configuration points at an approval service, a
//! host token, a user enrolled with a paired test device, and sign-ins in which the "phone"
//! acts the moment the module shows the number.

use super::{Host, RHOST, SERVICE, user_name};
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::time::Duration;
use twofold_core::push::client::Client;
use twofold_core::push::device::TestDevice;
use twofold_core::push::endpoint::Endpoint;
use twofold_core::push::local::LocalService;
use twofold_core::push::protocol::{Challenge, DecisionKind, b64u};
use twofold_core::push::service::Service;
use twofold_core::secret::SecretString;
use twofold_core::store::UserStore;
use twofold_pam_client::{self as client, Message, Outcome};

/// The approval service a test talks to: the real `twofold serve`, a child process.
pub struct ServiceHandle {
    pub url: String,
    pub token: String,
    /// The service (stopped first when dropped), then its directory.
    real: Option<(LocalService, tempfile::TempDir)>,
}

impl ServiceHandle {
    /// The real `twofold serve` on 127.0.0.1 (a free port), with host "testhost" registered.
    pub fn real() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("twofold-serve-")
            .tempdir()
            .expect("tempdir");
        let twofold = std::path::Path::new(env!("CARGO_BIN_EXE_twofold"));
        let service = LocalService::start(
            twofold,
            dir.path(),
            "testhost",
            "client_requests_per_minute = 0",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        ServiceHandle {
            url: service.url().to_string(),
            token: service.token().expose().to_string(),
            real: Some((service, dir)),
        }
    }

    /// The service's own log (real service only).
    pub fn log(&self) -> String {
        self.real
            .as_ref()
            .map(|(service, _)| service.log())
            .unwrap_or_default()
    }

    /// The service as a host sees it (with `token`).
    pub fn as_host(&self, token: &str) -> Service {
        twofold_core::outside::install_system();
        let endpoint = Endpoint::parse(&self.url).expect("service url");
        let token = Some(SecretString::new(token.to_string()));
        Service::new(Client::new(endpoint, token, Duration::from_secs(2)))
    }

    /// The service as a device sees it (no host token).
    pub fn as_device(&self) -> Service {
        twofold_core::outside::install_system();
        let endpoint = Endpoint::parse(&self.url).expect("service url");
        Service::new(Client::new(endpoint, None, Duration::from_secs(2)))
    }
}

/// A host, its service, and Alice with a paired phone.
pub struct PushHost {
    pub host: Host,
    pub service: ServiceHandle,
    pub phone: TestDevice,
    pub token_path: PathBuf,
    pub user: &'static str,
    pub enrolled: super::Enrolled,
}

/// The `[push]` section for `url` and a token file; `extra` keys (TOML) win.
pub fn push_config(url: &str, token_path: &std::path::Path, extra: &str) -> String {
    let mut push: toml::Table = toml::from_str(&format!(
        "url = {url:?}\nhost_token_file = {:?}\nhost_name = \"testhost\"\nconnect_timeout_ms = 500\ntimeout_seconds = 20\n",
        token_path.display().to_string()
    ))
    .unwrap();
    let extra: toml::Table = toml::from_str(extra).expect("valid [push] keys");
    push.extend(extra);
    let mut top = toml::Table::new();
    top.insert("push".into(), toml::Value::Table(push));
    toml::to_string(&top).unwrap()
}

impl PushHost {
    /// Against the real `twofold serve`; `extra` goes into `[push]` (e.g. `fail_mode = "deny"`).
    pub fn new(extra: &str) -> Self {
        Self::with_service(ServiceHandle::real(), extra)
    }

    pub fn with_service(service: ServiceHandle, extra: &str) -> Self {
        let host = Host::new();
        let token_path = host.root.join("host-token");
        write_token(&token_path, &service.token);
        host.configure(&push_config(&service.url, &token_path, extra));
        let user = "alice";
        let enrolled = host.enroll(user);
        let mut push = PushHost {
            phone: TestDevice::new("unpaired").unwrap(),
            host,
            service,
            token_path,
            user,
            enrolled,
        };
        push.pair_phone();
        push
    }

    /// Pairs the phone through the service as `twofold enroll --push` does, and records it.
    pub fn pair_phone(&mut self) {
        let host_side = self.service.as_host(&self.service.token);
        let secret = [0x42u8; 32];
        let key = twofold_core::push::protocol::pairing_completion_key(&secret);
        let pairing = host_side
            .create_pairing(self.user, &twofold_core::push::protocol::b64u(&key))
            .expect("create pairing");
        self.phone
            .pair(&self.service.as_device(), &pairing.pairing_id, &secret)
            .expect("complete pairing");
        let done = host_side
            .wait_pairing(&pairing.pairing_id, 5)
            .expect("wait pairing")
            .expect("pairing complete");
        assert!(twofold_core::push::protocol::pairing_proof_ok(
            &secret,
            &pairing.pairing_id,
            &done.public_key,
            &done.proof
        ));
        self.add_device(self.phone.record_entry(super::now()));
    }

    /// Adds a device entry to the user's record.
    pub fn add_device(&self, device: twofold_core::factor::device::Device) {
        self.edit_record(|r| r.devices.push(device));
    }

    pub fn edit_record(&self, change: impl FnOnce(&mut twofold_core::store::UserRecord)) {
        let store = UserStore::open(&self.host.state_dir).unwrap();
        let name = user_name(self.user);
        let mut record = store.load_record(&name).unwrap().unwrap();
        change(&mut record);
        let lock = store.lock(&name).unwrap();
        store.save_record(&name, &lock, &record).unwrap();
    }

    /// The challenge waiting for the phone (exactly one).
    pub fn pending(&self) -> Challenge {
        let list = self
            .phone
            .pending(&self.service.as_device(), super::now())
            .expect("pending");
        assert_eq!(list.len(), 1, "one pending challenge: {list:?}");
        list.into_iter().next().unwrap()
    }

    /// The phone answers the pending challenge.
    pub fn answer(&self, kind: DecisionKind, number: &str) {
        let challenge = self.pending();
        self.phone
            .answer(
                &self.service.as_device(),
                &challenge,
                kind,
                number,
                super::now(),
            )
            .expect("post decision");
    }

    /// Signs Alice in; `phone` runs once when the module shows the number (prompt text or
    /// info), prompts are answered with `typed` in turn (then with Enter).
    pub fn sign_in(
        &self,
        mut phone: impl FnMut(&Self, u8),
        typed: &[&str],
    ) -> (Outcome, Vec<String>) {
        let mut typed: std::collections::VecDeque<String> =
            typed.iter().map(|s| s.to_string()).collect();
        let mut seen_number = false;
        let mut transcript = Vec::new();
        let mut responder = |msg: Message<'_>| {
            let (tag, text, prompt) = match msg {
                Message::PromptEchoOff(t) => ("PROMPT_ECHO_OFF", t, true),
                Message::PromptEchoOn(t) => ("PROMPT_ECHO_ON", t, true),
                Message::ErrorMsg(t) => ("ERROR", t, false),
                Message::TextInfo(t) => ("INFO", t, false),
            };
            transcript.push(format!("{tag}: {text}"));
            if !seen_number && let Some(n) = number_in(text) {
                seen_number = true;
                phone(self, n);
            }
            prompt.then(|| typed.pop_front().unwrap_or_default().into_bytes())
        };
        let sign_in = client::SignIn {
            service: SERVICE,
            user: self.user.as_bytes(),
            confdir: &self.host.pamd,
            rhost: Some(RHOST),
            tty: None,
            flags: 0,
        };
        let outcome = client::authenticate(&sign_in, &mut responder).expect("sign-in attempted");
        (outcome, transcript)
    }
}

/// The number in "... number 42 ...".
pub use twofold_core::push::device::number_shown as number_in;

/// Writes a host token file (0600).
pub fn write_token(path: &std::path::Path, token: &str) {
    std::fs::write(path, format!("{token}\n")).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
}

/// A token the service does not know.
pub fn wrong_token() -> String {
    b64u(&[0x17; 32])
}
