//! The evidence report printed when a watch ends: what was compared, per metric the counts and
//! rates, the effect with its always-valid interval, the e-value against its threshold, the
//! decision and when, and what was done and when.

use std::io::{self, Write};

use super::act::Performed;
use super::engine::{WatchPlan, Watched};
use crate::explain::{decision_line, number, since_first_tick, write_metric};
use crate::verdict::{Decision, Verdict};

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
    let when = |at_ms: i64| since_start(verdict, at_ms);
    for metric in &verdict.metrics {
        write_metric(out, metric, &when)?;
    }
    writeln!(out, "\n{}", decision_line(verdict, &when))?;
    write_actions(out, verdict, &watched.performed)
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

/// `+4.25 s after the first judged tick`.
fn since_start(verdict: &Verdict, at_ms: i64) -> String {
    since_first_tick(verdict, at_ms, "after the first judged tick")
}
