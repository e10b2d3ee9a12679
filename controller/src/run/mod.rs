//! `ripcord-controller run`: wires the caches, the reconciler, the actor, the webhook, the
//! intake and the operations port together, and shuts them down gracefully on SIGTERM.

mod args;
mod error;
mod router;
mod tls;

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};
use tracing::Instrument;

use crate::act::{self, Actor};
use crate::flags::{Credentials, FlagFlipper};
use crate::http::{HttpClient, HttpLimits};
use crate::inject::{InjectConfig, Mutate};
use crate::intake::{AcceptedVerdict, AssignmentSource, Intake, ReleaseDirectory};
use crate::notify::{Notifier, WebhookUrl};
use crate::ops::health::{Health, Readiness};
use crate::ops::leader::{Leadership, LeaseSettings};
use crate::ops::metrics::Metrics;
use crate::ops::server::serve;
use crate::reconcile::assign::AssignSettings;
use crate::reconcile::cache::Caches;
use crate::reconcile::{self, Context};
use crate::snapshot::{SNAPSHOT_PATH, SnapshotSettings, Snapshots};
pub use args::{RunArgs, TlsMode};
pub use error::{Error, Result};
pub use router::Router;

/// Verdicts waiting for the actor; beyond this the intake answers 503 and the sidecar retries.
const VERDICT_QUEUE: usize = 1024;

/// Verdicts handled at once by one replica.
const ACTOR_CONCURRENCY: usize = 32;

/// How often settled releases' baseline snapshots are deleted.
const SNAPSHOT_SWEEP_PERIOD: Duration = Duration::from_secs(300);
/// How often the leader looks for claims left stale with no failing verdict to take them over.
const STRANDED_SWEEP_PERIOD: Duration = Duration::from_secs(30);

/// How often cert-manager's certificate files are reread and the served certificate's expiry
/// is reported.
const TLS_CHECK_PERIOD: Duration = Duration::from_secs(60);

/// How often the webhook's `caBundle` is checked again.
const CA_BUNDLE_PERIOD: Duration = Duration::from_secs(300);

/// Runs the controller until SIGTERM or Ctrl-C.
pub async fn run(args: RunArgs) -> Result<()> {
    let client = kube::Client::try_default().await.map_err(Error::Client)?;
    let (stop, stopped) = watch::channel(false);
    let signal = ripcord_sidecar::shutdown::signal();
    tokio::spawn(async move {
        signal.await;
        tracing::info!("shutting down");
        let _ = stop.send(true);
    });
    run_with(client, args, stopped).await
}

