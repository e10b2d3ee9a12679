//! The PromQL that reads the previous revision's counts over a window: the spec's selectors with
//! the release's `namespace` and the revision's `pod_template_hash` matchers added, summed over
//! every pod of that revision (in that namespace only: the same chart installed in several
//! namespaces gives their pods the same hash).

use crate::selector::{MatchOp, Matcher, Selector};
use crate::spec::Signal;
use std::time::Duration;

/// The queries that give one watched metric's counts over the window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MetricQuery {
    /// A ratio: one query for the events, one for the trials, each a single summed value.
    Ratio {
        /// `sum(increase(numerator[Δ]))`.
        events: String,
        /// `sum(increase(denominator[Δ]))`.
        trials: String,
    },
    /// A latency: the histogram's bucket increases summed per upper bound.
    Latency {
        /// `sum by (le) (increase(family_bucket[Δ]))`.
        buckets: String,
    },
}

/// Which revision's series the queries select: `label="value"` added to every selector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revision {
    /// The label naming the revision (`pod_template_hash`).
    pub label: String,
    /// The previous revision's value of that label.
    pub value: String,
    /// The release's namespace as `(label, value)` (`namespace="shop"`), added to every
    /// selector too; `None` selects the revision in every namespace.
    pub namespace: Option<(String, String)>,
}

impl Revision {
    /// The queries for `signal` over a window of `range` (at least 1 ms; see [`range_text`]).
    pub fn queries(&self, signal: &Signal, range: Duration) -> MetricQuery {
        let range = range_text(range);
        match signal {
            Signal::Ratio {
                numerator,
                denominator,
            } => MetricQuery::Ratio {
                events: self.summed_increase(numerator, &range),
                trials: self.summed_increase(denominator, &range),
            },
            Signal::Latency { histogram, .. } => {
                let buckets = Selector {
                    metric: format!("{}_bucket", histogram.metric),
                    matchers: histogram.matchers.clone(),
                };
                let buckets = self.restricted(&buckets);
                MetricQuery::Latency {
                    buckets: format!("sum by (le) (increase({buckets}[{range}]))"),
                }
            }
        }
    }

    fn summed_increase(&self, selector: &Selector, range: &str) -> String {
        format!("sum(increase({}[{range}]))", self.restricted(selector))
    }

    /// The selector with the namespace's and this revision's matchers added (after the spec's
    /// own matchers).
    fn restricted(&self, selector: &Selector) -> Selector {
        let mut restricted = selector.clone();
        let namespace = self.namespace.iter().map(|(l, v)| (l, v));
        for (label, value) in namespace.chain([(&self.label, &self.value)]) {
            // An equality matcher has no regex to compile, so this cannot fail; should it ever,
            // the selector is left without it rather than panicking.
            if let Ok(matcher) = Matcher::new(label, MatchOp::Equal, value) {
                restricted.matchers.push(matcher);
            }
        }
        restricted
    }
}

/// A PromQL duration for `range`: whole seconds as `Ns`, anything else as `Nms` (at least 1 ms).
pub fn range_text(range: Duration) -> String {
    let millis = range.as_millis().max(1);
    if millis.is_multiple_of(1000) {
        format!("{}s", millis / 1000)
    } else {
        format!("{millis}ms")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::parse_watch;

    fn revision() -> Revision {
        Revision {
            label: "pod_template_hash".into(),
            value: "7d9f8c6b5".into(),
            namespace: None,
        }
    }

    fn signals(spec: &str) -> Vec<Signal> {
        let spec = parse_watch(spec).expect("a valid spec");
        spec.metrics.into_iter().map(|m| m.signal).collect()
    }

    #[test]
    fn a_ratio_sums_both_selectors_over_the_previous_revision() {
        let spec = r#"errors: http_requests_total{code=~"5.."} / http_requests_total max +50%"#;
        let signal = &signals(spec)[0];
        let query = revision().queries(signal, Duration::from_secs(30));
        assert_eq!(
            query,
            MetricQuery::Ratio {
                events: r#"sum(increase(http_requests_total{code=~"5..", pod_template_hash="7d9f8c6b5"}[30s]))"#.into(),
                trials: r#"sum(increase(http_requests_total{pod_template_hash="7d9f8c6b5"}[30s]))"#.into(),
            }
        );
    }

    #[test]
    fn a_latency_sums_buckets_by_upper_bound() {
        let spec = r#"latency: request_seconds{route="/pay"} p99 max +20%"#;
        let signal = &signals(spec)[0];
        let query = revision().queries(signal, Duration::from_millis(1500));
        assert_eq!(
            query,
            MetricQuery::Latency {
                buckets: r#"sum by (le) (increase(request_seconds_bucket{route="/pay", pod_template_hash="7d9f8c6b5"}[1500ms]))"#.into(),
            }
        );
    }

    #[test]
    fn the_release_namespace_keeps_other_namespaces_revisions_out() {
        let in_shop = Revision {
            namespace: Some(("namespace".into(), "shop".into())),
            ..revision()
        };
        let spec = r#"errors: http_requests_total{code=~"5.."} / http_requests_total max +50%
latency: request_seconds p99 max +20%"#;
        let signals = signals(spec);
        assert_eq!(
            in_shop.queries(&signals[0], Duration::from_secs(30)),
            MetricQuery::Ratio {
                events: r#"sum(increase(http_requests_total{code=~"5..", namespace="shop", pod_template_hash="7d9f8c6b5"}[30s]))"#.into(),
                trials: r#"sum(increase(http_requests_total{namespace="shop", pod_template_hash="7d9f8c6b5"}[30s]))"#.into(),
            }
        );
        assert_eq!(
            in_shop.queries(&signals[1], Duration::from_secs(30)),
            MetricQuery::Latency {
                buckets: r#"sum by (le) (increase(request_seconds_bucket{namespace="shop", pod_template_hash="7d9f8c6b5"}[30s]))"#.into(),
            }
        );
    }

    #[test]
    fn hash_values_are_quoted_so_they_cannot_inject_promql() {
        let hostile = Revision {
            label: "pod_template_hash".into(),
            value: "x\"} or vector(1) #".into(),
            namespace: None,
        };
        let signal = &signals("e: a_total / b_total max +10%")[0];
        let MetricQuery::Ratio { trials, .. } = hostile.queries(signal, Duration::from_secs(5))
        else {
            panic!("a ratio spec gives ratio queries");
        };
        assert_eq!(
            trials,
            r#"sum(increase(b_total{pod_template_hash="x\"} or vector(1) #"}[5s]))"#
        );
    }

    #[test]
    fn ranges_are_written_in_whole_units() {
        assert_eq!(range_text(Duration::from_secs(60)), "60s");
        assert_eq!(range_text(Duration::from_millis(250)), "250ms");
        assert_eq!(range_text(Duration::from_micros(10)), "1ms");
    }
}
