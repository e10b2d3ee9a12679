//! A release without a baseline: metrics with an absolute limit are judged on the canary alone;
//! the others stay inconclusive, saying why.

mod judge_support;

use judge_support::*;
use ripcord_sidecar::judge::{Judge, JudgeConfig};
use ripcord_sidecar::spec::{Direction, MetricSpec, parse_watch};
use ripcord_sidecar::verdict::{Basis, Decision, Verdict};

const NO_BASELINE: &str = "no baseline: no source answered";

fn limited(name: &str, direction: Direction, limit: f64) -> MetricSpec {
    MetricSpec {
        limit: Some(limit),
        ..ratio_metric(name, direction, 0.5)
    }
}

/// Ticks `judge` without a baseline, one canary delta per metric from `deltas`, until it
/// decides or `ticks` pass; returns the tick it decided at.
fn run_alone(
    judge: &mut Judge,
    ticks: i64,
    mut deltas: impl FnMut() -> Vec<ripcord_sidecar::window::MetricDelta>,
) -> Option<i64> {
    for t in 1..=ticks {
        let decision = judge.tick_alone(&observation(t * 1000, deltas()), NO_BASELINE);
        if decision != Decision::Inconclusive {
            return Some(t);
        }
    }
    None
}

#[test]
fn a_breach_of_the_limit_fails_with_absolute_evidence() {
    let mut judge = Judge::new(
        &spec(vec![limited("errors", Direction::Max, 0.02)]),
        JudgeConfig::default(),
    );
    let mut sim = Sim::new(1);
    let bad = RatioArm {
        requests_per_second: 50.0,
        rate: 0.05,
    };
    let at = run_alone(&mut judge, 600, || vec![sim.ratio_delta(bad)]);
    let verdict = judge.verdict();
    assert_eq!(verdict.decision, Decision::Fail, "{}", verdict.reason);
    assert_eq!(verdict.basis, Basis::Absolute);
    println!("2 % limit, 5 % errors at 50 req/s: failed after {at:?} ticks");
    let evidence = &verdict.metrics[0];
    let absolute = evidence
        .absolute
        .as_ref()
        .expect("judged against the limit");
    assert_eq!((absolute.limit, absolute.rate_limit), (0.02, 0.02));
    assert!(absolute.e_value >= absolute.threshold && evidence.e_value == absolute.e_value);
    let rate = absolute.canary.rate.expect("the canary had traffic");
    assert!(rate > 0.02 && absolute.lower < rate && rate < absolute.upper);
    assert_eq!(evidence.effect.measure, "rate");
    assert!(
        evidence.reason.contains("beyond the limit 2%") && evidence.reason.contains(NO_BASELINE),
        "{}",
        evidence.reason
    );
    let json = serde_json::to_string(&verdict).expect("a verdict serialises");
    let back: Verdict = serde_json::from_str(&json).expect("and decodes");
    assert_eq!(back, verdict, "floats round-trip exactly");
}

#[test]
fn a_canary_well_within_its_limits_passes_against_them() {
    let spec = parse_watch(
        "errors: e / n  max +50%  limit 2%\n\
         conversion: c / s  min -5%  limit 3%",
    )
    .expect("valid spec");
    let mut judge = Judge::new(&spec, JudgeConfig::default());
    let mut sim = Sim::new(2);
    let errors = RatioArm {
        requests_per_second: 50.0,
        rate: 0.005,
    };
    let conversion = RatioArm {
        requests_per_second: 50.0,
        rate: 0.1,
    };
    run_alone(&mut judge, 600, || {
        vec![sim.ratio_delta(errors), sim.ratio_delta(conversion)]
    });
    let verdict = judge.verdict();
    assert_eq!(verdict.decision, Decision::Pass, "{}", verdict.reason);
    assert_eq!(verdict.basis, Basis::Absolute);
    assert_eq!(verdict.reason, "every metric is within its absolute limit");
}

#[test]
fn a_metric_without_a_limit_keeps_the_release_inconclusive() {
    let mut judge = Judge::new(
        &spec(vec![
            limited("errors", Direction::Max, 0.02),
            ratio_metric("conversion", Direction::Min, 0.05),
        ]),
        JudgeConfig::default(),
    );
    let mut sim = Sim::new(3);
    let arm = RatioArm {
        requests_per_second: 50.0,
        rate: 0.005,
    };
    assert_eq!(
        run_alone(&mut judge, 300, || vec![
            sim.ratio_delta(arm),
            sim.ratio_delta(arm)
        ]),
        None
    );
    let verdict = judge.verdict();
    assert_eq!(
        verdict.basis,
        Basis::Relative,
        "not every metric has a limit"
    );
    assert_eq!(verdict.metrics[0].decision, Decision::Pass);
    let reason = &verdict.metrics[1].reason;
    assert!(
        reason.contains(NO_BASELINE) && reason.contains("no absolute limit"),
        "{reason}"
    );
    assert!(verdict.metrics[1].absolute.is_none());
}

#[test]
fn a_baseline_without_traffic_means_the_limit_and_one_with_traffic_the_baseline() {
    // 5 % errors breach the 2 % limit, but with a baseline erring as often the canary is judged
    // against the baseline, and passes.
    let canary = RatioArm {
        requests_per_second: 50.0,
        rate: 0.05,
    };
    let silent = RatioArm {
        requests_per_second: 0.0,
        rate: 0.05,
    };
    for (baseline, basis, decision) in [
        (silent, Basis::Absolute, Decision::Fail),
        (canary, Basis::Relative, Decision::Pass),
    ] {
        let mut judge = Judge::new(
            &spec(vec![limited("errors", Direction::Max, 0.02)]),
            JudgeConfig::default(),
        );
        let mut sim = Sim::new(4);
        for t in 1..=300 {
            let a = observation(t * 1000, vec![sim.ratio_delta(canary)]);
            let b = observation(t * 1000, vec![sim.ratio_delta(baseline)]);
            judge.tick(&a, &b);
        }
        let verdict = judge.verdict();
        assert_eq!(
            (verdict.basis, verdict.decision),
            (basis, decision),
            "{}",
            verdict.reason
        );
        if basis == Basis::Absolute {
            assert!(
                verdict.metrics[0]
                    .reason
                    .contains("baseline has no traffic"),
                "{}",
                verdict.reason
            );
        }
    }
}

