//! End to end, in a real cluster: install the chart, release a healthy then a regressing
//! version of the demo app, and check that Ripcord rolled the regression back, with the
//! ReleaseCheck and the Events to show for it.
//!
//! Needs a cluster named by `KUBECONFIG` (Kubernetes 1.29 or later, for native sidecars),
//! `helm` on the PATH, and the two images loaded into the cluster; `scripts/e2e-kind.sh` does
//! all of it on kind, and the README's "End-to-end tests on kind" says how. Run by hand with
//! `cargo test -p ripcord-controller --test e2e -- --ignored --nocapture`. Without a reachable
//! cluster it fails within seconds, saying so. When a wait times out it prints what a person
//! would look at (the ReleaseChecks, the pods, the Events, the controller's and the sidecars'
//! logs) before failing. The suite's own cluster steps (applying the CRDs, the caBundle wait, the
//! diagnostics) also run, unignored, against the fake API server.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::future::Future;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use k8s_openapi::api::admissionregistration::v1::MutatingWebhookConfiguration;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Event, Namespace, Pod};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DeleteParams, ListParams, LogParams, Patch, PatchParams, PostParams};
use ripcord_controller::crd::{Phase, ReleaseCheck};

const APP_NAMESPACE: &str = "ripcord-e2e";
const CONTROLLER_NAMESPACE: &str = "ripcord-system";
/// The Helm release; named `ripcord`, the chart's objects are called `ripcord-controller`.
const RELEASE: &str = "ripcord";
const CONTROLLER: &str = "ripcord-controller";
const SIDECAR_CONTAINER: &str = "ripcord-sidecar";
/// The ReleaseCheck of the demo's second revision, the regressing one.
const CHECK: &str = "demo-2";
/// How long v1 runs before v2 is released. Its sidecars' windows become the baseline snapshot
/// taken at release time, whose observations a canary uses one per judged second, each once;
/// after a rolling update of two pods the snapshot is the only baseline left.
const BASELINE_HISTORY: Duration = Duration::from_secs(60);

/// Fails at once, saying why, when `KUBECONFIG` names no cluster that answers.
async fn connect() -> kube::Client {
    let client = match kube::Client::try_default().await {
        Ok(client) => client,
        Err(err) => panic!(
            "no Kubernetes cluster configured ({err}); set KUBECONFIG to a test cluster, or run \
             scripts/e2e-kind.sh (README: \"End-to-end tests on kind\")"
        ),
    };
    let version =
        match tokio::time::timeout(Duration::from_secs(10), client.apiserver_version()).await {
            Ok(Ok(version)) => version,
            Ok(Err(err)) => panic!(
                "the cluster named by KUBECONFIG does not answer ({err}); is it running? \
             (`kind get clusters`, `kubectl cluster-info`)"
            ),
            Err(_) => panic!(
                "the cluster named by KUBECONFIG did not answer within 10 s; is it running? \
             (`kind get clusters`, `kubectl cluster-info`)"
            ),
        };
    let minor: u32 = version
        .minor
        .trim_end_matches(|c: char| !c.is_ascii_digit())
        .parse()
        .unwrap_or(0);
    assert!(
        version.major == "1" && minor >= 29,
        "Kubernetes {}.{} is too old: the chart needs 1.29 or later (native sidecars)",
        version.major,
        version.minor
    );
    println!("cluster: Kubernetes {}", version.git_version);
    client
}

fn image(var: &str, default: &str) -> String {
    std::env::var(var).unwrap_or_else(|_| default.to_string())
}

fn controller_image() -> String {
    image("RIPCORD_E2E_CONTROLLER_IMAGE", "ripcord-controller:dev")
}

fn sidecar_image() -> String {
    image("RIPCORD_E2E_SIDECAR_IMAGE", "ripcord-sidecar:dev")
}

