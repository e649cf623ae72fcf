//! Login throttling per account: growing delays (kanidm's soft-lock schedule as a model) and a
//! lock at 100 consecutive failures (NIST SP 800-63B 5.2.2: no more than 100; ASVS 4.0 2.2.1).
//!
//! After a failure the next attempt must wait 1 s while failures < 3, 3 s while < 9, 5 s while
//! < 25 and 10 s while < 100. The 100th consecutive failure locks the account until the first UTC
//! midnight at least one hour later, so a lock always lasts between 1 and 25 hours and ends at a
//! predictable time (kanidm: "until the next UTC day"; the hour keeps a failure at 23:59 from
//! unlocking a minute later). When the lock ends the count starts again from zero, so an attacker
//! gets at most 100 guesses per account per day. A successful login or an administrator's unlock
//! clears everything.
//!
//! After 3 failures a second factor is demanded even from roles that do not always need one
//! (repeated access attempts call for further authentication), and security officers are
//! alerted when a tenant's threshold is crossed and again at the lock.

use serde::{Deserialize, Serialize};

/// Consecutive failures that lock an account.
pub const LOCK_AT: u32 = 100;
/// Consecutive failures after which a second factor is demanded even where a role does not
/// always need one.
pub const STEP_UP_AT: u32 = 3;

const DAY_MS: i64 = 86_400_000;
const HOUR_MS: i64 = 3_600_000;

/// The stored throttle state of an account. `Default` is a clean account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct FailureState {
    /// Consecutive failures.
    pub failures: u32,
    /// Time of the last failure (Unix milliseconds).
    pub last_failure_ms: Option<i64>,
    /// Locked until this time (Unix milliseconds), exclusive.
    pub locked_until_ms: Option<i64>,
}

/// Whether a login attempt may be evaluated now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "gate", rename_all = "snake_case")]
pub enum Gate {
    /// Go ahead.
    Open,
    /// Too soon after the last failure.
    Delayed {
        /// When to try again.
        retry_at_ms: i64,
    },
    /// Locked after too many failures.
    Locked {
        /// Until when (exclusive).
        until_ms: i64,
    },
}

impl Gate {
    /// Whether the attempt may go ahead.
    pub fn is_open(&self) -> bool {
        matches!(self, Gate::Open)
    }
}

/// The wait after the `failures`-th consecutive failure before the next attempt.
pub fn delay_ms(failures: u32) -> i64 {
    match failures {
        0 => 0,
        1..3 => 1_000,
        3..9 => 3_000,
        9..25 => 5_000,
        _ => 10_000,
    }
}

/// The gate for an attempt at `now_ms`.
pub fn gate(state: &FailureState, now_ms: i64) -> Gate {
    gate_scaled(state, now_ms, 1)
}

/// [`gate`] with the delays divided by `divisor` (tests on real processes; the lock is kept).
pub fn gate_scaled(state: &FailureState, now_ms: i64, divisor: u32) -> Gate {
    if let Some(until_ms) = state.locked_until_ms {
        // An expired lock opens the gate; the next failure starts a fresh count.
        return if now_ms < until_ms { Gate::Locked { until_ms } } else { Gate::Open };
    }
    match state.last_failure_ms {
        Some(last) if state.failures > 0 => {
            let retry_at_ms = last.saturating_add(delay_ms(state.failures) / i64::from(divisor.max(1)));
            if now_ms < retry_at_ms { Gate::Delayed { retry_at_ms } } else { Gate::Open }
        }
        _ => Gate::Open,
    }
}

/// The state after a failed attempt at `now_ms`.
///
/// Every call counts, including one made during a delay or a lock: the caller decides which
/// attempts are failures (callvault's login refuses attempts at a closed gate without checking
/// the password, and does not call this for them). The lock is set when the count reaches
/// [`LOCK_AT`] and is not extended by later failures. After an expired lock the count starts
/// again from one.
pub fn record_failure(state: &FailureState, now_ms: i64) -> FailureState {
    let base = match state.locked_until_ms {
        Some(until) if now_ms >= until => FailureState::default(),
        _ => *state,
    };
    let failures = base.failures.saturating_add(1);
    let locked_until_ms = match base.locked_until_ms {
        Some(until) => Some(until),
        None if failures >= LOCK_AT => Some(lock_until(now_ms)),
        None => None,
    };
    FailureState { failures, last_failure_ms: Some(now_ms), locked_until_ms }
}

