//! The controller's caches: the Deployments, ReplicaSets and pods labelled `ripcord.dev/enabled`,
//! and the ReleaseChecks, one set per watched namespace (or one for the whole cluster). Each
//! object is compacted as it arrives from its watch (see [`crate::release::compact`],
//! [`CompactPod`] and [`CompactCheck`]) so that ten thousand Deployments fit in a small heap.
//! ReplicaSets are indexed by owner UID, pods by revision
//! and ReleaseChecks by Deployment, so a reconcile never scans a whole cache.

use std::collections::BTreeMap;
use std::sync::Arc;

use futures::stream::BoxStream;
use futures::{Stream, StreamExt, TryStreamExt};
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::Pod;
use kube::Resource;
use kube::api::Api;
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::watcher::Event;
use kube::runtime::{WatchStreamExt, watcher};
use tokio::sync::watch;

use super::check::CompactCheck;
use super::pod::CompactPod;
use super::store::{Indexed, Keyed};
use crate::crd::ReleaseCheck;
use crate::release::{CompactDeployment, CompactReplicaSet, ENABLED_LABEL};

/// The namespaces the controller watches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// Every namespace (needs cluster-wide list and watch).
    Cluster,
    /// Only these namespaces (one watch per namespace and kind).
    Namespaces(Vec<String>),
}

/// Read access to every cache; cheap to clone.
#[derive(Clone)]
pub struct Caches {
    scopes: Arc<Vec<ScopeCaches>>,
}

/// The watches stopped before the caches were filled.
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("the watches stopped before the caches were filled")]
pub struct CachesStopped;

/// The caches of one watched namespace, or of the whole cluster.
#[derive(Clone)]
struct ScopeCaches {
    namespace: Option<String>,
    /// One flag per cache, set once its first full list has been stored. (A reflector
    /// `Store`'s own readiness is not reliably seen by every clone of it.)
    synced: Vec<watch::Receiver<bool>>,
    deployments: Store<CompactDeployment>,
    /// By owner UID.
    replica_sets: Indexed<CompactReplicaSet>,
    /// By `namespace/pod-template-hash`.
    pods: Indexed<CompactPod>,
    /// By `namespace/deployment`.
    checks: Indexed<CompactCheck>,
}

/// The watch streams of one scope, to be driven by the caller: the Deployment and ReplicaSet
/// streams feed the reconciler; the pod and ReleaseCheck streams only fill their caches.
pub struct ScopeStreams {
    /// The namespace watched, or `None` for the whole cluster.
    pub namespace: Option<String>,
    /// Deployment changes, already reflected in the cache.
    pub deployments: BoxStream<'static, Result<CompactDeployment, watcher::Error>>,
    /// ReplicaSet changes, already reflected in the cache.
    pub replica_sets: BoxStream<'static, Result<CompactReplicaSet, watcher::Error>>,
    /// Pod and ReleaseCheck changes, already reflected; poll it to keep those caches live.
    pub others: BoxStream<'static, ()>,
    /// The Deployment cache, which the reconciler reads its objects from.
    pub deployment_store: Store<CompactDeployment>,
}

impl Keyed for CompactReplicaSet {
    fn namespace(&self) -> &str {
        self.namespace.as_deref().unwrap_or_default()
    }
    fn name(&self) -> &str {
        self.name.as_deref().unwrap_or_default()
    }
}

impl Keyed for CompactPod {
    fn namespace(&self) -> &str {
        &self.namespace
    }
    fn name(&self) -> &str {
        &self.name
    }
}

impl Keyed for CompactCheck {
    fn namespace(&self) -> &str {
        &self.namespace
    }
    fn name(&self) -> &str {
        &self.name
    }
}

fn by_owner(replica_set: &CompactReplicaSet) -> Option<String> {
    replica_set.owner.as_ref().map(|o| o.uid.clone())
}

fn pod_revision_key(namespace: &str, hash: &str) -> String {
    format!("{namespace}/{hash}")
}

fn by_revision(pod: &CompactPod) -> Option<String> {
    let hash = pod.hash.as_deref()?;
    Some(pod_revision_key(&pod.namespace, hash))
}

fn check_deployment_key(namespace: &str, deployment: &str) -> String {
    format!("{namespace}/{deployment}")
}