fn split(image: &str) -> (String, String) {
    match image.rsplit_once(':') {
        Some((repo, tag)) if !tag.contains('/') => (repo.to_string(), tag.to_string()),
        _ => (image.to_string(), "latest".to_string()),
    }
}

fn chart() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../charts/ripcord")
}

/// Server-side applies the chart's CRDs: `helm upgrade` never updates what is in `crds/`, so a
/// cluster kept from an earlier run would otherwise keep an old schema and prune new fields.
async fn apply_crds(client: &kube::Client) {
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    let dir = chart().join("crds");
    let entries = std::fs::read_dir(&dir).expect("the chart's crds directory is readable");
    for entry in entries {
        let path = entry.expect("a directory entry").path();
        if path.extension().and_then(|e| e.to_str()) != Some("yaml") {
            continue;
        }
        let text = std::fs::read_to_string(&path).expect("a CRD file is readable");
        let crd: CustomResourceDefinition =
            serde_yaml::from_str(&text).expect("the chart's CRD file holds a CRD");
        let name = crd.metadata.name.clone().expect("a CRD has a name");
        crds.patch(
            &name,
            &PatchParams::apply("ripcord-e2e").force(),
            &Patch::Apply(&crd),
        )
        .await
        .unwrap_or_else(|err| panic!("applying CRD {name} from {}: {err}", path.display()));
        println!("CRD {name} applied");
    }
}

fn helm_install() {
    let (controller_repo, controller_tag) = split(&controller_image());
    let (sidecar_repo, sidecar_tag) = split(&sidecar_image());
    let status = Command::new("helm")
        .args(["upgrade", "--install", RELEASE])
        .arg(chart())
        .args(["--namespace", CONTROLLER_NAMESPACE])
        .args(["--create-namespace", "--wait", "--timeout", "5m"])
        .args(["--set", &format!("image.repository={controller_repo}")])
        .args(["--set", &format!("image.tag={controller_tag}")])
        .args(["--set", "image.pullPolicy=IfNotPresent"])
        .args(["--set", &format!("sidecar.image.repository={sidecar_repo}")])
        .args(["--set", &format!("sidecar.image.tag={sidecar_tag}")])
        .args(["--set", "sidecar.image.pullPolicy=IfNotPresent"])
        .args(["--set", "logLevel=info\\,ripcord_controller=debug"])
        .status()
        .unwrap_or_else(|err| panic!("cannot run helm ({err}); is it on the PATH?"));
    assert!(
        status.success(),
        "helm upgrade --install failed; look at `kubectl -n {CONTROLLER_NAMESPACE} get pods` and \
         `kubectl -n {CONTROLLER_NAMESPACE} logs deploy/{CONTROLLER}`"
    );
}

fn demo_deployment(version: &str) -> Deployment {
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
                "spec": {
                    // The demo app does not handle SIGTERM; do not wait 30 s for each old pod.
                    "terminationGracePeriodSeconds": 5,
                    "containers": [{
                        "name": "app",
                        "image": sidecar_image(),
                        "imagePullPolicy": "IfNotPresent",
                        "args": ["demo-app", "--version", version, "--rate", "100"],
                        "ports": [{"containerPort": 8080, "name": "http"}],
                        "securityContext": {"runAsNonRoot": true, "allowPrivilegeEscalation": false}
                    }]
                }
            }
        }
    }))
    .expect("a Deployment")
}

