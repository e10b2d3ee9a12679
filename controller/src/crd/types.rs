//! The `ReleaseCheck` spec and status types. Every field's `///` is its schema description.

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// API group of every Ripcord resource.
pub const GROUP: &str = "ripcord.dev";

/// Version of the `ReleaseCheck` API.
pub const VERSION: &str = "v1alpha1";

/// Longest Kubernetes object name (a DNS subdomain).
const MAX_NAME_LEN: usize = 253;

/// One release of a watched Deployment, judged canary against baseline; its status is the
/// evidence an incident responder reads.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[kube(
    group = "ripcord.dev",
    version = "v1alpha1",
    kind = "ReleaseCheck",
    plural = "releasechecks",
    singular = "releasecheck",
    shortname = "rchk",
    category = "ripcord",
    namespaced,
    status = "ReleaseCheckStatus",
    derive = "PartialEq",
    doc = "One release of a watched Deployment, judged canary against baseline; its status is the evidence an incident responder reads.",
    printcolumn = r#"{"name":"Deployment","type":"string","jsonPath":".spec.deployment","description":"The Deployment released"}"#,
    printcolumn = r#"{"name":"Revision","type":"integer","jsonPath":".spec.revision","description":"The Deployment revision judged"}"#,
    printcolumn = r#"{"name":"Phase","type":"string","jsonPath":".status.phase","description":"Where the check is in its life"}"#,
    printcolumn = r#"{"name":"Verdict","type":"string","jsonPath":".status.verdict","description":"The latest overall decision"}"#,
    selectable = ".spec.deployment",
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct ReleaseCheckSpec {
    /// Name of the Deployment whose release is checked (same namespace).
    pub deployment: String,
    /// The Deployment revision (`deployment.kubernetes.io/revision` of its ReplicaSet) released.
    pub revision: i64,
    /// The `pod-template-hash` of the released ReplicaSet.
    pub template_hash: String,
    /// The revision the release replaced: the baseline, and the rollback target.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous: Option<PreviousRevision>,
    /// The policy read from the pod template's annotations when the release was detected.
    pub policy: PolicySnapshot,
}

/// The revision a release replaced.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PreviousRevision {
    /// The previous Deployment revision.
    pub revision: i64,
    /// The `pod-template-hash` of the previous revision's ReplicaSet.
    pub template_hash: String,
}

/// The annotations' policy, as it was when the release was detected.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PolicySnapshot {
    /// What to do on a regression, in order (`ripcord.dev/on-regression`).
    pub on_regression: Vec<RegressionStep>,
    /// The flag to turn off (`ripcord.dev/flag`), when the steps include `flag`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flag: Option<String>,
    /// `act` acts on a regression; `observe` only judges and reports (`ripcord.dev/mode`).
    pub mode: Mode,
    /// The watch spec text (`ripcord.dev/watch`).
    pub watch: String,
    /// Guard period after the release, in seconds (`ripcord.dev/watch-for`).
    pub watch_for_seconds: i64,
}

/// One step taken on a regression.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum RegressionStep {
    /// Turn the release's feature flag off.
    Flag,
    /// Restore the previous revision's pod template.
    Rollback,
}

impl RegressionStep {
    /// The word that writes this step in `ripcord.dev/on-regression`.
    pub fn keyword(self) -> &'static str {
        match self {
            RegressionStep::Flag => "flag",
            RegressionStep::Rollback => "rollback",
        }
    }
}

/// Whether Ripcord acts on a regression.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Act on a regression (the default).
    #[default]
    Act,
    /// Judge and report, never act.
    Observe,
}

