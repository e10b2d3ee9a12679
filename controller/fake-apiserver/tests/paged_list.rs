//! Paged lists against the fake API server through a real `kube::Client`: `limit` and
//! `continue` walk a collection page by page at the first page's resourceVersion, writes
//! between pages stay out of later ones, bad or compacted tokens are refused as the API server
//! refuses them, and a refused streaming list sends kube-runtime's watcher to paged lists.

use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::apps::v1::Deployment;
use kube::api::{Api, DeleteParams, ListParams, ObjectList, Patch, PatchParams, PostParams};
use kube::runtime::watcher;
use ripcord_fake_apiserver::FakeApiServer;
use serde_json::json;

const WAIT: Duration = Duration::from_secs(10);

fn deployment(name: &str, tier: &str) -> Deployment {
    serde_json::from_value(json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": "shop", "labels": {"app": name, "tier": tier}},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": name}},
                 "template": {"metadata": {"labels": {"app": name}},
                              "spec": {"containers": [{"name": "app", "image": "shop/app:1"}]}}}
    }))
    .expect("a deployment")
}

/// A server holding Deployments `a` to `e` in `shop` (tiers alternate front, back), and an API.
async fn five() -> (FakeApiServer, Api<Deployment>) {
    let server = FakeApiServer::start().await.expect("server starts");
    let api: Api<Deployment> = Api::namespaced(server.client().expect("client"), "shop");
    for (i, name) in ["a", "b", "c", "d", "e"].into_iter().enumerate() {
        let tier = if i % 2 == 0 { "front" } else { "back" };
        api.create(&PostParams::default(), &deployment(name, tier))
            .await
            .expect("created");
    }
    (server, api)
}

fn names(list: &ObjectList<Deployment>) -> Vec<String> {
    list.items
        .iter()
        .map(|d| d.metadata.name.clone().unwrap_or_default())
        .collect()
}

fn next(list: &ObjectList<Deployment>) -> String {
    list.metadata.continue_.clone().expect("a continue token")
}

fn api_error(error: kube::Error) -> (u16, String) {
    match error {
        kube::Error::Api(status) => (status.code, status.reason),
        other => panic!("expected an API error, got {other}"),
    }
}

#[tokio::test]
async fn a_list_in_pages_of_two_walks_every_object_once_at_one_version() {
    let (server, api) = five().await;
    let version = server.resource_version().to_string();
    let first = api
        .list(&ListParams::default().limit(2))
        .await
        .expect("page 1");
    assert_eq!(names(&first), ["a", "b"]);
    assert_eq!(first.metadata.remaining_item_count, Some(3));
    let second = api
        .list(&ListParams::default().limit(2).continue_token(&next(&first)))
        .await
        .expect("page 2");
    assert_eq!(names(&second), ["c", "d"]);
    assert_eq!(second.metadata.remaining_item_count, Some(1));
    let third = api
        .list(
            &ListParams::default()
                .limit(2)
                .continue_token(&next(&second)),
        )
        .await
        .expect("page 3");
    assert_eq!(names(&third), ["e"]);
    assert_eq!(
        third.metadata.continue_, None,
        "the last page ends the list"
    );
    assert_eq!(third.metadata.remaining_item_count, None);
    for page in [&first, &second, &third] {
        assert_eq!(page.metadata.resource_version.as_deref(), Some(&*version));
    }
    let whole = api.list(&ListParams::default()).await.expect("a list");
    assert_eq!(names(&whole), ["a", "b", "c", "d", "e"]);
    assert_eq!(whole.metadata.continue_, None, "no limit, one page");
    assert_eq!(whole.metadata.remaining_item_count, None);
}

#[tokio::test]
async fn writes_between_pages_stay_out_of_later_pages() {
    let (server, api) = five().await;
    let first = api
        .list(&ListParams::default().limit(2))
        .await
        .expect("page 1");
    let listed_at = first.metadata.resource_version.clone();
    let before_c = api.get("c").await.expect("c");
    api.patch(
        "c",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"replicas": 7}})),
    )
    .await
    .expect("c patched");
    api.delete("d", &DeleteParams::default())
        .await
        .expect("d deleted");
    api.create(&PostParams::default(), &deployment("cc", "front"))
        .await
        .expect("cc created");
    api.create(&PostParams::default(), &deployment("f", "front"))
        .await
        .expect("f created");
    assert!(
        server.resource_version() > 6,
        "the writes moved the version"
    );

    let rest = api
        .list(
            &ListParams::default()
                .limit(10)
                .continue_token(&next(&first)),
        )
        .await
        .expect("the rest");
    assert_eq!(names(&rest), ["c", "d", "e"], "the list as it was");
    assert_eq!(rest.metadata.resource_version, listed_at);
    let c = &rest.items[0];
    assert_eq!(c.spec.as_ref().and_then(|s| s.replicas), Some(1));
    assert_eq!(
        c.metadata.resource_version,
        before_c.metadata.resource_version
    );

    let now = api
        .list(&ListParams::default().limit(10))
        .await
        .expect("now");
    assert_eq!(names(&now), ["a", "b", "c", "cc", "e", "f"]);
    assert_eq!(now.items[2].spec.as_ref().and_then(|s| s.replicas), Some(7));
}

