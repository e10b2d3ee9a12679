//! End-to-end tests of the extractor: watch spec + exposition text in, per-metric deltas out.

use ripcord_sidecar::spec::parse_watch;
use ripcord_sidecar::window::{Extractor, MetricDelta, Observation, Unavailable};

const SPEC: &str = r#"
errors:  http_requests_total{code=~"5.."} / http_requests_total   max +50%
latency: request_latency_seconds{route!="/health"}                 p99 max +20%
"#;

fn extractor(spec: &str) -> Extractor {
    Extractor::new(&parse_watch(spec).expect("test spec parses"))
}

fn observe(extractor: &mut Extractor, at_ms: i64, text: &str) -> Observation {
    let observation = extractor.observe(at_ms, text.as_bytes());
    assert_eq!(observation.at_ms, at_ms);
    observation
}

fn ratio(delta: &MetricDelta) -> (f64, f64) {
    match delta {
        MetricDelta::Ratio { events, trials } => (*events, *trials),
        other => panic!("expected a ratio delta, got {other:?}"),
    }
}

fn unavailable(delta: &MetricDelta) -> &Unavailable {
    match delta {
        MetricDelta::Unavailable(reason) => reason,
        other => panic!("expected unavailable, got {other:?}"),
    }
}

/// An exposition with request counters per code and a two-route histogram with 3 buckets.
fn scrape(codes: &[(&str, f64)], a: [f64; 3], b: [f64; 3]) -> String {
    let mut text = String::from("# TYPE http_requests_total counter\n");
    for (code, value) in codes {
        text.push_str(&format!("http_requests_total{{code=\"{code}\"}} {value}\n"));
    }
    text.push_str("# TYPE request_latency_seconds histogram\n");
    for (route, buckets) in [("/a", a), ("/b", b)] {
        for (le, count) in ["0.1", "0.5", "+Inf"].iter().zip(buckets) {
            text.push_str(&format!(
                "request_latency_seconds_bucket{{route=\"{route}\",le=\"{le}\"}} {count}\n"
            ));
        }
        text.push_str(&format!(
            "request_latency_seconds_count{{route=\"{route}\"}} {}\n",
            buckets[2]
        ));
    }
    text.push_str("request_latency_seconds_bucket{route=\"/health\",le=\"+Inf\"} 1e9\n");
    text
}

#[test]
fn first_scrape_then_deltas_summed_across_matching_series() {
    let mut x = extractor(SPEC);
    let first = observe(
        &mut x,
        1_000,
        &scrape(
            &[("200", 100.0), ("500", 1.0)],
            [1.0, 2.0, 3.0],
            [0.0, 1.0, 1.0],
        ),
    );
    assert_eq!(first.metrics.len(), 2);
    for delta in &first.metrics {
        assert_eq!(unavailable(delta), &Unavailable::FirstScrape);
    }
    let second = observe(
        &mut x,
        2_000,
        &scrape(
            &[("200", 150.0), ("500", 4.0), ("503", 2.0), ("404", 7.0)],
            [3.0, 5.0, 6.0],
            [1.0, 2.0, 4.0],
        ),
    );
    // 500: +3, 503 appeared: +2 (counts from 0); trials: 200 +50, 500 +3, 503 +2, 404 +7.
    assert_eq!(ratio(&second.metrics[0]), (5.0, 62.0));
    assert_eq!(
        second.metrics[1],
        MetricDelta::Histogram {
            upper_bounds: vec![0.1, 0.5, f64::INFINITY],
            cumulative: vec![3.0, 4.0, 6.0],
        }
    );
}

#[test]
fn numerator_absent_counts_as_zero_but_missing_denominator_is_no_series() {
    let mut x = extractor("errors: errors_total / requests_total max +50%");
    let reason = observe(&mut x, 1, "errors_total 3\n").metrics[0].clone();
    assert_eq!(
        unavailable(&reason),
        &Unavailable::NoSeries("requests_total".to_owned())
    );
    observe(&mut x, 2, "requests_total 10\n");
    assert_eq!(
        ratio(&observe(&mut x, 3, "requests_total 25\n").metrics[0]),
        (0.0, 15.0)
    );
    let with_errors = observe(&mut x, 4, "requests_total 30\nerrors_total 2\n");
    assert_eq!(ratio(&with_errors.metrics[0]), (2.0, 5.0));
}