fn by_deployment(check: &CompactCheck) -> Option<String> {
    Some(check_deployment_key(&check.namespace, &check.deployment))
}

impl Caches {
    /// Starts the watches of `scope` (they run when the returned streams are polled).
    pub fn watch(client: &kube::Client, scope: &Scope) -> (Caches, Vec<ScopeStreams>) {
        let namespaces: Vec<Option<String>> = match scope {
            Scope::Cluster => vec![None],
            Scope::Namespaces(list) => list.iter().cloned().map(Some).collect(),
        };
        let (scopes, streams) = namespaces
            .into_iter()
            .map(|ns| watch_scope(client, ns))
            .unzip();
        let caches = Caches {
            scopes: Arc::new(scopes),
        };
        (caches, streams)
    }

    /// Waits until every cache has listed its objects once.
    pub async fn wait_until_ready(&self) -> Result<(), CachesStopped> {
        for scope in self.scopes.iter() {
            for synced in &scope.synced {
                let mut synced = synced.clone();
                synced
                    .wait_for(|done| *done)
                    .await
                    .map_err(|_| CachesStopped)?;
            }
        }
        Ok(())
    }

    /// Whether every cache has listed its objects once.
    pub fn is_ready(&self) -> bool {
        self.scopes
            .iter()
            .flat_map(|scope| &scope.synced)
            .all(|synced| *synced.borrow())
    }

    fn scope(&self, namespace: &str) -> Option<&ScopeCaches> {
        self.scopes
            .iter()
            .find(|s| s.namespace.as_deref().is_none_or(|ns| ns == namespace))
    }

    /// The cached Deployment `namespace/name`.
    pub fn deployment(&self, namespace: &str, name: &str) -> Option<Arc<CompactDeployment>> {
        let scope = self.scope(namespace)?;
        scope
            .deployments
            .get(&ObjectRef::new(name).within(namespace))
    }

    /// The cached ReplicaSet `namespace/name`.
    pub fn replica_set(&self, namespace: &str, name: &str) -> Option<Arc<CompactReplicaSet>> {
        self.scope(namespace)?.replica_sets.get(namespace, name)
    }

    /// The cached Deployment that controls the ReplicaSet `namespace/replica_set`.
    pub fn deployment_owning(
        &self,
        namespace: &str,
        replica_set: &str,
    ) -> Option<Arc<CompactDeployment>> {
        let rs = self.replica_set(namespace, replica_set)?;
        let owner = rs.owner.as_ref().filter(|o| o.kind == "Deployment")?;
        let deployment = self.deployment(namespace, &owner.name)?;
        (deployment.metadata.uid.as_deref() == Some(owner.uid.as_str())).then_some(deployment)
    }

    /// The cached ReplicaSets controlled by the Deployment with `uid`, in `namespace`.
    pub fn replica_sets_of(&self, namespace: &str, uid: &str) -> Vec<Arc<CompactReplicaSet>> {
        let Some(scope) = self.scope(namespace) else {
            return Vec::new();
        };
        let mut owned = scope.replica_sets.indexed(uid);
        owned.retain(|rs| Keyed::namespace(rs.as_ref()) == namespace);
        owned
    }

    /// The cached pod `namespace/name`.
    pub fn pod(&self, namespace: &str, name: &str) -> Option<Arc<CompactPod>> {
        self.scope(namespace)?.pods.get(namespace, name)
    }

    /// The cached pods of `namespace` whose `pod-template-hash` is one of `hashes`.
    pub fn pods_with_hash(&self, namespace: &str, hashes: &[&str]) -> Vec<Arc<CompactPod>> {
        let Some(scope) = self.scope(namespace) else {
            return Vec::new();
        };
        let mut hashes = hashes.to_vec();
        hashes.sort_unstable();
        hashes.dedup();
        hashes
            .into_iter()
            .flat_map(|hash| scope.pods.indexed(&pod_revision_key(namespace, hash)))
            .collect()
    }

    /// The cached ReleaseCheck `namespace/name`.
    pub fn check(&self, namespace: &str, name: &str) -> Option<Arc<CompactCheck>> {
        self.scope(namespace)?.checks.get(namespace, name)
    }

