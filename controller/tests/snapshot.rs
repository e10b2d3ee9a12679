//! Baseline snapshots end to end: the previous revision's pods are real sidecar HTTP servers,
//! the ConfigMap lives in the fake API server, and canaries read it through the real intake.
//! Taking one reads every pod (a dead one is left out with the reason), keeps the per-second
//! sums in one immutable ConfigMap in the controller's namespace, and a second take keeps the
//! first; only a canary offered the snapshot may read it; the sweep deletes it with exact
//! preconditions and a failed precondition deletes nothing.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use ripcord_controller::intake::{InMemoryDirectory, Intake, PodMembership};
use ripcord_controller::ops::metrics::Metrics;
use ripcord_controller::ops::server::serve;
use ripcord_controller::snapshot::{Peer, SNAPSHOT_PATH, SnapshotSettings, Snapshots};
use ripcord_fake_apiserver::{FakeApiServer, TokenIdentity};
use ripcord_sidecar::assign::{Assignment, Role};
use ripcord_sidecar::serve::{Server, State, WINDOW_VERSION, WindowJson};
use ripcord_sidecar::window::{MetricDelta, Observation};
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot};

const CONFIG_MAPS: &str = "/api/v1/namespaces/ripcord/configmaps";
const NAME: &str = "ripcord-snapshot.shop.checkout-7";

fn now_ms() -> i64 {
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970");
    i64::try_from(since.as_millis()).expect("fits")
}

fn ratio(at_ms: i64, events: f64, trials: f64) -> Observation {
    Observation {
        at_ms,
        metrics: vec![MetricDelta::Ratio { events, trials }],
    }
}

/// A previous-revision sidecar serving `observations` on a free loopback port.
async fn sidecar(observations: Vec<Observation>) -> (String, oneshot::Sender<()>) {
    let state = Arc::new(State::new(3600));
    for observation in observations {
        state.scrape_succeeded(Duration::from_micros(50), observation);
    }
    let server = Server::bind("127.0.0.1:0".parse().expect("an address"), state)
        .await
        .expect("binds");
    let address = server.local_addr().expect("an address");
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(server.serve(async {
        let _ = stopped.await;
    }));
    (format!("http://{address}"), stop)
}

/// A port nothing listens on.
async fn dead_url() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("a port");
    let address = listener.local_addr().expect("an address");
    drop(listener);
    format!("http://{address}")
}

async fn get(address: SocketAddr, token: &str) -> (StatusCode, Bytes) {
    let stream = tokio::net::TcpStream::connect(address)
        .await
        .expect("connects");
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .expect("handshake");
    tokio::spawn(connection);
    let request = Request::builder()
        .method(Method::GET)
        .uri(SNAPSHOT_PATH)
        .header("host", "ripcord")
        .header("authorization", format!("Bearer {token}"))
        .body(Full::new(Bytes::new()))
        .expect("a request");
    let response = sender.send_request(request).await.expect("an answer");
    let status = response.status();
    let body = response
        .into_body()
        .collect()
        .await
        .expect("a body")
        .to_bytes();
    (status, body)
}

/// The intake over `snapshots`, with pod `checkout-7-abc` a canary offered the snapshot and
/// `checkout-6-old` a baseline.
async fn intake(api: &FakeApiServer, snapshots: Snapshots) -> (SocketAddr, oneshot::Sender<()>) {
    for (token, pod) in [("canary", "checkout-7-abc"), ("old", "checkout-6-old")] {
        api.add_token(
            token,
            TokenIdentity::pod("shop", pod, "checkout", &["ripcord"]),
        );
    }
    let directory = Arc::new(InMemoryDirectory::new());
    for (pod, revision) in [("checkout-7-abc", "7"), ("checkout-6-old", "6")] {
        directory.add_pod(
            "shop",
            pod,
            PodMembership {
                deployment: "checkout".into(),
                revision: revision.into(),
                pod_template_hash: None,
                uid: None,
            },
        );
    }
    let mut canary = Assignment::idle();
    canary.role = Role::Canary;
    canary.release_check = Some("checkout-7".into());
    canary.baseline.snapshot = Some(format!("https://ripcord-controller:8443{SNAPSHOT_PATH}"));
    directory.assign("shop", "checkout-7-abc", canary);
    let mut baseline = Assignment::idle();
    baseline.role = Role::Baseline;
    directory.assign("shop", "checkout-6-old", baseline);
    let (sender, _queue) = mpsc::channel(8);
    let intake = Intake::new(
        api.client().expect("a client"),
        directory.clone(),
        directory,
        sender,
        Arc::new(Metrics::new()),
    )
    .with_snapshots(Arc::new(snapshots));
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("a port");
    let address = listener.local_addr().expect("an address");
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(serve(listener, None, intake, async {
        let _ = stopped.await;
    }));
    (address, stop)
}