#[test]
fn a_reset_tick_is_unavailable_and_the_next_tick_is_normal() {
    let mut x = extractor(SPEC);
    let codes = |ok: f64, err: f64| {
        scrape(
            &[("200", ok), ("500", err)],
            [1.0, 1.0, 1.0],
            [1.0, 1.0, 1.0],
        )
    };
    observe(&mut x, 1, &codes(1000.0, 50.0));
    assert_eq!(
        ratio(&observe(&mut x, 2, &codes(1100.0, 52.0)).metrics[0]),
        (2.0, 102.0)
    );
    let restarted = observe(&mut x, 3, &codes(40.0, 1.0));
    // Both series restarted; the numerator's is named first.
    assert_eq!(
        unavailable(&restarted.metrics[0]),
        &Unavailable::CounterReset("http_requests_total{code=\"500\"}".to_owned())
    );
    assert_eq!(
        ratio(&observe(&mut x, 4, &codes(90.0, 3.0)).metrics[0]),
        (2.0, 52.0)
    );
}

#[test]
fn a_histogram_reset_is_unavailable() {
    let mut x = extractor(SPEC);
    let codes = [("200", 1.0)];
    observe(&mut x, 1, &scrape(&codes, [5.0, 8.0, 9.0], [1.0, 1.0, 1.0]));
    let reset = observe(&mut x, 2, &scrape(&codes, [1.0, 1.0, 1.0], [1.0, 1.0, 2.0]));
    assert!(
        matches!(unavailable(&reset.metrics[1]), Unavailable::CounterReset(s) if s.contains("/a"))
    );
    let next = observe(&mut x, 3, &scrape(&codes, [2.0, 2.0, 3.0], [1.0, 1.0, 2.0]));
    assert_eq!(
        next.metrics[1],
        MetricDelta::Histogram {
            upper_bounds: vec![0.1, 0.5, f64::INFINITY],
            cumulative: vec![1.0, 1.0, 2.0]
        }
    );
}

#[test]
fn non_monotone_histograms_are_refused_and_the_next_scrape_starts_again() {
    let mut x = extractor(SPEC);
    let codes = [("200", 1.0)];
    observe(&mut x, 1, &scrape(&codes, [1.0, 2.0, 3.0], [0.0, 0.0, 0.0]));
    let broken = observe(&mut x, 2, &scrape(&codes, [4.0, 3.0, 9.0], [0.0, 0.0, 0.0]));
    let MetricDelta::Unavailable(Unavailable::NonMonotoneHistogram(why)) = &broken.metrics[1]
    else {
        panic!("{broken:?}")
    };
    assert!(
        why.contains("route=\"/a\"") && why.contains("not cumulative"),
        "{why}"
    );
    // The errors metric is unaffected by a broken histogram.
    assert_eq!(ratio(&broken.metrics[0]), (0.0, 0.0));
    // A delta from the last trusted scrape would hold two ticks' counts as one.
    let next = observe(&mut x, 3, &scrape(&codes, [2.0, 3.0, 5.0], [0.0, 0.0, 0.0]));
    assert!(
        matches!(&next.metrics[1], MetricDelta::Unavailable(Unavailable::ScrapeFailed(m)) if m.contains("starting point")),
        "{next:?}"
    );
    assert_eq!(ratio(&next.metrics[0]), (0.0, 0.0), "errors go on");
    let after = observe(&mut x, 4, &scrape(&codes, [3.0, 5.0, 8.0], [0.0, 0.0, 0.0]));
    assert_eq!(
        after.metrics[1],
        MetricDelta::Histogram {
            upper_bounds: vec![0.1, 0.5, f64::INFINITY],
            cumulative: vec![1.0, 2.0, 3.0]
        }
    );
}

