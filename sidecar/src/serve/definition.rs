//! What each delta of a window counts, so that a canary matches a baseline's deltas to its own
//! metrics by definition, not by position: the watch spec is a pod-template annotation, so a
//! release that changes it runs a different spec than its baseline.
//!
//! A metric's definition is what its deltas count: its kind and selectors, matchers in a
//! canonical order ([`MetricDefinition::counts`]). The tolerance, the direction, the limit and a
//! latency's quantile are judge parameters, not part of it: they do not change the counts.

use serde::{Deserialize, Serialize};

use crate::selector::Selector;
use crate::spec::{MetricSpec, Signal, WatchSpec};
use crate::window::{MetricDelta, Observation, Unavailable};

/// One watched metric's counting definition, as a window states it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MetricDefinition {
    /// The name the spec gives the metric (`errors`); for messages, not matched.
    pub name: String,
    /// What the metric's deltas count, canonically written: `ratio <numerator> / <denominator>`
    /// or `histogram <family selector>`, each selector's matchers sorted by label, operator and
    /// value. Two metrics whose `counts` are equal count the same thing.
    pub counts: String,
}

impl MetricDefinition {
    /// The definition of one watched metric.
    pub fn of(metric: &MetricSpec) -> Self {
        let counts = match &metric.signal {
            Signal::Ratio {
                numerator,
                denominator,
            } => format!(
                "ratio {} / {}",
                canonical(numerator),
                canonical(denominator)
            ),
            Signal::Latency { histogram, .. } => format!("histogram {}", canonical(histogram)),
        };
        MetricDefinition {
            name: metric.name.clone(),
            counts,
        }
    }

    /// The definitions of a spec's metrics, in spec order.
    pub fn of_spec(spec: &WatchSpec) -> Vec<Self> {
        spec.metrics.iter().map(MetricDefinition::of).collect()
    }
}

fn canonical(selector: &Selector) -> String {
    let mut sorted = selector.clone();
    sorted.matchers.sort_by(|a, b| {
        (a.label.as_str(), a.op.as_str(), a.value.as_str()).cmp(&(
            b.label.as_str(),
            b.op.as_str(),
            b.value.as_str(),
        ))
    });
    sorted.to_string()
}

/// Rearranges a baseline source's observations into `mine`'s order. When the source states its
/// definitions (`theirs`), each of `mine` takes the source's delta that counts the same thing,
/// and a metric the source does not count is [`Unavailable::SpecDiffers`]; every observation
/// must then hold one delta per stated definition. A source that states none (a sidecar older
/// than the field) is taken by position, and only when it watches as many metrics.
pub fn align(
    mine: &[MetricDefinition],
    theirs: Option<&[MetricDefinition]>,
    observations: Vec<Observation>,
) -> Result<Vec<Observation>, String> {
    let Some(theirs) = theirs else {
        if let Some(other) = observations.iter().find(|o| o.metrics.len() != mine.len()) {
            return Err(format!(
                "it watches {} metrics, this pod {}: the watch specs differ",
                other.metrics.len(),
                mine.len()
            ));
        }
        return Ok(observations);
    };
    if let Some(other) = observations
        .iter()
        .find(|o| o.metrics.len() != theirs.len())
    {
        return Err(format!(
            "it states {} metric definitions but an observation holds {} deltas",
            theirs.len(),
            other.metrics.len()
        ));
    }
    let sources: Vec<Result<usize, String>> = mine
        .iter()
        .map(|definition| {
            theirs
                .iter()
                .position(|t| t.counts == definition.counts)
                .ok_or_else(|| differs(definition, theirs))
        })
        .collect();
    Ok(observations
        .into_iter()
        .map(|observation| Observation {
            at_ms: observation.at_ms,
            metrics: sources
                .iter()
                .map(|source| match source {
                    Ok(index) => observation.metrics[*index].clone(),
                    Err(why) => MetricDelta::Unavailable(Unavailable::SpecDiffers(why.clone())),
                })
                .collect(),
        })
        .collect())
}

