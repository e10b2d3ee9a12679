//! Pure: the windows the previous revision's pods served, in; one window of per-second totals,
//! cut to a size, out.

use std::collections::BTreeMap;

use ripcord_sidecar::serve::{MAX_WINDOW_OBSERVATIONS, MetricDefinition, WindowJson};
use ripcord_sidecar::window::{self, Observation};

/// Width of one snapshot observation: the previous pods' deltas are summed per second, the
/// sidecars' default interval, so that a canary judging each second uses one per tick.
pub const SLOT_MS: i64 = 1000;

/// One pod's answer.
#[derive(Debug, Clone, PartialEq)]
pub struct PodWindow {
    /// The pod, for reasons.
    pub pod: String,
    /// Its observations, or why there are none.
    pub observations: Result<Vec<Observation>, String>,
    /// What its deltas count, when its window says ([`WindowJson::metrics`]).
    pub metrics: Option<Vec<MetricDefinition>>,
}

/// The previous revision's traffic, summed per second over the pods that answered.
#[derive(Debug, Clone, PartialEq)]
pub struct Merged {
    /// Per-second totals with at least one usable metric, oldest first.
    pub observations: Vec<Observation>,
    /// Pods whose windows were summed.
    pub answered: usize,
    /// Why each other pod was left out.
    pub refused: Vec<String>,
    /// What the deltas count, when the pods' windows said.
    pub metrics: Option<Vec<MetricDefinition>>,
}

/// Sums the pods' observations per second. Every pod must watch as many metrics as the first
/// one that answered (they run one pod template), and count the same things when both windows
/// say what they count; a pod that watches others is left out with the reason. Seconds in which no metric had a usable delta are dropped: they
/// would only make a canary's tick inconclusive.
pub fn merge(windows: Vec<PodWindow>) -> Merged {
    let mut width = None;
    let mut metrics: Option<Vec<MetricDefinition>> = None;
    let mut answered = 0;
    let mut refused = Vec::new();
    let mut slots: BTreeMap<i64, Vec<Observation>> = BTreeMap::new();
    for PodWindow {
        pod,
        observations,
        metrics: counts,
    } in windows
    {
        let observations = match observations {
            Ok(observations) if !observations.is_empty() => observations,
            Ok(_) => {
                refused.push(format!("{pod}: no observation in the range"));
                continue;
            }
            Err(reason) => {
                refused.push(format!("{pod}: {reason}"));
                continue;
            }
        };
        let expected = *width.get_or_insert(observations[0].metrics.len());
        if let Some(other) = observations.iter().find(|o| o.metrics.len() != expected) {
            refused.push(format!(
                "{pod}: watches {} metrics where the first pod watches {expected}",
                other.metrics.len()
            ));
            continue;
        }
        if let (Some(first), Some(counts)) = (&metrics, &counts)
            && first != counts
        {
            refused.push(format!("{pod}: counts other metrics than the first pod"));
            continue;
        }
        metrics = metrics.or(counts);
        answered += 1;
        for observation in observations {
            let slot = (observation.at_ms + SLOT_MS - 1).div_euclid(SLOT_MS);
            slots.entry(slot).or_default().push(observation);
        }
    }
    let width = width.unwrap_or(0);
    let observations = slots
        .into_iter()
        .map(|(slot, observations)| window::total(observations, width, slot * SLOT_MS))
        .filter(Observation::any_usable)
        .collect();
    Merged {
        observations,
        answered,
        refused,
        metrics,
    }
}

/// The observations as a window the sidecars read (`ripcord.dev/window/v1alpha1`), at most
/// `max_bytes` long and at most [`MAX_WINDOW_OBSERVATIONS`] observations: when over, the
/// newest are kept; it says its deltas count `metrics`. Returns the JSON and how many
/// observations it holds.
pub fn encode(
    observations: &[Observation],
    metrics: Option<&[MetricDefinition]>,
    max_bytes: usize,
) -> (Vec<u8>, usize) {
    let mut keep = observations.len().min(MAX_WINDOW_OBSERVATIONS);
    loop {
        let kept = &observations[observations.len() - keep..];
        let window = window_json(kept).with_metrics(metrics.map(<[_]>::to_vec));
        let json = serde_json::to_vec(&window).unwrap_or_default();
        if json.len() <= max_bytes || keep == 0 {
            return (json, keep);
        }
        // Shrink in proportion to the overshoot, and by at least one, so this ends quickly.
        let scaled = u128::from(max_bytes as u64) * keep as u128 / json.len() as u128;
        let scaled = usize::try_from(scaled).unwrap_or(0);
        keep = scaled.min(keep - 1);
    }
}