/// The state after a successful login: clean.
pub fn record_success() -> FailureState {
    FailureState::default()
}

/// The state after an administrator or security officer unlocks the account: clean.
pub fn unlock() -> FailureState {
    FailureState::default()
}

/// When a lock that starts at `now_ms` ends: the first UTC midnight at least one hour later.
pub fn lock_until(now_ms: i64) -> i64 {
    let next_midnight = now_ms.div_euclid(DAY_MS).saturating_add(1).saturating_mul(DAY_MS);
    if next_midnight.saturating_sub(now_ms) >= HOUR_MS { next_midnight } else { next_midnight.saturating_add(DAY_MS) }
}

/// Whether the next login must present a second factor: after [`STEP_UP_AT`] consecutive
/// failures, until a successful login or an unlock clears the count.
pub fn requires_step_up(state: &FailureState) -> bool {
    state.failures >= STEP_UP_AT
}

/// Whether a failure that moved the count from `failures_before` to `failures_after` should alert
/// security officers: exactly when it crosses `threshold` (a tenant setting; 0 never alerts), and
/// again when it reaches the lock. One alert when both happen at once.
pub fn should_alert(failures_before: u32, failures_after: u32, threshold: u32) -> bool {
    let crosses = |level: u32| failures_before < level && failures_after >= level;
    (threshold > 0 && crosses(threshold)) || crosses(LOCK_AT)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2026-11-23 14:13:20 UTC, a Monday afternoon.
    const AFTERNOON: i64 = 1_795_443_200_000;

    #[test]
    fn two_hundred_attempts_with_a_simulated_clock() {
        let mut now = AFTERNOON;
        let mut state = FailureState::default();
        let mut delays = Vec::new();
        let mut alerts = Vec::new();
        let mut locked_refusals = 0;
        let mut locked_at = None;
        for attempt in 1..=200u32 {
            match gate(&state, now) {
                Gate::Open => {}
                Gate::Delayed { retry_at_ms } => {
                    assert_eq!(gate(&state, retry_at_ms - 1), Gate::Delayed { retry_at_ms });
                    delays.push(retry_at_ms - state.last_failure_ms.unwrap());
                    now = retry_at_ms;
                    assert_eq!(gate(&state, now), Gate::Open);
                }
                Gate::Locked { until_ms } => {
                    assert!(attempt > 100, "locked too early, at attempt {attempt}");
                    assert_eq!(Some(until_ms), state.locked_until_ms);
                    locked_refusals += 1;
                    now += 60_000;
                    continue;
                }
            }
            let before = state.failures;
            state = record_failure(&state, now);
            assert_eq!(state.failures, attempt);
            if should_alert(before, state.failures, 10) {
                alerts.push(state.failures);
            }
            assert_eq!(state.locked_until_ms.is_some(), attempt == 100, "attempt {attempt}");
            if attempt == 100 {
                locked_at = Some(now);
            }
            assert_eq!(requires_step_up(&state), attempt >= 3);
        }
        assert_eq!(state.failures, 100, "the lock stops the count at exactly 100");
        assert_eq!(locked_refusals, 100);
        assert_eq!(alerts, [10, 100], "one at the threshold, one at the lock");
        // The delays grow by kanidm's schedule: 2 × 1 s, 6 × 3 s, 16 × 5 s, 75 × 10 s.
        let count = |ms| delays.iter().filter(|d| **d == ms).count();
        assert_eq!((count(1_000), count(3_000), count(5_000), count(10_000)), (2, 6, 16, 75));
        assert!(delays.is_sorted(), "delays never shrink");
        assert_eq!(delays.len(), 99);

        // Unlocked by time at the next UTC day boundary.
        let locked_at = locked_at.unwrap();
        let until = state.locked_until_ms.unwrap();
        assert_eq!(until, lock_until(locked_at));
        assert_eq!(until.rem_euclid(DAY_MS), 0, "a UTC midnight");
        assert!(until - locked_at >= HOUR_MS && until - locked_at < DAY_MS + HOUR_MS);
        assert_eq!(until, 1_795_478_400_000, "2026-11-24 00:00 UTC");
        assert_eq!(gate(&state, until - 1), Gate::Locked { until_ms: until });
        assert_eq!(gate(&state, until), Gate::Open);
        assert!(requires_step_up(&state), "still a second factor after the lock ends");
        let fresh = record_failure(&state, until);
        assert_eq!(fresh, FailureState { failures: 1, last_failure_ms: Some(until), locked_until_ms: None });
        assert_eq!(record_success(), FailureState::default());
    }

    #[test]
    fn a_failure_during_a_delay_or_a_lock_still_counts() {
        let first = record_failure(&FailureState::default(), AFTERNOON);
        assert_eq!(gate(&first, AFTERNOON + 1), Gate::Delayed { retry_at_ms: AFTERNOON + 1_000 });
        let second = record_failure(&first, AFTERNOON + 1);
        assert_eq!(second.failures, 2);
        assert_eq!(gate(&second, AFTERNOON + 500), Gate::Delayed { retry_at_ms: AFTERNOON + 1_001 });

        let locked = FailureState { failures: 99, last_failure_ms: Some(AFTERNOON), ..Default::default() };
        let locked = record_failure(&locked, AFTERNOON + 1);
        let until = locked.locked_until_ms.unwrap();
        let later = record_failure(&locked, until - 1);
        assert_eq!((later.failures, later.locked_until_ms), (101, Some(until)), "the lock is not extended");
        assert!(!should_alert(100, 101, 10), "no alert after the lock");
    }

    #[test]
    fn the_lock_ends_at_a_utc_midnight_at_least_an_hour_away() {
        let day = 20_000 * DAY_MS;
        assert_eq!(lock_until(day), day + DAY_MS, "at midnight: the next one");
        assert_eq!(lock_until(day + 5), day + DAY_MS);
        assert_eq!(lock_until(day + DAY_MS - HOUR_MS), day + DAY_MS, "exactly an hour before: that midnight");
        assert_eq!(lock_until(day + DAY_MS - HOUR_MS + 1), day + 2 * DAY_MS, "less than an hour: the one after");
        assert_eq!(lock_until(day + DAY_MS - 60_000), day + 2 * DAY_MS);
        assert_eq!(lock_until(-1), DAY_MS, "before 1970 too");
        assert_eq!(lock_until(i64::MAX), i64::MAX, "saturates instead of overflowing");
    }

    #[test]
    fn an_unlock_resets_everything() {
        let mut state = FailureState::default();
        for i in 0..100 {
            state = record_failure(&state, AFTERNOON + i * 10_000);
        }
        assert!(matches!(gate(&state, AFTERNOON + 1_000_000), Gate::Locked { .. }));
        let state = unlock();
        assert_eq!(state, FailureState::default());
        assert!(gate(&state, AFTERNOON + 1_000_000).is_open());
        assert!(!requires_step_up(&state));
    }

    #[test]
    fn alerts_fire_exactly_when_crossing() {
        // (before, after, threshold, alert)
        let table = [
            (0, 1, 3, false),
            (2, 3, 3, true),
            (3, 4, 3, false),
            (0, 5, 3, true),
            (98, 99, 3, false),
            (99, 100, 3, true),
            (100, 101, 3, false),
            (99, 100, 100, true),
            (99, 100, 150, true),
            (149, 150, 150, true),
            (0, 1, 0, false),
            (0, 1, 1, true),
        ];
        for (before, after, threshold, want) in table {
            assert_eq!(should_alert(before, after, threshold), want, "{before} -> {after} at {threshold}");
        }
    }

    #[test]
    fn step_up_after_three_failures() {
        let at = |failures| requires_step_up(&FailureState { failures, ..Default::default() });
        assert!(!at(0) && !at(2));
        assert!(at(3) && at(99) && at(100));
    }

    #[test]
    fn delays_follow_the_schedule() {
        let table = [(0, 0), (1, 1_000), (2, 1_000), (3, 3_000), (8, 3_000), (9, 5_000), (24, 5_000), (25, 10_000)];
        for (failures, ms) in table {
            assert_eq!(delay_ms(failures), ms, "{failures}");
        }
        assert_eq!(delay_ms(99), 10_000);
        assert_eq!(gate(&FailureState { failures: 3, last_failure_ms: None, locked_until_ms: None }, 0), Gate::Open);
    }
}
