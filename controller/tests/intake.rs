//! The verdict intake served through `ops::server::serve`, with TokenReviews answered by the
//! fake API server: every refusal answers the right status, sends nothing to the acting part and
//! makes no API write (the only API request is the TokenReview); a good verdict is delivered.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use ripcord_controller::intake::{
    ASSIGNMENT_PATH, AcceptedVerdict, InMemoryDirectory, Intake, PodMembership, VERDICTS_PATH,
};
use ripcord_controller::ops::metrics::Metrics;
use ripcord_controller::ops::server::serve;
use ripcord_fake_apiserver::{FakeApiServer, TokenIdentity};
use ripcord_sidecar::assign::{Assignment, Role};
use ripcord_sidecar::report::{MAX_REPORT_BYTES, Release, VerdictReport};
use ripcord_sidecar::verdict::{Decision, VERDICT_VERSION, Verdict};
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot};

const TOKEN_REVIEWS: &str = "/apis/authentication.k8s.io/v1/tokenreviews";

struct Harness {
    api: FakeApiServer,
    directory: Arc<InMemoryDirectory>,
    metrics: Arc<Metrics>,
    verdicts: mpsc::Receiver<AcceptedVerdict>,
    address: SocketAddr,
    _stop: oneshot::Sender<()>,
}

async fn harness(queue: usize) -> Harness {
    let api = FakeApiServer::start().await.expect("fake API server");
    for (token, namespace, pod, audience) in [
        ("canary", "shop", "checkout-7-abc", "ripcord"),
        ("old", "shop", "checkout-6-old", "ripcord"),
        ("cart", "cart", "checkout-7-abc", "ripcord"),
        (
            "api-audience",
            "shop",
            "checkout-7-abc",
            "https://kubernetes.default.svc.cluster.local",
        ),
    ] {
        api.add_token(
            token,
            TokenIdentity::pod(namespace, pod, "checkout", &[audience]),
        );
    }
    let directory = Arc::new(InMemoryDirectory::new());
    let member = |revision: &str, hash: &str| PodMembership {
        deployment: "checkout".into(),
        revision: revision.into(),
        pod_template_hash: Some(hash.into()),
        uid: None,
    };
    directory.add_pod("shop", "checkout-7-abc", member("7", "7c9d5b"));
    directory.add_pod("shop", "checkout-6-old", member("6", "6a1f2e"));
    let metrics = Arc::new(Metrics::new());
    let (sender, verdicts) = mpsc::channel(queue);
    let intake = Intake::new(
        api.client().expect("kube client"),
        directory.clone(),
        directory.clone(),
        sender,
        metrics.clone(),
    );
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("a port");
    let address = listener.local_addr().expect("an address");
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(serve(listener, None, intake, async {
        let _ = stopped.await;
    }));
    Harness {
        api,
        directory,
        metrics,
        verdicts,
        address,
        _stop: stop,
    }
}

fn release(namespace: &str, pod: &str, revision: &str) -> Release {
    Release {
        namespace: namespace.into(),
        deployment: "checkout".into(),
        revision: revision.into(),
        pod: pod.into(),
    }
}

fn report(release: Release, sequence: u64) -> Bytes {
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
    Bytes::from(
        VerdictReport::new(release, sequence, verdict)
            .to_body()
            .expect("a body"),
    )
}

fn canary_report(sequence: u64) -> Bytes {
    report(release("shop", "checkout-7-abc", "7"), sequence)
}

struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: Value,
}

