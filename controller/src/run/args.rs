//! The `ripcord-controller run` command line; every flag also reads an environment variable, so
//! the Helm chart sets some as arguments and the rest as environment.

use std::net::SocketAddr;
use std::path::PathBuf;

use crate::reconcile::cache::Scope;

/// Who issues the webhook's and the intake's serving certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum TlsMode {
    /// The controller generates a CA and a serving certificate, keeps them in a Secret and
    /// patches the webhook's `caBundle`.
    Controller,
    /// cert-manager issues them into a Secret mounted at `--tls-dir`; its CA injector fills the
    /// `caBundle`.
    CertManager,
}

/// Settings of `ripcord-controller run`.
#[derive(Debug, Clone, clap::Args)]
pub struct RunArgs {
    /// Address of the HTTPS port serving the admission webhook (`/mutate`) and the sidecars'
    /// intake (`/v1/verdicts`, `/v1/assignment`).
    #[arg(long, env = "RIPCORD_WEBHOOK_LISTEN", default_value = "0.0.0.0:8443")]
    pub webhook_listen: SocketAddr,
    /// Address of the plain-HTTP operations port (`/metrics`, `/live`, `/ready`).
    #[arg(long, env = "RIPCORD_METRICS_LISTEN", default_value = "0.0.0.0:9090")]
    pub metrics_listen: SocketAddr,
    /// Namespaces to watch, comma-separated; empty watches every namespace.
    #[arg(
        long,
        env = "RIPCORD_NAMESPACES",
        value_delimiter = ',',
        default_value = ""
    )]
    pub namespaces: Vec<String>,
    /// Image of the sidecar the webhook injects.
    #[arg(long, env = "RIPCORD_SIDECAR_IMAGE")]
    pub sidecar_image: String,
    /// `imagePullPolicy` of the injected sidecar; unset leaves Kubernetes' default (`Always`
    /// for a `:latest` or untagged image, else `IfNotPresent`).
    #[arg(
        long,
        env = "RIPCORD_SIDECAR_IMAGE_PULL_POLICY",
        value_parser = ["Always", "IfNotPresent", "Never"]
    )]
    pub sidecar_image_pull_policy: Option<String>,
    /// Requests and limits of the injected sidecar, as the JSON of a Kubernetes
    /// `ResourceRequirements`; empty keeps the built-in defaults.
    #[arg(long, env = "RIPCORD_SIDECAR_RESOURCES", default_value = "")]
    pub sidecar_resources: String,
    /// Who issues the serving certificate.
    #[arg(
        long,
        env = "RIPCORD_TLS_MODE",
        value_enum,
        default_value = "controller"
    )]
    pub tls_mode: TlsMode,
    /// Secret (in the controller's namespace) that holds the CA and serving certificate in
    /// `controller` TLS mode.
    #[arg(
        long,
        env = "RIPCORD_TLS_SECRET",
        default_value = "ripcord-controller-tls"
    )]
    pub tls_secret: String,
    /// Directory with `tls.crt`, `tls.key` and `ca.crt` in `cert-manager` TLS mode.
    #[arg(long, env = "RIPCORD_TLS_DIR", default_value = "/etc/ripcord/tls")]
    pub tls_dir: PathBuf,
    /// The MutatingWebhookConfiguration whose `caBundle` the controller keeps current.
    #[arg(
        long,
        env = "RIPCORD_WEBHOOK_CONFIG_NAME",
        default_value = "ripcord-controller"
    )]
    pub webhook_config_name: String,
    /// The controller's Service name; sidecars and the API server reach it at
    /// `<name>.<namespace>.svc`.
    #[arg(
        long,
        env = "RIPCORD_SERVICE_NAME",
        default_value = "ripcord-controller"
    )]
    pub service_name: String,
    /// Directory of the mounted Secret with flag-provider credentials (`unleash-token`,
    /// `launchdarkly-token`, `webhook-secret`, `slack-webhook-url`); never read from workloads.
    /// A missing file makes the step that needs it fail with a clear record.
    #[arg(
        long,
        env = "RIPCORD_FLAG_CREDENTIALS_DIR",
        default_value = "/etc/ripcord/credentials"
    )]
    pub flag_credentials_dir: PathBuf,
    /// Origins (`https://host[:port]`, comma-separated) of Unleash servers and flag webhooks
    /// the controller may send its credentials to. The flag URL comes from the workload's
    /// annotation, so a flag at any other origin is refused; none is allowed by default.
    #[arg(
        long,
        env = "RIPCORD_FLAG_ALLOWED_ORIGINS",
        value_delimiter = ',',
        value_parser = crate::flags::parse_origin
    )]
    pub flag_allowed_origins: Vec<String>,
    /// Slack-compatible incoming-webhook URL for notifications.
    #[arg(long, env = "RIPCORD_SLACK_WEBHOOK_URL", hide_env_values = true)]
    pub slack_webhook_url: Option<String>,
    /// Prometheus HTTP API offered to canaries as a last-resort baseline.
    #[arg(long, env = "RIPCORD_PROMETHEUS_URL")]
    pub prometheus_url: Option<String>,
    /// Namespace of the leader-election Lease (the controller's own).
    #[arg(long, env = "POD_NAMESPACE", default_value = "ripcord")]
    pub leader_election_namespace: String,
    /// Name of the leader-election Lease.
    #[arg(long, env = "RIPCORD_LEASE_NAME", default_value = "ripcord-controller")]
    pub lease_name: String,
    /// This replica's identity (its pod name), used for the Lease and for claims.
    #[arg(long, env = "POD_NAME", default_value = "ripcord-controller")]
    pub pod_name: String,
    /// Inject the sidecar as a native sidecar (an init container that keeps running;
    /// Kubernetes 1.29 and later). Off injects a plain container.
    #[arg(long, env = "RIPCORD_NATIVE_SIDECARS", default_value_t = true, action = clap::ArgAction::Set)]
    pub native_sidecars: bool,
    /// Seconds of the previous revision's windows kept as a baseline snapshot when a release
    /// is detected (newest first, within 768 KiB); 0 keeps none.
    #[arg(long, env = "RIPCORD_SNAPSHOT_SECONDS", default_value_t = 1800)]
    pub snapshot_seconds: u64,
}

impl RunArgs {
    /// The namespaces to watch.
    pub fn scope(&self) -> Scope {
        let named: Vec<String> = self
            .namespaces
            .iter()
            .map(|ns| ns.trim().to_string())
            .filter(|ns| !ns.is_empty())
            .collect();
        if named.is_empty() {
            Scope::Cluster
        } else {
            Scope::Namespaces(named)
        }
    }
}
