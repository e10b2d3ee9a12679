//! The watch loop: scrape both arms each interval, judge, print a progress line, act on a fail.

use std::io::Write;
use std::time::{Duration, Instant};

use tokio::sync::oneshot;
use tokio::time::MissedTickBehavior;

use super::act::{self, Performed};
use super::decide::{Action, Step, next_step};
use super::{Result, WatchError, now_ms};
use crate::explain::{decision_word, number};
use crate::judge::{Judge, JudgeConfig};
use crate::scrape::{ScrapeConfig, Scraper, scrape_tick};
use crate::spec::WatchSpec;
use crate::verdict::{Decision, Verdict};
use crate::window::{Extractor, Observation};

/// Everything one watch needs.
#[derive(Debug, Clone)]
pub struct WatchPlan {
    /// The watched metrics.
    pub spec: WatchSpec,
    /// The canary's metrics URL.
    pub target: String,
    /// The baseline's metrics URL.
    pub baseline: String,
    /// Time between scrapes.
    pub interval: Duration,
    /// Family-wise false-alarm bound.
    pub alpha: f64,
    /// Guard period: an inconclusive watch ends after it (exit 2).
    pub guard: Duration,
    /// Baseline-only ticks before the canary counts; they inform the latency edges and the
    /// baseline rates, never the canary's evidence.
    pub history_ticks: u32,
    /// What to do on a regression, in order.
    pub actions: Vec<Action>,
    /// Bound on each action.
    pub action_timeout: Duration,
}

/// How a watch ended.
#[derive(Debug, Clone)]
pub struct Watched {
    /// The last verdict, with its evidence.
    pub verdict: Verdict,
    /// The actions run on a regression (empty otherwise).
    pub performed: Vec<Performed>,
    /// Baseline-only ticks used as history.
    pub history_ticks: u32,
}

/// One scraper and extractor per arm.
struct Arms {
    canary: (Scraper, Extractor),
    baseline: (Scraper, Extractor),
}

impl Arms {
    fn new(plan: &WatchPlan) -> Result<Arms> {
        let arm = |url: &str| -> Result<(Scraper, Extractor)> {
            let scraper = Scraper::new(ScrapeConfig::new(url)).map_err(WatchError::Target)?;
            Ok((scraper, Extractor::new(&plan.spec)))
        };
        Ok(Arms {
            canary: arm(&plan.target)?,
            baseline: arm(&plan.baseline)?,
        })
    }

    /// Scrapes both arms at once; both observations carry the same time.
    async fn scrape(&mut self) -> (Observation, Observation) {
        let at_ms = now_ms();
        let (canary_scraper, canary_extractor) = &mut self.canary;
        let (baseline_scraper, baseline_extractor) = &mut self.baseline;
        tokio::join!(
            scrape_tick(canary_scraper, canary_extractor, at_ms),
            scrape_tick(baseline_scraper, baseline_extractor, at_ms)
        )
    }
}

/// Runs the watch. With `history_until`, the baseline-only history lasts until it fires (or is
/// dropped), plus one scrape to take in what came before it; without, `plan.history_ticks`.
pub async fn watch(
    plan: &WatchPlan,
    history_until: Option<oneshot::Receiver<()>>,
    progress: &mut dyn Write,
) -> Result<Watched> {
    let mut arms = Arms::new(plan)?;
    let mut judge = Judge::new(&plan.spec, JudgeConfig { alpha: plan.alpha });
    let mut ticker = tokio::time::interval(plan.interval);
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    ticker.tick().await;
    arms.scrape().await;
    let history_ticks = history(
        &mut arms,
        &mut judge,
        &mut ticker,
        plan,
        history_until,
        progress,
    )
    .await?;
    let started = Instant::now();
    loop {
        ticker.tick().await;
        let (canary, baseline) = arms.scrape().await;
        let decision = judge.tick(&canary, &baseline);
        let verdict = judge.verdict();
        progress_line(progress, &verdict, started.elapsed())?;
        match next_step(decision, started.elapsed(), plan.guard) {
            Step::Continue => continue,
            Step::Finish(_) => {
                return Ok(Watched {
                    verdict,
                    performed: Vec::new(),
                    history_ticks,
                });
            }
            Step::Act => {
                let json =
                    serde_json::to_string(&verdict).map_err(|e| WatchError::Output(e.into()))?;
                let performed = act::perform(&plan.actions, &json, plan.action_timeout).await;
                return Ok(Watched {
                    verdict,
                    performed,
                    history_ticks,
                });
            }
        }
    }
}

/// The baseline-only phase; returns how many ticks it took.
async fn history(
    arms: &mut Arms,
    judge: &mut Judge,
    ticker: &mut tokio::time::Interval,
    plan: &WatchPlan,
    mut until: Option<oneshot::Receiver<()>>,
    progress: &mut dyn Write,
) -> Result<u32> {
    let mut ticks = 0;
    loop {
        let last = match &mut until {
            Some(receiver) => !matches!(
                receiver.try_recv(),
                Err(oneshot::error::TryRecvError::Empty)
            ),
            None if ticks >= plan.history_ticks => return Ok(ticks),
            None => false,
        };
        ticker.tick().await;
        let (_, baseline) = arms.scrape().await;
        judge.baseline_history(&baseline);
        ticks += 1;
        writeln!(progress, "  history: baseline-only tick {ticks}").map_err(WatchError::Output)?;
        if last {
            return Ok(ticks);
        }
    }
}

/// `+2.3 s  tick 9  errors e=12/300  latency e=1.1/300  conversion e=0.8/300  → inconclusive`.
fn progress_line(out: &mut dyn Write, verdict: &Verdict, elapsed: Duration) -> Result<()> {
    let metrics: Vec<String> = verdict
        .metrics
        .iter()
        .map(|m| {
            let mark = match m.decision {
                Decision::Fail => " FAIL",
                Decision::Pass => " ok",
                Decision::Inconclusive => "",
            };
            format!(
                "{} e={}/{}{mark}",
                m.name,
                number(m.e_value),
                number(m.threshold)
            )
        })
        .collect();
    writeln!(
        out,
        "  +{:>5.1} s  tick {:>3}  {}  -> {}",
        elapsed.as_secs_f64(),
        verdict.ticks,
        metrics.join("  "),
        decision_word(verdict.decision),
    )
    .map_err(WatchError::Output)
}
