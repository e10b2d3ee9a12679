//! Runs a replay: loads the spec and recordings, checks them, feeds the judge tick by tick and
//! writes the verdict lines and the summary.

use std::collections::HashSet;
use std::io::Write;
use std::path::PathBuf;

use super::align::{self, Alignment, align, combine};
use super::error::{ReplayError, Result};
use super::recording::{Content, Recording};
use super::summary;
use crate::expo::{self, Limits};
use crate::judge::{Judge, JudgeConfig};
use crate::spec::{Signal, WatchSpec};
use crate::verdict::{Decision, Verdict};
use crate::window::{Extractor, Observation, Unavailable};

/// Arguments of `ripcord-sidecar replay`.
#[derive(Debug, Clone, clap::Args)]
#[command(group = clap::ArgGroup::new("watch_source").required(true).args(["watch", "watch_file", "scenario"]))]
pub struct ReplayArgs {
    /// A scenario directory holding `baseline.rec`, `canary.rec` and `watch.txt`, as in
    /// `testdata/scenarios/`; stands for `--baseline`, `--canary` and `--watch-file`.
    #[arg(long, value_name = "DIR", conflicts_with_all = ["baseline", "canary"])]
    pub scenario: Option<PathBuf>,
    /// Recording of the baseline (the previous version), `# SCRAPE <unix-ms>` blocks. Without
    /// one the canary is judged alone against the spec's absolute limits (`limit 2%`).
    #[arg(long, value_name = "FILE")]
    pub baseline: Option<PathBuf>,
    /// Recording of the canary (the new version), `# SCRAPE <unix-ms>` blocks.
    #[arg(long, value_name = "FILE", required_unless_present = "scenario")]
    pub canary: Option<PathBuf>,
    /// The watch spec, written as in the `ripcord.dev/watch` annotation.
    #[arg(long, value_name = "SPEC")]
    pub watch: Option<String>,
    /// A file holding the watch spec.
    #[arg(long, value_name = "FILE")]
    pub watch_file: Option<PathBuf>,
    /// Family-wise bound on the probability of ever raising a false alarm.
    #[arg(long, value_name = "ALPHA", default_value_t = 0.01, env = "RIPCORD_ALPHA", value_parser = parse_alpha)]
    pub alpha: f64,
    /// Print no human summary, only the JSON lines.
    #[arg(long, short)]
    pub quiet: bool,
}

impl ReplayArgs {
    /// The baseline recording's path, from `--baseline` or the scenario directory; `None`
    /// without either (the canary is then judged alone).
    pub fn baseline_path(&self) -> Option<PathBuf> {
        (self.scenario.is_some() || self.baseline.is_some())
            .then(|| self.scenario_file("baseline.rec", &self.baseline))
    }

    /// The canary recording's path, from `--canary` or the scenario directory.
    pub fn canary_path(&self) -> PathBuf {
        self.scenario_file("canary.rec", &self.canary)
    }

    /// The watch-spec file's path, from `--watch-file` or the scenario directory, if any.
    pub fn watch_file_path(&self) -> Option<PathBuf> {
        match &self.scenario {
            Some(dir) => Some(dir.join("watch.txt")),
            None => self.watch_file.clone(),
        }
    }

    fn scenario_file(&self, name: &str, explicit: &Option<PathBuf>) -> PathBuf {
        match (&self.scenario, explicit) {
            (Some(dir), _) => dir.join(name),
            (None, Some(path)) => path.clone(),
            (None, None) => PathBuf::new(),
        }
    }
}

/// Accepts an alpha strictly between 0 and 1.
fn parse_alpha(text: &str) -> std::result::Result<f64, String> {
    match text.parse::<f64>() {
        Ok(alpha) if alpha > 0.0 && alpha < 1.0 => Ok(alpha),
        Ok(_) => Err(format!(
            "alpha must be between 0 and 1 (exclusive), got {text}"
        )),
        Err(err) => Err(format!("alpha `{text}` is not a number: {err}")),
    }
}

