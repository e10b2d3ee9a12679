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
//! | Outcome: phase, actions, `acted`, message (`act::Actor::finish`) | PATCH `…/status`, merge, `metadata.resourceVersion` of the claim's write (on 409: re-read, add the records to what is there; on 429/5xx: back off, re-read, retry) | `a_rollback_writes_claim_rollback_outcome_and_events_in_order`, `an_outcome_after_a_takeover_keeps_both_replicas_records`, `an_outcome_refused_by_an_overloaded_api_server_is_retried_and_recorded_once` |
//! | Rollback of the Deployment (`act::rollback`, `rollback::plan`) | PATCH, JSON patch, `test` of `/metadata/resourceVersion` | `a_rollback_writes_claim_rollback_outcome_and_events_in_order`, `a_rollback_refused_by_its_test_is_replanned_from_a_fresh_read`, `a_human_rollback_between_read_and_patch_is_not_rolled_back_again`; a 5xx is tried again within the claim (`a_rollback_refused_by_a_failing_api_server_is_tried_again_within_the_claim`), past it the check stays `Acting` for the next failing verdict (`a_rollback_failing_past_its_claim_stays_acting_and_the_next_failing_verdict_retries`) or, with none to come, the leader's sweep (`a_claim_left_stale_with_no_verdict_to_come_is_taken_over_from_its_status`) |
//! | Quarantine: pause a re-applied failed template (`rollback::plan`; on a verdict through `act::rollback`, without one through `reconcile::hold` and `act::hold::hold`) | PATCH, JSON patch, `test` of `/metadata/resourceVersion` | `a_re_applied_failed_template_is_paused_by_a_guarded_json_patch`, `a_re_applied_rolled_back_template_is_held_by_the_reconcile_without_a_verdict`, `a_template_a_human_released_is_not_held_again` |
//! | `Held` on the re-applied release's check (`reconcile::hold::held_status`) | PATCH `…/status`, merge, the cached check's `metadata.resourceVersion` | `a_re_applied_rolled_back_template_is_held_by_the_reconcile_without_a_verdict` |
//! | Lifting a hold once a new template arrives (`rollback::resume`, `act::hold::resume`) | PATCH, JSON patch, `test` of `/metadata/resourceVersion` | `a_held_deployment_given_a_new_template_is_unpaused_by_the_reconcile` |
//! | Events on the Deployment (`act::evidence::publish`, kube `Recorder`) | POST `events.k8s.io/v1`, none (a create) | `a_rollback_writes_claim_rollback_outcome_and_events_in_order`, `a_re_applied_rolled_back_template_is_held_by_the_reconcile_without_a_verdict` (`ReleaseHeld`), `a_held_deployment_given_a_new_template_is_unpaused_by_the_reconcile` (`ReleaseResumed`) |
//! | OpenFeature `FeatureFlag` off (`flags::openfeature::turn_off`) | PATCH, merge, `metadata.resourceVersion` | `an_openfeature_flag_is_turned_off_under_a_precondition_and_replanned_on_conflict`, `a_flag_flip_refused_by_a_failing_api_server_is_tried_again_within_the_claim` |
//! | ReleaseCheck create (`reconcile::apply`, `plan::plan`) | POST, none (a create fails on an existing name: 409, tolerated) | `a_new_release_creates_its_check_sets_its_status_and_annotates_the_deployment` |
//! | First status of a new check: `Watching`/`Inconclusive`, `released` (`reconcile::apply`) | PATCH `…/status`, merge, the created check's `metadata.resourceVersion`; skipped when the create found the check there | `a_new_release_creates_its_check_sets_its_status_and_annotates_the_deployment`, `a_check_created_by_another_writer_keeps_its_status` |
//! | `Passed` at the end of the guard period (`plan::maybe_passed`) | PATCH `…/status`, merge, the cached check's `metadata.resourceVersion` | `a_pass_at_the_end_of_the_guard_period_is_written_under_a_precondition`, `a_pass_never_overwrites_a_concurrent_claim` |
//! | `rollbackComplete` (`plan::complete_rollback`) | PATCH `…/status`, merge, the cached check's `metadata.resourceVersion` | `a_finished_rollback_is_marked_complete_and_replanned_after_a_conflict` |
//! | Deployment annotation `ripcord.dev/release-check` (`plan::plan`) | PATCH, merge, none (one key, idempotent) | `a_new_release_creates_its_check_sets_its_status_and_annotates_the_deployment` |
//! | Webhook `caBundle` (`tls::apply_ca_bundle`) | PATCH, JSON patch, `test` of each webhook's name (no resourceVersion: it adds one idempotent field) | `the_ca_bundle_patch_touches_only_ca_bundles_and_fails_on_a_reordered_list` |
//! | TLS Secret fill (`run::tls::SecretPki`, through `run::run_with`; its renewals are tested in `run::tls`'s unit tests) | PATCH, merge, `metadata.resourceVersion` of the Secret read | `run_fills_the_tls_secret_under_a_precondition_and_uses_the_winners_on_conflict` |
//! | Lease (`ops::leader`, kube-lease-manager) | POST create, then server-side apply of the holder (non-forced: another manager's holder fields make it conflict), then a strategic patch of `leaseTransitions` (renewals are strategic patches of the holder's own fields) | `run_fills_the_tls_secret_under_a_precondition_and_uses_the_winners_on_conflict`, `a_lease_taken_by_another_replica_between_read_and_apply_is_not_taken_over` |
//! | Lifting a hold, `kubectl ripcord release` (`rollback::release`, the plugin binary) | PATCH, JSON patch, `test` of `/metadata/resourceVersion` | `kubectl_ripcord_release_unpauses_under_a_precondition_and_gives_up_on_a_conflict` |
//! | The human's release on the held template's checks, `ripcord.dev/released-by`/`-at` (`rollback::release_record`, the plugin binary, before the unpause) | PATCH, merge, none (two annotations, idempotent) | `kubectl_ripcord_release_unpauses_under_a_precondition_and_gives_up_on_a_conflict`, `a_template_a_human_released_is_not_held_again` |
//!
//! Every write names `fieldManager=ripcord` but the Events (kube's `Recorder` names none) and
//! the Lease (kube-lease-manager's own manager).
//!
//! Not here: the baseline snapshot's ConfigMap create and delete and its status patch
//! (`snapshot.rs`, `controller_run.rs`), flag clients other than OpenFeature (HTTP APIs, not Kubernetes: `flags_http.rs`,
//! `unleash.rs`), and TokenReviews (a POST that reads, stores nothing: `intake.rs`).

mod cli;
mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::FutureExt;
use http::Method;
use kube::api::{Api, DeleteParams};
use ripcord_controller::act::{Actor, Handled, decide::SkipReason, retry::RetryPolicy};
use ripcord_controller::crd::{ActionResult, Mode, Phase, RegressionStep, rfc3339_from_ms};
use ripcord_controller::flags::{Credentials, FlagFlipper};
use ripcord_controller::http::{HttpClient, HttpLimits};
use ripcord_controller::ops::leader::Leadership;
use ripcord_controller::ops::metrics::Metrics;
use ripcord_controller::reconcile::assign::AssignSettings;
use ripcord_controller::reconcile::cache::{Caches, Scope};
use ripcord_controller::reconcile::{self, Context};
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

/// Where ReleaseChecks of shop are created.
const CHECKS_PATH: &str = "/apis/ripcord.dev/v1alpha1/namespaces/shop/releasechecks";

/// Longest a scenario waits for the reconciler.
const WAIT: Duration = Duration::from_secs(20);

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

fn now_ms() -> i64 {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after the epoch")
        .as_millis();
    i64::try_from(ms).expect("fits")
}

