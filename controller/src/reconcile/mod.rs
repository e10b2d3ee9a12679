//! Reconciling watched Deployments: detect each release, create its ReleaseCheck, settle
//! checks whose guard period passed or whose rollback finished, hold a re-applied failed
//! template (and lift the hold once a new template arrives), and answer sidecars' questions
//! about their role from the caches. Only the leader writes; every replica keeps the caches.

pub mod assign;
pub mod cache;
pub mod check;
mod directory;
pub mod earlier;
mod error;
pub mod hold;
pub mod plan;
pub mod pod;
mod store;

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::apps::v1::Deployment;
use kube::ResourceExt;
use kube::api::{Api, Patch};
use kube::runtime::controller::{self, Action, Controller};
use kube::runtime::reflector::ObjectRef;
use ripcord_sidecar::assign::Assignment;
use tracing::Instrument;

use crate::crd::{BaselineSnapshot, ReleaseCheck, ReleaseCheckStatus, status_merge_patch};
use crate::ops::leader::Leadership;
use crate::ops::metrics::{Metrics, ReconcileResult};
use crate::release::{self, CompactDeployment, CompactReplicaSet};
use crate::snapshot::{self, Peer, Snapshots};
use assign::AssignSettings;
use cache::{Caches, ScopeStreams};
use check::CompactCheck;
use earlier::EarlierRevisions;
pub use error::{Error, Result};
use plan::{Observed, Write};
use pod::CompactPod;

/// How often a Deployment is looked at again with nothing pending.
const RESYNC: Duration = Duration::from_secs(300);

/// Most Deployments reconciled at once. Unbounded, the first sync of ten thousand Deployments
/// opened a connection to the API server per reconcile, each with its buffers, and the client's
/// pool kept them: tens of MiB for no gain in speed.
const RECONCILE_CONCURRENCY: u16 = 16;

/// What every reconcile shares.
pub struct Context {
    /// The API client.
    pub client: kube::Client,
    /// The caches.
    pub caches: Caches,
    /// Whether this replica may write.
    pub leadership: Leadership,
    /// The controller's metrics.
    pub metrics: Arc<Metrics>,
    /// Settings shaping sidecars' assignments.
    pub assign: AssignSettings,
    /// Where baseline snapshots are kept; `None` takes none.
    pub snapshots: Option<Snapshots>,
    /// ReplicaSets listed for releases whose previous revision the caches miss.
    pub earlier: EarlierRevisions,
    /// The invalid-annotation reason last reported per Deployment, so it is reported once.
    pub warned: Warned,
}

/// What was last reported of each Deployment's invalid annotations (`namespace/name` → the
/// reason), so an Event is written when the reason changes, not on every reconcile.
#[derive(Debug, Default)]
pub struct Warned(std::sync::Mutex<std::collections::HashMap<String, String>>);

impl Warned {
    /// Whether `reason` is news for Deployment `key`; remembers it.
    fn first_time(&self, key: &str, reason: &str) -> bool {
        let mut seen = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if seen.get(key).is_some_and(|last| last == reason) {
            return false;
        }
        seen.insert(key.to_string(), reason.to_string());
        true
    }

    /// Forgets Deployment `key`'s reason: its annotations are valid again.
    fn clear(&self, key: &str) {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(key);
    }
}

impl Context {
    /// The assignment of the sidecar in pod `namespace/name`, from the caches; idle when the
    /// pod or its Deployment is unknown or takes part in no release.
    pub fn assignment(&self, namespace: &str, name: &str) -> Assignment {
        let Some(pod) = self.caches.pod(namespace, name) else {
            return Assignment::idle();
        };
        let Some(release) = self.release_of(&pod) else {
            return Assignment::idle();
        };
        let mut hashes = vec![release.current.hash.as_str()];
        if let Some(previous) = &release.previous {
            hashes.push(previous.hash.as_str());
        }
        let pods = self.caches.pods_with_hash(namespace, &hashes);
        let released_at = released_at_ms(&self.caches, &release);
        let mut assignment = assign::assign(&pod, &release, released_at, &pods, &self.assign);
        let check = self.caches.check(namespace, &check_name(&release));
        snapshot::offer(
            &mut assignment,
            check.as_deref(),
            self.assign.snapshot_url.as_deref(),
        );
        assignment
    }

