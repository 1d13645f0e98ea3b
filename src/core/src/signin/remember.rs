//! `[remember]`: after a success, the same user, service and remote address may skip the
//! second factor for a while. Pure functions over the user's state.
#![forbid(unsafe_code)]

use crate::config::RememberConfig;
use crate::store::UserState;
use crate::store::state::Remembered;

/// Whether a still-valid success is remembered for this service and address.
pub fn is_remembered(state: &UserState, service: &str, rhost: &str, now: u64) -> bool {
    state
        .remembered
        .iter()
        .any(|r| r.service == service && r.rhost == rhost && r.until > now)
}

/// Remembers a success, if configured; never for an address-less service unless `local`.
/// Expired entries are dropped on the way.
pub fn remember(
    state: &mut UserState,
    config: &RememberConfig,
    service: &str,
    rhost: &str,
    now: u64,
) {
    state
        .remembered
        .retain(|r| r.until > now && !(r.service == service && r.rhost == rhost));
    if config.seconds == 0 || (rhost.is_empty() && !config.local) {
        return;
    }
    let until = now.saturating_add(config.seconds);
    state.remembered.push(Remembered {
        service: service.into(),
        rhost: rhost.into(),
        until,
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembered_only_for_same_service_and_address_until_expiry() {
        let cfg = RememberConfig {
            seconds: 60,
            local: false,
        };
        let mut s = UserState::default();
        remember(&mut s, &cfg, "sshd", "192.0.2.7", 1000);
        assert!(is_remembered(&s, "sshd", "192.0.2.7", 1059));
        assert!(!is_remembered(&s, "sshd", "192.0.2.7", 1060));
        assert!(!is_remembered(&s, "sshd", "192.0.2.8", 1000));
        assert!(!is_remembered(&s, "sudo", "192.0.2.7", 1000));
    }

    #[test]
    fn local_services_only_when_configured_and_off_by_default() {
        let mut s = UserState::default();
        remember(
            &mut s,
            &RememberConfig {
                seconds: 60,
                local: false,
            },
            "sudo",
            "",
            1000,
        );
        assert!(!is_remembered(&s, "sudo", "", 1000));
        remember(
            &mut s,
            &RememberConfig {
                seconds: 60,
                local: true,
            },
            "sudo",
            "",
            1000,
        );
        assert!(is_remembered(&s, "sudo", "", 1000));
        let mut off = UserState::default();
        remember(
            &mut off,
            &RememberConfig::default(),
            "sshd",
            "192.0.2.7",
            1000,
        );
        assert!(off.remembered.is_empty());
    }
}