/// Where a `ReleaseCheck` is in its life.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum Phase {
    /// The guard period runs; canary sidecars report verdicts.
    Watching,
    /// The release passed and the guard period ended.
    Passed,
    /// The release regressed; the actions are about to be taken.
    Failed,
    /// The actions are being taken.
    Acting,
    /// The Deployment was rolled back to the previous revision.
    RolledBack,
    /// The flag was turned off (and no rollback was asked for).
    FlagOff,
    /// A re-applied bad template is held until a new template arrives or a human releases it.
    Held,
    /// No live baseline to judge the release with (its previous revision ran no sidecar): only a
    /// fail against the watch spec's absolute limits is acted on.
    Inconclusive,
    /// Observe mode: the release was judged and reported, never acted on.
    Observed,
}

/// An overall or per-metric decision, as the sidecar reports it.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Decision {
    /// Sure, at the configured alpha, that the canary is within tolerance.
    Pass,
    /// Sure, at the configured alpha, that the canary is worse than the baseline (or its
    /// limit), with the estimated change beyond the tolerance; the tolerance gates the estimate
    /// and is not part of the test's null.
    Fail,
    /// Not sure yet, or no trustworthy data.
    Inconclusive,
}

/// What a decision is judged against.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Basis {
    /// The canary against the baseline, at the watch spec's relative tolerance.
    #[default]
    Relative,
    /// The canary alone against the watch spec's absolute limit (no baseline to compare with).
    Absolute,
}

impl From<ripcord_sidecar::verdict::Basis> for Basis {
    fn from(basis: ripcord_sidecar::verdict::Basis) -> Self {
        match basis {
            ripcord_sidecar::verdict::Basis::Relative => Basis::Relative,
            ripcord_sidecar::verdict::Basis::Absolute => Basis::Absolute,
        }
    }
}

impl From<ripcord_sidecar::verdict::Decision> for Decision {
    fn from(decision: ripcord_sidecar::verdict::Decision) -> Self {
        use ripcord_sidecar::verdict::Decision as D;
        match decision {
            D::Pass => Decision::Pass,
            D::Fail => Decision::Fail,
            D::Inconclusive => Decision::Inconclusive,
        }
    }
}

/// What Ripcord observed and did for one release.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReleaseCheckStatus {
    /// Where the check is in its life.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<Phase>,
    /// The latest overall decision reported for the release.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verdict: Option<Decision>,
    /// Where the latest verdict came from and what it said overall.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verdict_detail: Option<VerdictDetail>,
    /// Evidence per watched metric, in the watch spec's order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub metrics: Vec<MetricStatus>,
    /// When things happened.
    #[serde(default)]
    pub timeline: Timeline,
    /// The previous revision's recent windows, kept at release time so that canaries still
    /// have a baseline once the rolling update has replaced every previous pod.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline_snapshot: Option<BaselineSnapshot>,
    /// Actions taken, oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub actions: Vec<ActionRecord>,
    /// The controller pod that claimed the right to act on this release.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claimed_by: Option<String>,
    /// When the controller replica in `claimedBy` claimed the release (RFC 3339); another
    /// replica may take the claim over once it is a minute old and the release is not settled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claimed_at: Option<String>,
    /// The `metadata.generation` this status was written for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Conditions in the Kubernetes style (`PolicyValid`, `Decided`, `Acted`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,
    /// One sentence for a human on the current state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// The latest verdict's origin and overall figures.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct VerdictDetail {
    /// The canary pod whose sidecar reported the verdict.
    pub pod: String,
    /// The report's sequence number (monotone per pod).
    pub sequence: i64,
    /// Why the decision is what it is, in one sentence.
    pub reason: String,
    /// Time of the latest canary observation judged (RFC 3339).
    #[schemars(extend("format" = "date-time"))]
    pub at: String,
    /// When the decision became `pass` or `fail` (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("format" = "date-time"))]
    pub decided_at: Option<String>,
    /// Seconds since the canary's first observation.
    pub elapsed_seconds: f64,
    /// Ticks judged.
    pub ticks: i64,
    /// Family-wise false-alarm bound across all metrics.
    pub alpha: f64,
    /// What the decision rests on: `absolute` when a failed metric was judged against its
    /// absolute limit (or, for pass and inconclusive, every metric was), else `relative`.
    #[serde(default)]
    pub basis: Basis,
}

