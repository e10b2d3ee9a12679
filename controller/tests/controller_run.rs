//! The whole controller, `run_with`, against the stateful fake API server: it fills its TLS
//! Secret and the webhook's caBundle, syncs its caches, creates the release's ReleaseCheck,
//! keeps a baseline snapshot read from the previous pod's real sidecar (on 127.0.0.2, at the
//! sidecar port) and serves it to the canary, serves a canary its assignment and takes its
//! fail verdict over HTTPS with the pod's token,
//! rolls the Deployment back, injects a pod at `/mutate`, and shuts down when asked.

mod cli;

use std::sync::Arc;
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use ripcord_controller::run::run_with;
use ripcord_fake_apiserver::{FakeApiServer, TokenIdentity};
use ripcord_sidecar::assign::{Assignment, Role};
use ripcord_sidecar::report::{Release, VerdictReport};
use serde_json::{Value, json};
use tokio::net::TcpStream;

const CANARY: &str = "checkout-59c4d7f8b6-aaaaa";
/// A canary pod created after [`CANARY`], named to sort first: it serves its windows, but the
/// older pod judges the release.
const YOUNGER_CANARY: &str = "checkout-59c4d7f8b6-00000";
const WEBHOOK: &str = "ripcord";
/// The previous pod's IP: a loopback address of its own, so its sidecar can take the
/// sidecar port the controller asks on.
const PREVIOUS_IP: &str = "127.0.0.2";
/// Seconds of traffic the previous pod's sidecar holds.
const PREVIOUS_SECONDS: i64 = 30;

/// The previous revision's sidecar: the real HTTP surface at the sidecar port, holding
/// [`PREVIOUS_SECONDS`] one-second observations of one ratio.
async fn previous_sidecar() -> tokio::sync::oneshot::Sender<()> {
    use ripcord_sidecar::serve::{Server, State};
    use ripcord_sidecar::window::{MetricDelta, Observation};
    let state = Arc::new(State::new(3600));
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .expect("after 1970");
    for k in (1..=PREVIOUS_SECONDS).rev() {
        state.scrape_succeeded(
            Duration::from_micros(50),
            Observation {
                at_ms: now - k * 1000,
                metrics: vec![MetricDelta::Ratio {
                    events: 1.0,
                    trials: 100.0,
                }],
            },
        );
    }
    let address = format!(
        "{PREVIOUS_IP}:{}",
        ripcord_controller::reconcile::assign::SIDECAR_PORT
    );
    let server = Server::bind(address.parse().expect("an address"), state)
        .await
        .expect("the sidecar port is free on 127.0.0.2");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(server.serve(async {
        let _ = stopped.await;
    }));
    stop
}
const WAIT: Duration = Duration::from_secs(20);

fn repo(relative: &str) -> String {
    format!("{}/../{relative}", env!("CARGO_MANIFEST_DIR"))
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

fn pod(name: &str, hash: &str, rs_uid: &str, ip: &str) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": "shop", "uid": format!("uid-{name}"),
            "labels": {"app": "checkout", "ripcord.dev/enabled": "true", "pod-template-hash": hash},
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet",
                "name": format!("checkout-{hash}"), "uid": rs_uid, "controller": true}]},
        "spec": {"containers": [{"name": "checkout", "image": "ghcr.io/example/checkout"}]},
        "status": {"phase": "Running", "podIP": ip}
    })
}

async fn seeded() -> FakeApiServer {
    let server = FakeApiServer::start().await.expect("fake API server");
    server
        .seed_file(repo("testdata/k8s/history-basic.yaml"))
        .expect("fixture");
    let webhook: Value = serde_json::from_str(
        &std::fs::read_to_string(repo("testdata/admission/mutatingwebhookconfiguration.json"))
            .expect("webhook fixture"),
    )
    .expect("JSON");
    server.insert(webhook).expect("webhook stored");
    server
        .insert(
            json!({"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/tls",
            "metadata": {"name": "ripcord-controller-tls", "namespace": "ripcord"}}),
        )
        .expect("secret stored");
    let mut canary = pod(
        CANARY,
        "59c4d7f8b6",
        "a103c7e2-51d0-4f7e-8b3a-2c9d00000003",
        "10.0.0.30",
    );
    canary["metadata"]["creationTimestamp"] = json!("2026-11-24T10:00:00Z");
    let mut younger = pod(
        YOUNGER_CANARY,
        "59c4d7f8b6",
        "a103c7e2-51d0-4f7e-8b3a-2c9d00000003",
        "10.0.0.31",
    );
    younger["metadata"]["creationTimestamp"] = json!("2026-11-24T10:00:07Z");
    for object in [
        canary,
        younger,
        pod(
            "checkout-7d8c96b5f4-bbbbb",
            "7d8c96b5f4",
            "a102c7e2-51d0-4f7e-8b3a-2c9d00000002",
            PREVIOUS_IP,
        ),
    ] {
        server.insert(object).expect("pod stored");
    }
    server.add_token(
        "canary-token",
        TokenIdentity::pod("shop", CANARY, "default", &["ripcord"]),
    );
    server.add_token(
        "younger-token",
        TokenIdentity::pod("shop", YOUNGER_CANARY, "default", &["ripcord"]),
    );
    server
}

