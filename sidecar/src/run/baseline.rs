//! A canary's baseline for one judged range `(from, to]`, from the sources its assignment names,
//! in the assignment's order of preference: the previous revision's sidecars (their windows over
//! the range, summed; peers that fail are left out), else, once the assignment lists no previous
//! pod any more (the rolling update finished), the snapshot taken at release time (its
//! observations used oldest first, one per judged range, each once). Listed peers that do not
//! answer do not make the snapshot the baseline: it is up to half an hour old, and a blip of
//! the peers would judge the canary's traffic now against it. Last comes Prometheus (over
//! ranges of at least `--prometheus-step`, so that its scrapes fall inside). Nothing usable gives the
//! reason, which the judge turns into an inconclusive tick.

use std::collections::VecDeque;
use std::time::Duration;

use tokio::task::JoinSet;

use super::fetch::Fetcher;
use super::{Result, RunError};
use crate::assign::BaselineSources;
use crate::baseline::{PrometheusBaseline, PrometheusConfig};
use crate::serve::{MetricDefinition, WindowJson};
use crate::spec::WatchSpec;
use crate::window::{self, MetricDelta, Observation, Unavailable};

/// Largest window answer accepted from a peer or the snapshot, in bytes.
pub(super) const MAX_WINDOW_BYTES: usize = 8 * 1024 * 1024;

/// Most peer errors quoted in a reason.
const QUOTED_ERRORS: usize = 3;

/// What one read gave.
#[derive(Debug)]
pub(super) enum Read {
    /// The baseline's deltas over the range, and where they came from.
    Got {
        /// One delta per watched metric, at the range's end.
        observation: Observation,
        /// `2 of 3 peers`, `snapshot`, `prometheus`.
        source: String,
    },
    /// Only Prometheus is left and the range is still shorter than its step: judge
    /// this range later, together with the next.
    Wait,
    /// No source gave anything usable: why.
    Nothing(String),
}

/// Where a canary's baseline comes from.
#[derive(Debug)]
pub(super) struct BaselineReader {
    peers: Vec<String>,
    peer_fetcher: Fetcher,
    snapshot: Option<Snapshot>,
    prometheus: Option<PrometheusBaseline>,
    prometheus_step: Duration,
    /// Why a source the assignment names cannot be used (the others still are).
    refused: Option<String>,
}

#[derive(Debug)]
struct Snapshot {
    url: String,
    fetcher: Fetcher,
    /// The observations not yet used; `None` until fetched.
    left: Option<VecDeque<Observation>>,
}

impl BaselineReader {
    /// A reader for `sources`: peers fetched with `peer_fetcher`, the snapshot with
    /// `snapshot_fetcher` (which carries the token when the snapshot is the controller's),
    /// Prometheus over ranges of at least `prometheus_step` and in the release's `namespace`
    /// only. A Prometheus source that cannot be
    /// used (a URL the client does not speak, such as `https://`) is left out, and
    /// [`BaselineReader::refused`] says why: it is the last resort, the others still judge.
    pub(super) fn new(
        sources: &BaselineSources,
        peer_fetcher: Fetcher,
        snapshot_fetcher: Fetcher,
        prometheus_step: Duration,
        namespace: Option<&str>,
    ) -> Self {
        let mut refused = None;
        let prometheus = sources.prometheus.as_ref().and_then(|source| {
            let mut config = PrometheusConfig::new(&source.url, &source.previous_hash);
            config.timeout = peer_fetcher.timeout;
            config.namespace = namespace.map(str::to_string);
            PrometheusBaseline::new(config)
                .map_err(|e| refused = Some(format!("prometheus left out: {e}")))
                .ok()
        });
        BaselineReader {
            peers: sources
                .peers
                .iter()
                .map(|p| p.trim_end_matches('/').to_string())
                .collect(),
            peer_fetcher,
            snapshot: sources.snapshot.as_ref().map(|url| Snapshot {
                url: url.clone(),
                fetcher: snapshot_fetcher,
                left: None,
            }),
            prometheus,
            prometheus_step,
            refused,
        }
    }