/// Runs the controller with `client` until `stopped` turns true (tests drive it by hand).
pub async fn run_with(
    client: kube::Client,
    args: RunArgs,
    stopped: watch::Receiver<bool>,
) -> Result<()> {
    let shutdown = shutdown_future(stopped);
    let metrics = Arc::new(Metrics::new());
    let readiness = Readiness::default();
    let namespace = args.leader_election_namespace.clone();

    let ops_listener = bind(args.metrics_listen).await?;
    let health = Health::new(Arc::clone(&metrics), readiness.clone());
    tokio::spawn(
        serve(ops_listener, None, health, shutdown.clone()).instrument(tracing::info_span!("ops")),
    );

    let (certificate, bundle) = certificate(&client, &args, &namespace, shutdown.clone()).await?;
    tokio::spawn(
        report_certificate_expiry(
            Arc::clone(&certificate.serving),
            Arc::clone(&metrics),
            shutdown.clone(),
        )
        .instrument(tracing::info_span!("tls_expiry")),
    );
    let acceptor = certificate.serving.acceptor()?;

    let leadership = Leadership::elect(
        client.clone(),
        LeaseSettings {
            namespace: namespace.clone(),
            name: args.lease_name.clone(),
            identity: args.pod_name.clone(),
            duration_seconds: 15,
            grace_seconds: 5,
        },
        Arc::clone(&metrics),
    )
    .await?;

    let (caches, streams) = Caches::watch(&client, &args.scope());
    let snapshots = snapshots(&client, &args, &namespace)?;
    let context = Arc::new(Context {
        client: client.clone(),
        caches: caches.clone(),
        leadership: leadership.clone(),
        metrics: Arc::clone(&metrics),
        assign: AssignSettings {
            prometheus_url: args.prometheus_url.clone(),
            snapshot_url: snapshots
                .as_ref()
                .map(|_| format!("{}{SNAPSHOT_PATH}", controller_url(&args, &namespace))),
        },
        snapshots: snapshots.clone(),
        earlier: Default::default(),
        warned: Default::default(),
    });
    if let Some(snapshots) = snapshots.clone() {
        tokio::spawn(
            sweep_snapshots(snapshots, caches.clone(), leadership.clone())
                .instrument(tracing::info_span!("snapshot_sweep")),
        );
    }
    tokio::spawn(
        reconcile::run(Arc::clone(&context), streams, shutdown.clone())
            .instrument(tracing::info_span!("reconciler")),
    );

    let (verdicts, queue) = mpsc::channel(VERDICT_QUEUE);
    let actor = actor(&client, &args, &metrics)?;
    tokio::spawn(
        sweep_stranded(actor.clone(), caches.clone(), leadership.clone())
            .instrument(tracing::info_span!("stranded_sweep")),
    );
    tokio::spawn(act_on(actor, queue).instrument(tracing::info_span!("actor")));

    let inject = inject_following(
        inject_config(&args, &namespace, &certificate.ca_pem)?,
        bundle,
    );
    let directory: Arc<dyn ReleaseDirectory> = Arc::clone(&context) as Arc<dyn ReleaseDirectory>;
    let assignments: Arc<dyn AssignmentSource> = Arc::clone(&context) as Arc<dyn AssignmentSource>;
    let mut intake = Intake::new(
        client.clone(),
        directory,
        assignments,
        verdicts,
        Arc::clone(&metrics),
    );
    if let Some(snapshots) = snapshots {
        intake = intake.with_snapshots(Arc::new(snapshots));
    }
    let router = Router::new(Mutate::following(inject), intake);
    let https_listener = bind(args.webhook_listen).await?;
    let https = tokio::spawn(
        serve(https_listener, Some(acceptor), router, shutdown.clone())
            .instrument(tracing::info_span!("https")),
    );

    let ready = caches.clone();
    let ready_flag = readiness.clone();
    tokio::spawn(async move {
        if ready.wait_until_ready().await.is_ok() {
            tracing::info!(sizes = ?ready.sizes(), "caches synced; ready");
            ready_flag.set(true);
        }
    });

    shutdown.clone().await;
    readiness.set(false);
    let _ = https.await;
    Ok(())
}

fn actor(client: &kube::Client, args: &RunArgs, metrics: &Arc<Metrics>) -> Result<Actor> {
    let http = HttpClient::new(HttpLimits::default(), None)?;
    let credentials = Credentials::new(&args.flag_credentials_dir);
    let flags = FlagFlipper::new(http.clone(), credentials.clone())
        .with_kube(client.clone())
        .with_allowed_origins(args.flag_allowed_origins.clone())
        .with_metrics(Arc::clone(metrics));
    let mut actor =
        Actor::new(client.clone(), &args.pod_name, Arc::clone(metrics)).with_flags(flags);
    let url = match &args.slack_webhook_url {
        Some(url) => WebhookUrl::Fixed(url.parse().map_err(|_| Error::Config {
            what: "--slack-webhook-url",
            reason: "not a valid URL".to_string(),
        })?),
        None => WebhookUrl::Credentials(credentials),
    };
    actor = actor.with_notifier(Notifier::new(http, url).with_metrics(Arc::clone(metrics)));
    Ok(actor)
}

fn inject_config(args: &RunArgs, namespace: &str, ca_pem: &str) -> Result<InjectConfig> {
    let mut config = InjectConfig::new(&args.sidecar_image, namespace, ca_pem);
    config.native_sidecars = args.native_sidecars;
    config.image_pull_policy = args.sidecar_image_pull_policy.clone();
    config.controller_url = controller_url(args, namespace);
    if !args.sidecar_resources.trim().is_empty() {
        config.resources =
            serde_json::from_str(&args.sidecar_resources).map_err(|err| Error::Config {
                what: "--sidecar-resources",
                reason: format!("not a ResourceRequirements JSON: {err}"),
            })?;
    }
    Ok(config)
}

