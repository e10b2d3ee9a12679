//! The first release after Ripcord was enabled on a Deployment: its previous ReplicaSet was
//! created before the template carried `ripcord.dev/enabled`, so the label-selected watch never
//! caches it. The reconciler lists the Deployment's ReplicaSets once, by its selector, finds
//! that revision, opens the release's check as one without a live baseline (`Inconclusive`:
//! only an absolute-limit fail is acted on), and the new pods are canaries.

use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;
use http::Method;
use ripcord_controller::ops::leader::Leadership;
use ripcord_controller::ops::metrics::Metrics;
use ripcord_controller::reconcile::assign::AssignSettings;
use ripcord_controller::reconcile::cache::{Caches, Scope};
use ripcord_controller::reconcile::{self, Context};
use ripcord_fake_apiserver::FakeApiServer;
use ripcord_sidecar::assign::Role;
use serde_json::json;

const WAIT: Duration = Duration::from_secs(20);
const CANARY: &str = "checkout-59c4d7f8b6-aaaaa";

/// `history-basic.yaml` without its revision 2: the current revision 3 follows revision 1,
/// which has no `ripcord.dev/enabled` label.
fn enabled_after_revision_one() -> String {
    let text = std::fs::read_to_string(format!(
        "{}/../testdata/k8s/history-basic.yaml",
        env!("CARGO_MANIFEST_DIR")
    ))
    .expect("fixture");
    text.split("\n---\n")
        .filter(|document| !document.contains("name: checkout-7d8c96b5f4"))
        .collect::<Vec<_>>()
        .join("\n---\n")
}

/// The same, with the Deployment selecting its pods by an expression instead of `matchLabels`.
fn selected_by_expression() -> String {
    let text = enabled_after_revision_one();
    let by_labels = "  selector:\n    matchLabels:\n      app: checkout\n  strategy:";
    assert!(
        text.contains(by_labels),
        "the fixture's Deployment selector"
    );
    text.replacen(
        by_labels,
        "  selector:\n    matchExpressions:\n    - {key: app, operator: In, values: [checkout]}\n  strategy:",
        1,
    )
}

/// `count` ReplicaSets of another workload that shares the `app: checkout` label, named to
/// sort before the Deployment's own.
fn decoys(count: usize) -> String {
    (0..count)
        .map(|i| {
            format!(
                "---\napiVersion: apps/v1\nkind: ReplicaSet\nmetadata:\n  name: checkout-0decoy{i:03}\n  namespace: shop\n  labels: {{app: checkout}}\n  annotations: {{deployment.kubernetes.io/revision: '1'}}\nspec:\n  selector: {{matchLabels: {{app: checkout}}}}\n  template:\n    metadata: {{labels: {{app: checkout}}}}\n    spec: {{containers: [{{name: c, image: other}}]}}\n"
            )
        })
        .collect()
}

#[tokio::test]
async fn the_release_after_enabling_ripcord_finds_its_unlabelled_previous_revision() {
    finds_the_unlabelled_previous_revision(&enabled_after_revision_one(), "app%3Dcheckout", 1)
        .await;
}

#[tokio::test]
async fn a_deployment_selecting_by_expression_is_listed_by_that_expression() {
    finds_the_unlabelled_previous_revision(&selected_by_expression(), "app+in+%28checkout%29", 1)
        .await;
}

#[tokio::test]
async fn a_selector_shared_with_other_workloads_is_listed_page_by_page() {
    let fixture = format!("{}\n{}", enabled_after_revision_one(), decoys(150));
    finds_the_unlabelled_previous_revision(&fixture, "app%3Dcheckout", 2).await;
}

/// Runs the reconciler on `fixture` and checks that the release's check found revision 1 by
/// listing in `pages` requests whose query contains `selector_query` (URL-encoded).
async fn finds_the_unlabelled_previous_revision(fixture: &str, selector_query: &str, pages: usize) {
    let server = FakeApiServer::start().await.expect("fake API server");
    server.seed_yaml(fixture).expect("fixture");
    server
        .insert(json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": CANARY, "namespace": "shop", "uid": "uid-canary",
                "labels": {"app": "checkout", "ripcord.dev/enabled": "true",
                    "pod-template-hash": "59c4d7f8b6"},
                "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet",
                    "name": "checkout-59c4d7f8b6",
                    "uid": "a103c7e2-51d0-4f7e-8b3a-2c9d00000003", "controller": true}]},
            "spec": {"containers": [{"name": "checkout", "image": "ghcr.io/example/checkout"}]},
            "status": {"phase": "Running", "podIP": "10.0.0.30"}
        }))
        .expect("pod stored");
    let client = server.client().expect("client");
    let (caches, streams) = Caches::watch(&client, &Scope::Namespaces(vec!["shop".into()]));
    let context = Arc::new(Context {
        client,
        caches,
        leadership: Leadership::always(),
        metrics: Arc::new(Metrics::new()),
        assign: AssignSettings::default(),
        snapshots: None,
        earlier: Default::default(),
        warned: Default::default(),
    });
    let (stop, mut stopped) = tokio::sync::watch::channel(false);
    let shutdown = async move {
        let _ = stopped.wait_for(|stop| *stop).await;
    }
    .boxed()
    .shared();
    tokio::spawn(reconcile::run(Arc::clone(&context), streams, shutdown));

    let check = server
        .wait_until(WAIT, |s| {
            let check = s.object(
                "ripcord.dev/v1alpha1",
                "releasechecks",
                Some("shop"),
                "checkout-3",
            )?;
            check["status"]["phase"].is_string().then_some(check)
        })
        .await
        .expect("the release's check was opened");
    assert_eq!(check["spec"]["previous"]["revision"], 1);
    assert_eq!(check["status"]["phase"], "Inconclusive");
    let message = check["status"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("absolute limits"), "{message}");

    let lists: Vec<_> = server
        .requests()
        .into_iter()
        .filter(|r| {
            r.method == Method::GET
                && r.path == "/apis/apps/v1/namespaces/shop/replicasets"
                && r.query
                    .as_deref()
                    .is_some_and(|q| q.contains(selector_query))
        })
        .collect();
    assert_eq!(
        lists.len(),
        pages,
        "one listing by the Deployment's selector, in pages of 100"
    );

    let assignment = context.assignment("shop", CANARY);
    assert_eq!(assignment.role, Role::Canary);
    assert!(assignment.baseline.peers.is_empty(), "no sidecar to ask");
    let _ = stop.send(true);
}
