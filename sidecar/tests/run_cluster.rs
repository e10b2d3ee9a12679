//! `ripcord-sidecar run` against real local servers: app exporters, peer sidecars that are
//! themselves `run` instances, and a fake controller over HTTPS (a throwaway CA) that serves an
//! assignment and records the verdicts posted to it.

mod prometheus_support;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use prometheus_support::{PrometheusServer, prometheus_binary};
use ripcord_controller::decode_verdict;
use ripcord_sidecar::assign::{
    ASSIGNMENT_VERSION, Assignment, BaselineSources, PrometheusSource, Role,
};
use ripcord_sidecar::report::{Release, VerdictReport};
use ripcord_sidecar::run::{self, RunArgs, Running};
use ripcord_sidecar::serve::WindowJson;
use ripcord_sidecar::verdict::{Basis, Decision};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

const SPEC: &str = r#"errors: http_requests_total{code=~"5.."} / http_requests_total max +50%"#;

/// An app exporter serving `text(n)` at its `n`-th scrape (from 1).
async fn serve(text: impl Fn(u64) -> String + Send + Sync + 'static) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("address");
    let scrapes = Arc::new(AtomicU64::new(0));
    let text = Arc::new(text);
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let scrapes = Arc::clone(&scrapes);
            let text = Arc::clone(&text);
            let service = service_fn(move |_: Request<hyper::body::Incoming>| {
                let body = text(scrapes.fetch_add(1, Ordering::Relaxed) + 1);
                async move { Ok::<_, hyper::Error>(Response::new(Full::new(Bytes::from(body)))) }
            });
            tokio::spawn(
                hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service),
            );
        }
    });
    addr
}

/// The requests counter with `ok` 200s and `errors` 500s, its series labelled `labels`.
fn requests(labels: &str, ok: f64, errors: f64) -> String {
    format!(
        "# TYPE http_requests_total counter\n\
         http_requests_total{{{labels}code=\"200\"}} {ok}\n\
         http_requests_total{{{labels}code=\"500\"}} {errors}\n"
    )
}

/// An app exporter whose counters grow by 200 requests per scrape, `errors_per_200` of them 500s.
async fn exporter(errors_per_200: u64) -> SocketAddr {
    serve(move |n| {
        let errors = n * errors_per_200;
        requests("", (n * 200 - errors) as f64, errors as f64)
    })
    .await
}

