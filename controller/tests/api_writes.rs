//! Every write the controller makes to the Kubernetes API, driven through the real code path
//! against the stateful fake API server, checking method, path, `fieldManager`, patch content
//! type, body (what is written and that nothing else is), and the precondition — with a
//! scenario where another client's write lands between the controller's read and its write, so
//! the precondition fails for real and the controller re-reads, re-plans or gives up as designed.
//!
//! | Write (code) | Method, type, precondition | Scenario(s) |
//! |---|---|---|
//! | Claim: ReleaseCheck status → `Acting` (`act::Actor::claim`) | PATCH `…/status`, merge, `metadata.resourceVersion` | `a_rollback_writes_claim_rollback_outcome_and_events_in_order`, `a_claim_lost_to_another_replica_is_reread_and_nothing_else_is_written` |
//! | Evidence: verdict, metrics, `detected` (`act::Actor::record`) | PATCH `…/status`, merge, `metadata.resourceVersion` | `evidence_is_recorded_under_a_precondition_and_a_lost_race_writes_nothing` |
//! | Outcome: phase, actions, `acted`, message (`act::Actor::finish`) | PATCH `…/status`, merge, none (the claim made this replica the writer) | `a_rollback_writes_claim_rollback_outcome_and_events_in_order` |
//! | Rollback of the Deployment (`act::rollback`, `rollback::plan`) | PATCH, JSON patch, `test` of `/metadata/resourceVersion` | `a_rollback_writes_claim_rollback_outcome_and_events_in_order`, `a_rollback_refused_by_its_test_is_replanned_from_a_fresh_read`, `a_human_rollback_between_read_and_patch_is_not_rolled_back_again` |
//! | Quarantine: pause a re-applied failed template (`rollback::plan`) | PATCH, JSON patch, `test` of `/metadata/resourceVersion` | `a_re_applied_failed_template_is_paused_by_a_guarded_json_patch` |
//! | Events on the Deployment (`act::evidence::events`, kube `Recorder`) | POST `events.k8s.io/v1`, none (a create) | `a_rollback_writes_claim_rollback_outcome_and_events_in_order` |
//! | OpenFeature `FeatureFlag` off (`flags::openfeature::turn_off`) | PATCH, merge, `metadata.resourceVersion` | `an_openfeature_flag_is_turned_off_under_a_precondition_and_replanned_on_conflict` |
//! | Webhook `caBundle` (`tls::apply_ca_bundle`) | PATCH, JSON patch, `test` of each webhook's name | `the_ca_bundle_patch_touches_only_ca_bundles_and_fails_on_a_reordered_list` |

mod support;

use std::sync::Arc;
use std::time::Instant;

use http::Method;
use ripcord_controller::act::{Actor, Handled, decide::SkipReason};
use ripcord_controller::crd::{ActionResult, Mode, Phase, RegressionStep, rfc3339_from_ms};
use ripcord_controller::flags::{Credentials, FlagFlipper};
use ripcord_controller::http::{HttpClient, HttpLimits};
use ripcord_controller::ops::metrics::Metrics;
use ripcord_fake_apiserver::{LoggedRequest, ObjectKey};
use serde_json::{Value, json};
use support::{DEPLOYMENT_PATH, FAILED_HASH, Hook, PREVIOUS_HASH, World, fail_report, report};

/// The ReleaseCheck the support world holds.
const CHECK_PATH: &str = "/apis/ripcord.dev/v1alpha1/namespaces/shop/releasechecks/checkout-3";
/// Its status subresource.
const CHECK_STATUS_PATH: &str =
    "/apis/ripcord.dev/v1alpha1/namespaces/shop/releasechecks/checkout-3/status";
/// Where the Events of shop's Deployments go.
const EVENTS_PATH: &str = "/apis/events.k8s.io/v1/namespaces/shop/events";
/// The FeatureFlag object the `flag` step turns off.
const FLAG_PATH: &str =
    "/apis/core.openfeature.dev/v1beta1/namespaces/shop/featureflags/checkout-flags";

