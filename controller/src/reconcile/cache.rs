//! The controller's caches: reflectors over the Deployments, ReplicaSets and pods labelled
//! `ripcord.dev/enabled`, and over ReleaseChecks, one set per watched namespace (or one for the
//! whole cluster). Objects are trimmed before they are stored (managed fields, last-applied
//! configuration, pod specs) so that ten thousand Deployments fit in a small heap.

use std::collections::BTreeMap;
use std::sync::Arc;

use futures::stream::BoxStream;
use futures::{Stream, StreamExt};
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::{Container, Pod, PodSpec, PodTemplateSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::Api;
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Resource, ResourceExt};
use tokio::sync::watch;

use crate::crd::ReleaseCheck;
use crate::release::{ENABLED_LABEL, without_hash};

/// Annotation holding the digest of a cached object's whole pod template.
const TEMPLATE_DIGEST: &str = "ripcord.dev/template-digest";

/// Annotation `kubectl apply` leaves on objects; large and never read here.
const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

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
    deployments: Store<Deployment>,
    replica_sets: Store<ReplicaSet>,
    pods: Store<Pod>,
    checks: Store<ReleaseCheck>,
}

/// The watch streams of one scope, to be driven by the caller: the Deployment and ReplicaSet
/// streams feed the reconciler; the pod and ReleaseCheck streams only fill their caches.
pub struct ScopeStreams {
    /// The namespace watched, or `None` for the whole cluster.
    pub namespace: Option<String>,
    /// Deployment changes, already reflected in the cache.
    pub deployments: BoxStream<'static, Result<Deployment, watcher::Error>>,
    /// ReplicaSet changes, already reflected in the cache.
    pub replica_sets: BoxStream<'static, Result<ReplicaSet, watcher::Error>>,
    /// Pod and ReleaseCheck changes, already reflected; poll it to keep those caches live.
    pub others: BoxStream<'static, ()>,
    /// The Deployment cache, which the reconciler reads its objects from.
    pub deployment_store: Store<Deployment>,
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

    fn scope(&self, namespace: &str) -> Option<&ScopeCaches> {
        self.scopes
            .iter()
            .find(|s| s.namespace.as_deref().is_none_or(|ns| ns == namespace))
    }

    /// The cached Deployment `namespace/name`.
    pub fn deployment(&self, namespace: &str, name: &str) -> Option<Arc<Deployment>> {
        let scope = self.scope(namespace)?;
        scope
            .deployments
            .get(&ObjectRef::new(name).within(namespace))
    }

    /// The cached ReplicaSet `namespace/name`.
    pub fn replica_set(&self, namespace: &str, name: &str) -> Option<Arc<ReplicaSet>> {
        let scope = self.scope(namespace)?;
        scope
            .replica_sets
            .get(&ObjectRef::new(name).within(namespace))
    }

    /// The cached Deployment that controls the ReplicaSet `namespace/replica_set`.
    pub fn deployment_owning(&self, namespace: &str, replica_set: &str) -> Option<Arc<Deployment>> {
        let rs = self.replica_set(namespace, replica_set)?;
        let owner = rs
            .owner_references()
            .iter()
            .find(|o| o.kind == "Deployment" && o.controller == Some(true))?;
        let deployment = self.deployment(namespace, &owner.name)?;
        (deployment.metadata.uid.as_deref() == Some(owner.uid.as_str())).then_some(deployment)
    }

    /// The cached ReplicaSets controlled by the Deployment with `uid`, in `namespace`.
    pub fn replica_sets_of(&self, namespace: &str, uid: &str) -> Vec<ReplicaSet> {
        let Some(scope) = self.scope(namespace) else {
            return Vec::new();
        };
        scope
            .replica_sets
            .state_filter(|rs| {
                rs.namespace().as_deref() == Some(namespace)
                    && rs.owner_references().iter().any(|o| o.uid == uid)
            })
            .into_iter()
            .map(|rs| (*rs).clone())
            .collect()
    }

    /// The cached pod `namespace/name`.
    pub fn pod(&self, namespace: &str, name: &str) -> Option<Arc<Pod>> {
        let scope = self.scope(namespace)?;
        scope.pods.get(&ObjectRef::new(name).within(namespace))
    }

    /// The cached pods of `namespace` whose `pod-template-hash` is one of `hashes`.
    pub fn pods_with_hash(&self, namespace: &str, hashes: &[&str]) -> Vec<Pod> {
        let Some(scope) = self.scope(namespace) else {
            return Vec::new();
        };
        scope
            .pods
            .state_filter(|pod| {
                pod.namespace().as_deref() == Some(namespace)
                    && super::assign::template_hash(pod).is_some_and(|h| hashes.contains(&h))
            })
            .into_iter()
            .map(|pod| (*pod).clone())
            .collect()
    }

    /// The cached ReleaseCheck `namespace/name`.
    pub fn check(&self, namespace: &str, name: &str) -> Option<Arc<ReleaseCheck>> {
        let scope = self.scope(namespace)?;
        scope.checks.get(&ObjectRef::new(name).within(namespace))
    }

