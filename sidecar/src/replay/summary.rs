//! The human summary of a replay: what was compared, how big the effect, how sure, what was
//! decided and when — in plain words, for the person reading a terminal.

use std::io::{self, Write};

use super::Replayed;
use super::recording::{Content, Recording};
use crate::explain::{decision_line, seconds, since_first_tick, write_metric};
use crate::verdict::Verdict;

/// Writes the summary of a replay.
pub(super) fn write(
    out: &mut impl Write,
    replayed: &Replayed,
    baseline: Option<&Recording>,
    canary: &Recording,
) -> io::Result<()> {
    let verdict = &replayed.verdict;
    let alignment = &replayed.alignment;
    match baseline {
        Some(baseline) => writeln!(
            out,
            "Replayed canary {} ({}) against baseline {} ({}, {} before the canary started, used \
             as pre-release history).",
            canary.path.display(),
            describe(canary),
            baseline.path.display(),
            describe(baseline),
            alignment.history.len(),
        )?,
        None => writeln!(
            out,
            "Replayed canary {} ({}) alone, without a baseline recording: metrics with an \
             absolute limit are judged against it, the others stay inconclusive.",
            canary.path.display(),
            describe(canary),
        )?,
    }
    writeln!(
        out,
        "{} ticks, one per canary scrape; baseline scrapes matched within {} ms; alpha {} across {} metric(s).",
        verdict.ticks,
        alignment.half_interval_ms,
        verdict.alpha,
        verdict.metrics.len(),
    )?;
    let when = |at_ms: i64| elapsed(verdict, at_ms);
    for metric in &verdict.metrics {
        write_metric(out, metric, &when)?;
    }
    writeln!(out, "\n{}", decision_line(verdict, &when))
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

/// `+12.00 s after the canary's first scrape`.
fn elapsed(verdict: &Verdict, at_ms: i64) -> String {
    since_first_tick(verdict, at_ms, "after the canary's first scrape")
}
