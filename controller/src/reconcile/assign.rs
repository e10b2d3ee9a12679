//! Roles: what each sidecar is told to do in its Deployment's current release. Pure: a pod, the
//! release detected for its Deployment and the namespace's pods in, an [`Assignment`] out.

use std::sync::Arc;

use ripcord_sidecar::assign::{Assignment, BaselineSources, PrometheusSource, Role};
use ripcord_sidecar::report;

use crate::crd::ReleaseCheck;
use crate::release::Release;

use super::pod::CompactPod;

/// Port the injected sidecar serves its windows on.
pub const SIDECAR_PORT: u16 = 9464;

/// Cluster-wide settings that shape every assignment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AssignSettings {
    /// Prometheus HTTP API offered to canaries as a last baseline source, if the cluster has one.
    pub prometheus_url: Option<String>,
    /// Where canaries read their release's baseline snapshot (the intake's `/v1/snapshot`),
    /// offered once one is kept; `None` offers none.
    pub snapshot_url: Option<String>,
}

/// The assignment of `pod` in `release` (created at `released_at_ms`), given the pods of the
/// release's namespace. The release's judge ([`judge`]) is a canary whose peers are the
/// previous revision's live pods; a pod of the previous revision is a baseline; any other pod
/// is idle — the new revision's other pods too, so one judge speaks for the release and its
/// false-alarm bound is not spent once per pod — and so is every pod when the current revision
/// is an earlier one brought back.
pub fn assign(
    pod: &CompactPod,
    release: &Release,
    released_at_ms: Option<i64>,
    pods: &[Arc<CompactPod>],
    settings: &AssignSettings,
) -> Assignment {
    let Some(hash) = template_hash(pod) else {
        return Assignment::idle();
    };
    if release.brought_back() {
        // No check is opened for it, so nobody is judged against anybody.
        return Assignment::idle();
    }
    let previous = release.previous.as_ref();
    let role = if hash == release.current.hash && previous.is_some() {
        if judge(release, pods, pod).is_none_or(|judge| judge.name != pod.name) {
            return Assignment::idle();
        }
        Role::Canary
    } else if previous.is_some_and(|p| p.hash == hash) {
        Role::Baseline
    } else {
        return Assignment::idle();
    };
    let mut assignment = Assignment::idle();
    assignment.role = role;
    if role == Role::Canary {
        let name = pod.name.clone();
        assignment.release = Some(report::Release {
            namespace: release.namespace.clone(),
            deployment: release.deployment.clone(),
            revision: release.current.number.to_string(),
            pod: name,
        });
        assignment.release_check = Some(ReleaseCheck::name_for(
            &release.deployment,
            i64::try_from(release.current.number).unwrap_or(i64::MAX),
        ));
        assignment.released_at_ms = released_at_ms;
        assignment.baseline = baseline(release, pods, settings);
    }
    assignment
}

fn baseline(
    release: &Release,
    pods: &[Arc<CompactPod>],
    settings: &AssignSettings,
) -> BaselineSources {
    let Some(previous) = &release.previous else {
        return BaselineSources::default();
    };
    let mut peers: Vec<String> = if previous.has_sidecar {
        serving_with_ip(pods, &previous.hash)
            .map(|(_, ip)| peer_url(ip))
            .collect()
    } else {
        Vec::new()
    };
    peers.sort();
    peers.dedup();
    BaselineSources {
        peers,
        snapshot: None,
        prometheus: settings
            .prometheus_url
            .as_ref()
            .map(|url| PrometheusSource {
                url: url.clone(),
                previous_hash: previous.hash.clone(),
            }),
    }
}

/// The pod of `release`'s new revision that judges it: the oldest (then the first by name) of
/// the new revision's pods that run and are not on their way out. A pod that has not started
/// running, or has stopped (evicted, failed), is passed over. The judge changes only when it
/// stops running or an older pod starts running later (one that waited to be scheduled); the
/// new judge starts a judge of its own.
pub fn judge<'a>(
    release: &Release,
    pods: &'a [Arc<CompactPod>],
    asking: &'a CompactPod,
) -> Option<&'a CompactPod> {
    let current = release.current.hash.as_str();
    let candidate = |p: &CompactPod| template_hash(p) == Some(current) && p.serving();
    pods.iter()
        .map(AsRef::as_ref)
        .filter(|p| candidate(p))
        .chain(candidate(asking).then_some(asking))
        .min_by(|a, b| {
            let age = |p: &CompactPod| p.created_ms.unwrap_or(i64::MAX);
            age(a).cmp(&age(b)).then_with(|| a.name.cmp(&b.name))
        })
}