    /// The cached ReleaseChecks of the Deployment `namespace/deployment`.
    pub fn checks_of(&self, namespace: &str, deployment: &str) -> Vec<Arc<ReleaseCheck>> {
        let Some(scope) = self.scope(namespace) else {
            return Vec::new();
        };
        scope.checks.state_filter(|check| {
            check.namespace().as_deref() == Some(namespace) && check.spec.deployment == deployment
        })
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
    let (replica_sets, rs_writer) = reflector::store();
    let (pods, pod_writer) = reflector::store();
    let (checks, check_writer) = reflector::store();
    let mut synced = Vec::new();
    let mut flag = || {
        let (sender, receiver) = watch::channel(false);
        synced.push(receiver);
        sender
    };
    let deployment_stream = reflected(
        api(client, ns),
        enabled(),
        deployment_writer,
        trim_deployment,
        flag(),
    );
    let rs_stream = reflected(
        api(client, ns),
        enabled(),
        rs_writer,
        trim_replica_set,
        flag(),
    );
    let pod_stream =
        reflected(api(client, ns), enabled(), pod_writer, trim_pod, flag()).map(|_| ());
    let all = watcher::Config::default();
    let check_stream = reflected(api(client, ns), all, check_writer, trim, flag()).map(|_| ());
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

fn reflected<K>(
    api: Api<K>,
    config: watcher::Config,
    writer: reflector::store::Writer<K>,
    strip: fn(&mut K),
    synced: watch::Sender<bool>,
) -> impl Stream<Item = Result<K, watcher::Error>> + Send + 'static
where
    K: Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug + Send + Sync + 'static,
    K::DynamicType: Default + Eq + std::hash::Hash + Clone,
{
    watcher(api, config)
        .default_backoff()
        .modify(strip)
        .reflect(writer)
        .inspect(move |event| {
            if matches!(event, Ok(watcher::Event::InitDone)) {
                synced.send_replace(true);
            }
        })
        .applied_objects()
}

fn trim<K: Resource>(object: &mut K) {
    let meta = object.meta_mut();
    meta.managed_fields = None;
    if let Some(annotations) = meta.annotations.as_mut() {
        annotations.remove(LAST_APPLIED);
    }
}

fn trim_deployment(deployment: &mut Deployment) {
    trim(deployment);
    if let Some(spec) = deployment.spec.as_mut() {
        spec.template = digest_template(&spec.template);
    }
}

fn trim_replica_set(replica_set: &mut ReplicaSet) {
    trim(replica_set);
    if let Some(template) = replica_set.spec.as_mut().and_then(|s| s.template.as_mut()) {
        *template = digest_template(template);
    }
}

/// A pod template cut down to what the caches' readers use — its labels, Ripcord's annotations
/// and its containers' names — plus a digest of the whole template (without the
/// `pod-template-hash` label). Two cut-down templates are equal exactly when the originals are
/// (but for that label), which is all release detection asks of them; the rollback planner reads
/// full objects from the API server, never from the caches.
fn digest_template(template: &PodTemplateSpec) -> PodTemplateSpec {
    let whole = serde_json::to_vec(&without_hash(template)).unwrap_or_default();
    let digest = ring::digest::digest(&ring::digest::SHA256, &whole);
    let hex: String = digest.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    let meta = template.metadata.clone().unwrap_or_default();
    let mut annotations: BTreeMap<String, String> = meta
        .annotations
        .unwrap_or_default()
        .into_iter()
        .filter(|(key, _)| key.starts_with("ripcord.dev/"))
        .collect();
    annotations.insert(TEMPLATE_DIGEST.to_string(), hex);
    let names = |containers: &[Container]| -> Vec<Container> {
        containers
            .iter()
            .map(|c| Container {
                name: c.name.clone(),
                ..Container::default()
            })
            .collect()
    };
    let spec = template.spec.as_ref().map(|spec| PodSpec {
        containers: names(&spec.containers),
        init_containers: spec.init_containers.as_deref().map(names),
        ..PodSpec::default()
    });
    PodTemplateSpec {
        metadata: Some(ObjectMeta {
            labels: meta.labels,
            annotations: Some(annotations),
            ..ObjectMeta::default()
        }),
        spec,
    }
}

fn trim_pod(pod: &mut Pod) {
    trim(pod);
    pod.spec = None;
    if let Some(status) = pod.status.as_mut() {
        status.conditions = None;
        status.container_statuses = None;
        status.init_container_statuses = None;
        status.ephemeral_container_statuses = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::release::detect;
    use crate::release::fixtures::{dir, load};

    #[test]
    fn cut_down_templates_detect_the_same_release_in_every_fixture() {
        let mut compared = 0;
        for entry in std::fs::read_dir(dir()).expect("fixture directory") {
            let name = entry.expect("an entry").file_name();
            let name = name.to_string_lossy();
            if !name.ends_with(".yaml") {
                continue;
            }
            let fixture = load(&name);
            let mut deployment = fixture.deployment.clone();
            trim_deployment(&mut deployment);
            let mut replica_sets = fixture.replica_sets.clone();
            replica_sets.iter_mut().for_each(trim_replica_set);
            let whole = detect(&fixture.deployment, &fixture.replica_sets);
            let cut = detect(&deployment, &replica_sets);
            match (whole, cut) {
                (Ok(whole), Ok(cut)) => assert_eq!(whole, cut, "{name}"),
                (Err(_), Err(_)) => {}
                (whole, cut) => panic!("{name}: {whole:?} but cut down {cut:?}"),
            }
            compared += 1;
        }
        assert!(compared >= 8, "only {compared} fixtures compared");
    }

    #[test]
    fn a_changed_template_changes_the_digest() {
        let fixture = load("history-basic.yaml");
        let template = fixture.deployment.spec.expect("a spec").template;
        let mut changed = template.clone();
        if let Some(spec) = changed.spec.as_mut() {
            spec.containers[0].image = Some("ghcr.io/example/checkout:v9".to_string());
        }
        assert_ne!(digest_template(&template), digest_template(&changed));
        assert_eq!(
            digest_template(&template),
            digest_template(&template.clone())
        );
    }
}