    /// The cached ReleaseChecks of the Deployment `namespace/deployment`.
    pub fn checks_of(&self, namespace: &str, deployment: &str) -> Vec<Arc<CompactCheck>> {
        let Some(scope) = self.scope(namespace) else {
            return Vec::new();
        };
        scope
            .checks
            .indexed(&check_deployment_key(namespace, deployment))
    }

    /// The cached ReleaseChecks, in every scope, for which `keep` holds.
    pub fn checks_where(&self, keep: impl Fn(&CompactCheck) -> bool) -> Vec<Arc<CompactCheck>> {
        self.scopes
            .iter()
            .flat_map(|scope| scope.checks.filtered(&keep))
            .collect()
    }

    /// How many objects of each kind the caches hold, for logs and the footprint benchmark.
    pub fn sizes(&self) -> BTreeMap<&'static str, usize> {
        let mut sizes = BTreeMap::new();
        for scope in self.scopes.iter() {
            *sizes.entry("deployments").or_default() += scope.deployments.len();
            *sizes.entry("replicasets").or_default() += scope.replica_sets.len();
            *sizes.entry("pods").or_default() += scope.pods.len();
            *sizes.entry("releasechecks").or_default() += scope.checks.len();
        }
        sizes
    }
}

fn api<K>(client: &kube::Client, namespace: Option<&str>) -> Api<K>
where
    K: Resource<Scope = k8s_openapi::NamespaceResourceScope>,
    K::DynamicType: Default,
{
    match namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    }
}

fn enabled() -> watcher::Config {
    watcher::Config::default().labels(&format!("{ENABLED_LABEL}=true"))
}

fn watch_scope(client: &kube::Client, namespace: Option<String>) -> (ScopeCaches, ScopeStreams) {
    let ns = namespace.as_deref();
    let (deployments, deployment_writer) = reflector::store();
    let replica_sets = Indexed::new(by_owner);
    let pods = Indexed::new(by_revision);
    let checks = Indexed::new(by_deployment);
    let mut synced = Vec::new();
    let mut flag = || {
        let (sender, receiver) = watch::channel(false);
        synced.push(receiver);
        sender
    };
    let deployment_stream = compacted(api::<Deployment>(client, ns), enabled(), |d| {
        CompactDeployment::from(&d)
    })
    .reflect(deployment_writer)
    .inspect(mark_synced(flag()))
    .applied_objects();
    let rs_stream = indexed(
        compacted(api::<ReplicaSet>(client, ns), enabled(), |rs| {
            CompactReplicaSet::from(&rs)
        }),
        replica_sets.clone(),
        flag(),
    );
    let pod_stream = indexed(
        compacted(api::<Pod>(client, ns), enabled(), |pod| {
            CompactPod::from(&pod)
        }),
        pods.clone(),
        flag(),
    )
    .map(|_| ());
    let check_stream = indexed(
        compacted(
            api::<ReleaseCheck>(client, ns),
            watcher::Config::default(),
            |check| CompactCheck::from(&check),
        ),
        checks.clone(),
        flag(),
    )
    .map(|_| ());
    let caches = ScopeCaches {
        namespace: namespace.clone(),
        synced,
        deployments: deployments.clone(),
        replica_sets,
        pods,
        checks,
    };
    let streams = ScopeStreams {
        namespace,
        deployments: deployment_stream.boxed(),
        replica_sets: rs_stream.boxed(),
        others: futures::stream::select(pod_stream, check_stream).boxed(),
        deployment_store: deployments,
    };
    (caches, streams)
}

/// The watch events of `api`, each object compacted by `compact` as soon as it is decoded.
fn compacted<K, C>(
    api: Api<K>,
    config: watcher::Config,
    compact: fn(K) -> C,
) -> impl Stream<Item = Result<Event<C>, watcher::Error>> + Send + 'static
where
    K: Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug + Send + Sync + 'static,
    K::DynamicType: Default + Eq + std::hash::Hash + Clone,
    C: Send + 'static,
{
    events(api, config)
        .default_backoff()
        .map_ok(move |event| match event {
            Event::Apply(object) => Event::Apply(compact(object)),
            Event::Delete(object) => Event::Delete(compact(object)),
            Event::Init => Event::Init,
            Event::InitApply(object) => Event::InitApply(compact(object)),
            Event::InitDone => Event::InitDone,
        })
}

