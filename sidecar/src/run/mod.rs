//! `ripcord-sidecar run`: the in-cluster mode. Owns the sidecar's life in a watched pod: read
//! the watch spec from the pod's annotations, scrape the app every interval into the served
//! window, learn its role from the controller, and, as a canary, judge each tick against the
//! baseline and report the verdict.
//!
//! - [`annotations`] and [`spec_source`] read the `ripcord.dev/watch` annotation, re-read every
//!   tick, keeping the last good spec when a new one does not parse;
//! - `assignment` polls `GET {controller}/v1/assignment` in the background, with backoff;
//! - `baseline` reads the baseline of a judged range: the peers' windows summed, else the
//!   snapshot, else Prometheus;
//! - `tick` is the loop: scrape and record, and (as a canary) judge the range that ended one
//!   scrape timeout ago, publish the verdict and hand it to the [`crate::report::Reporter`].
//!
//! Nothing the controller, a peer or Prometheus does can stall the scrape: the assignment poll
//! and the reporter run on their own tasks, and a judge step runs beside the scrape with every
//! fetch under a timeout.

pub mod annotations;
mod assignment;
mod baseline;
mod fetch;
pub mod spec_source;
mod tick;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::watch;

use crate::assign::{Assignment, Role};
use crate::scrape::{Tls, TlsError};
use crate::serve::{LogLevelControl, Server, State, StoredLogLevel};
use crate::watch::{parse_alpha, parse_duration};
use tracing_subscriber::{EnvFilter, reload};

pub use spec_source::{SpecEvent, SpecOrigin, SpecSource};

/// Why `ripcord-sidecar run` could not start, or one fetch failed.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The controller's CA (`RIPCORD_CONTROLLER_CA`) is not a usable PEM bundle; fix the setting.
    #[error("RIPCORD_CONTROLLER_CA: {0}")]
    Ca(#[from] TlsError),
    /// A URL setting is not usable; fix the setting.
    #[error("{setting}: {reason}")]
    Setting {
        /// The flag or variable.
        setting: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// The listen address could not be bound (in use, or not ours); fix the setting or wait.
    #[error("listening on {addr}: {source}")]
    Listen {
        /// The address.
        addr: SocketAddr,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// The async runtime could not start.
    #[error("starting the runtime: {0}")]
    Runtime(std::io::Error),
    /// One GET failed (unreachable, slow, non-2xx, too large); it is retried later.
    #[error("{url}: {reason}")]
    Fetch {
        /// The URL fetched.
        url: String,
        /// What went wrong.
        reason: String,
    },
    /// An answer was fetched but is not what was asked for; it is retried later.
    #[error("{url}: {reason}")]
    Decode {
        /// The URL fetched.
        url: String,
        /// What is wrong with the answer.
        reason: String,
    },
}

/// Result of the run mode.
pub type Result<T, E = RunError> = std::result::Result<T, E>;

/// Arguments of `ripcord-sidecar run`; every one has the environment variable the injection
/// webhook sets.
#[derive(Debug, Clone, clap::Args)]
pub struct RunArgs {
    /// The app's metrics URL (plain http://, normally on loopback).
    #[arg(
        long,
        env = "RIPCORD_TARGET",
        default_value = "http://127.0.0.1:8080/metrics"
    )]
    pub target: String,
    /// Address the sidecar's own HTTP surface listens on.
    #[arg(long, env = "RIPCORD_LISTEN", default_value = "0.0.0.0:9464")]
    pub listen: SocketAddr,
    /// The pod's annotations file (downward API); `ripcord.dev/watch` is read from it each tick.
    #[arg(
        long,
        env = "RIPCORD_ANNOTATIONS_FILE",
        default_value = "/etc/ripcord/podinfo/annotations"
    )]
    pub annotations_file: PathBuf,
    /// A watch spec to use instead of the annotations file (for running outside a cluster).
    #[arg(long, value_name = "SPEC")]
    pub watch: Option<String>,
    /// The controller's base URL; without it the sidecar stays idle (scrapes and serves only).
    #[arg(long, env = "RIPCORD_CONTROLLER_URL", value_name = "URL")]
    pub controller_url: Option<String>,
    /// File holding the bearer token for the controller (projected token, audience `ripcord`);
    /// re-read on every request, since it rotates.
    #[arg(
        long,
        env = "RIPCORD_TOKEN_FILE",
        default_value = "/var/run/secrets/ripcord/token"
    )]
    pub token_file: PathBuf,
    /// PEM of the CA that signed the controller's certificate (inline); without it an https
    /// controller must present a publicly trusted certificate.
    #[arg(
        long,
        env = "RIPCORD_CONTROLLER_CA",
        value_name = "PEM",
        hide_env_values = true
    )]
    pub controller_ca: Option<String>,
    /// This pod's name (downward API); checked against the assignment's.
    #[arg(long, env = "POD_NAME")]
    pub pod_name: Option<String>,
    /// This pod's namespace (downward API).
    #[arg(long, env = "POD_NAMESPACE")]
    pub pod_namespace: Option<String>,
    /// This pod's IP (downward API).
    #[arg(long, env = "POD_IP")]
    pub pod_ip: Option<String>,
    /// Time between scrapes (`250ms`, `1s`).
    #[arg(long, env = "RIPCORD_INTERVAL", default_value = "1s", value_parser = parse_duration)]
    pub interval: Duration,
    /// Bound on one scrape; a canary judges ranges that ended this long ago, so that every
    /// sidecar's scrape in the range is in its window.
    #[arg(long, default_value = "800ms", value_parser = parse_duration)]
    pub scrape_timeout: Duration,
    /// Time between assignment polls while the controller answers.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub assignment_interval: Duration,
    /// Shortest range judged against a Prometheus baseline (a few of its scrape intervals, so
    /// that its `increase` has samples to work with).
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    pub prometheus_step: Duration,
    /// Family-wise bound on the probability of ever raising a false alarm.
    #[arg(long, env = "RIPCORD_ALPHA", default_value_t = 0.01, value_parser = parse_alpha)]
    pub alpha: f64,
}

