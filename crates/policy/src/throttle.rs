//! Login throttling: growing delays per account (kanidm's schedule as a model) and a lock at
//! 100 consecutive failures (NIST SP 800-63B; ASVS 2.2.1).
//!
//! After a failure the next attempt must wait 1 s while failures < 3, 3 s while < 9, 5 s while
//! < 25 and 10 s while < 100. The 100th failure locks the account until the first UTC midnight
//! at least one hour later (or an administrator's unlock); a success clears everything.

use serde::{Deserialize, Serialize};

/// Failures that lock an account.
pub const LOCK_AT: u32 = 100;
/// Failures after which a second factor is demanded even where a role does not always need one.
pub const STEP_UP_AT: u32 = 3;

const DAY_MS: i64 = 86_400_000;
const HOUR_MS: i64 = 3_600_000;

/// The stored throttle state of an account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct FailureState {
    /// Consecutive failures.
    pub failures: u32,
    /// Time of the last failure.
    pub last_failure_ms: Option<i64>,
    /// Locked until this time.
    pub locked_until_ms: Option<i64>,
}

/// Whether a login attempt may be evaluated now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gate {
    /// Go ahead.
    Open,
    /// Too soon after the last failure.
    Delayed {
        /// When to try again.
        retry_at_ms: i64,
    },
    /// Locked.
    Locked {
        /// Until when.
        until_ms: i64,
    },
}

/// The delay after `failures` consecutive failures.
pub fn delay_ms(failures: u32) -> i64 {
    match failures {
        0 => 0,
        1..=2 => 1_000,
        3..=8 => 3_000,
        9..=24 => 5_000,
        _ => 10_000,
    }
}

/// The gate for an attempt at `now_ms`.
pub fn gate(state: &FailureState, now_ms: i64) -> Gate {
    if let Some(until) = state.locked_until_ms {
        if now_ms < until {
            return Gate::Locked { until_ms: until };
        }
        return Gate::Open;
    }
    match state.last_failure_ms {
        Some(last) if state.failures > 0 => {
            let retry_at = last.saturating_add(delay_ms(state.failures));
            if now_ms < retry_at { Gate::Delayed { retry_at_ms: retry_at } } else { Gate::Open }
        }
        _ => Gate::Open,
    }
}

/// The state after a failed attempt at `now_ms`. An expired lock starts a fresh count.
pub fn record_failure(state: &FailureState, now_ms: i64) -> FailureState {
    let base = match state.locked_until_ms {
        Some(until) if now_ms >= until => FailureState::default(),
        _ => *state,
    };
    let failures = base.failures.saturating_add(1);
    let locked_until_ms =
        if failures >= LOCK_AT { Some(base.locked_until_ms.unwrap_or_else(|| lock_until(now_ms))) } else { None };
    FailureState { failures, last_failure_ms: Some(now_ms), locked_until_ms }
}

/// The state after a successful login: clean.
pub fn record_success() -> FailureState {
    FailureState::default()
}

/// The first UTC midnight at least one hour after `now_ms`.
pub fn lock_until(now_ms: i64) -> i64 {
    let next_midnight = (now_ms.div_euclid(DAY_MS) + 1) * DAY_MS;
    if next_midnight - now_ms >= HOUR_MS { next_midnight } else { next_midnight + DAY_MS }
}

/// Whether the next login must present a second factor.
pub fn requires_step_up(state: &FailureState) -> bool {
    state.failures >= STEP_UP_AT
}

/// Whether a failure moving the count from `before` to `after` should alert security officers:
/// when it reaches `threshold`, and when it reaches the lock.
pub fn should_alert(before: u32, after: u32, threshold: u32) -> bool {
    (before < threshold && after >= threshold) || (before < LOCK_AT && after >= LOCK_AT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_hundred_attempts_with_a_simulated_clock() {
        let start = 1_795_000_000_000; // a Tuesday afternoon, UTC
        let mut now = start;
        let mut state = FailureState::default();
        let mut delays = Vec::new();
        let mut alerts = 0;
        for attempt in 0..200 {
            match gate(&state, now) {
                Gate::Open => {}
                Gate::Delayed { retry_at_ms } => {
                    delays.push(retry_at_ms - state.last_failure_ms.unwrap());
                    now = retry_at_ms;
                    assert_eq!(gate(&state, now), Gate::Open);
                }
                Gate::Locked { until_ms } => {
                    assert!(attempt >= 100, "locked too early at {attempt}");
                    assert_eq!(until_ms, lock_until(state.last_failure_ms.unwrap()));
                    continue;
                }
            }
            let before = state.failures;
            state = record_failure(&state, now);
            if should_alert(before, state.failures, 10) {
                alerts += 1;
            }
            if state.failures < LOCK_AT {
                assert!(state.locked_until_ms.is_none());
            }
        }
        assert_eq!(state.failures, 100);
        assert!(state.locked_until_ms.is_some());
        assert_eq!(alerts, 2, "one at the threshold, one at the lock");
        assert!(delays.windows(2).all(|w| w[0] <= w[1]), "delays never shrink");
        assert_eq!(delays.first(), Some(&1_000));
        assert_eq!(delays.last(), Some(&10_000));
        // Unlock by time at the next UTC day boundary.
        let until = state.locked_until_ms.unwrap();
        assert_eq!(until % DAY_MS, 0);
        assert!(matches!(gate(&state, until - 1), Gate::Locked { .. }));
        assert_eq!(gate(&state, until), Gate::Open);
        assert_eq!(record_failure(&state, until).failures, 1);
    }

    #[test]
    fn lock_is_at_least_an_hour() {
        let just_before_midnight = 10 * DAY_MS - 60_000;
        assert_eq!(lock_until(just_before_midnight), 11 * DAY_MS);
        assert_eq!(lock_until(10 * DAY_MS + 5), 11 * DAY_MS);
        assert!(requires_step_up(&FailureState { failures: 3, ..Default::default() }));
        assert!(!requires_step_up(&FailureState { failures: 2, ..Default::default() }));
    }
}
