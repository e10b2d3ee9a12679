//! Notifications: a Slack-compatible incoming-webhook message (`{"text": ..., "blocks": [...]}`)
//! summarising a release Ripcord judged, the verdict's evidence and the actions taken. Building
//! the message is pure ([`slack_message`]); [`Notifier`] sends it to the URL from the
//! credentials directory (file `slack-webhook-url`) or from configuration.

use std::sync::Arc;

use hyper::{Method, Uri};
use serde_json::{Value, json};

use ripcord_sidecar::report::Release;
use ripcord_sidecar::verdict::{Decision, MetricEvidence, Verdict};

use crate::flags::credentials::{self, CredentialError, Credentials};
use crate::http::{HttpClient, HttpError, json_request, parse_url};
use crate::ops::metrics::{ActionKind, ActionResult, Metrics};

/// Slack's limit on a section block's text.
const MAX_SECTION_CHARS: usize = 3000;
/// Slack's limit on a header block's text.
const MAX_HEADER_CHARS: usize = 150;

/// Why a notification was not sent.
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    /// The webhook URL could not be read.
    #[error(transparent)]
    Credential(#[from] CredentialError),
    /// The call failed; the error says whether to retry.
    #[error("notification webhook: {0}")]
    Http(#[from] HttpError),
}

impl NotifyError {
    /// What the caller should do: retry, back off, or give up.
    pub fn disposition(&self) -> crate::http::Disposition {
        match self {
            NotifyError::Credential(_) => crate::http::Disposition::GiveUp,
            NotifyError::Http(e) => e.disposition(),
        }
    }
}

/// Result alias of the notify module.
pub type Result<T, E = NotifyError> = std::result::Result<T, E>;

/// One action Ripcord took (or tried) on a release.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActionTaken {
    /// What was done, e.g. `flag off` or `rollback`.
    pub kind: String,
    /// What it was done to, e.g. the flag URL or `revision 6`.
    pub target: String,
    /// How it ended, e.g. `done`, `already off`, or the error.
    pub outcome: String,
}

/// What a notification reports.
#[derive(Debug, Clone, PartialEq)]
pub struct Notice {
    /// The release judged.
    pub release: Release,
    /// Name of the ReleaseCheck holding the evidence.
    pub release_check: String,
    /// The verdict acted on, with its evidence.
    pub verdict: Verdict,
    /// Actions taken, in order; empty in observe mode.
    pub actions: Vec<ActionTaken>,
    /// How to undo what was done, when something was.
    pub undo: Option<String>,
}

/// Whether a notification went out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// The webhook accepted it.
    Sent,
    /// No webhook URL is configured; nothing was sent.
    NotConfigured,
}

/// Where the webhook URL comes from.
#[derive(Debug, Clone)]
pub enum WebhookUrl {
    /// A URL given in configuration.
    Fixed(Uri),
    /// The file `slack-webhook-url` of the credentials directory, re-read on every send; no
    /// file means notifications are off.
    Credentials(Credentials),
}

/// Sends notifications to a Slack-compatible incoming webhook.
#[derive(Debug, Clone)]
pub struct Notifier {
    http: HttpClient,
    url: WebhookUrl,
    metrics: Option<Arc<Metrics>>,
}

impl Notifier {
    /// A notifier posting through `http` to the webhook named by `url`.
    pub fn new(http: HttpClient, url: WebhookUrl) -> Self {
        Notifier {
            http,
            url,
            metrics: None,
        }
    }

    /// Counts every notification in `metrics` (`actions{kind="notify"}`).
    pub fn with_metrics(mut self, metrics: Arc<Metrics>) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// Posts the message for `notice`.
    pub async fn send(&self, notice: &Notice) -> Result<Delivery> {
        let delivery = self.post(notice).await;
        if let Some(metrics) = &self.metrics {
            match &delivery {
                Ok(Delivery::Sent) => metrics.action(ActionKind::Notify, ActionResult::Done),
                Ok(Delivery::NotConfigured) => {}
                Err(_) => metrics.action(ActionKind::Notify, ActionResult::Failed),
            }
        }
        if let Err(error) = &delivery {
            tracing::warn!(release_check = %notice.release_check, %error, "notification failed");
        }
        delivery
    }

    async fn post(&self, notice: &Notice) -> Result<Delivery> {
        let url = match &self.url {
            WebhookUrl::Fixed(url) => url.clone(),
            WebhookUrl::Credentials(credentials) => {
                match credentials.read_optional(credentials::SLACK_WEBHOOK_URL)? {
                    Some(url) => parse_url(&url, "slack-webhook-url")?,
                    None => return Ok(Delivery::NotConfigured),
                }
            }
        };
        let body = slack_message(notice).to_string().into_bytes();
        let request = json_request(Method::POST, url, &[], Some(body))?;
        self.http.send(request).await?;
        Ok(Delivery::Sent)
    }
}