/// Evidence for one watched metric.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MetricStatus {
    /// The metric's name in the watch spec.
    pub name: String,
    /// `ratio` or `latency`.
    pub kind: String,
    /// `max` (higher is worse) or `min` (lower is worse).
    pub direction: String,
    /// Tolerated relative change, e.g. `0.5` for `+50%`.
    pub tolerance: f64,
    /// This metric's decision.
    pub decision: Decision,
    /// What this metric is judged against: `relative` (the baseline) or `absolute` (its limit;
    /// `eValue` and `threshold` are then the limit test's, and `absolute` holds its evidence).
    #[serde(default)]
    pub basis: Basis,
    /// Why, in one sentence.
    pub reason: String,
    /// Canary counts over the judged window.
    pub canary: ArmStatus,
    /// Baseline counts over the judged window.
    pub baseline: ArmStatus,
    /// Effect estimate and always-valid interval.
    pub effect: EffectStatus,
    /// Current e-value of the regression test (evidence against "no regression").
    pub e_value: f64,
    /// The e-value at which the metric fails: `1 / alpha` of the metric.
    pub threshold: f64,
    /// The share of the family-wise alpha spent on this metric.
    pub alpha: f64,
    /// When this metric's decision became `pass` or `fail` (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("format" = "date-time"))]
    pub decided_at: Option<String>,
    /// Ticks skipped because their data was untrustworthy.
    pub skipped_ticks: i64,
    /// Latency evidence, for latency metrics.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency: Option<LatencyStatus>,
    /// Evidence of the test against the absolute limit, when the metric was judged on the
    /// canary alone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub absolute: Option<AbsoluteStatus>,
    /// The e-value over time, thinned to a bounded number of points, oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub e_value_path: Vec<EPoint>,
}

/// A metric judged on the canary alone against the watch spec's absolute limit.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AbsoluteStatus {
    /// The limit as written: a rate for a ratio (`0.02` for `limit 2%`), seconds (or the
    /// histogram's unit) for a latency quantile.
    pub limit: f64,
    /// The bound on the event rate tested: the limit for a ratio, `1 - quantile` for latency
    /// (the share of requests allowed above the limit).
    pub rate_limit: f64,
    /// Latency: the smallest bucket edge at or above the limit; the fail test counts requests
    /// above it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub edge: Option<f64>,
    /// Latency: the largest bucket edge at or below the limit; the pass test counts requests
    /// above it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pass_edge: Option<f64>,
    /// Canary events (errors, conversions, requests above `edge`) and trials.
    pub canary: ArmStatus,
    /// Lower end of the always-valid confidence sequence on the canary's rate.
    pub lower: f64,
    /// Upper end of that confidence sequence.
    pub upper: f64,
    /// The fail test's e-value (evidence that the rate is beyond `rateLimit`).
    pub e_value: f64,
    /// The pass test's e-value (evidence that the rate is within `rateLimit`).
    pub pass_e_value: f64,
    /// The e-value either test must reach: `1 / alpha` of the metric.
    pub threshold: f64,
    /// Latency: the canary's quantile, interpolated within buckets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub canary_quantile: Option<f64>,
}

/// Counts and rate of one arm.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ArmStatus {
    /// Events counted: errors, conversions, or requests slower than the latency edge.
    pub events: f64,
    /// Trials counted: requests, checkouts started, or all requests of the histogram.
    pub trials: f64,
    /// `events / trials`, absent without trials.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate: Option<f64>,
}

/// The canary's estimated effect with an always-valid interval.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct EffectStatus {
    /// What the numbers measure: `rate_ratio` (canary rate / baseline rate).
    pub measure: String,
    /// Point estimate, absent without data in both arms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub estimate: Option<f64>,
    /// Lower end of the confidence sequence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lower: Option<f64>,
    /// Upper end of the confidence sequence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upper: Option<f64>,
    /// Coverage of the interval, `1 - alpha` of the metric.
    pub confidence: f64,
}