/// Polls `check` every 2 s until it answers `Ok(true)`. On `Err` (a state the wait can no
/// longer end well from) or after `timeout`, prints the diagnostics and fails.
async fn wait_for<F, Fut>(client: &kube::Client, what: &str, timeout: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<bool, String>>,
{
    let started = Instant::now();
    let mut told = Duration::ZERO;
    loop {
        let failure = match check().await {
            Ok(true) => break,
            Ok(false) if started.elapsed() < timeout => {
                if started.elapsed() >= told + Duration::from_secs(30) {
                    told = started.elapsed();
                    println!("still waiting for {what} after {told:.0?}");
                }
                tokio::time::sleep(Duration::from_secs(2)).await;
                continue;
            }
            Ok(false) => format!("timed out after {timeout:?} waiting for {what}"),
            Err(reason) => format!("gave up waiting for {what}: {reason}"),
        };
        diagnose(client).await;
        panic!("{failure} (diagnostics above)");
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

fn injected(pod: &Pod) -> bool {
    pod.spec.as_ref().is_some_and(|spec| {
        spec.init_containers
            .iter()
            .flatten()
            .chain(&spec.containers)
            .any(|c| c.name == SIDECAR_CONTAINER)
    })
}

/// Waits for the controller to write its CA into the webhook, so that the demo's pods are
/// injected (failurePolicy Ignore would otherwise start them silently without a sidecar).
async fn wait_for_ca_bundle(client: &kube::Client) {
    let webhooks: Api<MutatingWebhookConfiguration> = Api::all(client.clone());
    wait_for(
        client,
        "the webhook's caBundle",
        Duration::from_secs(60),
        || {
            let webhooks = webhooks.clone();
            async move {
                Ok(webhooks
                    .get_opt(CONTROLLER)
                    .await
                    .ok()
                    .flatten()
                    .is_some_and(|w| {
                        w.webhooks.unwrap_or_default().iter().all(|h| {
                            h.client_config
                                .ca_bundle
                                .as_ref()
                                .is_some_and(|b| !b.0.is_empty())
                        })
                    }))
            }
        },
    )
    .await;
}

async fn recreate_namespace(client: &kube::Client) {
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let _ = namespaces
        .delete(APP_NAMESPACE, &DeleteParams::default())
        .await;
    wait_for(
        client,
        "old test namespace gone",
        Duration::from_secs(180),
        || {
            let namespaces = namespaces.clone();
            async move {
                Ok(namespaces
                    .get_opt(APP_NAMESPACE)
                    .await
                    .ok()
                    .flatten()
                    .is_none())
            }
        },
    )
    .await;
    let namespace: Namespace = serde_json::from_value(serde_json::json!({
        "metadata": {"name": APP_NAMESPACE}
    }))
    .expect("a Namespace");
    namespaces
        .create(&PostParams::default(), &namespace)
        .await
        .expect("namespace created");
}

async fn wait_until_available(client: &kube::Client, what: &str) {
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), APP_NAMESPACE);
    wait_for(client, what, Duration::from_secs(180), || {
        let deployments = deployments.clone();
        async move {
            Ok(deployments.get("demo").await.is_ok_and(|d| {
                let status = d.status.unwrap_or_default();
                status.observed_generation >= d.metadata.generation
                    && status.updated_replicas == Some(2)
                    && status.available_replicas == Some(2)
            }))
        }
    })
    .await;
}

/// Every demo pod runs the injected sidecar; otherwise nothing can judge the release.
async fn assert_injected(client: &kube::Client) {
    let pods: Api<Pod> = Api::namespaced(client.clone(), APP_NAMESPACE);
    let listed = pods
        .list(&ListParams::default().labels("app=demo"))
        .await
        .expect("demo pods listed");
    let missing: Vec<String> = listed
        .items
        .iter()
        .filter(|p| !injected(p))
        .filter_map(|p| p.metadata.name.clone())
        .collect();
    if !missing.is_empty() {
        diagnose(client).await;
        panic!(
            "pods {missing:?} run without the {SIDECAR_CONTAINER} container: the webhook did \
             not inject them (its failurePolicy is Ignore); see the controller's log above"
        );
    }
}

/// One line on where a ReleaseCheck stands, printed as it changes while the test waits.
fn progress(check: &ReleaseCheck) -> String {
    let Some(status) = &check.status else {
        return "created, no status yet".to_string();
    };
    let snapshot = status.baseline_snapshot.as_ref().map_or_else(
        || "none yet".to_string(),
        |s| {
            format!(
                "{} s from {}/{} pods{}",
                s.observations,
                s.pods_answered,
                s.pods_asked,
                s.message
                    .as_deref()
                    .map(|m| format!(" ({m})"))
                    .unwrap_or_default()
            )
        },
    );
    format!(
        "phase {:?}, verdict {:?} ({}), baseline snapshot {snapshot}",
        status.phase,
        status.verdict,
        status
            .verdict_detail
            .as_ref()
            .map_or("", |d| d.reason.as_str())
    )
}

/// Why waiting for the rollback can stop early: the check settled some other way.
fn rolled_back(check: Option<ReleaseCheck>) -> Result<bool, String> {
    let Some(status) = check.and_then(|c| c.status) else {
        return Ok(false);
    };
    match status.phase {
        Some(Phase::RolledBack) => Ok(true),
        Some(phase @ (Phase::Passed | Phase::Failed | Phase::Held | Phase::Observed)) => {
            Err(format!(
                "ReleaseCheck {CHECK} settled as {phase:?}: {}",
                status.message.unwrap_or_default()
            ))
        }
        Some(Phase::Inconclusive) => Err(format!(
            "ReleaseCheck {CHECK} has no baseline: {}",
            status.message.unwrap_or_default()
        )),
        _ => Ok(false),
    }
}

#[tokio::test]
#[ignore = "needs cluster"]
async fn a_regressing_release_is_rolled_back_with_evidence() {
    let client = connect().await;
    apply_crds(&client).await;
    helm_install();
    wait_for_ca_bundle(&client).await;
    recreate_namespace(&client).await;

    let deployments: Api<Deployment> = Api::namespaced(client.clone(), APP_NAMESPACE);
    deployments
        .create(&PostParams::default(), &demo_deployment("healthy"))
        .await
        .expect("v1 created");
    wait_until_available(&client, "v1 available").await;
    assert_injected(&client).await;
    println!(
        "v1 runs; letting it build {BASELINE_HISTORY:?} of baseline history before releasing v2"
    );
    tokio::time::sleep(BASELINE_HISTORY).await;

    let released = Instant::now();
    deployments
        .patch(
            "demo",
            &PatchParams::apply("e2e").force(),
            &Patch::Apply(&demo_deployment("regressed")),
        )
        .await
        .expect("v2 released");

    let checks: Api<ReleaseCheck> = Api::namespaced(client.clone(), APP_NAMESPACE);
    let last = std::sync::Mutex::new(String::new());
    wait_for(
        &client,
        "ReleaseCheck demo-2 rolled back",
        Duration::from_secs(300),
        || {
            let checks = checks.clone();
            let last = &last;
            async move {
                let check = checks.get_opt(CHECK).await.ok().flatten();
                if let Some(check) = &check {
                    let now = progress(check);
                    let mut last = last.lock().unwrap_or_else(|e| e.into_inner());
                    if *last != now {
                        println!("  {CHECK} after {:.0?}: {now}", released.elapsed());
                        *last = now;
                    }
                }
                rolled_back(check)
            }
        },
    )
    .await;
    println!("release to rollback: {:.1?}", released.elapsed());

    let check = checks.get(CHECK).await.expect("the check");
    let status = check.status.expect("a status");
    assert!(
        status.timeline.detected.is_some() && status.timeline.acted.is_some(),
        "the timeline names when the regression was detected and acted on: {:?}",
        status.timeline
    );
    let errors = status
        .metrics
        .iter()
        .find(|m| m.name == "errors")
        .expect("errors evidence");
    assert!(
        errors.canary.trials > 0.0 && errors.baseline.trials > 0.0,
        "the errors evidence counts requests in both arms: canary {:?}, baseline {:?}",
        errors.canary,
        errors.baseline
    );

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
        Some(CHECK)
    );

    // The Events are written just after the status; give them a moment.
    let events: Api<Event> = Api::namespaced(client.clone(), APP_NAMESPACE);
    wait_for(
        &client,
        "RegressionDetected and RolledBack Events on the Deployment",
        Duration::from_secs(30),
        || {
            let events = events.clone();
            async move {
                let reasons: Vec<String> = events
                    .list(&ListParams::default().fields("involvedObject.name=demo"))
                    .await
                    .map_err(|err| format!("cannot list Events: {err}"))?
                    .items
                    .into_iter()
                    .filter_map(|e| e.reason)
                    .collect();
                Ok(["RegressionDetected", "RolledBack"]
                    .iter()
                    .all(|reason| reasons.iter().any(|r| r == reason)))
            }
        },
    )
    .await;
    wait_for(
        &client,
        "rollback complete in the timeline",
        Duration::from_secs(180),
        || {
            let checks = checks.clone();
            async move {
                Ok(checks.get(CHECK).await.is_ok_and(|c| {
                    c.status
                        .is_some_and(|s| s.timeline.rollback_complete.is_some())
                }))
            }
        },
    )
    .await;
}

