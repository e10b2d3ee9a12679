//! The pure part of acting: given where a release check stands and a verdict that just
//! arrived, what this replica should do. No I/O; the caller applies the answer.

use ripcord_sidecar::verdict::{Basis, Decision};

/// How long a claim stays with the replica that made it before another may take it over: long
/// enough for any action to finish, short enough that a crashed replica does not strand a
/// release.
pub const CLAIM_TTL_MS: i64 = 60_000;

/// Where a release check stands, as far as acting on it is concerned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stage {
    /// No decision acted on yet.
    Watching,
    /// A replica claimed the release to act on it and has not finished.
    Claimed {
        /// The replica (pod name) holding the claim.
        by: String,
        /// When it claimed, Unix milliseconds.
        at_ms: i64,
    },
    /// The release has no baseline Ripcord trusts (its previous revision ran no sidecar):
    /// verdicts are recorded as evidence; only a fail judged against the watch spec's absolute
    /// limits (which needs no baseline) is acted on.
    NoBaseline,
    /// The release was acted on, observed, passed or otherwise settled; nothing more to do.
    Settled,
}

/// Whether the release's policy lets Ripcord act.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Act on a regression (the default).
    Act,
    /// Judge and report, never act.
    Observe,
}

/// What to do with an incoming verdict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
    /// Record the verdict's evidence on the release check; nothing to act on.
    Record,
    /// Try to claim the release (a write with a resourceVersion precondition); the winner acts.
    Claim(ClaimFor),
    /// Nothing to do; the reason is logged and counted.
    Skip(SkipReason),
}

/// Why a replica claims a release.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClaimFor {
    /// To carry out the release's on-regression steps.
    Act,
    /// To report the regression once without acting (`ripcord.dev/mode: observe`).
    Observe,
}

/// Why an incoming verdict leads to nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SkipReason {
    /// The release was already settled; a late or repeated verdict changes nothing.
    AlreadySettled,
    /// Another replica holds a live claim and is acting.
    ClaimedElsewhere,
    /// Nobody claimed the release: there is no stale claim to take over.
    NotClaimed,
}

impl SkipReason {
    /// A short, stable name for logs.
    pub fn as_str(self) -> &'static str {
        match self {
            SkipReason::AlreadySettled => "already_settled",
            SkipReason::ClaimedElsewhere => "claimed_elsewhere",
            SkipReason::NotClaimed => "not_claimed",
        }
    }
}

/// Decides what to do with a verdict of `decision` resting on `basis` on a release at `stage`,
/// for a release in `mode`, at `now_ms`. A live claim is respected even when this replica made
/// it: the replica may be acting on it right now, in another task. Without a baseline only an
/// absolute fail is claimed: a relative verdict there compared against nothing trustworthy.
pub fn next(stage: &Stage, decision: Decision, basis: Basis, mode: Mode, now_ms: i64) -> Next {
    match stage {
        Stage::Settled => Next::Skip(SkipReason::AlreadySettled),
        Stage::Claimed { at_ms, .. } => {
            let stale = now_ms.saturating_sub(*at_ms) > CLAIM_TTL_MS;
            if decision == Decision::Fail && stale {
                Next::Claim(claim_for(mode))
            } else {
                Next::Skip(SkipReason::ClaimedElsewhere)
            }
        }
        Stage::Watching if decision == Decision::Fail => Next::Claim(claim_for(mode)),
        Stage::NoBaseline if decision == Decision::Fail && basis == Basis::Absolute => {
            Next::Claim(claim_for(mode))
        }
        Stage::Watching | Stage::NoBaseline => Next::Record,
    }
}

/// Why a replica claims a release in `mode`: to act on it, or to report it once.
pub fn claim_for(mode: Mode) -> ClaimFor {
    match mode {
        Mode::Act => ClaimFor::Act,
        Mode::Observe => ClaimFor::Observe,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [Decision; 3] = [Decision::Pass, Decision::Fail, Decision::Inconclusive];

    #[test]
    fn a_fail_on_a_watched_release_is_claimed_for_the_policy_mode() {
        let watching = Stage::Watching;
        assert_eq!(
            next(&watching, Decision::Fail, Basis::Relative, Mode::Act, 0),
            Next::Claim(ClaimFor::Act)
        );
        assert_eq!(
            next(&watching, Decision::Fail, Basis::Relative, Mode::Observe, 0),
            Next::Claim(ClaimFor::Observe)
        );
    }

    #[test]
    fn pass_and_inconclusive_are_only_recorded() {
        for decision in [Decision::Pass, Decision::Inconclusive] {
            assert_eq!(
                next(&Stage::Watching, decision, Basis::Relative, Mode::Act, 0),
                Next::Record
            );
        }
    }

    #[test]
    fn nothing_acts_twice_on_a_settled_release() {
        for decision in ALL {
            for mode in [Mode::Act, Mode::Observe] {
                assert_eq!(
                    next(&Stage::Settled, decision, Basis::Relative, mode, i64::MAX),
                    Next::Skip(SkipReason::AlreadySettled)
                );
            }
        }
    }

    #[test]
    fn a_live_claim_of_another_replica_is_respected_and_a_stale_one_taken_over() {
        let claimed = Stage::Claimed {
            by: "b".to_string(),
            at_ms: 1_000,
        };
        assert_eq!(
            next(
                &claimed,
                Decision::Fail,
                Basis::Relative,
                Mode::Act,
                1_000 + CLAIM_TTL_MS
            ),
            Next::Skip(SkipReason::ClaimedElsewhere)
        );
        assert_eq!(
            next(
                &claimed,
                Decision::Fail,
                Basis::Relative,
                Mode::Act,
                1_001 + CLAIM_TTL_MS
            ),
            Next::Claim(ClaimFor::Act)
        );
        assert_eq!(
            next(
                &claimed,
                Decision::Pass,
                Basis::Relative,
                Mode::Act,
                i64::MAX
            ),
            Next::Skip(SkipReason::ClaimedElsewhere)
        );
    }

    #[test]
    fn a_release_without_a_baseline_records_relative_verdicts_never_acting() {
        for decision in ALL {
            assert_eq!(
                next(&Stage::NoBaseline, decision, Basis::Relative, Mode::Act, 0),
                Next::Record
            );
        }
    }

    #[test]
    fn a_release_without_a_baseline_acts_on_an_absolute_fail_only() {
        for mode in [Mode::Act, Mode::Observe] {
            assert_eq!(
                next(&Stage::NoBaseline, Decision::Fail, Basis::Absolute, mode, 0),
                next(&Stage::Watching, Decision::Fail, Basis::Relative, mode, 0),
                "the same claim as a relative fail on a watched release"
            );
        }
        assert_eq!(
            next(
                &Stage::NoBaseline,
                Decision::Fail,
                Basis::Absolute,
                Mode::Observe,
                0
            ),
            Next::Claim(ClaimFor::Observe),
            "observe mode still never acts"
        );
        for decision in [Decision::Pass, Decision::Inconclusive] {
            assert_eq!(
                next(&Stage::NoBaseline, decision, Basis::Absolute, Mode::Act, 0),
                Next::Record
            );
        }
    }

    #[test]
    fn a_replica_does_not_act_again_on_its_own_live_claim() {
        let mine = Stage::Claimed {
            by: "a".to_string(),
            at_ms: 0,
        };
        assert_eq!(
            next(&mine, Decision::Fail, Basis::Relative, Mode::Act, 1),
            Next::Skip(SkipReason::ClaimedElsewhere)
        );
    }
}
