//! The bounded ring of observations and its range sums.

use ripcord_sidecar::window::{MetricDelta, Observation, Unavailable, Window};

fn tick(
    at_ms: i64,
    events: f64,
    trials: f64,
    histogram: Option<(Vec<f64>, Vec<f64>)>,
) -> Observation {
    let latency = match histogram {
        Some((upper_bounds, cumulative)) => MetricDelta::Histogram {
            upper_bounds,
            cumulative,
        },
        None => MetricDelta::Unavailable(Unavailable::CounterReset("h{r=\"a\"}".to_owned())),
    };
    Observation {
        at_ms,
        metrics: vec![MetricDelta::Ratio { events, trials }, latency],
    }
}

const INF: f64 = f64::INFINITY;

#[test]
fn keeps_at_most_capacity_observations() {
    let mut window = Window::new(3);
    for t in 0..10 {
        window.push(tick(t * 1000, 1.0, 10.0, None));
    }
    assert_eq!((window.len(), window.capacity()), (3, 3));
    let kept: Vec<i64> = window.iter().map(|o| o.at_ms).collect();
    assert_eq!(kept, [7000, 8000, 9000]);
    assert_eq!(Window::new(0).capacity(), 1);
}

#[test]
fn sums_a_half_open_range_per_metric() {
    let mut window = Window::new(10);
    window.push(tick(
        1000,
        1.0,
        10.0,
        Some((vec![0.1, 0.5, INF], vec![1.0, 2.0, 3.0])),
    ));
    window.push(tick(2000, 2.0, 20.0, None));
    window.push(tick(
        3000,
        4.0,
        40.0,
        Some((vec![0.25, 0.5, INF], vec![0.0, 1.0, 5.0])),
    ));
    window.push(tick(
        4000,
        8.0,
        80.0,
        Some((vec![0.5, INF], vec![9.0, 9.0])),
    ));
    let totals = window.sum(1000, 3000);
    assert_eq!(totals.len(), 2);
    assert_eq!(
        totals[0].total,
        Some(MetricDelta::Ratio {
            events: 6.0,
            trials: 60.0
        })
    );
    assert_eq!(totals[0].used_ticks, 2);
    assert_eq!(
        totals[1].total,
        Some(MetricDelta::Histogram {
            upper_bounds: vec![0.25, 0.5, INF],
            cumulative: vec![0.0, 1.0, 5.0]
        })
    );
    assert_eq!((totals[1].used_ticks, totals[1].unavailable_ticks), (1, 1));
    assert!(matches!(
        totals[1].last_unavailable,
        Some(Unavailable::CounterReset(_))
    ));
    let all = window.sum(i64::MIN, i64::MAX);
    assert_eq!(
        all[0].total,
        Some(MetricDelta::Ratio {
            events: 15.0,
            trials: 150.0
        })
    );
    assert_eq!(
        all[1].total,
        Some(MetricDelta::Histogram {
            upper_bounds: vec![0.5, INF],
            cumulative: vec![12.0, 17.0]
        }),
        "histograms with different layouts sum at their shared bounds"
    );
}

#[test]
fn an_empty_range_has_no_total() {
    let mut window = Window::new(4);
    window.push(tick(1000, 1.0, 10.0, None));
    let totals = window.sum(5000, 9000);
    assert_eq!(totals.len(), 2);
    assert!(
        totals
            .iter()
            .all(|t| t.total.is_none() && t.used_ticks == 0 && t.unavailable_ticks == 0)
    );
    let only_resets = window.sum(0, 1000);
    assert_eq!(only_resets[1].total, None);
    assert_eq!(only_resets[1].unavailable_ticks, 1);
    assert!(Window::new(2).sum(0, 1).is_empty());
}
