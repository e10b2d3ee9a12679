//! Turning a sidecar's verdict into `ReleaseCheck` status evidence, with bounded sizes: at most
//! [`MAX_METRICS`] metrics, [`MAX_TEXT_BYTES`] per text and [`MAX_PATH_POINTS`] per e-value path,
//! and only finite numbers (JSON has no infinity; the API server would refuse the object).

use ripcord_sidecar::report::VerdictReport;
use ripcord_sidecar::spec::MAX_METRICS;
use ripcord_sidecar::verdict::{
    AbsoluteEvidence, ArmCounts, Effect, LatencyEvidence, MetricEvidence, Verdict,
};

use super::types::{
    AbsoluteStatus, ArmStatus, Basis, Decision, EPoint, EffectStatus, LatencyStatus, MetricStatus,
    ReleaseCheckStatus, VerdictDetail,
};

/// Longest text (reason, name) copied into a status, in bytes.
pub const MAX_TEXT_BYTES: usize = 512;

/// Most points an e-value path keeps; older points are thinned, the first and latest kept.
pub const MAX_PATH_POINTS: usize = 64;

/// The latest verdict's origin and overall figures, from a report.
pub fn verdict_detail(report: &VerdictReport) -> VerdictDetail {
    let verdict = &report.verdict;
    VerdictDetail {
        pod: bounded(&report.release.pod),
        sequence: saturating_i64(report.sequence),
        reason: bounded(&verdict.reason),
        at: rfc3339_from_ms(verdict.at_ms),
        decided_at: verdict.decided_at_ms.map(rfc3339_from_ms),
        elapsed_seconds: seconds(verdict.elapsed_ms),
        ticks: saturating_i64(verdict.ticks),
        alpha: finite(verdict.alpha),
        basis: verdict.basis.into(),
    }
}

/// The evidence per metric of a verdict. Each metric's e-value path continues the path of the
/// metric of the same name in `previous` (pass an empty slice to start afresh, e.g. when the
/// verdict comes from another pod than the previous one), gaining the verdict's point when it is
/// later than the path's last.
pub fn metrics_from_verdict(verdict: &Verdict, previous: &[MetricStatus]) -> Vec<MetricStatus> {
    let t = seconds(verdict.elapsed_ms);
    verdict
        .metrics
        .iter()
        .take(MAX_METRICS)
        .map(|evidence| {
            let path = previous
                .iter()
                .find(|metric| metric.name == evidence.name)
                .map(|metric| metric.e_value_path.clone())
                .unwrap_or_default();
            metric_status(evidence, path, t)
        })
        .collect()
}

impl ReleaseCheckStatus {
    /// Records a verdict report: the overall decision, its detail, and the evidence per metric
    /// (continuing the e-value paths when the report comes from the pod of the previous one), and
    /// the `detected` time at the first `fail`. Phase, actions and conditions are left to the
    /// caller.
    pub fn record_verdict(&mut self, report: &VerdictReport) {
        let same_pod = self
            .verdict_detail
            .as_ref()
            .is_some_and(|detail| detail.pod == bounded(&report.release.pod));
        let previous = if same_pod { &self.metrics[..] } else { &[] };
        self.metrics = metrics_from_verdict(&report.verdict, previous);
        let detail = verdict_detail(report);
        let decision = Decision::from(report.verdict.decision);
        if decision == Decision::Fail && self.timeline.detected.is_none() {
            self.timeline.detected = Some(detail.at.clone());
        }
        self.verdict = Some(decision);
        self.verdict_detail = Some(detail);
    }
}

fn metric_status(evidence: &MetricEvidence, mut path: Vec<EPoint>, t: f64) -> MetricStatus {
    let e_value = finite(evidence.e_value);
    push_point(&mut path, EPoint { t, e: e_value });
    MetricStatus {
        name: bounded(&evidence.name),
        kind: bounded(&evidence.signal),
        direction: bounded(&evidence.direction),
        tolerance: finite(evidence.tolerance),
        decision: evidence.decision.into(),
        basis: if evidence.absolute.is_some() {
            Basis::Absolute
        } else {
            Basis::Relative
        },
        reason: bounded(&evidence.reason),
        canary: arm(&evidence.canary),
        baseline: arm(&evidence.baseline),
        effect: effect(&evidence.effect),
        e_value,
        threshold: finite(evidence.threshold),
        alpha: finite(evidence.alpha),
        decided_at: evidence.decided_at_ms.map(rfc3339_from_ms),
        skipped_ticks: saturating_i64(evidence.skipped_ticks),
        latency: evidence.latency.as_ref().map(latency),
        absolute: evidence.absolute.as_ref().map(absolute),
        e_value_path: path,
    }
}

