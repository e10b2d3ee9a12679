//! The controller's own metrics, in one `prometheus-client` registry. Every label takes its
//! values from a small fixed enum, so the number of series is bounded whatever the cluster holds.

use std::sync::atomic::AtomicI64;
use std::time::Duration;

use std::fmt::Write as _;

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// Declares a label enum whose values are exported in snake_case through
/// [`EncodeLabelValue`], so each label's series are a fixed, small set.
macro_rules! label_values {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident => $text:literal,)+ }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vmeta])* $variant,)+
        }

        impl $name {
            /// The label value this is exported under.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text,)+
                }
            }
        }

        impl EncodeLabelValue for $name {
            fn encode(&self, encoder: &mut LabelValueEncoder<'_>) -> std::fmt::Result {
                encoder.write_str(self.as_str())
            }
        }
    };
}
label_values! {
    /// How one reconcile ended.
    ReconcileResult {
        /// The object was brought to its wanted state (or needed nothing).
        Ok => "ok",
        /// The reconcile failed and will be retried.
        Error => "error",
        /// The object is malformed; skipped until it changes.
        Skipped => "skipped",
    }
}

label_values! {
    /// The decision of a verdict the intake accepted.
    VerdictDecision {
        /// The canary passed.
        Pass => "pass",
        /// The canary regressed.
        Fail => "fail",
        /// Not enough to say.
        Inconclusive => "inconclusive",
    }
}

label_values! {
    /// Why the intake refused a verdict.
    RefusalReason {
        /// No token, or a token the API server did not authenticate.
        Unauthenticated => "unauthenticated",
        /// A pod that is not part of the release the verdict names.
        Forbidden => "forbidden",
        /// A body over the size cap.
        TooLarge => "too_large",
        /// A body that is not a verdict report of a known version.
        Malformed => "malformed",
        /// A sequence number already seen, or a release already acted on.
        Replayed => "replayed",
        /// The acting part could not take more verdicts just now.
        Overloaded => "overloaded",
    }
}

label_values! {
    /// The kind of an action the controller took.
    ActionKind {
        /// A feature flag turned off.
        Flag => "flag",
        /// A Deployment rolled back.
        Rollback => "rollback",
        /// A re-applied bad template held (the Deployment paused).
        Hold => "hold",
        /// A notification sent.
        Notify => "notify",
    }
}