const MERGE: &str = "application/merge-patch+json";
const JSON_PATCH: &str = "application/json-patch+json";

fn check_key() -> ObjectKey {
    ObjectKey::new(
        "ripcord.dev/v1alpha1",
        "releasechecks",
        Some("shop"),
        "checkout-3",
    )
}

fn deployment_key() -> ObjectKey {
    ObjectKey::new("apps/v1", "deployments", Some("shop"), "checkout")
}

fn now_rfc3339() -> String {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after the epoch")
        .as_millis();
    rfc3339_from_ms(i64::try_from(ms).expect("fits"))
}

/// Asserts a write's method, path, media type (parameters aside) and `fieldManager` query, and
/// returns its body as JSON.
fn assert_write(
    request: &LoggedRequest,
    method: Method,
    path: &str,
    media_type: &str,
    field_manager: Option<&str>,
) -> Value {
    assert_eq!(
        (&request.method, request.path.as_str()),
        (&method, path),
        "{request:?}"
    );
    let sent = request.content_type.as_deref().unwrap_or_default();
    assert_eq!(sent.split(';').next().map(str::trim), Some(media_type));
    assert_eq!(
        request.query_param("fieldManager").as_deref(),
        field_manager,
        "fieldManager of {method} {path}"
    );
    request.json().expect("a JSON body")
}

/// The top-level member names of a JSON object, sorted.
fn members(value: &Value) -> Vec<String> {
    let mut names: Vec<String> = value
        .as_object()
        .expect("an object")
        .keys()
        .cloned()
        .collect();
    names.sort();
    names
}

/// `(method, path)` of every write so far.
fn write_lines(world: &World) -> Vec<(Method, String)> {
    world
        .server
        .writes()
        .into_iter()
        .map(|r| (r.method, r.path))
        .collect()
}

fn resource_version(object: &Value) -> String {
    object["metadata"]["resourceVersion"]
        .as_str()
        .expect("a resourceVersion")
        .to_string()
}

fn actor(world: &World, identity: &str) -> Actor {
    Actor::new(world.client(), identity, Arc::new(Metrics::new()))
}

