use std::collections::BTreeSet;

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use serde_json::{Value, json};

use super::*;
use crate::release::fixtures::{Fixture, H1, H2, H3, H4, load};
use crate::release::tests::{rs_named, set_image};
use crate::release::{POD_TEMPLATE_HASH_LABEL, REVISION_ANNOTATION, detect};

/// What a plan should come to.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Want {
    /// Roll back from (number, hash) to (number, hash).
    Rollback((u64, &'static str), (u64, &'static str)),
    /// Pause on (number, hash).
    Quarantine((u64, &'static str)),
    /// Hold for this reason (its variant name).
    Hold(&'static str),
}

fn set(hashes: &[&str]) -> BTreeSet<String> {
    hashes.iter().map(|h| h.to_string()).collect()
}

/// A revision as (number, hash).
type Pair = Option<(u64, String)>;

/// A plan's outcome: kind, then from/current and to revisions where the plan has them.
type Outcome = (String, Pair, Pair);

fn outcome(plan: &RollbackPlan) -> Outcome {
    let pair = |r: &Revision| Some((r.number, r.hash.clone()));
    match plan {
        RollbackPlan::Rollback { from, to, .. } => ("rollback".into(), pair(from), pair(to)),
        RollbackPlan::Quarantine { current, .. } => ("quarantine".into(), pair(current), None),
        RollbackPlan::Hold { reason } => (kind(reason).into(), None, None),
    }
}

fn want(w: Want) -> Outcome {
    let pair = |(n, h): (u64, &str)| Some((n, h.to_string()));
    match w {
        Want::Rollback(from, to) => ("rollback".into(), pair(from), pair(to)),
        Want::Quarantine(current) => ("quarantine".into(), pair(current), None),
        Want::Hold(reason) => (reason.into(), None, None),
    }
}

fn kind(reason: &HoldReason) -> &'static str {
    match reason {
        HoldReason::NoCurrentRevision => "NoCurrentRevision",
        HoldReason::Deleting => "Deleting",
        HoldReason::AlreadyDone { .. } => "AlreadyDone",
        HoldReason::AlreadyHeld { .. } => "AlreadyHeld",
        HoldReason::Paused { .. } => "Paused",
        HoldReason::NoEarlierRevision { .. } => "NoEarlierRevision",
        HoldReason::AllEarlierFailed { .. } => "AllEarlierFailed",
    }
}

fn plan_for(fixture: &Fixture, failed: &[&str], rolled_back: &[&str]) -> RollbackPlan {
    plan(
        &fixture.deployment,
        &fixture.replica_sets,
        &set(failed),
        &set(rolled_back),
    )
    .expect("a plan")
}

#[test]
fn plans_over_every_fixture() {
    let cases: &[(&str, &[&str], &[&str], Want)] = &[
        (
            "history-basic.yaml",
            &[H3],
            &[],
            Want::Rollback((3, H3), (2, H2)),
        ),
        (
            "history-basic.yaml",
            &[H3, H2],
            &[],
            Want::Rollback((3, H3), (1, H1)),
        ),
        (
            "history-basic.yaml",
            &[H3],
            &[H2],
            Want::Rollback((3, H3), (1, H1)),
        ),
        (
            "history-basic.yaml",
            &[H3, H2, H1],
            &[],
            Want::Hold("AllEarlierFailed"),
        ),
        ("history-basic.yaml", &[], &[], Want::Hold("AlreadyDone")),
        ("history-basic.yaml", &[H2], &[], Want::Hold("AlreadyDone")),
        (
            "history-gaps.yaml",
            &[H4],
            &[],
            Want::Rollback((9, H4), (5, H2)),
        ),
        (
            "history-gaps.yaml",
            &[H4, H2],
            &[],
            Want::Rollback((9, H4), (2, H1)),
        ),
        (
            "foreign-owner.yaml",
            &[H3],
            &[],
            Want::Rollback((2, H3), (1, H2)),
        ),
        (
            "unrevisioned-rs.yaml",
            &[H3],
            &[],
            Want::Rollback((2, H3), (1, H2)),
        ),
        ("paused.yaml", &[H3], &[], Want::Hold("Paused")),
        ("rolled-back.yaml", &[H3], &[], Want::Hold("AlreadyDone")),
        ("rolled-back.yaml", &[H3], &[H3], Want::Hold("AlreadyDone")),
        (
            "reapplied-failed.yaml",
            &[H3],
            &[],
            Want::Quarantine((5, H3)),
        ),
        (
            "reapplied-failed.yaml",
            &[H3],
            &[H3],
            Want::Quarantine((5, H3)),
        ),
        ("reapplied-failed.yaml", &[], &[], Want::Quarantine((5, H3))),
        ("held.yaml", &[H3], &[H3], Want::Hold("AlreadyHeld")),
        (
            "first-release.yaml",
            &["8c5d7b9f6"],
            &[],
            Want::Hold("NoEarlierRevision"),
        ),
    ];
    for &(file, failed, rolled_back, expected) in cases {
        let fixture = load(file);
        let plan = plan_for(&fixture, failed, rolled_back);
        assert_eq!(
            outcome(&plan),
            want(expected),
            "{file} failed={failed:?} rolled_back={rolled_back:?}"
        );
        // Every write is guarded by the resourceVersion the plan was made against.
        if let Some(patch) = plan.patch() {
            let rv = fixture.deployment.metadata.resource_version.clone();
            assert_eq!(Some(patch.resource_version.clone()), rv, "{file}");
            assert_eq!(
                ops(patch)[0],
                json!({"op": "test", "path": "/metadata/resourceVersion", "value": rv}),
                "{file}"
            );
        }
        if let RollbackPlan::Rollback { to, .. } = &plan {
            assert!(
                !failed.contains(&to.hash.as_str()) && !rolled_back.contains(&to.hash.as_str())
            );
        }
    }
}

#[test]
fn all_earlier_failed_lists_them_highest_first() {
    let plan = plan_for(&load("history-basic.yaml"), &[H3, H2, H1], &[]);
    let RollbackPlan::Hold {
        reason: reason @ HoldReason::AllEarlierFailed { current, failed },
    } = &plan
    else {
        panic!("expected all earlier failed, got {plan:?}");
    };
    assert_eq!(current.number, 3);
    let numbers: Vec<u64> = failed.iter().map(|r| r.number).collect();
    assert_eq!(numbers, [2, 1]);
    assert!(reason.to_string().contains("(2, 1)"), "{reason}");
    assert_eq!(plan.action_kind(), None);
}

#[test]
fn the_rollback_request_is_kubectl_rollout_undo_guarded_by_resource_version() {
    let fixture = load("history-basic.yaml");
    let plan = plan_for(&fixture, &[H3], &[]);
    assert_eq!(plan.action_kind(), Some(ActionKind::Rollback));
    let patch = plan.patch().expect("a write");
    let request = patch.to_request().expect("a request");
    assert_eq!(request.method(), http::Method::PATCH);
    assert_eq!(
        request.uri().path(),
        "/apis/apps/v1/namespaces/shop/deployments/checkout"
    );
    assert_eq!(request.uri().query(), Some("fieldManager=ripcord"));
    assert_eq!(
        request.headers()[http::header::CONTENT_TYPE],
        "application/json-patch+json"
    );
    let body: Value = serde_json::from_slice(request.body()).expect("JSON body");
    let ops = body.as_array().expect("a JSON Patch is an array");
    assert_eq!(ops.len(), 3);
    assert_eq!(
        ops[0],
        json!({"op": "test", "path": "/metadata/resourceVersion", "value": "48213"})
    );

    // The template is revision 2's, as stored on its ReplicaSet, minus pod-template-hash.
    assert_eq!(
        (&ops[1]["op"], &ops[1]["path"]),
        (&json!("replace"), &json!("/spec/template"))
    );
    let target = template_of(&fixture.replica_sets, H2);
    let mut expected = target.clone();
    expected["metadata"]["labels"]
        .as_object_mut()
        .expect("labels")
        .remove(POD_TEMPLATE_HASH_LABEL);
    assert_eq!(ops[1]["value"], expected);
    assert_ne!(
        ops[1]["value"], target,
        "the hash label was on the ReplicaSet"
    );
    assert!(
        !ops[1]["value"]
            .to_string()
            .contains(POD_TEMPLATE_HASH_LABEL)
    );

    // The Deployment keeps its annotations and gains the rollback's.
    assert_eq!(
        (&ops[2]["op"], &ops[2]["path"]),
        (&json!("add"), &json!("/metadata/annotations"))
    );
    let annotations = &ops[2]["value"];
    assert_eq!(annotations[REVISION_ANNOTATION], "3");
    assert_eq!(annotations[ROLLED_BACK_FROM_ANNOTATION], H3);
    assert_eq!(annotations[ROLLED_BACK_TO_ANNOTATION], H2);
    let cause = annotations[CHANGE_CAUSE_ANNOTATION]
        .as_str()
        .expect("change-cause");
    assert!(
        cause.contains(&format!("revision 3 ({H3})"))
            && cause.contains(&format!("revision 2 ({H2})")),
        "{cause}"
    );
}

#[test]
fn applying_the_rollback_makes_the_target_replica_set_current_and_a_second_plan_a_no_op() {
    let fixture = load("history-basic.yaml");
    let plan = plan_for(&fixture, &[H3], &[]);
    let patched = apply(&fixture.deployment, plan.patch().expect("a write")).expect("applies");

    // The Deployment controller would reuse revision 2's ReplicaSet: it runs the template now.
    let release = detect(&patched, &fixture.replica_sets)
        .expect("readable")
        .expect("a release");
    assert_eq!(release.current.hash, H2);

    // ... and give it the next revision number; any later verdict for H3 then changes nothing.
    let mut replica_sets = fixture.replica_sets.clone();
    bump_revision(&mut replica_sets, H2, 4);
    let mut after = patched;
    after.metadata.resource_version = Some("48300".into());
    let again = super::plan(&after, &replica_sets, &set(&[H3]), &set(&[H3])).expect("a plan");
    assert_eq!(outcome(&again).0, "AlreadyDone");
    assert_eq!(again.action_kind(), Some(ActionKind::Rollback));
    assert_eq!(again.patch(), None);
}

#[test]
fn many_replicas_planning_on_one_snapshot_give_one_rollback() {
    let fixture = load("history-basic.yaml");
    // Ten verdicts (or replicas) plan against the same snapshot, concurrently.
    let plans: Vec<RollbackPlan> = (0..10).map(|_| plan_for(&fixture, &[H3], &[])).collect();
    let mut stored = fixture.deployment.clone();
    let mut next_rv = 48214_u64;
    let mut applied = 0;
    for plan in &plans {
        let patch = plan.patch().expect("each plans a write");
        // The API server applies a patch to the object as stored, atomically.
        if let Ok(mut updated) = apply(&stored, patch) {
            updated.metadata.resource_version = Some(next_rv.to_string());
            next_rv += 1;
            stored = updated;
            applied += 1;
        }
    }
    assert_eq!(applied, 1, "the precondition lets exactly one through");
    // Each loser re-reads and re-plans: nothing left to do.
    let replan =
        super::plan(&stored, &fixture.replica_sets, &set(&[H3]), &set(&[])).expect("a plan");
    assert_eq!(outcome(&replan).0, "AlreadyDone");
}

#[test]
fn every_fixture_loads() {
    let mut files = 0;
    for entry in std::fs::read_dir(crate::release::fixtures::dir()).expect("testdata/k8s") {
        let path = entry.expect("an entry").path();
        if path.extension().is_some_and(|e| e == "yaml") {
            let name = path.file_name().and_then(|n| n.to_str()).expect("a name");
            let fixture = load(name);
            assert!(!fixture.replica_sets.is_empty(), "{name}");
            files += 1;
        }
    }
    assert!(files >= 10, "{files} fixtures");
}

#[test]
fn a_patch_planned_against_a_stale_resource_version_does_not_apply() {
    let fixture = load("history-basic.yaml");
    let plan = plan_for(&fixture, &[H3], &[]);
    let mut moved_on = fixture.deployment.clone();
    moved_on.metadata.resource_version = Some("48214".into());
    let error = apply(&moved_on, plan.patch().expect("a write")).expect_err("the test op fails");
    assert!(error.contains("resourceVersion"), "{error}");
}

#[test]
fn a_reapplied_failed_template_is_paused_not_rolled_back_again() {
    let fixture = load("reapplied-failed.yaml");
    let plan = plan_for(&fixture, &[H3], &[H3]);
    let RollbackPlan::Quarantine { current, patch } = &plan else {
        panic!("expected quarantine, got {plan:?}");
    };
    assert_eq!((current.number, current.hash.as_str()), (5, H3));
    assert_eq!(plan.action_kind(), Some(ActionKind::Hold));
    let ops = ops(patch);
    assert_eq!(
        ops[0],
        json!({"op": "test", "path": "/metadata/resourceVersion", "value": "48702"})
    );
    assert_eq!(
        ops[1],
        json!({"op": "add", "path": "/spec/paused", "value": true})
    );
    assert_eq!(ops[2]["value"][HELD_ANNOTATION], H3);
    assert_eq!(
        ops[2]["value"]["argocd.argoproj.io/tracking-id"],
        "checkout:apps/Deployment:shop/checkout"
    );
    assert!(
        !ops.iter().any(|op| op["path"] == "/spec/template"),
        "never touches the template"
    );

    let paused = apply(&fixture.deployment, patch).expect("applies");
    assert_eq!(paused.spec.as_ref().and_then(|s| s.paused), Some(true));
    let again =
        super::plan(&paused, &fixture.replica_sets, &set(&[H3]), &set(&[H3])).expect("a plan");
    assert_eq!(outcome(&again).0, "AlreadyHeld");
}

#[test]
fn without_any_record_of_the_earlier_rollback_a_failed_template_is_rolled_back() {
    let mut fixture = load("reapplied-failed.yaml");
    if let Some(annotations) = fixture.deployment.metadata.annotations.as_mut() {
        annotations.remove(ROLLED_BACK_FROM_ANNOTATION);
    }
    let plan = plan_for(&fixture, &[H3], &[]);
    assert_eq!(outcome(&plan), want(Want::Rollback((5, H3), (4, H2))));
}

#[test]
fn a_held_deployment_resumes_when_a_new_template_arrives() {
    let mut fixture = load("held.yaml");
    let rs = &fixture.replica_sets;
    assert_eq!(
        resume(&fixture.deployment, rs).expect("readable"),
        None,
        "still the held template"
    );

    set_image(&mut fixture.deployment, "ghcr.io/example/checkout:v1.4.3");
    let patch = resume(&fixture.deployment, &fixture.replica_sets)
        .expect("readable")
        .expect("a resume");
    let ops = ops(&patch);
    assert_eq!(ops[0]["value"], "48730");
    assert_eq!(
        ops[1],
        json!({"op": "add", "path": "/spec/paused", "value": false})
    );
    assert!(ops[2]["value"].get(HELD_ANNOTATION).is_none());
    assert_eq!(
        ops[2]["value"][ROLLED_BACK_FROM_ANNOTATION], H3,
        "the record stays"
    );
    let resumed = apply(&fixture.deployment, &patch).expect("applies");
    assert_eq!(resumed.spec.as_ref().and_then(|s| s.paused), Some(false));
}

#[test]
fn a_human_release_unpauses_and_forgets_the_held_hash() {
    let fixture = load("held.yaml");
    let patch = release(&fixture.deployment, &fixture.replica_sets)
        .expect("readable")
        .expect("a release");
    let released = apply(&fixture.deployment, &patch).expect("applies");
    assert_eq!(released.spec.as_ref().and_then(|s| s.paused), Some(false));
    let annotations = released.metadata.annotations.clone().unwrap_or_default();
    assert!(!annotations.contains_key(HELD_ANNOTATION));
    assert!(!annotations.contains_key(ROLLED_BACK_FROM_ANNOTATION));
    assert_eq!(
        annotations
            .get(ROLLED_BACK_TO_ANNOTATION)
            .map(String::as_str),
        Some(H2)
    );

    // With the hash forgotten by the caller too, the released template is left alone.
    let mut after = released;
    after.metadata.resource_version = Some("48800".into());
    let again = super::plan(&after, &fixture.replica_sets, &set(&[]), &set(&[])).expect("a plan");
    assert_eq!(outcome(&again).0, "AlreadyDone");
}

#[test]
fn nothing_to_resume_or_release_without_a_hold() {
    for file in ["history-basic.yaml", "paused.yaml", "reapplied-failed.yaml"] {
        let fixture = load(file);
        assert_eq!(
            resume(&fixture.deployment, &fixture.replica_sets).expect("readable"),
            None
        );
        assert_eq!(
            release(&fixture.deployment, &fixture.replica_sets).expect("readable"),
            None
        );
    }
}

#[test]
fn a_template_without_its_replica_set_yet_is_held() {
    let mut fixture = load("history-basic.yaml");
    set_image(&mut fixture.deployment, "ghcr.io/example/checkout:v2");
    let plan = plan_for(&fixture, &[H3], &[]);
    assert_eq!(outcome(&plan).0, "NoCurrentRevision");
}

#[test]
fn a_deployment_being_deleted_is_left_alone() {
    let mut fixture = load("history-basic.yaml");
    fixture.deployment.metadata.deletion_timestamp = Some(
        k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(Default::default()),
    );
    assert_eq!(outcome(&plan_for(&fixture, &[H3], &[])).0, "Deleting");
}

#[test]
fn malformed_objects_are_errors_not_plans() {
    let fixture = load("malformed-revision.yaml");
    let error = plan(
        &fixture.deployment,
        &fixture.replica_sets,
        &set(&[H3]),
        &set(&[]),
    )
    .expect_err("malformed");
    assert!(
        error
            .to_string()
            .contains(&format!("ReplicaSet shop/checkout-{H2}")),
        "{error}"
    );

    let fixture = load("history-basic.yaml");
    let mut no_rv = fixture.deployment.clone();
    no_rv.metadata.resource_version = None;
    let error = plan(&no_rv, &fixture.replica_sets, &set(&[H3]), &set(&[])).expect_err("no rv");
    assert!(
        error.to_string().contains("metadata.resourceVersion"),
        "{error}"
    );

    let mut bad_name = fixture.deployment.clone();
    bad_name.metadata.name = Some("checkout/../../secrets".into());
    let error = plan(&bad_name, &fixture.replica_sets, &set(&[H3]), &set(&[])).expect_err("name");
    assert!(
        matches!(
            error,
            Error::InvalidName {
                field: "metadata.name",
                ..
            }
        ),
        "{error}"
    );
}

#[test]
fn hold_reasons_read_as_sentences() {
    let fixture = load("paused.yaml");
    let RollbackPlan::Hold { reason } = plan_for(&fixture, &[H3], &[]) else {
        panic!("a hold");
    };
    let text = reason.to_string();
    assert!(text.contains("paused") && text.contains(H3), "{text}");
}

/// The operations of a patch, as JSON.
fn ops(patch: &DeploymentPatch) -> Vec<Value> {
    let body: Value = serde_json::from_slice(&patch.body().expect("a body")).expect("JSON");
    body.as_array().expect("an array").clone()
}

/// Applies the patch as the API server would (RFC 6902 on the stored object's JSON).
pub(super) fn apply(
    deployment: &Deployment,
    patch: &DeploymentPatch,
) -> Result<Deployment, String> {
    let mut doc = serde_json::to_value(deployment).expect("a Deployment encodes");
    json_patch::patch(&mut doc, &patch.patch).map_err(|e| e.to_string())?;
    serde_json::from_value(doc).map_err(|e| e.to_string())
}

fn template_of(replica_sets: &[ReplicaSet], hash: &str) -> Value {
    let rs = replica_sets
        .iter()
        .find(|rs| rs_named(rs, hash))
        .expect("the ReplicaSet");
    serde_json::to_value(rs.spec.as_ref().and_then(|s| s.template.as_ref())).expect("JSON")
}

fn bump_revision(replica_sets: &mut [ReplicaSet], hash: &str, revision: u64) {
    for rs in replica_sets.iter_mut().filter(|rs| rs_named(rs, hash)) {
        rs.metadata
            .annotations
            .get_or_insert_default()
            .insert(REVISION_ANNOTATION.to_string(), revision.to_string());
    }
}