/// Prints what a person would look at when the test fails.
async fn diagnose(client: &kube::Client) {
    println!("{}", diagnostics(client).await);
}

/// What a person would look at when the test fails: the ReleaseChecks, the demo's Deployment
/// and pods, the Events of both namespaces, and the tails of the controller's and the sidecars'
/// logs. An error reading any of it is reported in the text, never fatal.
async fn diagnostics(client: &kube::Client) -> String {
    let mut out = String::from("\n======== diagnostics ========\n");
    let checks: Api<ReleaseCheck> = Api::namespaced(client.clone(), APP_NAMESPACE);
    match checks.list(&ListParams::default()).await {
        Ok(list) if list.items.is_empty() => {
            let _ = writeln!(out, "-- no ReleaseChecks in {APP_NAMESPACE}");
        }
        Ok(list) => {
            for check in list.items {
                let _ = writeln!(
                    out,
                    "-- ReleaseCheck {}:\n{}",
                    check.metadata.name.as_deref().unwrap_or("?"),
                    serde_yaml::to_string(&(&check.spec, &check.status)).unwrap_or_default()
                );
            }
        }
        Err(err) => {
            let _ = writeln!(out, "-- cannot list ReleaseChecks: {err}");
        }
    }
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), APP_NAMESPACE);
    let _ = match deployments.get_opt("demo").await {
        Ok(Some(d)) => writeln!(
            out,
            "-- Deployment demo: args {:?}, annotations {:?}, status {}",
            template_args(&d),
            d.metadata.annotations.unwrap_or_default(),
            serde_json::to_string(&d.status).unwrap_or_default()
        ),
        Ok(None) => writeln!(out, "-- no Deployment demo"),
        Err(err) => writeln!(out, "-- cannot read Deployment demo: {err}"),
    };
    pods(&mut out, client, APP_NAMESPACE, SIDECAR_CONTAINER).await;
    pods(&mut out, client, CONTROLLER_NAMESPACE, "controller").await;
    events(&mut out, client, APP_NAMESPACE).await;
    events(&mut out, client, CONTROLLER_NAMESPACE).await;
    out.push_str("======== end of diagnostics ========\n");
    out
}