    /// Why a source the assignment names is left out, if one is.
    pub(super) fn refused(&self) -> Option<&str> {
        self.refused.as_deref()
    }

    /// Carries over from `old` what this reader must not repeat: the snapshot's observations
    /// already used, when both read the same snapshot (each is used once).
    pub(super) fn keep_progress(&mut self, old: &mut BaselineReader) {
        if let (Some(new), Some(old)) = (self.snapshot.as_mut(), old.snapshot.as_mut())
            && new.url == old.url
        {
            new.left = old.left.take();
        }
    }

    /// The baseline over `(from_ms, to_ms]` for the metrics of `spec`.
    pub(super) async fn read(&mut self, spec: &WatchSpec, from_ms: i64, to_ms: i64) -> Read {
        let mine = MetricDefinition::of_spec(spec);
        let mut reasons = Vec::new();
        if !self.peers.is_empty() {
            match self.read_peers(&mine, from_ms, to_ms).await {
                Ok(read) => return read,
                Err(reason) => reasons.push(reason),
            }
        } else if let Some(snapshot) = &mut self.snapshot {
            match snapshot.next(&mine, to_ms).await {
                Ok(observation) => {
                    return Read::Got {
                        observation,
                        source: "snapshot".to_string(),
                    };
                }
                Err(reason) => reasons.push(reason),
            }
        }
        if let Some(prometheus) = &self.prometheus {
            let range = Duration::from_millis(u64::try_from(to_ms - from_ms).unwrap_or(0));
            if range < self.prometheus_step {
                return Read::Wait;
            }
            let observation = prometheus.observe(spec, to_ms, range).await;
            match usable(observation) {
                Ok(observation) => {
                    return Read::Got {
                        observation,
                        source: "prometheus".to_string(),
                    };
                }
                Err(reason) => reasons.push(format!("prometheus: {reason}")),
            }
        }
        reasons.extend(self.refused.clone());
        if reasons.is_empty() {
            reasons.push("the assignment names no baseline source".to_string());
        }
        Read::Nothing(format!("no baseline: {}", reasons.join("; ")))
    }

    /// The peers' windows over the range, summed; an error when none gave a usable delta.
    async fn read_peers(
        &self,
        mine: &[MetricDefinition],
        from_ms: i64,
        to_ms: i64,
    ) -> std::result::Result<Read, String> {
        let width = mine.len();
        let mut fetches = JoinSet::new();
        for peer in &self.peers {
            let url = format!("{peer}/v1/window?from={from_ms}&to={to_ms}");
            let fetcher = self.peer_fetcher.clone();
            let mine = mine.to_vec();
            fetches.spawn(async move {
                let outcome = fetch_window(&fetcher, &url, &mine).await;
                (url, outcome)
            });
        }
        let mut observations = Vec::new();
        let mut answered = 0;
        let mut errors = Vec::new();
        while let Some(joined) = fetches.join_next().await {
            match joined {
                Ok((_, Ok(window))) => {
                    answered += 1;
                    observations.extend(window);
                }
                Ok((_, Err(error))) => errors.push(error.to_string()),
                Err(error) => errors.push(format!("peer fetch task: {error}")),
            }
        }
        let total = self.peers.len();
        if answered == 0 {
            let quoted: Vec<_> = errors.iter().take(QUOTED_ERRORS).cloned().collect();
            return Err(format!(
                "none of {total} peers answered ({})",
                quoted.join("; ")
            ));
        }
        let source = format!("{answered} of {total} peers");
        usable(window::total(observations, width, to_ms))
            .map(|observation| Read::Got {
                observation,
                source: source.clone(),
            })
            .map_err(|reason| format!("{source} answered, none with usable counts: {reason}"))
    }
}