/// The watch events of `api`. The initial list is a streaming list (Kubernetes 1.34+, or
/// where the `WatchList` feature gate is on): objects arrive one by one and each is compacted
/// before the next is decoded, so a relist never holds every whole object at once. An API server
/// that refuses it (400 or 422 on a watch before the first one started) gets the paged list and
/// watch instead, whose pages of 500 bound what is held at once. Other errors pass through, to
/// be retried with backoff.
fn events<K>(
    api: Api<K>,
    config: watcher::Config,
) -> impl Stream<Item = Result<Event<K>, watcher::Error>> + Send + 'static
where
    K: Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug + Send + Sync + 'static,
    K::DynamicType: Default + Eq + std::hash::Hash + Clone,
{
    let streaming = watcher(api.clone(), config.clone().streaming_lists()).boxed();
    // `undecided` holds what the paged watcher needs until the streaming one has started.
    futures::stream::unfold(
        (streaming, Some((api, config))),
        |(mut inner, mut undecided)| async move {
            loop {
                let item = inner.next().await?;
                if let Some((api, config)) = undecided.take() {
                    match &item {
                        Err(watcher::Error::WatchStartFailed(kube::Error::Api(status)))
                            if matches!(status.code, 400 | 422) =>
                        {
                            tracing::info!(
                                kind = %K::kind(&K::DynamicType::default()),
                                reason = %status.message,
                                "the API server refused a streaming list; listing in pages instead"
                            );
                            inner = watcher(api, config).boxed();
                            continue;
                        }
                        Ok(Event::Init) => {}
                        _ => undecided = Some((api, config)),
                    }
                }
                return Some((item, (inner, undecided)));
            }
        },
    )
}

/// Sets `synced` once a full list has been stored (place it after the store).
fn mark_synced<K>(synced: watch::Sender<bool>) -> impl FnMut(&Result<Event<K>, watcher::Error>) {
    move |event| {
        if matches!(event, Ok(Event::InitDone)) {
            synced.send_replace(true);
        }
    }
}