/// Why a baseline has no delta for `definition`.
fn differs(definition: &MetricDefinition, theirs: &[MetricDefinition]) -> String {
    let name = &definition.name;
    match theirs.iter().find(|t| t.name == definition.name) {
        Some(other) => format!(
            "the watch specs differ for {name}: this pod counts {}, the baseline {}",
            definition.counts, other.counts
        ),
        None => format!(
            "the watch specs differ for {name}: the baseline counts nothing like {}",
            definition.counts
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn definitions(spec: &str) -> Vec<MetricDefinition> {
        MetricDefinition::of_spec(&crate::spec::parse_watch(spec).expect("a spec"))
    }

    fn ratio(events: f64, trials: f64) -> MetricDelta {
        MetricDelta::Ratio { events, trials }
    }

    fn observation(metrics: Vec<MetricDelta>) -> Vec<Observation> {
        vec![Observation { at_ms: 9, metrics }]
    }

    const TWO: &str = "errors: req{code=~\"5..\", path=\"/\"} / req max +50%\n\
                       conversion: done / started min -5%\n";

    #[test]
    fn the_definition_is_what_is_counted_not_how_it_is_judged() {
        let spec = definitions(TWO);
        assert_eq!(
            spec[0].counts, "ratio req{code=~\"5..\", path=\"/\"} / req",
            "{spec:?}"
        );
        let judged_otherwise = definitions(
            "errors: req{path=\"/\",code=~\"5..\"} / req max +10% limit 2%\n\
             conversion: done / started min -1%\n",
        );
        assert_eq!(spec, judged_otherwise, "matcher order and tolerances aside");
        let latency = definitions("latency: h{job=\"a\"} p99 max +20%");
        assert_eq!(latency[0].counts, "histogram h{job=\"a\"}");
        assert_eq!(latency, definitions("latency: h{job=\"a\"} p50 max +5%"));
        assert_ne!(
            spec[0],
            definitions("errors: req{code=~\"5..|429\", path=\"/\"} / req max +50%")[0]
        );
    }

    #[test]
    fn reordered_metrics_are_matched_by_definition() {
        let mine = definitions(TWO);
        let theirs = definitions(
            "conversion: done / started min -5%\n\
             errors: req{code=~\"5..\", path=\"/\"} / req max +50%\n",
        );
        let aligned = align(
            &mine,
            Some(&theirs),
            observation(vec![ratio(30.0, 100.0), ratio(1.0, 200.0)]),
        )
        .expect("aligned");
        assert_eq!(
            aligned[0].metrics,
            vec![ratio(1.0, 200.0), ratio(30.0, 100.0)]
        );
    }

    #[test]
    fn a_metric_counted_otherwise_has_no_baseline_from_that_source() {
        let mine = definitions(
            "errors: req{code=~\"5..|429\", path=\"/\"} / req max +50%\n\
             conversion: done / started min -5%\n",
        );
        let theirs = definitions(TWO);
        let aligned = align(
            &mine,
            Some(&theirs),
            observation(vec![ratio(1.0, 200.0), ratio(30.0, 100.0)]),
        )
        .expect("aligned");
        let MetricDelta::Unavailable(Unavailable::SpecDiffers(why)) = &aligned[0].metrics[0] else {
            panic!("{:?}", aligned[0].metrics[0]);
        };
        assert!(why.contains("the watch specs differ for errors"), "{why}");
        assert!(why.contains("5..|429") && why.contains("\"5..\""), "{why}");
        assert_eq!(aligned[0].metrics[1], ratio(30.0, 100.0));
    }

    #[test]
    fn without_stated_definitions_only_the_same_width_is_taken_by_position() {
        let mine = definitions(TWO);
        let two = observation(vec![ratio(1.0, 2.0), ratio(3.0, 4.0)]);
        assert_eq!(align(&mine, None, two.clone()), Ok(two));
        let one = observation(vec![ratio(1.0, 2.0)]);
        let refused = align(&mine, None, one.clone()).expect_err("widths differ");
        assert!(refused.contains("the watch specs differ"), "{refused}");
        let stated_two = definitions(TWO);
        assert!(
            align(&mine, Some(&stated_two), one).is_err(),
            "a short observation"
        );
    }
}
