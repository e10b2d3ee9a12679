//! A real `kube::Client` (and kube-runtime watcher) against the fake API server: CRUD,
//! resourceVersion preconditions, JSON patch `test`, status subresource, watches, TokenReview,
//! seeding and the request log.

use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use http::{Method, StatusCode};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::authentication::v1::{TokenReview, TokenReviewSpec};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{
    Api, DeleteParams, ListParams, Patch, PatchParams, PostParams, WatchEvent, WatchParams,
};
use kube::runtime::watcher;
use ripcord_fake_apiserver::{FakeApiServer, TokenIdentity};
use serde_json::json;

const WAIT: Duration = Duration::from_secs(10);

async fn server() -> (FakeApiServer, kube::Client) {
    let server = FakeApiServer::start().await.expect("server starts");
    let client = server.client().expect("client builds");
    (server, client)
}

fn deployment(name: &str, app: &str) -> Deployment {
    serde_json::from_value(json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": "shop", "labels": {"app": app, "ripcord.dev/enabled": "true"}},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": app}},
                 "template": {"metadata": {"labels": {"app": app}},
                              "spec": {"containers": [{"name": "app", "image": "shop/app:1"}]}}}
    }))
    .expect("a deployment")
}

fn api_code(error: kube::Error) -> (u16, String) {
    match error {
        kube::Error::Api(status) => (status.code, status.reason),
        other => panic!("expected an API error, got {other}"),
    }
}

#[tokio::test]
async fn crud_with_selectors() {
    let (server, client) = server().await;
    let api: Api<Deployment> = Api::namespaced(client, "shop");
    let created = api
        .create(&PostParams::default(), &deployment("checkout", "checkout"))
        .await
        .expect("created");
    api.create(&PostParams::default(), &deployment("cart", "cart"))
        .await
        .expect("created");
    let uid = created.metadata.uid.clone().expect("a uid");
    assert_eq!(created.metadata.generation, Some(1));
    assert!(created.metadata.creation_timestamp.is_some());

    let fetched = api.get("checkout").await.expect("fetched");
    assert_eq!(fetched.metadata.uid.as_deref(), Some(uid.as_str()));

    let by_label = api
        .list(&ListParams::default().labels("app=cart"))
        .await
        .expect("listed");
    let names: Vec<_> = by_label
        .items
        .iter()
        .filter_map(|d| d.metadata.name.clone())
        .collect();
    assert_eq!(names, ["cart"]);
    let by_set = api
        .list(&ListParams::default().labels("app in (cart,checkout),ripcord.dev/enabled"))
        .await
        .expect("listed");
    assert_eq!(by_set.items.len(), 2);
    let by_field = api
        .list(&ListParams::default().fields("metadata.name=checkout"))
        .await
        .expect("listed");
    assert_eq!(by_field.items.len(), 1);
    assert_eq!(by_field.metadata.resource_version.as_deref(), Some("2"));

    let mut changed = fetched.clone();
    changed.spec.as_mut().expect("a spec").replicas = Some(5);
    let replaced = api
        .replace("checkout", &PostParams::default(), &changed)
        .await
        .expect("replaced");
    assert_eq!(replaced.metadata.generation, Some(2));
    assert_eq!(replaced.metadata.resource_version.as_deref(), Some("3"));

    api.delete("checkout", &DeleteParams::default())
        .await
        .expect("deleted");
    let (code, reason) = api_code(api.get("checkout").await.expect_err("gone"));
    assert_eq!((code, reason.as_str()), (404, "NotFound"));
    assert!(
        server
            .object("apps/v1", "deployments", Some("shop"), "cart")
            .is_some()
    );
}

