//! The evidence report printed when a watch ends: what was compared, per metric the counts and
//! rates, the effect with its always-valid interval, the e-value against its threshold, the
//! decision and when, and what was done and when.

use std::io::{self, Write};

use super::act::Performed;
use super::engine::{WatchPlan, Watched};
use crate::verdict::{ArmCounts, Decision, MetricEvidence, Verdict};

/// Writes the report of a finished watch.
pub fn write(out: &mut impl Write, plan: &WatchPlan, watched: &Watched) -> io::Result<()> {
    let verdict = &watched.verdict;
    writeln!(out, "\nRipcord evidence report")?;
    writeln!(out, "Compared canary  {}", plan.target)?;
    writeln!(out, "against baseline {}", plan.baseline)?;
    writeln!(
        out,
        "{} tick(s) every {} ms after {} baseline-only history tick(s); alpha {} across {} metric(s).",
        verdict.ticks,
        plan.interval.as_millis(),
        watched.history_ticks,
        number(verdict.alpha),
        verdict.metrics.len(),
    )?;
    for metric in &verdict.metrics {
        write_metric(out, metric, verdict)?;
    }
    writeln!(out, "\n{}", decision_line(verdict))?;
    write_actions(out, verdict, &watched.performed)
}

fn write_metric(
    out: &mut impl Write,
    metric: &MetricEvidence,
    verdict: &Verdict,
) -> io::Result<()> {
    let sign = if metric.direction == "min" { "-" } else { "+" };
    let when = metric.decided_at_ms.map_or_else(String::new, |at| {
        format!(" at {}", since_start(verdict, at))
    });
    writeln!(
        out,
        "\n{}: {}{when}  ({}, {} {sign}{})",
        metric.name,
        decision_word(metric.decision),
        metric.signal,
        metric.direction,
        percent(metric.tolerance),
    )?;
    writeln!(out, "  canary:   {}", counts(&metric.canary))?;
    writeln!(out, "  baseline: {}", counts(&metric.baseline))?;
    if let Some(latency) = &metric.latency {
        writeln!(
            out,
            "  latency:  p{} canary {} s vs baseline {} s; counted above the baseline's edge {} s",
            number(latency.quantile * 100.0),
            optional(latency.canary_quantile),
            optional(latency.baseline_quantile),
            number(latency.edge),
        )?;
    }
    let effect = &metric.effect;
    writeln!(
        out,
        "  effect:   {} {} ({} always-valid interval [{}, {}])",
        effect.measure.replace('_', " "),
        optional(effect.estimate),
        percent(effect.confidence),
        optional(effect.lower),
        optional(effect.upper),
    )?;
    writeln!(
        out,
        "  how sure: e-value {} vs threshold {} (alpha {} for this metric)",
        number(metric.e_value),
        number(metric.threshold),
        number(metric.alpha),
    )?;
    writeln!(out, "  why:      {}", metric.reason)
}

fn decision_line(verdict: &Verdict) -> String {
    let when = match verdict.decided_at_ms {
        Some(at) => format!(" at {}", since_start(verdict, at)),
        None => format!(" after {}", seconds(verdict.elapsed_ms)),
    };
    format!(
        "Decision: {} (exit {}){when}: {}",
        decision_word(verdict.decision),
        verdict.decision.exit_code(),
        verdict.reason
    )
}

fn write_actions(
    out: &mut impl Write,
    verdict: &Verdict,
    performed: &[Performed],
) -> io::Result<()> {
    if verdict.decision != Decision::Fail {
        return writeln!(out, "Actions: none (no regression).");
    }
    if performed.is_empty() {
        return writeln!(out, "Actions: none configured.");
    }
    writeln!(out, "Actions:")?;
    for done in performed {
        let outcome = match &done.outcome {
            Ok(detail) => format!("ok: {detail}"),
            Err(error) => format!("FAILED: {error}"),
        };
        writeln!(
            out,
            "  {}: {} ({outcome})",
            since_start(verdict, done.at_ms),
            done.action.describe(),
        )?;
    }
    Ok(())
}

/// The word for a decision.
pub fn decision_word(decision: Decision) -> &'static str {
    match decision {
        Decision::Pass => "PASS",
        Decision::Fail => "REGRESSION",
        Decision::Inconclusive => "INCONCLUSIVE",
    }
}

/// `+4.2 s after the first judged tick`.
fn since_start(verdict: &Verdict, at_ms: i64) -> String {
    let first_ms = verdict.at_ms - verdict.elapsed_ms;
    format!("+{} after the first judged tick", seconds(at_ms - first_ms))
}

fn seconds(ms: i64) -> String {
    format!("{:.2} s", ms as f64 / 1000.0)
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

/// Whole numbers without decimals, others with four significant digits, very large or very
/// small ones in scientific notation.
pub fn number(value: f64) -> String {
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
        assert_eq!(number(300.0), "300");
        assert_eq!(number(12.3456), "12.35");
        assert_eq!(number(7.927e57), "7.927e57");
        assert_eq!(percent(0.06), "6%");
    }

    #[test]
    fn counts_say_when_there_were_no_trials() {
        let none = ArmCounts {
            events: 0.0,
            trials: 0.0,
            rate: None,
        };
        assert_eq!(counts(&none), "0 / 0 (no trials)");
        let some = ArmCounts {
            events: 6.0,
            trials: 100.0,
            rate: Some(0.06),
        };
        assert_eq!(counts(&some), "6 / 100 = 6%");
    }
}
