//! Property tests of the reset semantics: a restart is never judged as a spike.

use proptest::prelude::*;
use ripcord_sidecar::spec::parse_watch;
use ripcord_sidecar::window::{Extractor, MetricDelta, Unavailable};

/// One tick of one series: the counts it received, and whether the process restarted first.
#[derive(Debug, Clone, Copy)]
struct Step {
    counts: u32,
    restarted: bool,
}

fn step() -> impl Strategy<Value = Step> {
    (0u32..40, proptest::bool::weighted(0.15))
        .prop_map(|(counts, restarted)| Step { counts, restarted })
}

proptest! {
    #[test]
    fn resets_are_unavailable_and_never_inflate_a_delta(
        ticks in proptest::collection::vec(proptest::collection::vec(step(), 3), 2..30)
    ) {
        let spec = parse_watch("e: r_total{s=\"0\"} / r_total max +50%").expect("spec");
        let mut extractor = Extractor::new(&spec);
        let mut values = [0.0f64; 3];
        for (t, series) in ticks.iter().enumerate() {
            let before = values;
            let mut text = String::new();
            for (i, s) in series.iter().enumerate() {
                values[i] = if s.restarted { 0.0 } else { values[i] } + f64::from(s.counts);
                text.push_str(&format!("r_total{{s=\"{i}\"}} {}\n", values[i]));
            }
            let observation = extractor.observe(t as i64, text.as_bytes());
            let delta = &observation.metrics[0];
            if t == 0 {
                prop_assert_eq!(delta, &MetricDelta::Unavailable(Unavailable::FirstScrape));
                continue;
            }
            let went_down = (0..3).any(|i| values[i] < before[i]);
            let received: f64 = series.iter().map(|s| f64::from(s.counts)).sum();
            match delta {
                MetricDelta::Unavailable(Unavailable::CounterReset(_)) => prop_assert!(went_down),
                MetricDelta::Ratio { events, trials } => {
                    prop_assert!(!went_down, "a visible restart gave {:?}", delta);
                    prop_assert!(*trials <= received, "{} > {} counts received", trials, received);
                    prop_assert!(*events <= f64::from(series[0].counts));
                    let visible: f64 = (0..3).map(|i| values[i] - before[i]).sum();
                    prop_assert_eq!(*trials, visible);
                    prop_assert!(*events >= 0.0 && *events <= *trials);
                }
                other => prop_assert!(false, "unexpected {:?}", other),
            }
        }
    }
}
