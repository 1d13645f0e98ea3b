//! Failure counting and lockout: pure decisions over the user's state.
#![forbid(unsafe_code)]

use crate::config::RateLimitConfig;
use crate::store::UserState;

/// Whether the second factor is locked at `now`.
pub fn is_locked(state: &UserState, now: u64) -> bool {
    state.locked_until > now
}

/// Counts a failure; locks once `max_failures` consecutive failures are reached.
pub fn record_failure(state: &mut UserState, limits: &RateLimitConfig, now: u64) {
    state.failures = state.failures.saturating_add(1);
    if state.failures >= limits.max_failures {
        state.locked_until = now.saturating_add(limits.lockout_seconds);
    }
}

/// Clears the failure count after a success.
pub fn record_success(state: &mut UserState, now: u64) {
    state.failures = 0;
    state.locked_until = 0;
    state.last_success = now;
}

/// Ends a lockout (`twofold unlock`).
pub fn unlock(state: &mut UserState) {
    state.failures = 0;
    state.locked_until = 0;
}

/// The delay libpam should add after this failure: grows with consecutive failures.
pub fn failure_delay_ms(state: &UserState, limits: &RateLimitConfig) -> u64 {
    limits
        .failure_delay_ms
        .saturating_mul(u64::from(state.failures.clamp(1, 10)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lockout_after_max_failures_and_unlock() {
        let limits = RateLimitConfig {
            max_failures: 3,
            lockout_seconds: 60,
            failure_delay_ms: 100,
        };
        let mut s = UserState::default();
        for _ in 0..2 {
            record_failure(&mut s, &limits, 1000);
            assert!(!is_locked(&s, 1000));
        }
        assert_eq!(failure_delay_ms(&s, &limits), 200);
        record_failure(&mut s, &limits, 1000);
        assert!(is_locked(&s, 1000));
        assert!(is_locked(&s, 1059));
        assert!(!is_locked(&s, 1060), "lockout ends by itself");
        unlock(&mut s);
        assert!(!is_locked(&s, 1000));
        assert_eq!(s.failures, 0);
    }
}
