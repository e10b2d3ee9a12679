//! End to end, in a real cluster: install the chart, release a healthy then a regressing
//! version of the demo app, and check that Ripcord rolled the regression back, with the
//! ReleaseCheck and the Events to show for it.
//!
//! Needs a cluster named by `KUBECONFIG`, `helm` on the PATH, and the two images loaded into the
//! cluster; see the README's "End-to-end tests on kind". Run with
//! `cargo test -p ripcord-controller --test e2e -- --ignored --nocapture`.

use std::collections::BTreeMap;
use std::process::Command;
use std::time::{Duration, Instant};

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Event, Namespace};
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use ripcord_controller::crd::{Phase, ReleaseCheck};

const APP_NAMESPACE: &str = "ripcord-e2e";
const CONTROLLER_NAMESPACE: &str = "ripcord-system";

fn image(var: &str, default: &str) -> String {
    std::env::var(var).unwrap_or_else(|_| default.to_string())
}

fn split(image: &str) -> (String, String) {
    match image.rsplit_once(':') {
        Some((repo, tag)) if !tag.contains('/') => (repo.to_string(), tag.to_string()),
        _ => (image.to_string(), "latest".to_string()),
    }
}

fn helm_install() {
    let (controller_repo, controller_tag) = split(&image(
        "RIPCORD_E2E_CONTROLLER_IMAGE",
        "ripcord-controller:dev",
    ));
    let (sidecar_repo, sidecar_tag) =
        split(&image("RIPCORD_E2E_SIDECAR_IMAGE", "ripcord-sidecar:dev"));
    let chart = format!("{}/../charts/ripcord", env!("CARGO_MANIFEST_DIR"));
    let status = Command::new("helm")
        .args([
            "upgrade",
            "--install",
            "ripcord",
            &chart,
            "--namespace",
            CONTROLLER_NAMESPACE,
        ])
        .args(["--create-namespace", "--wait", "--timeout", "5m"])
        .args(["--set", &format!("image.repository={controller_repo}")])
        .args(["--set", &format!("image.tag={controller_tag}")])
        .args(["--set", "image.pullPolicy=IfNotPresent"])
        .args(["--set", &format!("sidecar.image.repository={sidecar_repo}")])
        .args(["--set", &format!("sidecar.image.tag={sidecar_tag}")])
        .status()
        .expect("helm runs");
    assert!(status.success(), "helm install failed");
}

fn demo_deployment(version: &str) -> Deployment {
    let (repo, tag) = split(&image("RIPCORD_E2E_SIDECAR_IMAGE", "ripcord-sidecar:dev"));
    serde_json::from_value(serde_json::json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "demo", "namespace": APP_NAMESPACE, "labels": {"app": "demo", "ripcord.dev/enabled": "true"}},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "demo"}},
            "template": {
                "metadata": {
                    "labels": {"app": "demo", "ripcord.dev/enabled": "true"},
                    "annotations": {
                        "ripcord.dev/watch": ripcord_sidecar::demo::DEMO_SPEC,
                        "ripcord.dev/on-regression": "rollback",
                        "ripcord.dev/watch-for": "10m"
                    }
                },
                "spec": {"containers": [{
                    "name": "app",
                    "image": format!("{repo}:{tag}"),
                    "imagePullPolicy": "IfNotPresent",
                    "args": ["demo-app", "--version", version, "--rate", "100"],
                    "ports": [{"containerPort": 8080, "name": "http"}],
                    "securityContext": {"runAsNonRoot": true, "allowPrivilegeEscalation": false}
                }]}
            }
        }
    }))
    .expect("a Deployment")
}