#[tokio::test]
async fn a_rollback_writes_claim_rollback_outcome_and_events_in_order() {
    let world = World::start(vec![RegressionStep::Rollback], Mode::Act).await;
    let hook = Hook::start().await;
    let check_version = world.check().metadata.resource_version.expect("stored");
    let deployment_version = resource_version(&world.deployment());
    let handled = actor(&world, "controller-a")
        .with_notifier(hook.notifier())
        .handle(&fail_report("checkout-59c4d7f8b6-pod0", 1), Instant::now())
        .await
        .expect("handled");
    assert!(
        matches!(
            handled,
            Handled::Acted {
                phase: Phase::RolledBack,
                ..
            }
        ),
        "{handled:?}"
    );
    let status = || (Method::PATCH, CHECK_STATUS_PATH.to_string());
    let event = || (Method::POST, EVENTS_PATH.to_string());
    assert_eq!(
        write_lines(&world),
        vec![
            status(),
            (Method::PATCH, DEPLOYMENT_PATH.to_string()),
            status(),
            event(),
            event()
        ],
        "claim, rollback, outcome, two Events"
    );
    let writes = world.server.writes();

    // The claim: only status, guarded by the version the verdict was judged against.
    let claim = assert_write(
        &writes[0],
        Method::PATCH,
        CHECK_STATUS_PATH,
        MERGE,
        Some("ripcord"),
    );
    assert_eq!(members(&claim), ["metadata", "status"]);
    assert_eq!(claim["metadata"], json!({"resourceVersion": check_version}));
    assert_eq!(claim["status"]["phase"], "Acting");
    assert_eq!(claim["status"]["claimedBy"], "controller-a");
    assert!(claim["status"]["claimedAt"].is_string(), "{claim}");
    assert_eq!(claim["status"]["verdict"], "fail");

    // The rollback: a JSON patch whose first op tests the version the plan was made against.
    let rollback = assert_write(
        &writes[1],
        Method::PATCH,
        DEPLOYMENT_PATH,
        JSON_PATCH,
        Some("ripcord"),
    );
    let ops = rollback.as_array().expect("a JSON patch");
    assert_eq!(
        ops[0],
        json!({"op": "test", "path": "/metadata/resourceVersion", "value": deployment_version})
    );
    let paths: Vec<(&str, &str)> = ops[1..]
        .iter()
        .map(|op| {
            (
                op["op"].as_str().expect("op"),
                op["path"].as_str().expect("path"),
            )
        })
        .collect();
    assert_eq!(
        paths,
        [
            ("replace", "/spec/template"),
            ("add", "/metadata/annotations")
        ],
        "the template and Ripcord's records, nothing else"
    );
    assert_eq!(
        ops[2]["value"]["ripcord.dev/rolled-back-to"], PREVIOUS_HASH,
        "{rollback}"
    );
    world.assert_rolled_back_to_revision_2();

    // The outcome: status only, and no precondition. The claim made this replica the one writer
    // of the check until it settles (others skip a live claim), and the actions are already
    // taken: a conflict here would lose their record, not prevent a double write.
    let outcome = assert_write(
        &writes[2],
        Method::PATCH,
        CHECK_STATUS_PATH,
        MERGE,
        Some("ripcord"),
    );
    assert_eq!(members(&outcome), ["status"], "{outcome}");
    assert_eq!(outcome["status"]["phase"], "RolledBack");
    assert_eq!(outcome["status"]["actions"][0]["kind"], "Rollback");
    assert!(outcome["status"]["timeline"]["acted"].is_string());
    let stored = world.check();
    assert_eq!(
        stored.status.expect("status").phase,
        Some(Phase::RolledBack)
    );

    // The Events: creates (no precondition: each is a new object), about the Deployment.
    let reasons: Vec<Value> = writes[3..]
        .iter()
        .map(|request| {
            let event = assert_write(
                request,
                Method::POST,
                EVENTS_PATH,
                "application/json",
                None,
            );
            assert_eq!(
                event["regarding"],
                json!({"apiVersion": "apps/v1", "kind": "Deployment", "name": "checkout", "namespace": "shop"}),
            );
            assert_eq!(event["reportingController"], "ripcord-controller");
            assert_eq!(event["reportingInstance"], "controller-a");
            assert_eq!(event["action"], "Judge");
            assert!(event["metadata"].get("resourceVersion").is_none());
            json!([event["reason"], event["type"]])
        })
        .collect();
    assert_eq!(
        reasons,
        [
            json!(["RegressionDetected", "Warning"]),
            json!(["RolledBack", "Normal"])
        ]
    );
    assert_eq!(hook.count(), 1);
}

#[tokio::test]
async fn a_claim_lost_to_another_replica_is_reread_and_nothing_else_is_written() {
    let world = World::start(vec![RegressionStep::Rollback], Mode::Act).await;
    let hook = Hook::start().await;
    let claimed_at = now_rfc3339();
    world.server.write_as_other_before_next(
        Method::PATCH,
        CHECK_STATUS_PATH,
        check_key(),
        move |current| {
            let mut check = current.cloned().expect("the check exists");
            check["status"]["phase"] = "Acting".into();
            check["status"]["claimedBy"] = "controller-b".into();
            check["status"]["claimedAt"] = claimed_at.into();
            check
        },
    );
    let before = world.deployment();
    let handled = actor(&world, "controller-a")
        .with_notifier(hook.notifier())
        .handle(&fail_report("checkout-59c4d7f8b6-pod0", 1), Instant::now())
        .await
        .expect("handled");
    assert_eq!(handled, Handled::Skipped(SkipReason::ClaimedElsewhere));
    assert_eq!(
        write_lines(&world),
        [(Method::PATCH, CHECK_STATUS_PATH.to_string())],
        "only the refused claim"
    );
    let requests = world.server.requests();
    let claim_at = requests
        .iter()
        .position(|r| r.method == Method::PATCH)
        .expect("the claim");
    assert!(
        requests[claim_at + 1..]
            .iter()
            .any(|r| r.method == Method::GET && r.path == CHECK_PATH),
        "the check is read again after the conflict: {requests:#?}"
    );
    let status = world.check().status.expect("status");
    assert_eq!(status.claimed_by.as_deref(), Some("controller-b"));
    assert_eq!(status.phase, Some(Phase::Acting));
    assert_eq!(world.deployment(), before, "the Deployment is untouched");
    assert!(world.deployment_patches().is_empty());
    assert_eq!(hook.count(), 0);
}

