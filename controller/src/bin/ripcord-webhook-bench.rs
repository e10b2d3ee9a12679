//! `ripcord-webhook-bench`: serves `/mutate` over TLS on localhost through the controller's
//! server loop and drives it at a fixed rate with the AdmissionReview fixtures of
//! `testdata/admission/` over kept-alive connections, then prints latency percentiles and the
//! achieved rate. Two latencies are reported: from the moment a request is sent to its full
//! response, and from its scheduled send time (which adds the timer's lateness, up to about a
//! millisecond, and shows a stalled server as latency rather than as a lower rate).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use bytes::Bytes;
use clap::Parser;
use http::{Request, StatusCode, header};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use ripcord_controller::inject::{InjectConfig, Mutate};
use ripcord_controller::tls::{SERVICE_NAME, ServingCert, generate};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};

/// The AdmissionReview bodies sent, in turn.
const FIXTURES: [&str; 5] = [
    "plain-pod",
    "init-and-volumes",
    "already-injected",
    "unlabelled",
    "custom-metrics",
];

/// Namespace the benchmark's certificate names.
const NAMESPACE: &str = "ripcord";

/// Drive the injection webhook over TLS at a fixed request rate and print its latency.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Args {
    /// Requests per second, all connections together.
    #[arg(long, default_value_t = 500)]
    rate: u32,
    /// Length of the measured run, in seconds.
    #[arg(long, default_value_t = 10)]
    seconds: u32,
    /// Kept-alive TLS connections the requests are spread over.
    #[arg(long, default_value_t = 8)]
    connections: u32,
    /// Directory holding the AdmissionReview fixtures.
    #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/../testdata/admission"))]
    fixtures: PathBuf,
}

type Sender = hyper::client::conn::http1::SendRequest<Full<Bytes>>;

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    ensure!(
        args.rate > 0 && args.seconds > 0 && args.connections > 0,
        "--rate, --seconds and --connections must be positive"
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?;
    runtime.block_on(run(args))
}

async fn run(args: Args) -> anyhow::Result<()> {
    let bodies = FIXTURES
        .iter()
        .map(|name| {
            let path = args.fixtures.join(format!("{name}.json"));
            std::fs::read(&path)
                .map(Bytes::from)
                .with_context(|| format!("reading {}", path.display()))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let bodies = Arc::new(bodies);

    let pki = generate(SERVICE_NAME, NAMESPACE).context("generating the webhook's certificates")?;
    let acceptor =
        ServingCert::from_pem(pki.cert_pem.as_bytes(), pki.key_pem.as_bytes())?.acceptor()?;
    let config = InjectConfig::new(
        "ghcr.io/ripcord-dev/ripcord-sidecar:bench",
        NAMESPACE,
        pki.ca_pem.clone(),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .context("binding localhost")?;
    let addr = listener.local_addr()?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(ripcord_controller::ops::server::serve(
        listener,
        Some(acceptor),
        Mutate::new(Arc::new(config)),
        async {
            let _ = stopped.await;
        },
    ));

    let connector = connector(&pki.ca_pem)?;
    let mut senders = Vec::new();
    for _ in 0..args.connections {
        let mut sender = connect(&connector, addr).await?;
        for body in bodies.iter() {
            send(&mut sender, body.clone()).await?;
        }
        senders.push(sender);
    }

    let total = u64::from(args.rate) * u64::from(args.seconds);
    let interval = Duration::from_secs(1) / args.rate;
    let connections = u64::from(args.connections);
    let start = Instant::now() + Duration::from_millis(50);
    let mut tasks = Vec::new();
    for (k, mut sender) in (0u64..).zip(senders) {
        let bodies = bodies.clone();
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut i = k;
            while i < total {
                let scheduled = start + interval * u32::try_from(i)?;
                tokio::time::sleep_until(scheduled.into()).await;
                let index = usize::try_from(i)? % bodies.len();
                let sent = Instant::now();
                send(&mut sender, bodies[index].clone()).await?;
                latencies.push((sent.elapsed(), scheduled.elapsed()));
                i += connections;
            }
            anyhow::Ok(latencies)
        }));
    }
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await??);
    }
    let elapsed = start.elapsed();
    let _ = stop.send(());
    server.await?;

    let mut service: Vec<Duration> = latencies.iter().map(|(sent, _)| *sent).collect();
    let mut scheduled: Vec<Duration> = latencies.iter().map(|(_, from)| *from).collect();
    let sizes = bodies.iter().map(Bytes::len);
    println!(
        "ripcord-webhook-bench: POST /mutate over TLS (ops::server::serve) on {addr}, {} kept-alive connections, \
         {} fixture bodies of {}..{} bytes in turn",
        args.connections,
        bodies.len(),
        sizes.clone().min().unwrap_or(0),
        sizes.max().unwrap_or(0),
    );
    println!(
        "requests {} at a target of {} req/s; achieved {:.1} req/s over {:.2} s; every answer checked (200, allowed)",
        latencies.len(),
        args.rate,
        latencies.len() as f64 / elapsed.as_secs_f64(),
        elapsed.as_secs_f64(),
    );
    println!(
        "latency from send to full response:   {} (goal p99 <= 2 ms)",
        summary(&mut service)
    );
    println!(
        "latency from scheduled send (+timer):  {}",
        summary(&mut scheduled)
    );
    println!(
        "in-process Mutate::review per body:    {}",
        review_cost(&bodies)?
    );
    Ok(())
}