/// Replays a release: JSON verdict lines to `out`, the human summary (unless `quiet`) to stderr.
pub fn run(args: &ReplayArgs, out: &mut impl Write) -> Result<Decision> {
    run_with_summary(args, out, &mut std::io::stderr().lock())
}

/// Replays a release: JSON verdict lines to `out`, the human summary (unless `quiet`) to `summary`.
pub fn run_with_summary(
    args: &ReplayArgs,
    out: &mut impl Write,
    summary: &mut impl Write,
) -> Result<Decision> {
    let (source_name, spec) = load_spec(args)?;
    let baseline = args
        .baseline_path()
        .map(|path| Recording::read(&path))
        .transpose()?;
    let canary = Recording::read(&args.canary_path())?;
    let recordings: Vec<&Recording> = baseline.iter().chain([&canary]).collect();
    let mut seen = HashSet::new();
    for recording in &recordings {
        collect_series_names(recording, &mut seen)?;
    }
    check_metrics_exist(&spec, &seen, &source_name, &recordings)?;
    let replayed = replay(&spec, args.alpha, baseline.as_ref(), &canary, out)?;
    if !args.quiet {
        summary::write(summary, &replayed, baseline.as_ref(), &canary)
            .map_err(ReplayError::Output)?;
    }
    Ok(replayed.verdict.decision)
}

/// Reads and parses the watch spec; returns where it came from (for messages) and the spec.
fn load_spec(args: &ReplayArgs) -> Result<(String, WatchSpec)> {
    let (source_name, text) = match (&args.watch, args.watch_file_path()) {
        (Some(text), _) => (String::from("--watch"), text.clone()),
        (None, Some(path)) => {
            let text = std::fs::read_to_string(&path).map_err(|source| ReplayError::Read {
                path: path.clone(),
                source,
            })?;
            (path.display().to_string(), text)
        }
        (None, None) => (String::from("--watch"), String::new()),
    };
    match crate::spec::parse_watch(&text) {
        Ok(spec) => Ok((source_name, spec)),
        Err(error) => Err(ReplayError::Spec {
            source_name,
            message: error.to_string(),
        }),
    }
}

/// Parses every scrape of a recording (refusing the first bad one, by file line and column) and
/// collects the sample names it holds.
fn collect_series_names(recording: &Recording, seen: &mut HashSet<String>) -> Result<()> {
    let limits = Limits::default();
    for scrape in &recording.scrapes {
        let Content::Exposition(range) = &scrape.content else {
            continue;
        };
        let parsed = expo::parse(recording.exposition(range), &limits, |sample| {
            if !seen.contains(sample.name) {
                seen.insert(sample.name.to_string());
            }
        });
        if let Err(err) = parsed {
            let line = if err.line == 0 {
                scrape.line
            } else {
                scrape.line + err.line
            };
            return Err(ReplayError::Exposition {
                path: recording.path.clone(),
                line,
                column: err.column,
                at_ms: scrape.at_ms,
                message: err.kind.to_string(),
            });
        }
    }
    Ok(())
}

/// The series names a metric reads, which must appear in a recording: both counters of a
/// ratio, a histogram's buckets (its family name with `_bucket`). The spec always names them.
fn series_names(signal: &Signal) -> Vec<String> {
    match signal {
        Signal::Ratio {
            numerator,
            denominator,
        } => vec![numerator.metric.clone(), denominator.metric.clone()],
        Signal::Latency { histogram, .. } => vec![format!("{}_bucket", histogram.metric)],
    }
}

/// A metric whose series name is in neither recording is a typo, not missing data. (Label
/// matchers that match nothing are fine: an app with no errors yet has no `code="500"` series.)
fn check_metrics_exist(
    spec: &WatchSpec,
    seen: &HashSet<String>,
    source_name: &str,
    recordings: &[&Recording],
) -> Result<()> {
    for metric in &spec.metrics {
        if let Some(series) = series_names(&metric.signal)
            .into_iter()
            .find(|name| !seen.contains(name))
        {
            return Err(ReplayError::UnknownMetric {
                source_name: source_name.to_string(),
                line: metric.line,
                metric: metric.name.clone(),
                series,
                recordings: recordings
                    .iter()
                    .map(|r| r.path.display().to_string())
                    .collect::<Vec<_>>()
                    .join(" or "),
            });
        }
    }
    Ok(())
}