    /// The current release of the Deployment the pod belongs to (through its ReplicaSet).
    pub fn release_of(&self, pod: &CompactPod) -> Option<release::Release> {
        let rs_owner = pod.replica_set.as_ref()?;
        let deployment = self
            .caches
            .deployment_owning(&pod.namespace, &rs_owner.name)?;
        let uid = deployment.metadata.uid.as_deref()?;
        let replica_sets = self.caches.replica_sets_of(&pod.namespace, uid);
        let release =
            release::detect_compact(&deployment, replica_sets.iter().map(AsRef::as_ref)).ok()??;
        if !EarlierRevisions::may_be_missing(&release) {
            return Some(release);
        }
        let Some(listed) = self.earlier.known(uid, release.current.number) else {
            return Some(release);
        };
        release::detect_compact(&deployment, earlier::merged(&replica_sets, &listed)).ok()?
    }
}

/// When the release's current ReplicaSet was created, looked up by name in the cache (the
/// ReplicaSet `release::detect` named is the Deployment's own).
fn released_at_ms(caches: &Caches, release: &release::Release) -> Option<i64> {
    caches
        .replica_set(&release.namespace, &release.current.replica_set)?
        .created_ms
}

/// Runs one controller per watched scope until `shutdown` completes.
pub async fn run(
    context: Arc<Context>,
    streams: Vec<ScopeStreams>,
    shutdown: impl std::future::Future<Output = ()> + Send + Sync + Clone + 'static,
) {
    let runs = streams.into_iter().map(|scope| {
        let context = Arc::clone(&context);
        let shutdown = shutdown.clone();
        let span = tracing::info_span!(
            "controller",
            namespace = scope.namespace.as_deref().unwrap_or("*")
        );
        async move {
            let others = scope.others.for_each(|()| std::future::ready(()));
            let owners = scope
                .replica_sets
                .filter_map(|rs| std::future::ready(rs.ok().as_ref().and_then(owner_ref)));
            let controller = Controller::for_stream(scope.deployments, scope.deployment_store)
                .reconcile_on(owners)
                .reconcile_all_on(context.leadership.gained())
                .with_config(controller::Config::default().concurrency(RECONCILE_CONCURRENCY))
                .graceful_shutdown_on(shutdown)
                .run(reconcile, error_policy, context)
                .for_each(|result| {
                    if let Err(err) = result {
                        tracing::debug!(error = %err, "reconcile did not complete");
                    }
                    std::future::ready(())
                });
            tokio::select! {
                () = controller => {}
                () = others => {}
            }
        }
        .instrument(span)
    });
    futures::future::join_all(runs).await;
}

/// The Deployment controlling a changed ReplicaSet, to reconcile it again.
fn owner_ref(replica_set: &CompactReplicaSet) -> Option<ObjectRef<CompactDeployment>> {
    let owner = replica_set
        .owner
        .as_ref()
        .filter(|o| o.kind == "Deployment")?;
    let reference = ObjectRef::new(&owner.name);
    Some(match &replica_set.namespace {
        Some(namespace) => reference.within(namespace),
        None => reference,
    })
}

/// Reconciles one Deployment.
pub async fn reconcile(
    deployment: Arc<CompactDeployment>,
    context: Arc<Context>,
) -> Result<Action> {
    let namespace = deployment.namespace().unwrap_or_default();
    let name = deployment.name_any();
    let span = tracing::info_span!("reconcile", %namespace, deployment = %name);
    let outcome = reconcile_inner(&deployment, &context, &namespace)
        .instrument(span)
        .await;
    context.metrics.reconciled(match &outcome {
        Ok(_) => ReconcileResult::Ok,
        Err(Error::Malformed { .. }) => ReconcileResult::Skipped,
        Err(_) => ReconcileResult::Error,
    });
    match outcome {
        Err(Error::Malformed { object, reason }) => {
            tracing::warn!(%object, %reason, "skipped a malformed object");
            Ok(Action::await_change())
        }
        other => other,
    }
}

