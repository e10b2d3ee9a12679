//! How often a release's evidence is written: every canary pod reports every second, and the
//! API server should not take a status write for each. A pass or inconclusive verdict is written
//! at most once per [`RECORD_EVERY`] per release, or at once when the decision changed; a fail is
//! never throttled.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use ripcord_sidecar::verdict::Decision;

/// Least time between two evidence writes of one release with the same decision.
pub(super) const RECORD_EVERY: Duration = Duration::from_secs(5);

/// Entries kept before old ones are dropped.
const MAX_ENTRIES: usize = 10_000;

/// The last evidence write per release.
#[derive(Debug, Default)]
pub(super) struct RecordThrottle {
    last: Mutex<HashMap<String, (Instant, Decision)>>,
}

impl RecordThrottle {
    /// Whether a `decision` verdict on release `key` should be written at `now`; if so, it
    /// counts as written.
    pub(super) fn admit(&self, key: &str, decision: Decision, now: Instant) -> bool {
        if decision == Decision::Fail {
            return true;
        }
        let mut last = self
            .last
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some((at, previous)) = last.get(key)
            && *previous == decision
            && now.saturating_duration_since(*at) < RECORD_EVERY
        {
            return false;
        }
        if last.len() >= MAX_ENTRIES {
            last.retain(|_, (at, _)| now.saturating_duration_since(*at) < RECORD_EVERY);
        }
        last.insert(key.to_string(), (now, decision));
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_decision_is_written_once_per_period_and_a_change_at_once() {
        let throttle = RecordThrottle::default();
        let t0 = Instant::now();
        assert!(throttle.admit("shop/checkout-3", Decision::Inconclusive, t0));
        assert!(!throttle.admit(
            "shop/checkout-3",
            Decision::Inconclusive,
            t0 + Duration::from_secs(1)
        ));
        assert!(throttle.admit(
            "shop/cart-9",
            Decision::Inconclusive,
            t0 + Duration::from_secs(1)
        ));
        assert!(throttle.admit(
            "shop/checkout-3",
            Decision::Pass,
            t0 + Duration::from_secs(2)
        ));
        assert!(!throttle.admit(
            "shop/checkout-3",
            Decision::Pass,
            t0 + Duration::from_secs(6)
        ));
        assert!(throttle.admit(
            "shop/checkout-3",
            Decision::Pass,
            t0 + Duration::from_secs(8)
        ));
    }

    #[test]
    fn a_fail_is_never_held_back() {
        let throttle = RecordThrottle::default();
        let t0 = Instant::now();
        for _ in 0..3 {
            assert!(throttle.admit("shop/checkout-3", Decision::Fail, t0));
        }
    }
}