#[test]
fn count_disagreeing_with_inf_bucket_is_refused() {
    let mut x = extractor("l: h p50 max +10%");
    let text = "h_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 2\nh_count 3\n";
    let MetricDelta::Unavailable(Unavailable::NonMonotoneHistogram(why)) =
        &observe(&mut x, 1, text).metrics[0]
    else {
        panic!()
    };
    assert!(
        why.contains("_count 3 disagrees with the +Inf bucket 2"),
        "{why}"
    );
    let no_inf = "h_bucket{le=\"1\"} 1\n";
    let reason = observe(&mut x, 2, no_inf).metrics[0].clone();
    assert!(
        matches!(unavailable(&reason), Unavailable::NonMonotoneHistogram(w) if w.contains("+Inf"))
    );
}

#[test]
fn failed_scrapes_fail_every_metric_and_the_next_only_starts_again() {
    let mut x = extractor(SPEC);
    let codes = |ok: f64| scrape(&[("200", ok)], [1.0, 1.0, 1.0], [1.0, 1.0, 1.0]);
    observe(&mut x, 1, &codes(10.0));
    let mut broken = codes(500.0);
    broken.push_str("http_requests_total{code=\"200\" 3\n");
    let failed = observe(&mut x, 2, &broken);
    for delta in &failed.metrics {
        assert!(
            matches!(unavailable(delta), Unavailable::ScrapeFailed(m) if m.contains("line")),
            "{delta:?}"
        );
    }
    // The gap's 20 requests are not one tick's: the next scrape only starts again.
    let restarted = observe(&mut x, 3, &codes(30.0));
    assert!(
        matches!(unavailable(&restarted.metrics[0]), Unavailable::ScrapeFailed(m) if m.contains("starting point")),
        "{restarted:?}"
    );
    assert_eq!(
        ratio(&observe(&mut x, 4, &codes(33.0)).metrics[0]),
        (0.0, 3.0)
    );
    let unreachable = x.failed(5, "connection refused");
    assert_eq!(
        unavailable(&unreachable.metrics[1]),
        &Unavailable::ScrapeFailed("connection refused".to_owned())
    );
    assert!(matches!(
        observe(&mut x, 6, &codes(40.0)).metrics[0],
        MetricDelta::Unavailable(_)
    ));
    assert_eq!(
        ratio(&observe(&mut x, 7, &codes(41.0)).metrics[0]),
        (0.0, 1.0)
    );
}

#[test]
fn nan_and_infinite_counters_are_rejected_for_that_metric() {
    let mut x = extractor("e: e_total / r_total max +5%\nr: r_total / s_total min -5%");
    observe(&mut x, 1, "e_total 1\nr_total 10\ns_total 100\n");
    for bad in ["NaN", "+Inf", "-1"] {
        let o = observe(
            &mut x,
            2,
            &format!("e_total {bad}\nr_total 11\ns_total 101\n"),
        );
        let reason = unavailable(&o.metrics[0]);
        assert!(
            matches!(reason, Unavailable::ScrapeFailed(m) if m.contains("series e_total has value") && m.contains("finite")),
            "{reason:?}"
        );
        assert_eq!(ratio(&o.metrics[1]), (1.0, 1.0), "other metrics go on");
        observe(&mut x, 3, "e_total 1\nr_total 10\ns_total 100\n");
    }
}

#[test]
fn a_series_that_disappears_and_returns_is_compared_with_its_last_value() {
    let mut x = extractor("e: r_total{code=\"500\"} / r_total max +5%");
    observe(
        &mut x,
        1,
        "r_total{code=\"200\"} 100\nr_total{code=\"500\"} 10\n",
    );
    assert_eq!(
        ratio(&observe(&mut x, 2, "r_total{code=\"200\"} 110\n").metrics[0]),
        (0.0, 10.0)
    );
    let back = observe(
        &mut x,
        3,
        "r_total{code=\"200\"} 120\nr_total{code=\"500\"} 13\n",
    );
    assert_eq!(ratio(&back.metrics[0]), (3.0, 13.0), "13 - 10, not 13");
    let lower = observe(
        &mut x,
        4,
        "r_total{code=\"200\"} 130\nr_total{code=\"500\"} 2\n",
    );
    assert!(
        matches!(unavailable(&lower.metrics[0]), Unavailable::CounterReset(s) if s.contains("500"))
    );
}

