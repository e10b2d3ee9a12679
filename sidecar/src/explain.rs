//! Evidence in plain words: the per-metric lines and the decision line that `replay`'s summary and
//! `watch`'s report print for the person at a terminal, from a [`Verdict`].

use std::io::{self, Write};

use crate::verdict::{ArmCounts, Decision, MetricEvidence, Verdict};

/// Says when something happened, given its Unix time in milliseconds (`+4.25 s after ...`).
pub type When<'a> = &'a dyn Fn(i64) -> String;

/// `+{seconds} {origin}` for a time `at_ms`, measured from the verdict's first judged tick.
pub fn since_first_tick(verdict: &Verdict, at_ms: i64, origin: &str) -> String {
    let first_ms = verdict.at_ms - verdict.elapsed_ms;
    format!("+{} {origin}", seconds(at_ms - first_ms))
}

/// Writes one metric's evidence: decision, counts per arm, latency edge, effect and interval,
/// e-value against threshold, skipped ticks and the reason.
pub fn write_metric(
    out: &mut impl Write,
    metric: &MetricEvidence,
    when: When<'_>,
) -> io::Result<()> {
    let sign = if metric.direction == "min" { "-" } else { "+" };
    let decided = metric
        .decided_at_ms
        .map_or_else(String::new, |at| format!(" at {}", when(at)));
    writeln!(
        out,
        "\n{}: {}{decided}  ({}, {} {sign}{})",
        metric.name,
        decision_word(metric.decision),
        metric.signal,
        metric.direction,
        percent(metric.tolerance),
    )?;
    writeln!(out, "  canary:   {}", counts(&metric.canary))?;
    if let Some(absolute) = &metric.absolute {
        let bound = if metric.direction == "min" {
            "at least"
        } else {
            "at most"
        };
        let counted = match (absolute.edge, absolute.pass_edge) {
            (Some(edge), pass) => format!(
                ": the share above the bucket edge {} (to pass: {}) must stay {bound} {}",
                number(edge),
                optional(pass),
                percent(absolute.rate_limit)
            ),
            (None, _) => String::new(),
        };
        let limit = if metric.signal == "latency" {
            number(absolute.limit)
        } else {
            percent(absolute.limit)
        };
        writeln!(
            out,
            "  limit:    no baseline; judged on the canary alone, {bound} {limit}{counted}"
        )?;
    } else {
        writeln!(out, "  baseline: {}", counts(&metric.baseline))?;
    }
    if let Some(latency) = &metric.latency {
        writeln!(
            out,
            "  latency:  p{} canary {} vs baseline {}; counted above the baseline's bucket edge {} \
             ({} of baseline requests below it)",
            number(latency.quantile * 100.0),
            optional(latency.canary_quantile),
            optional(latency.baseline_quantile),
            number(latency.edge),
            percent(latency.baseline_share_below_edge),
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
        effect.upper.map_or_else(|| String::from("∞"), number),
    )?;
    writeln!(
        out,
        "  how sure: e-value {} vs threshold {} (alpha {} for this metric); {} tick(s) skipped as untrustworthy",
        number(metric.e_value),
        number(metric.threshold),
        number(metric.alpha),
        metric.skipped_ticks,
    )?;
    writeln!(out, "  why:      {}", metric.reason)
}

/// `Decision: REGRESSION (exit 1) at +4.25 s ...: reason`.
pub fn decision_line(verdict: &Verdict, when: When<'_>) -> String {
    let at = match verdict.decided_at_ms {
        Some(at) => format!(" at {}", when(at)),
        None => format!(" after {}", seconds(verdict.elapsed_ms)),
    };
    format!(
        "Decision: {} (exit {}){at}: {}",
        decision_word(verdict.decision),
        verdict.decision.exit_code(),
        verdict.reason
    )
}

/// The word for a decision.
pub fn decision_word(decision: Decision) -> &'static str {
    match decision {
        Decision::Pass => "PASS",
        Decision::Fail => "REGRESSION",
        Decision::Inconclusive => "INCONCLUSIVE",
    }
}

/// Milliseconds as seconds with two decimals: `4.25 s`.
pub fn seconds(ms: i64) -> String {
    format!("{:.2} s", ms as f64 / 1000.0)
}

/// `events / trials = rate%`, or `(no trials)`.
pub fn counts(arm: &ArmCounts) -> String {
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

/// A share as a percentage.
pub fn percent(share: f64) -> String {
    format!("{}%", number(share * 100.0))
}

/// A number, or `n/a`.
pub fn optional(value: Option<f64>) -> String {
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
    fn counts_say_when_there_were_no_trials() {
        let none = ArmCounts {
            events: 0.0,
            trials: 0.0,
            rate: None,
        };
        assert_eq!(counts(&none), "0 / 0 (no trials)");
        let some = ArmCounts {
            events: 3.0,
            trials: 200.0,
            rate: Some(0.015),
        };
        assert_eq!(counts(&some), "3 / 200 = 1.500%");
    }
}