/// A TLS client trusting only the generated CA.
fn connector(ca_pem: &str) -> anyhow::Result<tokio_rustls::TlsConnector> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(CertificateDer::from_pem_slice(ca_pem.as_bytes())?)?;
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_root_certificates(roots)
    .with_no_client_auth();
    Ok(tokio_rustls::TlsConnector::from(Arc::new(config)))
}

/// One kept-alive HTTP/1 connection over TLS to the service's name.
async fn connect(
    connector: &tokio_rustls::TlsConnector,
    addr: std::net::SocketAddr,
) -> anyhow::Result<Sender> {
    let tcp = tokio::net::TcpStream::connect(addr).await?;
    tcp.set_nodelay(true)?;
    let name = ServerName::try_from(format!("{SERVICE_NAME}.{NAMESPACE}.svc"))?;
    let tls = connector
        .connect(name, tcp)
        .await
        .context("TLS handshake")?;
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(tls)).await?;
    tokio::spawn(connection);
    Ok(sender)
}

/// Sends one review and reads the whole answer, which must be an allowed AdmissionReview.
async fn send(sender: &mut Sender, body: Bytes) -> anyhow::Result<()> {
    sender.ready().await?;
    let request = Request::post("/mutate")
        .header(header::HOST, format!("{SERVICE_NAME}.{NAMESPACE}.svc"))
        .header(header::CONTENT_TYPE, "application/json")
        .body(Full::new(body))?;
    let response = sender.send_request(request).await?;
    let status = response.status();
    let body = response.into_body().collect().await?.to_bytes();
    if status != StatusCode::OK {
        bail!(
            "/mutate answered {status}: {}",
            String::from_utf8_lossy(&body)
        );
    }
    let review: serde_json::Value = serde_json::from_slice(&body)?;
    ensure!(
        review["response"]["allowed"] == true,
        "a review was not allowed: {review}"
    );
    Ok(())
}

/// Percentiles of `latencies`, sorted in place.
fn summary(latencies: &mut [Duration]) -> String {
    latencies.sort_unstable();
    format!(
        "p50 {} p90 {} p99 {} p99.9 {} max {}",
        ms(percentile(latencies, 0.50)),
        ms(percentile(latencies, 0.90)),
        ms(percentile(latencies, 0.99)),
        ms(percentile(latencies, 0.999)),
        ms(latencies.last().copied().unwrap_or_default()),
    )
}

/// Mean time of the pure handler (parse, plan, serialise) on each body, without I/O.
fn review_cost(bodies: &[Bytes]) -> anyhow::Result<String> {
    const ROUNDS: u32 = 1000;
    let route = Mutate::new(Arc::new(InjectConfig::new(
        "sidecar:bench",
        NAMESPACE,
        "CA",
    )));
    let mut costs = Vec::new();
    for (name, body) in FIXTURES.iter().zip(bodies) {
        let start = Instant::now();
        for _ in 0..ROUNDS {
            std::hint::black_box(route.review(body)?);
        }
        costs.push(format!(
            "{name} {:.1} µs",
            start.elapsed().as_secs_f64() * 1e6 / f64::from(ROUNDS)
        ));
    }
    Ok(costs.join(", "))
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = (p * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn ms(duration: Duration) -> String {
    format!("{:.3} ms", duration.as_secs_f64() * 1000.0)
}