#[test]
fn too_many_series_is_a_clear_failure() {
    let spec = parse_watch("e: r_total{code=~\"5..\"} / r_total max +5%").unwrap();
    let mut x = Extractor::with_limits(&spec, Default::default(), 3);
    let text: String = (0..4)
        .map(|i| format!("r_total{{code=\"20{i}\"}} 1\n"))
        .collect();
    let reason = observe(&mut x, 1, &text).metrics[0].clone();
    assert!(
        matches!(unavailable(&reason), Unavailable::ScrapeFailed(m) if m.contains("more than 3 series")),
        "{reason:?}"
    );
    let fits: String = (0..3)
        .map(|i| format!("r_total{{code=\"20{i}\"}} 1\n"))
        .collect();
    assert_eq!(
        unavailable(&observe(&mut x, 2, &fits).metrics[0]),
        &Unavailable::FirstScrape
    );
}

#[test]
fn metrics_come_out_in_spec_order() {
    let spec = "b: b_total / c_total max +5%\na: a_total / c_total max +5%\nl: h p99 max +5%";
    let mut x = extractor(spec);
    let text = "a_total 1\nb_total 2\nc_total 10\nh_bucket{le=\"+Inf\"} 4\n";
    observe(&mut x, 1, text);
    let o = observe(
        &mut x,
        2,
        "h_bucket{le=\"+Inf\"} 5\nc_total 20\nb_total 4\na_total 7\n",
    );
    assert_eq!(ratio(&o.metrics[0]), (2.0, 10.0));
    assert_eq!(ratio(&o.metrics[1]), (6.0, 10.0));
    assert_eq!(
        o.metrics[2],
        MetricDelta::Histogram {
            upper_bounds: vec![f64::INFINITY],
            cumulative: vec![1.0]
        }
    );
}

#[test]
fn histograms_with_different_layouts_sum_at_shared_bounds() {
    let mut x = extractor("l: h p99 max +5%");
    let t1 = "h_bucket{r=\"a\",le=\"0.1\"} 1\nh_bucket{r=\"a\",le=\"1\"} 2\nh_bucket{r=\"a\",le=\"+Inf\"} 2\n\
              h_bucket{r=\"b\",le=\"0.5\"} 1\nh_bucket{r=\"b\",le=\"1.0\"} 1\nh_bucket{r=\"b\",le=\"+Inf\"} 3\n";
    let t2 = "h_bucket{r=\"a\",le=\"0.1\"} 2\nh_bucket{r=\"a\",le=\"1\"} 4\nh_bucket{r=\"a\",le=\"+Inf\"} 5\n\
              h_bucket{r=\"b\",le=\"0.5\"} 1\nh_bucket{r=\"b\",le=\"1.0\"} 3\nh_bucket{r=\"b\",le=\"+Inf\"} 6\n";
    observe(&mut x, 1, t1);
    assert_eq!(
        observe(&mut x, 2, t2).metrics[0],
        MetricDelta::Histogram {
            upper_bounds: vec![1.0, f64::INFINITY],
            cumulative: vec![4.0, 6.0]
        }
    );
}

const CAPTURE_SPEC: &str = r#"
errors:  http_requests_total{code=~"5.."} / http_requests_total   max +50%
latency: request_latency_seconds                                   p99 max +20%
"#;

