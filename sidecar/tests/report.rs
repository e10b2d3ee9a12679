//! The reporter against a real local HTTP server that records what it receives: what is sent
//! decodes with the controller's decoder, carries the token file's current content, is retried
//! with backoff while the server is down, failing or hanging, and `offer` never waits.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use ripcord_controller::decode_verdict;
use ripcord_sidecar::report::{Release, Reporter, ReporterConfig, ReporterStats, VerdictReport};
use ripcord_sidecar::scrape::Backoff;
use ripcord_sidecar::verdict::{Decision, VERDICT_VERSION, Verdict};
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

/// How the server answers one request.
#[derive(Debug, Clone, Copy)]
enum Reply {
    Status(u16),
    /// Never answers.
    Hang,
    /// 200 after this many milliseconds.
    Slow(u64),
}

/// One request the server received.
#[derive(Debug)]
struct Recorded {
    at: Instant,
    authorization: String,
    body: Bytes,
}

/// A real HTTP/1 intake: answers per a script of replies (200 once it runs out) and sends
/// every request it receives to the test.
struct Intake {
    addr: SocketAddr,
    received: mpsc::UnboundedReceiver<Recorded>,
}

impl Intake {
    async fn start(script: Vec<Reply>) -> Intake {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        Intake::serve(listener, script)
    }

    fn serve(listener: TcpListener, script: Vec<Reply>) -> Intake {
        let addr = listener.local_addr().expect("address");
        let (sender, received) = mpsc::unbounded_channel();
        let script = Arc::new(Mutex::new(VecDeque::from(script)));
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let sender = sender.clone();
                let script = Arc::clone(&script);
                let service = service_fn(move |request| {
                    let reply = script.lock().expect("script").pop_front();
                    answer(request, reply.unwrap_or(Reply::Status(200)), sender.clone())
                });
                tokio::spawn(
                    hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service),
                );
            }
        });
        Intake { addr, received }
    }

    fn url(&self) -> String {
        format!("http://{}/v1/verdicts", self.addr)
    }

    async fn next(&mut self) -> Recorded {
        tokio::time::timeout(Duration::from_secs(10), self.received.recv())
            .await
            .expect("a request within 10 s")
            .expect("the server runs")
    }
}

