//! The benchmark's one table and a check line per bar of the issue.

use std::collections::HashMap;
use std::fmt::Write as _;

use super::bench::{BenchResults, EARLY_MARKS_S, GroupKey, Summary, summarise};
use super::policy::PolicyKind;
use super::policy::ripcord::ALPHA;
use super::scenario::{Scenario, Traffic};
use super::wald::scenario_bound;

/// Read-only views over a run's results.
pub struct Report<'a> {
    results: &'a BenchResults,
    groups: HashMap<GroupKey, Vec<Option<u32>>>,
}

fn secs(v: Option<u32>) -> String {
    v.map_or_else(|| ">1h".to_string(), |s| s.to_string())
}

fn pct(v: Option<f64>) -> String {
    v.map_or_else(|| "n/a".to_string(), |x| format!("{:.2}%", 100.0 * x))
}

fn ratio(num: Option<u32>, den: Option<f64>) -> String {
    match (num, den) {
        (Some(n), Some(d)) if d > 0.0 => format!("{:.3}", f64::from(n) / d),
        (None, _) => "∞".to_string(),
        _ => "-".to_string(),
    }
}

impl<'a> Report<'a> {
    /// A report over `results`.
    pub fn new(results: &'a BenchResults) -> Report<'a> {
        Report {
            results,
            groups: results.grouped(),
        }
    }

    /// A/A false alarms per release-hour of `policy` on `watch` at traffic `t`.
    pub fn false_alarm_rate(&self, t: usize, watch: &str, policy: PolicyKind) -> Option<f64> {
        let times = self.groups.get(&(t, None, watch.to_string(), policy))?;
        Some(summarise(times).fired_share / self.horizon_hours())
    }

    /// How long each simulated release runs, in hours.
    pub fn horizon_hours(&self) -> f64 {
        f64::from(self.results.config.horizon_s) / 3600.0
    }

    /// A/A releases of `policy` on `watch` at traffic `t`: how many raised an alarm, of how many.
    pub fn false_alarm_count(
        &self,
        t: usize,
        watch: &str,
        policy: PolicyKind,
    ) -> Option<(usize, usize)> {
        let times = self.groups.get(&(t, None, watch.to_string(), policy))?;
        Some((times.iter().filter(|t| t.is_some()).count(), times.len()))
    }

    /// Detection summary of `policy` on `watch` in scenario `s` at traffic `t`.
    pub fn detection(
        &self,
        t: usize,
        s: usize,
        watch: &str,
        policy: PolicyKind,
    ) -> Option<Summary> {
        self.groups
            .get(&(t, Some(s), watch.to_string(), policy))
            .map(|v| summarise(v))
    }

    /// Wald's bound for scenario `s` at traffic `t`, seconds.
    pub fn wald(&self, t: usize, s: usize) -> Option<f64> {
        let scenario: &Scenario = self.results.regressions.get(s)?;
        scenario_bound(
            scenario.regressing?,
            &scenario.canary,
            &scenario.baseline,
            Traffic::levels()[t],
            ALPHA,
        )
    }

    /// The fastest deployable reference (median) on `watch` whose A/A false-alarm rate is no higher
    /// than Ripcord's; the oracle SPRT knows the answer and is never one.
    pub fn best_reference(
        &self,
        t: usize,
        s: usize,
        watch: &str,
    ) -> Option<(PolicyKind, Option<u32>)> {
        let ours = self.false_alarm_rate(t, watch, PolicyKind::Ripcord)?;
        PolicyKind::ALL
            .iter()
            .filter(|&&p| p != PolicyKind::Ripcord && p.is_deployable())
            .filter(|&&p| {
                self.false_alarm_rate(t, watch, p)
                    .is_some_and(|fa| fa <= ours)
            })
            .filter_map(|&p| self.detection(t, s, watch, p).map(|d| (p, d.median)))
            .min_by_key(|(_, m)| m.unwrap_or(u32::MAX))
    }

    fn cells(&self, t: usize, s: usize, watch: &str, policy: PolicyKind) -> String {
        let d = self.detection(t, s, watch, policy);
        format!(
            "{:>7} {:>5} {:>5} {:>5}",
            pct(self.false_alarm_rate(t, watch, policy)),
            d.map_or("-".to_string(), |d| secs(d.median)),
            d.map_or("-".to_string(), |d| secs(d.p90)),
            d.map_or("-".to_string(), |d| format!(
                "{:.0}%",
                100.0 * d.fired_share
            )),
        )
    }

    fn ratio_to_best(&self, t: usize, s: usize, watch: &str) -> String {
        let ours = self
            .detection(t, s, watch, PolicyKind::Ripcord)
            .and_then(|d| d.median);
        match self.best_reference(t, s, watch) {
            None => "no ref≤FA".to_string(),
            Some((p, None)) => format!("{}:never", p.name()),
            Some((p, Some(m))) => format!("{}:{}", p.name(), ratio(ours, Some(f64::from(m)))),
        }
    }

    /// The one table: a row per traffic level × scenario × policy.
    pub fn table(&self) -> String {
        let mut out = String::new();
        let policies = &self.results.config.policies;
        let _ = writeln!(
            out,
            "{:<6} {:<22} {:<11} | {:>7} {:>5} {:>5} {:>5} | {:>7} {:>5} {:>5} {:>5} | {:>6} | {:>11} | R/best ref (alone; all)",
            "rps",
            "scenario",
            "policy",
            "AA FA/h",
            "med",
            "p90",
            "det",
            "AA FA/h",
            "med",
            "p90",
            "det",
            "Wald",
            "R/bound"
        );
        let _ = writeln!(
            out,
            "{:<42} | {:^25} | {:^25} |",
            "", "regressing metric alone", "all three metrics together"
        );
        for (t, level) in Traffic::levels().iter().enumerate() {
            for (s, scenario) in self.results.regressions.iter().enumerate() {
                let alone = scenario
                    .alone
                    .as_ref()
                    .map_or(String::new(), |w| w.name.clone());
                let all = scenario.all.name.clone();
                let bound = self.wald(t, s);
                for &p in policies {
                    let mut line = format!(
                        "{:<6} {:<22} {:<11} | {} | {} | {:>6}",
                        level.label(),
                        scenario.name,
                        p.name(),
                        self.cells(t, s, &alone, p),
                        self.cells(t, s, &all, p),
                        bound.map_or("-".to_string(), |b| format!("{b:.1}")),
                    );
                    if p == PolicyKind::Ripcord {
                        let med = |w: &str| self.detection(t, s, w, p).and_then(|d| d.median);
                        let _ = write!(
                            line,
                            " | {:>5};{:>5} | {}; {}",
                            ratio(med(&alone), bound),
                            ratio(med(&all), bound),
                            self.ratio_to_best(t, s, &alone),
                            self.ratio_to_best(t, s, &all)
                        );
                    }
                    let _ = writeln!(out, "{line}");
                }
            }
        }
        out
    }

    /// Ripcord's A/A decisions at 5+5 in the first minutes, per "all" watch.
    pub fn early_lines(&self) -> Vec<String> {
        let mut lines = Vec::new();
        let thin = 1;
        for watch in self.all_watch_names() {
            for second in EARLY_MARKS_S {
                if let Some((pass, inconclusive, fail)) =
                    self.results.early_shares(thin, &watch, second)
                {
                    lines.push(format!(
                        "A/A 5+5 ripcord {watch} at {second:>3}s: inconclusive {:.1}%  pass {:.1}%  fail {:.1}%",
                        100.0 * inconclusive,
                        100.0 * pass,
                        100.0 * fail
                    ));
                }
            }
        }
        lines
    }

    /// Scenario `s`, if any.
    pub fn scenario(&self, s: usize) -> Option<&Scenario> {
        self.results.regressions.get(s)
    }

    /// Name of scenario `s`.
    pub fn scenario_name(&self, s: usize) -> String {
        self.scenario(s)
            .map_or_else(String::new, |x| x.name.clone())
    }

    /// Number of regression scenarios.
    pub fn scenario_count(&self) -> usize {
        self.results.regressions.len()
    }

    /// Ripcord's A/A (pass, inconclusive, fail) shares on `watch` at `second` at traffic `t`.
    pub fn early_share(&self, t: usize, watch: &str, second: u32) -> Option<(f64, f64, f64)> {
        self.results.early_shares(t, watch, second)
    }

    /// Names of the "all three metrics" watches, sorted.
    pub fn all_watch_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .results
            .regressions
            .iter()
            .map(|s| s.all.name.clone())
            .collect();
        names.sort();
        names.dedup();
        names
    }
}
