//! The outcome a replica writes after acting: its action records added to the status as it
//! stands now, never replacing what another writer recorded meanwhile (a replica that took a
//! stale claim over and wrote its own outcome).

use crate::crd::{ActionRecord, Phase, ReleaseCheckStatus, rfc3339_from_ms};

use super::evidence;

/// The status `current` becomes once this replica's `records` and outcome `phase` are added:
/// records appended after any already there (one already there, from a write that timed out
/// but landed, is not added twice), the stronger of a settled phase already written and
/// `phase`, `acted` kept from whoever acted first (else `now_ms` when there are records), and
/// the summary of the resulting phase.
pub(super) fn with_outcome(
    current: Option<&ReleaseCheckStatus>,
    phase: Phase,
    records: &[ActionRecord],
    now_ms: i64,
) -> ReleaseCheckStatus {
    let mut status = current.cloned().unwrap_or_default();
    let phase = match status.phase {
        Some(written) if is_outcome(written) => stronger(written, phase),
        _ => phase,
    };
    status.phase = Some(phase);
    if !records.is_empty() && status.timeline.acted.is_none() {
        status.timeline.acted = Some(rfc3339_from_ms(now_ms));
    }
    for record in records {
        if !status.actions.contains(record) {
            status.push_action(record.clone());
        }
    }
    status.message = Some(evidence::summary(phase));
    status
}

/// Whether a failed write may succeed if tried again: the API server overloaded or failing
/// (429, 5xx), or no answer at all (connection, timeout).
pub(super) fn transient(error: &kube::Error) -> bool {
    match error {
        kube::Error::Api(status) => status.code == 429 || status.code >= 500,
        kube::Error::HyperError(_) | kube::Error::Service(_) => true,
        _ => false,
    }
}

/// Whether `phase` is one a replica writes when it finishes acting.
fn is_outcome(phase: Phase) -> bool {
    matches!(
        phase,
        Phase::RolledBack | Phase::Held | Phase::FlagOff | Phase::Failed | Phase::Observed
    )
}

/// The stronger of two outcomes: a rollback or hold outranks a flag flip, which outranks a
/// failure, which outranks merely observing.
pub(super) fn stronger(a: Phase, b: Phase) -> Phase {
    let rank = |p: Phase| match p {
        Phase::RolledBack | Phase::Held => 3,
        Phase::FlagOff => 2,
        Phase::Failed => 1,
        _ => 0,
    };
    if rank(b) > rank(a) { b } else { a }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crd::{ActionKind, ActionResult};

    const NOW: i64 = 1_700_000_000_000;

    fn record(kind: ActionKind, result: ActionResult, detail: &str) -> ActionRecord {
        ActionRecord {
            kind,
            result,
            at: rfc3339_from_ms(NOW),
            detail: Some(detail.to_string()),
        }
    }

    fn claimed() -> ReleaseCheckStatus {
        ReleaseCheckStatus {
            phase: Some(Phase::Acting),
            claimed_by: Some("controller-a".to_string()),
            ..ReleaseCheckStatus::default()
        }
    }

    #[test]
    fn the_claimers_outcome_settles_the_check_with_its_records() {
        let rollback = record(ActionKind::Rollback, ActionResult::Succeeded, "to 2");
        let status = with_outcome(
            Some(&claimed()),
            Phase::RolledBack,
            std::slice::from_ref(&rollback),
            NOW,
        );
        assert_eq!(status.phase, Some(Phase::RolledBack));
        assert_eq!(status.actions, vec![rollback]);
        assert_eq!(status.timeline.acted, Some(rfc3339_from_ms(NOW)));
        assert_eq!(status.claimed_by.as_deref(), Some("controller-a"));
        assert!(status.message.is_some_and(|m| m.contains("rolled back")));
    }

    #[test]
    fn records_written_meanwhile_by_a_takeover_are_kept_and_the_stronger_phase_wins() {
        let mut taken_over = claimed();
        taken_over.claimed_by = Some("controller-b".to_string());
        taken_over.phase = Some(Phase::RolledBack);
        taken_over.timeline.acted = Some(rfc3339_from_ms(NOW - 5_000));
        let theirs = record(ActionKind::Rollback, ActionResult::Skipped, "already at 2");
        taken_over.actions = vec![theirs.clone()];
        let ours = record(ActionKind::FlagOff, ActionResult::Failed, "flag API down");

        let status = with_outcome(
            Some(&taken_over),
            Phase::Failed,
            std::slice::from_ref(&ours),
            NOW,
        );
        assert_eq!(status.actions, vec![theirs, ours], "both replicas' records");
        assert_eq!(
            status.phase,
            Some(Phase::RolledBack),
            "a failure never undoes it"
        );
        assert_eq!(
            status.timeline.acted,
            Some(rfc3339_from_ms(NOW - 5_000)),
            "the first action's time stays"
        );
        assert_eq!(status.claimed_by.as_deref(), Some("controller-b"));
    }

    #[test]
    fn a_record_that_already_landed_is_not_added_twice() {
        let rollback = record(ActionKind::Rollback, ActionResult::Succeeded, "to 2");
        let once = with_outcome(
            Some(&claimed()),
            Phase::RolledBack,
            std::slice::from_ref(&rollback),
            NOW,
        );
        let again = with_outcome(
            Some(&once),
            Phase::RolledBack,
            std::slice::from_ref(&rollback),
            NOW + 1_000,
        );
        assert_eq!(again.actions, vec![rollback]);
        assert_eq!(again, once, "writing the outcome again changes nothing");
    }

    #[test]
    fn a_live_claim_by_another_is_not_an_outcome_to_keep() {
        let mut theirs = claimed();
        theirs.claimed_by = Some("controller-b".to_string());
        let status = with_outcome(Some(&theirs), Phase::Observed, &[], NOW);
        assert_eq!(status.phase, Some(Phase::Observed));
        assert!(status.timeline.acted.is_none(), "nothing was done");
    }

    #[test]
    fn rollback_and_hold_outrank_a_flag_which_outranks_a_failure() {
        assert_eq!(
            stronger(Phase::FlagOff, Phase::RolledBack),
            Phase::RolledBack
        );
        assert_eq!(stronger(Phase::Held, Phase::FlagOff), Phase::Held);
        assert_eq!(stronger(Phase::Failed, Phase::FlagOff), Phase::FlagOff);
        assert_eq!(stronger(Phase::Observed, Phase::Failed), Phase::Failed);
    }
}
