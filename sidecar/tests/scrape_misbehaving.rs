//! The scrape client against real local HTTP servers that misbehave: down, slow, garbage, a
//! 500 MB body, a 500 status, a restart. For each, the scraper returns a distinct error (never
//! panics, never holds more than the size cap), and the resulting observations, judged against a
//! healthy baseline, never give `fail` and name the cause in the metric's reason.

use bytes::Bytes;
use http_body_util::Full;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Response, StatusCode};
use hyper_util::rt::TokioIo;
use rand::rngs::StdRng;
use rand::{RngCore, SeedableRng};
use ripcord_sidecar::judge::{Judge, JudgeConfig};
use ripcord_sidecar::scrape::{Retry, ScrapeConfig, ScrapeError, Scraper, scrape_tick};
use ripcord_sidecar::spec::{WatchSpec, parse_watch};
use ripcord_sidecar::verdict::{Decision, Verdict};
use ripcord_sidecar::window::{Extractor, Observation};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

const WATCH: &str = r#"errors: http_requests_total{code=~"5.."} / http_requests_total   max +10%"#;

/// Timeout used where the test waits for it to elapse, to keep the suite fast.
const SHORT_TIMEOUT: Duration = Duration::from_millis(300);

fn spec() -> WatchSpec {
    parse_watch(WATCH).expect("the spec parses")
}

/// A healthy app's exposition after `step` scrape intervals: 1000 requests and 20 errors each.
fn healthy_exposition(step: u64) -> String {
    format!(
        "# TYPE http_requests_total counter\n\
         http_requests_total{{code=\"200\"}} {}\n\
         http_requests_total{{code=\"500\"}} {}\n",
        980 * step,
        20 * step
    )
}

async fn listener() -> (TcpListener, SocketAddr) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("local address");
    (listener, addr)
}

fn scraper(addr: SocketAddr, timeout: Duration) -> Scraper {
    let mut config = ScrapeConfig::new(format!("http://{addr}/metrics"));
    config.timeout = timeout;
    Scraper::new(config).expect("a valid target")
}

/// Serves every request on `listener` with hyper, answering request number `n` (from 1) with
/// `respond(n)`.
fn serve_http<F>(listener: TcpListener, respond: F) -> JoinHandle<()>
where
    F: Fn(u64) -> Response<Full<Bytes>> + Send + Sync + 'static,
{
    let respond = Arc::new(respond);
    let served = Arc::new(AtomicU64::new(0));
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let (respond, served) = (respond.clone(), served.clone());
            tokio::spawn(async move {
                let service = service_fn(move |_request| {
                    let n = served.fetch_add(1, Ordering::SeqCst) + 1;
                    std::future::ready(Ok::<_, Infallible>(respond(n)))
                });
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    })
}

/// Serves each connection with `handle`, raw bytes on the socket.
fn serve_raw<F, Fut>(listener: TcpListener, handle: F) -> JoinHandle<()>
where
    F: Fn(TcpStream) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(handle(stream));
        }
    })
}

/// Reads the request head, so the client sees its request accepted before anything else.
async fn read_request(stream: &mut TcpStream) -> String {
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    String::from_utf8_lossy(&head).into_owned()
}

#[tokio::test]
async fn the_request_asks_for_openmetrics_then_prometheus_text() {
    let (listener, addr) = listener().await;
    let (heads, mut received) = tokio::sync::mpsc::unbounded_channel();
    let server = serve_raw(listener, move |mut stream| {
        let heads = heads.clone();
        async move {
            let _ = heads.send(read_request(&mut stream).await);
            let _ = stream
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
                .await;
        }
    });
    let body = scraper(addr, SHORT_TIMEOUT).scrape().await.expect("a 200");
    server.abort();
    assert!(body.is_empty());
    let head = received
        .recv()
        .await
        .expect("the request head")
        .to_lowercase();
    assert!(head.starts_with("get /metrics http/1.1\r\n"), "{head}");
    assert!(head.contains(&format!("host: {addr}\r\n")), "{head}");
    let accept = head
        .lines()
        .find_map(|line| line.strip_prefix("accept: "))
        .expect("an accept header");
    let openmetrics = accept
        .find("application/openmetrics-text")
        .expect("openmetrics");
    let text = accept.find("text/plain").expect("prometheus text");
    assert!(openmetrics < text, "{accept}");
}