async fn wait_for<F, Fut>(what: &str, timeout: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let started = Instant::now();
    while !check().await {
        assert!(started.elapsed() < timeout, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    println!("{what}: after {:.0?}", started.elapsed());
}

fn template_args(deployment: &Deployment) -> Vec<String> {
    deployment
        .spec
        .as_ref()
        .and_then(|s| s.template.spec.as_ref())
        .and_then(|s| s.containers.first())
        .and_then(|c| c.args.clone())
        .unwrap_or_default()
}

#[tokio::test]
#[ignore = "needs cluster"]
async fn a_regressing_release_is_rolled_back_with_evidence() {
    let client = kube::Client::try_default()
        .await
        .expect("KUBECONFIG names a cluster");
    helm_install();
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let _ = namespaces
        .delete(APP_NAMESPACE, &DeleteParams::default())
        .await;
    wait_for("old test namespace gone", Duration::from_secs(120), || {
        let namespaces = namespaces.clone();
        async move {
            namespaces
                .get_opt(APP_NAMESPACE)
                .await
                .ok()
                .flatten()
                .is_none()
        }
    })
    .await;
    let namespace: Namespace = serde_json::from_value(serde_json::json!({
        "metadata": {"name": APP_NAMESPACE}
    }))
    .expect("a Namespace");
    namespaces
        .create(&PostParams::default(), &namespace)
        .await
        .expect("namespace created");

    let deployments: Api<Deployment> = Api::namespaced(client.clone(), APP_NAMESPACE);
    deployments
        .create(&PostParams::default(), &demo_deployment("healthy"))
        .await
        .expect("v1 created");
    let ready = |deployments: Api<Deployment>| async move {
        deployments.get("demo").await.is_ok_and(|d| {
            let status = d.status.unwrap_or_default();
            status.observed_generation >= d.metadata.generation
                && status.updated_replicas == Some(2)
                && status.available_replicas == Some(2)
        })
    };
    wait_for("v1 available", Duration::from_secs(180), || {
        ready(deployments.clone())
    })
    .await;
    tokio::time::sleep(Duration::from_secs(20)).await;

    let released = Instant::now();
    let v2 = demo_deployment("regressed");
    deployments
        .patch(
            "demo",
            &PatchParams::apply("e2e").force(),
            &Patch::Apply(&v2),
        )
        .await
        .expect("v2 released");

    let checks: Api<ReleaseCheck> = Api::namespaced(client.clone(), APP_NAMESPACE);
    wait_for(
        "ReleaseCheck demo-2 rolled back",
        Duration::from_secs(300),
        || {
            let checks = checks.clone();
            async move {
                checks
                    .get_opt("demo-2")
                    .await
                    .ok()
                    .flatten()
                    .is_some_and(|c| c.status.and_then(|s| s.phase) == Some(Phase::RolledBack))
            }
        },
    )
    .await;
    println!("release to rollback: {:.1?}", released.elapsed());

    let check = checks.get("demo-2").await.expect("the check");
    let status = check.status.expect("a status");
    assert!(status.timeline.detected.is_some() && status.timeline.acted.is_some());
    let errors = status
        .metrics
        .iter()
        .find(|m| m.name == "errors")
        .expect("errors evidence");
    assert!(errors.canary.trials > 0.0 && errors.baseline.trials > 0.0);

    let deployment = deployments.get("demo").await.expect("the Deployment");
    assert!(
        template_args(&deployment).contains(&"healthy".to_string()),
        "the template is v1 again: {:?}",
        template_args(&deployment)
    );
    let annotations: BTreeMap<String, String> =
        deployment.metadata.annotations.clone().unwrap_or_default();
    assert_eq!(
        annotations
            .get("ripcord.dev/release-check")
            .map(String::as_str),
        Some("demo-2")
    );
    let events: Api<Event> = Api::namespaced(client.clone(), APP_NAMESPACE);
    let reasons: Vec<String> = events
        .list(&ListParams::default().fields("involvedObject.name=demo"))
        .await
        .expect("events listed")
        .items
        .into_iter()
        .filter_map(|e| e.reason)
        .collect();
    for reason in ["RegressionDetected", "RolledBack"] {
        assert!(
            reasons.iter().any(|r| r == reason),
            "no {reason} Event: {reasons:?}"
        );
    }
    wait_for(
        "rollback complete in the timeline",
        Duration::from_secs(180),
        || {
            let checks = checks.clone();
            async move {
                checks.get("demo-2").await.is_ok_and(|c| {
                    c.status
                        .is_some_and(|s| s.timeline.rollback_complete.is_some())
                })
            }
        },
    )
    .await;
}