/// Each pod of `namespace` with its revision, phase and container states, then the log tail
/// of `log_container` in every pod that runs it.
async fn pods(out: &mut String, client: &kube::Client, namespace: &str, log_container: &str) {
    let api: Api<Pod> = Api::namespaced(client.clone(), namespace);
    let listed = match api.list(&ListParams::default()).await {
        Ok(list) => list.items,
        Err(err) => {
            let _ = writeln!(out, "-- cannot list pods in {namespace}: {err}");
            return;
        }
    };
    for pod in &listed {
        let status = pod.status.clone().unwrap_or_default();
        let containers: Vec<String> = status
            .init_container_statuses
            .iter()
            .flatten()
            .chain(status.container_statuses.iter().flatten())
            .map(|c| {
                let state = c.state.as_ref().map_or("?".to_string(), |s| {
                    if let Some(w) = &s.waiting {
                        format!("waiting {}", w.reason.as_deref().unwrap_or(""))
                    } else if let Some(t) = &s.terminated {
                        let reason = t.reason.as_deref().unwrap_or("");
                        format!("terminated {reason} ({})", t.exit_code)
                    } else {
                        "running".to_string()
                    }
                });
                format!(
                    "{} {state} ready={} restarts={}",
                    c.name, c.ready, c.restart_count
                )
            })
            .collect();
        let _ = writeln!(
            out,
            "-- pod {namespace}/{} hash={} phase={} ip={} injected={} [{}]",
            pod.metadata.name.as_deref().unwrap_or("?"),
            pod.metadata
                .labels
                .as_ref()
                .and_then(|l| l.get("pod-template-hash"))
                .map_or("-", String::as_str),
            status.phase.as_deref().unwrap_or("?"),
            status.pod_ip.as_deref().unwrap_or("-"),
            injected(pod),
            containers.join("; ")
        );
    }
    let runs_it = |pod: &&Pod| {
        pod.spec.as_ref().is_some_and(|s| {
            s.init_containers
                .iter()
                .flatten()
                .chain(&s.containers)
                .any(|c| c.name == log_container)
        })
    };
    for pod in listed.iter().filter(runs_it) {
        let name = pod.metadata.name.clone().unwrap_or_default();
        let params = LogParams {
            container: Some(log_container.to_string()),
            tail_lines: Some(40),
            ..LogParams::default()
        };
        let _ = match api.logs(&name, &params).await {
            Ok(text) => writeln!(
                out,
                "-- log of {namespace}/{name} {log_container} (last 40 lines):\n{text}"
            ),
            Err(err) => writeln!(
                out,
                "-- log of {namespace}/{name} {log_container}: cannot read it: {err}"
            ),
        };
    }
}