/// One HTTPS request to the controller, trusting `ca_pem` for its service name.
async fn https(
    port: u16,
    ca_pem: &str,
    request: http::Request<Full<bytes::Bytes>>,
) -> (http::StatusCode, bytes::Bytes) {
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_pemfile_certs(ca_pem) {
        roots.add(cert).expect("CA added");
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("protocols")
    .with_root_certificates(roots)
    .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let name =
        rustls::pki_types::ServerName::try_from("ripcord-controller.ripcord.svc").expect("name");
    let tcp = TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect");
    let tls = connector.connect(name, tcp).await.expect("TLS handshake");
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tls))
            .await
            .expect("HTTP handshake");
    tokio::spawn(connection);
    let response = sender.send_request(request).await.expect("response");
    let status = response.status();
    let body = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    (status, body)
}

fn rustls_pemfile_certs(pem: &str) -> Vec<rustls::pki_types::CertificateDer<'static>> {
    use rustls::pki_types::pem::PemObject;
    rustls::pki_types::CertificateDer::pem_slice_iter(pem.as_bytes())
        .collect::<Result<_, _>>()
        .expect("PEM certificates")
}

fn request(
    method: &str,
    path: &str,
    token: &str,
    body: Vec<u8>,
) -> http::Request<Full<bytes::Bytes>> {
    http::Request::builder()
        .method(method)
        .uri(path)
        .header("host", "ripcord-controller.ripcord.svc")
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", "application/json")
        .body(Full::new(bytes::Bytes::from(body)))
        .expect("request")
}

