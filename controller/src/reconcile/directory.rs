//! The intake's questions, answered from the caches: which release a pod belongs to, whether a
//! release still takes verdicts, and what a pod's sidecar is assigned.

use ripcord_sidecar::assign::Assignment;
use ripcord_sidecar::report::Release;

use crate::act::decide::Stage;
use crate::act::stage_of;
use crate::crd::ReleaseCheck;
use crate::intake::{AssignmentSource, PodMembership, ReleaseDirectory, ReleaseState};

use super::Context;

impl ReleaseDirectory for Context {
    fn membership(&self, namespace: &str, pod: &str) -> Option<PodMembership> {
        let pod = self.caches.pod(namespace, pod)?;
        let owner = pod.replica_set.as_ref().filter(|o| o.controller)?;
        let replica_set = self.caches.replica_set(namespace, &owner.name)?;
        let deployment = replica_set
            .owner
            .as_ref()
            .filter(|o| o.kind == "Deployment")?;
        Some(PodMembership {
            deployment: deployment.name.clone(),
            revision: replica_set.revision.clone()?,
            pod_template_hash: pod.hash.clone(),
            uid: pod.uid.clone(),
        })
    }

    fn state(&self, release: &Release) -> ReleaseState {
        let Ok(revision) = release.revision.parse::<i64>() else {
            return ReleaseState::Open;
        };
        let name = ReleaseCheck::name_for(&release.deployment, revision);
        if let Some(judge) = self.judge_other_than(release) {
            return ReleaseState::Closed(format!(
                "pod {judge} judges this release, not pod {}",
                release.pod
            ));
        }
        let Some(check) = self.caches.check(&release.namespace, &name) else {
            return ReleaseState::Open;
        };
        match stage_of(check.status.as_deref()) {
            Stage::Settled => ReleaseState::Closed(format!(
                "ReleaseCheck {name} is settled ({:?})",
                check.status.as_ref().and_then(|s| s.phase)
            )),
            Stage::Watching | Stage::NoBaseline | Stage::Claimed { .. } => ReleaseState::Open,
        }
    }
}

impl Context {
    /// The pod judging the release `release` speaks about, when it is another than the pod
    /// that sent it ([`super::assign::judge`]); `None` when it is that pod, or the caches do
    /// not know enough to say.
    fn judge_other_than(&self, release: &Release) -> Option<String> {
        let pod = self.caches.pod(&release.namespace, &release.pod)?;
        let detected = self.release_of(&pod)?;
        if detected.current.number.to_string() != release.revision {
            return None;
        }
        let pods = self
            .caches
            .pods_with_hash(&release.namespace, &[detected.current.hash.as_str()]);
        let judge = super::assign::judge(&detected, &pods, &pod)?;
        (judge.name != release.pod).then(|| judge.name.clone())
    }
}

impl AssignmentSource for Context {
    fn assignment(&self, namespace: &str, pod: &str) -> Option<Assignment> {
        Some(Context::assignment(self, namespace, pod))
    }
}
