//! When a step that failed for a passing reason (the API server or flag provider overloaded,
//! failing or not answering) is tried again. Pure: elapsed times in, waits and phases out.
//!
//! A replica retries a step itself while its claim is young, so a blip (a leader election in
//! the API server, one 502, one 429) costs seconds. Past that it writes the outcome as still
//! `Acting`, records the failure, and leaves the claim to go stale: the next failing verdict
//! (canaries send one every second) takes the claim over and tries the steps again. Only when
//! the release has been retried for [`GIVE_UP_AFTER_MS`] does it settle as `Failed`.

use std::time::Duration;

use crate::crd::Phase;

/// How a replica retries the steps of a release it claimed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Longest the replica keeps starting attempts, from the claim.
    pub within_claim: Duration,
    /// Longest one attempt of a step may take before it counts as a failure worth retrying.
    pub attempt_limit: Duration,
}

impl Default for RetryPolicy {
    /// Attempts start within 30 s of the claim and take at most 12 s each, so the last one
    /// ends well inside [`super::decide::CLAIM_TTL_MS`] and no other replica takes the claim
    /// over while this one still tries.
    fn default() -> Self {
        RetryPolicy {
            within_claim: Duration::from_secs(30),
            attempt_limit: Duration::from_secs(12),
        }
    }
}

/// The first wait between attempts; each later wait doubles, up to [`MAX_WAIT`].
const FIRST_WAIT: Duration = Duration::from_millis(500);
/// The longest wait between attempts.
const MAX_WAIT: Duration = Duration::from_secs(8);

/// How long after the first outcome a release whose steps keep failing for passing reasons
/// is given up on and settles as `Failed`.
pub const GIVE_UP_AFTER_MS: i64 = 30 * 60 * 1000;

impl RetryPolicy {
    /// The wait before attempt `attempt + 1` of a step, `elapsed` after the claim; `None` when
    /// that attempt would start later than [`RetryPolicy::within_claim`].
    pub fn wait_before_next(&self, attempt: u32, elapsed: Duration) -> Option<Duration> {
        let wait = FIRST_WAIT
            .saturating_mul(1u32 << attempt.saturating_sub(1).min(16))
            .min(MAX_WAIT);
        (elapsed.saturating_add(wait) <= self.within_claim).then_some(wait)
    }
}

/// The phase of a release whose steps ended in `phase`, when some step still failed for a
/// passing reason (`pending`), `since_first_ms` after its first outcome was written (`None`
/// on the first try): still `Acting`, to be tried again, until [`GIVE_UP_AFTER_MS`]. A flag
/// turned off does not settle a rollback still to do; a rollback or hold that took effect
/// settles the release (the Deployment no longer runs the release).
pub fn phase_after(phase: Phase, pending: bool, since_first_ms: Option<i64>) -> Phase {
    let given_up = since_first_ms.is_some_and(|ms| ms >= GIVE_UP_AFTER_MS);
    if pending && !given_up && matches!(phase, Phase::Failed | Phase::FlagOff) {
        Phase::Acting
    } else {
        phase
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_double_from_half_a_second_and_stop_inside_the_claim() {
        let mut elapsed = Duration::ZERO;
        let mut waits = Vec::new();
        let mut attempt = 1;
        let policy = RetryPolicy::default();
        while let Some(wait) = policy.wait_before_next(attempt, elapsed) {
            waits.push(wait.as_millis());
            elapsed += wait + Duration::from_millis(100);
            attempt += 1;
        }
        assert_eq!(waits, vec![500, 1000, 2000, 4000, 8000, 8000]);
        let worst = policy.within_claim + policy.attempt_limit;
        assert!(
            worst.as_millis() < u128::try_from(super::super::decide::CLAIM_TTL_MS).unwrap_or(0),
            "the last attempt must end before the claim goes stale"
        );
    }

    #[test]
    fn slow_attempts_leave_no_room_for_another() {
        let policy = RetryPolicy::default();
        assert_eq!(
            policy.wait_before_next(1, Duration::from_millis(29_600)),
            None
        );
        assert!(
            policy
                .wait_before_next(1, Duration::from_secs(10))
                .is_some()
        );
    }

    #[test]
    fn a_pending_failure_stays_acting_until_given_up() {
        assert_eq!(phase_after(Phase::Failed, true, None), Phase::Acting);
        assert_eq!(
            phase_after(Phase::Failed, true, Some(GIVE_UP_AFTER_MS - 1)),
            Phase::Acting
        );
        assert_eq!(
            phase_after(Phase::Failed, true, Some(GIVE_UP_AFTER_MS)),
            Phase::Failed
        );
        assert_eq!(phase_after(Phase::Failed, false, None), Phase::Failed);
    }

    #[test]
    fn a_turned_off_flag_waits_for_its_rollback_but_a_rollback_settles() {
        assert_eq!(phase_after(Phase::FlagOff, true, None), Phase::Acting);
        assert_eq!(phase_after(Phase::FlagOff, false, None), Phase::FlagOff);
        assert_eq!(
            phase_after(Phase::RolledBack, true, None),
            Phase::RolledBack
        );
        assert_eq!(phase_after(Phase::Held, true, None), Phase::Held);
    }
}
