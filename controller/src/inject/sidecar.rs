//! The objects injected into a pod: the sidecar container and its two volumes, built from the
//! configuration and the pod's annotations (the sidecar container contract, as Kubernetes types).

use k8s_openapi::api::core::v1::{
    Capabilities, Container, ContainerPort, DownwardAPIVolumeFile, DownwardAPIVolumeSource, EnvVar,
    EnvVarSource, HTTPGetAction, ObjectFieldSelector, Pod, Probe, ProjectedVolumeSource,
    SeccompProfile, SecurityContext, ServiceAccountTokenProjection, Volume, VolumeMount,
    VolumeProjection,
};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::config::{
    ANNOTATIONS_DIR, DEFAULT_TARGET, InjectConfig, METRICS_ANNOTATION, PODINFO_VOLUME,
    SIDECAR_NAME, SIDECAR_PORT, TOKEN_AUDIENCE, TOKEN_DIR, TOKEN_EXPIRATION_SECONDS, TOKEN_VOLUME,
};

/// File name of the annotations inside the downward-API volume.
const ANNOTATIONS_FILE: &str = "annotations";
/// File name of the token inside the projected volume.
const TOKEN_FILE: &str = "token";
/// User and group the sidecar runs as: distroless's `nonroot`, numeric so that the kubelet can
/// check `runAsNonRoot` whatever the image's `USER` line says.
const SIDECAR_UID: i64 = 65532;
/// Name of the sidecar's port.
const PORT_NAME: &str = "ripcord";

/// The app's metrics URL: the pod's `ripcord.dev/metrics` annotation when set, else the default.
pub(super) fn target(pod: &Pod) -> String {
    pod.metadata
        .annotations
        .as_ref()
        .and_then(|annotations| annotations.get(METRICS_ANNOTATION))
        .map(|value| value.trim())
        .filter(|value| !value.is_empty())
        .unwrap_or(DEFAULT_TARGET)
        .to_string()
}

/// The sidecar container for `pod`.
pub(super) fn container(pod: &Pod, config: &InjectConfig) -> Container {
    let env = vec![
        plain("RIPCORD_TARGET", target(pod)),
        plain("RIPCORD_LISTEN", format!("0.0.0.0:{SIDECAR_PORT}")),
        plain(
            "RIPCORD_ANNOTATIONS_FILE",
            format!("{ANNOTATIONS_DIR}/{ANNOTATIONS_FILE}"),
        ),
        plain("RIPCORD_CONTROLLER_URL", config.controller_url.clone()),
        plain("RIPCORD_CONTROLLER_CA", config.controller_ca_pem.clone()),
        plain("RIPCORD_TOKEN_FILE", format!("{TOKEN_DIR}/{TOKEN_FILE}")),
        field("POD_NAME", "metadata.name"),
        field("POD_NAMESPACE", "metadata.namespace"),
        field("POD_IP", "status.podIP"),
    ];
    Container {
        name: SIDECAR_NAME.to_string(),
        image: Some(config.image.clone()),
        image_pull_policy: config.image_pull_policy.clone(),
        args: Some(vec!["run".to_string()]),
        env: Some(env),
        ports: Some(vec![ContainerPort {
            name: Some(PORT_NAME.to_string()),
            container_port: i32::from(SIDECAR_PORT),
            protocol: Some("TCP".to_string()),
            ..ContainerPort::default()
        }]),
        resources: Some(config.resources.clone()),
        security_context: Some(security_context()),
        // No readiness probe: a native sidecar's readiness gates the pod's, and Ripcord must
        // never hold a release back because its own sidecar cannot scrape the app yet.
        liveness_probe: Some(probe("/live")),
        restart_policy: config.native_sidecars.then(|| "Always".to_string()),
        volume_mounts: Some(vec![
            mount(PODINFO_VOLUME, ANNOTATIONS_DIR),
            mount(TOKEN_VOLUME, TOKEN_DIR),
        ]),
        ..Container::default()
    }
}

/// The downward-API volume holding the pod's annotations.
pub(super) fn podinfo_volume() -> Volume {
    Volume {
        name: PODINFO_VOLUME.to_string(),
        downward_api: Some(DownwardAPIVolumeSource {
            items: Some(vec![DownwardAPIVolumeFile {
                path: ANNOTATIONS_FILE.to_string(),
                field_ref: Some(field_selector("metadata.annotations")),
                ..DownwardAPIVolumeFile::default()
            }]),
            ..DownwardAPIVolumeSource::default()
        }),
        ..Volume::default()
    }
}

/// The projected service-account token of audience `ripcord`.
pub(super) fn token_volume() -> Volume {
    Volume {
        name: TOKEN_VOLUME.to_string(),
        projected: Some(ProjectedVolumeSource {
            sources: Some(vec![VolumeProjection {
                service_account_token: Some(ServiceAccountTokenProjection {
                    audience: Some(TOKEN_AUDIENCE.to_string()),
                    expiration_seconds: Some(TOKEN_EXPIRATION_SECONDS),
                    path: TOKEN_FILE.to_string(),
                }),
                ..VolumeProjection::default()
            }]),
            ..ProjectedVolumeSource::default()
        }),
        ..Volume::default()
    }
}

/// Non-root (a fixed numeric user), read-only root filesystem, no privilege escalation, no capabilities, the
/// runtime's default seccomp profile.
fn security_context() -> SecurityContext {
    SecurityContext {
        run_as_non_root: Some(true),
        run_as_user: Some(SIDECAR_UID),
        run_as_group: Some(SIDECAR_UID),
        read_only_root_filesystem: Some(true),
        allow_privilege_escalation: Some(false),
        capabilities: Some(Capabilities {
            drop: Some(vec!["ALL".to_string()]),
            ..Capabilities::default()
        }),
        seccomp_profile: Some(SeccompProfile {
            type_: "RuntimeDefault".to_string(),
            ..SeccompProfile::default()
        }),
        ..SecurityContext::default()
    }
}

fn probe(path: &str) -> Probe {
    Probe {
        http_get: Some(HTTPGetAction {
            path: Some(path.to_string()),
            port: IntOrString::String(PORT_NAME.to_string()),
            ..HTTPGetAction::default()
        }),
        period_seconds: Some(5),
        ..Probe::default()
    }
}

fn mount(volume: &str, path: &str) -> VolumeMount {
    VolumeMount {
        name: volume.to_string(),
        mount_path: path.to_string(),
        read_only: Some(true),
        ..VolumeMount::default()
    }
}

fn plain(name: &str, value: String) -> EnvVar {
    EnvVar {
        name: name.to_string(),
        value: Some(value),
        ..EnvVar::default()
    }
}

fn field(name: &str, path: &str) -> EnvVar {
    EnvVar {
        name: name.to_string(),
        value_from: Some(EnvVarSource {
            field_ref: Some(field_selector(path)),
            ..EnvVarSource::default()
        }),
        ..EnvVar::default()
    }
}

fn field_selector(path: &str) -> ObjectFieldSelector {
    ObjectFieldSelector {
        field_path: path.to_string(),
        ..ObjectFieldSelector::default()
    }
}
