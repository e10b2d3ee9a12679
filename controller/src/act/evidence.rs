//! The evidence left for the people who get paged: Events on the Deployment with stable reason
//! codes, and a one-line summary for the ReleaseCheck's status.

use k8s_openapi::api::core::v1::ObjectReference;
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use ripcord_sidecar::report::VerdictReport;

use crate::crd::{Phase, ReleaseCheck};
use crate::notify::ActionTaken;

/// Reason codes of the Events Ripcord writes on a Deployment (`kubectl describe` shows them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// A canary's verdict failed the release.
    RegressionDetected,
    /// The Deployment was rolled back.
    RolledBack,
    /// The release's flag was turned off.
    FlagTurnedOff,
    /// A re-applied failed template was paused.
    ReleaseHeld,
    /// A new template arrived while Ripcord held the Deployment: it was unpaused.
    ReleaseResumed,
    /// Observe mode: the regression was reported and nothing was done.
    RegressionObserved,
    /// An action was asked for and could not be taken.
    ActionFailed,
    /// The pod template's Ripcord annotations are invalid: the release is not checked.
    AnnotationInvalid,
}

impl Reason {
    /// The reason code as written on the Event.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::RegressionDetected => "RegressionDetected",
            Reason::RolledBack => "RolledBack",
            Reason::FlagTurnedOff => "FlagTurnedOff",
            Reason::ReleaseHeld => "ReleaseHeld",
            Reason::ReleaseResumed => "ReleaseResumed",
            Reason::RegressionObserved => "RegressionObserved",
            Reason::ActionFailed => "ActionFailed",
            Reason::AnnotationInvalid => "AnnotationInvalid",
        }
    }
}

/// The reason code of the Event that reports a release's outcome `phase`.
pub(super) fn outcome_reason(phase: Phase) -> Reason {
    match phase {
        Phase::RolledBack => Reason::RolledBack,
        Phase::FlagOff => Reason::FlagTurnedOff,
        Phase::Held => Reason::ReleaseHeld,
        Phase::Observed => Reason::RegressionObserved,
        _ => Reason::ActionFailed,
    }
}

/// A one-line summary of the outcome, for the ReleaseCheck's `status.message`.
pub(super) fn summary(phase: Phase) -> String {
    match phase {
        Phase::RolledBack => "regression detected; the Deployment was rolled back".into(),
        Phase::FlagOff => "regression detected; the flag was turned off".into(),
        Phase::Held => {
            "a template that already failed was re-applied; the Deployment is paused".into()
        }
        Phase::Observed => "regression detected in observe mode; nothing was done".into(),
        Phase::Acting => "regression detected; an action failed for now (the API server or \
                          the flag provider did not answer well) and is tried again when the \
                          next failing verdict arrives"
            .into(),
        _ => "regression detected; the actions asked for could not all be taken".into(),
    }
}

/// The Event notes (at most 1 kB each): the detection, then the outcome.
pub(super) fn notes(
    check: &ReleaseCheck,
    report: &VerdictReport,
    phase: Phase,
    taken: &[ActionTaken],
) -> [(Reason, EventType, String); 2] {
    let name = check.metadata.name.as_deref().unwrap_or_default();
    let detected = format!(
        "revision {} regressed: {} (pod {}; evidence: kubectl get releasecheck {name} -o yaml)",
        check.spec.revision, report.verdict.reason, report.release.pod
    );
    let outcome = if taken.is_empty() {
        summary(phase)
    } else {
        taken
            .iter()
            .map(|a| format!("{} {}: {}", a.kind, a.target, a.outcome))
            .collect::<Vec<_>>()
            .join("; ")
    };
    let kind = if matches!(phase, Phase::Failed | Phase::Acting) {
        EventType::Warning
    } else {
        EventType::Normal
    };
    [
        (
            Reason::RegressionDetected,
            EventType::Warning,
            cap(detected),
        ),
        (outcome_reason(phase), kind, cap(outcome)),
    ]
}

/// Writes the Events of an acted-on release on its Deployment; a failure is logged, not
/// returned: the status already holds the evidence.
pub(super) async fn events(
    client: &kube::Client,
    reporter: &Reporter,
    check: &ReleaseCheck,
    report: &VerdictReport,
    phase: Phase,
    taken: &[ActionTaken],
) {
    let namespace = check.metadata.namespace.as_deref().unwrap_or_default();
    let notes = notes(check, report, phase, taken);
    publish(
        client,
        reporter,
        namespace,
        &check.spec.deployment,
        "Judge",
        notes,
    )
    .await;
}

/// Writes Events with these notes on Deployment `namespace/deployment`, for `action`; a failure
/// is logged, not returned.
pub(super) async fn publish(
    client: &kube::Client,
    reporter: &Reporter,
    namespace: &str,
    deployment: &str,
    action: &str,
    notes: impl IntoIterator<Item = (Reason, EventType, String)>,
) {
    let reference = ObjectReference {
        api_version: Some("apps/v1".to_string()),
        kind: Some("Deployment".to_string()),
        name: Some(deployment.to_string()),
        namespace: Some(namespace.to_string()),
        ..ObjectReference::default()
    };
    let recorder = Recorder::new(client.clone(), reporter.clone());
    for (reason, type_, note) in notes {
        let event = Event {
            type_,
            reason: reason.as_str().to_string(),
            note: Some(cap(note)),
            action: action.to_string(),
            secondary: None,
        };
        if let Err(err) = recorder.publish(&event, &reference).await {
            tracing::warn!(error = %err, reason = reason.as_str(), "event not written");
        }
    }
}

/// The Event reporter of writes not tied to one replica's claim (a hold, a warning): it names
/// the controller, and the instance is the host (the pod's) name.
pub(super) fn reporter() -> Reporter {
    Reporter::from("ripcord-controller")
}

/// Milliseconds since the epoch of an RFC 3339 time, if it parses.
pub(super) fn parse_rfc3339_ms(text: &str) -> Option<i64> {
    text.parse::<k8s_openapi::jiff::Timestamp>()
        .ok()
        .map(|t| t.as_millisecond())
}

/// Cuts a note to the 1 kB the Events API allows, on a character boundary.
fn cap(mut text: String) -> String {
    const MAX: usize = 1024;
    if text.len() > MAX {
        let mut end = MAX - 3;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
        text.push_str("...");
    }
    text
}
