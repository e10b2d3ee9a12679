//! Every route of the sidecar's HTTP surface and its error cases, through `tower`'s `oneshot`
//! against real state: observations and verdicts from the real judge, metrics read back with the
//! project's own exposition parser.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::{ALLOW, CONTENT_TYPE};
use http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use ripcord_sidecar::expo::{self, Limits};
use ripcord_sidecar::judge::{Judge, JudgeConfig};
use ripcord_sidecar::serve::{
    MAX_BODY_BYTES, MAX_WINDOW_OBSERVATIONS, PeerAddr, Router, ScrapeErrorKind, State,
    WINDOW_VERSION, WindowJson,
};
use ripcord_sidecar::spec::{MAX_METRICS, parse_watch};
use ripcord_sidecar::verdict::{Decision, Verdict};
use ripcord_sidecar::window::{MetricDelta, Observation, Unavailable};
use tower::ServiceExt;

struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: String,
}

async fn send(state: &Arc<State>, request: Request<Full<Bytes>>) -> Answer {
    let response = Router::new(Arc::clone(state))
        .oneshot(request)
        .await
        .expect("the router never fails");
    let (parts, body) = response.into_parts();
    let bytes = body.collect().await.expect("a full body").to_bytes();
    Answer {
        status: parts.status,
        headers: parts.headers,
        body: String::from_utf8(bytes.to_vec()).expect("UTF-8 body"),
    }
}

fn request(method: Method, uri: &str) -> Request<Full<Bytes>> {
    Request::builder()
        .method(method)
        .uri(uri)
        .body(Full::new(Bytes::new()))
        .expect("a valid request")
}

async fn get(state: &Arc<State>, uri: &str) -> Answer {
    send(state, request(Method::GET, uri)).await
}

fn observation(at_ms: i64, errors: f64) -> Observation {
    Observation {
        at_ms,
        metrics: vec![
            MetricDelta::Ratio {
                events: errors,
                trials: 100.0,
            },
            MetricDelta::Histogram {
                upper_bounds: vec![0.1, 0.5, f64::INFINITY],
                cumulative: vec![60.0, 95.0, 100.0],
            },
        ],
    }
}

/// A real failing verdict: a canary with five times the baseline's error rate.
fn failing_verdict() -> Verdict {
    let spec = parse_watch("errors: e_total / r_total max +50%\n").expect("spec parses");
    let mut judge = Judge::new(&spec, JudgeConfig::default());
    for t in 0..60 {
        let canary = Observation {
            at_ms: t * 1000,
            metrics: vec![MetricDelta::Ratio {
                events: 5.0,
                trials: 100.0,
            }],
        };
        let baseline = Observation {
            at_ms: t * 1000,
            metrics: vec![MetricDelta::Ratio {
                events: 1.0,
                trials: 100.0,
            }],
        };
        judge.tick(&canary, &baseline);
    }
    judge.verdict()
}

fn fresh() -> Arc<State> {
    Arc::new(State::new(5000))
}

#[tokio::test]
async fn live_answers_200_before_anything_happened() {
    let answer = get(&fresh(), "/live").await;
    assert_eq!(answer.status, StatusCode::OK);
}

