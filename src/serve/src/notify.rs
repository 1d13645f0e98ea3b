//! Telling phones that a challenge waits: an encrypted Web Push message to each subscribed
//! device, and optionally one ntfy message with a `view` link to the page. Neither carries a
//! secret: Web Push carries `{"type":"challenge","id":…}` (encrypted end to end), ntfy only a
//! fixed text and the page's address. Sending never delays the host's request.
#![forbid(unsafe_code)]

use super::push_target::{PushResolver, PushTargets};
use super::store::{DeviceRow, Store};
use super::webpush::{self, VapidKey};
use super::wire::PushSubscription;
use super::{b64u, log, unix_now};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;
use twofold_core::config::ServeConfig;

/// Notifications in flight at once; more wait for a slot.
const MAX_IN_FLIGHT: usize = 64;

/// The notifier, shared by the handlers.
pub struct Notifier {
    /// For Web Push: connects only to allowed (public) addresses, no proxy.
    http: reqwest::Client,
    /// For ntfy (an address the administrator configured).
    ntfy_http: reqwest::Client,
    targets: Arc<PushTargets>,
    vapid: VapidKey,
    /// VAPID `sub`: whom a push service can contact.
    subject: String,
    page_url: Option<String>,
    ntfy_url: Option<String>,
    slots: Arc<Semaphore>,
    store: Store,
}

impl Notifier {
    pub fn new(
        config: &ServeConfig,
        vapid: VapidKey,
        store: Store,
        targets: Arc<PushTargets>,
    ) -> Result<Notifier, reqwest::Error> {
        let builder = || {
            reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .connect_timeout(Duration::from_secs(5))
                .redirect(reqwest::redirect::Policy::none())
                .user_agent(concat!("twofold-serve/", env!("CARGO_PKG_VERSION")))
        };
        // A proxy would resolve the name itself, past the address check.
        let http = builder()
            .no_proxy()
            .dns_resolver(Arc::new(PushResolver(Arc::clone(&targets))))
            .build()?;
        let ntfy_http = builder().build()?;
        let page_url = config.public_base().map(|b| format!("{b}/"));
        Ok(Notifier {
            http,
            ntfy_http,
            targets,
            vapid,
            subject: config
                .public_base()
                .map_or_else(|| "mailto:root@localhost".to_string(), str::to_string),
            page_url,
            ntfy_url: config.ntfy_url.clone(),
            slots: Arc::new(Semaphore::new(MAX_IN_FLIGHT)),
            store,
        })
    }

    /// The VAPID public key the page subscribes with.
    pub fn vapid_public(&self) -> String {
        self.vapid.public_b64u()
    }

    /// Sends the notifications for a new challenge in the background.
    pub fn challenge_created(
        self: &Arc<Self>,
        challenge_id: &str,
        expires: u64,
        devices: Vec<DeviceRow>,
    ) {
        let this = Arc::clone(self);
        let payload = serde_json::json!({ "type": "challenge", "id": challenge_id }).to_string();
        tokio::spawn(async move {
            let ttl = expires.saturating_sub(unix_now());
            for device in devices {
                let Some(json) = device.push_subscription.as_deref() else {
                    continue;
                };
                let Ok(sub) = serde_json::from_str::<PushSubscription>(json) else {
                    continue;
                };
                let this = Arc::clone(&this);
                let payload = payload.clone();
                tokio::spawn(async move {
                    let Ok(_slot) = this.slots.acquire().await else {
                        return;
                    };
                    this.web_push(&device.device_id, &sub, &payload, ttl).await;
                });
            }
            if this.ntfy_url.is_some() {
                let Ok(_slot) = this.slots.acquire().await else {
                    return;
                };
                this.ntfy().await;
            }
        });
    }

    async fn web_push(&self, device_id: &str, sub: &PushSubscription, payload: &str, ttl: u64) {
        let (Ok(p256dh), Ok(auth)) = (b64u::decode(&sub.keys.p256dh), b64u::decode(&sub.keys.auth))
        else {
            return;
        };
        let body = match webpush::encrypt(&p256dh, &auth, payload.as_bytes()) {
            Ok(body) => body,
            Err(e) => {
                return log(&format!(
                    "event=push_failed device={device_id} reason={:?}",
                    e.to_string()
                ));
            }
        };
        // IP literals never reach the resolver: check them here (names are checked there).
        if let Err(why) = self.targets.check_endpoint(&sub.endpoint) {
            return log(&format!(
                "event=push_refused device={device_id} reason={why:?}"
            ));
        }
        let Some(authorization) =
            self.vapid
                .authorization(&sub.endpoint, &self.subject, unix_now())
        else {
            return;
        };
        let sent = self
            .http
            .post(&sub.endpoint)
            .header("TTL", ttl.to_string())
            .header("Urgency", "high")
            .header("Content-Encoding", "aes128gcm")
            .header("Content-Type", "application/octet-stream")
            .header("Authorization", authorization)
            .body(body)
            .send()
            .await;
        match sent {
            Ok(r) if r.status().is_success() => {}
            Ok(r) if r.status() == 404 || r.status() == 410 => {
                // The browser dropped the subscription: stop sending to it.
                log(&format!("event=push_subscription_gone device={device_id}"));
                let cleared = self.store.set_subscription(device_id, None).await;
                if let Err(e) = cleared {
                    log(&format!(
                        "event=push_failed device={device_id} reason={:?}",
                        e.to_string()
                    ));
                }
            }
            Ok(r) => log(&format!(
                "event=push_failed device={device_id} status={}",
                r.status().as_u16()
            )),
            Err(e) => log(&format!(
                "event=push_failed device={device_id} reason={:?}",
                error_reason(e)
            )),
        }
    }

    async fn ntfy(&self) {
        let (Some(url), Some(page)) = (&self.ntfy_url, &self.page_url) else {
            return;
        };
        let sent = self
            .ntfy_http
            .post(url)
            .header("Title", "twofold")
            .header("Priority", "high")
            .header("Tags", "lock")
            .header("Click", page.as_str())
            .header("Actions", format!("view, Open, {page}, clear=true"))
            .body("A sign-in is waiting for your approval.")
            .send()
            .await;
        match sent {
            Ok(r) if r.status().is_success() => {}
            Ok(r) => log(&format!("event=ntfy_failed status={}", r.status().as_u16())),
            Err(e) => log(&format!("event=ntfy_failed reason={:?}", e.to_string())),
        }
    }
}

/// A client error for the log: without the URL (a push endpoint is a capability) and with
/// its causes (e.g. the address check's refusal).
fn error_reason(e: reqwest::Error) -> String {
    let e = e.without_url();
    let mut text = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
