//! What the webhook injects: the sidecar's image, the controller it reports to, and the
//! sidecar's resources; plus the names the sidecar container contract fixes.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::ResourceRequirements;
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

/// Label that opts a pod in (on the Deployment and its pod template), value `"true"`.
pub const ENABLED_LABEL: &str = "ripcord.dev/enabled";
/// Pod annotation naming the app's metrics URL.
pub const METRICS_ANNOTATION: &str = "ripcord.dev/metrics";
/// The app's metrics URL when the pod does not name one.
pub const DEFAULT_TARGET: &str = "http://127.0.0.1:8080/metrics";
/// Name of the injected container; its presence marks a pod as already injected.
pub const SIDECAR_NAME: &str = "ripcord-sidecar";
/// Port the sidecar serves on, named `ripcord`.
pub const SIDECAR_PORT: u16 = 9464;
/// Name of the downward-API volume holding the pod's annotations.
pub const PODINFO_VOLUME: &str = "ripcord-podinfo";
/// Where the downward-API volume is mounted in the sidecar.
pub const ANNOTATIONS_DIR: &str = "/etc/ripcord/podinfo";
/// Name of the projected service-account token volume (mounted in the sidecar only).
pub const TOKEN_VOLUME: &str = "ripcord-token";
/// Where the token volume is mounted in the sidecar.
pub const TOKEN_DIR: &str = "/var/run/secrets/ripcord";
/// Audience of the projected token, checked by the controller's TokenReview.
pub const TOKEN_AUDIENCE: &str = "ripcord";
/// Lifetime asked for the projected token; the kubelet refreshes it before it expires.
pub const TOKEN_EXPIRATION_SECONDS: i64 = 3600;

/// What the webhook injects into an opted-in pod.
#[derive(Debug, Clone, PartialEq)]
pub struct InjectConfig {
    /// The sidecar's image reference.
    pub image: String,
    /// The sidecar's `imagePullPolicy`; the cluster's default when `None`.
    pub image_pull_policy: Option<String>,
    /// Inject a native sidecar (an init container with `restartPolicy: Always`, Kubernetes
    /// 1.29 and later) instead of a regular container.
    pub native_sidecars: bool,
    /// The controller's intake URL, `https://ripcord-controller.<ns>.svc:8443`.
    pub controller_url: String,
    /// PEM of the CA that signed the controller's serving certificate, passed inline.
    pub controller_ca_pem: String,
    /// The sidecar's resource requests and limits.
    pub resources: ResourceRequirements,
}

impl InjectConfig {
    /// A configuration for a controller running as `ripcord-controller` in `namespace`,
    /// trusting `controller_ca_pem`, with native sidecars and the default resources.
    pub fn new(
        image: impl Into<String>,
        namespace: &str,
        controller_ca_pem: impl Into<String>,
    ) -> Self {
        InjectConfig {
            image: image.into(),
            image_pull_policy: None,
            native_sidecars: true,
            controller_url: format!("https://ripcord-controller.{namespace}.svc:8443"),
            controller_ca_pem: controller_ca_pem.into(),
            resources: default_resources(),
        }
    }
}

/// Requests 10m CPU and 16Mi memory, limits 100m CPU and 32Mi memory.
pub(super) fn default_resources() -> ResourceRequirements {
    ResourceRequirements {
        requests: Some(quantities("10m", "16Mi")),
        limits: Some(quantities("100m", "32Mi")),
        ..ResourceRequirements::default()
    }
}

fn quantities(cpu: &str, memory: &str) -> BTreeMap<String, Quantity> {
    BTreeMap::from([
        ("cpu".to_string(), Quantity(cpu.to_string())),
        ("memory".to_string(), Quantity(memory.to_string())),
    ])
}