impl Snapshot {
    /// The next unused snapshot observation, fetching the snapshot the first time.
    async fn next(
        &mut self,
        mine: &[MetricDefinition],
        at_ms: i64,
    ) -> std::result::Result<Observation, String> {
        if self.left.is_none() {
            let url = self.url.clone();
            let window = fetch_window(&self.fetcher, &url, mine)
                .await
                .map_err(|e| format!("snapshot: {e}"))?;
            self.left = Some(window.into());
        }
        let left = self.left.get_or_insert_with(VecDeque::new);
        let observation = left
            .pop_front()
            .ok_or_else(|| format!("snapshot {}: every observation already used", self.url))?;
        Ok(Observation {
            at_ms,
            metrics: observation.metrics,
        })
    }
}

/// GETs a window, checks it (right version, well-formed) and matches its deltas to `mine`
/// (see [`crate::serve::align`]: by definition, or by position from a sidecar that states none).
async fn fetch_window(
    fetcher: &Fetcher,
    url: &str,
    mine: &[MetricDefinition],
) -> Result<Vec<Observation>> {
    let refuse = |reason: String| RunError::Decode {
        url: url.to_string(),
        reason,
    };
    let body = fetcher.get(url).await?;
    let window = WindowJson::decode_window(&body).map_err(refuse)?;
    crate::serve::align(mine, window.metrics.as_deref(), window.observations).map_err(refuse)
}

/// The observation when at least one metric has a usable delta, else the first reason.
fn usable(observation: Observation) -> std::result::Result<Observation, String> {
    if observation.any_usable() {
        return Ok(observation);
    }
    Err(match observation.metrics.first() {
        Some(MetricDelta::Unavailable(Unavailable::SpecDiffers(why))) => why.clone(),
        Some(MetricDelta::Unavailable(reason)) => format!("{reason:?}"),
        _ => "no metrics".to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ratio(at_ms: i64, events: f64, trials: f64) -> Observation {
        Observation {
            at_ms,
            metrics: vec![MetricDelta::Ratio { events, trials }],
        }
    }

    fn reader(snapshot: &str) -> BaselineReader {
        let fetcher = Fetcher {
            tls: None,
            token_file: None,
            timeout: Duration::from_secs(1),
            max_bytes: MAX_WINDOW_BYTES,
        };
        let sources = BaselineSources {
            snapshot: Some(snapshot.to_string()),
            ..BaselineSources::default()
        };
        let step = Duration::from_secs(15);
        BaselineReader::new(&sources, fetcher.clone(), fetcher, step, Some("shop"))
    }

    #[test]
    fn snapshot_seconds_used_stay_used_across_new_sources() {
        let mut old = reader("https://ripcord/v1/snapshot");
        if let Some(snapshot) = old.snapshot.as_mut() {
            snapshot.left = Some(VecDeque::from([ratio(3, 1.0, 10.0)]));
        }
        let mut same = reader("https://ripcord/v1/snapshot");
        same.keep_progress(&mut old);
        let left = same.snapshot.as_ref().and_then(|s| s.left.as_ref());
        assert_eq!(
            left.map(VecDeque::len),
            Some(1),
            "the unused second is kept"
        );
        let mut other = reader("https://elsewhere/v1/snapshot");
        other.keep_progress(&mut same);
        assert!(other.snapshot.as_ref().is_some_and(|s| s.left.is_none()));
    }

    #[test]
    fn peers_observations_add_up_and_an_empty_range_is_unavailable() {
        let summed = window::total(vec![ratio(1, 1.0, 10.0), ratio(2, 2.0, 30.0)], 1, 5);
        assert_eq!(summed, ratio(5, 3.0, 40.0));
        let empty = window::total(Vec::new(), 1, 5);
        assert!(matches!(empty.metrics[0], MetricDelta::Unavailable(_)));
        assert!(usable(empty).is_err());
    }
}