/// Latency evidence: the bucket edge the counts were taken at and the quantiles.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LatencyStatus {
    /// The quantile watched, e.g. `0.99`.
    pub quantile: f64,
    /// Bucket upper bound chosen from the baseline, in the histogram's unit.
    pub edge: f64,
    /// Share of baseline requests at or below the edge when it was chosen.
    pub baseline_share_below_edge: f64,
    /// The canary's quantile, interpolated within buckets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub canary_quantile: Option<f64>,
    /// The baseline's quantile, interpolated the same way.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline_quantile: Option<f64>,
}

/// One point of an e-value path.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, JsonSchema)]
pub struct EPoint {
    /// Seconds since the canary's first observation.
    pub t: f64,
    /// The e-value at that time.
    pub e: f64,
}

/// When things happened to the release, RFC 3339 times.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Timeline {
    /// When the release (the new ReplicaSet) was detected as created.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("format" = "date-time"))]
    pub released: Option<String>,
    /// When the first failing verdict arrived.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("format" = "date-time"))]
    pub detected: Option<String>,
    /// When the first action was sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("format" = "date-time"))]
    pub acted: Option<String>,
    /// When the rolled-back Deployment reported its rollout complete.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("format" = "date-time"))]
    pub rollback_complete: Option<String>,
}

/// What the controller kept of the previous revision's windows when the release was detected.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BaselineSnapshot {
    /// When the windows were read (RFC 3339).
    #[schemars(extend("format" = "date-time"))]
    pub taken_at: String,
    /// Running previous-revision pods whose sidecars were asked for their windows.
    pub pods_asked: i64,
    /// Pods that answered with a usable window.
    pub pods_answered: i64,
    /// Seconds of the previous revision's traffic kept (one summed observation per second);
    /// a canary uses each once, oldest first, when no previous pod answers it any more.
    pub observations: i64,
    /// ConfigMap in the controller's namespace holding the windows; absent when nothing
    /// usable was read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_map: Option<String>,
    /// Why nothing, or less than asked for, was kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// One action taken on the release.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ActionRecord {
    /// What was done.
    pub kind: ActionKind,
    /// How it went.
    pub result: ActionResult,
    /// When (RFC 3339).
    #[schemars(extend("format" = "date-time"))]
    pub at: String,
    /// What exactly: the flag, the revision rolled back to, or the error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// Kinds of action.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum ActionKind {
    /// The feature flag was turned off.
    FlagOff,
    /// The Deployment was rolled back.
    Rollback,
    /// A re-applied bad template was held.
    Hold,
    /// A notification was sent.
    Notify,
}

impl From<ActionKind> for crate::ops::metrics::ActionKind {
    fn from(kind: ActionKind) -> Self {
        match kind {
            ActionKind::FlagOff => Self::Flag,
            ActionKind::Rollback => Self::Rollback,
            ActionKind::Hold => Self::Hold,
            ActionKind::Notify => Self::Notify,
        }
    }
}

impl From<Decision> for crate::ops::metrics::VerdictDecision {
    fn from(decision: Decision) -> Self {
        match decision {
            Decision::Pass => Self::Pass,
            Decision::Fail => Self::Fail,
            Decision::Inconclusive => Self::Inconclusive,
        }
    }
}

/// Outcome of an action.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum ActionResult {
    /// Done.
    Succeeded,
    /// Tried and failed; `detail` says why.
    Failed,
    /// Not done, on purpose (observe mode, already done, no target); `detail` says why.
    Skipped,
}