/// The Slack message for `notice`: a fallback `text` and `blocks` with the verdict, the evidence
/// per metric, the actions taken and where to look next.
pub fn slack_message(notice: &Notice) -> Value {
    let release = &notice.release;
    let what = format!(
        "{}/{} revision {}",
        release.namespace, release.deployment, release.revision
    );
    let decision = match notice.verdict.decision {
        Decision::Fail => "regressed",
        Decision::Pass => "passed",
        Decision::Inconclusive => "is inconclusive",
    };
    let acted = if notice.actions.is_empty() {
        "no action taken".to_string()
    } else {
        notice
            .actions
            .iter()
            .map(|a| format!("{}: {}", a.kind, a.outcome))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let text = format!("Ripcord: {what} {decision}: {acted}");
    let mut blocks = vec![
        json!({"type": "header", "text": {"type": "plain_text", "text": cut(&format!("Ripcord: {what} {decision}"), MAX_HEADER_CHARS)}}),
        section(&format!(
            "*Verdict:* {} — {}\nDecided after {:.1} s ({} ticks), false-alarm bound α = {}; reported by pod `{}`.",
            escape(decision),
            escape(&notice.verdict.reason),
            notice.verdict.elapsed_ms as f64 / 1000.0,
            notice.verdict.ticks,
            notice.verdict.alpha,
            escape(&release.pod),
        )),
    ];
    let evidence: Vec<String> = notice.verdict.metrics.iter().map(metric_line).collect();
    if !evidence.is_empty() {
        blocks.push(section(&format!("*Evidence*\n{}", evidence.join("\n"))));
    }
    let actions = if notice.actions.is_empty() {
        "*Actions:* none (observe mode, or nothing to do)".to_string()
    } else {
        let lines: Vec<String> = notice
            .actions
            .iter()
            .map(|a| {
                format!(
                    "• {} `{}`: {}",
                    escape(&a.kind),
                    escape(&a.target),
                    escape(&a.outcome)
                )
            })
            .collect();
        format!("*Actions*\n{}", lines.join("\n"))
    };
    blocks.push(section(&actions));
    let mut context = format!(
        "ReleaseCheck `{}` · `kubectl ripcord why {} -n {}`",
        escape(&notice.release_check),
        escape(&release.deployment),
        escape(&release.namespace)
    );
    if let Some(undo) = &notice.undo {
        context.push_str(&format!(" · undo: `{}`", escape(undo)));
    }
    blocks.push(json!({"type": "context", "elements": [{"type": "mrkdwn", "text": cut(&context, MAX_SECTION_CHARS)}]}));
    json!({"text": text, "blocks": blocks})
}

fn metric_line(metric: &MetricEvidence) -> String {
    let sign = if metric.direction == "min" { "-" } else { "+" };
    let arm = |counts: &ripcord_sidecar::verdict::ArmCounts| match counts.rate {
        Some(rate) => format!("{:.3}% ({}/{})", rate * 100.0, counts.events, counts.trials),
        None => "no data".to_string(),
    };
    let effect = match (
        metric.effect.estimate,
        metric.effect.lower,
        metric.effect.upper,
    ) {
        (Some(estimate), Some(lower), Some(upper)) => format!(
            "×{estimate:.2} [{lower:.2}, {upper:.2}] at {:.0}%",
            metric.effect.confidence * 100.0
        ),
        (Some(estimate), _, _) => format!("×{estimate:.2}"),
        _ => "no estimate".to_string(),
    };
    format!(
        "• *{}* {:?} ({} {} {}{:.0}%): canary {} vs baseline {}; effect {}; e-value {:.3e} (fails at {:.0})",
        escape(&metric.name),
        metric.decision,
        escape(&metric.signal),
        escape(&metric.direction),
        sign,
        metric.tolerance * 100.0,
        arm(&metric.canary),
        arm(&metric.baseline),
        effect,
        metric.e_value,
        metric.threshold,
    )
}

fn section(text: &str) -> Value {
    json!({"type": "section", "text": {"type": "mrkdwn", "text": cut(text, MAX_SECTION_CHARS)}})
}

/// Slack's three control characters in message text.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn cut(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut cut: String = text.chars().take(max - 1).collect();
    cut.push('…');
    cut
}
