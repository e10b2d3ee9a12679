//! What the intake asks the controller's caches: which release a pod belongs to, whether a
//! release still takes verdicts, and what a pod's assignment is. The controller implements the
//! traits from its reflector stores; [`InMemoryDirectory`] serves tests.

use std::collections::HashMap;
use std::sync::Mutex;

use bytes::Bytes;
use futures::future::BoxFuture;

use ripcord_sidecar::assign::Assignment;
use ripcord_sidecar::report::Release;

use super::auth::PodIdentity;
use super::error::{Error, Result};
use super::lock;

/// The release a pod belongs to, from the controller's caches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodMembership {
    /// The Deployment owning the pod's ReplicaSet.
    pub deployment: String,
    /// The owning ReplicaSet's `deployment.kubernetes.io/revision`.
    pub revision: String,
    /// The pod's `pod-template-hash` label, when it has one.
    pub pod_template_hash: Option<String>,
    /// The pod's uid, when known; checked against the token's pod uid.
    pub uid: Option<String>,
}

impl PodMembership {
    /// Whether this pod is part of `release` (same Deployment, and the release's revision is
    /// the pod's revision or its `pod-template-hash`).
    pub fn belongs_to(&self, release: &Release) -> bool {
        self.deployment == release.deployment
            && (self.revision == release.revision
                || self.pod_template_hash.as_deref() == Some(release.revision.as_str()))
    }
}

/// Whether a release still takes verdicts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReleaseState {
    /// Still being checked (or unknown to the acting part): verdicts are taken.
    Open,
    /// Already acted on or finished; verdicts are refused with this reason.
    Closed(String),
}

/// The controller's view of pods and releases, read by the intake on every verdict.
pub trait ReleaseDirectory: Send + Sync + 'static {
    /// The release pod `namespace`/`pod` belongs to; `None` when the caches do not know it.
    fn membership(&self, namespace: &str, pod: &str) -> Option<PodMembership>;

    /// Whether `release` still takes verdicts from the pod it names (its judge).
    fn state(&self, release: &Release) -> ReleaseState;
}

/// Where the intake finds a pod's assignment.
pub trait AssignmentSource: Send + Sync + 'static {
    /// The assignment of pod `namespace`/`pod`; `None` answers [`Assignment::idle`].
    fn assignment(&self, namespace: &str, pod: &str) -> Option<Assignment>;
}

/// Where the intake reads a release's baseline snapshot.
pub trait SnapshotSource: Send + Sync + 'static {
    /// The snapshot (a window JSON) of ReleaseCheck `namespace/check`; `Ok(None)` when none is
    /// kept, `Err` with the reason when it cannot be read now.
    fn snapshot<'a>(
        &'a self,
        namespace: &'a str,
        check: &'a str,
    ) -> BoxFuture<'a, std::result::Result<Option<Bytes>, String>>;
}

/// `namespace/deployment@revision`.
pub(crate) fn release_name(release: &Release) -> String {
    format!(
        "{}/{}@{}",
        release.namespace, release.deployment, release.revision
    )
}

/// Checks that `caller` may report about `release`: it is the pod the report names, and that
/// pod (as `membership` says) belongs to the release.
pub fn authorize(
    caller: &PodIdentity,
    release: &Release,
    membership: Option<&PodMembership>,
) -> Result<()> {
    if caller.namespace != release.namespace || caller.pod != release.pod {
        return Err(Error::OtherPod {
            token: caller.qualified(),
            claimed: format!("{}/{}", release.namespace, release.pod),
        });
    }
    let refuse = |why: String| Error::NotInRelease {
        pod: caller.qualified(),
        release: release_name(release),
        why,
    };
    let membership =
        membership.ok_or_else(|| refuse("the controller does not know this pod".to_string()))?;
    if let (Some(known), Some(token)) = (&membership.uid, &caller.pod_uid)
        && known != token
    {
        return Err(refuse(format!(
            "the token's pod uid {token} is not the current pod's {known}"
        )));
    }
    if !membership.belongs_to(release) {
        return Err(refuse(format!(
            "it belongs to {}@{}",
            membership.deployment, membership.revision
        )));
    }
    Ok(())
}

/// `(namespace, name)`.
type PodKey = (String, String);

/// `(namespace, deployment, revision)`.
type ReleaseKey = (String, String, String);