#[tokio::test]
async fn a_snapshot_is_taken_kept_served_to_its_canary_and_swept() {
    let api = FakeApiServer::start().await.expect("fake API server");
    let now = now_ms();
    let second = |k: i64| now - now.rem_euclid(1000) - k * 1000;
    let a: Vec<_> = (1..=20)
        .map(|k| ratio(second(k) + 200, 1.0, 100.0))
        .collect();
    let b: Vec<_> = (1..=20)
        .map(|k| ratio(second(k) + 700, 2.0, 50.0))
        .collect();
    let (url_a, _stop_a) = sidecar(a).await;
    let (url_b, _stop_b) = sidecar(b).await;
    let peers = vec![
        Peer {
            pod: "checkout-6-a".into(),
            url: url_a,
        },
        Peer {
            pod: "checkout-6-b".into(),
            url: url_b,
        },
        Peer {
            pod: "checkout-6-gone".into(),
            url: dead_url().await,
        },
    ];
    let snapshots = Snapshots::new(
        api.client().expect("a client"),
        SnapshotSettings::new("ripcord"),
    )
    .expect("snapshots");

    let record = snapshots.take("shop", "checkout-7", &peers, now).await;
    let taken = record.clone();
    assert_eq!((record.pods_asked, record.pods_answered), (3, 2));
    assert_eq!(record.observations, 20, "{record:?}");
    assert_eq!(record.config_map.as_deref(), Some(NAME));
    let message = record.message.expect("the dead pod is named");
    assert!(message.starts_with("checkout-6-gone: "), "{message}");

    let writes = api.writes();
    assert_eq!(writes.len(), 1, "{writes:?}");
    let create = &writes[0];
    assert_eq!(
        create.json().expect("a JSON body")["metadata"]["annotations"]["ripcord.dev/snapshot-record"],
        serde_json::to_string(&taken).expect("JSON"),
        "the ConfigMap carries the record of its reading"
    );
    assert_eq!(
        (&create.method, create.path.as_str()),
        (&Method::POST, CONFIG_MAPS)
    );
    assert_eq!(
        create.query_param("fieldManager").as_deref(),
        Some("ripcord")
    );
    let body = create.json().expect("a JSON body");
    assert_eq!(body["immutable"], true);
    assert_eq!(body["metadata"]["labels"]["ripcord.dev/snapshot"], "true");
    assert_eq!(
        body["metadata"]["annotations"]["ripcord.dev/release-check"],
        "shop/checkout-7"
    );
    let stored = body["data"]["window.json"].as_str().expect("the window");
    let window: WindowJson = serde_json::from_str(stored).expect("a window");
    assert_eq!(window.version, WINDOW_VERSION);
    let seconds: Vec<Observation> = window
        .observations
        .into_iter()
        .map(|o| o.into_observation().expect("valid"))
        .collect();
    let expected: Vec<_> = (1..=20)
        .rev()
        .map(|k| ratio(second(k) + 1000, 3.0, 150.0))
        .collect();
    assert_eq!(seconds, expected, "both pods summed per second");

    let again = snapshots.take("shop", "checkout-7", &peers[..1], now).await;
    assert_eq!(again.config_map.as_deref(), Some(NAME), "the first is kept");
    assert_eq!(
        again, taken,
        "a later reading records what is kept (3 asked, 2 answered), not itself (1 asked)"
    );
    assert_eq!(
        snapshots.take("shop", "checkout-7", &[], now).await,
        taken,
        "with no previous pod left, the snapshot kept is still recorded"
    );
    let held = api
        .list("v1", "configmaps", Some("ripcord"))
        .into_iter()
        .map(|o| o["data"]["window.json"].clone())
        .collect::<Vec<Value>>();
    assert_eq!(held, vec![Value::from(stored)], "one snapshot, unchanged");

    let (address, _stop) = intake(&api, snapshots.clone()).await;
    api.clear_requests();
    let (status, served) = get(address, "canary").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(served, Bytes::from(stored.to_string()));
    let (status, refusal) = get(address, "old").await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "a baseline pod is offered none"
    );
    let refusal: Value = serde_json::from_slice(&refusal).expect("JSON");
    assert_eq!(refusal["code"], "no_snapshot");
    let (status, _) = get(address, "forged").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(api.writes().is_empty(), "serving writes nothing");

    let uid = api.list("v1", "configmaps", Some("ripcord"))[0]["metadata"]["uid"].clone();
    api.clear_requests();
    let kept = snapshots.sweep(|_, _| true).await.expect("a sweep");
    assert_eq!(kept, 0);
    assert!(api.writes().is_empty(), "a needed snapshot is not touched");

    api.fail_next(
        Method::DELETE,
        &format!("{CONFIG_MAPS}/{NAME}"),
        StatusCode::CONFLICT,
    );
    let raced = snapshots.sweep(|_, _| false).await.expect("a sweep");
    assert_eq!(raced, 0, "a failed precondition deletes nothing");
    assert_eq!(api.list("v1", "configmaps", Some("ripcord")).len(), 1);

    api.clear_requests();
    let deleted = snapshots
        .sweep(|namespace, check| (namespace, check) != ("shop", "checkout-7"))
        .await
        .expect("a sweep");
    assert_eq!(deleted, 1);
    let writes = api.writes();
    assert_eq!(writes.len(), 1, "{writes:?}");
    assert_eq!(
        (&writes[0].method, writes[0].path.as_str()),
        (&Method::DELETE, format!("{CONFIG_MAPS}/{NAME}").as_str())
    );
    let preconditions = &writes[0].json().expect("delete options")["preconditions"];
    assert_eq!(preconditions["uid"], uid);
    assert!(preconditions["resourceVersion"].is_string());
    assert!(api.list("v1", "configmaps", Some("ripcord")).is_empty());
    let (status, body) = get(address, "canary").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body:?}");
}