#[tokio::test]
async fn a_selector_pages_the_selected_objects_without_a_count() {
    let (_server, api) = five().await;
    let front = ListParams::default().labels("tier=front").limit(2);
    let first = api.list(&front).await.expect("page 1");
    assert_eq!(names(&first), ["a", "c"]);
    assert_eq!(
        first.metadata.remaining_item_count, None,
        "the API server counts only unfiltered lists"
    );
    let second = api
        .list(&front.clone().continue_token(&next(&first)))
        .await
        .expect("page 2");
    assert_eq!(names(&second), ["e"]);
    assert_eq!(second.metadata.continue_, None);
}

#[tokio::test]
async fn bad_and_compacted_tokens_are_refused_as_the_api_server_does() {
    let (server, api) = five().await;
    let garbage = api
        .list(&ListParams::default().limit(2).continue_token("not-a-token"))
        .await
        .expect_err("a malformed token is refused");
    assert_eq!(api_error(garbage), (400, "BadRequest".to_string()));

    let first = api
        .list(&ListParams::default().limit(2))
        .await
        .expect("page 1");
    let token = next(&first);
    let query = form_urlencoded::Serializer::new(String::new())
        .append_pair("limit", "2")
        .append_pair("continue", &token)
        .append_pair("resourceVersion", "3")
        .finish();
    let uri = format!("/apis/apps/v1/namespaces/shop/deployments?{query}");
    let with_version = server
        .client()
        .expect("client")
        .request_text(http::Request::get(uri).body(Vec::new()).expect("request"))
        .await
        .expect_err("continue with a resourceVersion is refused");
    match with_version {
        kube::Error::Api(status) => assert!(
            status.code == 400 && status.message.contains("specifying resource version"),
            "{status:?}"
        ),
        other => panic!("expected an API error, got {other}"),
    }

    server.compact();
    let unchanged = api
        .list(&ListParams::default().limit(2).continue_token(&token))
        .await
        .expect("nothing changed since the list, so nothing is lost by compaction");
    assert_eq!(names(&unchanged), ["c", "d"]);
    api.delete("e", &DeleteParams::default())
        .await
        .expect("e deleted");
    server.compact();
    let gone = api
        .list(&ListParams::default().limit(2).continue_token(&token))
        .await
        .expect_err("a token from before a compacted change is too old");
    assert_eq!(api_error(gone), (410, "Expired".to_string()));
}

#[tokio::test]
async fn a_refused_streaming_list_leaves_the_watcher_paging() {
    let (server, api) = five().await;
    server.refuse_streaming_lists(true);
    let refused = watcher(api.clone(), watcher::Config::default().streaming_lists())
        .boxed()
        .try_next()
        .await
        .expect_err("the streaming list is refused");
    match refused {
        watcher::Error::WatchStartFailed(kube::Error::Api(status)) => {
            assert_eq!((status.code, &*status.reason), (422, "Invalid"));
            assert!(status.message.contains("sendInitialEvents"), "{status:?}");
        }
        other => panic!("expected a refused watch, got {other:?}"),
    }

    server.clear_requests();
    let mut events = watcher(api, watcher::Config::default().page_size(2)).boxed();
    let mut listed = Vec::new();
    loop {
        let event = tokio::time::timeout(WAIT, events.try_next())
            .await
            .expect("in time")
            .expect("no error")
            .expect("open");
        match event {
            watcher::Event::InitApply(d) => listed.push(d.metadata.name.unwrap_or_default()),
            watcher::Event::InitDone => break,
            _ => {}
        }
    }
    assert_eq!(listed, ["a", "b", "c", "d", "e"]);
    let pages: Vec<String> = server
        .requests()
        .into_iter()
        .filter_map(|r| r.query)
        .filter(|q| q.contains("limit=2"))
        .collect();
    assert_eq!(pages.len(), 3, "{pages:?}");
    assert_eq!(
        pages.iter().filter(|q| q.contains("continue=")).count(),
        2,
        "{pages:?}"
    );
}