impl RunArgs {
    /// The TLS settings for https:// controller (and snapshot) URLs: the given CA only, else the
    /// public roots.
    fn tls(&self) -> Result<Tls> {
        Ok(match &self.controller_ca {
            Some(pem) if !pem.trim().is_empty() => Tls::with_ca_pem(pem.as_bytes())?,
            _ => Tls::with_web_roots()?,
        })
    }

    fn spec_origin(&self) -> SpecOrigin {
        match &self.watch {
            Some(text) => SpecOrigin::Inline(text.clone()),
            None => SpecOrigin::Annotations(self.annotations_file.clone()),
        }
    }

    /// The controller's base URL without a trailing slash, checked.
    fn controller(&self, tls: &Tls) -> Result<Option<String>> {
        let Some(url) = &self.controller_url else {
            return Ok(None);
        };
        let base = url.trim_end_matches('/').to_string();
        crate::scrape::transport::Endpoint::parse(&base, Some(tls)).map_err(|reason| {
            RunError::Setting {
                setting: "RIPCORD_CONTROLLER_URL",
                reason,
            }
        })?;
        Ok(Some(base))
    }
}

/// What the run loop is doing, for its log, its tests and operators.
#[derive(Debug, Clone, PartialEq)]
pub struct RunStatus {
    /// The role last assigned (idle until the controller says otherwise).
    pub role: Role,
    /// Why the watch spec is refused (the last good one, if any, stays in force).
    pub spec_error: Option<String>,
    /// Why the last assignment poll failed, while it keeps failing.
    pub assignment_error: Option<String>,
    /// Scrapes taken.
    pub scrapes: u64,
    /// Ranges judged as a canary.
    pub judged: u64,
    /// Where the last judged range's baseline came from, or why there was none.
    pub baseline: Option<String>,
    /// A baseline source the canary assignment names that cannot be used, and why (the
    /// other sources still judge).
    pub baseline_error: Option<String>,
}