/// The latest 40 Events of `namespace`, oldest first.
async fn events(out: &mut String, client: &kube::Client, namespace: &str) {
    let api: Api<Event> = Api::namespaced(client.clone(), namespace);
    let mut listed = match api.list(&ListParams::default()).await {
        Ok(list) => list.items,
        Err(err) => {
            let _ = writeln!(out, "-- cannot list Events in {namespace}: {err}");
            return;
        }
    };
    let at = |e: &Event| {
        e.last_timestamp
            .as_ref()
            .map(|t| t.0)
            .or(e.event_time.as_ref().map(|t| t.0))
            .or(e.metadata.creation_timestamp.as_ref().map(|t| t.0))
    };
    listed.sort_by_key(|e| at(e));
    let skip = listed.len().saturating_sub(40);
    let _ = writeln!(
        out,
        "-- Events in {namespace} (latest {}):",
        listed.len() - skip
    );
    for event in listed.iter().skip(skip) {
        let _ = writeln!(
            out,
            "   {} {} {}/{}: {}",
            event.type_.as_deref().unwrap_or(""),
            event.reason.as_deref().unwrap_or(""),
            event.involved_object.kind.as_deref().unwrap_or(""),
            event.involved_object.name.as_deref().unwrap_or(""),
            event.message.as_deref().unwrap_or("")
        );
    }
}