/// What a replay found, for the summary.
#[derive(Debug)]
pub struct Replayed {
    /// How the baseline's scrapes were matched to the canary's.
    pub alignment: Alignment,
    /// The final verdict.
    pub verdict: Verdict,
}

/// One arm's recording and its extractor, turning scrapes into observations in order.
struct Arm<'r> {
    recording: &'r Recording,
    extractor: Extractor,
}

impl<'r> Arm<'r> {
    fn new(spec: &WatchSpec, recording: &'r Recording) -> Arm<'r> {
        Arm {
            recording,
            extractor: Extractor::new(spec),
        }
    }

    /// The observation of scrape `index`; a failed scrape makes every metric unavailable.
    fn observe(&mut self, index: usize) -> Option<Observation> {
        let scrape = self.recording.scrapes.get(index)?;
        Some(match &scrape.content {
            Content::Exposition(range) => self
                .extractor
                .observe(scrape.at_ms, self.recording.exposition(range)),
            Content::Failed(message) => self.extractor.failed(scrape.at_ms, message),
        })
    }
}

/// Reason given for every tick of a replay without a baseline recording.
const NO_BASELINE_RECORDING: &str = "no baseline recording given";

/// Feeds the judge the aligned recordings and writes one JSON verdict line per tick; without a
/// baseline recording, judges the canary alone.
fn replay(
    spec: &WatchSpec,
    alpha: f64,
    baseline: Option<&Recording>,
    canary: &Recording,
    out: &mut impl Write,
) -> Result<Replayed> {
    let times = |r: &Recording| r.scrapes.iter().map(|s| s.at_ms).collect::<Vec<_>>();
    let alignment = align(&times(canary), &baseline.map(times).unwrap_or_default());
    let mut judge = Judge::new(spec, JudgeConfig { alpha });
    let mut base_arm = baseline.map(|recording| Arm::new(spec, recording));
    let mut canary_arm = Arm::new(spec, canary);
    for index in alignment.history.clone() {
        if let Some(observation) = base_arm.as_mut().and_then(|arm| arm.observe(index)) {
            judge.baseline_history(&observation);
        }
    }
    let mut verdict = judge.verdict();
    for (tick, baseline_scrapes) in alignment.ticks.iter().enumerate() {
        let Some(canary_obs) = canary_arm.observe(tick) else {
            break;
        };
        let Some(base_arm) = base_arm.as_mut() else {
            judge.tick_alone(&canary_obs, NO_BASELINE_RECORDING);
            verdict = judge.verdict();
            write_verdict(out, &verdict)?;
            continue;
        };
        let parts: Vec<Observation> = baseline_scrapes
            .clone()
            .filter_map(|i| base_arm.observe(i))
            .collect();
        let baseline_obs = combine(&parts, spec.metrics.len()).unwrap_or_else(|| {
            let why = format!(
                "no baseline scrape within {} ms of the canary's scrape at {} ms",
                alignment.half_interval_ms, canary_obs.at_ms
            );
            align::unavailable(
                canary_obs.at_ms,
                spec.metrics.len(),
                &Unavailable::ScrapeFailed(why),
            )
        });
        judge.tick(&canary_obs, &baseline_obs);
        verdict = judge.verdict();
        write_verdict(out, &verdict)?;
    }
    Ok(Replayed { alignment, verdict })
}

fn write_verdict(out: &mut impl Write, verdict: &Verdict) -> Result<()> {
    let line = serde_json::to_string(verdict).map_err(|err| ReplayError::Output(err.into()))?;
    writeln!(out, "{line}").map_err(ReplayError::Output)
}
