//! The judge on simulated releases: false alarms, detection, thin traffic, missing data.

mod judge_support;

use judge_support::*;
use ripcord_sidecar::judge::{Judge, JudgeConfig};
use ripcord_sidecar::spec::Direction;
use ripcord_sidecar::verdict::{Decision, Verdict};
use ripcord_sidecar::window::{MetricDelta, Unavailable};

const FAST: RatioArm = RatioArm {
    requests_per_second: 50.0,
    rate: 0.01,
};

#[test]
fn a_a_false_alarms_stay_below_two_percent_over_an_hour() {
    let runs = 200;
    let alarms = (0..runs)
        .filter(|&seed| {
            let metric = ratio_metric("errors", Direction::Max, 0.5);
            run_ratio(seed, metric, FAST, FAST, 3600, &[Decision::Fail]).0 == Decision::Fail
        })
        .count();
    assert!(
        alarms * 50 <= runs as usize,
        "{alarms} false alarms in {runs} A/A hours"
    );
}

#[test]
fn errors_one_to_five_percent_are_caught_within_ten_seconds_median() {
    let bad = RatioArm { rate: 0.05, ..FAST };
    let mut times: Vec<f64> = (0..100)
        .map(|seed| {
            let metric = ratio_metric("errors", Direction::Max, 0.5);
            let (decision, at) = run_ratio(1000 + seed, metric, bad, FAST, 600, &[Decision::Fail]);
            assert_eq!(decision, Decision::Fail);
            at.expect("test data is valid") as f64
        })
        .collect();
    let median = median(&mut times);
    assert!(median <= 10.0, "median time to detect {median} s");
}

#[test]
fn thin_traffic_still_detects_and_an_a_a_is_not_passed_in_the_first_minute() {
    let thin = RatioArm {
        requests_per_second: 5.0,
        rate: 0.01,
    };
    let bad = RatioArm { rate: 0.05, ..thin };
    for seed in 0..20 {
        let metric = ratio_metric("errors", Direction::Max, 0.5);
        let (decision, _) = run_ratio(2000 + seed, metric, bad, thin, 3600, &[Decision::Fail]);
        assert_eq!(decision, Decision::Fail, "seed {seed}");
        let metric = ratio_metric("errors", Direction::Max, 0.5);
        let (decision, _) = run_ratio(
            3000 + seed,
            metric,
            thin,
            thin,
            60,
            &[Decision::Pass, Decision::Fail],
        );
        assert_eq!(decision, Decision::Inconclusive, "seed {seed}");
    }
}

#[test]
fn an_equal_canary_passes_eventually_and_conversion_drops_fail() {
    let metric = ratio_metric("errors", Direction::Max, 0.5);
    let (decision, _) = run_ratio(
        7,
        metric,
        FAST,
        FAST,
        3600,
        &[Decision::Pass, Decision::Fail],
    );
    assert_eq!(decision, Decision::Pass);
    let conversion = RatioArm {
        requests_per_second: 50.0,
        rate: 0.10,
    };
    let dropped = RatioArm {
        rate: 0.05,
        ..conversion
    };
    let metric = ratio_metric("conversion", Direction::Min, 0.05);
    let (decision, at) = run_ratio(8, metric, dropped, conversion, 3600, &[Decision::Fail]);
    assert_eq!(decision, Decision::Fail);
    assert!(at.expect("test data is valid") < 120, "{at:?}");
}

fn judge_of(metrics: usize) -> Judge {
    let list = (0..metrics)
        .map(|i| ratio_metric(&format!("m{i}"), Direction::Max, 0.5))
        .collect();
    Judge::new(&spec(list), JudgeConfig::default())
}

