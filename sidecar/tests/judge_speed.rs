//! Detection speed of the judge on the scenarios (50 + 50 req/s, metric watched alone,
//! alpha 0.01). Prints medians; run with
//! `cargo test --release -p ripcord-sidecar --test judge_speed -- --ignored --nocapture`.

mod judge_support;

use judge_support::*;
use ripcord_sidecar::judge::{Judge, JudgeConfig};
use ripcord_sidecar::spec::Direction;
use ripcord_sidecar::verdict::Decision;

const RUNS: u64 = 200;

fn ratio_median(base: f64, bad: f64, tolerance: f64, rps: f64) -> (f64, f64) {
    let baseline = RatioArm {
        requests_per_second: rps,
        rate: base,
    };
    let canary = RatioArm {
        rate: bad,
        ..baseline
    };
    let mut times: Vec<f64> = (0..RUNS)
        .map(|seed| {
            let metric = ratio_metric("errors", Direction::Max, tolerance);
            let (_, at) = run_ratio(seed, metric, canary, baseline, 3600, &[Decision::Fail]);
            at.map_or(f64::INFINITY, |t| t as f64)
        })
        .collect();
    let median = median(&mut times);
    (median, times[(times.len() * 9) / 10])
}

fn latency_median(factor: f64, sigma: f64, tolerance: f64) -> (f64, f64) {
    let mut times: Vec<f64> = (0..RUNS / 2)
        .map(|seed| {
            let mut sim = Sim::new(seed);
            let mut judge = Judge::new(
                &spec(vec![latency_metric(0.99, tolerance)]),
                JudgeConfig::default(),
            );
            for _ in 0..300 {
                judge.baseline_history(&observation(0, vec![sim.latency_delta(50.0, 0.1, sigma)]));
            }
            for t in 1..=1800 {
                let a = observation(t * 1000, vec![sim.latency_delta(50.0, 0.1 * factor, sigma)]);
                let b = observation(t * 1000, vec![sim.latency_delta(50.0, 0.1, sigma)]);
                if judge.tick(&a, &b) == Decision::Fail {
                    return t as f64;
                }
            }
            f64::INFINITY
        })
        .collect();
    let median = median(&mut times);
    (median, times[(times.len() * 9) / 10])
}

#[test]
#[ignore = "prints detection figures; slow in debug builds"]
fn print_detection_times() {
    let fast = RatioArm {
        requests_per_second: 50.0,
        rate: 0.01,
    };
    let alarms = (0..2000)
        .filter(|&seed| {
            let metric = ratio_metric("errors", Direction::Max, 0.5);
            run_ratio(50_000 + seed, metric, fast, fast, 3600, &[Decision::Fail]).0
                == Decision::Fail
        })
        .count();
    println!("A/A errors 1% at 50+50 req/s, 2000 release-hours: {alarms} false alarms");
    for (base, bad) in [(0.01, 0.05), (0.01, 0.02), (0.001, 0.01)] {
        let (m, p90) = ratio_median(base, bad, 0.5, 50.0);
        println!("errors {base}->{bad} at 50+50 req/s: median {m} s, p90 {p90} s");
    }
    let (m, p90) = ratio_median(0.01, 0.05, 0.5, 5.0);
    println!("errors 0.01->0.05 at 5+5 req/s: median {m} s, p90 {p90} s");
    for sigma in [0.5, 1.0] {
        let (m, p90) = latency_median(1.1, sigma, 0.05);
        println!(
            "latency median x1.1 (lognormal sigma {sigma}, p99 max +5%): median {m} s, p90 {p90} s"
        );
    }
}
