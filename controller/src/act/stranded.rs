//! Claims left behind: a check still `Acting` whose claim went stale with no failing verdict to
//! take it over (the replica that claimed it died between its steps and its outcome, or its
//! steps kept failing for a passing reason after the canaries were gone). Pure: which checks
//! to take over, and the failing verdict their status keeps, to act on again.

use ripcord_sidecar::report::{Release, VerdictReport};
use ripcord_sidecar::verdict::{Basis, Decision, VERDICT_VERSION, Verdict};

use crate::crd::{Basis as CrdBasis, Phase, ReleaseCheck, ReleaseCheckStatus};

use super::decide::CLAIM_TTL_MS;
use super::evidence::parse_rfc3339_ms;

/// Whether a check with `status` holds a claim stale at `now_ms`: `Acting`, claimed more than
/// [`CLAIM_TTL_MS`] ago (or at an unreadable time).
pub fn is_stranded(status: Option<&ReleaseCheckStatus>, now_ms: i64) -> bool {
    let Some(status) = status.filter(|s| s.phase == Some(Phase::Acting)) else {
        return false;
    };
    let claimed = status
        .claimed_at
        .as_deref()
        .and_then(parse_rfc3339_ms)
        .unwrap_or(0);
    now_ms.saturating_sub(claimed) > CLAIM_TTL_MS
}

/// The failing verdict the check was claimed on, as its status keeps it (pod, sequence, reason,
/// times, alpha, basis; the per-metric evidence stays in the status). `None` when the status
/// keeps no failing verdict.
pub fn kept_verdict(check: &ReleaseCheck) -> Option<VerdictReport> {
    let status = check.status.as_ref()?;
    let detail = status.verdict_detail.as_ref()?;
    if status.verdict != Some(crate::crd::Decision::Fail) {
        return None;
    }
    let at_ms = parse_rfc3339_ms(&detail.at).unwrap_or(0);
    let verdict = Verdict {
        version: VERDICT_VERSION.to_string(),
        decision: Decision::Fail,
        reason: detail.reason.clone(),
        at_ms,
        elapsed_ms: (detail.elapsed_seconds * 1000.0) as i64,
        ticks: u64::try_from(detail.ticks).unwrap_or(0),
        alpha: detail.alpha,
        decided_at_ms: detail.decided_at.as_deref().and_then(parse_rfc3339_ms),
        basis: match detail.basis {
            CrdBasis::Relative => Basis::Relative,
            CrdBasis::Absolute => Basis::Absolute,
        },
        metrics: Vec::new(),
    };
    let release = Release {
        namespace: check.metadata.namespace.clone().unwrap_or_default(),
        deployment: check.spec.deployment.clone(),
        revision: check.spec.revision.to_string(),
        pod: detail.pod.clone(),
    };
    Some(VerdictReport::new(
        release,
        u64::try_from(detail.sequence).unwrap_or(0),
        verdict,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crd::rfc3339_from_ms;

    fn claimed(phase: Phase, at_ms: i64) -> ReleaseCheckStatus {
        ReleaseCheckStatus {
            phase: Some(phase),
            claimed_at: Some(rfc3339_from_ms(at_ms)),
            ..ReleaseCheckStatus::default()
        }
    }

    #[test]
    fn only_an_acting_check_whose_claim_outlived_its_ttl_is_stranded() {
        let now = 1_767_225_600_000;
        let stale = claimed(Phase::Acting, now - CLAIM_TTL_MS - 1);
        let live = claimed(Phase::Acting, now - CLAIM_TTL_MS);
        let settled = claimed(Phase::RolledBack, now - 10 * CLAIM_TTL_MS);
        assert!(is_stranded(Some(&stale), now));
        assert!(!is_stranded(Some(&live), now));
        assert!(!is_stranded(Some(&settled), now));
        assert!(!is_stranded(None, now));
        let unreadable = ReleaseCheckStatus {
            claimed_at: Some("yesterday".to_string()),
            ..stale
        };
        assert!(
            is_stranded(Some(&unreadable), now),
            "a claim of no time is stale"
        );
    }
}