/// The suite's own pieces that need no cluster, against the stateful fake API server: the CRDs
/// apply, the caBundle wait sees a filled webhook, and the diagnostics report what is there
/// (and what could not be read) without failing.
#[tokio::test]
async fn the_suites_cluster_steps_work_against_a_fake_api_server() {
    let server = ripcord_fake_apiserver::FakeApiServer::start()
        .await
        .expect("fake API server");
    let client = server.client().expect("a client");
    apply_crds(&client).await;
    let crds = server.list("apiextensions.k8s.io/v1", "customresourcedefinitions", None);
    assert_eq!(crds.len(), 1, "the chart's one CRD was applied");

    server
        .insert(serde_json::json!({
            "apiVersion": "admissionregistration.k8s.io/v1",
            "kind": "MutatingWebhookConfiguration",
            "metadata": {"name": CONTROLLER},
            "webhooks": [{"name": "inject.ripcord.dev", "admissionReviewVersions": ["v1"],
                "sideEffects": "None",
                "clientConfig": {"caBundle": "Y2E=",
                    "service": {"name": CONTROLLER, "namespace": CONTROLLER_NAMESPACE}}}]
        }))
        .expect("webhook stored");
    tokio::time::timeout(Duration::from_secs(10), wait_for_ca_bundle(&client))
        .await
        .expect("a filled caBundle is seen at once");

    let empty = diagnostics(&client).await;
    assert!(
        empty.contains("-- no ReleaseChecks in ripcord-e2e"),
        "{empty}"
    );
    assert!(empty.contains("-- no Deployment demo"), "{empty}");

    let mut v2 = serde_json::to_value(demo_deployment("regressed")).expect("JSON");
    v2["metadata"]["annotations"] = serde_json::json!({"ripcord.dev/release-check": CHECK});
    server.insert(v2).expect("deployment stored");
    server
        .insert(serde_json::json!({
            "apiVersion": "ripcord.dev/v1alpha1", "kind": "ReleaseCheck",
            "metadata": {"name": CHECK, "namespace": APP_NAMESPACE},
            "spec": {"deployment": "demo", "revision": 2, "templateHash": "h2",
                "policy": {"onRegression": ["rollback"], "mode": "act",
                    "watch": ripcord_sidecar::demo::DEMO_SPEC, "watchForSeconds": 600}},
            "status": {"phase": "Watching", "verdict": "inconclusive"}
        }))
        .expect("check stored");
    server
        .insert(serde_json::json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "demo-h2-a", "namespace": APP_NAMESPACE,
                "labels": {"app": "demo", "pod-template-hash": "h2"}},
            "spec": {"initContainers": [{"name": SIDECAR_CONTAINER, "restartPolicy": "Always"}],
                "containers": [{"name": "app"}]},
            "status": {"phase": "Running", "podIP": "10.244.0.7",
                "initContainerStatuses": [{"name": SIDECAR_CONTAINER, "ready": false,
                    "restartCount": 0, "image": "i", "imageID": "",
                    "state": {"running": {}}}],
                "containerStatuses": [{"name": "app", "ready": false, "restartCount": 3,
                    "image": "i", "imageID": "",
                    "state": {"waiting": {"reason": "CrashLoopBackOff"}}}]}
        }))
        .expect("pod stored");
    server
        .insert(serde_json::json!({
            "apiVersion": "v1", "kind": "Event",
            "metadata": {"name": "demo.1", "namespace": APP_NAMESPACE},
            "involvedObject": {"kind": "Deployment", "name": "demo", "namespace": APP_NAMESPACE},
            "reason": "RegressionDetected", "type": "Warning", "message": "revision 2 regressed"
        }))
        .expect("event stored");

    let found = diagnostics(&client).await;
    println!("{found}");
    for expected in [
        "-- ReleaseCheck demo-2:",
        "phase: Watching",
        "-- Deployment demo: args [\"demo-app\", \"--version\", \"regressed\"",
        "\"ripcord.dev/release-check\": \"demo-2\"",
        "-- pod ripcord-e2e/demo-h2-a hash=h2 phase=Running ip=10.244.0.7 injected=true",
        "app waiting CrashLoopBackOff ready=false restarts=3",
        "-- log of ripcord-e2e/demo-h2-a ripcord-sidecar",
        "Warning RegressionDetected Deployment/demo: revision 2 regressed",
    ] {
        assert!(found.contains(expected), "no {expected:?} in:\n{found}");
    }
}
