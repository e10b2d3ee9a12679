use ripcord_sidecar::assign::BaselineSources;
use serde_json::json;

use super::*;

fn check(revision: i64, phase: Option<&str>, snapshot: Option<serde_json::Value>) -> CompactCheck {
    let mut value = json!({
        "apiVersion": "ripcord.dev/v1alpha1",
        "kind": "ReleaseCheck",
        "metadata": {"name": format!("checkout-{revision}"), "namespace": "shop"},
        "spec": {
            "deployment": "checkout",
            "revision": revision,
            "templateHash": "abc",
            "policy": {
                "onRegression": ["rollback"],
                "mode": "act",
                "watch": "errors: errors_total / requests_total max +50%",
                "watchForSeconds": 1800
            }
        },
        "status": {}
    });
    if let Some(phase) = phase {
        value["status"]["phase"] = phase.into();
    }
    if let Some(snapshot) = snapshot {
        value["status"]["baselineSnapshot"] = snapshot;
    }
    let check: crate::crd::ReleaseCheck = serde_json::from_value(value).expect("a ReleaseCheck");
    CompactCheck::from(&check)
}

fn kept() -> serde_json::Value {
    json!({
        "takenAt": "2026-11-24T10:00:00Z",
        "podsAsked": 3,
        "podsAnswered": 3,
        "observations": 600,
        "configMap": "ripcord-snapshot.shop.checkout-3"
    })
}

#[test]
fn a_snapshot_is_due_once_for_a_watched_release_whose_previous_pods_ran_sidecars() {
    let watching = check(3, Some("Watching"), None);
    assert!(due(watching.status.as_deref(), true));
    assert!(!due(watching.status.as_deref(), false), "no sidecar to ask");
    let taken = check(3, Some("Watching"), Some(kept()));
    assert!(!due(taken.status.as_deref(), true), "taken already");
    let settled = check(3, Some("RolledBack"), None);
    assert!(!due(settled.status.as_deref(), true));
    assert!(
        !due(None, true),
        "a check not created yet has nothing to record it in"
    );
}

#[test]
fn a_snapshot_is_kept_while_its_release_is_open_and_the_latest() {
    let open = check(3, Some("Watching"), Some(kept()));
    let acting = check(3, Some("Acting"), Some(kept()));
    let older = check(2, Some("Passed"), None);
    let newer = check(4, Some("Watching"), None);
    assert!(still_needed(&open, [&older, &open]));
    assert!(still_needed(&acting, [&older]));
    assert!(!still_needed(&open, [&older, &open, &newer]), "superseded");
    for settled in [
        "Passed",
        "RolledBack",
        "FlagOff",
        "Held",
        "Inconclusive",
        "Observed",
    ] {
        let check = check(3, Some(settled), Some(kept()));
        assert!(!still_needed(&check, [&older]), "{settled}");
    }
}

#[test]
fn only_a_canary_whose_check_kept_a_snapshot_is_offered_it() {
    let url = Some("https://ripcord-controller.ripcord.svc:8443/v1/snapshot");
    let mut canary = Assignment::idle();
    canary.role = Role::Canary;
    let with = check(3, Some("Watching"), Some(kept()));
    let mut offered = canary.clone();
    offer(&mut offered, Some(&with), url);
    assert_eq!(offered.baseline.snapshot.as_deref(), url);

    let mut empty = kept();
    empty["observations"] = 0.into();
    empty
        .as_object_mut()
        .expect("an object")
        .remove("configMap");
    for check in [
        Some(check(3, Some("Watching"), Some(empty))),
        Some(check(3, Some("Watching"), None)),
        None,
    ] {
        let mut assignment = canary.clone();
        offer(&mut assignment, check.as_ref(), url);
        assert_eq!(assignment.baseline, BaselineSources::default());
    }
    let mut baseline = Assignment::idle();
    baseline.role = Role::Baseline;
    offer(&mut baseline, Some(&with), url);
    assert_eq!(baseline.baseline.snapshot, None, "only canaries judge");
}