#[tokio::test]
async fn ready_says_why_not_until_a_scrape_succeeds_and_stays_ready_after() {
    let state = fresh();
    let answer = get(&state, "/ready").await;
    assert_eq!(answer.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(answer.body.contains("no scrape yet"), "{}", answer.body);

    state.scrape_failed(ScrapeErrorKind::Timeout, "no answer within 1s");
    let answer = get(&state, "/ready").await;
    assert_eq!(answer.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(answer.body.contains("timeout"), "{}", answer.body);
    assert!(
        answer.body.contains("no answer within 1s"),
        "{}",
        answer.body
    );

    state.scrape_succeeded(Duration::from_millis(2), observation(1000, 1.0));
    assert_eq!(get(&state, "/ready").await.status, StatusCode::OK);
    state.scrape_failed(ScrapeErrorKind::Connect, "refused");
    assert_eq!(get(&state, "/ready").await.status, StatusCode::OK);
}

/// One parsed sample: name, labels, value.
type Parsed = (String, Vec<(String, String)>, f64);

/// Every sample of an exposition.
fn samples(text: &str) -> Vec<Parsed> {
    let mut out = Vec::new();
    let summary = expo::parse(text.as_bytes(), &Limits::default(), |sample| {
        let labels = sample
            .labels
            .iter()
            .map(|l| (l.name.to_owned(), l.value.to_string()))
            .collect();
        out.push((sample.name.to_owned(), labels, sample.value));
    })
    .unwrap_or_else(|e| panic!("the metrics parse: {e}\n{text}"));
    assert_eq!(summary.format, expo::Format::OpenMetrics);
    out
}

fn value(samples: &[Parsed], name: &str, label: (&str, &str)) -> Option<f64> {
    samples
        .iter()
        .find(|(n, labels, _)| {
            n == name && labels.iter().any(|(k, v)| k == label.0 && v == label.1)
        })
        .map(|(_, _, v)| *v)
}

#[tokio::test]
async fn metrics_count_scrapes_errors_parse_time_verdicts_and_e_values() {
    let state = fresh();
    for t in 1..=3 {
        state.scrape_succeeded(Duration::from_micros(300), observation(t * 1000, 1.0));
    }
    state.scrape_failed(ScrapeErrorKind::Parse, "line 3, column 9: bad value");
    state.scrape_failed(ScrapeErrorKind::Parse, "line 1, column 1: bad name");
    state.scrape_failed(ScrapeErrorKind::TooLarge, "over 32 MiB");
    let verdict = failing_verdict();
    assert_eq!(verdict.decision, Decision::Fail, "{}", verdict.reason);
    state.publish_verdict(verdict.clone());

    let answer = get(&state, "/metrics").await;
    assert_eq!(answer.status, StatusCode::OK);
    let content_type = answer.headers[CONTENT_TYPE].to_str().unwrap();
    assert!(
        content_type.starts_with("application/openmetrics-text"),
        "{content_type}"
    );
    let samples = samples(&answer.body);

    let scrapes = "ripcord_sidecar_scrapes_total";
    assert_eq!(value(&samples, scrapes, ("result", "ok")), Some(3.0));
    assert_eq!(value(&samples, scrapes, ("result", "error")), Some(3.0));
    let errors = "ripcord_sidecar_scrape_errors_total";
    assert_eq!(value(&samples, errors, ("kind", "parse")), Some(2.0));
    assert_eq!(value(&samples, errors, ("kind", "too_large")), Some(1.0));
    assert_eq!(value(&samples, errors, ("kind", "timeout")), None);
    let parse_count = samples
        .iter()
        .find(|(n, _, _)| n == "ripcord_sidecar_parse_seconds_count")
        .map(|s| s.2);
    assert_eq!(parse_count, Some(3.0));
    // 300 µs falls in the (200 µs, 400 µs] bucket: nothing at 200 µs, all three at 400 µs.
    let bucket = "ripcord_sidecar_parse_seconds_bucket";
    assert_eq!(value(&samples, bucket, ("le", "0.0002")), Some(0.0));
    assert_eq!(value(&samples, bucket, ("le", "0.0004")), Some(3.0));
    let verdicts = "ripcord_sidecar_verdicts_total";
    assert_eq!(value(&samples, verdicts, ("decision", "fail")), Some(1.0));
    assert_eq!(value(&samples, verdicts, ("decision", "pass")), None);
    let e_value = value(&samples, "ripcord_sidecar_e_value", ("metric", "errors")).unwrap();
    let expected = verdict.metrics[0].e_value;
    assert!(
        expected > verdict.metrics[0].threshold,
        "a fail crosses the threshold"
    );
    assert!(
        (e_value - expected).abs() <= 1e-9 * expected.abs(),
        "{e_value} vs {expected}"
    );
}

#[tokio::test]
async fn e_value_series_are_capped_at_the_spec_limit_and_replaced_by_each_verdict() {
    let state = fresh();
    let mut verdict = failing_verdict();
    let template = verdict.metrics[0].clone();
    verdict.metrics = (0..MAX_METRICS + 8)
        .map(|i| {
            let mut metric = template.clone();
            metric.name = format!("m{i}");
            metric
        })
        .collect();
    state.publish_verdict(verdict.clone());
    let gauges = |body: &str| {
        samples(body)
            .into_iter()
            .filter(|(n, _, _)| n == "ripcord_sidecar_e_value")
            .map(|(_, labels, _)| labels[0].1.clone())
            .collect::<Vec<_>>()
    };
    let first = gauges(&get(&state, "/metrics").await.body);
    assert_eq!(first.len(), MAX_METRICS);
    assert!(first.contains(&"m0".to_owned()) && !first.contains(&format!("m{MAX_METRICS}")));

    verdict.metrics.truncate(1);
    verdict.metrics[0].name = "latency".to_owned();
    state.publish_verdict(verdict);
    assert_eq!(
        gauges(&get(&state, "/metrics").await.body),
        vec!["latency".to_owned()]
    );
}

fn window(answer: &Answer) -> (WindowJson, Vec<Observation>) {
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    let json: WindowJson = serde_json::from_str(&answer.body).expect("window JSON");
    assert_eq!(json.version, WINDOW_VERSION);
    let observations = json
        .observations
        .iter()
        .cloned()
        .map(|o| o.into_observation().expect("valid observation"))
        .collect();
    (json, observations)
}

#[tokio::test]
async fn window_serves_the_observations_after_from_through_to_that_parse_back() {
    let state = fresh();
    let pushed: Vec<Observation> = (1..=10).map(|t| observation(t * 1000, t as f64)).collect();
    for o in &pushed {
        state.scrape_succeeded(Duration::from_millis(1), o.clone());
    }
    state.scrape_succeeded(
        Duration::from_millis(1),
        Observation {
            at_ms: 11_000,
            metrics: vec![MetricDelta::Unavailable(Unavailable::CounterReset(
                "e_total{code=\"500\"}".to_owned(),
            ))],
        },
    );

    let (json, got) = window(&get(&state, "/v1/window?from=3000&to=6000").await);
    assert_eq!(
        (json.from_ms, json.to_ms, json.truncated),
        (3000, 6000, false)
    );
    assert_eq!(
        got,
        pushed[3..6].to_vec(),
        "from is exclusive, to inclusive"
    );

    let (_, got) = window(&get(&state, "/v1/window?from=10000&to=20000").await);
    assert_eq!(got.len(), 1);
    assert_eq!(
        got[0].metrics,
        vec![MetricDelta::Unavailable(Unavailable::CounterReset(
            "e_total{code=\"500\"}".to_owned()
        ))]
    );

    let (_, got) = window(&get(&state, "/v1/window?from=50000&to=60000").await);
    assert!(got.is_empty());
}

#[tokio::test]
async fn window_responses_are_capped_and_say_so() {
    let state = fresh();
    let total = MAX_WINDOW_OBSERVATIONS as i64 + 400;
    for t in 1..=total {
        state.scrape_succeeded(Duration::from_millis(1), observation(t, 0.0));
    }
    let (json, got) = window(&get(&state, &format!("/v1/window?from=0&to={total}")).await);
    assert!(json.truncated);
    assert_eq!(got.len(), MAX_WINDOW_OBSERVATIONS);
    let last = got.last().unwrap().at_ms;
    let (json, rest) = window(&get(&state, &format!("/v1/window?from={last}&to={total}")).await);
    assert!(!json.truncated);
    assert_eq!(
        rest.len() + got.len(),
        total as usize,
        "the rest comes from the last at_ms"
    );
    assert_eq!(rest.first().unwrap().at_ms, last + 1);
}

#[tokio::test]
async fn window_refuses_bad_parameters_naming_them() {
    let state = fresh();
    for (uri, param) in [
        ("/v1/window", "from"),
        ("/v1/window?to=5", "from"),
        ("/v1/window?from=5", "to"),
        ("/v1/window?from=abc&to=5", "from"),
        ("/v1/window?from=1&to=5.5", "to"),
        ("/v1/window?from=9&to=5", "from"),
    ] {
        let answer = get(&state, uri).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{uri}");
        assert!(
            answer.body.contains(&format!("`{param}`")),
            "{uri}: {}",
            answer.body
        );
    }
}

#[tokio::test]
async fn verdict_is_503_before_the_first_and_the_judges_verdict_after() {
    let state = fresh();
    let answer = get(&state, "/v1/verdict").await;
    assert_eq!(answer.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(answer.body.contains("no verdict yet"));

    let verdict = failing_verdict();
    state.publish_verdict(verdict.clone());
    let answer = get(&state, "/v1/verdict").await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.headers[CONTENT_TYPE], "application/json");
    let served: Verdict = serde_json::from_str(&answer.body).expect("verdict JSON");
    assert_eq!(served, verdict);
}

fn from_peer(mut request: Request<Full<Bytes>>, peer: &str) -> Request<Full<Bytes>> {
    request
        .extensions_mut()
        .insert(PeerAddr(peer.parse().expect("a socket address")));
    request
}

fn put_level(body: &str) -> Request<Full<Bytes>> {
    Request::builder()
        .method(Method::PUT)
        .uri("/admin/log-level")
        .body(Full::new(Bytes::from(body.to_owned())))
        .expect("a valid request")
}

#[tokio::test]
async fn log_level_is_read_and_set_from_loopback() {
    let state = fresh();
    for peer in ["127.0.0.1:4000", "[::1]:4000"] {
        let answer = send(
            &state,
            from_peer(request(Method::GET, "/admin/log-level"), peer),
        )
        .await;
        assert_eq!(answer.status, StatusCode::OK);
    }
    let answer = send(
        &state,
        from_peer(put_level("ripcord_sidecar=debug\n"), "127.0.0.1:1"),
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    let answer = send(
        &state,
        from_peer(request(Method::GET, "/admin/log-level"), "[::1]:1"),
    )
    .await;
    assert_eq!(answer.body.trim(), "ripcord_sidecar=debug");

    let answer = send(
        &state,
        from_peer(put_level("ripcord_sidecar=loud"), "127.0.0.1:1"),
    )
    .await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert!(
        answer.body.contains("ripcord_sidecar=loud"),
        "{}",
        answer.body
    );
    assert_eq!(state.log_level().current(), "ripcord_sidecar=debug");
}

#[tokio::test]
async fn log_level_is_forbidden_to_remote_or_unknown_peers() {
    let state = fresh();
    let before = state.log_level().current();
    for peer in [Some("10.1.2.3:5000"), Some("[fe80::1]:5000"), None] {
        for req in [request(Method::GET, "/admin/log-level"), put_level("trace")] {
            let req = match peer {
                Some(peer) => from_peer(req, peer),
                None => req,
            };
            let answer = send(&state, req).await;
            assert_eq!(answer.status, StatusCode::FORBIDDEN, "{peer:?}");
        }
    }
    assert_eq!(state.log_level().current(), before);
}

#[tokio::test]
async fn log_level_refuses_large_bodies_and_other_methods() {
    let state = fresh();
    let big = "a".repeat(MAX_BODY_BYTES + 1);
    let answer = send(&state, from_peer(put_level(&big), "127.0.0.1:1")).await;
    assert_eq!(answer.status, StatusCode::PAYLOAD_TOO_LARGE);
    let mut declared = from_peer(put_level("info"), "127.0.0.1:1");
    declared
        .headers_mut()
        .insert(http::header::CONTENT_LENGTH, (MAX_BODY_BYTES * 10).into());
    assert_eq!(
        send(&state, declared).await.status,
        StatusCode::PAYLOAD_TOO_LARGE
    );

    let answer = send(
        &state,
        from_peer(request(Method::DELETE, "/admin/log-level"), "127.0.0.1:1"),
    )
    .await;
    assert_eq!(answer.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(answer.headers[ALLOW], "GET, PUT");
}

#[tokio::test]
async fn unknown_paths_are_404_and_wrong_methods_405() {
    let state = fresh();
    for path in ["/", "/livez", "/v1/verdicts", "/v1/window/x", "/admin"] {
        assert_eq!(
            get(&state, path).await.status,
            StatusCode::NOT_FOUND,
            "{path}"
        );
    }
    for path in [
        "/live",
        "/ready",
        "/metrics",
        "/v1/window?from=0&to=1",
        "/v1/verdict",
    ] {
        for method in [Method::POST, Method::PUT, Method::DELETE] {
            let answer = send(&state, request(method.clone(), path)).await;
            assert_eq!(
                answer.status,
                StatusCode::METHOD_NOT_ALLOWED,
                "{method} {path}"
            );
            assert_eq!(answer.headers[ALLOW], "GET");
        }
    }
}