async fn reconcile_inner(
    deployment: &CompactDeployment,
    context: &Context,
    namespace: &str,
) -> Result<Action> {
    if !context.leadership.is_leader() {
        return Ok(Action::requeue(Duration::from_secs(15)));
    }
    if !context.caches.is_ready() {
        // The Deployment cache can fill before the ReplicaSet cache: a release judged on half
        // its ReplicaSets would look like a first revision, and wait for the next resync.
        return Ok(Action::requeue(Duration::from_secs(1)));
    }
    let Some(uid) = deployment.metadata.uid.as_deref() else {
        return Ok(Action::await_change());
    };
    let replica_sets = context.caches.replica_sets_of(namespace, uid);
    let malformed = |err: release::Error| Error::Malformed {
        object: format!("Deployment {namespace}/{}", deployment.name_any()),
        reason: err.to_string(),
    };
    let mut release = release::detect_compact(deployment, replica_sets.iter().map(AsRef::as_ref))
        .map_err(malformed)?;
    match &release {
        Some(found) if EarlierRevisions::may_be_missing(found) => {
            let listed = context
                .earlier
                .list(&context.client, deployment, found.current.number)
                .await?;
            release = release::detect_compact(deployment, earlier::merged(&replica_sets, &listed))
                .map_err(malformed)?;
        }
        _ => context.earlier.forget(uid),
    }
    let checks = context.caches.checks_of(namespace, &deployment.name_any());
    let cached: Vec<&CompactCheck> = checks.iter().map(AsRef::as_ref).collect();
    let current = release.as_ref().map(|r| &r.current);
    if let Some(guard) = hold::guard(deployment, current, &cached) {
        guard_deployment(context, namespace, &deployment.name_any(), guard).await?;
        return Ok(Action::requeue(RESYNC));
    }
    let Some(release) = release else {
        return Ok(Action::requeue(Duration::from_secs(10)));
    };
    let policy = policy_of(deployment);
    let warned_key = format!("{namespace}/{}", release.deployment);
    if let Err(reason) = &policy {
        tracing::warn!(%reason, "the pod template's Ripcord annotations are invalid; not checking this release");
        let unchecked =
            release.previous.is_some() && !cached.iter().any(|c| c.name == check_name(&release));
        if unchecked && !release.brought_back() && context.warned.first_time(&warned_key, reason) {
            crate::act::invalid_policy(&context.client, namespace, &release.deployment, reason)
                .await;
        }
    } else {
        context.warned.clear(&warned_key);
    }
    let observed = Observed {
        release: &release,
        released_at_ms: released_at_ms(&context.caches, &release),
        policy,
        checks: cached,
        now_ms: crate::now_ms(),
    };
    let (writes, requeue) = plan::plan(deployment, &observed);
    let current = check_name(&release);
    let snapshot_due = context.snapshots.is_some() && {
        let status = written_status(&writes, &current).or_else(|| {
            checks
                .iter()
                .find(|c| c.name == current)
                .and_then(|c| c.status.as_deref())
        });
        snapshot::due(status, release.previous_had_sidecar())
    };
    let mut created = None;
    for write in writes {
        let creates = match &write {
            Write::CreateCheck(check) => Some(check.name_any()),
            _ => None,
        };
        apply(
            &context.client,
            namespace,
            &release.deployment,
            write,
            &mut created,
        )
        .await?;
        if let (Some(name), Some(snapshots), Some(_)) = (creates, &context.snapshots, &created) {
            // A new object under a name seen before (the check was deleted and made again):
            // its snapshot is still to take.
            snapshots.forget(namespace, &name);
        }
    }
    if let Some(snapshots) = &context.snapshots
        && snapshot_due
    {
        keep_snapshot(context, snapshots, &release, &current).await?;
    }
    Ok(Action::requeue(requeue.unwrap_or(RESYNC).min(RESYNC)))
}

/// Holds the Deployment (and records the hold on the failed release's check) or lifts
/// Ripcord's hold, as `guard` says.
async fn guard_deployment(
    context: &Context,
    namespace: &str,
    name: &str,
    guard: hold::Guard,
) -> Result<()> {
    let client = &context.client;
    match guard {
        hold::Guard::Hold { current, check } => {
            let held =
                crate::act::hold::hold(client, &context.metrics, namespace, name, &current.hash)
                    .await?;
            if let (Some(held), Some(check)) = (held, check) {
                let write = hold::held_status(&check, held.record, held.message);
                apply(client, namespace, name, write, &mut None).await?;
            }
        }
        hold::Guard::Resume { held } => {
            crate::act::hold::resume(client, namespace, name, &held).await?;
        }
    }
    Ok(())
}

/// The name of the ReleaseCheck of `release`.
fn check_name(release: &release::Release) -> String {
    ReleaseCheck::name_for(
        &release.deployment,
        i64::try_from(release.current.number).unwrap_or(i64::MAX),
    )
}

/// The status this reconcile writes for check `name`, if it writes one.
fn written_status<'w>(writes: &'w [Write], name: &str) -> Option<&'w ReleaseCheckStatus> {
    writes.iter().rev().find_map(|write| match write {
        Write::Status {
            name: n, status, ..
        } if n == name => Some(status.as_ref()),
        _ => None,
    })
}