/// Appends a point later than the path's last (a same-time point replaces the last one; an
/// earlier one is ignored), then thins the path to at most [`MAX_PATH_POINTS`] by dropping every
/// other point between the first and the latest.
fn push_point(path: &mut Vec<EPoint>, point: EPoint) {
    match path.last_mut() {
        Some(last) if point.t < last.t => return,
        Some(last) if point.t == last.t => *last = point,
        _ => path.push(point),
    }
    if path.len() > MAX_PATH_POINTS {
        let latest = path.len() - 1;
        let mut index = 0;
        path.retain(|_| {
            let keep = index % 2 == 0 || index == latest;
            index += 1;
            keep
        });
    }
}

fn arm(counts: &ArmCounts) -> ArmStatus {
    ArmStatus {
        events: finite(counts.events),
        trials: finite(counts.trials),
        rate: counts.rate.and_then(finite_option),
    }
}

fn effect(effect: &Effect) -> EffectStatus {
    EffectStatus {
        measure: bounded(&effect.measure),
        estimate: effect.estimate.and_then(finite_option),
        lower: effect.lower.and_then(finite_option),
        upper: effect.upper.and_then(finite_option),
        confidence: finite(effect.confidence),
    }
}

fn absolute(absolute: &AbsoluteEvidence) -> AbsoluteStatus {
    AbsoluteStatus {
        limit: finite(absolute.limit),
        rate_limit: finite(absolute.rate_limit),
        edge: absolute.edge.and_then(finite_option),
        pass_edge: absolute.pass_edge.and_then(finite_option),
        canary: arm(&absolute.canary),
        lower: finite(absolute.lower),
        upper: finite(absolute.upper),
        e_value: finite(absolute.e_value),
        pass_e_value: finite(absolute.pass_e_value),
        threshold: finite(absolute.threshold),
        canary_quantile: absolute.canary_quantile.and_then(finite_option),
    }
}

fn latency(latency: &LatencyEvidence) -> LatencyStatus {
    LatencyStatus {
        quantile: finite(latency.quantile),
        edge: finite(latency.edge),
        baseline_share_below_edge: finite(latency.baseline_share_below_edge),
        canary_quantile: latency.canary_quantile.and_then(finite_option),
        baseline_quantile: latency.baseline_quantile.and_then(finite_option),
    }
}

/// An RFC 3339 time of a Unix time in milliseconds, clamped to years 1970 to 9999.
pub fn rfc3339_from_ms(ms: i64) -> String {
    use k8s_openapi::jiff::Timestamp;
    let time = Timestamp::from_millisecond(ms.max(0)).unwrap_or(Timestamp::MAX);
    time.to_string()
}

fn seconds(ms: i64) -> f64 {
    // Precision loss above 2^53 ms (285,000 years) does not matter for a plot.
    ms as f64 / 1000.0
}

