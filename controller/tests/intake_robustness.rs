//! Robustness of the verdict intake against hostile bodies from an authenticated pod: arbitrary
//! bytes and mutated real reports never panic, always get one of the documented answers, and
//! reach the acting part only when answered 202. Property tests stand in for a fuzz target.

use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Full};
use proptest::prelude::*;
use ripcord_controller::intake::{
    AcceptedVerdict, InMemoryDirectory, Intake, PodMembership, VERDICTS_PATH,
};
use ripcord_controller::ops::metrics::Metrics;
use ripcord_fake_apiserver::{FakeApiServer, TokenIdentity};
use ripcord_sidecar::report::{Release, VerdictReport};
use ripcord_sidecar::verdict::{Decision, VERDICT_VERSION, Verdict};
use tokio::sync::{Mutex, mpsc};
use tower::ServiceExt;

struct Fixture {
    runtime: tokio::runtime::Runtime,
    intake: Intake,
    verdicts: Mutex<mpsc::Receiver<AcceptedVerdict>>,
    _api: FakeApiServer,
}

/// One intake (and fake API server) for every case, on a runtime that outlives them.
fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("a runtime");
        let (intake, verdicts, api) = runtime.block_on(async {
            let api = FakeApiServer::start().await.expect("fake API server");
            api.add_token(
                "canary",
                TokenIdentity::pod("shop", "checkout-7-abc", "checkout", &["ripcord"]),
            );
            let directory = Arc::new(InMemoryDirectory::new());
            directory.add_pod(
                "shop",
                "checkout-7-abc",
                PodMembership {
                    deployment: "checkout".into(),
                    revision: "7".into(),
                    pod_template_hash: None,
                    uid: None,
                },
            );
            let (sender, verdicts) = mpsc::channel(1024);
            let intake = Intake::new(
                api.client().expect("kube client"),
                directory.clone(),
                directory,
                sender,
                Arc::new(Metrics::new()),
            );
            (intake, verdicts, api)
        });
        Fixture {
            runtime,
            intake,
            verdicts: Mutex::new(verdicts),
            _api: api,
        }
    })
}

fn valid_report(sequence: u64) -> Vec<u8> {
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
        pod: "checkout-7-abc".into(),
    };
    VerdictReport::new(release, sequence, verdict)
        .to_body()
        .expect("a report body")
}

/// Sends `body` from the authenticated canary pod; the status, and whether a verdict arrived.
/// The two properties run in parallel on one shared intake, so each submission and its look at
/// the channel happen as one turn; otherwise one test could receive the other's verdict.
fn submit(body: Vec<u8>) -> (StatusCode, bool) {
    static TURN: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _turn = TURN
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let fixture = fixture();
    fixture.runtime.block_on(async {
        let request = Request::post(VERDICTS_PATH)
            .header("authorization", "Bearer canary")
            .body(Full::new(Bytes::from(body)))
            .expect("a request");
        let response = fixture
            .intake
            .clone()
            .oneshot(request)
            .await
            .expect("infallible");
        let status = response.status();
        let body = response
            .into_body()
            .collect()
            .await
            .expect("a body")
            .to_bytes();
        assert!(
            serde_json::from_slice::<serde_json::Value>(&body).is_ok(),
            "every answer is JSON"
        );
        let delivered = fixture.verdicts.lock().await.try_recv().is_ok();
        (status, delivered)
    })
}

fn check(status: StatusCode, delivered: bool) -> Result<(), TestCaseError> {
    prop_assert!(
        [
            StatusCode::ACCEPTED,
            StatusCode::BAD_REQUEST,
            StatusCode::FORBIDDEN,
            StatusCode::CONFLICT,
            StatusCode::PAYLOAD_TOO_LARGE,
        ]
        .contains(&status),
        "unexpected {status}"
    );
    prop_assert_eq!(delivered, status == StatusCode::ACCEPTED);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    #[test]
    fn arbitrary_bytes_are_refused_cleanly(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
        let (status, delivered) = submit(bytes);
        check(status, delivered)?;
    }

    #[test]
    fn mutated_reports_are_answered_cleanly(
        sequence in 1_000u64..1_000_000_000,
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..6),
        cut in any::<prop::sample::Index>(),
        truncate in any::<bool>(),
    ) {
        let mut body = valid_report(sequence);
        for (at, byte) in flips {
            let index = at.index(body.len());
            body[index] = byte;
        }
        if truncate {
            body.truncate(cut.index(body.len()));
        }
        let (status, delivered) = submit(body);
        check(status, delivered)?;
    }
}