fn healthy_app(listener: TcpListener) -> JoinHandle<()> {
    serve_http(listener, |n| {
        Response::new(Full::new(Bytes::from(healthy_exposition(n))))
    })
}

/// Scrapes `ticks` times, one tick a second of simulated time starting at `first_tick`.
async fn scrape_ticks(
    scraper: &Scraper,
    extractor: &mut Extractor,
    first_tick: i64,
    ticks: i64,
) -> Vec<Observation> {
    let mut observations = Vec::new();
    for tick in first_tick..first_tick + ticks {
        observations.push(scrape_tick(scraper, extractor, tick * 1000).await);
    }
    observations
}

/// Judges the canary's observations against a healthy baseline scraped at the same ticks.
fn judge_against_healthy_baseline(canary: &[Observation]) -> Verdict {
    let spec = spec();
    let mut judge = Judge::new(&spec, JudgeConfig::default());
    let mut baseline = Extractor::new(&spec);
    for (step, observation) in canary.iter().enumerate() {
        let text = healthy_exposition(step as u64 + 1);
        let healthy = baseline.observe(observation.at_ms, text.as_bytes());
        judge.tick(observation, &healthy);
    }
    judge.verdict()
}

/// The release is not failed, and every metric's reason names `cause` among its skipped ticks.
fn assert_inconclusive_because(canary: &[Observation], cause: &str) {
    let verdict = judge_against_healthy_baseline(canary);
    assert_ne!(verdict.decision, Decision::Fail, "{verdict:#?}");
    for metric in &verdict.metrics {
        assert!(metric.skipped_ticks > 0, "{metric:#?}");
        assert!(
            metric.reason.contains(cause),
            "reason {:?} does not name {cause:?}",
            metric.reason
        );
    }
}

#[tokio::test]
async fn a_healthy_app_is_scraped_and_judged() {
    let (listener, addr) = listener().await;
    let server = healthy_app(listener);
    let mut extractor = Extractor::new(&spec());
    let observations = scrape_ticks(&scraper(addr, SHORT_TIMEOUT), &mut extractor, 0, 5).await;
    server.abort();
    let verdict = judge_against_healthy_baseline(&observations);
    assert_ne!(verdict.decision, Decision::Fail);
    assert_eq!(verdict.metrics[0].canary.trials, 4000.0, "{verdict:#?}");
    assert_eq!(verdict.metrics[0].canary.events, 80.0, "{verdict:#?}");
}

#[tokio::test]
async fn an_app_that_is_down_is_refused_and_backed_off() {
    let (listener, addr) = listener().await;
    drop(listener);
    let scraper = scraper(addr, SHORT_TIMEOUT);
    let error = scraper.scrape().await.expect_err("nothing listens");
    assert!(matches!(error, ScrapeError::Refused { .. }), "{error:?}");
    assert_eq!(error.retry(), Retry::BackOff);
    let mut extractor = Extractor::new(&spec());
    let observations = scrape_ticks(&scraper, &mut extractor, 0, 3).await;
    assert_inconclusive_because(&observations, "connection refused");
}

#[tokio::test]
async fn an_app_that_never_answers_times_out() {
    let (listener, addr) = listener().await;
    let server = serve_raw(listener, |mut stream| async move {
        read_request(&mut stream).await;
        tokio::time::sleep(Duration::from_secs(30)).await;
    });
    let scraper = scraper(addr, SHORT_TIMEOUT);
    let started = Instant::now();
    let error = scraper.scrape().await.expect_err("no answer");
    let elapsed = started.elapsed();
    assert!(matches!(error, ScrapeError::Timeout { .. }), "{error:?}");
    assert_eq!(error.retry(), Retry::BackOff);
    assert!(
        elapsed >= SHORT_TIMEOUT && elapsed < SHORT_TIMEOUT * 3,
        "{elapsed:?}"
    );
    let mut extractor = Extractor::new(&spec());
    let observations = scrape_ticks(&scraper, &mut extractor, 0, 2).await;
    server.abort();
    assert_inconclusive_because(&observations, "timed out after 300 ms");
}