#[tokio::test]
async fn evidence_is_recorded_under_a_precondition_and_a_lost_race_writes_nothing() {
    let world = World::start(vec![RegressionStep::Rollback], Mode::Act).await;
    let version = world.check().metadata.resource_version.expect("stored");
    let pass = report("checkout-59c4d7f8b6-pod0", 1, "healthy");
    let handled = actor(&world, "controller-a")
        .handle(&pass, Instant::now())
        .await
        .expect("handled");
    assert_eq!(handled, Handled::Recorded);
    let writes = world.server.writes();
    assert_eq!(writes.len(), 1, "{writes:#?}");
    let record = assert_write(
        &writes[0],
        Method::PATCH,
        CHECK_STATUS_PATH,
        MERGE,
        Some("ripcord"),
    );
    assert_eq!(members(&record), ["metadata", "status"]);
    assert_eq!(record["metadata"], json!({"resourceVersion": version}));
    assert_eq!(record["status"]["verdict"], "pass");
    assert!(
        record["status"].get("phase").is_none(),
        "an unchanged phase is not rewritten: {record}"
    );
    assert!(
        record["status"].get("claimedBy").is_none(),
        "a record claims nothing"
    );

    // Another writer changes the status between this replica's read and its write: the
    // record is refused and dropped (the next verdict is recorded from a fresh read).
    world.server.clear_requests();
    world.server.write_as_other_before_next(
        Method::PATCH,
        CHECK_STATUS_PATH,
        check_key(),
        |current| {
            let mut check = current.cloned().expect("the check exists");
            check["status"]["message"] = "written by another replica".into();
            check
        },
    );
    let handled = actor(&world, "controller-b")
        .handle(
            &report("checkout-59c4d7f8b6-pod1", 1, "healthy"),
            Instant::now(),
        )
        .await
        .expect("handled");
    assert_eq!(handled, Handled::NotRecorded);
    let writes = world.server.writes();
    assert_eq!(writes.len(), 1, "one refused record: {writes:#?}");
    let stored = world.check().status.expect("status");
    assert_eq!(
        stored.message.as_deref(),
        Some("written by another replica")
    );
    assert_eq!(stored.phase, Some(Phase::Watching));
}

