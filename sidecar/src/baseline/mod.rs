//! Baselines read from Prometheus: the previous revision's counts over a window, queried through
//! Prometheus' HTTP API with PromQL on the revision's `pod_template_hash`.
//!
//! [`PrometheusBaseline`] turns each metric of a watch spec into PromQL over the previous
//! revision ([`promql`]), asks `/api/v1/query` for it at a given time ([`client`]), and reads the
//! answer ([`response`]) into an [`Observation`]: one [`MetricDelta`] per metric, in spec order.
//! Prometheus down, slow, refusing the query or holding no matching series gives the metric an
//! [`Unavailable`] with the reason, never an error that stops the caller.

mod client;
mod error;
pub mod promql;
pub mod response;

pub use client::{Answer, ApiClient};
pub use error::{BaselineError, Result};
pub use promql::{MetricQuery, Revision};

use crate::spec::{MetricSpec, WatchSpec};
use crate::window::{MetricDelta, Observation, Unavailable};
use std::time::Duration;

/// The label Kubernetes puts on a Deployment's pods to name their revision.
pub const DEFAULT_HASH_LABEL: &str = "pod_template_hash";

/// The label Prometheus' Kubernetes service discovery is usually relabelled to name a pod's
/// namespace with.
pub const DEFAULT_NAMESPACE_LABEL: &str = "namespace";

/// Default bound on one query to Prometheus.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(2);

/// Default cap on one answer from Prometheus, in bytes.
pub const DEFAULT_MAX_BODY_BYTES: usize = 1 << 20;

/// Settings of a [`PrometheusBaseline`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrometheusConfig {
    /// Prometheus' base URL, plain HTTP (`http://prometheus.monitoring:9090`).
    pub base_url: String,
    /// The label naming the revision on every series (`pod_template_hash`).
    pub hash_label: String,
    /// The previous revision's value of that label.
    pub previous_hash: String,
    /// The label naming the pod's namespace on every series (`namespace`).
    pub namespace_label: String,
    /// The release's namespace: only its pods are read (the same chart in several namespaces
    /// gives their pods the same hash); `None` reads every namespace.
    pub namespace: Option<String>,
    /// Bound on one query (connect, headers and body).
    pub timeout: Duration,
    /// Largest answer accepted, in bytes.
    pub max_body_bytes: usize,
}

impl PrometheusConfig {
    /// Defaults for `base_url` and the previous revision's hash: label `pod_template_hash`,
    /// no namespace (label `namespace` once one is set), a 2 s timeout and a 1 MiB answer cap.
    pub fn new(base_url: impl Into<String>, previous_hash: impl Into<String>) -> Self {
        PrometheusConfig {
            base_url: base_url.into(),
            hash_label: DEFAULT_HASH_LABEL.to_string(),
            previous_hash: previous_hash.into(),
            namespace_label: DEFAULT_NAMESPACE_LABEL.to_string(),
            namespace: None,
            timeout: DEFAULT_TIMEOUT,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
        }
    }
}

/// Reads the previous revision's counts from Prometheus, as a baseline for the judge.
#[derive(Debug, Clone)]
pub struct PrometheusBaseline {
    client: ApiClient,
    revision: Revision,
}

impl PrometheusBaseline {
    /// A baseline for `config`; fails if the base URL is not `http://host[:port][/prefix]`.
    pub fn new(config: PrometheusConfig) -> Result<Self> {
        let client = ApiClient::new(&config.base_url, config.timeout, config.max_body_bytes)?;
        Ok(PrometheusBaseline {
            client,
            revision: Revision {
                label: config.hash_label,
                value: config.previous_hash,
                namespace: config.namespace.map(|n| (config.namespace_label, n)),
            },
        })
    }

    /// The previous revision's deltas over `(at_ms - range, at_ms]`, one per metric of `spec`.
    /// Anything that prevents reading a metric makes it [`Unavailable`] with the reason. Every
    /// query runs at once, so that a read takes one query's time, not the sum of all of them.
    pub async fn observe(&self, spec: &WatchSpec, at_ms: i64, range: Duration) -> Observation {
        let metrics = futures::future::join_all(spec.metrics.iter().map(|metric| async move {
            match self.metric_delta(metric, at_ms, range).await {
                Ok(delta) => delta,
                Err(error) => MetricDelta::Unavailable(Unavailable::ScrapeFailed(format!(
                    "baseline for {}: {error}",
                    metric.name
                ))),
            }
        }))
        .await;
        Observation { at_ms, metrics }
    }

    /// One metric's delta over the window, or why Prometheus could not give it.
    pub async fn metric_delta(
        &self,
        metric: &MetricSpec,
        at_ms: i64,
        range: Duration,
    ) -> Result<MetricDelta> {
        if range < Duration::from_millis(1) {
            return Err(BaselineError::Range { range });
        }
        match self.revision.queries(&metric.signal, range) {
            MetricQuery::Ratio { events, trials } => {
                let (events, trials_count) =
                    futures::try_join!(self.sum(&events, at_ms), self.sum(&trials, at_ms))?;
                Ok(response::ratio_delta(&trials, events, trials_count))
            }
            MetricQuery::Latency { buckets } => {
                let vector = self.vector(&buckets, at_ms).await?;
                response::histogram_delta(&buckets, &vector)
            }
        }
    }

    async fn sum(&self, query: &str, at_ms: i64) -> Result<Option<f64>> {
        let vector = self.vector(query, at_ms).await?;
        response::single_count(query, &vector)
    }

    async fn vector(&self, query: &str, at_ms: i64) -> Result<Vec<response::Element>> {
        let answer = self.client.query(query, at_ms).await?;
        response::parse_vector(query, answer.status, &answer.body)
    }
}