async fn answer(
    request: Request<hyper::body::Incoming>,
    reply: Reply,
    sender: mpsc::UnboundedSender<Recorded>,
) -> Result<Response<Full<Bytes>>, hyper::Error> {
    let authorization = request
        .headers()
        .get(hyper::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let body = request.into_body().collect().await?.to_bytes();
    let _ = sender.send(Recorded {
        at: Instant::now(),
        authorization,
        body,
    });
    let status = match reply {
        Reply::Status(status) => status,
        Reply::Hang => {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            200
        }
        Reply::Slow(ms) => {
            tokio::time::sleep(Duration::from_millis(ms)).await;
            200
        }
    };
    let mut response = Response::new(Full::new(Bytes::new()));
    *response.status_mut() = StatusCode::from_u16(status).expect("a status");
    Ok(response)
}

fn verdict(ticks: u64) -> Verdict {
    Verdict {
        version: VERDICT_VERSION.to_string(),
        decision: Decision::Inconclusive,
        reason: format!("{ticks} ticks, not sure yet"),
        at_ms: 1_700_000_000_000 + ticks as i64 * 1000,
        elapsed_ms: ticks as i64 * 1000,
        ticks,
        alpha: 0.01,
        decided_at_ms: None,
        basis: Default::default(),
        metrics: Vec::new(),
    }
}

fn release() -> Release {
    Release {
        namespace: "shop".to_string(),
        deployment: "checkout".to_string(),
        revision: "7".to_string(),
        pod: "checkout-7-abc".to_string(),
    }
}

/// A token file of its own for each test.
fn token_file(test: &str, content: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ripcord-report-{}-{test}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join("token");
    std::fs::write(&path, content).expect("write token");
    path
}

fn config(url: String, token: PathBuf, timeout_ms: u64, backoff_ms: u64) -> ReporterConfig {
    ReporterConfig {
        timeout: Duration::from_millis(timeout_ms),
        backoff: Backoff::new(
            Duration::from_millis(backoff_ms),
            Duration::from_millis(backoff_ms * 4),
        ),
        ..ReporterConfig::new(url, token, release())
    }
}

/// The reporter's counters once `done` holds (the intake records a request before answering,
/// so the reporter counts it a moment later); fails after 5 s.
async fn settled(reporter: &Reporter, done: impl Fn(&ReporterStats) -> bool) -> ReporterStats {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let stats = reporter.stats();
        if done(&stats) {
            return stats;
        }
        assert!(
            Instant::now() < deadline,
            "reporter never settled: {stats:?}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

fn decoded(recorded: &Recorded) -> VerdictReport {
    decode_verdict(&recorded.body).expect("the controller decodes what the sidecar sent")
}

#[tokio::test]
async fn reports_decode_and_carry_the_token_file_current_content() {
    let mut intake = Intake::start(Vec::new()).await;
    let token = token_file("rotate", "token-one\n");
    let reporter = Reporter::start(config(intake.url(), token.clone(), 1000, 50)).expect("start");

    reporter.offer(verdict(1));
    let first = intake.next().await;
    assert_eq!(first.authorization, "Bearer token-one");
    let first = decoded(&first);
    assert_eq!((first.release.clone(), first.verdict.ticks), (release(), 1));

    std::fs::write(&token, "token-two").expect("rotate the token");
    reporter.offer(verdict(2));
    let second = intake.next().await;
    assert_eq!(second.authorization, "Bearer token-two");
    let second = decoded(&second);
    assert_eq!(second.verdict.ticks, 2);
    assert!(
        second.sequence > first.sequence,
        "{second:?} after {first:?}"
    );
    let stats = settled(&reporter, |s| s.delivered == 2).await;
    assert_eq!(stats.failed_attempts, 0, "{stats:?}");
}

#[tokio::test]
async fn a_failing_intake_gets_the_same_report_again_after_growing_waits() {
    let script = vec![Reply::Status(500), Reply::Status(500), Reply::Status(503)];
    let mut intake = Intake::start(script).await;
    let token = token_file("retry", "t");
    let reporter = Reporter::start(config(intake.url(), token, 1000, 40)).expect("start");

    reporter.offer(verdict(5));
    let mut attempts = Vec::new();
    for _ in 0..4 {
        attempts.push(intake.next().await);
    }
    let gaps: Vec<Duration> = attempts.windows(2).map(|w| w[1].at - w[0].at).collect();
    for (gap, least_ms) in gaps.iter().zip([40, 80, 160]) {
        assert!(
            *gap >= Duration::from_millis(least_ms),
            "gaps {gaps:?} should be at least 40, 80, 160 ms"
        );
    }
    let sequences: Vec<u64> = attempts.iter().map(|r| decoded(r).sequence).collect();
    assert!(
        sequences.iter().all(|&s| s == sequences[0]),
        "{sequences:?}"
    );
    let stats = settled(&reporter, |s| s.delivered == 1).await;
    assert_eq!(stats.failed_attempts, 3, "{stats:?}");
}

#[tokio::test]
async fn a_down_intake_is_retried_until_it_comes_up() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("address");
    drop(listener);
    let token = token_file("down", "t");
    let url = format!("http://{addr}/v1/verdicts");
    let reporter = Reporter::start(config(url, token, 500, 30)).expect("start");

    reporter.offer(verdict(3));
    tokio::time::sleep(Duration::from_millis(250)).await;
    let stats = reporter.stats();
    assert!(stats.failed_attempts >= 2, "{stats:?}");
    assert_eq!(stats.delivered, 0);

    let listener = TcpListener::bind(addr).await.expect("rebind the same port");
    let mut intake = Intake::serve(listener, Vec::new());
    assert_eq!(decoded(&intake.next().await).verdict.ticks, 3);
}

#[tokio::test]
async fn offers_never_wait_on_a_hanging_intake_and_the_latest_verdict_wins() {
    let mut intake = Intake::start(vec![Reply::Hang]).await;
    let token = token_file("hang", "t");
    let reporter = Reporter::start(config(intake.url(), token, 200, 50)).expect("start");

    reporter.offer(verdict(0));
    let hung = decoded(&intake.next().await);
    let started = Instant::now();
    for ticks in 1..=1000 {
        reporter.offer(verdict(ticks));
    }
    let offering = started.elapsed();
    eprintln!("1,000 offers while the intake hung: {offering:?}");
    assert!(
        offering < Duration::from_millis(50),
        "1,000 offers took {offering:?} while the intake hung"
    );

    let latest = decoded(&intake.next().await);
    assert_eq!(latest.verdict.ticks, 1000, "the newest verdict is sent");
    assert!(latest.sequence > hung.sequence);
    let stats = reporter.stats();
    assert_eq!(stats.offered, 1001);
    assert!(stats.superseded >= 999, "{stats:?}");
    assert!(
        stats.failed_attempts >= 1,
        "the hung POST timed out: {stats:?}"
    );
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(
        intake.received.try_recv().is_err(),
        "superseded verdicts are never sent"
    );
}

#[tokio::test]
async fn a_stopping_reporter_waits_until_the_last_verdict_is_answered() {
    let mut intake = Intake::start(vec![Reply::Slow(300)]).await;
    let token = token_file("drain", "t");
    let reporter = Reporter::start(config(intake.url(), token, 2000, 50)).expect("start");

    reporter.offer(verdict(9));
    let started = Instant::now();
    assert!(reporter.drain(Duration::from_secs(3)).await, "delivered");
    assert!(
        started.elapsed() >= Duration::from_millis(300),
        "returned before the intake answered: {:?}",
        started.elapsed()
    );
    assert_eq!(decoded(&intake.next().await).verdict.ticks, 9);
}

#[tokio::test]
async fn a_stopping_reporter_gives_up_at_its_limit() {
    let mut intake = Intake::start(vec![Reply::Hang]).await;
    let token = token_file("drain-limit", "t");
    let reporter = Reporter::start(config(intake.url(), token, 5000, 50)).expect("start");

    reporter.offer(verdict(3));
    let started = Instant::now();
    assert!(
        !reporter.drain(Duration::from_millis(200)).await,
        "not delivered"
    );
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(
        decoded(&intake.next().await).verdict.ticks,
        3,
        "it was sent"
    );
}

#[tokio::test]
async fn an_idle_reporter_drains_at_once() {
    let intake = Intake::start(Vec::new()).await;
    let token = token_file("drain-idle", "t");
    let reporter = Reporter::start(config(intake.url(), token, 1000, 50)).expect("start");
    let started = Instant::now();
    assert!(reporter.drain(Duration::from_secs(3)).await);
    assert!(started.elapsed() < Duration::from_millis(100));
}

#[tokio::test]
async fn a_stopping_reporter_waits_through_a_retry() {
    let mut intake = Intake::start(vec![Reply::Status(503), Reply::Slow(300)]).await;
    let token = token_file("drain-retry", "t");
    let reporter = Reporter::start(config(intake.url(), token, 2000, 50)).expect("start");

    reporter.offer(verdict(4));
    let first = intake.next().await;
    let retry = intake.next().await;
    // The retry is in flight (its answer comes 300 ms after it arrived): not yet delivered.
    assert!(reporter.drain(Duration::from_secs(3)).await, "delivered");
    assert!(
        retry.at.elapsed() >= Duration::from_millis(250),
        "returned before the retry was answered: {:?}",
        retry.at.elapsed()
    );
    assert_eq!(
        decoded(&first).sequence,
        decoded(&retry).sequence,
        "the same report"
    );
}

#[tokio::test]
async fn an_endless_answer_is_not_read_to_its_end() {
    // The intake accepts the report, then streams an answer that never ends.
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("address");
    tokio::spawn(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let Ok((mut stream, _)) = listener.accept().await else {
            return;
        };
        let mut request = vec![0; 64 * 1024];
        let _ = stream.read(&mut request).await;
        let head = "HTTP/1.1 202 Accepted\r\ntransfer-encoding: chunked\r\n\r\n";
        if stream.write_all(head.as_bytes()).await.is_err() {
            return;
        }
        let chunk = format!("10000\r\n{}\r\n", "x".repeat(0x10000));
        while stream.write_all(chunk.as_bytes()).await.is_ok() {}
    });
    let token = token_file("endless", "token");
    let poster = ripcord_sidecar::report::Poster::new(
        &format!("http://{addr}/v1/verdicts"),
        token,
        Duration::from_secs(5),
    )
    .expect("a poster");
    let outcome = poster.post(Bytes::from_static(b"{}")).await;
    assert!(outcome.is_ok(), "{outcome:?}");
}
