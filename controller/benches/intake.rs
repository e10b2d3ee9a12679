//! Intake benchmark: `POST /v1/verdicts` through `ops::server::serve` (plain HTTP, keep-alive),
//! TokenReviews answered by the fake API server over loopback.
//!
//! Run: `cargo bench -p ripcord-controller --bench intake`. Prints p50/p99/max latency of a
//! report whose token needs a TokenReview (cold), of reports with a recently reviewed token
//! (warm, one connection), and the throughput of 10 pods reporting at once.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use ripcord_controller::intake::{InMemoryDirectory, Intake, PodMembership, VERDICTS_PATH};
use ripcord_controller::ops::metrics::Metrics;
use ripcord_controller::ops::server::serve;
use ripcord_fake_apiserver::{FakeApiServer, TokenIdentity};
use ripcord_sidecar::report::{Release, VerdictReport};
use ripcord_sidecar::verdict::{Decision, VERDICT_VERSION, Verdict};
use tokio::net::TcpListener;

const PODS: usize = 10;
const WARM_REPORTS: u64 = 2_000;
const PARALLEL_REPORTS: u64 = 500;

fn pod(index: usize) -> String {
    format!("checkout-7-{index:03}")
}

fn body(index: usize, sequence: u64) -> Bytes {
    let verdict = Verdict {
        version: VERDICT_VERSION.to_string(),
        decision: Decision::Fail,
        reason: "errors regressed".to_string(),
        at_ms: 1_764_000_000_000,
        elapsed_ms: 8_000,
        ticks: 8,
        alpha: 0.01,
        decided_at_ms: Some(1_764_000_000_000),
        basis: Default::default(),
        metrics: Vec::new(),
    };
    let release = Release {
        namespace: "shop".into(),
        deployment: "checkout".into(),
        revision: "7".into(),
        pod: pod(index),
    };
    Bytes::from(
        VerdictReport::new(release, sequence, verdict)
            .to_body()
            .expect("a report body"),
    )
}

async fn connect(address: SocketAddr) -> SendRequest<Full<Bytes>> {
    let stream = tokio::net::TcpStream::connect(address)
        .await
        .expect("connects");
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .expect("handshake");
    tokio::spawn(connection);
    sender
}

async fn post(sender: &mut SendRequest<Full<Bytes>>, index: usize, sequence: u64) -> Duration {
    let request = Request::post(VERDICTS_PATH)
        .header("host", "ripcord")
        .header("authorization", format!("Bearer token-{index}"))
        .body(Full::new(body(index, sequence)))
        .expect("a request");
    sender
        .ready()
        .await
        .expect("the connection takes another request");
    let start = Instant::now();
    let response = sender.send_request(request).await.expect("an answer");
    let status = response.status();
    response.into_body().collect().await.expect("a body");
    let elapsed = start.elapsed();
    assert_eq!(status, StatusCode::ACCEPTED);
    elapsed
}

fn summary(label: &str, mut samples: Vec<Duration>) {
    samples.sort();
    let at = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize];
    println!(
        "{label:<44} n={:<5} p50={:>8.1?} p99={:>8.1?} max={:>8.1?}",
        samples.len(),
        at(0.5),
        at(0.99),
        at(1.0)
    );
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(run());
}

async fn run() {
    let api = FakeApiServer::start().await.expect("fake API server");
    let directory = Arc::new(InMemoryDirectory::new());
    for index in 0..PODS {
        api.add_token(
            &format!("token-{index}"),
            TokenIdentity::pod("shop", &pod(index), "checkout", &["ripcord"]),
        );
        let membership = PodMembership {
            deployment: "checkout".into(),
            revision: "7".into(),
            pod_template_hash: None,
            uid: None,
        };
        directory.add_pod("shop", &pod(index), membership);
    }
    let (sender, mut verdicts) = tokio::sync::mpsc::channel(4096);
    tokio::spawn(async move { while verdicts.recv().await.is_some() {} });
    let intake = Intake::new(
        api.client().expect("kube client"),
        directory.clone(),
        directory,
        sender,
        Arc::new(Metrics::new()),
    );
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("a port");
    let address = listener.local_addr().expect("an address");
    tokio::spawn(serve(listener, None, intake, std::future::pending()));

    let mut cold = Vec::new();
    let mut senders = Vec::new();
    for index in 0..PODS {
        let mut sender = connect(address).await;
        cold.push(post(&mut sender, index, 1).await);
        senders.push(sender);
    }
    summary("cold (TokenReview on loopback)", cold);

    let mut warm = Vec::new();
    for sequence in 2..WARM_REPORTS + 2 {
        warm.push(post(&mut senders[0], 0, sequence).await);
    }
    summary("warm, one pod, sequential", warm);

    let start = Instant::now();
    let tasks: Vec<_> = senders
        .into_iter()
        .enumerate()
        .map(|(index, mut sender)| {
            let first = if index == 0 { WARM_REPORTS + 2 } else { 2 };
            tokio::spawn(async move {
                let mut samples = Vec::new();
                for sequence in first..first + PARALLEL_REPORTS {
                    samples.push(post(&mut sender, index, sequence).await);
                }
                samples
            })
        })
        .collect();
    let mut parallel = Vec::new();
    for task in tasks {
        parallel.extend(task.await.expect("a client task"));
    }
    let elapsed = start.elapsed();
    let count = parallel.len();
    summary("warm, 10 pods at once", parallel);
    println!(
        "{:<44} {:.0} reports/s ({count} in {elapsed:.2?})",
        "throughput, 10 pods at once",
        count as f64 / elapsed.as_secs_f64()
    );
}