/// The controller's HTTPS base URL as its Service names it inside the cluster.
fn controller_url(args: &RunArgs, namespace: &str) -> String {
    format!(
        "https://{}.{namespace}.svc:{}",
        args.service_name,
        args.webhook_listen.port()
    )
}

/// Baseline snapshots kept in the controller's namespace, unless `--snapshot-seconds` is 0.
fn snapshots(client: &kube::Client, args: &RunArgs, namespace: &str) -> Result<Option<Snapshots>> {
    if args.snapshot_seconds == 0 {
        return Ok(None);
    }
    let settings = SnapshotSettings {
        span: Duration::from_secs(args.snapshot_seconds),
        ..SnapshotSettings::new(namespace)
    };
    Ok(Some(Snapshots::new(client.clone(), settings)?))
}

/// The ticks of a period at which this replica leads, once the caches are synced.
struct LeaderTicks {
    ticker: tokio::time::Interval,
    leadership: Leadership,
}

impl LeaderTicks {
    /// Ticks every `period` once `caches` are synced; `None` when they never will be.
    async fn start(period: Duration, caches: &Caches, leadership: Leadership) -> Option<Self> {
        caches.wait_until_ready().await.ok()?;
        Some(LeaderTicks {
            ticker: tokio::time::interval(period),
            leadership,
        })
    }

    /// Waits for the next tick at which this replica leads.
    async fn next(&mut self) {
        loop {
            self.ticker.tick().await;
            if self.leadership.is_leader() {
                return;
            }
        }
    }
}

/// Every [`SNAPSHOT_SWEEP_PERIOD`], on the leader and once the caches are synced, deletes the
/// snapshots whose release is settled, superseded or gone.
async fn sweep_snapshots(snapshots: Snapshots, caches: Caches, leadership: Leadership) {
    let Some(mut ticks) = LeaderTicks::start(SNAPSHOT_SWEEP_PERIOD, &caches, leadership).await
    else {
        return;
    };
    loop {
        ticks.next().await;
        let keep = |namespace: &str, name: &str| {
            caches.check(namespace, name).is_some_and(|check| {
                let siblings = caches.checks_of(namespace, &check.deployment);
                crate::snapshot::still_needed(&check, siblings.iter().map(AsRef::as_ref))
            })
        };
        match snapshots.sweep(keep).await {
            Ok(0) => {}
            Ok(deleted) => tracing::info!(deleted, "deleted settled baseline snapshots"),
            Err(error) => tracing::warn!(%error, "cannot sweep baseline snapshots; next period"),
        }
    }
}

/// Every [`STRANDED_SWEEP_PERIOD`], on the leader and once the caches are synced, takes over
/// the claims left stale that no failing verdict came to take over (`act::stranded`), one at a
/// time.
async fn sweep_stranded(actor: Actor, caches: Caches, leadership: Leadership) {
    let Some(mut ticks) = LeaderTicks::start(STRANDED_SWEEP_PERIOD, &caches, leadership).await
    else {
        return;
    };
    loop {
        ticks.next().await;
        let now = crate::now_ms();
        let stranded =
            caches.checks_where(|check| act::stranded::is_stranded(check.status.as_deref(), now));
        for check in stranded {
            match actor
                .take_over_stranded(&check.namespace, &check.name)
                .await
            {
                Ok(handled) => {
                    tracing::info!(release_check = %check.name, ?handled, "stale claim looked at")
                }
                Err(error) => {
                    tracing::warn!(release_check = %check.name, %error, "cannot take a stale claim over; next period")
                }
            }
        }
    }
}

