//! The human summary of a replay: what was compared, how big the effect, how sure, what was
//! decided and when — in plain words, for the person reading a terminal.

use std::io::{self, Write};

use super::Replayed;
use super::recording::{Content, Recording};
use crate::verdict::{ArmCounts, Decision, MetricEvidence, Verdict};

/// Writes the summary of a replay.
pub(super) fn write(
    out: &mut impl Write,
    replayed: &Replayed,
    baseline: &Recording,
    canary: &Recording,
) -> io::Result<()> {
    let verdict = &replayed.verdict;
    let alignment = &replayed.alignment;
    writeln!(
        out,
        "Replayed canary {} ({}) against baseline {} ({}, {} before the canary started, used as \
         pre-release history).",
        canary.path.display(),
        describe(canary),
        baseline.path.display(),
        describe(baseline),
        alignment.history.len(),
    )?;
    writeln!(
        out,
        "{} ticks, one per canary scrape; baseline scrapes matched within {} ms; alpha {} across {} metric(s).",
        verdict.ticks,
        alignment.half_interval_ms,
        verdict.alpha,
        verdict.metrics.len(),
    )?;
    for metric in &verdict.metrics {
        write_metric(out, metric, verdict)?;
    }
    writeln!(out, "{}", decision_line(verdict))
}

/// `N scrapes, F failed, over S s`.
fn describe(recording: &Recording) -> String {
    let failed = recording
        .scrapes
        .iter()
        .filter(|s| matches!(s.content, Content::Failed(_)))
        .count();
    let span = match (recording.scrapes.first(), recording.scrapes.last()) {
        (Some(first), Some(last)) => seconds(last.at_ms - first.at_ms),
        _ => String::from("0 s"),
    };
    format!(
        "{} scrapes, {failed} failed, over {span}",
        recording.scrapes.len()
    )
}

fn write_metric(
    out: &mut impl Write,
    metric: &MetricEvidence,
    verdict: &Verdict,
) -> io::Result<()> {
    let worse = if metric.direction == "min" {
        "lower is worse"
    } else {
        "higher is worse"
    };
    let sign = if metric.direction == "min" { "-" } else { "+" };
    let when = match metric.decided_at_ms {
        Some(at) => format!(" at {}", elapsed(verdict, at)),
        None => String::new(),
    };
    writeln!(
        out,
        "\n{}: {} ({}, {worse}, tolerance {sign}{}){when}",
        metric.name,
        decision_word(metric.decision),
        metric.signal,
        percent(metric.tolerance),
    )?;
    writeln!(out, "  canary:   {}", counts(&metric.canary))?;
    writeln!(out, "  baseline: {}", counts(&metric.baseline))?;
    if let Some(latency) = &metric.latency {
        writeln!(
            out,
            "  latency: counted above the baseline's bucket edge {} ({} of baseline requests below it); \
             p{} canary {} vs baseline {}",
            number(latency.edge),
            percent(latency.baseline_share_below_edge),
            number(latency.quantile * 100.0),
            optional(latency.canary_quantile),
            optional(latency.baseline_quantile),
        )?;
    }
    let effect = &metric.effect;
    writeln!(
        out,
        "  effect: {} {}, {} always-valid interval [{}, {}]",
        effect.measure.replace('_', " "),
        optional(effect.estimate),
        percent(effect.confidence),
        optional(effect.lower),
        optional(effect.upper),
    )?;
    writeln!(
        out,
        "  evidence: e-value {} against threshold {} (alpha {}), {} tick(s) skipped as untrustworthy",
        number(metric.e_value),
        number(metric.threshold),
        number(metric.alpha),
        metric.skipped_ticks,
    )?;
    writeln!(out, "  why: {}", metric.reason)
}

fn decision_line(verdict: &Verdict) -> String {
    let code = verdict.decision.exit_code();
    let when = match verdict.decided_at_ms {
        Some(at) => format!(" decided at {}", elapsed(verdict, at)),
        None => format!(" after {}", seconds(verdict.elapsed_ms)),
    };
    format!(
        "\nDecision: {} (exit {code}){when}: {}",
        decision_word(verdict.decision),
        verdict.reason
    )
}

fn decision_word(decision: Decision) -> &'static str {
    match decision {
        Decision::Pass => "PASS",
        Decision::Fail => "REGRESSION",
        Decision::Inconclusive => "INCONCLUSIVE",
    }
}

/// `+12.0 s after the canary's first scrape`.
fn elapsed(verdict: &Verdict, at_ms: i64) -> String {
    let first_ms = verdict.at_ms - verdict.elapsed_ms;
    format!(
        "+{} after the canary's first scrape",
        seconds(at_ms - first_ms)
    )
}

fn seconds(ms: i64) -> String {
    format!("{:.1} s", ms as f64 / 1000.0)
}

fn counts(arm: &ArmCounts) -> String {
    match arm.rate {
        Some(rate) => format!(
            "{} / {} = {}",
            number(arm.events),
            number(arm.trials),
            percent(rate)
        ),
        None => format!(
            "{} / {} (no trials)",
            number(arm.events),
            number(arm.trials)
        ),
    }
}

fn percent(share: f64) -> String {
    format!("{}%", number(share * 100.0))
}

fn optional(value: Option<f64>) -> String {
    value.map_or_else(|| String::from("n/a"), number)
}

/// Whole numbers without decimals, others with four significant digits, very large or small
/// ones in scientific notation.
fn number(value: f64) -> String {
    if !value.is_finite() {
        return value.to_string();
    }
    if value != 0.0 && !(1e-4..1e6).contains(&value.abs()) {
        return format!("{value:.3e}");
    }
    if value.fract() == 0.0 {
        return format!("{value:.0}");
    }
    let magnitude = value.abs().log10().floor() as i32;
    let decimals = (3 - magnitude).clamp(0, 12) as usize;
    format!("{value:.decimals$}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_read_naturally() {
        assert_eq!(number(4567.0), "4567");
        assert_eq!(number(2.6931), "2.693");
        assert_eq!(number(0.0123456), "0.01235");
        assert_eq!(number(1234.5678), "1235");
        assert_eq!(number(f64::INFINITY), "inf");
        assert_eq!(number(7.927e57), "7.927e57");
        assert_eq!(number(0.0), "0");
        assert_eq!(percent(0.5), "50%");
        assert_eq!(percent(0.02693), "2.693%");
    }

    #[test]
    fn counts_without_trials_say_so() {
        let arm = ArmCounts {
            events: 0.0,
            trials: 0.0,
            rate: None,
        };
        assert_eq!(counts(&arm), "0 / 0 (no trials)");
        let arm = ArmCounts {
            events: 3.0,
            trials: 200.0,
            rate: Some(0.015),
        };
        assert_eq!(counts(&arm), "3 / 200 = 1.500%");
    }
}