/// A Kubernetes-style condition.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    /// The condition's type, e.g. `PolicyValid`.
    #[serde(rename = "type")]
    pub type_: String,
    /// `True`, `False` or `Unknown`.
    pub status: ConditionStatus,
    /// A CamelCase reason code.
    pub reason: String,
    /// A human-readable explanation.
    #[serde(default)]
    pub message: String,
    /// When the status last changed (RFC 3339).
    #[schemars(extend("format" = "date-time"))]
    pub last_transition_time: String,
    /// The `metadata.generation` the condition was set for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
}

/// A condition's status.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum ConditionStatus {
    /// The condition holds.
    True,
    /// The condition does not hold.
    False,
    /// Not known.
    Unknown,
}

/// Condition type: the pod template's annotations parsed into a policy.
pub const CONDITION_POLICY_VALID: &str = "PolicyValid";
/// Condition type: the release has a `pass` or `fail` verdict.
pub const CONDITION_DECIDED: &str = "Decided";
/// Condition type: the actions asked for were taken.
pub const CONDITION_ACTED: &str = "Acted";

impl ReleaseCheckStatus {
    /// Sets a condition, replacing one of the same type; keeps its `lastTransitionTime` when
    /// the status did not change.
    pub fn set_condition(&mut self, mut condition: Condition) {
        match self
            .conditions
            .iter_mut()
            .find(|existing| existing.type_ == condition.type_)
        {
            Some(existing) => {
                if existing.status == condition.status {
                    condition
                        .last_transition_time
                        .clone_from(&existing.last_transition_time);
                }
                *existing = condition;
            }
            None => self.conditions.push(condition),
        }
    }

    /// Appends an action record, keeping at most [`MAX_ACTIONS`] (the oldest are dropped, but
    /// never the first, which records what was done first).
    pub fn push_action(&mut self, action: ActionRecord) {
        if self.actions.len() >= MAX_ACTIONS {
            self.actions.remove(1);
        }
        self.actions.push(action);
    }
}

/// Most action records a status keeps.
pub const MAX_ACTIONS: usize = 32;

impl ReleaseCheck {
    /// The name of the `ReleaseCheck` of a Deployment's revision: `<deployment>-<revision>`,
    /// shortened with a stable hash when that would exceed the 253 characters of an object name.
    pub fn name_for(deployment: &str, revision: i64) -> String {
        let name = format!("{deployment}-{revision}");
        if name.len() <= MAX_NAME_LEN {
            return name;
        }
        let suffix = format!("-{:016x}-{revision}", fnv1a(name.as_bytes()));
        let mut keep = MAX_NAME_LEN - suffix.len();
        while !deployment.is_char_boundary(keep) {
            keep -= 1;
        }
        let prefix = deployment[..keep].trim_end_matches(['-', '.']);
        format!("{prefix}{suffix}")
    }
}