#[tokio::test]
async fn a_rollback_refused_by_its_test_is_replanned_from_a_fresh_read() {
    let world = World::start(vec![RegressionStep::Rollback], Mode::Act).await;
    let read_version = resource_version(&world.deployment());
    world.server.write_as_other_before_next(
        Method::PATCH,
        DEPLOYMENT_PATH,
        deployment_key(),
        |current| {
            let mut deployment = current.cloned().expect("the Deployment exists");
            deployment["metadata"]["annotations"]["argocd.argoproj.io/tracking-id"] =
                "shop:apps/Deployment:shop/checkout".into();
            deployment
        },
    );
    let handled = actor(&world, "controller-a")
        .handle(&fail_report("checkout-59c4d7f8b6-pod0", 1), Instant::now())
        .await
        .expect("handled");
    assert!(
        matches!(
            handled,
            Handled::Acted {
                phase: Phase::RolledBack,
                ..
            }
        ),
        "{handled:?}"
    );
    let patches = world.deployment_patches();
    assert_eq!(patches.len(), 2, "refused, then re-planned: {patches:#?}");
    let tested = |request: &LoggedRequest| {
        let ops = assert_write(
            request,
            Method::PATCH,
            DEPLOYMENT_PATH,
            JSON_PATCH,
            Some("ripcord"),
        );
        assert_eq!(ops[0]["op"], "test");
        assert_eq!(ops[0]["path"], "/metadata/resourceVersion");
        ops[0]["value"].as_str().expect("a version").to_string()
    };
    assert_eq!(tested(&patches[0]), read_version);
    let second = tested(&patches[1]);
    assert_ne!(second, read_version, "the second plan used a fresh read");
    world.assert_rolled_back_to_revision_2();
    let deployment = world.deployment();
    assert_eq!(
        deployment["metadata"]["annotations"]["argocd.argoproj.io/tracking-id"],
        "shop:apps/Deployment:shop/checkout",
        "the other writer's annotation survives the rollback"
    );
}

#[tokio::test]
async fn a_human_rollback_between_read_and_patch_is_not_rolled_back_again() {
    let world = World::start(vec![RegressionStep::Rollback], Mode::Act).await;
    let previous = world
        .server
        .object(
            "apps/v1",
            "replicasets",
            Some("shop"),
            &format!("checkout-{PREVIOUS_HASH}"),
        )
        .expect("revision 2's ReplicaSet");
    let mut template = previous["spec"]["template"].clone();
    template["metadata"]["labels"]
        .as_object_mut()
        .expect("labels")
        .remove("pod-template-hash");
    world.server.write_as_other_before_next(
        Method::PATCH,
        DEPLOYMENT_PATH,
        deployment_key(),
        move |current| {
            let mut deployment = current.cloned().expect("the Deployment exists");
            deployment["spec"]["template"] = template;
            deployment
        },
    );
    let handled = actor(&world, "controller-a")
        .handle(&fail_report("checkout-59c4d7f8b6-pod0", 1), Instant::now())
        .await
        .expect("handled");
    assert!(
        matches!(
            handled,
            Handled::Acted {
                phase: Phase::RolledBack,
                ..
            }
        ),
        "{handled:?}"
    );
    assert_eq!(
        world.deployment_patches().len(),
        1,
        "only the refused patch"
    );
    let deployment = world.deployment();
    assert_eq!(
        deployment["spec"]["template"]["spec"]["containers"][0]["image"],
        "ghcr.io/example/checkout:v1.4.1"
    );
    assert!(
        deployment["metadata"]["annotations"]
            .get("ripcord.dev/rolled-back-from")
            .is_none(),
        "Ripcord wrote nothing over the human's rollback"
    );
    let status = world.check().status.expect("status");
    assert_eq!(status.actions[0].result, ActionResult::Skipped);
}

#[tokio::test]
async fn a_re_applied_failed_template_is_paused_by_a_guarded_json_patch() {
    let world = World::start(vec![RegressionStep::Rollback], Mode::Act).await;
    let stored = world
        .server
        .write_as_other(&deployment_key(), |current| {
            let mut deployment = current.cloned().expect("the Deployment exists");
            deployment["metadata"]["annotations"]["ripcord.dev/rolled-back-from"] =
                FAILED_HASH.into();
            deployment
        })
        .expect("the earlier rollback's record");
    world.server.clear_requests();
    let handled = actor(&world, "controller-a")
        .handle(&fail_report("checkout-59c4d7f8b6-pod0", 1), Instant::now())
        .await
        .expect("handled");
    assert!(
        matches!(
            handled,
            Handled::Acted {
                phase: Phase::Held,
                ..
            }
        ),
        "{handled:?}"
    );
    let patches = world.deployment_patches();
    assert_eq!(patches.len(), 1);
    let ops = assert_write(
        &patches[0],
        Method::PATCH,
        DEPLOYMENT_PATH,
        JSON_PATCH,
        Some("ripcord"),
    );
    let mut annotations = stored["metadata"]["annotations"].clone();
    annotations["ripcord.dev/held"] = FAILED_HASH.into();
    assert_eq!(
        ops,
        json!([
            {"op": "test", "path": "/metadata/resourceVersion", "value": resource_version(&stored)},
            {"op": "add", "path": "/spec/paused", "value": true},
            {"op": "add", "path": "/metadata/annotations", "value": annotations},
        ])
    );
    let deployment = world.deployment();
    assert_eq!(deployment["spec"]["paused"], true);
    assert_eq!(
        deployment["spec"]["template"], stored["spec"]["template"],
        "a hold changes no template"
    );
}