async fn send(
    address: SocketAddr,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: Bytes,
) -> Answer {
    let stream = tokio::net::TcpStream::connect(address)
        .await
        .expect("connects");
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .expect("handshake");
    tokio::spawn(connection);
    let mut request = Request::builder()
        .method(method)
        .uri(path)
        .header("host", "ripcord");
    if let Some(token) = token {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    let request = request.body(Full::new(body)).expect("a request");
    let response = sender.send_request(request).await.expect("an answer");
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("a body")
        .to_bytes();
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    Answer {
        status,
        headers,
        body,
    }
}

async fn post(h: &Harness, token: Option<&str>, body: Bytes) -> Answer {
    send(h.address, Method::POST, VERDICTS_PATH, token, body).await
}

/// Nothing reached the acting part, and the API server saw at most TokenReviews.
fn assert_nothing_happened(h: &mut Harness) {
    assert!(
        h.verdicts.try_recv().is_err(),
        "a refused verdict was delivered"
    );
    assert!(
        h.api.writes().is_empty(),
        "API writes: {:?}",
        h.api.writes()
    );
    for request in h.api.requests() {
        assert_eq!(
            (request.method, request.path.as_str()),
            (Method::POST, TOKEN_REVIEWS)
        );
    }
}

fn refused_count(h: &Harness, reason: &str) -> String {
    let text = h.metrics.encode().expect("metrics encode");
    let prefix = format!("ripcord_controller_verdicts_refused_total{{reason=\"{reason}\"}} ");
    text.lines()
        .find_map(|line| line.strip_prefix(&prefix).map(str::to_string))
        .unwrap_or_else(|| "absent".to_string())
}

#[tokio::test]
async fn a_good_verdict_is_accepted_and_delivered() {
    let mut h = harness(8).await;
    let answer = post(&h, Some("canary"), canary_report(1)).await;
    assert_eq!(answer.status, StatusCode::ACCEPTED, "{}", answer.body);
    let delivered = h.verdicts.try_recv().expect("delivered");
    assert_eq!(delivered.report.sequence, 1);
    assert_eq!(
        delivered.report.release,
        release("shop", "checkout-7-abc", "7")
    );
    assert_eq!(delivered.caller.qualified(), "shop/checkout-7-abc");
    assert!(
        delivered.caller.pod_uid.is_some(),
        "the review names the pod's uid"
    );
    let reviews = h.api.requests();
    assert_eq!(reviews.len(), 1);
    let review = reviews[0].json().expect("a review body");
    assert_eq!(review["spec"]["token"], "canary");
    assert_eq!(review["spec"]["audiences"], serde_json::json!(["ripcord"]));
    assert!(h.api.writes().is_empty());
    let text = h.metrics.encode().expect("metrics encode");
    assert!(
        text.contains("ripcord_controller_verdicts_total{decision=\"fail\"} 1"),
        "{text}"
    );
}

#[tokio::test]
async fn a_recent_review_is_reused_for_the_same_token() {
    let mut h = harness(8).await;
    for sequence in 1..=3 {
        let answer = post(&h, Some("canary"), canary_report(sequence)).await;
        assert_eq!(answer.status, StatusCode::ACCEPTED, "{}", answer.body);
    }
    assert_eq!(
        h.api.requests().len(),
        1,
        "one TokenReview for three reports"
    );
    let sequences: Vec<u64> = std::iter::from_fn(|| h.verdicts.try_recv().ok())
        .map(|accepted| accepted.report.sequence)
        .collect();
    assert_eq!(sequences, [1, 2, 3]);
}

#[tokio::test]
async fn a_release_named_by_its_pod_template_hash_is_accepted() {
    let mut h = harness(8).await;
    let answer = post(
        &h,
        Some("canary"),
        report(release("shop", "checkout-7-abc", "7c9d5b"), 1),
    )
    .await;
    assert_eq!(answer.status, StatusCode::ACCEPTED, "{}", answer.body);
    assert!(h.verdicts.try_recv().is_ok());
}

#[tokio::test]
async fn a_forged_or_missing_token_is_unauthenticated() {
    let mut h = harness(8).await;
    for token in [Some("forged"), Some("api-audience"), None] {
        let answer = post(&h, token, canary_report(1)).await;
        assert_eq!(
            answer.status,
            StatusCode::UNAUTHORIZED,
            "{token:?}: {}",
            answer.body
        );
        assert_eq!(
            answer.headers.get("www-authenticate").map(|v| v.as_bytes()),
            Some(&b"Bearer"[..])
        );
        assert_eq!(answer.body["code"], "unauthenticated");
    }
    assert_eq!(h.api.requests().len(), 2, "no review without a token");
    assert_eq!(refused_count(&h, "unauthenticated"), "3");
    assert_nothing_happened(&mut h);
}

#[tokio::test]
async fn a_pod_of_another_release_or_namespace_is_forbidden() {
    let mut h = harness(8).await;
    let cases = [
        // A pod of revision 6 reporting as itself about revision 7.
        (
            "old",
            release("shop", "checkout-6-old", "7"),
            "not_in_release",
        ),
        // A pod of revision 6 speaking for a pod of revision 7.
        ("old", release("shop", "checkout-7-abc", "7"), "other_pod"),
        // The same pod name in another namespace.
        ("cart", release("shop", "checkout-7-abc", "7"), "other_pod"),
        // A pod of another namespace reporting as itself: unknown to the controller.
        (
            "cart",
            release("cart", "checkout-7-abc", "7"),
            "not_in_release",
        ),
    ];
    for (token, claimed, code) in cases {
        let answer = post(&h, Some(token), report(claimed.clone(), 1)).await;
        assert_eq!(
            answer.status,
            StatusCode::FORBIDDEN,
            "{token} for {claimed:?}: {}",
            answer.body
        );
        assert_eq!(answer.body["code"], code, "{token} for {claimed:?}");
    }
    assert_eq!(refused_count(&h, "forbidden"), "4");
    assert_nothing_happened(&mut h);
}

#[tokio::test]
async fn an_oversized_body_is_refused_unread() {
    let mut h = harness(8).await;
    let answer = post(
        &h,
        Some("canary"),
        Bytes::from(vec![b' '; MAX_REPORT_BYTES + 1]),
    )
    .await;
    assert_eq!(
        answer.status,
        StatusCode::PAYLOAD_TOO_LARGE,
        "{}",
        answer.body
    );
    assert_eq!(refused_count(&h, "too_large"), "1");
    assert!(
        h.api.requests().is_empty(),
        "refused before any TokenReview"
    );
    assert_nothing_happened(&mut h);
}

#[tokio::test]
async fn a_malformed_body_is_refused_with_the_reason() {
    let mut h = harness(8).await;
    for body in [&b"{"[..], b"[]", b"{\"version\":\"ripcord.dev/report/v9\"}"] {
        let answer = post(&h, Some("canary"), Bytes::copy_from_slice(body)).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{}", answer.body);
        assert_eq!(answer.body["code"], "malformed");
        assert!(
            answer.body["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty())
        );
    }
    let versioned = post(
        &h,
        Some("canary"),
        Bytes::from_static(b"{\"version\":\"ripcord.dev/report/v9\"}"),
    )
    .await;
    assert!(
        versioned.body["message"]
            .as_str()
            .is_some_and(|m| m.contains("ripcord.dev/report/v9")),
        "{}",
        versioned.body
    );
    assert_eq!(refused_count(&h, "malformed"), "4");
    assert_nothing_happened(&mut h);
}

#[tokio::test]
async fn a_replayed_sequence_is_a_conflict() {
    let mut h = harness(8).await;
    assert_eq!(
        post(&h, Some("canary"), canary_report(5)).await.status,
        StatusCode::ACCEPTED
    );
    assert_eq!(
        h.verdicts
            .try_recv()
            .expect("the first is delivered")
            .report
            .sequence,
        5
    );
    h.api.clear_requests();
    for sequence in [5, 4] {
        let answer = post(&h, Some("canary"), canary_report(sequence)).await;
        assert_eq!(answer.status, StatusCode::CONFLICT, "{}", answer.body);
        assert_eq!(answer.body["code"], "replayed");
    }
    assert_eq!(refused_count(&h, "replayed"), "2");
    assert_nothing_happened(&mut h);
    assert_eq!(
        post(&h, Some("canary"), canary_report(6)).await.status,
        StatusCode::ACCEPTED
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copies_of_one_report_sent_at_once_are_accepted_once() {
    let mut h = harness(64).await;
    // Warm the review cache so the copies race on the sequence check, not on the review.
    assert_eq!(
        post(&h, Some("canary"), canary_report(1)).await.status,
        StatusCode::ACCEPTED
    );
    let copies: Vec<_> = (0..20)
        .map(|_| {
            tokio::spawn(send(
                h.address,
                Method::POST,
                VERDICTS_PATH,
                Some("canary"),
                canary_report(2),
            ))
        })
        .collect();
    let mut statuses = Vec::new();
    for copy in copies {
        statuses.push(copy.await.expect("a client task").status);
    }
    let accepted = statuses
        .iter()
        .filter(|s| **s == StatusCode::ACCEPTED)
        .count();
    let replayed = statuses
        .iter()
        .filter(|s| **s == StatusCode::CONFLICT)
        .count();
    assert_eq!((accepted, replayed), (1, 19), "{statuses:?}");
    let delivered: Vec<u64> = std::iter::from_fn(|| h.verdicts.try_recv().ok())
        .map(|accepted| accepted.report.sequence)
        .collect();
    assert_eq!(delivered, [1, 2]);
}

#[tokio::test]
async fn a_verdict_for_a_rolled_back_release_is_a_conflict() {
    let mut h = harness(8).await;
    h.directory.close(
        "shop",
        "checkout",
        "7",
        "rolled back to revision 6 at 12:00:03",
    );
    let answer = post(&h, Some("canary"), canary_report(1)).await;
    assert_eq!(answer.status, StatusCode::CONFLICT, "{}", answer.body);
    assert_eq!(answer.body["code"], "release_closed");
    assert!(
        answer.body["message"]
            .as_str()
            .is_some_and(|m| m.contains("rolled back to revision 6"))
    );
    assert_eq!(refused_count(&h, "replayed"), "1");
    assert_nothing_happened(&mut h);
}

#[tokio::test]
async fn a_full_queue_answers_retry_later_and_keeps_the_sequence_usable() {
    let mut h = harness(1).await;
    assert_eq!(
        post(&h, Some("canary"), canary_report(1)).await.status,
        StatusCode::ACCEPTED
    );
    let answer = post(&h, Some("canary"), canary_report(2)).await;
    assert_eq!(
        answer.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        answer.body
    );
    assert_eq!(
        answer.headers.get("retry-after").map(|v| v.as_bytes()),
        Some(&b"1"[..])
    );
    assert_eq!(refused_count(&h, "overloaded"), "1");
    assert_eq!(h.verdicts.try_recv().expect("the first").report.sequence, 1);
    assert!(
        h.verdicts.try_recv().is_err(),
        "the refused one was not queued"
    );
    let retried = post(&h, Some("canary"), canary_report(2)).await;
    assert_eq!(
        retried.status,
        StatusCode::ACCEPTED,
        "a refused sequence may be sent again"
    );
}

#[tokio::test]
async fn the_assignment_is_served_to_the_authenticated_pod() {
    let h = harness(8).await;
    let mut canary = Assignment::idle();
    canary.role = Role::Canary;
    canary.release = Some(release("shop", "checkout-7-abc", "7"));
    canary.release_check = Some("checkout-7".into());
    h.directory.assign("shop", "checkout-7-abc", canary.clone());
    let answer = send(
        h.address,
        Method::GET,
        ASSIGNMENT_PATH,
        Some("canary"),
        Bytes::new(),
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK);
    let served: Assignment = serde_json::from_value(answer.body).expect("an assignment");
    assert_eq!(served, canary);
    let unknown = send(
        h.address,
        Method::GET,
        ASSIGNMENT_PATH,
        Some("old"),
        Bytes::new(),
    )
    .await;
    let served: Assignment = serde_json::from_value(unknown.body).expect("an assignment");
    assert_eq!(served, Assignment::idle());
    let forged = send(
        h.address,
        Method::GET,
        ASSIGNMENT_PATH,
        Some("forged"),
        Bytes::new(),
    )
    .await;
    assert_eq!(forged.status, StatusCode::UNAUTHORIZED);
    let wrong_method = send(
        h.address,
        Method::GET,
        VERDICTS_PATH,
        Some("canary"),
        Bytes::new(),
    )
    .await;
    assert_eq!(wrong_method.status, StatusCode::METHOD_NOT_ALLOWED);
    assert!(h.api.writes().is_empty());
}