impl Default for RunStatus {
    fn default() -> Self {
        RunStatus {
            role: Role::Idle,
            spec_error: None,
            assignment_error: None,
            scrapes: 0,
            judged: 0,
            baseline: None,
            baseline_error: None,
        }
    }
}

/// The status shared by the loop's tasks.
#[derive(Debug, Default)]
pub(crate) struct SharedStatus(Mutex<RunStatus>);

impl SharedStatus {
    pub(crate) fn update(&self, change: impl FnOnce(&mut RunStatus)) {
        change(&mut self.0.lock().unwrap_or_else(PoisonError::into_inner));
    }

    fn get(&self) -> RunStatus {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

/// A running sidecar: its address, its served state and its status. Dropping it does not stop
/// it; call [`Running::stop`].
#[derive(Debug)]
pub struct Running {
    addr: SocketAddr,
    state: Arc<State>,
    status: Arc<SharedStatus>,
    stop: watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Running {
    /// The address the HTTP surface listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The state the HTTP surface serves (window, verdict, metrics).
    pub fn state(&self) -> &Arc<State> {
        &self.state
    }

    /// The run loop's status now.
    pub fn status(&self) -> RunStatus {
        self.status.get()
    }

    /// Stops the loop, the assignment poll and the server, and waits for them.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        for task in self.tasks {
            let _ = task.await;
        }
    }
}

/// Starts the sidecar on the current tokio runtime: the HTTP surface on `args.listen` (port 0
/// picks a free one, see [`Running::addr`]), the assignment poll and the tick loop.
pub async fn start(args: &RunArgs) -> Result<Running> {
    start_with(args, Box::new(StoredLogLevel::new("info"))).await
}

/// [`start`], with the admin route's log level driving `log_level`.
pub async fn start_with(args: &RunArgs, log_level: Box<dyn LogLevelControl>) -> Result<Running> {
    let tls = args.tls()?;
    let controller = args.controller(&tls)?;
    crate::scrape::Scraper::new(crate::scrape::ScrapeConfig::new(&args.target)).map_err(|e| {
        RunError::Setting {
            setting: "RIPCORD_TARGET",
            reason: e.to_string(),
        }
    })?;
    let state = Arc::new(State::with_log_level(
        crate::serve::MAX_WINDOW_OBSERVATIONS,
        log_level,
    ));
    let listen_error = |source| RunError::Listen {
        addr: args.listen,
        source,
    };
    let server = Server::bind(args.listen, Arc::clone(&state))
        .await
        .map_err(listen_error)?;
    let addr = server.local_addr().map_err(listen_error)?;
    let status = Arc::new(SharedStatus::default());
    let (stop, stopped) = watch::channel(false);
    let (assigned, assignments) = watch::channel(Assignment::idle());
    let mut tasks = Vec::new();
    tasks.push(tokio::spawn(server.serve(until(stopped.clone()))));
    if let Some(base) = &controller {
        let poll = assignment::Poll::new(base, args, &tls, Arc::clone(&status));
        tasks.push(tokio::spawn(poll.run(assigned, until(stopped.clone()))));
    }
    let tick = tick::Loop::new(
        args,
        controller,
        tls,
        Arc::clone(&state),
        Arc::clone(&status),
        assignments,
    )?;
    tasks.push(tokio::spawn(tick.run(until(stopped))));
    Ok(Running {
        addr,
        state,
        status,
        stop,
        tasks,
    })
}

/// Completes once `stopped` turns true (or its sender is gone).
async fn until(mut stopped: watch::Receiver<bool>) {
    let _ = stopped.wait_for(|stop| *stop).await;
}

/// Runs `ripcord-sidecar run` until SIGTERM or Ctrl-C, then stops its tasks: logs to stderr at
/// the level of `RUST_LOG` (default `info`), changeable through the loopback-only admin route.
pub fn run(args: &RunArgs) -> Result<()> {
    let log_level = install_logging();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(RunError::Runtime)?;
    runtime.block_on(async {
        let stop = crate::shutdown::signal();
        let running = start_with(args, log_level).await?;
        tracing::info!(addr = %running.addr(), target = %args.target, "sidecar running");
        stop.await;
        tracing::info!("stopping on signal");
        running.stop().await;
        Ok(())
    })
}

/// Installs the stderr log subscriber behind a reloadable filter and returns its control (a
/// remembered level only, when a subscriber is already installed). One JSON object per line,
/// like the controller's, so `kubectl logs` shows no colour codes and log shippers read fields.
fn install_logging() -> Box<dyn LogLevelControl> {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let (layer, handle) = reload::Layer::new(filter);
    let installed = tracing_subscriber::registry()
        .with(layer)
        .with(
            tracing_subscriber::fmt::layer()
                .json()
                .with_writer(std::io::stderr),
        )
        .try_init();
    match installed {
        Ok(()) => Box::new(handle),
        Err(_) => Box::new(StoredLogLevel::new("info")),
    }
}

impl RunError {
    /// Whether the error is the user's settings (exit 64) rather than the machine's.
    pub fn is_bad_input(&self) -> bool {
        matches!(self, RunError::Ca(_) | RunError::Setting { .. })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::{CommandFactory, FromArgMatches, Parser};

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        run: RunArgs,
    }

