//! `kubectl ripcord`: the incident responder's view. `why` prints what a ReleaseCheck saw and
//! did, in plain words; `release` lifts Ripcord's hold on a quarantined Deployment. The text is
//! made by pure functions over the objects; the binary only fetches and prints.

use std::fmt::Write as _;

use crate::crd::{ActionRecord, Decision, MetricStatus, Phase, ReleaseCheck};

/// The latest ReleaseCheck of `deployment` among `checks` (highest revision).
pub fn latest<'c>(checks: &'c [ReleaseCheck], deployment: &str) -> Option<&'c ReleaseCheck> {
    checks
        .iter()
        .filter(|c| c.spec.deployment == deployment)
        .max_by_key(|c| c.spec.revision)
}

/// The `why` report of one ReleaseCheck: verdict, evidence per metric, timeline, actions.
pub fn why(check: &ReleaseCheck) -> String {
    let mut out = String::new();
    let name = check.metadata.name.as_deref().unwrap_or("?");
    let namespace = check.metadata.namespace.as_deref().unwrap_or("?");
    let status = check.status.clone().unwrap_or_default();
    let _ = writeln!(
        out,
        "ReleaseCheck {namespace}/{name}: Deployment {} revision {} ({})",
        check.spec.deployment, check.spec.revision, check.spec.template_hash
    );
    if let Some(previous) = &check.spec.previous {
        let _ = writeln!(
            out,
            "  compared with revision {} ({})",
            previous.revision, previous.template_hash
        );
    }
    let _ = writeln!(
        out,
        "  phase: {}   verdict: {}",
        status.phase.map_or("Pending", phase_word),
        status.verdict.map_or("none yet", decision_word)
    );
    if let Some(message) = &status.message {
        let _ = writeln!(out, "  {message}");
    }
    if let Some(detail) = &status.verdict_detail {
        let _ = writeln!(
            out,
            "  latest verdict from pod {} at {} after {:.0} s ({} ticks, alpha {}): {}",
            detail.pod,
            detail.at,
            detail.elapsed_seconds,
            detail.ticks,
            detail.alpha,
            detail.reason
        );
    }
    if !status.metrics.is_empty() {
        let _ = writeln!(out, "\nEvidence:");
        for metric in &status.metrics {
            metric_lines(&mut out, metric);
        }
    }
    let timeline = &status.timeline;
    let _ = writeln!(out, "\nTimeline:");
    for (label, at) in [
        ("released", &timeline.released),
        ("detected", &timeline.detected),
        ("acted", &timeline.acted),
        ("rollback complete", &timeline.rollback_complete),
    ] {
        let _ = writeln!(out, "  {label:<18} {}", at.as_deref().unwrap_or("-"));
    }
    if !status.actions.is_empty() {
        let _ = writeln!(out, "\nActions:");
        for action in &status.actions {
            action_line(&mut out, action);
        }
    }
    if let Some(by) = &status.claimed_by {
        let _ = writeln!(out, "\nActed by controller replica {by}.");
    }
    if status.phase == Some(Phase::Held) {
        let _ = writeln!(
            out,
            "The Deployment is paused on a template that already failed. Ship a fixed template, \
             or lift the hold with: kubectl ripcord release {} -n {namespace}",
            check.spec.deployment
        );
    }
    out
}

fn metric_lines(out: &mut String, metric: &MetricStatus) {
    let rate = |r: Option<f64>| r.map_or("-".to_string(), |r| format!("{:.3}%", r * 100.0));
    let _ = writeln!(
        out,
        "  {} ({}): {} — {}",
        metric.name,
        metric.kind,
        decision_word(metric.decision),
        metric.reason
    );
    let _ = writeln!(
        out,
        "    canary   {:>10.0} / {:<10.0} {}",
        metric.canary.events,
        metric.canary.trials,
        rate(metric.canary.rate)
    );
    let _ = writeln!(
        out,
        "    baseline {:>10.0} / {:<10.0} {}",
        metric.baseline.events,
        metric.baseline.trials,
        rate(metric.baseline.rate)
    );
    let effect = &metric.effect;
    let number = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.2}"));
    let _ = writeln!(
        out,
        "    {} {} ({:.0}% always-valid interval {} to {}); tolerance {}",
        effect.measure,
        number(effect.estimate),
        effect.confidence * 100.0,
        number(effect.lower),
        number(effect.upper),
        metric.tolerance
    );
    let _ = writeln!(
        out,
        "    e-value {:.3e} (threshold {:.3e}, alpha {})",
        metric.e_value, metric.threshold, metric.alpha
    );
    if let Some(absolute) = &metric.absolute {
        let limit = if metric.kind == "latency" {
            absolute.limit.to_string()
        } else {
            rate(Some(absolute.limit))
        };
        let _ = writeln!(
            out,
            "    judged alone against its limit {limit}: canary rate {} to {} (always valid), limit on the rate {}, pass e-value {:.3e}",
            rate(Some(absolute.lower)),
            rate(Some(absolute.upper)),
            rate(Some(absolute.rate_limit)),
            absolute.pass_e_value
        );
    }
}