fn saturating_i64(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

/// A finite number for a required field: infinities become the largest finite number of their
/// sign (an e-value can overflow), NaN becomes 0.
fn finite(value: f64) -> f64 {
    if value.is_nan() {
        0.0
    } else {
        value.clamp(f64::MIN, f64::MAX)
    }
}

/// A finite number for an optional field: NaN is absent, infinities are clamped.
fn finite_option(value: f64) -> Option<f64> {
    (!value.is_nan()).then(|| finite(value))
}

/// `text`, cut at a character boundary to [`MAX_TEXT_BYTES`] with an ellipsis when longer.
fn bounded(text: &str) -> String {
    if text.len() <= MAX_TEXT_BYTES {
        return text.to_string();
    }
    let mut end = MAX_TEXT_BYTES - '…'.len_utf8();
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

#[cfg(test)]
mod tests {
    use super::*;
    use ripcord_sidecar::report::Release;
    use ripcord_sidecar::verdict::{Decision as SidecarDecision, VERDICT_VERSION};

    fn evidence(name: &str, e_value: f64) -> MetricEvidence {
        MetricEvidence {
            name: name.to_string(),
            signal: "ratio".to_string(),
            direction: "max".to_string(),
            tolerance: 0.5,
            decision: SidecarDecision::Fail,
            reason: "error rate 5.0 % against 1.0 %".to_string(),
            canary: ArmCounts {
                events: 25.0,
                trials: 500.0,
                rate: Some(0.05),
            },
            baseline: ArmCounts {
                events: 5.0,
                trials: 500.0,
                rate: Some(0.01),
            },
            effect: Effect {
                measure: "rate_ratio".to_string(),
                estimate: Some(5.0),
                lower: Some(2.1),
                upper: Some(f64::INFINITY),
                confidence: 0.995,
            },
            e_value,
            threshold: 200.0,
            alpha: 0.005,
            decided_at_ms: Some(1_700_000_008_000),
            skipped_ticks: 1,
            absolute: None,
            latency: None,
        }
    }

    fn report(pod: &str, elapsed_ms: i64, metrics: Vec<MetricEvidence>) -> VerdictReport {
        let verdict = Verdict {
            version: VERDICT_VERSION.to_string(),
            decision: SidecarDecision::Fail,
            reason: "errors regressed".to_string(),
            at_ms: 1_700_000_000_000 + elapsed_ms,
            elapsed_ms,
            ticks: 8,
            alpha: 0.01,
            decided_at_ms: Some(1_700_000_008_000),
            basis: Default::default(),
            metrics,
        };
        let release = Release {
            namespace: "shop".to_string(),
            deployment: "checkout".to_string(),
            revision: "7".to_string(),
            pod: pod.to_string(),
        };
        VerdictReport::new(release, 42, verdict)
    }

    #[test]
    fn a_verdict_becomes_status_evidence_with_its_figures() {
        let report = report("checkout-7-a", 8_000, vec![evidence("errors", 250.0)]);
        let mut status = ReleaseCheckStatus::default();
        status.record_verdict(&report);
        assert_eq!(status.verdict, Some(Decision::Fail));
        let detail = status.verdict_detail.as_ref().expect("a detail");
        assert_eq!(detail.pod, "checkout-7-a");
        assert_eq!(detail.sequence, 42);
        assert_eq!(detail.at, "2023-11-14T22:13:28Z");
        assert_eq!(detail.decided_at.as_deref(), Some("2023-11-14T22:13:28Z"));
        assert_eq!(
            status.timeline.detected.as_deref(),
            Some(detail.at.as_str())
        );
        let metric = &status.metrics[0];
        assert_eq!(
            (metric.name.as_str(), metric.kind.as_str()),
            ("errors", "ratio")
        );
        assert_eq!(metric.canary.rate, Some(0.05));
        assert_eq!(metric.baseline.events, 5.0);
        assert_eq!(metric.effect.lower, Some(2.1));
        assert_eq!(metric.effect.upper, Some(f64::MAX), "infinity is clamped");
        assert_eq!((metric.e_value, metric.threshold), (250.0, 200.0));
        assert_eq!(metric.e_value_path, vec![EPoint { t: 8.0, e: 250.0 }]);
        let json = serde_json::to_string(&status).expect("serialises");
        let back: ReleaseCheckStatus = serde_json::from_str(&json).expect("reads back");
        assert_eq!(back, status);
    }

    #[test]
    fn the_e_value_path_continues_for_the_same_pod_and_restarts_for_another() {
        let mut status = ReleaseCheckStatus::default();
        for (second, e) in [(1, 1.0), (2, 3.0), (2, 4.0), (1, 9.0), (3, 12.0)] {
            status.record_verdict(&report("pod-a", second * 1000, vec![evidence("errors", e)]));
        }
        let path = &status.metrics[0].e_value_path;
        let points: Vec<(f64, f64)> = path.iter().map(|p| (p.t, p.e)).collect();
        assert_eq!(points, vec![(1.0, 1.0), (2.0, 4.0), (3.0, 12.0)]);
        status.record_verdict(&report("pod-b", 5_000, vec![evidence("errors", 2.0)]));
        assert_eq!(
            status.metrics[0].e_value_path,
            vec![EPoint { t: 5.0, e: 2.0 }]
        );
    }

    #[test]
    fn the_e_value_path_stays_bounded_and_spans_the_whole_time() {
        let mut status = ReleaseCheckStatus::default();
        let ticks = 10_000;
        for second in 1..=ticks {
            let e = second as f64;
            status.record_verdict(&report("pod-a", second * 1000, vec![evidence("errors", e)]));
        }
        let path = &status.metrics[0].e_value_path;
        assert!(path.len() <= MAX_PATH_POINTS, "{} points", path.len());
        assert!(path.len() > MAX_PATH_POINTS / 2, "{} points", path.len());
        assert_eq!(path.first().map(|p| p.t), Some(1.0));
        assert_eq!(path.last().map(|p| p.t), Some(ticks as f64));
        assert!(path.windows(2).all(|pair| pair[0].t < pair[1].t));
    }

    #[test]
    fn oversized_and_non_finite_evidence_is_bounded() {
        let mut huge = evidence(&"é".repeat(2_000), f64::INFINITY);
        huge.reason = "x".repeat(100_000);
        huge.tolerance = f64::NAN;
        huge.canary.rate = Some(f64::NAN);
        let many = vec![huge; MAX_METRICS + 5];
        let metrics = metrics_from_verdict(&report("p", 1_000, many).verdict, &[]);
        assert_eq!(metrics.len(), MAX_METRICS);
        let metric = &metrics[0];
        assert!(metric.name.len() <= MAX_TEXT_BYTES && metric.name.ends_with('…'));
        assert!(metric.reason.len() <= MAX_TEXT_BYTES);
        assert_eq!(metric.e_value, f64::MAX);
        assert_eq!((metric.tolerance, metric.canary.rate), (0.0, None));
        let json = serde_json::to_string(&metrics).expect("serialises");
        assert!(!json.contains("null"), "no non-finite numbers: {json:.200}");
    }

    #[test]
    fn a_metric_judged_against_its_limit_says_so_with_the_limit_and_its_test() {
        let mut judged = evidence("errors", 150.0);
        judged.absolute = Some(AbsoluteEvidence {
            limit: 0.02,
            rate_limit: 0.02,
            edge: None,
            pass_edge: None,
            canary: judged.canary.clone(),
            lower: 0.031,
            upper: 0.074,
            e_value: 150.0,
            pass_e_value: 0.001,
            threshold: 100.0,
            canary_quantile: Some(f64::INFINITY),
        });
        let mut report = report("p", 9_000, vec![judged, evidence("latency", 1.0)]);
        report.verdict.basis = ripcord_sidecar::verdict::Basis::Absolute;
        let mut status = ReleaseCheckStatus::default();
        status.record_verdict(&report);
        let detail = status.verdict_detail.as_ref().expect("a detail");
        assert_eq!(detail.basis, Basis::Absolute);
        let (errors, latency) = (&status.metrics[0], &status.metrics[1]);
        assert_eq!(
            (errors.basis, latency.basis),
            (Basis::Absolute, Basis::Relative)
        );
        assert!(latency.absolute.is_none());
        let absolute = errors.absolute.as_ref().expect("the limit's evidence");
        assert_eq!((absolute.limit, absolute.rate_limit), (0.02, 0.02));
        assert_eq!((absolute.lower, absolute.upper), (0.031, 0.074));
        assert_eq!((absolute.e_value, absolute.threshold), (150.0, 100.0));
        assert_eq!(absolute.canary.trials, 500.0);
        assert_eq!(
            absolute.canary_quantile,
            Some(f64::MAX),
            "infinity (beyond the last bucket) is clamped, JSON has no infinity"
        );
        let json = serde_json::to_value(&status).expect("serialises");
        assert_eq!(json["metrics"][0]["basis"], "absolute");
        assert_eq!(json["metrics"][0]["absolute"]["rateLimit"], 0.02);
        assert_eq!(json["verdictDetail"]["basis"], "absolute");
    }

    #[test]
    fn status_written_before_the_basis_existed_reads_as_relative() {
        let report = report("p", 1_000, vec![evidence("errors", 2.0)]);
        let mut status = ReleaseCheckStatus::default();
        status.record_verdict(&report);
        let mut json = serde_json::to_value(&status).expect("serialises");
        json["metrics"][0]
            .as_object_mut()
            .expect("an object")
            .remove("basis");
        let back: ReleaseCheckStatus = serde_json::from_value(json).expect("reads back");
        assert_eq!(back.metrics[0].basis, Basis::Relative);
    }

    #[test]
    fn times_outside_the_calendar_are_clamped() {
        assert_eq!(rfc3339_from_ms(-5), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339_from_ms(1_500), "1970-01-01T00:00:01.5Z");
        assert!(rfc3339_from_ms(i64::MAX).starts_with("9999-12-"));
    }
}
