//! Turning an OpenFeature `FeatureFlag` off through the Kubernetes API, against a mock API server
//! (kube-rs's `tower-test` pattern): the GET, then a JSON merge patch carrying the read
//! `resourceVersion`; on a 409 the flag is read again, so two writers give one change.

use http::{Method, Request, Response, StatusCode};
use kube::client::Body;
use serde_json::{Value, json};
use tower_test::mock::{Handle, pair};

use ripcord_controller::flags::Credentials;
use ripcord_controller::flags::{FlagError, FlagFlipper, FlagUrl, FlipContext, FlipOutcome};
use ripcord_controller::http::{Disposition, HttpClient, HttpLimits};
use ripcord_sidecar::report::Release;

const PATH: &str =
    "/apis/core.openfeature.dev/v1beta1/namespaces/checkout/featureflags/checkout-flags";

fn fixture() -> Value {
    let text = include_str!("../../testdata/flags/featureflag-checkout.yaml");
    serde_yaml::from_str(text).expect("the fixture is YAML")
}

/// The fixture after another writer turned `new-checkout` off.
fn already_off() -> Value {
    let mut object = fixture();
    let flag = &mut object["spec"]["flagSpec"]["flags"]["new-checkout"];
    flag["defaultVariant"] = "off".into();
    flag.as_object_mut().expect("flag").remove("targeting");
    object["metadata"]["resourceVersion"] = "918300".into();
    object
}

fn flipper(handle_pair: tower_test::mock::Mock<Request<Body>, Response<Body>>) -> FlagFlipper {
    let client = kube::Client::new(handle_pair, "default");
    let http = HttpClient::new(HttpLimits::default(), None).expect("client");
    FlagFlipper::new(http, Credentials::new("/nonexistent")).with_kube(client)
}

fn context() -> FlipContext {
    FlipContext {
        release: Release {
            namespace: "checkout".to_string(),
            deployment: "checkout".to_string(),
            revision: "7".to_string(),
            pod: "checkout-7-abcde".to_string(),
        },
        release_check: "checkout-7".to_string(),
        reason: "errors regressed".to_string(),
    }
}

fn flag() -> FlagUrl {
    "openfeature://checkout/checkout-flags/new-checkout"
        .parse()
        .expect("flag URL")
}

fn json_response(status: StatusCode, body: &Value) -> Response<Body> {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Body::from(serde_json::to_vec(body).expect("json")))
        .expect("response")
}

fn status(code: u16, reason: &str) -> Value {
    json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
           "message": format!("{reason} (test)"), "reason": reason, "code": code})
}

/// Answers the next request, which must be a GET of the FeatureFlag, with `answer`.
async fn expect_get(
    handle: &mut Handle<Request<Body>, Response<Body>>,
    code: StatusCode,
    answer: &Value,
) {
    let (request, send) = handle.next_request().await.expect("a GET");
    assert_eq!(request.method(), Method::GET);
    assert_eq!(request.uri().path(), PATH);
    send.send_response(json_response(code, answer));
}

/// Takes the next request, which must be a merge PATCH of the FeatureFlag; returns its body.
async fn expect_patch(
    handle: &mut Handle<Request<Body>, Response<Body>>,
    code: StatusCode,
    answer: &Value,
) -> Value {
    let (request, send) = handle.next_request().await.expect("a PATCH");
    assert_eq!(request.method(), Method::PATCH);
    assert_eq!(request.uri().path(), PATH);
    assert!(
        request
            .uri()
            .query()
            .unwrap_or_default()
            .contains("fieldManager=ripcord"),
        "{}",
        request.uri()
    );
    assert_eq!(
        request
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("application/merge-patch+json")
    );
    let body = request.into_body().collect_bytes().await.expect("body");
    send.send_response(json_response(code, answer));
    serde_json::from_slice(&body).expect("a JSON patch")
}

#[tokio::test]
async fn the_flag_is_patched_to_its_off_variant_with_a_resource_version_precondition() {
    let (service, mut handle) = pair::<Request<Body>, Response<Body>>();
    let server = tokio::spawn(async move {
        expect_get(&mut handle, StatusCode::OK, &fixture()).await;
        expect_patch(&mut handle, StatusCode::OK, &already_off()).await
    });
    let outcome = flipper(service)
        .turn_off(&flag(), &context())
        .await
        .expect("turned off");
    assert_eq!(outcome, FlipOutcome::Done);
    let patch = server.await.expect("the mock server ran");
    assert_eq!(
        patch,
        json!({
            "metadata": {"resourceVersion": "918273"},
            "spec": {"flagSpec": {"flags": {"new-checkout": {"defaultVariant": "off", "targeting": null}}}}
        })
    );
}

#[tokio::test]
async fn a_conflict_rereads_and_finds_the_flag_already_off() {
    let (service, mut handle) = pair::<Request<Body>, Response<Body>>();
    let server = tokio::spawn(async move {
        expect_get(&mut handle, StatusCode::OK, &fixture()).await;
        expect_patch(&mut handle, StatusCode::CONFLICT, &status(409, "Conflict")).await;
        expect_get(&mut handle, StatusCode::OK, &already_off()).await;
        handle
    });
    let outcome = flipper(service)
        .turn_off(&flag(), &context())
        .await
        .expect("fine");
    assert_eq!(
        outcome,
        FlipOutcome::AlreadyOff,
        "another writer won: no second patch"
    );
    let mut handle = server.await.expect("the mock server ran");
    let next =
        tokio::time::timeout(std::time::Duration::from_millis(50), handle.next_request()).await;
    assert!(!matches!(next, Ok(Some(_))), "no further request");
}

#[tokio::test]
async fn endless_conflicts_back_off_and_a_missing_object_gives_up() {
    let (service, mut handle) = pair::<Request<Body>, Response<Body>>();
    let server = tokio::spawn(async move {
        for _ in 0..3 {
            expect_get(&mut handle, StatusCode::OK, &fixture()).await;
            expect_patch(&mut handle, StatusCode::CONFLICT, &status(409, "Conflict")).await;
        }
        expect_get(&mut handle, StatusCode::NOT_FOUND, &status(404, "NotFound")).await;
    });
    let flipper = flipper(service);
    let error = flipper
        .turn_off(&flag(), &context())
        .await
        .expect_err("conflicts");
    assert!(
        matches!(error, FlagError::Conflict { attempts: 3, .. }),
        "{error}"
    );
    assert_eq!(error.disposition(), Disposition::BackOff);
    let error = flipper
        .turn_off(&flag(), &context())
        .await
        .expect_err("not found");
    assert!(matches!(error, FlagError::Kube { .. }), "{error}");
    assert_eq!(error.disposition(), Disposition::GiveUp, "{error}");
    server.await.expect("the mock server ran");
}