#[tokio::test]
async fn nothing_is_kept_when_no_previous_pod_answers() {
    let api = FakeApiServer::start().await.expect("fake API server");
    let snapshots = Snapshots::new(
        api.client().expect("a client"),
        SnapshotSettings::new("ripcord"),
    )
    .expect("snapshots");
    let peers = vec![Peer {
        pod: "checkout-6-gone".into(),
        url: dead_url().await,
    }];
    let record = snapshots.take("shop", "checkout-7", &peers, now_ms()).await;
    assert_eq!((record.pods_asked, record.pods_answered), (1, 0));
    assert_eq!((record.observations, record.config_map), (0, None));
    let message = record.message.expect("a reason");
    assert!(
        message.contains("no pod served a usable second"),
        "{message}"
    );
    let none = snapshots.take("shop", "checkout-8", &[], now_ms()).await;
    assert!(
        none.message
            .as_deref()
            .is_some_and(|m| m.contains("no previous-revision pod was running")),
        "{none:?}"
    );
    assert!(api.writes().is_empty(), "nothing to keep, nothing written");
}

#[tokio::test]
async fn a_replica_begins_each_checks_snapshot_once_until_the_check_is_swept() {
    let api = FakeApiServer::start().await.expect("fake API server");
    let snapshots = Snapshots::new(
        api.client().expect("a client"),
        SnapshotSettings::new("ripcord"),
    )
    .expect("snapshots");
    let shared = snapshots.clone();
    assert!(snapshots.begin("shop", "checkout-7"));
    assert!(
        !shared.begin("shop", "checkout-7"),
        "a second reconcile (the caches not showing the record yet) takes none"
    );
    assert!(
        snapshots.begin("shop", "checkout-8"),
        "another check's is its own"
    );
    snapshots.forget("shop", "checkout-7");
    assert!(
        snapshots.begin("shop", "checkout-7"),
        "a failed record is taken again"
    );
    snapshots
        .sweep(|_, check| check == "checkout-8")
        .await
        .expect("a sweep");
    assert!(
        snapshots.begin("shop", "checkout-7"),
        "a settled check is forgotten"
    );
    assert!(!snapshots.begin("shop", "checkout-8"), "an open one is not");
}