fn now_rfc3339() -> String {
    rfc3339_from_ms(now_ms())
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

/// Hands a fail verdict to `actor` and asserts it rolled the release back.
async fn rolls_back(actor: Actor) {
    acts_to(&actor, 1, Phase::RolledBack).await;
}

/// Hands `actor` pod0's fail verdict number `sequence` and asserts it acted, ending in `phase`.
async fn acts_to(actor: &Actor, sequence: u64, phase: Phase) {
    let handled = actor
        .handle(
            &fail_report("checkout-59c4d7f8b6-pod0", sequence),
            Instant::now(),
        )
        .await
        .expect("handled");
    assert!(
        matches!(&handled, Handled::Acted { phase: p, .. } if *p == phase),
        "{handled:?}, expected {phase:?}"
    );
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
    rolls_back(actor(&world, "controller-a").with_notifier(hook.notifier())).await;
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

    // The outcome: status, guarded by the version the claim's write returned (nothing else
    // wrote the check meanwhile here; see the takeover scenario for when something did).
    let outcome = assert_write(
        &writes[2],
        Method::PATCH,
        CHECK_STATUS_PATH,
        MERGE,
        Some("ripcord"),
    );
    assert_eq!(members(&outcome), ["metadata", "status"], "{outcome}");
    let status_writes = world
        .server
        .requests()
        .iter()
        .filter(|r| r.method == Method::PATCH && r.path == CHECK_STATUS_PATH)
        .count();
    assert_eq!(status_writes, 2, "claim and outcome, no retry");
    assert_ne!(outcome["metadata"]["resourceVersion"], json!(check_version));
    assert!(
        outcome["metadata"]["resourceVersion"].is_string(),
        "{outcome}"
    );
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
async fn an_outcome_after_a_takeover_keeps_both_replicas_records() {
    let world = World::start(vec![RegressionStep::Rollback], Mode::Act).await;
    let acted_at = now_rfc3339();
    // While controller-a rolls back, controller-b takes its claim over (as after a stall past
    // the claim's TTL) and records a flag step of its own.
    world.server.write_as_other_before_next(
        Method::PATCH,
        DEPLOYMENT_PATH,
        check_key(),
        move |current| {
            let mut check = current.cloned().expect("the check exists");
            check["status"]["claimedBy"] = "controller-b".into();
            check["status"]["claimedAt"] = acted_at.clone().into();
            check["status"]["actions"] = json!([{
                "kind": "FlagOff", "result": "Failed", "at": acted_at,
                "detail": "no flag credentials are configured"
            }]);
            check
        },
    );
    rolls_back(actor(&world, "controller-a")).await;
    let requests = world.server.requests();
    let outcomes: Vec<&LoggedRequest> = requests
        .iter()
        .filter(|r| r.method == Method::PATCH && r.path == CHECK_STATUS_PATH)
        .skip(1)
        .collect();
    assert_eq!(
        outcomes.len(),
        2,
        "refused once, then written: {outcomes:#?}"
    );
    let first = outcomes[0].json().expect("JSON");
    let second = outcomes[1].json().expect("JSON");
    assert_ne!(
        first["metadata"]["resourceVersion"], second["metadata"]["resourceVersion"],
        "the retry carries the version it re-read"
    );
    let refused_at = requests
        .iter()
        .position(|r| std::ptr::eq(r, outcomes[0]))
        .expect("in the log");
    assert!(
        requests[refused_at + 1..]
            .iter()
            .any(|r| r.method == Method::GET && r.path == CHECK_PATH),
        "the check is read again after the conflict"
    );
    let status = world.check().status.expect("status");
    let kinds: Vec<(String, String)> = status
        .actions
        .iter()
        .map(|a| (format!("{:?}", a.kind), format!("{:?}", a.result)))
        .collect();
    assert_eq!(
        kinds,
        [
            ("FlagOff".to_string(), "Failed".to_string()),
            ("Rollback".to_string(), "Succeeded".to_string())
        ],
        "controller-b's record kept, controller-a's added"
    );
    assert_eq!(status.phase, Some(Phase::RolledBack));
    assert_eq!(status.claimed_by.as_deref(), Some("controller-b"));
    world.assert_rolled_back_to_revision_2();
}

#[tokio::test]
async fn an_outcome_refused_by_an_overloaded_api_server_is_retried_and_recorded_once() {
    let world = World::start(vec![RegressionStep::Rollback], Mode::Act).await;
    let hook = Hook::start().await;
    world.server.fail_after(
        Method::PATCH,
        CHECK_STATUS_PATH,
        1,
        http::StatusCode::SERVICE_UNAVAILABLE,
    );
    rolls_back(actor(&world, "controller-a").with_notifier(hook.notifier())).await;
    let outcomes = world
        .server
        .requests()
        .into_iter()
        .filter(|r| r.method == Method::PATCH && r.path == CHECK_STATUS_PATH)
        .count();
    assert_eq!(
        outcomes, 3,
        "the claim, the refused outcome, the retried one"
    );
    let status = world.check().status.expect("status");
    assert_eq!(status.phase, Some(Phase::RolledBack));
    assert_eq!(
        status.actions.len(),
        1,
        "recorded once: {:?}",
        status.actions
    );
    assert_eq!(hook.count(), 1);
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
    rolls_back(actor(&world, "controller-a")).await;
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
async fn a_rollback_refused_by_a_failing_api_server_is_tried_again_within_the_claim() {
    let world = World::start(vec![RegressionStep::Rollback], Mode::Act).await;
    world.server.fail_next(
        Method::PATCH,
        DEPLOYMENT_PATH,
        http::StatusCode::INTERNAL_SERVER_ERROR,
    );
    rolls_back(actor(&world, "controller-a")).await;
    world.assert_rolled_back_to_revision_2();
    assert_eq!(
        world.deployment_patches().len(),
        2,
        "the patch the server refused, then the one that landed"
    );
    let status = world.check().status.expect("status");
    assert_eq!(status.actions.len(), 1, "{:?}", status.actions);
    assert_eq!(status.actions[0].result, ActionResult::Succeeded);
}

/// Retries that end within 1.2 s of the claim.
const SHORT_RETRIES: RetryPolicy = RetryPolicy {
    within_claim: Duration::from_millis(1200),
    attempt_limit: Duration::from_secs(5),
};

/// Has controller-a claim the release and fail to roll it back for a passing reason (the API
/// server answers 500 to its patches past its retries), leaving the check `Acting`.
async fn leave_a_pending_rollback(world: &World, hook: &Hook) {
    for _ in 0..2 {
        world.server.fail_next(
            Method::PATCH,
            DEPLOYMENT_PATH,
            http::StatusCode::INTERNAL_SERVER_ERROR,
        );
    }
    let first = actor(world, "controller-a")
        .with_retries(SHORT_RETRIES)
        .with_notifier(hook.notifier());
    acts_to(&first, 1, Phase::Acting).await;
    let status = world.check().status.expect("status");
    assert_eq!(status.phase, Some(Phase::Acting));
    assert_eq!(status.claimed_by.as_deref(), Some("controller-a"));
    assert_eq!(status.actions.len(), 1, "{:?}", status.actions);
    assert_eq!(status.actions[0].result, ActionResult::Failed);
    assert!(
        status
            .message
            .as_deref()
            .unwrap_or_default()
            .contains("tried again"),
        "{:?}",
        status.message
    );
    assert_eq!(
        world.deployment()["spec"]["template"]["spec"]["containers"][0]["image"],
        "ghcr.io/example/checkout:v1.4.2",
        "nothing was rolled back yet"
    );
}

/// Moves the check's claim two minutes into the past, so it is stale.
fn age_the_claim(world: &World) {
    world
        .server
        .write_as_other(&check_key(), |stored| {
            let mut check = stored.expect("stored").clone();
            check["status"]["claimedAt"] = json!(rfc3339_from_ms(now_ms() - 2 * 60_000));
            check
        })
        .expect("claim aged");
}

/// Asserts the release ended rolled back with the pending attempt's record and the one that
/// succeeded, and the hook heard of both.
fn assert_rolled_back_after_a_pending_attempt(world: &World, hook: &Hook) {
    world.assert_rolled_back_to_revision_2();
    let status = world.check().status.expect("status");
    let results: Vec<ActionResult> = status.actions.iter().map(|a| a.result).collect();
    assert_eq!(
        results,
        vec![ActionResult::Failed, ActionResult::Succeeded],
        "both replicas' records are kept"
    );
    assert_eq!(
        hook.count(),
        2,
        "one notice that the rollback is pending, one that it happened"
    );
}

#[tokio::test]
async fn a_rollback_failing_past_its_claim_stays_acting_and_the_next_failing_verdict_retries() {
    let world = World::start(vec![RegressionStep::Rollback], Mode::Act).await;
    let hook = Hook::start().await;
    leave_a_pending_rollback(&world, &hook).await;
    let second = actor(&world, "controller-b")
        .with_retries(SHORT_RETRIES)
        .with_notifier(hook.notifier());
    let while_claimed = second
        .handle(&fail_report("checkout-59c4d7f8b6-pod0", 2), Instant::now())
        .await
        .expect("handled");
    assert_eq!(
        while_claimed,
        Handled::Skipped(SkipReason::ClaimedElsewhere),
        "a live claim is left to its replica"
    );
    age_the_claim(&world);
    acts_to(&second, 3, Phase::RolledBack).await;
    assert_rolled_back_after_a_pending_attempt(&world, &hook);
}

#[tokio::test]
async fn a_pending_outcome_under_another_replicas_settled_one_reports_nothing() {
    let world = World::start(vec![RegressionStep::Rollback], Mode::Act).await;
    let hook = Hook::start().await;
    for _ in 0..2 {
        world.server.fail_next(
            Method::PATCH,
            DEPLOYMENT_PATH,
            http::StatusCode::INTERNAL_SERVER_ERROR,
        );
    }
    let slow = actor(&world, "controller-a")
        .with_retries(SHORT_RETRIES)
        .with_notifier(hook.notifier());
    let acting = tokio::spawn(async move {
        slow.handle(&fail_report("checkout-59c4d7f8b6-pod0", 1), Instant::now())
            .await
    });
    world
        .server
        .wait_until(WAIT, |s| {
            let check = s.get(&check_key())?;
            (check["status"]["claimedBy"] == "controller-a").then_some(())
        })
        .await
        .expect("controller-a claimed the release");
    world.server.write_as_other_before_next(
        Method::PATCH,
        CHECK_STATUS_PATH,
        check_key(),
        |stored| {
            let mut check = stored.cloned().expect("stored");
            check["status"]["phase"] = json!("RolledBack");
            check
        },
    );
    let handled = acting.await.expect("joined").expect("handled");
    assert!(
        matches!(
            handled,
            Handled::Acted {
                phase: Phase::RolledBack,
                ..
            }
        ),
        "the phase written is the settled one: {handled:?}"
    );
    let status = world.check().status.expect("status");
    assert_eq!(status.phase, Some(Phase::RolledBack));
    assert_eq!(status.actions.len(), 1, "controller-a's record is kept");
    assert_eq!(
        hook.count(),
        0,
        "the replica that settled it reported; a stale 'not yet' would contradict it"
    );
    assert!(
        world.server.writes().iter().all(|r| r.path != EVENTS_PATH),
        "no Warning Event after the release settled"
    );
}

#[tokio::test]
async fn a_claim_left_stale_with_no_verdict_to_come_is_taken_over_from_its_status() {
    let world = World::start(vec![RegressionStep::Rollback], Mode::Act).await;
    let hook = Hook::start().await;
    leave_a_pending_rollback(&world, &hook).await;
    let evidence = world.check().status.expect("status").metrics;
    assert!(!evidence.is_empty(), "the failing verdict's evidence");
    let sweeper = actor(&world, "controller-b")
        .with_retries(SHORT_RETRIES)
        .with_notifier(hook.notifier());
    assert_eq!(
        sweeper
            .take_over_stranded("shop", "checkout-3")
            .await
            .expect("looked at"),
        Handled::Skipped(SkipReason::ClaimedElsewhere),
        "a live claim is left to its replica"
    );
    age_the_claim(&world);
    let handled = sweeper
        .take_over_stranded("shop", "checkout-3")
        .await
        .expect("taken over");
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
    assert_rolled_back_after_a_pending_attempt(&world, &hook);
    let status = world.check().status.expect("status");
    assert_eq!(status.claimed_by.as_deref(), Some("controller-b"));
    assert_eq!(
        status.metrics, evidence,
        "the verdict's evidence is kept as it was"
    );
    assert_eq!(
        sweeper
            .take_over_stranded("shop", "checkout-3")
            .await
            .expect("looked at"),
        Handled::Skipped(SkipReason::AlreadySettled),
        "a settled check is not stranded"
    );
}

#[tokio::test]
async fn a_patch_refused_with_no_race_behind_it_settles_with_the_servers_answer() {
    let world = World::start(vec![RegressionStep::Rollback], Mode::Act).await;
    for _ in 0..10 {
        world.server.fail_next(
            Method::PATCH,
            DEPLOYMENT_PATH,
            http::StatusCode::UNPROCESSABLE_ENTITY,
        );
    }
    let refused = actor(&world, "controller-a").with_retries(SHORT_RETRIES);
    acts_to(&refused, 1, Phase::Failed).await;
    assert_eq!(
        world.deployment_patches().len(),
        1,
        "the Deployment had not changed when read again: no second patch"
    );
    let status = world.check().status.expect("status");
    let detail = status.actions[0].detail.as_deref().unwrap_or_default();
    assert!(detail.contains("refused the patch"), "{detail}");
}

#[tokio::test]
async fn a_rollback_never_targets_a_release_whose_flag_was_turned_off() {
    let world = World::start(vec![RegressionStep::Rollback], Mode::Act).await;
    let mut earlier = world.server.get(&check_key()).expect("check-3 stored");
    let metadata = earlier["metadata"].as_object_mut().expect("metadata");
    metadata.retain(|key, _| key == "namespace");
    metadata.insert("name".to_string(), json!("checkout-2"));
    earlier["spec"]["revision"] = json!(2);
    earlier["spec"]["templateHash"] = json!(PREVIOUS_HASH);
    earlier["spec"]["policy"]["onRegression"] = json!(["flag"]);
    earlier["status"] = json!({"phase": "FlagOff"});
    world.server.insert(earlier).expect("check-2 stored");
    rolls_back(actor(&world, "controller-a")).await;
    let deployment = world.deployment();
    assert_eq!(
        deployment["spec"]["template"]["spec"]["containers"][0]["image"],
        "ghcr.io/example/checkout:v1.4.0",
        "revision 2 failed (its flag was turned off): back to revision 1"
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
    rolls_back(actor(&world, "controller-a")).await;
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

/// Stores the FeatureFlag the `flag` step turns off, in shop.
fn store_flag(world: &World) -> ObjectKey {
    let mut flag: Value = serde_yaml::from_str(
        &std::fs::read_to_string(format!(
            "{}/../testdata/flags/featureflag-checkout.yaml",
            env!("CARGO_MANIFEST_DIR")
        ))
        .expect("fixture"),
    )
    .expect("YAML");
    flag["metadata"]["namespace"] = "shop".into();
    world.server.insert(flag).expect("flag stored")
}

/// A flag flipper that reaches FeatureFlags through the world's API server.
fn flipper(world: &World) -> FlagFlipper {
    FlagFlipper::new(
        HttpClient::new(HttpLimits::default(), None).expect("client"),
        Credentials::new("/nonexistent"),
    )
    .with_kube(world.client())
}

/// Hands controller-a a fail verdict and asserts it turned the flag off.
async fn turns_the_flag_off(world: &World) {
    let flips = actor(world, "controller-a").with_flags(flipper(world));
    acts_to(&flips, 1, Phase::FlagOff).await;
}

#[tokio::test]
async fn a_flag_flip_refused_by_a_failing_api_server_is_tried_again_within_the_claim() {
    let world = World::start(vec![RegressionStep::Flag], Mode::Act).await;
    let key = store_flag(&world);
    world.server.fail_next(
        Method::PATCH,
        FLAG_PATH,
        http::StatusCode::INTERNAL_SERVER_ERROR,
    );
    turns_the_flag_off(&world).await;
    let stored = world.server.get(&key).expect("stored");
    assert_eq!(
        stored["spec"]["flagSpec"]["flags"]["new-checkout"]["defaultVariant"],
        "off"
    );
    let status = world.check().status.expect("status");
    assert_eq!(status.actions.len(), 1, "{:?}", status.actions);
    assert_eq!(status.actions[0].result, ActionResult::Succeeded);
}

#[tokio::test]
async fn an_openfeature_flag_is_turned_off_under_a_precondition_and_replanned_on_conflict() {
    let world = World::start(vec![RegressionStep::Flag], Mode::Act).await;
    let key = store_flag(&world);
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
    turns_the_flag_off(&world).await;
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

/// Runs the real reconciler (leading) over shop until the returned sender says stop.
fn start_reconciler(world: &World) -> tokio::sync::watch::Sender<bool> {
    let client = world.client();
    let (caches, streams) = Caches::watch(&client, &Scope::Namespaces(vec!["shop".to_string()]));
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
    tokio::spawn(reconcile::run(context, streams, shutdown));
    stop
}

/// Waits until the reconciler annotated the Deployment with its latest check (its last write
/// for a release), then a little longer for anything it should not write.
async fn until_annotated(world: &World) {
    world
        .server
        .wait_until(WAIT, |s| {
            let deployment = s.get(&deployment_key())?;
            deployment["metadata"]["annotations"]
                .get("ripcord.dev/release-check")
                .map(|_| ())
        })
        .await
        .expect("the reconciler annotated the Deployment");
    tokio::time::sleep(Duration::from_millis(500)).await;
}

/// The support world without its ReleaseCheck (as before the reconciler saw the release); returns
/// the check as it was stored.
async fn world_before_the_check() -> (World, Value) {
    let world = World::start(vec![RegressionStep::Rollback], Mode::Act).await;
    let check = world.server.get(&check_key()).expect("the check");
    let api: Api<ripcord_controller::crd::ReleaseCheck> = Api::namespaced(world.client(), "shop");
    api.delete("checkout-3", &DeleteParams::default())
        .await
        .expect("deleted");
    world.server.clear_requests();
    (world, check)
}

/// PATCHes of the check's status so far.
fn status_patches(world: &World) -> Vec<LoggedRequest> {
    world
        .server
        .writes()
        .into_iter()
        .filter(|r| r.method == Method::PATCH && r.path == CHECK_STATUS_PATH)
        .collect()
}

#[tokio::test]
async fn a_release_with_invalid_annotations_is_not_checked_and_says_so_in_an_event() {
    let (world, _) = world_before_the_check().await;
    let current = ObjectKey::new(
        "apps/v1",
        "replicasets",
        Some("shop"),
        &format!("checkout-{FAILED_HASH}"),
    );
    for key in [deployment_key(), current.clone()] {
        world
            .server
            .write_as_other(&key, |stored| {
                let mut object = stored.expect("stored").clone();
                object["spec"]["template"]["metadata"]["annotations"]["ripcord.dev/on-regression"] =
                    json!("rollbak");
                object
            })
            .expect("annotation set on the template and its ReplicaSet");
    }
    world.server.clear_requests();
    let stop = start_reconciler(&world);
    let event = world
        .server
        .wait_until(WAIT, |s| {
            s.writes()
                .into_iter()
                .find(|r| r.method == Method::POST && r.path == EVENTS_PATH)
        })
        .await
        .expect("an Event");
    world
        .server
        .write_as_other(&current, |stored| {
            let mut object = stored.expect("stored").clone();
            object["metadata"]["annotations"]["touched"] = json!("again");
            object
        })
        .expect("the ReplicaSet touched, to reconcile again");
    tokio::time::sleep(Duration::from_millis(800)).await;
    let _ = stop.send(true);
    let events = world
        .server
        .writes()
        .into_iter()
        .filter(|r| r.path == EVENTS_PATH)
        .count();
    assert_eq!(events, 1, "the same reason is reported once");
    let body: Value = serde_json::from_slice(&event.body).expect("JSON");
    assert_eq!(body["reason"], "AnnotationInvalid", "{body}");
    assert_eq!(body["type"], "Warning", "{body}");
    assert_eq!(body["regarding"]["name"], "checkout", "{body}");
    let note = body["note"].as_str().unwrap_or_default();
    assert!(
        note.contains("ripcord.dev/on-regression") && note.contains("rollbak"),
        "{note}"
    );
    assert!(
        world.server.writes().iter().all(|r| r.path == EVENTS_PATH),
        "no check is created for it: {:#?}",
        world.server.writes()
    );
}

#[tokio::test]
async fn a_new_release_creates_its_check_sets_its_status_and_annotates_the_deployment() {
    let (world, _) = world_before_the_check().await;
    let deployment = world.deployment();
    let stop = start_reconciler(&world);
    until_annotated(&world).await;
    let _ = stop.send(true);
    let writes = world.server.writes();
    let creates: Vec<&LoggedRequest> = writes.iter().filter(|r| r.method == Method::POST).collect();
    let patches: Vec<&LoggedRequest> = writes
        .iter()
        .filter(|r| r.method == Method::PATCH)
        .collect();
    assert!(
        writes
            .iter()
            .all(|r| [Method::POST, Method::PATCH].contains(&r.method)),
        "{writes:#?}"
    );

    // The create: no precondition (a create of an existing name fails by itself, 409), no status.
    let create = assert_write(
        creates[0],
        Method::POST,
        CHECKS_PATH,
        "application/json",
        Some("ripcord"),
    );
    assert_eq!(create["metadata"]["name"], "checkout-3");
    assert!(create["metadata"].get("resourceVersion").is_none());
    assert_eq!(
        create["metadata"]["ownerReferences"],
        json!([{"apiVersion": "apps/v1", "kind": "Deployment", "name": "checkout",
                "uid": deployment["metadata"]["uid"], "controller": false,
                "blockOwnerDeletion": false}])
    );
    assert_eq!(create["spec"]["revision"], 3);
    assert_eq!(create["spec"]["templateHash"], FAILED_HASH);
    assert_eq!(
        create["spec"]["previous"],
        json!({"revision": 2, "templateHash": PREVIOUS_HASH})
    );
    assert!(create.get("status").is_none_or(Value::is_null), "{create}");

    // Then the first status, guarded by the version the create returned; then the annotation.
    assert_eq!(patches.len(), 2, "status, annotation: {patches:#?}");
    let status = assert_write(
        patches[0],
        Method::PATCH,
        CHECK_STATUS_PATH,
        MERGE,
        Some("ripcord"),
    );
    assert_eq!(members(&status), ["metadata", "status"]);
    assert!(
        status["metadata"]["resourceVersion"].is_string(),
        "{status}"
    );
    assert_eq!(status["status"]["phase"], "Watching");
    assert!(status["status"]["timeline"]["released"].is_string());
    assert!(status["status"].get("claimedBy").is_none());
    // The annotation: one key of a merge patch, no precondition. Writing it twice writes the
    // same value, and a merge patch of one annotation leaves every other field alone, so a
    // concurrent writer loses nothing.
    let annotation = assert_write(
        patches[1],
        Method::PATCH,
        DEPLOYMENT_PATH,
        MERGE,
        Some("ripcord"),
    );
    assert_eq!(
        annotation,
        json!({"metadata": {"annotations": {"ripcord.dev/release-check": "checkout-3"}}})
    );
    let stored = world.check();
    assert_eq!(stored.status.expect("status").phase, Some(Phase::Watching));
    let after = world.deployment();
    assert_eq!(
        after["spec"], deployment["spec"],
        "the Deployment's spec is untouched"
    );
}

#[tokio::test]
async fn a_check_created_by_another_writer_keeps_its_status() {
    let (world, mut theirs) = world_before_the_check().await;
    theirs["status"] = json!({"phase": "RolledBack", "claimedBy": "controller-b"});
    world
        .server
        .write_as_other_before_next(Method::POST, CHECKS_PATH, check_key(), move |_| theirs);
    let stop = start_reconciler(&world);
    until_annotated(&world).await;
    let _ = stop.send(true);
    assert!(
        status_patches(&world).is_empty(),
        "no status is written over a check this reconcile did not create: {:#?}",
        status_patches(&world)
    );
    let status = world.check().status.expect("status");
    assert_eq!(status.phase, Some(Phase::RolledBack));
    assert_eq!(status.claimed_by.as_deref(), Some("controller-b"));
}

/// Gives the world's check a `pass` verdict (its guard period, 30 minutes from revision 3's
/// ReplicaSet, is long over).
fn passing(world: &World) -> String {
    let stored = world
        .server
        .write_as_other(&check_key(), |current| {
            let mut check = current.cloned().expect("the check exists");
            check["status"]["verdict"] = "pass".into();
            check
        })
        .expect("verdict written");
    world.server.clear_requests();
    resource_version(&stored)
}

#[tokio::test]
async fn a_pass_at_the_end_of_the_guard_period_is_written_under_a_precondition() {
    let world = World::start(vec![RegressionStep::Rollback], Mode::Act).await;
    let version = passing(&world);
    let stop = start_reconciler(&world);
    until_annotated(&world).await;
    world
        .server
        .wait_until(WAIT, |s| {
            let check = s.get(&check_key())?;
            (check["status"]["phase"] == "Passed").then_some(())
        })
        .await
        .expect("the check passed");
    let _ = stop.send(true);
    let patches = status_patches(&world);
    assert_eq!(patches.len(), 1, "{patches:#?}");
    let body = assert_write(
        &patches[0],
        Method::PATCH,
        CHECK_STATUS_PATH,
        MERGE,
        Some("ripcord"),
    );
    assert_eq!(
        body,
        json!({"metadata": {"resourceVersion": version},
               "status": {"phase": "Passed", "message": "the guard period ended and the release passed"}})
    );
}

#[tokio::test]
async fn a_pass_never_overwrites_a_concurrent_claim() {
    let world = World::start(vec![RegressionStep::Rollback], Mode::Act).await;
    passing(&world);
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
    let stop = start_reconciler(&world);
    world
        .server
        .wait_until(WAIT, |s| {
            s.writes()
                .into_iter()
                .find(|r| r.method == Method::PATCH && r.path == CHECK_STATUS_PATH)
        })
        .await
        .expect("the reconciler tried to pass the check");
    until_annotated(&world).await;
    let _ = stop.send(true);
    let status = world.check().status.expect("status");
    assert_eq!(
        status.phase,
        Some(Phase::Acting),
        "the claim stands: {:#?}",
        status_patches(&world)
    );
    assert_eq!(status.claimed_by.as_deref(), Some("controller-b"));
}

#[tokio::test]
async fn a_finished_rollback_is_marked_complete_and_replanned_after_a_conflict() {
    let world = World::start(vec![RegressionStep::Rollback], Mode::Act).await;
    let handled = actor(&world, "controller-a")
        .handle(&fail_report("checkout-59c4d7f8b6-pod0", 1), Instant::now())
        .await
        .expect("handled");
    assert!(matches!(
        handled,
        Handled::Acted {
            phase: Phase::RolledBack,
            ..
        }
    ));
    let read = world
        .server
        .write_as_other(&deployment_key(), |current| {
            let mut deployment = current.cloned().expect("the Deployment exists");
            let replicas = deployment["spec"]["replicas"].clone();
            deployment["status"] = json!({
                "observedGeneration": deployment["metadata"]["generation"],
                "replicas": replicas, "updatedReplicas": replicas,
                "availableReplicas": replicas, "readyReplicas": replicas,
            });
            deployment
        })
        .expect("the rollout finished");
    assert_eq!(
        read["status"]["observedGeneration"],
        read["metadata"]["generation"]
    );
    world.server.clear_requests();
    world.server.write_as_other_before_next(
        Method::PATCH,
        CHECK_STATUS_PATH,
        check_key(),
        |current| {
            let mut check = current.cloned().expect("the check exists");
            check["status"]["message"] = "written by another writer".into();
            check
        },
    );
    let stop = start_reconciler(&world);
    world
        .server
        .wait_until(WAIT, |s| {
            let check = s.get(&check_key())?;
            check["status"]["timeline"]
                .get("rollbackComplete")
                .map(|_| ())
        })
        .await
        .expect("the rollback was marked complete");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let _ = stop.send(true);
    let patches = status_patches(&world);
    assert_eq!(patches.len(), 2, "refused, then re-planned: {patches:#?}");
    let bodies: Vec<Value> = patches
        .iter()
        .map(|p| assert_write(p, Method::PATCH, CHECK_STATUS_PATH, MERGE, Some("ripcord")))
        .collect();
    for body in &bodies {
        assert_eq!(members(body), ["metadata", "status"]);
        assert_eq!(members(&body["status"]), ["timeline"]);
        assert_eq!(members(&body["status"]["timeline"]), ["rollbackComplete"]);
    }
    assert_ne!(
        bodies[0]["metadata"]["resourceVersion"],
        bodies[1]["metadata"]["resourceVersion"]
    );
    let status = world.check().status.expect("status");
    assert_eq!(status.message.as_deref(), Some("written by another writer"));
    assert_eq!(status.phase, Some(Phase::RolledBack));
    assert!(
        world
            .server
            .writes()
            .iter()
            .all(|r| r.path == CHECK_STATUS_PATH),
        "nothing but the check's status: {:#?}",
        world.server.writes()
    );
}

/// The world after a GitOps tool re-applied the failed template Ripcord rolled back
/// (`testdata/k8s/{fixture}`: `reapplied-failed.yaml`, or `held.yaml` once Ripcord paused it),
/// its check in `phase`; the requests log cleared.
async fn world_reapplied(fixture: &str, phase: &'static str) -> World {
    let world = World::start_from(fixture, vec![RegressionStep::Rollback], Mode::Act).await;
    world
        .server
        .write_as_other(&check_key(), |current| {
            let mut check = current.cloned().expect("the check exists");
            check["status"]["phase"] = phase.into();
            check
        })
        .expect("the rollback's record");
    world.server.clear_requests();
    world
}

/// The Events written so far.
fn events(world: &World) -> Vec<Value> {
    world
        .server
        .writes()
        .iter()
        .filter(|r| r.path == EVENTS_PATH)
        .map(|r| assert_write(r, Method::POST, EVENTS_PATH, "application/json", None))
        .collect()
}

/// Asserts `ops` is the guarded JSON patch setting `/spec/paused` to `paused` and the
/// annotations to `annotations`, at `version`.
fn assert_pause_patch(ops: &Value, version: &str, paused: bool, annotations: &Value) {
    assert_eq!(
        ops,
        &json!([
            {"op": "test", "path": "/metadata/resourceVersion", "value": version},
            {"op": "add", "path": "/spec/paused", "value": paused},
            {"op": "add", "path": "/metadata/annotations", "value": annotations},
        ])
    );
}

/// Runs the reconciler until `done` holds of the object at `key` (`what` says what that is),
/// and a little longer; returns the one JSON patch it sent the Deployment.
async fn reconcile_until(
    world: &World,
    key: ObjectKey,
    what: &str,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let stop = start_reconciler(world);
    world
        .server
        .wait_until(WAIT, |s| s.get(&key).filter(|o| done(o)).map(|_| ()))
        .await
        .unwrap_or_else(|| panic!("the reconciler never got there: {what}"));
    tokio::time::sleep(Duration::from_millis(500)).await;
    let _ = stop.send(true);
    let patches = world.deployment_patches();
    assert_eq!(patches.len(), 1, "{what}, in one patch: {patches:#?}");
    assert_write(
        &patches[0],
        Method::PATCH,
        DEPLOYMENT_PATH,
        JSON_PATCH,
        Some("ripcord"),
    )
}

#[tokio::test]
async fn a_re_applied_rolled_back_template_is_held_by_the_reconcile_without_a_verdict() {
    let world = world_reapplied("reapplied-failed.yaml", "RolledBack").await;
    let deployment = world.deployment();
    let check_version = resource_version(&world.server.get(&check_key()).expect("the check"));
    let ops = reconcile_until(&world, check_key(), "the check is marked Held", |check| {
        check["status"]["phase"] == "Held"
    })
    .await;
    let mut annotations = deployment["metadata"]["annotations"].clone();
    annotations["ripcord.dev/held"] = FAILED_HASH.into();
    assert_pause_patch(&ops, &resource_version(&deployment), true, &annotations);
    let after = world.deployment();
    assert_eq!(after["spec"]["paused"], true);
    assert_eq!(after["spec"]["template"], deployment["spec"]["template"]);

    let status = assert_write(
        &status_patches(&world)[0],
        Method::PATCH,
        CHECK_STATUS_PATH,
        MERGE,
        Some("ripcord"),
    );
    assert_eq!(
        status["metadata"],
        json!({"resourceVersion": check_version})
    );
    assert_eq!(status["status"]["phase"], "Held");
    let action = &status["status"]["actions"][0];
    assert_eq!(
        (&action["kind"], &action["result"]),
        (&json!("Hold"), &json!("Succeeded"))
    );
    let message = status["status"]["message"].as_str().expect("a message");
    assert!(
        message.contains("revision 5") && message.contains("GitOps"),
        "{message}"
    );

    let events = events(&world);
    assert_eq!(events.len(), 1, "{events:#?}");
    assert_eq!(
        (&events[0]["reason"], &events[0]["type"]),
        (&json!("ReleaseHeld"), &json!("Warning"))
    );
    assert_eq!(events[0]["regarding"]["name"], "checkout");
    let note = events[0]["note"].as_str().expect("a note");
    assert!(
        note.contains("revision 5") && note.contains("re-applied"),
        "{note}"
    );
}

#[tokio::test]
async fn a_held_deployment_given_a_new_template_is_unpaused_by_the_reconcile() {
    let world = world_reapplied("held.yaml", "Held").await;
    let synced = world
        .server
        .write_as_other(&deployment_key(), |current| {
            let mut deployment = current.cloned().expect("the Deployment exists");
            deployment["spec"]["template"]["spec"]["containers"][0]["image"] =
                "ghcr.io/example/checkout:v1.4.3".into();
            deployment
        })
        .expect("a new commit synced");
    world.server.clear_requests();
    let ops = reconcile_until(
        &world,
        deployment_key(),
        "the Deployment is unpaused",
        |d| d["spec"]["paused"] == false,
    )
    .await;
    let mut annotations = synced["metadata"]["annotations"].clone();
    annotations
        .as_object_mut()
        .expect("annotations")
        .remove("ripcord.dev/held");
    assert_pause_patch(&ops, &resource_version(&synced), false, &annotations);
    assert_eq!(
        world.deployment()["spec"]["template"],
        synced["spec"]["template"]
    );
    let events = events(&world);
    assert_eq!(events.len(), 1, "{events:#?}");
    assert_eq!(
        (&events[0]["reason"], &events[0]["type"]),
        (&json!("ReleaseResumed"), &json!("Normal"))
    );
    assert!(status_patches(&world).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_template_a_human_released_is_not_held_again() {
    let world = world_reapplied("held.yaml", "Held").await;
    let released = kubectl_ripcord(
        &world,
        &["-n", "shop", "release", "checkout", "--by", "alice"],
    )
    .await;
    assert!(released.status.success(), "{released:?}");
    let check = world.server.get(&check_key()).expect("the check");
    assert_eq!(
        check["metadata"]["annotations"]["ripcord.dev/released-by"],
        "alice"
    );
    assert_eq!(world.deployment()["spec"]["paused"], false);
    world.server.clear_requests();

    let stop = start_reconciler(&world);
    world
        .server
        .wait_until(WAIT, |s| {
            s.requests()
                .into_iter()
                .find(|r| r.path.ends_with("/releasechecks") && r.query_param("watch").is_some())
        })
        .await
        .expect("the reconciler watches");
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(
        world.server.writes().is_empty(),
        "released: nothing is paused again: {:#?}",
        world.server.writes()
    );

    // The control: without the release's record, the same reconciler holds the template again
    // at its next look.
    world
        .server
        .write_as_other(&check_key(), |current| {
            let mut check = current.cloned().expect("the check exists");
            check["metadata"]["annotations"] = json!({});
            check
        })
        .expect("the record removed");
    tokio::time::sleep(Duration::from_millis(500)).await;
    world
        .server
        .write_as_other(&deployment_key(), |current| {
            let mut deployment = current.cloned().expect("the Deployment exists");
            deployment["metadata"]["labels"]["synced"] = "again".into();
            deployment
        })
        .expect("touched");
    world
        .server
        .wait_until(WAIT, |s| {
            let deployment = s.get(&deployment_key())?;
            (deployment["spec"]["paused"] == true).then_some(())
        })
        .await
        .expect("held again without the release's record");
    let _ = stop.send(true);
}

const WEBHOOK_PATH: &str =
    "/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/ripcord";

fn webhook_key() -> ObjectKey {
    ObjectKey::new(
        "admissionregistration.k8s.io/v1",
        "mutatingwebhookconfigurations",
        None,
        "ripcord",
    )
}

fn base64(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[tokio::test]
async fn the_ca_bundle_patch_touches_only_ca_bundles_and_fails_on_a_reordered_list() {
    let world = World::start(vec![RegressionStep::Rollback], Mode::Act).await;
    let config: Value = serde_json::from_str(
        &std::fs::read_to_string(format!(
            "{}/../testdata/admission/mutatingwebhookconfiguration.json",
            env!("CARGO_MANIFEST_DIR")
        ))
        .expect("fixture"),
    )
    .expect("JSON");
    world.server.insert(config).expect("stored");
    let before = world.server.get(&webhook_key()).expect("stored");
    world.server.clear_requests();
    let ca = ripcord_controller::tls::generate(ripcord_controller::tls::SERVICE_NAME, "ripcord")
        .expect("a CA")
        .ca_pem;

    // Helm re-installs the chart between the read and the patch, listing the webhooks the
    // other way round: the name tests fail, nothing is written, the caller retries later.
    world.server.write_as_other_before_next(
        Method::PATCH,
        WEBHOOK_PATH,
        webhook_key(),
        |current| {
            let mut config = current.cloned().expect("the configuration exists");
            config["webhooks"]
                .as_array_mut()
                .expect("webhooks")
                .reverse();
            config
        },
    );
    let refused =
        ripcord_controller::tls::apply_ca_bundle(world.client(), "ripcord", ca.as_bytes())
            .await
            .expect_err("the list changed under the patch");
    assert!(refused.to_string().contains("ripcord"), "{refused}");
    let reordered = world.server.get(&webhook_key()).expect("stored");
    let names = |config: &Value| -> Vec<Value> {
        config["webhooks"]
            .as_array()
            .expect("webhooks")
            .iter()
            .map(|w| w["name"].clone())
            .collect()
    };
    assert_eq!(
        reordered["webhooks"][1]["clientConfig"], before["webhooks"][0]["clientConfig"],
        "the refused patch changed no caBundle"
    );

    // The retry reads the new order and patches each webhook by its index there.
    assert!(
        ripcord_controller::tls::apply_ca_bundle(world.client(), "ripcord", ca.as_bytes())
            .await
            .expect("patched")
    );
    let writes = world.server.writes();
    assert_eq!(writes.len(), 2, "{writes:#?}");
    let patch = assert_write(
        &writes[1],
        Method::PATCH,
        WEBHOOK_PATH,
        JSON_PATCH,
        Some("ripcord"),
    );
    let order = names(&reordered);
    let mut expected = Vec::new();
    for (index, name) in order.iter().enumerate() {
        expected
            .push(json!({"op": "test", "path": format!("/webhooks/{index}/name"), "value": name}));
        expected.push(
            json!({"op": "add", "path": format!("/webhooks/{index}/clientConfig/caBundle"),
                             "value": base64(ca.as_bytes())}),
        );
    }
    assert_eq!(patch, Value::Array(expected));
    let after = world.server.get(&webhook_key()).expect("stored");
    for (index, webhook) in after["webhooks"]
        .as_array()
        .expect("webhooks")
        .iter()
        .enumerate()
    {
        assert_eq!(webhook["clientConfig"]["caBundle"], base64(ca.as_bytes()));
        let mut without = webhook.clone();
        let mut was = reordered["webhooks"][index].clone();
        without["clientConfig"]
            .as_object_mut()
            .expect("config")
            .remove("caBundle");
        was["clientConfig"]
            .as_object_mut()
            .expect("config")
            .remove("caBundle");
        assert_eq!(without, was, "only caBundle changed");
    }

    // Already current: read, no write.
    world.server.clear_requests();
    assert!(
        !ripcord_controller::tls::apply_ca_bundle(world.client(), "ripcord", ca.as_bytes())
            .await
            .expect("read")
    );
    assert!(world.server.writes().is_empty());
}

/// Runs `kubectl-ripcord` against the world's server with a kubeconfig naming it.
async fn kubectl_ripcord(world: &World, args: &[&str]) -> std::process::Output {
    let dir = std::env::temp_dir().join(format!(
        "ripcord-api-writes-{}-{}",
        std::process::id(),
        world.server.resource_version()
    ));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let kubeconfig = dir.join("kubeconfig");
    std::fs::write(
        &kubeconfig,
        format!(
            "apiVersion: v1\nkind: Config\ncurrent-context: fake\n\
             clusters: [{{name: fake, cluster: {{server: \"{}\"}}}}]\n\
             users: [{{name: fake, user: {{}}}}]\n\
             contexts: [{{name: fake, context: {{cluster: fake, user: fake, namespace: shop}}}}]\n",
            world.server.url()
        ),
    )
    .expect("kubeconfig written");
    let args: Vec<String> = args.iter().map(|a| (*a).to_string()).collect();
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_kubectl-ripcord"))
            .args(&args)
            .env("KUBECONFIG", &kubeconfig)
            .env_remove("KUBERNETES_SERVICE_HOST")
            .output()
            .expect("kubectl-ripcord runs")
    })
    .await
    .expect("joins");
    let _ = std::fs::remove_dir_all(&dir);
    output
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_ripcord_release_unpauses_under_a_precondition_and_gives_up_on_a_conflict() {
    let world = World::start(vec![RegressionStep::Rollback], Mode::Act).await;
    let hold = |current: Option<&Value>| {
        let mut deployment = current.cloned().expect("the Deployment exists");
        deployment["spec"]["paused"] = true.into();
        let annotations = &mut deployment["metadata"]["annotations"];
        annotations["ripcord.dev/held"] = FAILED_HASH.into();
        annotations["ripcord.dev/rolled-back-from"] = FAILED_HASH.into();
        deployment
    };
    world
        .server
        .write_as_other(&deployment_key(), hold)
        .expect("held");

    // A GitOps sync lands between the plugin's read and its patch: the plugin gives up and
    // says so (a human re-runs it); the Deployment stays held.
    world.server.write_as_other_before_next(
        Method::PATCH,
        DEPLOYMENT_PATH,
        deployment_key(),
        |current| {
            let mut deployment = current.cloned().expect("the Deployment exists");
            deployment["metadata"]["labels"]["synced"] = "yes".into();
            deployment
        },
    );
    world.server.clear_requests();
    let refused = kubectl_ripcord(&world, &["-n", "shop", "release", "checkout"]).await;
    assert!(!refused.status.success(), "{refused:?}");
    assert!(
        String::from_utf8_lossy(&refused.stderr)
            .contains("cannot unpause Deployment shop/checkout"),
        "{refused:?}"
    );
    assert_eq!(world.deployment()["spec"]["paused"], true);
    assert_eq!(world.deployment_patches().len(), 1);

    let held = world.deployment();
    world.server.clear_requests();
    let released = kubectl_ripcord(&world, &["-n", "shop", "release", "checkout"]).await;
    assert!(released.status.success(), "{released:?}");
    let writes = world.server.writes();
    assert_eq!(
        writes.len(),
        2,
        "the release's record, the unpause: {writes:#?}"
    );
    let record = assert_write(
        &writes[0],
        Method::PATCH,
        CHECK_PATH,
        MERGE,
        Some("ripcord"),
    );
    assert_eq!(members(&record), ["metadata"]);
    assert_eq!(
        members(&record["metadata"]["annotations"]),
        ["ripcord.dev/released-at", "ripcord.dev/released-by"]
    );
    let patches = world.deployment_patches();
    let ops = assert_write(
        &patches[0],
        Method::PATCH,
        DEPLOYMENT_PATH,
        JSON_PATCH,
        Some("ripcord"),
    );
    let mut annotations = held["metadata"]["annotations"].clone();
    let map = annotations.as_object_mut().expect("annotations");
    map.remove("ripcord.dev/held");
    map.remove("ripcord.dev/rolled-back-from");
    assert_eq!(
        ops,
        json!([
            {"op": "test", "path": "/metadata/resourceVersion", "value": resource_version(&held)},
            {"op": "add", "path": "/spec/paused", "value": false},
            {"op": "add", "path": "/metadata/annotations", "value": annotations},
        ])
    );
    let deployment = world.deployment();
    assert_eq!(deployment["spec"]["paused"], false);
    assert_eq!(deployment["metadata"]["labels"]["synced"], "yes");
    assert_eq!(deployment["spec"]["template"], held["spec"]["template"]);
}

const SECRET_PATH: &str = "/api/v1/namespaces/ripcord/secrets/ripcord-controller-tls";
const LEASES_PATH: &str = "/apis/coordination.k8s.io/v1/namespaces/ripcord/leases";

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_fills_the_tls_secret_under_a_precondition_and_uses_the_winners_on_conflict() {
    let world = World::start(vec![RegressionStep::Rollback], Mode::Act).await;
    let config: Value = serde_json::from_str(
        &std::fs::read_to_string(format!(
            "{}/../testdata/admission/mutatingwebhookconfiguration.json",
            env!("CARGO_MANIFEST_DIR")
        ))
        .expect("fixture"),
    )
    .expect("JSON");
    world.server.insert(config).expect("stored");
    let secret_key = ObjectKey::new("v1", "secrets", Some("ripcord"), "ripcord-controller-tls");
    let empty = world
        .server
        .write_as_other(&secret_key, |_| {
            json!({"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/tls",
                   "metadata": {"namespace": "ripcord"}})
        })
        .expect("the chart's empty Secret");
    // Another replica fills the Secret between this one's read and its write.
    let theirs =
        ripcord_controller::tls::generate(ripcord_controller::tls::SERVICE_NAME, "ripcord")
            .expect("their certificate");
    let their_ca = theirs.ca_pem.clone();
    world.server.write_as_other_before_next(
        Method::PATCH,
        SECRET_PATH,
        secret_key.clone(),
        move |current| {
            let mut secret = current.cloned().expect("the Secret exists");
            secret["data"] = json!({
                "tls.crt": base64(theirs.cert_pem.as_bytes()),
                "tls.key": base64(theirs.key_pem.as_bytes()),
                "ca.crt": base64(theirs.ca_pem.as_bytes()),
                "ca.key": base64(theirs.ca_key_pem.as_bytes()),
            });
            secret
        },
    );
    world.server.clear_requests();
    let args = cli::run_args([
        "test",
        "--webhook-listen",
        &format!("127.0.0.1:{}", free_port()),
        "--metrics-listen",
        &format!("127.0.0.1:{}", free_port()),
        "--sidecar-image",
        "ripcord-sidecar:test",
        "--leader-election-namespace",
        "ripcord",
        "--pod-name",
        "controller-0",
        "--webhook-config-name",
        "ripcord",
        "--namespaces",
        "shop",
        "--flag-credentials-dir",
        "/nonexistent",
    ]);
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let controller = tokio::spawn(ripcord_controller::run::run_with(
        world.client(),
        args,
        stopped,
    ));
    let bundle = world
        .server
        .wait_until(WAIT, |s| {
            let config = s.get(&webhook_key())?;
            let bundle = config["webhooks"][1]["clientConfig"]["caBundle"].as_str()?;
            Some(bundle.to_string())
        })
        .await
        .expect("the caBundle was written");
    world
        .server
        .wait_until(WAIT, |s| {
            s.list("coordination.k8s.io/v1", "leases", Some("ripcord"))
                .into_iter()
                .find(|l| l["spec"]["holderIdentity"] == "controller-0")
        })
        .await
        .expect("the replica holds the Lease");
    until_annotated(&world).await;
    let _ = stop.send(true);
    let _ = tokio::time::timeout(Duration::from_secs(15), controller).await;

    assert_eq!(
        bundle,
        base64(their_ca.as_bytes()),
        "the loser serves the winner's CA"
    );
    let secret_writes: Vec<LoggedRequest> = world
        .server
        .writes()
        .into_iter()
        .filter(|r| r.path == SECRET_PATH)
        .collect();
    assert_eq!(
        secret_writes.len(),
        1,
        "one refused fill: {secret_writes:#?}"
    );
    let fill = assert_write(
        &secret_writes[0],
        Method::PATCH,
        SECRET_PATH,
        MERGE,
        Some("ripcord"),
    );
    assert_eq!(members(&fill), ["data", "metadata"]);
    assert_eq!(
        fill["metadata"],
        json!({"resourceVersion": resource_version(&empty)})
    );
    assert_eq!(
        members(&fill["data"]),
        ["ca.crt", "ca.key", "tls.crt", "tls.key"]
    );
    let stored = world.server.get(&secret_key).expect("the Secret");
    assert_eq!(stored["data"]["ca.crt"], base64(their_ca.as_bytes()));
    // The Lease (kube-lease-manager): a create of an empty Lease (no precondition: a create of
    // an existing name fails), then a server-side apply of the holder, whose exclusivity rests
    // on field ownership (another holder's fields make a non-forced apply conflict, 409).
    let lease: Vec<LoggedRequest> = world
        .server
        .writes()
        .into_iter()
        .filter(|r| r.path.starts_with(LEASES_PATH))
        .collect();
    let create = assert_write(
        &lease[0],
        Method::POST,
        LEASES_PATH,
        "application/json",
        None,
    );
    assert_eq!(create["metadata"], json!({"name": "ripcord-controller"}));
    let apply = &lease[1];
    assert_eq!(apply.path, format!("{LEASES_PATH}/ripcord-controller"));
    assert_eq!(
        apply.content_type.as_deref(),
        Some("application/apply-patch+yaml")
    );
    assert!(
        apply
            .query_param("fieldManager")
            .is_some_and(|m| m.starts_with("kube-lease-manager"))
    );
    assert_eq!(apply.query_param("force"), None, "a non-forced apply");
    let body = apply.json().expect("JSON");
    assert_eq!(body["spec"]["holderIdentity"], "controller-0");
    let transitions = assert_write(
        &lease[2],
        Method::PATCH,
        &apply.path,
        "application/strategic-merge-patch+json",
        apply.query_param("fieldManager").as_deref(),
    );
    assert_eq!(transitions["spec"], json!({"leaseTransitions": 1}));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lease_taken_by_another_replica_between_read_and_apply_is_not_taken_over() {
    use ripcord_controller::ops::leader::LeaseSettings;
    let world = World::start(vec![RegressionStep::Rollback], Mode::Act).await;
    let lease_path = format!("{LEASES_PATH}/ripcord-controller");
    let lease_key = ObjectKey::new(
        "coordination.k8s.io/v1",
        "leases",
        Some("ripcord"),
        "ripcord-controller",
    );
    let now = now_rfc3339();
    world.server.write_as_other_before_next(
        Method::PATCH,
        &lease_path,
        lease_key.clone(),
        move |current| {
            let mut lease = current.cloned().expect("the Lease was created");
            lease["spec"] = json!({"holderIdentity": "controller-1", "acquireTime": now,
                                   "renewTime": now, "leaseDurationSeconds": 15});
            lease
        },
    );
    let leadership = Leadership::elect(
        world.client(),
        LeaseSettings {
            namespace: "ripcord".to_string(),
            name: "ripcord-controller".to_string(),
            identity: "controller-0".to_string(),
            duration_seconds: 15,
            grace_seconds: 5,
        },
        Arc::new(Metrics::new()),
    )
    .await
    .expect("election starts");
    world
        .server
        .wait_until(WAIT, |s| {
            s.writes()
                .into_iter()
                .find(|r| r.method == Method::PATCH && r.path == lease_path)
        })
        .await
        .expect("the replica tried to take the Lease");
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(!leadership.is_leader(), "the other replica holds the Lease");
    let lease = world.server.get(&lease_key).expect("the Lease");
    assert_eq!(lease["spec"]["holderIdentity"], "controller-1");
    let patches: Vec<LoggedRequest> = world
        .server
        .writes()
        .into_iter()
        .filter(|r| r.path == lease_path)
        .collect();
    assert_eq!(
        patches.len(),
        1,
        "one refused apply, then it waits: {patches:#?}"
    );
    assert_eq!(
        patches[0].content_type.as_deref(),
        Some("application/apply-patch+yaml")
    );
    assert_eq!(patches[0].query_param("force"), None);
    assert_eq!(
        patches[0].json().expect("JSON")["spec"]["holderIdentity"],
        "controller-0"
    );
}