fn window_json(observations: &[Observation]) -> WindowJson {
    let from_ms = observations.first().map_or(0, |o| o.at_ms - SLOT_MS);
    let to_ms = observations.last().map_or(0, |o| o.at_ms);
    WindowJson::new(from_ms, to_ms, false, observations)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ripcord_sidecar::window::{MetricDelta, Unavailable};

    fn ratio(at_ms: i64, events: f64, trials: f64) -> Observation {
        Observation {
            at_ms,
            metrics: vec![MetricDelta::Ratio { events, trials }],
        }
    }

    fn pod(name: &str, observations: Vec<Observation>) -> PodWindow {
        PodWindow {
            pod: name.to_string(),
            observations: Ok(observations),
            metrics: None,
        }
    }

    #[test]
    fn pods_are_summed_per_second_and_every_count_is_kept() {
        let merged = merge(vec![
            pod("a", vec![ratio(1_100, 1.0, 10.0), ratio(2_100, 2.0, 20.0)]),
            pod("b", vec![ratio(1_900, 3.0, 30.0), ratio(2_050, 0.0, 5.0)]),
            PodWindow {
                pod: "c".to_string(),
                observations: Err("HTTP status 503".to_string()),
                metrics: None,
            },
        ]);
        assert_eq!(merged.answered, 2);
        assert_eq!(merged.refused, vec!["c: HTTP status 503".to_string()]);
        assert_eq!(
            merged.observations,
            vec![ratio(2_000, 4.0, 40.0), ratio(3_000, 2.0, 25.0)]
        );
    }

    #[test]
    fn a_pod_watching_other_metrics_is_left_out_and_empty_seconds_dropped() {
        let mut two = ratio(1_500, 9.0, 90.0);
        two.metrics.push(MetricDelta::Ratio {
            events: 1.0,
            trials: 2.0,
        });
        let reset = Observation {
            at_ms: 5_000,
            metrics: vec![MetricDelta::Unavailable(Unavailable::ScrapeFailed(
                "restarted".to_string(),
            ))],
        };
        let merged = merge(vec![
            pod("a", vec![ratio(1_200, 1.0, 10.0), reset]),
            pod("b", vec![two]),
            pod("c", Vec::new()),
        ]);
        assert_eq!(merged.answered, 1);
        assert_eq!(merged.refused.len(), 2, "{:?}", merged.refused);
        assert!(merged.refused[0].starts_with("b: watches 2 metrics"));
        assert_eq!(merged.observations, vec![ratio(2_000, 1.0, 10.0)]);
    }

    #[test]
    fn a_pod_counting_other_metrics_is_left_out_and_the_definitions_kept() {
        let counts = |selector: &str| {
            Some(vec![MetricDefinition {
                name: "errors".to_string(),
                counts: format!("ratio {selector} / req"),
            }])
        };
        let stated = |name: &str, selector: &str, observation: Observation| PodWindow {
            metrics: counts(selector),
            ..pod(name, vec![observation])
        };
        let merged = merge(vec![
            stated("a", "req{code=~\"5..\"}", ratio(1_100, 1.0, 10.0)),
            stated("b", "req{code=~\"5..|429\"}", ratio(1_200, 5.0, 10.0)),
            pod("c", vec![ratio(1_300, 2.0, 10.0)]),
        ]);
        assert_eq!(merged.answered, 2, "{:?}", merged.refused);
        assert_eq!(
            merged.refused,
            vec!["b: counts other metrics than the first pod".to_string()]
        );
        assert_eq!(merged.metrics, counts("req{code=~\"5..\"}"));
        assert_eq!(merged.observations, vec![ratio(2_000, 3.0, 20.0)]);
        let (json, _) = encode(&merged.observations, merged.metrics.as_deref(), usize::MAX);
        let window = WindowJson::decode_window(&json).expect("a window");
        assert_eq!(window.metrics, merged.metrics);
    }

    #[test]
    fn encoding_keeps_the_newest_observations_that_fit() {
        let observations: Vec<_> = (1..=500)
            .map(|s| ratio(s * SLOT_MS, 1.0, f64::from(u32::try_from(s).unwrap_or(0))))
            .collect();
        let (whole, all) = encode(&observations, None, usize::MAX);
        assert_eq!(all, 500);
        let cap = whole.len() / 3;
        let (json, kept) = encode(&observations, None, cap);
        assert!(json.len() <= cap && kept > 100 && kept < 200, "{kept}");
        let window: WindowJson = serde_json::from_slice(&json).expect("a window");
        assert_eq!(window.observations.len(), kept);
        assert_eq!(window.to_ms, 500 * SLOT_MS);
        assert_eq!(window.from_ms, window.observations[0].at_ms - SLOT_MS);
        let decoded = window.observations[kept - 1]
            .clone()
            .into_observation()
            .expect("valid");
        assert_eq!(decoded, observations[499]);
    }
}