/// A [`ReleaseDirectory`] and [`AssignmentSource`] held in memory, for tests and tools.
#[derive(Debug, Default)]
pub struct InMemoryDirectory {
    pods: Mutex<HashMap<PodKey, PodMembership>>,
    closed: Mutex<HashMap<ReleaseKey, String>>,
    assignments: Mutex<HashMap<PodKey, Assignment>>,
}

impl InMemoryDirectory {
    /// An empty directory: no pods known, every release open, every pod idle.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records that pod `namespace`/`pod` belongs to `membership`.
    pub fn add_pod(&self, namespace: &str, pod: &str, membership: PodMembership) {
        lock(&self.pods).insert((namespace.to_string(), pod.to_string()), membership);
    }

    /// Closes release `namespace`/`deployment`@`revision` for `reason`.
    pub fn close(&self, namespace: &str, deployment: &str, revision: &str, reason: &str) {
        lock(&self.closed).insert(
            (
                namespace.to_string(),
                deployment.to_string(),
                revision.to_string(),
            ),
            reason.to_string(),
        );
    }

    /// Sets the assignment of pod `namespace`/`pod`.
    pub fn assign(&self, namespace: &str, pod: &str, assignment: Assignment) {
        lock(&self.assignments).insert((namespace.to_string(), pod.to_string()), assignment);
    }
}

impl ReleaseDirectory for InMemoryDirectory {
    fn membership(&self, namespace: &str, pod: &str) -> Option<PodMembership> {
        lock(&self.pods)
            .get(&(namespace.to_string(), pod.to_string()))
            .cloned()
    }

    fn state(&self, release: &Release) -> ReleaseState {
        let key = (
            release.namespace.clone(),
            release.deployment.clone(),
            release.revision.clone(),
        );
        lock(&self.closed)
            .get(&key)
            .map_or(ReleaseState::Open, |reason| {
                ReleaseState::Closed(reason.clone())
            })
    }
}

impl AssignmentSource for InMemoryDirectory {
    fn assignment(&self, namespace: &str, pod: &str) -> Option<Assignment> {
        lock(&self.assignments)
            .get(&(namespace.to_string(), pod.to_string()))
            .cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caller(namespace: &str, pod: &str) -> PodIdentity {
        PodIdentity {
            namespace: namespace.into(),
            pod: pod.into(),
            pod_uid: Some("uid-7".into()),
            service_account: "checkout".into(),
        }
    }

    fn release() -> Release {
        Release {
            namespace: "shop".into(),
            deployment: "checkout".into(),
            revision: "7".into(),
            pod: "checkout-7-abc".into(),
        }
    }

    fn member(revision: &str, hash: Option<&str>) -> PodMembership {
        PodMembership {
            deployment: "checkout".into(),
            revision: revision.into(),
            pod_template_hash: hash.map(str::to_string),
            uid: Some("uid-7".into()),
        }
    }

    #[test]
    fn the_named_pod_of_the_release_may_report() {
        let me = caller("shop", "checkout-7-abc");
        assert!(authorize(&me, &release(), Some(&member("7", None))).is_ok());
        let mut by_hash = release();
        by_hash.revision = "6d4b9c8f7".into();
        assert!(authorize(&me, &by_hash, Some(&member("7", Some("6d4b9c8f7")))).is_ok());
    }

    #[test]
    fn other_pods_releases_and_unknown_pods_are_refused() {
        let me = caller("shop", "checkout-7-abc");
        let other_ns = caller("cart", "checkout-7-abc");
        assert!(matches!(
            authorize(&other_ns, &release(), Some(&member("7", None))),
            Err(Error::OtherPod { .. })
        ));
        let other_pod = caller("shop", "checkout-7-xyz");
        assert!(matches!(
            authorize(&other_pod, &release(), Some(&member("7", None))),
            Err(Error::OtherPod { .. })
        ));
        assert!(matches!(
            authorize(&me, &release(), Some(&member("6", None))),
            Err(Error::NotInRelease { .. })
        ));
        assert!(matches!(
            authorize(&me, &release(), None),
            Err(Error::NotInRelease { .. })
        ));
        let mut recreated = member("7", None);
        recreated.uid = Some("uid-8".into());
        assert!(matches!(
            authorize(&me, &release(), Some(&recreated)),
            Err(Error::NotInRelease { .. })
        ));
    }
}