/// The pods of revision `hash` that run and are not on their way out, with their IPs: the
/// ones whose sidecars can serve their windows.
pub fn serving_with_ip<'a>(
    pods: &'a [Arc<CompactPod>],
    hash: &'a str,
) -> impl Iterator<Item = (&'a CompactPod, &'a str)> + 'a {
    pods.iter()
        .filter(move |p| template_hash(p) == Some(hash) && p.serving())
        .filter_map(|p| Some((p.as_ref(), p.ip.as_deref()?)))
}

/// The base URL of the sidecar of the pod at `ip`.
pub fn peer_url(ip: &str) -> String {
    if ip.contains(':') {
        format!("http://[{ip}]:{SIDECAR_PORT}")
    } else {
        format!("http://{ip}:{SIDECAR_PORT}")
    }
}

/// The pod's `pod-template-hash` label, naming its revision.
pub fn template_hash(pod: &CompactPod) -> Option<&str> {
    pod.hash.as_deref()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::release::detect;
    use crate::release::fixtures::{H1, H2, H3, load};

    fn pod(name: &str, hash: &str, ip: &str, phase: &str, deleting: bool) -> Arc<CompactPod> {
        let mut value = serde_json::json!({
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": name,
                "namespace": "shop",
                "labels": {"app": "checkout", "pod-template-hash": hash}
            },
            "status": {"phase": phase, "podIP": ip}
        });
        if deleting {
            value["metadata"]["deletionTimestamp"] = "2026-11-24T10:00:00Z".into();
        }
        let pod: k8s_openapi::api::core::v1::Pod = serde_json::from_value(value).expect("a pod");
        Arc::new(CompactPod::from(&pod))
    }

    fn release() -> Release {
        let fixture = load("history-basic.yaml");
        detect(&fixture.deployment, &fixture.replica_sets)
            .expect("valid")
            .expect("a release")
    }

    fn pods() -> Vec<Arc<CompactPod>> {
        vec![
            pod("checkout-new-a", H3, "10.0.0.30", "Running", false),
            pod("checkout-old-a", H2, "10.0.0.21", "Running", false),
            pod("checkout-old-b", H2, "fd00::22", "Running", false),
            pod("checkout-old-c", H2, "10.0.0.23", "Running", true),
            pod("checkout-old-d", H2, "10.0.0.24", "Pending", false),
            pod("checkout-ancient", H1, "10.0.0.11", "Running", false),
        ]
    }

    #[test]
    fn a_pod_of_the_new_revision_is_a_canary_whose_peers_are_the_live_previous_pods() {
        let settings = AssignSettings {
            prometheus_url: Some("http://prometheus.monitoring:9090".to_string()),
            ..AssignSettings::default()
        };
        let pods = pods();
        let assignment = assign(&pods[0], &release(), Some(42), &pods, &settings);
        assert_eq!(assignment.role, Role::Canary);
        let named = assignment
            .release
            .as_ref()
            .expect("a canary names its release");
        assert_eq!(
            (
                named.deployment.as_str(),
                named.revision.as_str(),
                named.pod.as_str()
            ),
            ("checkout", "3", "checkout-new-a")
        );
        assert_eq!(assignment.release_check.as_deref(), Some("checkout-3"));
        assert_eq!(assignment.released_at_ms, Some(42));
        assert_eq!(
            assignment.baseline.peers,
            vec!["http://10.0.0.21:9464", "http://[fd00::22]:9464"]
        );
        let prometheus = assignment.baseline.prometheus.expect("prometheus offered");
        assert_eq!(prometheus.previous_hash, H2);
    }

    fn created(pod: &Arc<CompactPod>, at_ms: i64) -> Arc<CompactPod> {
        let mut pod = CompactPod::clone(pod);
        pod.created_ms = Some(at_ms);
        Arc::new(pod)
    }

    #[test]
    fn one_canary_pod_judges_the_release_the_oldest_while_it_lives() {
        let settings = AssignSettings::default();
        let oldest = created(
            &pod("checkout-new-z", H3, "10.0.0.31", "Running", false),
            1_000,
        );
        let younger = created(
            &pod("checkout-new-a", H3, "10.0.0.30", "Running", false),
            2_000,
        );
        let mut pods = pods()[1..].to_vec();
        pods.extend([Arc::clone(&oldest), Arc::clone(&younger)]);
        let role = |asking: &Arc<CompactPod>, pods: &[Arc<CompactPod>]| {
            assign(asking, &release(), None, pods, &settings).role
        };
        assert_eq!(
            role(&oldest, &pods),
            Role::Canary,
            "older, though named later"
        );
        assert_eq!(role(&younger, &pods), Role::Idle);
        let mut going = CompactPod::clone(&oldest);
        going.deleting = true;
        let going = Arc::new(going);
        let without_oldest: Vec<_> = pods
            .iter()
            .map(|p| {
                if p.name == oldest.name {
                    Arc::clone(&going)
                } else {
                    Arc::clone(p)
                }
            })
            .collect();
        assert_eq!(
            role(&younger, &without_oldest),
            Role::Canary,
            "the next oldest takes over"
        );
        assert_eq!(role(&going, &without_oldest), Role::Idle);
    }

    #[test]
    fn a_canary_pod_that_does_not_run_does_not_hold_up_the_judging() {
        let settings = AssignSettings::default();
        let pending = created(
            &pod("checkout-new-p", H3, "10.0.0.28", "Pending", false),
            500,
        );
        let evicted = created(
            &pod("checkout-new-e", H3, "10.0.0.29", "Failed", false),
            600,
        );
        let running = created(
            &pod("checkout-new-r", H3, "10.0.0.32", "Running", false),
            2_000,
        );
        let mut pods = pods()[1..].to_vec();
        pods.extend([
            Arc::clone(&pending),
            Arc::clone(&evicted),
            Arc::clone(&running),
        ]);
        assert_eq!(
            assign(&pending, &release(), None, &pods, &settings).role,
            Role::Idle,
            "a pod not running yet judges nothing, even when it asks"
        );
        assert_eq!(
            assign(&running, &release(), None, &pods, &settings).role,
            Role::Canary
        );
        let tied = created(
            &pod("checkout-new-b", H3, "10.0.0.33", "Running", false),
            2_000,
        );
        pods.push(Arc::clone(&tied));
        assert_eq!(
            assign(&running, &release(), None, &pods, &settings).role,
            Role::Idle,
            "created at the same time: the first by name judges"
        );
    }

    #[test]
    fn previous_pods_are_baselines_and_older_ones_idle() {
        let pods = pods();
        let settings = AssignSettings::default();
        let baseline = assign(&pods[1], &release(), None, &pods, &settings);
        assert_eq!(baseline.role, Role::Baseline);
        assert!(baseline.release.is_none() && baseline.baseline.peers.is_empty());
        let ancient = assign(&pods[5], &release(), None, &pods, &settings);
        assert_eq!(ancient, Assignment::idle());
    }

    #[test]
    fn after_a_rollback_nobody_is_a_canary_for_a_check_that_is_never_opened() {
        let fixture = load("rolled-back.yaml");
        let release = detect(&fixture.deployment, &fixture.replica_sets)
            .expect("valid")
            .expect("a release");
        assert!(release.brought_back(), "a reused ReplicaSet");
        let previous = release
            .previous
            .as_ref()
            .expect("the failed revision")
            .hash
            .clone();
        let settings = AssignSettings::default();
        for hash in [release.current.hash.clone(), previous] {
            let pods = vec![pod("checkout-x", &hash, "10.0.0.40", "Running", false)];
            let assignment = assign(&pods[0], &release, Some(7), &pods, &settings);
            assert_eq!(assignment, Assignment::idle(), "pod of {hash}");
        }
    }

    #[test]
    fn a_previous_revision_without_sidecars_offers_no_peers() {
        let mut release = release();
        if let Some(previous) = release.previous.as_mut() {
            previous.has_sidecar = false;
        }
        let pods = pods();
        let assignment = assign(&pods[0], &release, None, &pods, &AssignSettings::default());
        assert_eq!(assignment.role, Role::Canary);
        assert!(assignment.baseline.peers.is_empty());
        assert!(assignment.baseline.prometheus.is_none());
    }
}