#[tokio::test]
async fn a_body_that_stalls_midway_times_out() {
    let (listener, addr) = listener().await;
    let server = serve_raw(listener, |mut stream| async move {
        read_request(&mut stream).await;
        let head =
            "HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n# TYPE http_requests_total counter\n";
        let _ = stream.write_all(head.as_bytes()).await;
        tokio::time::sleep(Duration::from_secs(30)).await;
    });
    let started = Instant::now();
    let error = scraper(addr, SHORT_TIMEOUT)
        .scrape()
        .await
        .expect_err("the body never completes");
    server.abort();
    assert!(matches!(error, ScrapeError::Timeout { .. }), "{error:?}");
    assert!(started.elapsed() < SHORT_TIMEOUT * 3);
}

#[tokio::test]
async fn a_garbage_body_is_refused_by_the_parser() {
    let (listener, addr) = listener().await;
    let server = serve_http(listener, |n| {
        let mut garbage = vec![0u8; 64 * 1024];
        StdRng::seed_from_u64(n).fill_bytes(&mut garbage);
        Response::new(Full::new(Bytes::from(garbage)))
    });
    let scraper = scraper(addr, SHORT_TIMEOUT);
    let body = scraper.scrape().await.expect("a 200 with a body");
    assert_eq!(body.len(), 64 * 1024);
    let mut extractor = Extractor::new(&spec());
    let observations = scrape_ticks(&scraper, &mut extractor, 0, 3).await;
    server.abort();
    assert_inconclusive_because(&observations, "exposition refused");
}

#[tokio::test]
async fn a_peer_that_does_not_speak_http_is_a_protocol_error() {
    let (listener, addr) = listener().await;
    let server = serve_raw(listener, |mut stream| async move {
        read_request(&mut stream).await;
        let _ = stream
            .write_all(b"SSH-2.0-OpenSSH_9.6\r\n\x00\xff\xfe garbage \r\n\r\n")
            .await;
    });
    let scraper = scraper(addr, SHORT_TIMEOUT);
    let error = scraper.scrape().await.expect_err("not HTTP");
    assert!(matches!(error, ScrapeError::Protocol { .. }), "{error:?}");
    assert_eq!(error.retry(), Retry::BackOff);
    let mut extractor = Extractor::new(&spec());
    let observations = scrape_ticks(&scraper, &mut extractor, 0, 2).await;
    server.abort();
    assert_inconclusive_because(&observations, "bad HTTP exchange");
}

#[tokio::test]
async fn a_500_status_is_a_status_error() {
    let (listener, addr) = listener().await;
    let server = serve_http(listener, |_| {
        let mut response = Response::new(Full::new(Bytes::from_static(b"internal error")));
        *response.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
        response
    });
    let scraper = scraper(addr, SHORT_TIMEOUT);
    let error = scraper.scrape().await.expect_err("a 500");
    assert!(
        matches!(error, ScrapeError::Status { status: 500, .. }),
        "{error:?}"
    );
    let mut extractor = Extractor::new(&spec());
    let observations = scrape_ticks(&scraper, &mut extractor, 0, 2).await;
    server.abort();
    assert_inconclusive_because(&observations, "HTTP status 500");
}

const HUGE_BODY: u64 = 500 * 1024 * 1024;

/// Streams up to 500 MB of valid exposition lines, chunk by chunk, counting the bytes the socket
/// accepted; stops at the first write error (the client hung up). With `announce`, the response
/// says `Content-Length: 500 MB`; without, it is chunked.
fn huge_app(listener: TcpListener, announce: bool, written: Arc<AtomicU64>) -> JoinHandle<()> {
    serve_raw(listener, move |mut stream| {
        let written = written.clone();
        async move {
            read_request(&mut stream).await;
            let head = if announce {
                format!("HTTP/1.1 200 OK\r\nContent-Length: {HUGE_BODY}\r\n\r\n")
            } else {
                "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n".to_string()
            };
            if stream.write_all(head.as_bytes()).await.is_err() {
                return;
            }
            let line = b"http_requests_total{code=\"200\"} 1\n";
            let data: Vec<u8> = line.iter().copied().cycle().take(64 * 1024).collect();
            let mut chunk = data.clone();
            if !announce {
                chunk = format!("{:x}\r\n", data.len()).into_bytes();
                chunk.extend_from_slice(&data);
                chunk.extend_from_slice(b"\r\n");
            }
            let mut sent = 0;
            while sent < HUGE_BODY {
                if stream.write_all(&chunk).await.is_err() {
                    return;
                }
                sent += data.len() as u64;
                written.fetch_add(chunk.len() as u64, Ordering::SeqCst);
            }
        }
    })
}