#[tokio::test]
async fn an_openfeature_flag_is_turned_off_under_a_precondition_and_replanned_on_conflict() {
    let world = World::start(vec![RegressionStep::Flag], Mode::Act).await;
    let mut flag: Value = serde_yaml::from_str(
        &std::fs::read_to_string(format!(
            "{}/../testdata/flags/featureflag-checkout.yaml",
            env!("CARGO_MANIFEST_DIR")
        ))
        .expect("fixture"),
    )
    .expect("YAML");
    flag["metadata"]["namespace"] = "shop".into();
    let key = world.server.insert(flag).expect("flag stored");
    let read_version = resource_version(&world.server.get(&key).expect("stored"));
    let others = world.server.get(&key).expect("stored")["spec"]["flagSpec"]["flags"]
        .as_object()
        .expect("flags")
        .keys()
        .find(|name| *name != "new-checkout")
        .cloned()
        .expect("the fixture has another flag");
    let touched = others.clone();
    world.server.write_as_other_before_next(
        Method::PATCH,
        FLAG_PATH,
        key.clone(),
        move |current| {
            let mut flag = current.cloned().expect("the flag exists");
            flag["spec"]["flagSpec"]["flags"][&touched]["metadata"] =
                json!({"owner": "another writer"});
            flag
        },
    );
    world.server.clear_requests();
    let flipper = FlagFlipper::new(
        HttpClient::new(HttpLimits::default(), None).expect("client"),
        Credentials::new("/nonexistent"),
    )
    .with_kube(world.client());
    let handled = actor(&world, "controller-a")
        .with_flags(flipper)
        .handle(&fail_report("checkout-59c4d7f8b6-pod0", 1), Instant::now())
        .await
        .expect("handled");
    assert!(
        matches!(
            handled,
            Handled::Acted {
                phase: Phase::FlagOff,
                ..
            }
        ),
        "{handled:?}"
    );
    let patches: Vec<LoggedRequest> = world
        .server
        .writes()
        .into_iter()
        .filter(|r| r.path == FLAG_PATH)
        .collect();
    assert_eq!(patches.len(), 2, "refused, then re-read: {patches:#?}");
    let bodies: Vec<Value> = patches
        .iter()
        .map(|p| assert_write(p, Method::PATCH, FLAG_PATH, MERGE, Some("ripcord")))
        .collect();
    let off = json!({"flagSpec": {"flags": {"new-checkout": {"defaultVariant": "off", "targeting": null}}}});
    assert_eq!(
        bodies[0],
        json!({"metadata": {"resourceVersion": read_version}, "spec": off})
    );
    assert_eq!(bodies[1]["spec"], off);
    assert_ne!(bodies[1]["metadata"]["resourceVersion"], read_version);
    let stored = world.server.get(&key).expect("stored");
    let flags = &stored["spec"]["flagSpec"]["flags"];
    assert_eq!(flags["new-checkout"]["defaultVariant"], "off");
    assert!(flags["new-checkout"].get("targeting").is_none());
    assert_eq!(
        flags[&others]["metadata"]["owner"], "another writer",
        "the other writer's change survives"
    );
    assert!(world.deployment_patches().is_empty());
}