/// The applied objects of `events`, after each event is stored in `store`.
fn indexed<K: Keyed + Clone + Send + Sync + 'static>(
    events: impl Stream<Item = Result<Event<K>, watcher::Error>> + Send + 'static,
    store: Indexed<K>,
    synced: watch::Sender<bool>,
) -> impl Stream<Item = Result<K, watcher::Error>> + Send + 'static {
    events
        .inspect_ok(move |event| store.apply(event))
        .inspect(mark_synced(synced))
        .applied_objects()
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::{Request, Response, StatusCode};
    use kube::ResourceExt;
    use kube::client::Body;
    use serde_json::json;
    use std::time::Duration;

    fn respond(status: StatusCode, body: &serde_json::Value) -> Response<Body> {
        Response::builder()
            .status(status)
            .header("content-type", "application/json")
            .body(Body::from(serde_json::to_vec(body).expect("JSON")))
            .expect("a response")
    }

    #[tokio::test]
    async fn an_api_server_refusing_streaming_lists_is_listed_in_pages_even_after_an_error() {
        let (service, mut handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
        let api: Api<Deployment> = Api::all(kube::Client::new(service, "default"));
        let server = tokio::spawn(async move {
            let (_, send) = handle.next_request().await.expect("a streaming watch");
            send.send_response(respond(
                StatusCode::SERVICE_UNAVAILABLE,
                &json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                    "message": "starting", "reason": "ServiceUnavailable", "code": 503}),
            ));
            let (request, send) = handle
                .next_request()
                .await
                .expect("a streaming watch again");
            let query = request.uri().query().unwrap_or_default().to_string();
            assert!(
                query.contains("watch=true") && query.contains("sendInitialEvents=true"),
                "{query}"
            );
            send.send_response(respond(
                StatusCode::UNPROCESSABLE_ENTITY,
                &json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                    "message": "sendInitialEvents is forbidden for watch unless the WatchList feature gate is enabled",
                    "reason": "Invalid", "code": 422}),
            ));
            let (request, send) = handle.next_request().await.expect("a list");
            let query = request.uri().query().unwrap_or_default().to_string();
            assert!(
                !query.contains("watch") && query.contains("limit=500"),
                "{query}"
            );
            send.send_response(respond(
                StatusCode::OK,
                &json!({"kind": "DeploymentList", "apiVersion": "apps/v1",
                    "metadata": {"resourceVersion": "7"},
                    "items": [{"metadata": {"name": "checkout", "namespace": "shop", "uid": "u1"}}]}),
            ));
            handle
        });
        let mut stream = events(api, watcher::Config::default()).boxed();
        let unavailable = tokio::time::timeout(Duration::from_secs(10), stream.next())
            .await
            .expect("an event in time")
            .expect("the stream goes on");
        assert!(
            unavailable.is_err(),
            "a 503 passes through to be retried: {unavailable:?}"
        );
        let mut seen = Vec::new();
        for _ in 0..3 {
            let event = tokio::time::timeout(Duration::from_secs(10), stream.next())
                .await
                .expect("an event in time")
                .expect("the stream goes on")
                .expect("no error after the fallback");
            seen.push(match event {
                Event::Init => "init".to_string(),
                Event::InitApply(d) => d.name_any(),
                Event::InitDone => "done".to_string(),
                other => format!("{other:?}"),
            });
        }
        assert_eq!(seen, ["init", "checkout", "done"]);
        drop(
            server
                .await
                .expect("the mock API server checked both requests"),
        );
    }

    #[tokio::test]
    async fn the_caches_index_what_the_api_server_streams_and_follow_deletes() {
        use crate::release::fixtures::{H2, H3, dir};
        let server = ripcord_fake_apiserver::FakeApiServer::start()
            .await
            .expect("the fake API server starts");
        server
            .seed_file(dir().join("history-basic.yaml"))
            .expect("the fixture is seeded");
        server
            .insert(json!({"apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": format!("checkout-{H3}-a"), "namespace": "shop",
                    "labels": {"ripcord.dev/enabled": "true", "pod-template-hash": H3},
                    "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet",
                        "name": format!("checkout-{H3}"), "uid": "rs3", "controller": true}]},
                "status": {"phase": "Running", "podIP": "10.0.0.30"}}))
            .expect("the pod is stored");
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
        tokio::time::timeout(Duration::from_secs(10), caches.wait_until_ready())
            .await
            .expect("synced in time")
            .expect("synced");

        let lists: Vec<_> = server
            .requests()
            .into_iter()
            .filter(|r| r.method == http::Method::GET && r.path.ends_with("/replicasets"))
            .collect();
        assert!(
            lists.iter().any(|r| r
                .query
                .as_deref()
                .is_some_and(|q| q.contains("sendInitialEvents=true"))),
            "ReplicaSets were listed by a streaming list: {lists:?}"
        );
        let deployment = caches.deployment("shop", "checkout").expect("cached");
        let uid = deployment.metadata.uid.clone().expect("a UID");
        let owned = caches.replica_sets_of("shop", &uid);
        let release = crate::release::detect_compact(&deployment, owned.iter().map(AsRef::as_ref))
            .expect("readable")
            .expect("a release");
        assert_eq!(
            (release.current.number, release.current.hash.as_str()),
            (3, H3)
        );
        let previous = release.previous.expect("a previous revision");
        assert_eq!((previous.number, previous.hash.as_str()), (2, H2));
        assert!(caches.replica_sets_of("other", &uid).is_empty());
        let pods = caches.pods_with_hash("shop", &[H3, H2, H3]);
        assert_eq!(pods.len(), 1, "{pods:?}");
        assert!(caches.pods_with_hash("shop", &[H2]).is_empty());

        let api: Api<ReplicaSet> = Api::namespaced(client, "shop");
        api.delete(&format!("checkout-{H2}"), &Default::default())
            .await
            .expect("deleted");
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while caches.replica_sets_of("shop", &uid).len() == owned.len() {
            assert!(
                tokio::time::Instant::now() < deadline,
                "the delete never reached the index"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let left = caches.replica_sets_of("shop", &uid);
        assert_eq!(left.len(), owned.len() - 1);
        assert!(
            caches
                .replica_set("shop", &format!("checkout-{H2}"))
                .is_none()
        );
        driven.abort();
    }
}
