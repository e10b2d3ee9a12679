//! Property tests: reordering time or splitting ticks never reverses a verdict's direction or the
//! sign of its effect, and counter resets never make a regression by themselves.

mod judge_support;

use judge_support::*;
use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed};
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use ripcord_sidecar::judge::{Judge, JudgeConfig};
use ripcord_sidecar::spec::Direction;
use ripcord_sidecar::verdict::Decision;
use ripcord_sidecar::window::{MetricDelta, Unavailable};

type Tick = (f64, f64, f64, f64);

fn stream(seed: u64, canary_rate: f64, baseline_rate: f64, rps: f64, ticks: usize) -> Vec<Tick> {
    let mut sim = Sim::new(seed);
    let mut out = Vec::with_capacity(ticks);
    for _ in 0..ticks {
        let pair = [
            sim.ratio_delta(RatioArm {
                requests_per_second: rps,
                rate: canary_rate,
            }),
            sim.ratio_delta(RatioArm {
                requests_per_second: rps,
                rate: baseline_rate,
            }),
        ];
        if let [
            MetricDelta::Ratio {
                events: xa,
                trials: na,
            },
            MetricDelta::Ratio {
                events: xb,
                trials: nb,
            },
        ] = pair
        {
            out.push((xa, na, xb, nb));
        }
    }
    out
}

/// Final decision and the sign of `estimate - 1`.
fn judge(ticks: &[Tick], direction: Direction) -> (Decision, Option<bool>) {
    let mut judge = Judge::new(
        &spec(vec![ratio_metric("m", direction, 0.2)]),
        JudgeConfig::default(),
    );
    for (t, &(xa, na, xb, nb)) in ticks.iter().enumerate() {
        let at = t as i64 * 1000;
        judge.tick(
            &observation(at, vec![ratio(xa, na)]),
            &observation(at, vec![ratio(xb, nb)]),
        );
    }
    let verdict = judge.verdict();
    let sign = verdict.metrics[0]
        .effect
        .estimate
        .filter(|e| (e - 1.0).abs() > 1e-9)
        .map(|e| e > 1.0);
    (verdict.decision, sign)
}

fn opposite(a: Decision, b: Decision) -> bool {
    matches!(
        (a, b),
        (Decision::Pass, Decision::Fail) | (Decision::Fail, Decision::Pass)
    )
}

fn config() -> Config {
    Config {
        cases: 48,
        rng_seed: RngSeed::Fixed(20_240_601),
        failure_persistence: None,
        ..Config::default()
    }
}

const RATES: [f64; 5] = [0.01, 0.02, 0.05, 0.1, 0.3];

proptest! {
    #![proptest_config(config())]

    #[test]
    fn shuffling_time_never_reverses_the_verdict(
        seed in 0u64..1_000_000,
        a in 0usize..5,
        b in 0usize..5,
        min in any::<bool>(),
        length in 50usize..400,
    ) {
        let direction = if min { Direction::Min } else { Direction::Max };
        let ticks = stream(seed, RATES[a], RATES[b], 50.0, length);
        let (decision, sign) = judge(&ticks, direction);
        let mut shuffled = ticks.clone();
        shuffled.shuffle(&mut StdRng::seed_from_u64(seed));
        let (shuffled_decision, shuffled_sign) = judge(&shuffled, direction);
        prop_assert!(!opposite(decision, shuffled_decision), "{decision:?} vs {shuffled_decision:?}");
        prop_assert_eq!(sign, shuffled_sign);
    }

    #[test]
    fn splitting_ticks_never_reverses_the_verdict(
        seed in 0u64..1_000_000,
        a in 0usize..5,
        b in 0usize..5,
        min in any::<bool>(),
        fraction in 0.0f64..1.0,
    ) {
        let direction = if min { Direction::Min } else { Direction::Max };
        let ticks = stream(seed, RATES[a], RATES[b], 50.0, 200);
        let split: Vec<Tick> = ticks
            .iter()
            .flat_map(|&(xa, na, xb, nb)| {
                let part = |x: f64| (x * fraction).floor();
                let (pxa, pna, pxb, pnb) = (part(xa), part(na).max(part(xa)), part(xb), part(nb).max(part(xb)));
                [(pxa, pna, pxb, pnb), (xa - pxa, na - pna, xb - pxb, nb - pnb)]
            })
            .collect();
        let (decision, sign) = judge(&ticks, direction);
        let (split_decision, split_sign) = judge(&split, direction);
        prop_assert!(!opposite(decision, split_decision), "{decision:?} vs {split_decision:?}");
        prop_assert_eq!(sign, split_sign);
    }

    #[test]
    fn counter_resets_alone_never_fail(
        seed in 0u64..1_000_000,
        reset_mask in proptest::collection::vec(any::<bool>(), 300),
    ) {
        let ticks = stream(seed, 0.02, 0.02, 50.0, 300);
        let mut judge = Judge::new(&spec(vec![ratio_metric("m", Direction::Max, 0.2)]), JudgeConfig::default());
        let reset = MetricDelta::Unavailable(Unavailable::CounterReset("requests_total".to_string()));
        for (t, (&(_, _, xb, nb), &is_reset)) in ticks.iter().zip(&reset_mask).enumerate() {
            let canary = if is_reset { reset.clone() } else { ratio(xb, nb) };
            let at = t as i64 * 1000;
            prop_assert_ne!(judge.tick(&observation(at, vec![canary]), &observation(at, vec![ratio(xb, nb)])), Decision::Fail);
        }
        let skipped = reset_mask.iter().filter(|r| **r).count() as u64;
        prop_assert_eq!(judge.verdict().metrics[0].skipped_ticks, skipped);
    }
}