fn action_line(out: &mut String, action: &ActionRecord) {
    let _ = writeln!(
        out,
        "  {} {:?} {:?}: {}",
        action.at,
        action.kind,
        action.result,
        action.detail.as_deref().unwrap_or("")
    );
}

fn phase_word(phase: Phase) -> &'static str {
    match phase {
        Phase::Watching => "Watching",
        Phase::Passed => "Passed",
        Phase::Failed => "Failed",
        Phase::Acting => "Acting",
        Phase::RolledBack => "RolledBack",
        Phase::FlagOff => "FlagOff",
        Phase::Held => "Held",
        Phase::Inconclusive => "Inconclusive",
        Phase::Observed => "Observed",
    }
}

fn decision_word(decision: Decision) -> &'static str {
    match decision {
        Decision::Pass => "pass",
        Decision::Fail => "fail",
        Decision::Inconclusive => "inconclusive",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crd::{Mode, PolicySnapshot, PreviousRevision, RegressionStep, ReleaseCheckSpec};
    use ripcord_sidecar::report::{Release, VerdictReport};
    use ripcord_sidecar::verdict::Verdict;

    fn recorded(name: &str) -> Verdict {
        let path = format!(
            "{}/../testdata/verdicts/{name}.json",
            env!("CARGO_MANIFEST_DIR")
        );
        let text = std::fs::read_to_string(path).expect("recorded verdict present");
        serde_json::from_str(&text).expect("a verdict")
    }

    fn check(revision: i64, verdict: &str, phase: Phase) -> ReleaseCheck {
        let mut check = ReleaseCheck::new(
            &ReleaseCheck::name_for("checkout", revision),
            ReleaseCheckSpec {
                deployment: "checkout".to_string(),
                revision,
                template_hash: "59c4d7f8b6".to_string(),
                previous: Some(PreviousRevision {
                    revision: revision - 1,
                    template_hash: "7d8c96b5f4".to_string(),
                }),
                policy: PolicySnapshot {
                    on_regression: vec![RegressionStep::Rollback],
                    flag: None,
                    mode: Mode::Act,
                    watch: "errors: a / b max +50%".to_string(),
                    watch_for_seconds: 1800,
                },
            },
        );
        check.metadata.namespace = Some("shop".to_string());
        let report = VerdictReport::new(
            Release {
                namespace: "shop".to_string(),
                deployment: "checkout".to_string(),
                revision: revision.to_string(),
                pod: "checkout-59c4d7f8b6-x2k9q".to_string(),
            },
            7,
            recorded(verdict),
        );
        let mut status = crate::crd::ReleaseCheckStatus::default();
        status.record_verdict(&report);
        status.phase = Some(phase);
        check.status = Some(status);
        check
    }

    #[test]
    fn why_names_the_release_the_evidence_and_the_outcome() {
        let text = why(&check(3, "errors", Phase::RolledBack));
        assert!(text.contains("Deployment checkout revision 3"), "{text}");
        assert!(text.contains("compared with revision 2"), "{text}");
        assert!(text.contains("phase: RolledBack   verdict: fail"), "{text}");
        assert!(text.contains("errors (ratio): fail"), "{text}");
        assert!(text.contains("always-valid interval"), "{text}");
        assert!(text.contains("detected"), "{text}");
        assert!(!text.contains("kubectl ripcord release"), "{text}");
    }

    #[test]
    fn why_shows_the_limit_a_release_without_baseline_was_judged_against() {
        let text = why(&check(3, "errors-absolute", Phase::RolledBack));
        assert!(
            text.contains("judged alone against its limit 2.000%"),
            "{text}"
        );
        assert!(
            text.contains("judged alone against its limit 0.5:"),
            "{text}"
        );
        let relative = why(&check(3, "errors", Phase::RolledBack));
        assert!(!relative.contains("judged alone"), "{relative}");
    }

    #[test]
    fn why_on_a_held_release_says_how_to_lift_the_hold() {
        let text = why(&check(5, "errors", Phase::Held));
        assert!(
            text.contains("kubectl ripcord release checkout -n shop"),
            "{text}"
        );
    }

    #[test]
    fn the_latest_check_is_the_highest_revision_of_that_deployment() {
        let checks = vec![
            check(3, "errors", Phase::RolledBack),
            check(5, "healthy", Phase::Passed),
            check(4, "healthy", Phase::Passed),
        ];
        assert_eq!(
            latest(&checks, "checkout").map(|c| c.spec.revision),
            Some(5)
        );
        assert!(latest(&checks, "cart").is_none());
    }
}
