//! Standalone mode: `ripcord-sidecar watch` compares a canary with a baseline over HTTP, without
//! Kubernetes, and acts locally on a regression.
//!
//! Each interval it scrapes both metrics URLs, judges the tick ([`crate::judge::Judge`]) and
//! prints a progress line on stderr. On the first `fail` it turns the flag off in a flagd file,
//! posts the verdict to a webhook and runs a command (each bounded in time, tried once, in that
//! order), prints the evidence report on stdout and exits 1. The first `pass` exits 0 at once (the
//! pass test is anytime-valid, so stopping there keeps its guarantee); still inconclusive when
//! the guard period (`--for`) ends exits 2; bad input exits 64.
//!
//! [`decide`] is the pure decision, [`flagd`] the pure flag edit, [`act`] the I/O edge,
//! [`engine`] the loop and [`report`] the evidence report.

pub mod act;
pub mod decide;
pub mod engine;
pub mod flagd;
pub mod report;

use std::path::PathBuf;
use std::time::Duration;

pub use engine::{WatchPlan, Watched, watch};

/// Why a watch could not run.
#[derive(Debug, thiserror::Error)]
pub enum WatchError {
    /// The watch spec does not parse.
    #[error("watch spec ({source_name}): {message}")]
    Spec {
        /// `--watch` or the file it came from.
        source_name: String,
        /// Line, column and what is wrong.
        message: String,
    },
    /// A file could not be read.
    #[error("{path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A metrics URL is not usable.
    #[error(transparent)]
    Target(crate::scrape::ScrapeError),
    /// The flag cannot be turned off in the flagd file (checked before watching).
    #[error(transparent)]
    Flag(#[from] flagd::FlagdError),
    /// The async runtime could not start.
    #[error("starting the runtime: {0}")]
    Runtime(std::io::Error),
    /// Progress or the report could not be written.
    #[error("writing output: {0}")]
    Output(std::io::Error),
}

impl WatchError {
    /// Whether the error is the user's input (exit 64) rather than the machine's.
    pub fn is_bad_input(&self) -> bool {
        !matches!(self, WatchError::Runtime(_) | WatchError::Output(_))
    }
}

/// Result of a watch.
pub type Result<T, E = WatchError> = std::result::Result<T, E>;

/// Arguments of `ripcord-sidecar watch`.
#[derive(Debug, Clone, clap::Args)]
#[command(group = clap::ArgGroup::new("watch_source").required(true).args(["watch", "watch_file"]))]
pub struct WatchArgs {
    /// The canary's metrics URL (plain http://).
    #[arg(long, value_name = "URL")]
    pub target: String,
    /// The baseline's metrics URL (plain http://).
    #[arg(long, value_name = "URL")]
    pub baseline: String,
    /// The watch spec, written as in the `ripcord.dev/watch` annotation.
    #[arg(long, value_name = "SPEC")]
    pub watch: Option<String>,
    /// A file holding the watch spec.
    #[arg(long, value_name = "FILE")]
    pub watch_file: Option<PathBuf>,
    /// Time between scrapes (`250ms`, `1s`, `2m`).
    #[arg(long, value_name = "DURATION", default_value = "1s", value_parser = parse_duration)]
    pub interval: Duration,
    /// Family-wise bound on the probability of ever raising a false alarm.
    #[arg(long, value_name = "ALPHA", default_value_t = 0.01, env = "RIPCORD_ALPHA", value_parser = parse_alpha)]
    pub alpha: f64,
    /// Guard period: still inconclusive after it, the watch ends with exit 2.
    #[arg(long = "for", value_name = "DURATION", default_value = "10m", value_parser = parse_duration)]
    pub guard: Duration,
    /// Baseline-only scrapes before the canary counts (history for latency edges and rates).
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub history_ticks: u32,
    /// A flagd flag-definition file in which to turn `--flag` off on a regression.
    #[arg(long, value_name = "FILE", requires = "flag")]
    pub flagd_file: Option<PathBuf>,
    /// The flag to turn off in `--flagd-file`.
    #[arg(long, value_name = "KEY", requires = "flagd_file")]
    pub flag: Option<String>,
    /// A plain http:// URL to POST the verdict JSON to on a regression.
    #[arg(long, value_name = "URL")]
    pub webhook: Option<String>,
    /// A shell command to run on a regression, with the verdict JSON on its stdin.
    #[arg(long, value_name = "CMD")]
    pub command: Option<String>,
}

/// Parses `250ms`, `1s`, `1.5s`, `10m` or `1h`.
pub fn parse_duration(text: &str) -> std::result::Result<Duration, String> {
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .ok_or_else(|| format!("`{text}` has no unit (ms, s, m or h)"))?;
    let (number, unit) = text.split_at(split);
    let value: f64 = number
        .parse()
        .map_err(|_| format!("`{text}`: `{number}` is not a number"))?;
    let seconds = match unit {
        "ms" => value / 1000.0,
        "s" => value,
        "m" => value * 60.0,
        "h" => value * 3600.0,
        _ => return Err(format!("`{text}`: unit `{unit}` is not ms, s, m or h")),
    };
    if !(0.001..=86_400.0 * 7.0).contains(&seconds) {
        return Err(format!("`{text}` is not between 1 ms and 7 days"));
    }
    Ok(Duration::from_secs_f64(seconds))
}

/// An alpha strictly between 0 and 1, else why not (the `--alpha` value parser).
pub(crate) fn parse_alpha(text: &str) -> std::result::Result<f64, String> {
    match text.parse::<f64>() {
        Ok(alpha) if alpha > 0.0 && alpha < 1.0 => Ok(alpha),
        _ => Err(format!(
            "alpha must be a number between 0 and 1 (exclusive), got {text}"
        )),
    }
}

/// The current time in Unix milliseconds.
pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Builds the plan from the arguments: parses the spec and checks the flag can be turned off.
pub fn plan(args: &WatchArgs) -> Result<WatchPlan> {
    let (source_name, text) = match (&args.watch, &args.watch_file) {
        (Some(text), _) => ("--watch".to_string(), text.clone()),
        (None, Some(path)) => {
            let text = std::fs::read_to_string(path).map_err(|source| WatchError::Read {
                path: path.clone(),
                source,
            })?;
            (path.display().to_string(), text)
        }
        (None, None) => ("--watch".to_string(), String::new()),
    };
    let spec = crate::spec::parse_watch(&text).map_err(|e| WatchError::Spec {
        source_name,
        message: e.to_string(),
    })?;
    let flag = args.flagd_file.clone().zip(args.flag.clone());
    if let Some((path, key)) = &flag {
        flagd::flag_off(&flagd::read(path)?, key, &path.display().to_string())?;
    }
    Ok(WatchPlan {
        spec,
        target: args.target.clone(),
        baseline: args.baseline.clone(),
        interval: args.interval,
        alpha: args.alpha,
        guard: args.guard,
        history_ticks: args.history_ticks,
        actions: decide::planned_actions(flag, args.webhook.clone(), args.command.clone()),
        action_timeout: act::ACTION_TIMEOUT,
    })
}

/// Runs `ripcord-sidecar watch`: progress on stderr, the report on stdout; returns the decision.
pub fn run(args: &WatchArgs) -> Result<crate::verdict::Decision> {
    let plan = plan(args)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(WatchError::Runtime)?;
    let watched = runtime.block_on(watch(&plan, None, &mut std::io::stderr()))?;
    report::write(&mut std::io::stdout().lock(), &plan, &watched).map_err(WatchError::Output)?;
    Ok(watched.verdict.decision)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_take_the_usual_units() {
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("10m"), Ok(Duration::from_secs(600)));
        assert!(
            parse_duration("10")
                .expect_err("no unit")
                .contains("no unit")
        );
        assert!(
            parse_duration("3d")
                .expect_err("bad unit")
                .contains("unit `d`")
        );
        assert!(parse_duration("0s").is_err());
    }
}