async fn get_plain(port: u16, path: &str) -> Option<String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = TcpStream::connect(("127.0.0.1", port)).await.ok()?;
    stream
        .write_all(format!("GET {path} HTTP/1.0\r\nHost: ops\r\n\r\n").as_bytes())
        .await
        .ok()?;
    let mut text = String::new();
    stream.read_to_string(&mut text).await.ok()?;
    Some(text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_controller_acts_on_a_canary_verdict_end_to_end() {
    let server = seeded().await;
    let _previous = previous_sidecar().await;
    let (https_port, ops_port) = (free_port(), free_port());
    let credentials = std::env::temp_dir().join("ripcord-controller-run-test");
    let args = cli::run_args([
        "test",
        "--webhook-listen",
        &format!("127.0.0.1:{https_port}"),
        "--metrics-listen",
        &format!("127.0.0.1:{ops_port}"),
        "--sidecar-image",
        "ripcord-sidecar:test",
        "--leader-election-namespace",
        "ripcord",
        "--pod-name",
        "controller-0",
        "--webhook-config-name",
        WEBHOOK,
        "--flag-credentials-dir",
        credentials.to_str().expect("path"),
    ]);
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let client = server.client().expect("client");
    let controller = tokio::spawn(run_with(client, args, stopped));

    let ready = tokio::time::timeout(WAIT, async {
        loop {
            assert!(!controller.is_finished(), "the controller stopped early");
            if get_plain(ops_port, "/ready")
                .await
                .is_some_and(|t| t.lines().next().is_some_and(|l| l.contains(" 200 ")))
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    if ready.is_err() {
        controller.abort();
        panic!(
            "the controller never became ready; requests: {:#?}",
            server
                .requests()
                .iter()
                .map(|r| format!("{} {} {:?}", r.method, r.path, r.query))
                .collect::<Vec<_>>()
        );
    }

    let ca_pem = server
        .wait_until(WAIT, |s| {
            let secret = s.object("v1", "secrets", Some("ripcord"), "ripcord-controller-tls")?;
            let encoded = secret["data"]["ca.crt"].as_str()?.to_string();
            use base64::Engine as _;
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(encoded)
                .ok()?;
            String::from_utf8(bytes).ok()
        })
        .await
        .expect("the TLS Secret was filled");
    let bundle = server
        .wait_until(WAIT, |s| {
            let config = s.object(
                "admissionregistration.k8s.io/v1",
                "mutatingwebhookconfigurations",
                None,
                WEBHOOK,
            )?;
            let bundle = config["webhooks"][0]["clientConfig"]["caBundle"].as_str()?;
            (!bundle.starts_with("LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCm9sZA"))
                .then(|| bundle.to_string())
        })
        .await
        .expect("the caBundle was patched");
    assert!(!bundle.is_empty());

    server
        .wait_until(WAIT, |s| {
            let check = s.object(
                "ripcord.dev/v1alpha1",
                "releasechecks",
                Some("shop"),
                "checkout-3",
            )?;
            (check["status"]["phase"] == "Watching").then_some(())
        })
        .await
        .expect("the release's ReleaseCheck is watching");

    let (status, body) = https(
        https_port,
        &ca_pem,
        request("GET", "/v1/assignment", "canary-token", Vec::new()),
    )
    .await;
    assert_eq!(status, http::StatusCode::OK, "{body:?}");
    let assignment: Assignment = serde_json::from_slice(&body).expect("an assignment");
    assert_eq!(assignment.role, Role::Canary);
    assert_eq!(assignment.baseline.peers, vec!["http://127.0.0.2:9464"]);
    assert_eq!(assignment.release_check.as_deref(), Some("checkout-3"));
    let (status, body) = https(
        https_port,
        &ca_pem,
        request("GET", "/v1/assignment", "younger-token", Vec::new()),
    )
    .await;
    assert_eq!(status, http::StatusCode::OK, "{body:?}");
    let younger: Assignment = serde_json::from_slice(&body).expect("an assignment");
    assert_eq!(
        younger.role,
        Role::Idle,
        "one judge per release: the oldest canary pod"
    );

    let snapshot = server
        .wait_until(WAIT, |s| {
            let check = s.object(
                "ripcord.dev/v1alpha1",
                "releasechecks",
                Some("shop"),
                "checkout-3",
            )?;
            let snapshot = check["status"]["baselineSnapshot"].clone();
            (!snapshot.is_null()).then_some(snapshot)
        })
        .await
        .expect("the baseline snapshot was recorded");
    assert_eq!(snapshot["podsAsked"], 1, "{snapshot}");
    assert_eq!(snapshot["podsAnswered"], 1, "{snapshot}");
    assert_eq!(snapshot["observations"], PREVIOUS_SECONDS, "{snapshot}");
    assert_eq!(snapshot["configMap"], "ripcord-snapshot.shop.checkout-3");
    let recorded: Vec<_> = server
        .writes()
        .into_iter()
        .filter(|w| {
            w.json()
                .is_some_and(|b| !b["status"]["baselineSnapshot"].is_null())
        })
        .collect();
    assert_eq!(recorded.len(), 1, "one snapshot record");
    assert_eq!(recorded[0].method, http::Method::PATCH);
    assert_eq!(
        recorded[0].path,
        "/apis/ripcord.dev/v1alpha1/namespaces/shop/releasechecks/checkout-3/status"
    );
    assert_eq!(
        recorded[0].content_type.as_deref(),
        Some("application/merge-patch+json")
    );
    assert_eq!(
        recorded[0].json().expect("a body"),
        json!({"status": {"baselineSnapshot": snapshot.clone()}}),
        "the one field, without a precondition: nothing else writes it"
    );
    assert!(
        server
            .object(
                "v1",
                "configmaps",
                Some("ripcord"),
                "ripcord-snapshot.shop.checkout-3"
            )
            .is_some()
    );
    let offered = tokio::time::timeout(WAIT, async {
        loop {
            let (_, body) = https(
                https_port,
                &ca_pem,
                request("GET", "/v1/assignment", "canary-token", Vec::new()),
            )
            .await;
            let assignment: Assignment = serde_json::from_slice(&body).expect("an assignment");
            if let Some(url) = assignment.baseline.snapshot {
                break url;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("the canary is offered the snapshot once the cache sees it");
    assert_eq!(
        offered,
        format!("https://ripcord-controller.ripcord.svc:{https_port}/v1/snapshot")
    );
    let (status, body) = https(
        https_port,
        &ca_pem,
        request("GET", "/v1/snapshot", "canary-token", Vec::new()),
    )
    .await;
    assert_eq!(status, http::StatusCode::OK, "{body:?}");
    let window: ripcord_sidecar::serve::WindowJson =
        serde_json::from_slice(&body).expect("a window");
    let trials: f64 = window
        .observations
        .iter()
        .map(
            |o| match o.clone().into_observation().expect("valid").metrics[0] {
                ripcord_sidecar::window::MetricDelta::Ratio { trials, .. } => trials,
                _ => 0.0,
            },
        )
        .sum();
    assert_eq!(trials, 100.0 * PREVIOUS_SECONDS as f64);

    let verdict: ripcord_sidecar::verdict::Verdict = serde_json::from_str(
        &std::fs::read_to_string(repo("testdata/verdicts/errors.json")).expect("verdict"),
    )
    .expect("a verdict");
    let release = Release {
        namespace: "shop".to_string(),
        deployment: "checkout".to_string(),
        revision: "3".to_string(),
        pod: CANARY.to_string(),
    };
    let post_verdict = |sequence: u64| {
        let body = VerdictReport::new(release.clone(), sequence, verdict.clone())
            .to_body()
            .expect("body");
        https(
            https_port,
            &ca_pem,
            request("POST", "/v1/verdicts", "canary-token", body),
        )
    };
    let from_younger = VerdictReport::new(
        Release {
            pod: YOUNGER_CANARY.to_string(),
            ..release.clone()
        },
        1,
        verdict.clone(),
    )
    .to_body()
    .expect("body");
    let (status, body) = https(
        https_port,
        &ca_pem,
        request("POST", "/v1/verdicts", "younger-token", from_younger),
    )
    .await;
    assert_eq!(status, http::StatusCode::CONFLICT, "{body:?}");
    let refusal: Value = serde_json::from_slice(&body).expect("a JSON refusal");
    assert!(
        refusal
            .to_string()
            .contains(&format!("pod {CANARY} judges this release")),
        "{refusal}"
    );
    let (status, body) = post_verdict(1).await;
    assert_eq!(status, http::StatusCode::ACCEPTED, "{body:?}");

    server
        .wait_until(WAIT, |s| {
            let check = s.object(
                "ripcord.dev/v1alpha1",
                "releasechecks",
                Some("shop"),
                "checkout-3",
            )?;
            (check["status"]["phase"] == "RolledBack").then_some(())
        })
        .await
        .expect("the release was rolled back");
    let deployment = server
        .object("apps/v1", "deployments", Some("shop"), "checkout")
        .expect("the Deployment");
    assert_eq!(
        deployment["spec"]["template"]["spec"]["containers"][0]["image"],
        "ghcr.io/example/checkout:v1.4.1"
    );

    // A settled release takes no more verdicts. The intake reads the check from the caches,
    // which see the settled status a moment after the API server does: until then a verdict is
    // accepted and the actor skips it, changing nothing. So ask until refused, each time with a
    // new sequence number (a repeated one would be refused as a replay instead).
    let deployment_writes = || {
        server
            .writes()
            .iter()
            .filter(|w| w.path.ends_with("/deployments/checkout"))
            .count()
    };
    let rollbacks = deployment_writes();
    let mut refusal = None;
    for sequence in 2..100 {
        let (status, body) = post_verdict(sequence).await;
        if status == http::StatusCode::CONFLICT {
            refusal = Some(body);
            break;
        }
        assert_eq!(status, http::StatusCode::ACCEPTED, "{body:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let refusal: Value =
        serde_json::from_slice(&refusal.expect("refused within 10 s")).expect("a JSON refusal");
    assert_eq!(refusal["code"], "release_closed", "{refusal}");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        deployment_writes(),
        rollbacks,
        "verdicts for a settled release change nothing"
    );
    let check = server
        .object(
            "ripcord.dev/v1alpha1",
            "releasechecks",
            Some("shop"),
            "checkout-3",
        )
        .expect("the check");
    assert_eq!(check["status"]["phase"], "RolledBack");
    assert_eq!(check["status"]["actions"].as_array().map(Vec::len), Some(1));

    let review = std::fs::read(repo("testdata/admission/plain-pod.json")).expect("review");
    let (status, body) = https(https_port, &ca_pem, request("POST", "/mutate", "", review)).await;
    assert_eq!(status, http::StatusCode::OK);
    let answer: Value = serde_json::from_slice(&body).expect("a review");
    assert_eq!(answer["response"]["allowed"], true);
    assert!(answer["response"]["patch"].is_string(), "{answer}");

    let metrics = get_plain(ops_port, "/metrics").await.expect("metrics");
    assert!(
        metrics.contains("ripcord_controller_verdicts_total"),
        "{metrics}"
    );

    stop.send(true).expect("controller listening");
    let finished = tokio::time::timeout(Duration::from_secs(15), controller).await;
    assert!(
        matches!(finished, Ok(Ok(Ok(())))),
        "the controller stops cleanly when asked: {finished:?}"
    );
}