/// A directory of its own for each test.
fn dir(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ripcord-run-{}-{test}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

/// Writes the downward API's annotations file with `watch` as `ripcord.dev/watch`.
fn write_annotations(path: &Path, watch: &str) {
    let text = format!("app=\"checkout\"\nripcord.dev/watch={watch:?}\n");
    std::fs::write(path, text).expect("write annotations");
}

/// Settings for a sidecar on a free port scraping `target` every 100 ms.
fn args(target: SocketAddr, annotations: PathBuf) -> RunArgs {
    RunArgs {
        target: format!("http://{target}/metrics"),
        listen: "127.0.0.1:0".parse().expect("address"),
        annotations_file: annotations,
        watch: None,
        controller_url: None,
        token_file: PathBuf::from("/nonexistent/token"),
        controller_ca: None,
        pod_name: Some("checkout-7-abc".to_string()),
        pod_namespace: Some("shop".to_string()),
        pod_ip: Some("127.0.0.1".to_string()),
        interval: Duration::from_millis(100),
        scrape_timeout: Duration::from_millis(100),
        assignment_interval: Duration::from_millis(200),
        prometheus_step: Duration::from_secs(3),
        alpha: 0.01,
    }
}

/// A peer: a sidecar of the previous revision, idle, serving its window.
async fn peer(errors_per_200: u64) -> Running {
    peer_of(exporter(errors_per_200).await).await
}

/// A peer watching [`SPEC`] over `app`.
async fn peer_of(app: SocketAddr) -> Running {
    let mut peer = args(app, PathBuf::from("/nonexistent/annotations"));
    peer.watch = Some(SPEC.to_string());
    run::start(&peer).await.expect("peer starts")
}

/// An app exporter whose counters grow by 200 requests per scrape: 2 500s, 40 429s.
async fn throttling_exporter() -> SocketAddr {
    serve(|n| {
        format!(
            "# TYPE http_requests_total counter\n\
             http_requests_total{{code=\"200\"}} {}\n\
             http_requests_total{{code=\"500\"}} {}\n\
             http_requests_total{{code=\"429\"}} {}\n",
            n * 158,
            n * 2,
            n * 40
        )
    })
    .await
}

fn release() -> Release {
    Release {
        namespace: "shop".to_string(),
        deployment: "checkout".to_string(),
        revision: "7".to_string(),
        pod: "checkout-7-abc".to_string(),
    }
}

fn canary(peers: Vec<String>) -> Assignment {
    Assignment {
        version: ASSIGNMENT_VERSION.to_string(),
        role: Role::Canary,
        release: Some(release()),
        release_check: Some("checkout-7".to_string()),
        released_at_ms: None,
        baseline: BaselineSources {
            peers,
            ..BaselineSources::default()
        },
    }
}

/// A throwaway CA and a certificate for 127.0.0.1 it signed: (CA PEM, TLS acceptor).
fn tls() -> (String, TlsAcceptor) {
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("CA params");
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca =
        rcgen::CertifiedIssuer::self_signed(ca_params, rcgen::KeyPair::generate().expect("key"))
            .expect("CA");
    let key = rcgen::KeyPair::generate().expect("key");
    let leaf = rcgen::CertificateParams::new(vec!["127.0.0.1".to_string()])
        .expect("leaf params")
        .signed_by(&key, &ca)
        .expect("leaf");
    let private = rustls::pki_types::PrivateKeyDer::try_from(key.serialize_der()).expect("key");
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("versions")
    .with_no_client_auth()
    .with_single_cert(vec![leaf.der().clone()], private)
    .expect("server config");
    (ca.pem(), TlsAcceptor::from(Arc::new(config)))
}

/// What the fake controller serves.
struct Bodies {
    assignment: Mutex<Vec<u8>>,
    snapshot: Vec<u8>,
}

/// A report the controller received, with the token it carried.
#[derive(Debug, Clone)]
struct Received {
    authorization: String,
    report: VerdictReport,
}

/// The fake controller: HTTPS, serves `assignment` to the bearer of the token file's current
/// content (401 to anyone else), decodes and records every verdict posted.
struct Controller {
    addr: SocketAddr,
    ca_pem: String,
    received: Arc<Mutex<Vec<Received>>>,
    bodies: Arc<Bodies>,
}

impl Controller {
    async fn start(assignment: Assignment, token_file: PathBuf) -> Controller {
        Controller::with_snapshot(|_| assignment, token_file, Vec::new()).await
    }

    /// A controller that also serves `snapshot` at `/v1/snapshot`; `assignment` is given the
    /// controller's base URL.
    async fn with_snapshot(
        assignment: impl FnOnce(&str) -> Assignment,
        token_file: PathBuf,
        snapshot: Vec<u8>,
    ) -> Controller {
        let (ca_pem, acceptor) = tls();
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("address");
        let received = Arc::new(Mutex::new(Vec::new()));
        let recorded = Arc::clone(&received);
        let assignment = assignment(&format!("https://{addr}"));
        let bodies = Arc::new(Bodies {
            assignment: Mutex::new(serde_json::to_vec(&assignment).expect("encode")),
            snapshot,
        });
        let served = Arc::clone(&bodies);
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let acceptor = acceptor.clone();
                let recorded = Arc::clone(&recorded);
                let bodies = Arc::clone(&bodies);
                let token_file = token_file.clone();
                tokio::spawn(async move {
                    let Ok(stream) = acceptor.accept(stream).await else {
                        return;
                    };
                    let service = service_fn(move |request| {
                        answer(
                            request,
                            Arc::clone(&bodies),
                            token_file.clone(),
                            Arc::clone(&recorded),
                        )
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Controller {
            addr,
            ca_pem,
            received,
            bodies: served,
        }
    }

    /// Serves `assignment` from now on.
    fn assign(&self, assignment: &Assignment) {
        *self.bodies.assignment.lock().expect("lock") =
            serde_json::to_vec(assignment).expect("encode");
    }

    fn url(&self) -> String {
        format!("https://{}", self.addr)
    }

    fn received(&self) -> Vec<Received> {
        self.received.lock().expect("lock").clone()
    }
}

async fn answer(
    request: Request<hyper::body::Incoming>,
    bodies: Arc<Bodies>,
    token_file: PathBuf,
    recorded: Arc<Mutex<Vec<Received>>>,
) -> Result<Response<Full<Bytes>>, hyper::Error> {
    let authorization = request
        .headers()
        .get(hyper::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let token = std::fs::read_to_string(&token_file).unwrap_or_default();
    let reply = |status: StatusCode, body: Vec<u8>| {
        let mut response = Response::new(Full::new(Bytes::from(body)));
        *response.status_mut() = status;
        Ok(response)
    };
    if authorization != format!("Bearer {}", token.trim()) {
        return reply(StatusCode::UNAUTHORIZED, Vec::new());
    }
    match (request.method().clone(), request.uri().path()) {
        (Method::GET, "/v1/assignment") => {
            let assignment = bodies.assignment.lock().expect("lock").clone();
            reply(StatusCode::OK, assignment)
        }
        (Method::GET, "/v1/snapshot") => reply(StatusCode::OK, bodies.snapshot.clone()),
        (Method::POST, "/v1/verdicts") => {
            let body = request.into_body().collect().await?.to_bytes();
            let report = decode_verdict(&body).expect("the controller decodes the report");
            recorded.lock().expect("lock").push(Received {
                authorization,
                report,
            });
            reply(StatusCode::ACCEPTED, Vec::new())
        }
        _ => reply(StatusCode::NOT_FOUND, Vec::new()),
    }
}

/// Waits up to 30 s for `found` to give something.
async fn eventually<T>(what: &str, mut found: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(value) = found() {
            return value;
        }
        assert!(Instant::now() < deadline, "never happened: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A canary sidecar reporting to `controller`, its token in `token`.
async fn canary_sidecar(test: &str, errors_per_200: u64, controller: &Controller) -> Running {
    canary_sidecar_of(test, exporter(errors_per_200).await, SPEC, controller).await
}

/// A canary sidecar watching `spec` over `app`, reporting to `controller`.
async fn canary_sidecar_of(
    test: &str,
    app: SocketAddr,
    spec: &str,
    controller: &Controller,
) -> Running {
    let dir = dir(test);
    let annotations = dir.join("annotations");
    write_annotations(&annotations, spec);
    let mut settings = args(app, annotations);
    settings.controller_url = Some(controller.url());
    settings.controller_ca = Some(controller.ca_pem.clone());
    settings.token_file = dir.join("token");
    run::start(&settings).await.expect("canary starts")
}

fn token_file(test: &str, token: &str) -> PathBuf {
    let path = dir(test).join("token");
    std::fs::write(&path, format!("{token}\n")).expect("write token");
    path
}

#[tokio::test]
async fn a_canary_catches_a_regression_against_its_peers_and_reports_fail_with_its_token() {
    let peers = [peer(2).await, peer(2).await];
    let mut peer_urls: Vec<String> = peers
        .iter()
        .map(|p| format!("http://{}", p.addr()))
        .collect();
    // A third peer is gone already: the other two make the baseline.
    let gone = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    peer_urls.push(format!("http://{}", gone.local_addr().expect("address")));
    drop(gone);
    let token = token_file("fail", "token-one");
    let controller = Controller::start(canary(peer_urls), token.clone()).await;
    let sidecar = canary_sidecar("fail", 60, &controller).await;

    let failed = eventually("a fail report", || {
        let received = controller.received();
        received
            .iter()
            .find(|r| r.report.verdict.decision == Decision::Fail)
            .cloned()
    })
    .await;
    assert_eq!(failed.authorization, "Bearer token-one");
    assert_eq!(failed.report.release, release());
    assert!(
        failed.report.verdict.reason.contains("errors"),
        "{}",
        failed.report.verdict.reason
    );
    let status = sidecar.status();
    assert_eq!(status.role, Role::Canary);
    assert_eq!(
        status.baseline.as_deref(),
        Some("2 of 3 peers"),
        "{status:?}"
    );
    let served = sidecar.state().verdict().expect("a verdict is served");
    assert_eq!(served.decision, Decision::Fail);

    std::fs::write(&token, "token-two").expect("rotate the token");
    let seen = controller.received().len();
    eventually("a report with the rotated token", || {
        controller.received()[seen..]
            .iter()
            .find(|r| r.authorization == "Bearer token-two")
            .cloned()
    })
    .await;
    let sequences: Vec<u64> = controller
        .received()
        .iter()
        .map(|r| r.report.sequence)
        .collect();
    assert!(
        sequences.windows(2).all(|w| w[0] < w[1]),
        "sequences must increase: {sequences:?}"
    );
    sidecar.stop().await;
    for peer in peers {
        peer.stop().await;
    }
}

#[tokio::test]
async fn a_peer_leaving_mid_release_does_not_restart_the_judgement() {
    let peers = [peer(2).await, peer(2).await];
    let urls: Vec<String> = peers
        .iter()
        .map(|p| format!("http://{}", p.addr()))
        .collect();
    let controller = Controller::start(canary(urls.clone()), token_file("follow", "t")).await;
    let sidecar = canary_sidecar("follow", 2, &controller).await;
    let before = eventually("five judged ticks against both peers", || {
        let verdict = sidecar.state().verdict()?;
        (verdict.ticks >= 5 && sidecar.status().baseline.as_deref() == Some("2 of 2 peers"))
            .then_some(verdict.ticks)
    })
    .await;

    controller.assign(&canary(urls[..1].to_vec()));
    eventually("the canary reads the one peer left", || {
        (sidecar.status().baseline.as_deref() == Some("1 of 1 peers")).then_some(())
    })
    .await;
    let after = sidecar.state().verdict().expect("a verdict").ticks;
    assert!(
        after > before,
        "the judgement restarted: {after} ticks after the change, {before} before"
    );
    sidecar.stop().await;
    for peer in peers {
        peer.stop().await;
    }
}

#[tokio::test]
async fn peers_down_give_an_inconclusive_report_saying_why() {
    let mut gone = Vec::new();
    for _ in 0..2 {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        gone.push(format!(
            "http://{}",
            listener.local_addr().expect("address")
        ));
    }
    let token = token_file("peers-down", "token");
    let controller = Controller::start(canary(gone), token).await;
    let sidecar = canary_sidecar("peers-down", 60, &controller).await;

    let report = eventually("an inconclusive report after a scrape", || {
        controller
            .received()
            .into_iter()
            .find(|r| r.report.verdict.reason.contains("none of 2 peers answered"))
    })
    .await;
    assert_eq!(report.report.verdict.decision, Decision::Inconclusive);
    assert!(
        report.report.verdict.reason.contains("connect"),
        "{}",
        report.report.verdict.reason
    );
    assert!(
        controller
            .received()
            .iter()
            .all(|r| r.report.verdict.decision == Decision::Inconclusive),
        "no baseline is never a fail or a pass"
    );
    sidecar.stop().await;
}

#[tokio::test]
async fn without_a_baseline_a_limit_breach_is_reported_as_an_absolute_fail() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let gone = vec![format!(
        "http://{}",
        listener.local_addr().expect("address")
    )];
    drop(listener);
    let token = token_file("no-baseline-limit", "token");
    let controller = Controller::start(canary(gone), token.clone()).await;
    let dir = dir("no-baseline-limit");
    let annotations = dir.join("annotations");
    write_annotations(&annotations, &format!("{SPEC} limit 2%"));
    let mut settings = args(exporter(60).await, annotations);
    settings.controller_url = Some(controller.url());
    settings.controller_ca = Some(controller.ca_pem.clone());
    settings.token_file = token;
    let sidecar = run::start(&settings).await.expect("canary starts");

    let failed = eventually("an absolute fail report", || {
        controller
            .received()
            .into_iter()
            .find(|r| r.report.verdict.decision == Decision::Fail)
    })
    .await;
    let verdict = &failed.report.verdict;
    assert_eq!(verdict.basis, Basis::Absolute, "{}", verdict.reason);
    assert!(
        verdict.reason.contains("none of 1 peers answered"),
        "{}",
        verdict.reason
    );
    let absolute = verdict.metrics[0]
        .absolute
        .as_ref()
        .expect("absolute evidence");
    assert_eq!(absolute.limit, 0.02);
    assert!(absolute.canary.rate.is_some_and(|r| (r - 0.3).abs() < 1e-9));
    sidecar.stop().await;
}

#[tokio::test]
async fn a_controller_that_never_answers_does_not_stall_scraping() {
    // Accepts connections and never says a word.
    let silent = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = silent.local_addr().expect("address");
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = silent.accept().await {
            held.push(stream);
        }
    });
    let test = dir("silent");
    let annotations = test.join("annotations");
    write_annotations(&annotations, SPEC);
    let mut settings = args(exporter(2).await, annotations);
    settings.controller_url = Some(format!("https://{addr}"));
    settings.token_file = token_file("silent", "token");
    let sidecar = run::start(&settings).await.expect("starts");

    let failing = eventually("an assignment poll that timed out", || {
        let status = sidecar.status();
        status.assignment_error.is_some().then_some(status)
    })
    .await;
    eventually("scraping goes on while the controller hangs", || {
        let status = sidecar.status();
        (status.scrapes >= failing.scrapes + 10 && status.assignment_error.is_some()).then_some(())
    })
    .await;
    let (observations, _) = sidecar.state().observations(0, i64::MAX, 10_000);
    assert!(
        observations.len() >= 10,
        "{} observations",
        observations.len()
    );
    assert_eq!(sidecar.status().role, Role::Idle);
    sidecar.stop().await;
}

#[tokio::test]
async fn a_bad_annotation_is_reported_and_the_previous_spec_kept() {
    let test = dir("bad-spec");
    let annotations = test.join("annotations");
    write_annotations(&annotations, SPEC);
    let sidecar = run::start(&args(exporter(2).await, annotations.clone()))
        .await
        .expect("starts");
    eventually("scraping with the first spec", || {
        (sidecar.status().scrapes >= 2).then_some(())
    })
    .await;

    write_annotations(&annotations, &SPEC.replace("max", "maks"));
    let error = eventually("the typo reported", || sidecar.status().spec_error).await;
    assert!(
        error.contains("ripcord.dev/watch") && error.contains("line 1, column"),
        "{error}"
    );
    let before = sidecar.status().scrapes;
    eventually("scraping goes on with the old spec", || {
        (sidecar.status().scrapes >= before + 3).then_some(())
    })
    .await;
    let (observations, _) = sidecar.state().observations(0, i64::MAX, 10_000);
    let latest = observations.last().expect("observations");
    assert_eq!(latest.metrics.len(), 1, "still the old spec's one metric");
    assert!(
        !matches!(
            latest.metrics[0],
            ripcord_sidecar::window::MetricDelta::Unavailable(_)
        ),
        "{latest:?}"
    );

    write_annotations(&annotations, SPEC);
    eventually("the fix clears the error", || {
        sidecar.status().spec_error.is_none().then_some(())
    })
    .await;
    sidecar.stop().await;
}

/// A previous revision's pod that ran long enough to fill its window and has gone: its URL,
/// and its window as a snapshot (an older sidecar's: no metric definitions).
async fn gone_previous_pod() -> (String, Vec<u8>) {
    let previous = peer(2).await;
    eventually("the previous revision's window fills", || {
        let (held, _) = previous.state().observations(0, i64::MAX, 10_000);
        (held.len() >= 40).then_some(())
    })
    .await;
    let (held, _) = previous.state().observations(0, i64::MAX, 10_000);
    let url = format!("http://{}", previous.addr());
    previous.stop().await;
    let snapshot = WindowJson::new(0, i64::MAX, false, &held);
    (url, serde_json::to_vec(&snapshot).expect("encode"))
}

/// A controller assigning a canary `peers` and the snapshot it serves.
async fn controller_with_snapshot(test: &str, peers: Vec<String>, snapshot: Vec<u8>) -> Controller {
    let token = token_file(test, "token");
    Controller::with_snapshot(
        |base| {
            let mut assignment = canary(peers);
            assignment.baseline.snapshot = Some(format!("{base}/v1/snapshot"));
            assignment
        },
        token,
        snapshot,
    )
    .await
}

/// Waits for the first fail report `controller` receives.
async fn fail_report(what: &str, controller: &Controller) -> Received {
    eventually(what, || {
        controller
            .received()
            .into_iter()
            .find(|r| r.report.verdict.decision == Decision::Fail)
    })
    .await
}

#[tokio::test]
async fn with_no_peer_left_the_snapshot_is_the_baseline() {
    let (_, snapshot) = gone_previous_pod().await;
    let controller = controller_with_snapshot("snapshot", Vec::new(), snapshot).await;
    let sidecar = canary_sidecar("snapshot", 60, &controller).await;

    fail_report("a fail report against the snapshot", &controller).await;
    assert_eq!(sidecar.status().baseline.as_deref(), Some("snapshot"));
    sidecar.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_only_prometheus_the_previous_revision_is_read_through_promql() {
    let Some(binary) = prometheus_binary() else {
        return;
    };
    const OLD: &str = "a1b2c3d4";
    // The previous revision, as Prometheus scrapes it: 99 ok and 1 failed request a second.
    let started = Instant::now();
    // The same chart in another namespace has the same hash, and fails half its requests: it
    // is not this release's previous revision.
    let old = serve(move |_| {
        let seconds = started.elapsed().as_secs_f64();
        let shop = requests(
            &format!("namespace=\"shop\",pod_template_hash=\"{OLD}\","),
            99.0 * seconds,
            seconds,
        );
        let other = format!(
            "http_requests_total{{namespace=\"other\",pod_template_hash=\"{OLD}\",code=\"200\"}} {}\n\
             http_requests_total{{namespace=\"other\",pod_template_hash=\"{OLD}\",code=\"500\"}} {}\n",
            50.0 * seconds,
            50.0 * seconds
        );
        shop + &other
    })
    .await;
    let mut prometheus = PrometheusServer::start(&binary, old);
    let scraped = format!(
        "count_over_time(http_requests_total{{pod_template_hash=\"{OLD}\",code=\"200\"}}[1m])"
    );
    prometheus.wait_for(&scraped, 3.0).await;

    let mut assignment = canary(Vec::new());
    assignment.baseline.prometheus = Some(PrometheusSource {
        url: prometheus.url.clone(),
        previous_hash: OLD.to_string(),
    });
    let controller = Controller::start(assignment, token_file("prometheus", "token")).await;
    let sidecar = canary_sidecar("prometheus", 60, &controller).await;

    let failed = eventually("a fail report against Prometheus", || {
        controller
            .received()
            .into_iter()
            .find(|r| r.report.verdict.decision == Decision::Fail)
    })
    .await;
    assert_eq!(sidecar.status().baseline.as_deref(), Some("prometheus"));
    let errors = &failed.report.verdict.metrics[0];
    eprintln!("judged against Prometheus: {errors:?}");
    // What Prometheus scraped from the previous revision in the release's namespace: 1 %
    // failed, 100 requests a second.
    let baseline = errors.baseline.rate.expect("a baseline rate");
    assert!((0.008..=0.012).contains(&baseline), "{errors:?}");
    assert!(errors.baseline.trials >= 250.0, "{errors:?}");
    assert_eq!(errors.canary.rate, Some(0.3), "{errors:?}");
    sidecar.stop().await;
}

#[tokio::test]
async fn a_release_that_widens_a_selector_is_not_judged_against_the_old_counts() {
    // One app behind both revisions; the release only widens `errors` to count 429s too.
    let previous = peer_of(throttling_exporter().await).await;
    let urls = vec![format!("http://{}", previous.addr())];
    let controller = Controller::start(canary(urls), token_file("widened", "t")).await;
    let widened = SPEC.replace("5..", "5..|429");
    let sidecar = canary_sidecar_of(
        "widened",
        throttling_exporter().await,
        &widened,
        &controller,
    )
    .await;

    eventually("thirty judged ticks", || {
        (sidecar.state().verdict()?.ticks >= 30).then_some(())
    })
    .await;
    let reports = controller.received();
    assert!(!reports.is_empty(), "no report");
    assert!(
        reports
            .iter()
            .all(|r| r.report.verdict.decision != Decision::Fail),
        "an unchanged app was failed: {:?}",
        reports.last().map(|r| &r.report.verdict.reason)
    );
    eventually(
        "the status and a report saying the watch specs differ",
        || {
            let baseline = sidecar.status().baseline?;
            let said = |text: &str| text.contains("the watch specs differ for errors");
            (said(&baseline)
                && controller
                    .received()
                    .iter()
                    .any(|r| said(&r.report.verdict.reason)))
            .then_some(())
        },
    )
    .await;
    sidecar.stop().await;
    previous.stop().await;
}

#[tokio::test]
async fn a_prometheus_url_the_sidecar_cannot_use_leaves_the_peers_judging() {
    let previous = peer(2).await;
    let mut assignment = canary(vec![format!("http://{}", previous.addr())]);
    assignment.baseline.prometheus = Some(PrometheusSource {
        url: "https://prometheus.monitoring:9090".to_string(),
        previous_hash: "a1b2c3d4".to_string(),
    });
    let controller = Controller::start(assignment, token_file("https-prometheus", "t")).await;
    let sidecar = canary_sidecar("https-prometheus", 2, &controller).await;

    eventually("verdicts judged against the peer", || {
        let verdict = sidecar.state().verdict()?;
        (verdict.ticks >= 3 && sidecar.status().baseline.as_deref() == Some("1 of 1 peers"))
            .then_some(())
    })
    .await;
    eventually("a report", || controller.received().first().cloned()).await;
    let status = sidecar.status();
    let why = status.baseline_error.unwrap_or_default();
    assert!(why.contains("prometheus") && why.contains("https"), "{why}");
    sidecar.stop().await;
    previous.stop().await;
}

#[tokio::test]
async fn listed_peers_that_do_not_answer_do_not_make_the_snapshot_the_baseline() {
    let (silent, snapshot) = gone_previous_pod().await;
    let controller = controller_with_snapshot("listed-silent", vec![silent], snapshot).await;
    let sidecar = canary_sidecar("listed-silent", 60, &controller).await;

    eventually("ten inconclusive reports naming the silent peer", || {
        let received = controller.received();
        let silent = received
            .iter()
            .filter(|r| r.report.verdict.reason.contains("none of 1 peers answered"))
            .count();
        (silent >= 10).then_some(())
    })
    .await;
    assert!(
        controller
            .received()
            .iter()
            .all(|r| r.report.verdict.decision == Decision::Inconclusive),
        "judged against the snapshot while a previous pod is listed"
    );

    let mut finished = canary(Vec::new());
    finished.baseline.snapshot = Some(format!("{}/v1/snapshot", controller.url()));
    controller.assign(&finished);
    fail_report("a fail once no previous pod is listed", &controller).await;
    assert_eq!(sidecar.status().baseline.as_deref(), Some("snapshot"));
    sidecar.stop().await;
}
