//! Shared set-up of the controller's integration tests: a fake API server seeded with a real
//! Deployment history and a ReleaseCheck, recorded sidecar verdicts, and a local webhook that
//! counts notifications.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use http::{Method, Request, Response};
use http_body_util::Full;
use kube::api::{Api, Patch, PatchParams, PostParams};
use ripcord_controller::crd::{
    Mode, Phase, PolicySnapshot, PreviousRevision, RegressionStep, ReleaseCheck, ReleaseCheckSpec,
    ReleaseCheckStatus,
};
use ripcord_controller::http::{HttpClient, HttpLimits};
use ripcord_controller::notify::{Notifier, WebhookUrl};
use ripcord_fake_apiserver::{FakeApiServer, LoggedRequest};
use ripcord_sidecar::report::{Release, VerdictReport};
use ripcord_sidecar::verdict::Verdict;

/// The failing revision's `pod-template-hash` in `testdata/k8s/history-basic.yaml`.
pub(crate) const FAILED_HASH: &str = "59c4d7f8b6";
/// The previous revision's `pod-template-hash` there.
pub(crate) const PREVIOUS_HASH: &str = "7d8c96b5f4";
/// The path of the Deployment there.
pub(crate) const DEPLOYMENT_PATH: &str = "/apis/apps/v1/namespaces/shop/deployments/checkout";

fn repo_path(relative: &str) -> String {
    format!("{}/../{relative}", env!("CARGO_MANIFEST_DIR"))
}

/// A recorded verdict of the sidecar (`testdata/verdicts/{name}.json`).
pub(crate) fn verdict(name: &str) -> Verdict {
    let text = std::fs::read_to_string(repo_path(&format!("testdata/verdicts/{name}.json")))
        .expect("recorded verdict present");
    serde_json::from_str(&text).expect("a verdict")
}

/// A report of revision 3 of shop/checkout from `pod`, numbered `sequence`, carrying the
/// recorded verdict `name`.
pub(crate) fn report(pod: &str, sequence: u64, name: &str) -> VerdictReport {
    VerdictReport::new(
        Release {
            namespace: "shop".to_string(),
            deployment: "checkout".to_string(),
            revision: "3".to_string(),
            pod: pod.to_string(),
        },
        sequence,
        verdict(name),
    )
}

/// A failing report (errors regressed) from `pod`.
pub(crate) fn fail_report(pod: &str, sequence: u64) -> VerdictReport {
    report(pod, sequence, "errors")
}

/// A fake API server holding shop/checkout with three revisions and the ReleaseCheck of the
/// third, watching.
pub(crate) struct World {
    pub(crate) server: FakeApiServer,
}

impl World {
    /// Starts the server and seeds it; `steps` and `mode` are the release's policy.
    pub(crate) async fn start(steps: Vec<RegressionStep>, mode: Mode) -> World {
        World::start_from("history-basic.yaml", steps, mode).await
    }

    /// Starts the server and seeds it with `testdata/k8s/{fixture}` and the check of
    /// revision 3.
    pub(crate) async fn start_from(fixture: &str, steps: Vec<RegressionStep>, mode: Mode) -> World {
        let server = FakeApiServer::start()
            .await
            .expect("fake API server starts");
        server
            .seed_file(repo_path(&format!("testdata/k8s/{fixture}")))
            .expect("fixture seeds");
        let world = World { server };
        world.create_check(steps, mode).await;
        world.server.clear_requests();
        world
    }

    /// A client of the server.
    pub(crate) fn client(&self) -> kube::Client {
        self.server.client().expect("client")
    }

    async fn create_check(&self, steps: Vec<RegressionStep>, mode: Mode) {
        let api: Api<ReleaseCheck> = Api::namespaced(self.client(), "shop");
        let flag = steps
            .contains(&RegressionStep::Flag)
            .then(|| "openfeature://shop/checkout-flags/new-checkout".to_string());
        let mut check = ReleaseCheck::new(
            "checkout-3",
            ReleaseCheckSpec {
                deployment: "checkout".to_string(),
                revision: 3,
                template_hash: FAILED_HASH.to_string(),
                previous: Some(PreviousRevision {
                    revision: 2,
                    template_hash: PREVIOUS_HASH.to_string(),
                }),
                policy: PolicySnapshot {
                    on_regression: steps,
                    flag,
                    mode,
                    watch: ripcord_sidecar::demo::DEMO_SPEC.to_string(),
                    watch_for_seconds: 1800,
                },
            },
        );
        check.metadata.namespace = Some("shop".to_string());
        api.create(&PostParams::default(), &check)
            .await
            .expect("check created");
        let status = ReleaseCheckStatus {
            phase: Some(Phase::Watching),
            ..ReleaseCheckStatus::default()
        };
        api.patch_status(
            "checkout-3",
            &PatchParams::default(),
            &Patch::Merge(serde_json::json!({ "status": status })),
        )
        .await
        .expect("status set");
    }

    /// The ReleaseCheck as stored now.
    pub(crate) fn check(&self) -> ReleaseCheck {
        let value = self
            .server
            .object(
                "ripcord.dev/v1alpha1",
                "releasechecks",
                Some("shop"),
                "checkout-3",
            )
            .expect("the check exists");
        serde_json::from_value(value).expect("a ReleaseCheck")
    }

    /// The Deployment as stored now.
    pub(crate) fn deployment(&self) -> serde_json::Value {
        self.server
            .object("apps/v1", "deployments", Some("shop"), "checkout")
            .expect("the Deployment exists")
    }

    /// Every write request that reached the Deployment.
    pub(crate) fn deployment_patches(&self) -> Vec<LoggedRequest> {
        self.server
            .writes()
            .into_iter()
            .filter(|r| r.method == Method::PATCH && r.path == DEPLOYMENT_PATH)
            .collect()
    }

    /// Asserts the Deployment runs revision 2's template again, with Ripcord's records.
    pub(crate) fn assert_rolled_back_to_revision_2(&self) {
        let deployment = self.deployment();
        let template = &deployment["spec"]["template"];
        assert_eq!(
            template["spec"]["containers"][0]["image"],
            "ghcr.io/example/checkout:v1.4.1"
        );
        assert!(template["metadata"]["labels"]["pod-template-hash"].is_null());
        assert_eq!(
            deployment["metadata"]["annotations"]["ripcord.dev/rolled-back-from"],
            FAILED_HASH
        );
    }
}

/// A local Slack-compatible webhook that counts what it receives.
pub(crate) struct Hook {
    url: String,
    received: Arc<AtomicUsize>,
    _server: tokio::task::JoinHandle<()>,
}

impl Hook {
    /// Starts the webhook on a loopback port.
    pub(crate) async fn start() -> Hook {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}/hook", listener.local_addr().expect("address"));
        let received = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&received);
        let service = tower::service_fn(move |request: Request<hyper::body::Incoming>| {
            if request.method() == Method::POST {
                counter.fetch_add(1, Ordering::SeqCst);
            }
            async { Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(b"ok")))) }
        });
        let server = tokio::spawn(ripcord_controller::ops::server::serve(
            listener,
            None,
            service,
            std::future::pending(),
        ));
        Hook {
            url,
            received,
            _server: server,
        }
    }

    /// A notifier posting to this webhook.
    pub(crate) fn notifier(&self) -> Notifier {
        let http = HttpClient::new(HttpLimits::default(), None).expect("client");
        Notifier::new(http, WebhookUrl::Fixed(self.url.parse().expect("a URL")))
    }

    /// How many notifications arrived.
    pub(crate) fn count(&self) -> usize {
        self.received.load(Ordering::SeqCst)
    }
}