/// Hands each accepted verdict to the actor, a bounded number at a time.
async fn act_on(actor: Actor, mut queue: mpsc::Receiver<AcceptedVerdict>) {
    let limit = Arc::new(tokio::sync::Semaphore::new(ACTOR_CONCURRENCY));
    while let Some(accepted) = queue.recv().await {
        let Ok(permit) = Arc::clone(&limit).acquire_owned().await else {
            break;
        };
        let actor = actor.clone();
        tokio::spawn(async move {
            let received: Instant = accepted.received_at;
            match actor.handle(&accepted.report, received).await {
                Ok(handled) => tracing::debug!(?handled, "verdict handled"),
                Err(err) => tracing::warn!(error = %err, "verdict not handled"),
            }
            drop(permit);
        });
    }
}

/// The serving certificate and the CA bundle, which follows renewals: in `controller` mode from
/// the shared Secret, renewed there before it expires (and the webhook's `caBundle` kept equal to
/// the bundle); in `cert-manager` mode from its files, reread when it renews them.
async fn certificate(
    client: &kube::Client,
    args: &RunArgs,
    namespace: &str,
    shutdown: Shutdown,
) -> Result<(tls::Certificate, watch::Receiver<String>)> {
    match args.tls_mode {
        TlsMode::Controller => {
            let pki = tls::SecretPki::new(client, namespace, &args.tls_secret, &args.service_name);
            let (certificate, stored) = pki.certificate().await?;
            let (bundle, following) = watch::channel(certificate.ca_pem.clone());
            spawn_ca_bundle(
                client.clone(),
                args.webhook_config_name.clone(),
                pki.clone(),
                following.clone(),
            );
            tokio::spawn(
                pki.keep_fresh(stored, Arc::clone(&certificate.serving), bundle, shutdown)
                    .instrument(tracing::info_span!("tls_renew")),
            );
            Ok((certificate, following))
        }
        TlsMode::CertManager => {
            let certificate = tls::from_dir(&args.tls_dir)?;
            let (bundle, following) = watch::channel(certificate.ca_pem.clone());
            tokio::spawn(
                Arc::clone(&certificate.serving)
                    .watch(TLS_CHECK_PERIOD, shutdown.clone())
                    .instrument(tracing::info_span!("tls_reload")),
            );
            tokio::spawn(
                tls::watch_ca_file(args.tls_dir.clone(), bundle, shutdown)
                    .instrument(tracing::info_span!("ca_reload")),
            );
            Ok((certificate, following))
        }
    }
}

/// Keeps the metric of the served certificate's expiry current until `shutdown`.
async fn report_certificate_expiry(
    serving: Arc<crate::tls::ServingCert>,
    metrics: Arc<Metrics>,
    shutdown: Shutdown,
) {
    let mut ticks = tokio::time::interval(TLS_CHECK_PERIOD);
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        tokio::select! {
            _ = ticks.tick() => {
                if let Some(at) = serving.not_after() {
                    metrics.set_serving_not_after(at);
                }
            }
            () = &mut shutdown => break,
        }
    }
}

/// The injection configuration, its CA bundle following `bundle`.
fn inject_following(
    config: InjectConfig,
    mut bundle: watch::Receiver<String>,
) -> watch::Receiver<Arc<InjectConfig>> {
    let (sender, receiver) = watch::channel(Arc::new(config));
    tokio::spawn(
        async move {
            while bundle.changed().await.is_ok() {
                let ca_pem = bundle.borrow_and_update().clone();
                sender.send_modify(|config| Arc::make_mut(config).controller_ca_pem = ca_pem);
                tracing::info!("sidecars injected from now on trust the new CA bundle");
            }
        }
        .instrument(tracing::info_span!("inject_ca")),
    );
    receiver
}