fn capture(name: &str) -> String {
    let path = format!("{}/../testdata/expo/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Adds to the value (the last field) of each sample line `add` says something for.
fn bump(text: &str, add: impl Fn(&str) -> Option<f64>) -> String {
    let mut out = String::new();
    for line in text.lines() {
        match (add(line), line.rsplit_once(' ')) {
            (Some(extra), Some((head, value))) => {
                let value: f64 = value.parse().expect("sample value");
                out.push_str(&format!("{head} {}\n", value + extra));
            }
            _ => out.push_str(&format!("{line}\n")),
        }
    }
    out
}

/// The python client's capture: 16 request counters (label values holding `}` `,` `"` `\` and
/// newlines) and a two-route histogram. The bump adds 2 to each 5xx counter, 5 to the others,
/// and one observation to every bucket and the count of the /checkout route.
fn bumped_python_capture() -> (String, f64, f64) {
    let text = capture("python-client.prom.txt");
    let requests: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("http_requests_total{"))
        .collect();
    let errors = requests.iter().filter(|l| l.contains("code=\"5")).count() as f64;
    let expected = (
        2.0 * errors,
        2.0 * errors + 5.0 * (requests.len() as f64 - errors),
    );
    let bumped = bump(&text, |line| {
        if line.starts_with("http_requests_total{") {
            Some(if line.contains("code=\"5") { 2.0 } else { 5.0 })
        } else if (line.starts_with("request_latency_seconds_bucket{")
            || line.starts_with("request_latency_seconds_count{"))
            && line.contains("route=\"/checkout\"")
        {
            Some(1.0)
        } else {
            None
        }
    });
    (bumped, expected.0, expected.1)
}

#[test]
fn real_python_client_capture_in_both_formats() {
    let (bumped, events, trials) = bumped_python_capture();
    assert!(events > 0.0 && trials > events);
    for first in ["python-client.prom.txt", "python-client.om.txt"] {
        let mut x = extractor(CAPTURE_SPEC);
        let start = observe(&mut x, 1, &capture(first));
        assert_eq!(start.metrics.len(), 2);
        for delta in &start.metrics {
            assert_eq!(unavailable(delta), &Unavailable::FirstScrape, "{first}");
        }
        let next = observe(&mut x, 2, &bumped);
        assert_eq!(ratio(&next.metrics[0]), (events, trials), "{first}");
        let MetricDelta::Histogram {
            upper_bounds,
            cumulative,
        } = &next.metrics[1]
        else {
            panic!("{first}: {:?}", next.metrics[1])
        };
        assert_eq!(upper_bounds.len(), 15, "python client default buckets");
        assert_eq!(upper_bounds.last(), Some(&f64::INFINITY));
        assert!(cumulative.iter().all(|&c| c == 1.0), "{cumulative:?}");
    }
}

#[test]
fn real_prometheus_server_capture_twice_gives_zero_deltas() {
    let spec = r#"
errors:  prometheus_http_requests_total{code!~"2.."} / prometheus_http_requests_total  max +50%
latency: prometheus_http_request_duration_seconds{handler="/metrics"}                 p90 max +20%
"#;
    let text = capture("prometheus-server.prom.txt");
    let mut x = extractor(spec);
    observe(&mut x, 1, &text);
    let again = observe(&mut x, 2, &text);
    assert_eq!(ratio(&again.metrics[0]), (0.0, 0.0));
    let MetricDelta::Histogram { cumulative, .. } = &again.metrics[1] else {
        panic!("{:?}", again.metrics[1])
    };
    assert!(!cumulative.is_empty() && cumulative.iter().all(|&c| c == 0.0));
}

#[test]
fn an_absurd_increase_is_not_judged_and_later_scrapes_are() {
    let mut x = extractor(SPEC);
    observe(
        &mut x,
        0,
        &scrape(&[("200", 10.0)], [1.0, 2.0, 3.0], [1.0, 1.0, 1.0]),
    );
    let absurd = observe(
        &mut x,
        1000,
        &scrape(
            &[("200", 20.0), ("500", 1.5e308)],
            [1.0, 2.0, 1.7e308],
            [1.0, 1.0, 1.0],
        ),
    );
    for delta in &absurd.metrics {
        match unavailable(delta) {
            Unavailable::ScrapeFailed(why) => assert!(why.contains("not judged"), "{why}"),
            other => panic!("expected an implausible increase, got {other:?}"),
        }
    }
    let next = observe(
        &mut x,
        2000,
        &scrape(
            &[("200", 30.0), ("500", 1.5e308)],
            [1.0, 2.0, 1.7e308],
            [1.0, 1.0, 1.0],
        ),
    );
    assert_eq!(ratio(&next.metrics[0]), (0.0, 10.0));
}