#[tokio::test]
async fn a_500_mb_streamed_body_is_refused_after_about_the_cap() {
    let (listener, addr) = listener().await;
    let written = Arc::new(AtomicU64::new(0));
    let server = huge_app(listener, false, written.clone());
    // Generous: reading 32 MB in a debug build must not turn into a timeout.
    let scraper = scraper(addr, Duration::from_secs(10));
    let cap = scraper.config().max_body_bytes as u64;
    let error = scraper.scrape().await.expect_err("too large");
    let ScrapeError::TooLarge { read, .. } = error else {
        panic!("expected TooLarge, got {error:?}");
    };
    assert!(read > cap && read <= cap + 1024 * 1024, "read {read}");
    // The client hung up: the server stops at its next write, far below 500 MB.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let sent = written.load(Ordering::SeqCst);
    assert!(sent >= cap && sent < cap + 16 * 1024 * 1024, "sent {sent}");
    let mut extractor = Extractor::new(&spec());
    let observations = scrape_ticks(&scraper, &mut extractor, 0, 2).await;
    server.abort();
    assert_inconclusive_because(&observations, "body too large");
}

#[tokio::test]
async fn a_500_mb_announced_body_is_refused_before_reading_it() {
    let (listener, addr) = listener().await;
    let written = Arc::new(AtomicU64::new(0));
    let server = huge_app(listener, true, written.clone());
    let scraper = scraper(addr, Duration::from_secs(10));
    let cap = scraper.config().max_body_bytes as u64;
    let error = scraper.scrape().await.expect_err("too large");
    server.abort();
    assert!(
        matches!(error, ScrapeError::TooLarge { read, .. } if read == HUGE_BODY),
        "{error:?}"
    );
    assert!(written.load(Ordering::SeqCst) < cap);
}

#[tokio::test]
async fn a_restarted_app_is_down_then_reset_never_a_regression() {
    let (listener, addr) = listener().await;
    let scraper = scraper(addr, SHORT_TIMEOUT);
    let mut extractor = Extractor::new(&spec());
    let server = healthy_app(listener);
    let mut observations = scrape_ticks(&scraper, &mut extractor, 0, 4).await;
    server.abort();
    let _ = server.await;
    let down = scrape_ticks(&scraper, &mut extractor, 4, 1).await;
    assert!(
        down[0]
            .metrics
            .iter()
            .all(|m| format!("{m:?}").contains("connection refused"))
    );
    observations.extend(down);
    // The new process starts its counters from zero.
    let listener = TcpListener::bind(addr).await.expect("rebind the same port");
    let server = healthy_app(listener);
    observations.extend(scrape_ticks(&scraper, &mut extractor, 5, 3).await);
    server.abort();
    // The first scrape after the failed one only sets the starting point again (so the
    // restart's zeros are never read as a delta either).
    assert_inconclusive_because(&observations, "only sets the starting point again");
}

/// A server that reads the request, writes `reply` and closes the connection.
fn closing_app(listener: TcpListener, reply: &'static [u8]) -> JoinHandle<()> {
    serve_raw(listener, move |mut stream| async move {
        read_request(&mut stream).await;
        let _ = stream.write_all(reply).await;
    })
}

#[tokio::test]
async fn a_connection_closed_early_is_worth_an_immediate_retry() {
    let cut_short: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n# TYPE x counter\n";
    for reply in [cut_short, b""] {
        let (listener, addr) = listener().await;
        let server = closing_app(listener, reply);
        let error = scraper(addr, SHORT_TIMEOUT)
            .scrape()
            .await
            .expect_err("the response is cut short");
        server.abort();
        assert!(matches!(error, ScrapeError::Protocol { .. }), "{error:?}");
        assert_eq!(error.retry(), Retry::Now, "{error:?}");
    }
}
