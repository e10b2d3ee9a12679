//! `ripcord-sidecar demo`: the whole story on one machine, loopback only, in a few seconds.
//!
//! Two built-in services ([`service`]) start on ephemeral loopback ports: v1 healthy, v2 with a
//! regression in errors (1 % → 6 %), latency (median × 1.5) and conversion (30 % → 20 %). Seeded
//! load ([`load`]) drives about 100 checkouts a second through each; v1 first serves a burst that
//! stands for its traffic before the release (the baseline's history). A flagd file with the
//! `new-checkout` flag on is written in a temporary directory, then the standalone watch loop
//! ([`crate::watch`]) runs on both with the design's example spec. The demo succeeds (exit 0)
//! only when the watch found the regression *and* the flag file shows the flag off.

pub mod app;
pub mod load;
pub mod service;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::verdict::Decision;
use crate::watch::decide::Action;
use crate::watch::{WatchError, WatchPlan, flagd, report, watch};
use service::{HEALTHY, REGRESSED, Service};

/// The watch spec of the design's example annotation.
pub const DEMO_SPEC: &str = "\
errors:     http_requests_total{code=~\"5..\"} / http_requests_total   max +50%
latency:    http_request_duration_seconds                             p99 max +20%
conversion: checkout_completed_total / checkout_started_total         min -5%
";

/// The flag the demo turns off.
pub const DEMO_FLAG: &str = "new-checkout";

/// Checkouts per second through each version.
pub const RATE_PER_S: f64 = 100.0;

/// Checkouts v1 serves before the release: enough for the p99 latency edge.
pub const HISTORY_CHECKOUTS: u32 = 3000;

/// Time between scrapes.
pub const INTERVAL: Duration = Duration::from_millis(250);

/// The demo gives up (inconclusive) after this long.
pub const GUARD: Duration = Duration::from_secs(45);

/// Why the demo could not run.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    /// The services, the flag file or the load could not be set up.
    #[error("setting up the demo: {0}")]
    Setup(String),
    /// The watch failed.
    #[error(transparent)]
    Watch(#[from] WatchError),
}

/// Result of the demo.
pub type Result<T, E = DemoError> = std::result::Result<T, E>;

/// What the demo found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DemoOutcome {
    /// The watch's decision.
    pub decision: Decision,
    /// Whether the flag file shows the flag off afterwards.
    pub flag_off: bool,
    /// The flag file.
    pub flag_file: PathBuf,
}

impl DemoOutcome {
    /// 0 when the regression was found and the flag is off, 1 otherwise.
    pub fn exit_code(&self) -> u8 {
        u8::from(!(self.decision == Decision::Fail && self.flag_off))
    }
}

/// The flagd file the demo starts from: `new-checkout` on, with targeting, beside another flag.
pub fn initial_flags() -> serde_json::Value {
    serde_json::json!({
        "$schema": "https://flagd.dev/schema/v0/flags.json",
        "flags": {
            DEMO_FLAG: {
                "state": "ENABLED",
                "variants": {"on": true, "off": false},
                "defaultVariant": "on",
                "targeting": {"fractional": [["on", 100], ["off", 0]]}
            },
            "dark-mode": {
                "state": "ENABLED",
                "variants": {"on": true, "off": false},
                "defaultVariant": "off"
            }
        }
    })
}

fn setup<E: std::fmt::Display>(what: &str) -> impl FnOnce(E) -> DemoError + '_ {
    move |e| DemoError::Setup(format!("{what}: {e}"))
}