#[test]
fn no_data_and_a_silent_baseline_are_inconclusive_never_pass() {
    let mut judge = judge_of(1);
    assert_eq!(judge.verdict().decision, Decision::Inconclusive);
    for t in 0..3600 {
        let decision = judge.tick(
            &observation(t, vec![ratio(0.0, 0.0)]),
            &observation(t, vec![ratio(0.0, 0.0)]),
        );
        assert_eq!(decision, Decision::Inconclusive);
    }
    assert!(
        judge.verdict().metrics[0]
            .reason
            .contains("no canary traffic"),
        "{}",
        judge.verdict().reason
    );

    let mut judge = judge_of(1);
    for t in 0..3600 {
        judge.tick(
            &observation(t, vec![ratio(0.0, 50.0)]),
            &observation(t, vec![ratio(0.0, 0.0)]),
        );
    }
    let verdict = judge.verdict();
    assert_eq!(verdict.decision, Decision::Inconclusive);
    assert!(
        verdict.metrics[0]
            .reason
            .contains("baseline has no traffic"),
        "{}",
        verdict.reason
    );

    let mut judge = judge_of(2);
    for t in 0..10 {
        judge.tick(&observation(t, vec![]), &observation(t, vec![]));
    }
    assert_eq!(judge.verdict().metrics[1].skipped_ticks, 10);
}

#[test]
fn counter_resets_never_fail_and_are_reported() {
    let mut judge = judge_of(1);
    let reset =
        MetricDelta::Unavailable(Unavailable::CounterReset("http_requests_total".to_string()));
    for t in 0..600 {
        let canary = if t % 2 == 0 {
            reset.clone()
        } else {
            ratio(0.0, 50.0)
        };
        judge.tick(
            &observation(t, vec![canary]),
            &observation(t, vec![ratio(0.0, 50.0)]),
        );
    }
    let verdict = judge.verdict();
    assert_ne!(verdict.decision, Decision::Fail);
    assert_eq!(verdict.metrics[0].skipped_ticks, 300);
    assert!(
        verdict.metrics[0].reason.contains("counter reset"),
        "{}",
        verdict.metrics[0].reason
    );
}

#[test]
fn latency_edge_comes_from_the_baseline_and_a_slower_canary_fails() {
    let mut sim = Sim::new(11);
    let mut judge = Judge::new(
        &spec(vec![latency_metric(0.99, 0.2)]),
        JudgeConfig::default(),
    );
    let first = judge.tick(
        &observation(1000, vec![sim.latency_delta(50.0, 0.1, 0.5)]),
        &observation(1000, vec![sim.latency_delta(50.0, 0.1, 0.5)]),
    );
    assert_eq!(first, Decision::Inconclusive);
    assert!(
        judge.verdict().metrics[0]
            .reason
            .contains("choosing the latency edge")
    );
    let mut decided = None;
    for t in 2..600 {
        let a = observation(t * 1000, vec![sim.latency_delta(50.0, 0.2, 0.5)]);
        let b = observation(t * 1000, vec![sim.latency_delta(50.0, 0.1, 0.5)]);
        if judge.tick(&a, &b) == Decision::Fail {
            decided = Some(t);
            break;
        }
    }
    let verdict = judge.verdict();
    assert_eq!(verdict.decision, Decision::Fail, "{}", verdict.reason);
    let latency = verdict.metrics[0]
        .latency
        .clone()
        .expect("test data is valid");
    assert!(
        latency.canary_quantile.expect("test data is valid")
            > 1.2 * latency.baseline_quantile.expect("test data is valid")
    );
    assert!(decided.expect("test data is valid") < 120, "{decided:?}");
}