/// FNV-1a, 64 bits: a stable hash (unlike `DefaultHasher`, whose output may change between Rust
/// releases) so a shortened name is the same on every controller replica and version.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> ReleaseCheckSpec {
        ReleaseCheckSpec {
            deployment: "checkout".to_string(),
            revision: 7,
            template_hash: "7d9f8c6b5".to_string(),
            previous: Some(PreviousRevision {
                revision: 6,
                template_hash: "5c4b3a291".to_string(),
            }),
            policy: PolicySnapshot {
                on_regression: vec![RegressionStep::Flag, RegressionStep::Rollback],
                flag: Some("openfeature://shop/flags/new-checkout".to_string()),
                mode: Mode::Act,
                watch: "errors: a / b max +50%".to_string(),
                watch_for_seconds: 1800,
            },
        }
    }

    #[test]
    fn a_release_check_round_trips_with_camel_case_fields() {
        let mut check = ReleaseCheck::new("checkout-7", spec());
        let mut status = ReleaseCheckStatus {
            phase: Some(Phase::RolledBack),
            verdict: Some(Decision::Fail),
            claimed_by: Some("ripcord-controller-0".to_string()),
            ..ReleaseCheckStatus::default()
        };
        status.timeline.rollback_complete = Some("2026-11-24T17:00:00Z".to_string());
        status.push_action(ActionRecord {
            kind: ActionKind::FlagOff,
            result: ActionResult::Succeeded,
            at: "2026-11-24T16:59:58Z".to_string(),
            detail: None,
        });
        check.status = Some(status);
        let value = serde_json::to_value(&check).expect("serialises");
        assert_eq!(value["apiVersion"], "ripcord.dev/v1alpha1");
        assert_eq!(value["kind"], "ReleaseCheck");
        assert_eq!(value["spec"]["templateHash"], "7d9f8c6b5");
        assert_eq!(value["spec"]["policy"]["onRegression"][0], "flag");
        assert_eq!(value["spec"]["policy"]["watchForSeconds"], 1800);
        assert_eq!(value["status"]["phase"], "RolledBack");
        assert_eq!(value["status"]["verdict"], "fail");
        assert_eq!(
            value["status"]["timeline"]["rollbackComplete"],
            "2026-11-24T17:00:00Z"
        );
        assert_eq!(value["status"]["actions"][0]["kind"], "FlagOff");
        let back: ReleaseCheck = serde_json::from_value(value).expect("deserialises");
        assert_eq!(back, check);
    }

    #[test]
    fn a_status_written_by_an_older_controller_still_reads() {
        let status: ReleaseCheckStatus =
            serde_json::from_str(r#"{"phase":"Watching"}"#).expect("minimal status");
        assert_eq!(status.phase, Some(Phase::Watching));
        assert!(status.metrics.is_empty() && status.timeline == Timeline::default());
    }

    #[test]
    fn names_are_deployment_and_revision_and_stay_valid_when_long() {
        assert_eq!(ReleaseCheck::name_for("checkout", 7), "checkout-7");
        let long = "a".repeat(253);
        let name = ReleaseCheck::name_for(&long, 123_456);
        assert!(name.len() <= 253, "{} characters", name.len());
        assert!(name.ends_with("-123456"), "{name}");
        let other = ReleaseCheck::name_for(&long, 123_457);
        assert_ne!(name, other);
        let mut near = long.clone();
        near.replace_range(250.., "bbb");
        assert_ne!(ReleaseCheck::name_for(&near, 123_456), name);
    }

    #[test]
    fn a_condition_keeps_its_transition_time_while_its_status_holds() {
        let condition = |status, at: &str| Condition {
            type_: CONDITION_DECIDED.to_string(),
            status,
            reason: "Verdict".to_string(),
            message: String::new(),
            last_transition_time: at.to_string(),
            observed_generation: Some(1),
        };
        let mut status = ReleaseCheckStatus::default();
        status.set_condition(condition(ConditionStatus::False, "2026-01-01T00:00:00Z"));
        status.set_condition(condition(ConditionStatus::False, "2026-01-01T00:05:00Z"));
        assert_eq!(status.conditions.len(), 1);
        assert_eq!(
            status.conditions[0].last_transition_time,
            "2026-01-01T00:00:00Z"
        );
        status.set_condition(condition(ConditionStatus::True, "2026-01-01T00:09:00Z"));
        assert_eq!(
            status.conditions[0].last_transition_time,
            "2026-01-01T00:09:00Z"
        );
    }

    #[test]
    fn the_action_list_is_bounded_and_keeps_the_first() {
        let mut status = ReleaseCheckStatus::default();
        for i in 0..(MAX_ACTIONS + 10) {
            status.push_action(ActionRecord {
                kind: ActionKind::Notify,
                result: ActionResult::Succeeded,
                at: "2026-01-01T00:00:00Z".to_string(),
                detail: Some(i.to_string()),
            });
        }
        assert_eq!(status.actions.len(), MAX_ACTIONS);
        assert_eq!(status.actions[0].detail.as_deref(), Some("0"));
        let last = (MAX_ACTIONS + 9).to_string();
        assert_eq!(status.actions[MAX_ACTIONS - 1].detail, Some(last));
    }
}
