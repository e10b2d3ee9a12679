//! The controller's caches against an API server that refuses streaming lists (before
//! Kubernetes 1.34, or without the WatchList feature gate): they list in pages of 500 (`limit`
//! and `continue`, which the fake API server honours), end with every object, including one
//! written between two pages, and then follow the watch from the list's resourceVersion.

use std::time::Duration;

use futures::StreamExt;
use http::Method;
use ripcord_controller::reconcile::cache::{Caches, Scope};
use ripcord_fake_apiserver::{FakeApiServer, ObjectKey};
use serde_json::{Value, json};

const DEPLOYMENTS: usize = 1_000;
const DEPLOYMENTS_PATH: &str = "/apis/apps/v1/deployments";

fn labels(app: &str) -> Value {
    json!({"app": app, "ripcord.dev/enabled": "true"})
}

fn deployment(app: &str, uid: &str) -> Value {
    json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": app, "namespace": "shop", "uid": uid, "labels": labels(app),
            "annotations": {"deployment.kubernetes.io/revision": "1"}},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": app}},
            "template": {"metadata": {"labels": labels(app)},
                "spec": {"containers": [{"name": "app", "image": "shop/app:1"}]}}}})
}

/// A Deployment, its ReplicaSet and a pod of it.
fn release(i: usize) -> [Value; 3] {
    let app = format!("app-{i:04}");
    let uid = format!("00000000-0000-4000-8000-{i:012}");
    let hash = format!("h{i:08}");
    let mut pod_labels = labels(&app);
    pod_labels["pod-template-hash"] = hash.clone().into();
    let replica_set = json!({"apiVersion": "apps/v1", "kind": "ReplicaSet",
        "metadata": {"name": format!("{app}-{hash}"), "namespace": "shop", "uid": format!("{uid}-rs"),
            "labels": pod_labels, "annotations": {"deployment.kubernetes.io/revision": "1"},
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": app,
                "uid": uid, "controller": true}]},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": app, "pod-template-hash": hash}},
            "template": {"metadata": {"labels": pod_labels}, "spec": {"containers": []}}}});
    let pod = json!({"apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": format!("{app}-{hash}-x"), "namespace": "shop", "labels": pod_labels,
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet",
                "name": format!("{app}-{hash}"), "uid": format!("{uid}-rs"), "controller": true}]},
        "status": {"phase": "Running", "podIP": "10.1.0.1"}});
    [deployment(&app, &uid), replica_set, pod]
}

fn paged(query: &str) -> bool {
    query.contains("limit=500") && !query.contains("watch=true")
}

#[tokio::test]
async fn caches_refused_a_streaming_list_sync_from_pages_of_500_and_miss_nothing() {
    let server = FakeApiServer::start()
        .await
        .expect("the fake API server starts");
    server.refuse_streaming_lists(true);
    for i in 0..DEPLOYMENTS {
        for object in release(i) {
            server.insert(object).expect("stored");
        }
    }
    // The Deployment requests come in this order: the refused streaming watch, page 1, page 2.
    // Just before page 2 is served another client creates a Deployment whose name sorts last:
    // page 2 does not show it (the list is at page 1's version, see the fake API server's
    // `paged_list` tests), so it must come from the watch started at the list's version.
    let noise = ObjectKey::new("v1", "configmaps", Some("shop"), "noise");
    for _ in 0..2 {
        server.write_as_other_before_next(
            Method::GET,
            DEPLOYMENTS_PATH,
            noise.clone(),
            |_| json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"namespace": "shop"}}),
        );
    }
    let late = ObjectKey::new("apps/v1", "deployments", Some("shop"), "app-late");
    server.write_as_other_before_next(Method::GET, DEPLOYMENTS_PATH, late, |_| {
        deployment("app-late", "00000000-0000-4000-8000-1a7e1a7e1a7e")
    });

    let client = server.client().expect("a client");
    let (caches, streams) = Caches::watch(&client, &Scope::Cluster);
    let driven = tokio::spawn(futures::future::join_all(streams.into_iter().map(|s| {
        futures::stream::select_all([
            s.deployments.map(|_| ()).boxed(),
            s.replica_sets.map(|_| ()).boxed(),
            s.others,
        ])
        .for_each(|()| std::future::ready(()))
    })));
    tokio::time::timeout(Duration::from_secs(60), caches.wait_until_ready())
        .await
        .expect("synced in time")
        .expect("synced");

    let sizes = caches.sizes();
    assert_eq!(sizes.get("replicasets"), Some(&DEPLOYMENTS), "{sizes:?}");
    assert_eq!(sizes.get("pods"), Some(&DEPLOYMENTS), "{sizes:?}");
    for i in (0..DEPLOYMENTS).step_by(97).chain([DEPLOYMENTS - 1]) {
        let app = format!("app-{i:04}");
        let cached = caches
            .deployment("shop", &app)
            .expect("every Deployment cached");
        let uid = cached.metadata.uid.clone().expect("a UID");
        assert_eq!(caches.replica_sets_of("shop", &uid).len(), 1, "{app}");
        let hash = format!("h{i:08}");
        assert_eq!(caches.pods_with_hash("shop", &[&hash]).len(), 1, "{app}");
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while caches.deployment("shop", "app-late").is_none() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the Deployment written between pages never reached the cache"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(caches.sizes().get("deployments"), Some(&(DEPLOYMENTS + 1)));

    let requests = server.requests();
    let queries = |path: &str| -> Vec<String> {
        requests
            .iter()
            .filter(|r| r.method == Method::GET && r.path == path)
            .map(|r| r.query.clone().unwrap_or_default())
            .collect()
    };
    let deployments = queries(DEPLOYMENTS_PATH);
    assert!(
        deployments.len() >= 4
            && deployments[0].contains("sendInitialEvents=true")
            && paged(&deployments[1])
            && !deployments[1].contains("continue=")
            && paged(&deployments[2])
            && deployments[2].contains("continue=")
            && deployments[3].contains("watch=true")
            && !deployments[3].contains("sendInitialEvents"),
        "refused streaming list, two pages, then a watch: {deployments:#?}"
    );
    for path in ["/apis/apps/v1/replicasets", "/api/v1/pods"] {
        let pages: Vec<String> = queries(path).into_iter().filter(|q| paged(q)).collect();
        assert_eq!(pages.len(), 2, "{path}: {pages:#?}");
        assert_eq!(
            pages.iter().filter(|q| q.contains("continue=")).count(),
            1,
            "{path}: {pages:#?}"
        );
    }
    let unpaged = requests
        .iter()
        .filter_map(|r| r.query.as_deref())
        .filter(|q| !q.contains("watch=true") && !q.contains("limit="))
        .count();
    assert_eq!(unpaged, 0, "every list is paged");
    driven.abort();
}