#[test]
fn verdict_round_trips_through_json_with_its_evidence() {
    let bad = RatioArm { rate: 0.05, ..FAST };
    let mut sim = Sim::new(5);
    let mut judge = judge_of(1);
    for t in 1..=60 {
        judge.tick(
            &observation(t * 1000, vec![sim.ratio_delta(bad)]),
            &observation(t * 1000, vec![sim.ratio_delta(FAST)]),
        );
    }
    let verdict = judge.verdict();
    assert_eq!(verdict.decision, Decision::Fail);
    let evidence = &verdict.metrics[0];
    assert!(evidence.e_value >= evidence.threshold);
    let (lower, upper) = (
        evidence.effect.lower.expect("test data is valid"),
        evidence.effect.upper.expect("test data is valid"),
    );
    let estimate = evidence.effect.estimate.expect("test data is valid");
    assert!(
        lower < estimate && estimate < upper && lower > 1.0,
        "{lower} {estimate} {upper}"
    );
    assert!(verdict.decided_at_ms.is_some() && evidence.decided_at_ms == verdict.decided_at_ms);
    let json = serde_json::to_string(&verdict).expect("test data is valid");
    let back: Verdict = serde_json::from_str(&json).expect("test data is valid");
    assert_eq!(
        (back.decision, &back.reason, back.decided_at_ms),
        (verdict.decision, &verdict.reason, verdict.decided_at_ms)
    );
    assert_json_close(
        &serde_json::to_value(&back).expect("test data is valid"),
        &serde_json::to_value(&verdict).expect("test data is valid"),
    );
    let path = judge.e_value_path(0).expect("test data is valid");
    assert_eq!(path.len(), 60);
    assert!(path.last().expect("test data is valid").log_e_value >= 100f64.ln());
}

/// JSON equality up to the last bit of a float (serde_json's default parser may be one ulp off).
fn assert_json_close(a: &serde_json::Value, b: &serde_json::Value) {
    use serde_json::Value;
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            let (x, y) = (
                x.as_f64().expect("test data is valid"),
                y.as_f64().expect("test data is valid"),
            );
            assert!((x - y).abs() <= 1e-15 * x.abs().max(y.abs()), "{x} vs {y}");
        }
        (Value::Array(x), Value::Array(y)) => {
            assert_eq!(x.len(), y.len());
            x.iter().zip(y).for_each(|(x, y)| assert_json_close(x, y));
        }
        (Value::Object(x), Value::Object(y)) => {
            assert_eq!(x.keys().collect::<Vec<_>>(), y.keys().collect::<Vec<_>>());
            x.iter().for_each(|(k, v)| assert_json_close(v, &y[k]));
        }
        _ => assert_eq!(a, b),
    }
}

#[test]
fn a_zero_tolerance_is_judged_and_a_slower_median_fails() {
    let mut sim = Sim::new(12);
    let mut judge = Judge::new(
        &spec(vec![latency_metric(0.5, 0.0)]),
        JudgeConfig::default(),
    );
    let mut decided = None;
    for t in 1..600 {
        let a = observation(t * 1000, vec![sim.latency_delta(50.0, 0.11, 0.5)]);
        let b = observation(t * 1000, vec![sim.latency_delta(50.0, 0.1, 0.5)]);
        if judge.tick(&a, &b) == Decision::Fail {
            decided = Some(t);
            break;
        }
    }
    let verdict = judge.verdict();
    assert!(!verdict.metrics[0].reason.contains("cannot be judged"));
    assert_eq!(verdict.decision, Decision::Fail, "{}", verdict.reason);
    assert!(decided.expect("test data is valid") < 300, "{decided:?}");
}

#[test]
fn a_zero_tolerance_does_not_fail_an_equal_canary() {
    let mut sim = Sim::new(13);
    let mut judge = Judge::new(
        &spec(vec![latency_metric(0.5, 0.0)]),
        JudgeConfig::default(),
    );
    for t in 1..900 {
        let a = observation(t * 1000, vec![sim.latency_delta(50.0, 0.1, 0.5)]);
        let b = observation(t * 1000, vec![sim.latency_delta(50.0, 0.1, 0.5)]);
        judge.tick(&a, &b);
    }
    let verdict = judge.verdict();
    assert!(!verdict.metrics[0].reason.contains("cannot be judged"));
    assert_ne!(verdict.decision, Decision::Fail, "{}", verdict.reason);
}