fn write_flag_file() -> Result<PathBuf> {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let dir = std::env::temp_dir().join(format!("ripcord-demo-{}-{nanos}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(setup("creating a temporary directory"))?;
    let path = dir.join("flags.json");
    let text = serde_json::to_vec_pretty(&initial_flags()).map_err(setup("encoding the flags"))?;
    std::fs::write(&path, text).map_err(setup("writing the flag file"))?;
    Ok(path)
}

/// Runs the demo: progress on `progress`, the story and the report on `out`.
pub fn run(out: &mut impl Write, progress: &mut (dyn Write + Send)) -> Result<DemoOutcome> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(setup("starting the runtime"))?;
    runtime.block_on(run_async(out, progress))
}

async fn run_async(out: &mut impl Write, progress: &mut (dyn Write + Send)) -> Result<DemoOutcome> {
    let started = Instant::now();
    let v1 = Arc::new(Service::new(HEALTHY, 1).map_err(setup("v1"))?);
    let v2 = Arc::new(Service::new(REGRESSED, 2).map_err(setup("v2"))?);
    let v1_addr = service::start(v1).await.map_err(setup("starting v1"))?;
    let v2_addr = service::start(v2).await.map_err(setup("starting v2"))?;
    let flag_file = write_flag_file()?;
    let plan = demo_plan(v1_addr, v2_addr, &flag_file)?;
    let say = |e: std::io::Error| DemoError::Watch(WatchError::Output(e));
    writeln!(out, "Ripcord demo: v1 (healthy) on http://{v1_addr}, v2 (errors 1%→6%, median latency ×1.5, conversion 30%→20%) on http://{v2_addr}").map_err(say)?;
    writeln!(out, "Flag `{DEMO_FLAG}` is ON in {}", flag_file.display()).map_err(say)?;
    writeln!(
        out,
        "Watching every {} ms with:\n{DEMO_SPEC}",
        INTERVAL.as_millis()
    )
    .map_err(say)?;
    out.flush().map_err(say)?;
    let (released, history_until) = tokio::sync::oneshot::channel();
    let load = tokio::spawn(drive_load(v1_addr, v2_addr, released));
    let watched = watch(&plan, Some(history_until), progress).await;
    load.abort();
    let watched = watched?;
    report::write(out, &plan, &watched).map_err(say)?;
    let flag_off = flagd::read(&flag_file).is_ok_and(|doc| flagd::is_off(&doc, DEMO_FLAG));
    let outcome = DemoOutcome {
        decision: watched.verdict.decision,
        flag_off,
        flag_file,
    };
    write_conclusion(out, &outcome, started.elapsed()).map_err(say)?;
    Ok(outcome)
}

fn demo_plan(
    v1: std::net::SocketAddr,
    v2: std::net::SocketAddr,
    flag_file: &Path,
) -> Result<WatchPlan> {
    let spec = crate::spec::parse_watch(DEMO_SPEC).map_err(setup("the demo's spec"))?;
    Ok(WatchPlan {
        spec,
        target: format!("http://{v2}/metrics"),
        baseline: format!("http://{v1}/metrics"),
        interval: INTERVAL,
        alpha: 0.01,
        guard: GUARD,
        history_ticks: 0,
        actions: vec![Action::FlagOff {
            path: flag_file.to_path_buf(),
            key: DEMO_FLAG.to_string(),
        }],
        action_timeout: crate::watch::act::ACTION_TIMEOUT,
    })
}

/// v1's pre-release burst after the watch's first scrape, then steady load through both.
async fn drive_load(
    v1: std::net::SocketAddr,
    v2: std::net::SocketAddr,
    released: tokio::sync::oneshot::Sender<()>,
) -> std::result::Result<(), String> {
    let mut baseline = load::Client::connect(v1).await?;
    let canary = load::Client::connect(v2).await?;
    tokio::time::sleep(INTERVAL).await;
    load::burst(&mut baseline, HISTORY_CHECKOUTS).await?;
    let _ = released.send(());
    load::steady(&mut [baseline, canary], RATE_PER_S).await
}

fn write_conclusion(
    out: &mut impl Write,
    outcome: &DemoOutcome,
    took: Duration,
) -> std::io::Result<()> {
    let flag = if outcome.flag_off { "OFF" } else { "still ON" };
    writeln!(
        out,
        "\nFlag `{DEMO_FLAG}` is now {flag} in {} (demo took {:.1} s).",
        outcome.flag_file.display(),
        took.as_secs_f64()
    )?;
    let verdict = if outcome.exit_code() == 0 {
        "Demo succeeded: the regression was caught and the flag turned off."
    } else {
        "Demo FAILED: the regression was not caught or the flag was not turned off."
    };
    writeln!(out, "{verdict}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_demo_spec_and_flags_are_usable() {
        let spec = crate::spec::parse_watch(DEMO_SPEC).expect("spec parses");
        assert_eq!(spec.metrics.len(), 3);
        let off = flagd::flag_off(&initial_flags(), DEMO_FLAG, "demo").expect("can turn off");
        assert!(flagd::is_off(&off, DEMO_FLAG));
        assert!(!flagd::is_off(&initial_flags(), DEMO_FLAG));
    }

    #[test]
    fn only_a_caught_regression_with_the_flag_off_succeeds() {
        let outcome = |decision, flag_off| DemoOutcome {
            decision,
            flag_off,
            flag_file: PathBuf::new(),
        };
        assert_eq!(outcome(Decision::Fail, true).exit_code(), 0);
        assert_eq!(outcome(Decision::Fail, false).exit_code(), 1);
        assert_eq!(outcome(Decision::Inconclusive, true).exit_code(), 1);
        assert_eq!(outcome(Decision::Pass, false).exit_code(), 1);
    }
}