#[test]
fn a_short_outage_of_every_baseline_source_does_not_give_up_the_comparison() {
    let mut judge = Judge::new(
        &spec(vec![limited("errors", Direction::Max, 0.02)]),
        JudgeConfig::default(),
    );
    let mut sim = Sim::new(7);
    let arm = RatioArm {
        requests_per_second: 50.0,
        rate: 0.05,
    };
    for t in 1..=5 {
        judge.tick_alone(
            &observation(t * 1000, vec![sim.ratio_delta(arm)]),
            NO_BASELINE,
        );
    }
    let pending = judge.verdict();
    assert_eq!(pending.decision, Decision::Inconclusive);
    assert!(
        pending.metrics[0].reason.contains("so far 5 and"),
        "{}",
        pending.metrics[0].reason
    );
    for t in 6..=300 {
        judge.tick(
            &observation(t * 1000, vec![sim.ratio_delta(arm)]),
            &observation(t * 1000, vec![sim.ratio_delta(arm)]),
        );
    }
    let verdict = judge.verdict();
    assert_eq!(
        (verdict.basis, verdict.decision),
        (Basis::Relative, Decision::Pass),
        "5 % errors on both sides: within tolerance, the 2 % limit unused: {}",
        verdict.reason
    );
}

#[test]
fn latency_limits_count_above_the_nearest_bucket_edges() {
    let spec_of = |limit: &str| {
        parse_watch(&format!("latency: d p99 max +20% limit {limit}")).expect("valid spec")
    };
    let run = |limit: &str, median: f64| {
        let mut judge = Judge::new(&spec_of(limit), JudgeConfig::default());
        let mut sim = Sim::new(5);
        run_alone(&mut judge, 300, || {
            vec![sim.latency_delta(50.0, median, 0.6)]
        });
        judge.verdict()
    };
    let slow = run("300ms", 0.2);
    assert_eq!(
        slow.decision,
        Decision::Fail,
        "p99 ≈ 0.8 s: {}",
        slow.reason
    );
    let absolute = slow.metrics[0].absolute.as_ref().expect("absolute");
    assert_eq!((absolute.edge, absolute.pass_edge), (Some(0.5), Some(0.25)));
    assert!((absolute.rate_limit - 0.01).abs() < 1e-12);
    assert!(absolute.canary_quantile.is_some_and(|q| q > 0.5));
    let fast = run("300ms", 0.05);
    assert_eq!(
        fast.decision,
        Decision::Pass,
        "p99 ≈ 0.2 s: {}",
        fast.reason
    );
    let beyond = run("20s", 0.2);
    assert_eq!(beyond.decision, Decision::Inconclusive);
    assert!(
        beyond.metrics[0]
            .reason
            .contains("no bucket edge at or above the limit"),
        "{}",
        beyond.reason
    );
}

/// The judge's false-alarm rate with the canary's error rate exactly at the limit, checked
/// every tick: at most alpha, with three binomial standard errors of slack.
#[test]
fn at_the_limit_the_judge_rarely_fails() {
    let (alpha, runs, ticks) = (0.05, 300, 300);
    let at_limit = RatioArm {
        requests_per_second: 20.0,
        rate: 0.02,
    };
    let mut failed = 0;
    for seed in 0..runs {
        let mut judge = Judge::new(
            &spec(vec![limited("errors", Direction::Max, 0.02)]),
            JudgeConfig { alpha },
        );
        let mut sim = Sim::new(1000 + seed);
        if run_alone(&mut judge, ticks, || vec![sim.ratio_delta(at_limit)])
            .is_some_and(|_| judge.decision() == Decision::Fail)
        {
            failed += 1;
        }
    }
    println!("judge at the limit, alpha {alpha}: {failed} of {runs} runs failed");
    let slack = 3.0 * (alpha * (1.0 - alpha) / runs as f64).sqrt();
    assert!(f64::from(failed) / runs as f64 <= alpha + slack, "{failed}");
}

#[test]
fn a_verdict_from_before_absolute_limits_decodes_as_relative() {
    let mut judge = Judge::new(
        &spec(vec![ratio_metric("errors", Direction::Max, 0.5)]),
        JudgeConfig::default(),
    );
    let mut sim = Sim::new(6);
    let arm = RatioArm {
        requests_per_second: 50.0,
        rate: 0.01,
    };
    for t in 1..=20 {
        judge.tick(
            &observation(t * 1000, vec![sim.ratio_delta(arm)]),
            &observation(t * 1000, vec![sim.ratio_delta(arm)]),
        );
    }
    let verdict = judge.verdict();
    let mut old = serde_json::to_value(&verdict).expect("a verdict serialises");
    let removed = old
        .as_object_mut()
        .and_then(|o| o.remove("basis"))
        .expect("new verdicts carry their basis");
    assert_eq!(removed, "relative");
    assert!(old["metrics"][0].get("absolute").is_none());
    let back: Verdict = serde_json::from_value(old).expect("an old verdict decodes");
    assert_eq!(back, verdict);
}