#[tokio::test]
async fn a_stale_update_and_a_stale_merge_patch_conflict() {
    let (server, client) = server().await;
    let api: Api<Deployment> = Api::namespaced(client, "shop");
    let first = api
        .create(&PostParams::default(), &deployment("checkout", "checkout"))
        .await
        .expect("created");
    let patch = json!({"spec": {"paused": true}});
    api.patch("checkout", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .expect("patched without precondition");

    let mut stale = first.clone();
    stale.spec.as_mut().expect("a spec").replicas = Some(9);
    let (code, reason) = api_code(
        api.replace("checkout", &PostParams::default(), &stale)
            .await
            .expect_err("stale"),
    );
    assert_eq!((code, reason.as_str()), (409, "Conflict"));

    let stale_rv = first.metadata.resource_version.clone().expect("an rv");
    let guarded = json!({"metadata": {"resourceVersion": stale_rv}, "spec": {"replicas": 9}});
    let (code, _) = api_code(
        api.patch("checkout", &PatchParams::default(), &Patch::Merge(&guarded))
            .await
            .expect_err("stale"),
    );
    assert_eq!(code, 409);
    let held = api.get("checkout").await.expect("fetched");
    assert_eq!(
        held.spec.expect("a spec").replicas,
        Some(2),
        "nothing changed"
    );

    let fresh = json!({"metadata": {"resourceVersion": held.metadata.resource_version}, "spec": {"replicas": 9}});
    let patched = api
        .patch("checkout", &PatchParams::default(), &Patch::Merge(&fresh))
        .await
        .expect("fresh");
    assert_eq!(patched.spec.expect("a spec").replicas, Some(9));
    let stored = server
        .object("apps/v1", "deployments", Some("shop"), "checkout")
        .expect("stored");
    assert_eq!(stored["spec"]["replicas"], 9);
}

#[tokio::test]
async fn a_json_patch_test_guards_the_change() {
    let (_server, client) = server().await;
    let api: Api<Deployment> = Api::namespaced(client, "shop");
    let created = api
        .create(&PostParams::default(), &deployment("checkout", "checkout"))
        .await
        .expect("created");
    let rv = created.metadata.resource_version.expect("an rv");
    let operations = |expected: &str| -> json_patch::Patch {
        serde_json::from_value(json!([
            {"op": "test", "path": "/metadata/resourceVersion", "value": expected},
            {"op": "replace", "path": "/spec/replicas", "value": 0}
        ]))
        .expect("a patch")
    };
    let (code, reason) = api_code(
        api.patch(
            "checkout",
            &PatchParams::default(),
            &Patch::<()>::Json(operations("999")),
        )
        .await
        .expect_err("test fails"),
    );
    assert_eq!((code, reason.as_str()), (422, "Invalid"));
    let patched = api
        .patch(
            "checkout",
            &PatchParams::default(),
            &Patch::<()>::Json(operations(&rv)),
        )
        .await
        .expect("test passes");
    assert_eq!(patched.spec.expect("a spec").replicas, Some(0));
}

#[tokio::test]
async fn status_is_written_only_through_its_subresource() {
    let (_server, client) = server().await;
    let api: Api<Deployment> = Api::namespaced(client, "shop");
    api.create(&PostParams::default(), &deployment("checkout", "checkout"))
        .await
        .expect("created");
    let status = json!({"status": {"readyReplicas": 2}, "spec": {"replicas": 7}});
    let written = api
        .patch_status("checkout", &PatchParams::default(), &Patch::Merge(&status))
        .await
        .expect("status");
    assert_eq!(
        written.status.as_ref().and_then(|s| s.ready_replicas),
        Some(2)
    );
    assert_eq!(
        written.spec.as_ref().and_then(|s| s.replicas),
        Some(2),
        "spec untouched"
    );
    let main = json!({"status": {"readyReplicas": 0}});
    let after = api
        .patch("checkout", &PatchParams::default(), &Patch::Merge(&main))
        .await
        .expect("patched");
    assert_eq!(
        after.status.and_then(|s| s.ready_replicas),
        Some(2),
        "status untouched"
    );
}

#[tokio::test]
async fn server_side_apply_creates_then_merges() {
    let (server, client) = server().await;
    let api: Api<Lease> = Api::namespaced(client, "ripcord-system");
    let params = PatchParams::apply("ripcord-controller").force();
    let lease = json!({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                       "metadata": {"name": "ripcord"}, "spec": {"holderIdentity": "a"}});
    let created = api
        .patch("ripcord", &params, &Patch::Apply(&lease))
        .await
        .expect("created");
    assert_eq!(
        created.spec.and_then(|s| s.holder_identity).as_deref(),
        Some("a")
    );
    let lease = json!({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                       "metadata": {"name": "ripcord"}, "spec": {"holderIdentity": "b"}});
    let updated = api
        .patch("ripcord", &params, &Patch::Apply(&lease))
        .await
        .expect("applied");
    assert_eq!(
        updated.spec.and_then(|s| s.holder_identity).as_deref(),
        Some("b")
    );
    let applies = server
        .requests()
        .into_iter()
        .filter(|r| r.method == Method::PATCH)
        .count();
    assert_eq!(applies, 2);
    let logged = &server.requests()[0];
    assert_eq!(
        logged.query_param("fieldManager").as_deref(),
        Some("ripcord-controller")
    );
    assert_eq!(
        logged.content_type.as_deref(),
        Some("application/apply-patch+yaml")
    );
}

#[tokio::test]
async fn watch_streams_changes_from_a_resource_version() {
    let (server, client) = server().await;
    let api: Api<Pod> = Api::namespaced(client, "shop");
    let start = server.resource_version().to_string();
    let mut stream = api
        .watch(
            &WatchParams::default().labels("app=checkout").timeout(30),
            &start,
        )
        .await
        .expect("watching")
        .boxed();
    let pod = |name: &str, app: &str| -> Pod {
        serde_json::from_value(json!({"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "labels": {"app": app}},
            "spec": {"containers": [{"name": "app", "image": "shop/app:1"}]}}))
        .expect("a pod")
    };
    api.create(&PostParams::default(), &pod("cart-1", "cart"))
        .await
        .expect("created");
    api.create(&PostParams::default(), &pod("checkout-1", "checkout"))
        .await
        .expect("created");
    api.delete("checkout-1", &DeleteParams::default())
        .await
        .expect("deleted");
    let mut seen = Vec::new();
    while seen.len() < 2 {
        let event = tokio::time::timeout(WAIT, stream.try_next())
            .await
            .expect("in time")
            .expect("an event")
            .expect("open");
        match event {
            WatchEvent::Added(pod) => {
                seen.push(format!("added {}", pod.metadata.name.unwrap_or_default()))
            }
            WatchEvent::Deleted(pod) => {
                seen.push(format!("deleted {}", pod.metadata.name.unwrap_or_default()))
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(seen, ["added checkout-1", "deleted checkout-1"]);
}

#[tokio::test]
async fn a_runtime_watcher_lists_then_follows() {
    let (server, client) = server().await;
    server
        .seed_yaml("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: seeded, namespace: shop}\nspec: {replicas: 1}\n")
        .expect("seeded");
    let api: Api<Deployment> = Api::namespaced(client, "shop");
    let mut events = watcher(api.clone(), watcher::Config::default()).boxed();
    let mut names = Vec::new();
    let mut created = false;
    while !names.contains(&"live".to_string()) {
        let event = tokio::time::timeout(WAIT, events.try_next())
            .await
            .expect("in time")
            .expect("no error")
            .expect("open");
        match event {
            watcher::Event::InitApply(d) | watcher::Event::Apply(d) => {
                names.push(d.metadata.name.unwrap_or_default())
            }
            watcher::Event::InitDone if !created => {
                created = true;
                api.create(&PostParams::default(), &deployment("live", "live"))
                    .await
                    .expect("created");
            }
            _ => {}
        }
    }
    assert_eq!(names, ["seeded", "live"]);
}

#[tokio::test]
async fn token_review_answers_from_the_token_map() {
    let (server, client) = server().await;
    server
        .seed_yaml("apiVersion: v1\nkind: Pod\nmetadata: {name: checkout-7-abc, namespace: shop, uid: 1111-pod}\n")
        .expect("seeded");
    server.add_token(
        "good",
        TokenIdentity::pod("shop", "checkout-7-abc", "checkout", &["ripcord"]),
    );
    let api: Api<TokenReview> = Api::all(client);
    let review = |token: &str, audience: &str| TokenReview {
        spec: TokenReviewSpec {
            token: Some(token.into()),
            audiences: Some(vec![audience.into()]),
        },
        ..TokenReview::default()
    };
    let good = api
        .create(&PostParams::default(), &review("good", "ripcord"))
        .await
        .expect("reviewed");
    let status = good.status.expect("a status");
    assert_eq!(status.authenticated, Some(true));
    let user = status.user.expect("a user");
    assert_eq!(
        user.username.as_deref(),
        Some("system:serviceaccount:shop:checkout")
    );
    let extra = user.extra.expect("extra");
    assert_eq!(
        extra["authentication.kubernetes.io/pod-name"],
        ["checkout-7-abc"]
    );
    assert_eq!(extra["authentication.kubernetes.io/pod-uid"], ["1111-pod"]);
    assert_eq!(status.audiences, Some(vec!["ripcord".to_string()]));

    for (token, audience) in [
        ("forged", "ripcord"),
        ("good", "https://kubernetes.default.svc"),
    ] {
        let refused = api
            .create(&PostParams::default(), &review(token, audience))
            .await
            .expect("reviewed");
        let status = refused.status.expect("a status");
        assert_eq!(status.authenticated, Some(false), "{token} for {audience}");
        assert!(status.error.is_some());
    }
    assert!(server.writes().is_empty(), "a review is not a write");
    assert!(
        server
            .list("authentication.k8s.io/v1", "tokenreviews", None)
            .is_empty()
    );
}

#[tokio::test]
async fn injected_failures_answer_once_and_change_nothing() {
    let (server, client) = server().await;
    let api: Api<Deployment> = Api::namespaced(client, "shop");
    api.create(&PostParams::default(), &deployment("checkout", "checkout"))
        .await
        .expect("created");
    server.fail_next(
        Method::PATCH,
        "/apis/apps/v1/namespaces/shop/deployments/checkout",
        StatusCode::INTERNAL_SERVER_ERROR,
    );
    let patch = json!({"spec": {"paused": true}});
    let (code, _) = api_code(
        api.patch("checkout", &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .expect_err("injected"),
    );
    assert_eq!(code, 500);
    assert_eq!(server.resource_version(), 1);
    api.patch("checkout", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .expect("then served");
    let writes = server.writes();
    assert_eq!(writes.len(), 3);
    assert_eq!(writes[2].json(), Some(patch));
    assert_eq!(
        writes[2].content_type.as_deref(),
        Some("application/merge-patch+json")
    );
}

#[tokio::test]
async fn discovery_and_version_answer() {
    let (_server, client) = server().await;
    let version = client.apiserver_version().await.expect("a version");
    assert_eq!(version.major, "1");
    let groups = client.list_api_groups().await.expect("groups");
    assert!(groups.groups.iter().any(|g| g.name == "ripcord.dev"));
    let core = client
        .list_core_api_resources("v1")
        .await
        .expect("core resources");
    assert!(core.resources.iter().any(|r| r.name == "pods"));
}

#[tokio::test]
async fn lease_election_elects_one_holder() {
    let (server, client) = server().await;
    let mut watches = Vec::new();
    for identity in ["replica-a", "replica-b"] {
        let manager = kube_lease_manager::LeaseManagerBuilder::new(client.clone(), "ripcord")
            .with_namespace("ripcord-system")
            .with_identity(identity)
            .with_duration(5)
            .with_grace(2)
            .build()
            .await
            .expect("a lease manager");
        watches.push(manager.watch().await);
    }
    let mut first = watches[0].0.clone();
    let mut second = watches[1].0.clone();
    tokio::time::timeout(WAIT, async {
        tokio::select! {
            _ = first.wait_for(|leading| *leading) => {}
            _ = second.wait_for(|leading| *leading) => {}
        }
    })
    .await
    .expect("someone leads");
    let leaders = [*first.borrow(), *second.borrow()];
    assert_eq!(leaders.iter().filter(|l| **l).count(), 1, "{leaders:?}");
    let lease = server
        .object(
            "coordination.k8s.io/v1",
            "leases",
            Some("ripcord-system"),
            "ripcord",
        )
        .expect("the lease is stored");
    let holder = lease["spec"]["holderIdentity"].as_str().expect("a holder");
    let expected = if leaders[0] { "replica-a" } else { "replica-b" };
    assert_eq!(holder, expected);
}

#[tokio::test]
async fn events_from_a_recorder_are_stored_and_repeats_patch_their_series() {
    use k8s_openapi::api::core::v1::ObjectReference;
    use kube::runtime::events::{Event, EventType, Recorder, Reporter};
    let (server, client) = server().await;
    let reporter = Reporter {
        controller: "ripcord-controller".into(),
        instance: Some("replica-a".into()),
    };
    let recorder = Recorder::new(client, reporter);
    let reference = ObjectReference {
        api_version: Some("apps/v1".into()),
        kind: Some("Deployment".into()),
        name: Some("checkout".into()),
        namespace: Some("shop".into()),
        uid: Some("uid-1".into()),
        ..ObjectReference::default()
    };
    let event = Event {
        type_: EventType::Warning,
        reason: "RolledBack".into(),
        note: Some("errors regressed; rolled back to revision 6".into()),
        action: "Rollback".into(),
        secondary: None,
    };
    recorder
        .publish(&event, &reference)
        .await
        .expect("published");
    recorder
        .publish(&event, &reference)
        .await
        .expect("published again");
    let stored = server.list("events.k8s.io/v1", "events", Some("shop"));
    assert_eq!(stored.len(), 1, "{stored:?}");
    assert_eq!(stored[0]["reason"], "RolledBack");
    assert_eq!(stored[0]["regarding"]["name"], "checkout");
    assert_eq!(stored[0]["series"]["count"], 2);
    let methods: Vec<Method> = server.writes().into_iter().map(|r| r.method).collect();
    assert_eq!(methods, [Method::POST, Method::PATCH]);
}

#[tokio::test]
async fn a_label_change_moves_an_object_in_and_out_of_a_watch() {
    let (_server, client) = server().await;
    let api: Api<Deployment> = Api::namespaced(client, "shop");
    api.create(&PostParams::default(), &deployment("checkout", "checkout"))
        .await
        .expect("created");
    let mut stream = api
        .watch(
            &WatchParams::default().labels("ripcord.dev/enabled=true"),
            "1",
        )
        .await
        .expect("watching")
        .boxed();
    let label =
        |value: Option<&str>| json!({"metadata": {"labels": {"ripcord.dev/enabled": value}}});
    for value in [None, Some("true"), Some("true")] {
        let mut patch = label(value);
        if value.is_some() {
            patch["spec"] = json!({"replicas": 3});
        }
        api.patch("checkout", &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .expect("patched");
    }
    api.patch(
        "checkout",
        &PatchParams::default(),
        &Patch::Merge(&json!({"spec": {"replicas": 4}})),
    )
    .await
    .expect("patched");
    let mut seen = Vec::new();
    while seen.len() < 3 {
        let event = tokio::time::timeout(WAIT, stream.try_next())
            .await
            .expect("in time")
            .expect("an event")
            .expect("open");
        seen.push(match event {
            WatchEvent::Added(_) => "added",
            WatchEvent::Modified(_) => "modified",
            WatchEvent::Deleted(_) => "deleted",
            other => panic!("unexpected {other:?}"),
        });
    }
    assert_eq!(seen, ["deleted", "added", "modified"]);
}

#[tokio::test]
async fn seed_dir_reads_yaml_files_in_order_and_wait_until_sees_writes() {
    let directory = std::env::temp_dir().join(format!("ripcord-fake-seed-{}", std::process::id()));
    std::fs::create_dir_all(&directory).expect("a temp dir");
    std::fs::write(
        directory.join("b.yaml"),
        "apiVersion: apps/v1\nkind: ReplicaSet\nmetadata: {name: checkout-7c9d5b, namespace: shop, labels: {pod-template-hash: 7c9d5b}}\n",
    )
    .expect("written");
    std::fs::write(
        directory.join("a.yaml"),
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: checkout, namespace: shop, uid: dep-uid}\n---\napiVersion: v1\nkind: Pod\nmetadata: {name: checkout-7c9d5b-abc, namespace: shop}\n",
    )
    .expect("written");
    std::fs::write(directory.join("notes.txt"), "not a fixture").expect("written");
    let (server, client) = server().await;
    let keys = server.seed_dir(&directory).expect("seeded");
    std::fs::remove_dir_all(&directory).expect("cleaned up");
    let names: Vec<&str> = keys.iter().map(|k| k.name.as_str()).collect();
    assert_eq!(
        names,
        ["checkout", "checkout-7c9d5b-abc", "checkout-7c9d5b"]
    );
    let seeded = server
        .object("apps/v1", "deployments", Some("shop"), "checkout")
        .expect("stored");
    assert_eq!(
        seeded["metadata"]["uid"], "dep-uid",
        "fixture uids are kept"
    );

    let api: Api<Deployment> = Api::namespaced(client, "shop");
    let patching = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(50)).await;
        api.patch(
            "checkout",
            &PatchParams::default(),
            &Patch::Merge(&json!({"spec": {"paused": true}})),
        )
        .await
    });
    let patch = server
        .wait_until(WAIT, |s| {
            s.writes().into_iter().find(|r| r.method == Method::PATCH)
        })
        .await;
    let patch = patch.unwrap_or_else(|| panic!("no patch in {:?}", server.requests()));
    assert_eq!(
        patch.path,
        "/apis/apps/v1/namespaces/shop/deployments/checkout"
    );
    patching.await.expect("joined").expect("patched");
    let never = server
        .wait_until(Duration::from_millis(50), |s| {
            s.writes().into_iter().find(|r| r.method == Method::DELETE)
        })
        .await;
    assert!(never.is_none());
}

#[tokio::test]
async fn a_streaming_list_watcher_gets_initial_events_then_a_bookmark() {
    let (server, client) = server().await;
    server
        .seed_yaml(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: seeded, namespace: shop}\n",
        )
        .expect("seeded");
    let api: Api<Deployment> = Api::namespaced(client, "shop");
    let mut events = watcher(api, watcher::Config::default().streaming_lists()).boxed();
    let mut seen = Vec::new();
    loop {
        let event = tokio::time::timeout(WAIT, events.try_next())
            .await
            .expect("in time")
            .expect("no error")
            .expect("open");
        match event {
            watcher::Event::Init => seen.push("init".to_string()),
            watcher::Event::InitApply(d) => seen.push(d.metadata.name.unwrap_or_default()),
            watcher::Event::InitDone => break,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(seen, ["init", "seeded"]);
    let watch = server
        .requests()
        .into_iter()
        .find(|r| r.query_param("watch").as_deref() == Some("true"))
        .expect("a watch request");
    assert_eq!(
        watch.query_param("sendInitialEvents").as_deref(),
        Some("true")
    );
}

#[tokio::test]
async fn another_writer_between_read_and_write_makes_the_precondition_fail() {
    let (server, client) = server().await;
    let api: Api<Deployment> = Api::namespaced(client, "shop");
    let read = api
        .create(&PostParams::default(), &deployment("checkout", "checkout"))
        .await
        .expect("created");
    let path = "/apis/apps/v1/namespaces/shop/deployments/checkout";
    let key =
        ripcord_fake_apiserver::ObjectKey::new("apps/v1", "deployments", Some("shop"), "checkout");
    server.write_as_other_before_next(Method::PATCH, path, key.clone(), |current| {
        let mut next = current.cloned().expect("the Deployment exists");
        next["metadata"]["labels"]["team"] = "payments".into();
        next
    });
    let guarded = json!({"metadata": {"resourceVersion": read.metadata.resource_version},
                         "spec": {"paused": true}});
    let refused = api
        .patch("checkout", &PatchParams::default(), &Patch::Merge(&guarded))
        .await
        .expect_err("the read version is stale");
    assert_eq!(api_code(refused).0, 409);
    let stored = server.get(&key).expect("stored");
    assert_eq!(stored["metadata"]["labels"]["team"], "payments");
    assert_eq!(
        stored["spec"].get("paused"),
        None,
        "the refused patch changed nothing"
    );
    let again = api
        .patch("checkout", &PatchParams::default(), &Patch::Merge(&guarded))
        .await
        .expect_err("the interference is used up, but the version is still stale");
    assert_eq!(api_code(again).0, 409);
    let created = server
        .write_as_other(
            &ripcord_fake_apiserver::ObjectKey::new("v1", "configmaps", Some("shop"), "made"),
            |absent| {
                assert!(absent.is_none());
                json!({"apiVersion": "v1", "kind": "ConfigMap", "data": {"a": "1"}})
            },
        )
        .expect("created by another writer");
    assert_eq!(created["metadata"]["name"], "made");
}