label_values! {
    /// How an action ended.
    ActionResult {
        /// The action was done.
        Done => "done",
        /// Another replica or an earlier verdict already did it.
        AlreadyDone => "already_done",
        /// The action failed.
        Failed => "failed",
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ReconcileLabels {
    result: ReconcileResult,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct VerdictLabels {
    decision: VerdictDecision,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct RefusalLabels {
    reason: RefusalReason,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ActionLabels {
    kind: ActionKind,
    result: ActionResult,
}

/// The controller's metrics and the registry that exports them.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    reconciles: Family<ReconcileLabels, Counter>,
    verdicts: Family<VerdictLabels, Counter>,
    refusals: Family<RefusalLabels, Counter>,
    actions: Family<ActionLabels, Counter>,
    verdict_to_action: Histogram,
    leader: Gauge<i64, AtomicI64>,
    serving_not_after: Gauge<i64, AtomicI64>,
}

/// Bucket bounds of the verdict-to-action histogram, in seconds: 1 ms to 10 s.
const ACTION_LATENCY_BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

impl Metrics {
    /// A fresh registry with every metric registered at zero.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("ripcord_controller");
        let reconciles = Family::<ReconcileLabels, Counter>::default();
        registry.register(
            "reconciles",
            "Reconciles of watched Deployments, by result",
            reconciles.clone(),
        );
        let verdicts = Family::<VerdictLabels, Counter>::default();
        registry.register(
            "verdicts",
            "Verdicts accepted from sidecars, by decision",
            verdicts.clone(),
        );
        let refusals = Family::<RefusalLabels, Counter>::default();
        registry.register(
            "verdicts_refused",
            "Verdict reports the intake refused, by reason",
            refusals.clone(),
        );
        let actions = Family::<ActionLabels, Counter>::default();
        registry.register(
            "actions",
            "Actions taken on regressions, by kind and result",
            actions.clone(),
        );
        let verdict_to_action = Histogram::new(ACTION_LATENCY_BUCKETS);
        registry.register(
            "verdict_to_action_seconds",
            "Time from a fail verdict's arrival to the first action's API request completing",
            verdict_to_action.clone(),
        );
        let leader = Gauge::<i64, AtomicI64>::default();
        registry.register(
            "leader",
            "1 while this replica holds the acting Lease, else 0",
            leader.clone(),
        );
        let serving_not_after = Gauge::<i64, AtomicI64>::default();
        registry.register(
            "tls_serving_not_after_seconds",
            "Unix time at which the certificate this replica serves expires (alert well before it)",
            serving_not_after.clone(),
        );
        Metrics {
            registry,
            reconciles,
            verdicts,
            refusals,
            actions,
            verdict_to_action,
            leader,
            serving_not_after,
        }
    }

    /// Counts one reconcile.
    pub fn reconciled(&self, result: ReconcileResult) {
        self.reconciles
            .get_or_create(&ReconcileLabels { result })
            .inc();
    }

    /// Counts one accepted verdict.
    pub fn verdict_accepted(&self, decision: VerdictDecision) {
        self.verdicts
            .get_or_create(&VerdictLabels { decision })
            .inc();
    }

    /// Counts one refused verdict report.
    pub fn verdict_refused(&self, reason: RefusalReason) {
        self.refusals.get_or_create(&RefusalLabels { reason }).inc();
    }

    /// Counts one action.
    pub fn action(&self, kind: ActionKind, result: ActionResult) {
        self.actions
            .get_or_create(&ActionLabels { kind, result })
            .inc();
    }

    /// Records the time from a verdict's arrival to its first action.
    pub fn verdict_to_action(&self, elapsed: Duration) {
        self.verdict_to_action.observe(elapsed.as_secs_f64());
    }

    /// Records whether this replica leads.
    pub fn set_leader(&self, leading: bool) {
        self.leader.set(i64::from(leading));
    }

    /// Records when the served certificate expires.
    pub fn set_serving_not_after(&self, at: std::time::SystemTime) {
        let seconds = at
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
        self.serving_not_after.set(seconds);
    }

    /// The registry in Prometheus' text format.
    pub fn encode(&self) -> Result<String, std::fmt::Error> {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry)?;
        Ok(text)
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_show_up_under_their_labels() {
        let metrics = Metrics::new();
        metrics.reconciled(ReconcileResult::Ok);
        metrics.verdict_accepted(VerdictDecision::Fail);
        metrics.verdict_refused(RefusalReason::Replayed);
        metrics.action(ActionKind::Rollback, ActionResult::Done);
        metrics.action(ActionKind::Rollback, ActionResult::Done);
        metrics.verdict_to_action(Duration::from_millis(3));
        metrics.set_leader(true);
        metrics.set_serving_not_after(std::time::UNIX_EPOCH + Duration::from_secs(1_800_000_000));
        let text = metrics.encode().expect("encodes");
        for line in [
            "ripcord_controller_reconciles_total{result=\"ok\"} 1",
            "ripcord_controller_verdicts_total{decision=\"fail\"} 1",
            "ripcord_controller_verdicts_refused_total{reason=\"replayed\"} 1",
            "ripcord_controller_actions_total{kind=\"rollback\",result=\"done\"} 2",
            "ripcord_controller_verdict_to_action_seconds_bucket{le=\"0.005\"} 1",
            "ripcord_controller_leader 1",
            "ripcord_controller_tls_serving_not_after_seconds 1800000000",
        ] {
            assert!(text.contains(line), "missing {line:?} in:\n{text}");
        }
    }
}