/// Takes the snapshot of `release`'s previous revision for check `check` and records it in
/// the check's status.
async fn keep_snapshot(
    context: &Context,
    snapshots: &Snapshots,
    release: &release::Release,
    check: &str,
) -> Result<()> {
    let Some(previous) = &release.previous else {
        return Ok(());
    };
    let namespace = release.namespace.as_str();
    if !snapshots.begin(namespace, check) {
        return Ok(());
    }
    let pods = context
        .caches
        .pods_with_hash(namespace, &[previous.hash.as_str()]);
    let peers: Vec<Peer> = assign::serving_with_ip(&pods, &previous.hash)
        .map(|(pod, ip)| Peer {
            pod: pod.name.clone(),
            url: assign::peer_url(ip),
        })
        .collect();
    let record = snapshots
        .take(namespace, check, &peers, crate::now_ms())
        .await;
    tracing::info!(
        release_check = %check,
        asked = record.pods_asked,
        answered = record.pods_answered,
        seconds = record.observations,
        message = record.message.as_deref().unwrap_or(""),
        "baseline snapshot taken"
    );
    let recorded = record_snapshot(&context.client, namespace, check, &record).await;
    if recorded.is_err() {
        snapshots.forget(namespace, check);
    }
    recorded
}

/// Sets `status.baselineSnapshot` of ReleaseCheck `check`. No precondition: the patch holds
/// that one field only, which nothing else writes, so it cannot undo a concurrent write.
async fn record_snapshot(
    client: &kube::Client,
    namespace: &str,
    check: &str,
    record: &BaselineSnapshot,
) -> Result<()> {
    let checks: Api<ReleaseCheck> = Api::namespaced(client.clone(), namespace);
    let params = crate::patch_params();
    let patch = serde_json::json!({"status": {"baselineSnapshot": record}});
    checks
        .patch_status(check, &params, &Patch::Merge(&patch))
        .await
        .map_err(|source| {
            Error::kube(
                "record the baseline snapshot of ReleaseCheck",
                check,
                source,
            )
        })?;
    Ok(())
}

/// Carries out one planned write. `created` holds the resourceVersion of the check this
/// reconcile created, which guards its first status write.
async fn apply(
    client: &kube::Client,
    namespace: &str,
    deployment: &str,
    write: Write,
    created: &mut Option<String>,
) -> Result<()> {
    let checks: Api<ReleaseCheck> = Api::namespaced(client.clone(), namespace);
    let params = crate::patch_params();
    match write {
        Write::CreateCheck(check) => {
            let name = check.name_any();
            match checks.create(&crate::post_params(), &check).await {
                Ok(stored) => {
                    *created = stored.metadata.resource_version;
                    tracing::info!(release_check = %name, "release detected; ReleaseCheck created")
                }
                Err(kube::Error::Api(status)) if status.code == 409 => {
                    *created = None;
                    tracing::debug!(release_check = %name, "ReleaseCheck exists already; its status is not this reconcile's to set");
                }
                Err(source) => return Err(Error::kube("create ReleaseCheck", &name, source)),
            }
        }
        Write::Status {
            name,
            status,
            old,
            resource_version,
        } => {
            let Some(version) = resource_version.or_else(|| created.take()) else {
                return Ok(());
            };
            let patch = status_merge_patch(old.as_deref(), &status, Some(&version))?;
            checks
                .patch_status(&name, &params, &Patch::Merge(&patch))
                .await
                .map_err(|source| {
                    Error::kube("update the status of ReleaseCheck", &name, source)
                })?;
        }
        Write::AnnotateDeployment(body) => {
            let deployments: Api<Deployment> = Api::namespaced(client.clone(), namespace);
            deployments
                .patch(deployment, &params, &Patch::Merge(&body))
                .await
                .map_err(|source| Error::kube("annotate Deployment", deployment, source))?;
        }
    }
    Ok(())
}

/// The policy the pod template's annotations ask for, or why it is invalid.
fn policy_of(
    deployment: &CompactDeployment,
) -> std::result::Result<crate::crd::PolicySnapshot, String> {
    crate::policy::Policy::from_annotations(&deployment.template_annotations)
        .map(|policy| policy.snapshot())
        .map_err(|err| err.to_string())
}

fn error_policy(
    _deployment: Arc<CompactDeployment>,
    error: &Error,
    _context: Arc<Context>,
) -> Action {
    tracing::warn!(%error, "reconcile failed; retrying");
    Action::requeue(if error.is_transient() {
        Duration::from_secs(5)
    } else {
        Duration::from_secs(60)
    })
}