    /// The defaults alone: the `RIPCORD_*` variables of the environment the tests run in are
    /// not read.
    fn defaults() -> RunArgs {
        let command = Cli::command().mut_args(|arg| arg.env(None::<&str>));
        let matches = command
            .try_get_matches_from(["ripcord-sidecar"])
            .expect("defaults");
        Cli::from_arg_matches(&matches).expect("defaults").run
    }

    #[test]
    fn defaults_follow_the_container_contract() {
        let args = defaults();
        assert_eq!(args.target, "http://127.0.0.1:8080/metrics");
        assert_eq!(args.listen.to_string(), "0.0.0.0:9464");
        assert_eq!(
            args.annotations_file,
            PathBuf::from("/etc/ripcord/podinfo/annotations")
        );
        assert_eq!(
            args.token_file,
            PathBuf::from("/var/run/secrets/ripcord/token")
        );
        assert_eq!(args.interval, Duration::from_secs(1));
    }

    #[test]
    fn alpha_must_lie_strictly_between_0_and_1() {
        let command = || Cli::command().mut_args(|arg| arg.env(None::<&str>));
        for bad in ["0", "1.5", "NaN", "1", "-0.1"] {
            let parsed = command().try_get_matches_from(["ripcord-sidecar", "--alpha", bad]);
            assert!(parsed.is_err(), "--alpha {bad} was accepted");
        }
        let matches = command()
            .try_get_matches_from(["ripcord-sidecar", "--alpha", "0.05"])
            .expect("a good alpha");
        let args = Cli::from_arg_matches(&matches).expect("args").run;
        assert_eq!(args.alpha, 0.05);
    }

    #[test]
    fn controller_urls_are_checked_and_trimmed() {
        let tls = Tls::with_web_roots().expect("web roots");
        let parse = |url: &str| {
            let mut args = defaults();
            args.controller_url = Some(url.to_string());
            args.controller(&tls)
        };
        let base = parse("https://ripcord-controller.ripcord.svc:8443/").expect("https");
        assert_eq!(
            base.as_deref(),
            Some("https://ripcord-controller.ripcord.svc:8443")
        );
        let refused = parse("ripcord-controller:8443").expect_err("no scheme");
        assert!(refused.is_bad_input(), "{refused}");
        assert!(refused.to_string().contains("RIPCORD_CONTROLLER_URL"));
    }
}