/// Keeps the webhook's `caBundle` equal to the CA bundle stored in `pki`'s Secret, reread before
/// each write (so a replica a round behind never puts back a bundle another has extended),
/// retrying while the configuration is absent and at once when `bundle` says it changed.
fn spawn_ca_bundle(
    client: kube::Client,
    name: String,
    pki: tls::SecretPki,
    mut bundle: watch::Receiver<String>,
) {
    tokio::spawn(
        async move {
            loop {
                let in_memory = bundle.borrow_and_update().clone();
                let wait = match publish_ca_bundle(&client, &name, &pki, in_memory).await {
                    Ok(patched) => {
                        if patched {
                            tracing::info!(webhook = %name, "caBundle updated");
                        }
                        CA_BUNDLE_PERIOD
                    }
                    Err(err) => {
                        tracing::warn!(webhook = %name, error = %err, "cannot update caBundle; retrying");
                        Duration::from_secs(10)
                    }
                };
                tokio::select! {
                    () = tokio::time::sleep(wait) => {}
                    Ok(()) = bundle.changed() => {}
                }
            }
        }
        .instrument(tracing::info_span!("ca_bundle")),
    );
}

/// Writes the Secret's CA bundle (`in_memory` if the Secret holds none) into the webhook's
/// `caBundle`; whether it patched.
async fn publish_ca_bundle(
    client: &kube::Client,
    name: &str,
    pki: &tls::SecretPki,
    in_memory: String,
) -> Result<bool> {
    let ca_pem = pki.stored_bundle().await?.unwrap_or(in_memory);
    Ok(crate::tls::apply_ca_bundle(client.clone(), name, ca_pem.as_bytes()).await?)
}

async fn bind(addr: std::net::SocketAddr) -> Result<TcpListener> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| Error::Bind { addr, source })
}

/// A cloneable future that completes at shutdown.
type Shutdown = futures::future::Shared<futures::future::BoxFuture<'static, ()>>;

/// A cloneable future that completes when `stopped` turns true (or its sender goes away).
fn shutdown_future(stopped: watch::Receiver<bool>) -> Shutdown {
    use futures::FutureExt;
    async move {
        let mut stopped = stopped;
        let _ = stopped.wait_for(|s| *s).await;
    }
    .boxed()
    .shared()
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::{CommandFactory, FromArgMatches, Parser};

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        run: RunArgs,
    }

    /// Parses `all` as the command line alone: the `RIPCORD_*` variables of the environment the
    /// tests run in are not read.
    fn parse(all: Vec<&str>) -> std::result::Result<RunArgs, clap::Error> {
        let command = Cli::command().mut_args(|arg| arg.env(None::<&str>));
        let matches = command.try_get_matches_from(all)?;
        Cli::from_arg_matches(&matches).map(|cli| cli.run)
    }

    fn args(extra: &[&str]) -> RunArgs {
        let mut all = vec!["test", "--sidecar-image", "ripcord-sidecar:test"];
        all.extend_from_slice(extra);
        parse(all).expect("valid arguments")
    }

    #[test]
    fn the_real_command_line_reads_the_environment() {
        assert!(
            Cli::command().get_arguments().any(|arg| arg
                .get_env()
                .is_some_and(|env| env == "RIPCORD_SERVICE_NAME")),
            "the real command line reads RIPCORD_SERVICE_NAME"
        );
    }

    #[test]
    fn the_injected_sidecar_follows_the_flags() {
        let config = inject_config(&args(&[]), "ops", "CA").expect("a config");
        assert_eq!(config.image_pull_policy, None, "Kubernetes' default");
        assert_eq!(
            config.controller_url,
            "https://ripcord-controller.ops.svc:8443"
        );
        let config = inject_config(
            &args(&[
                "--sidecar-image-pull-policy",
                "IfNotPresent",
                "--service-name",
                "edge-ripcord-controller",
            ]),
            "ops",
            "CA",
        )
        .expect("a config");
        assert_eq!(config.image_pull_policy.as_deref(), Some("IfNotPresent"));
        assert_eq!(
            config.controller_url,
            "https://edge-ripcord-controller.ops.svc:8443"
        );
    }

    #[test]
    fn an_unknown_pull_policy_is_refused_by_name() {
        let mut all = vec!["test", "--sidecar-image", "x"];
        all.extend(["--sidecar-image-pull-policy", "Sometimes"]);
        let Err(err) = parse(all) else {
            panic!("an unknown pull policy is refused");
        };
        assert!(err.to_string().contains("Sometimes"), "{err}");
    }
}
