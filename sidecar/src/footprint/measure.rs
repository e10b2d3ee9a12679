//! The measured loop: once a second, scrape the app over HTTP and hand the body to a [`Step`]
//! (the sidecar's parse + window update, or another parser), timing both parts, then read the
//! process's memory and CPU time.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use tokio::time::MissedTickBehavior;

use super::{Result, proc};
use crate::scrape::{ScrapeConfig, Scraper};
use crate::spec::parse_watch;
use crate::window::{Extractor, MetricDelta, Window};

/// The watch spec of DESIGN.md's example annotation.
pub const WATCH_SPEC: &str = r#"
errors:     http_requests_total{code=~"5.."} / http_requests_total   max +50%
latency:    http_request_duration_seconds                             p99 max +20%
conversion: checkout_completed_total / checkout_started_total         min -5%
"#;

/// Observations one window keeps: an hour at one scrape a second.
const WINDOW_CAPACITY: usize = 3600;

/// What happens to a scraped body each tick.
pub trait Step {
    /// Handles the body scraped at `at_ms`; `Ok(true)` if the tick gave usable figures (every
    /// watched metric a delta, or a full parse), `Err` with the reason if the body was refused.
    fn process(&mut self, at_ms: i64, body: &[u8]) -> std::result::Result<bool, String>;
}

/// The sidecar's path: [`Extractor::observe`] with [`WATCH_SPEC`], pushed into a bounded
/// [`Window`].
#[derive(Debug)]
pub struct RipcordStep {
    extractor: Extractor,
    window: Window,
}

impl RipcordStep {
    /// The step for [`WATCH_SPEC`] and a window of an hour of ticks.
    pub fn new() -> Result<Self> {
        Ok(RipcordStep {
            extractor: Extractor::new(&parse_watch(WATCH_SPEC)?),
            window: Window::new(WINDOW_CAPACITY),
        })
    }
}

impl Step for RipcordStep {
    fn process(&mut self, at_ms: i64, body: &[u8]) -> std::result::Result<bool, String> {
        let observation = self.extractor.observe(at_ms, body);
        let usable = observation
            .metrics
            .iter()
            .all(|m| !matches!(m, MetricDelta::Unavailable(_)));
        self.window.push(observation);
        Ok(usable)
    }
}

/// The figures of one measured run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Figures {
    /// Measured ticks (a warm-up tick before them is not counted).
    pub ticks: usize,
    /// Ticks whose step gave usable figures.
    pub usable_ticks: usize,
    /// Ticks whose scrape or step failed.
    pub failed_ticks: usize,
    /// Size of the last body scraped, in bytes.
    pub body_bytes: usize,
    /// Median of scrape + step per tick, in milliseconds.
    pub total_median_ms: f64,
    /// 99th percentile of scrape + step per tick, in milliseconds.
    pub total_p99_ms: f64,
    /// Median of the step alone per tick, in milliseconds.
    pub step_median_ms: f64,
    /// 99th percentile of the step alone per tick, in milliseconds.
    pub step_p99_ms: f64,
    /// Resident memory at the end of the run, in KiB (`VmRSS`).
    pub rss_kib: u64,
    /// Peak resident memory of the process, in KiB (`VmHWM`).
    pub hwm_kib: u64,
    /// CPU time over the measured ticks, as a percentage of one core over their wall time.
    pub cpu_percent: f64,
}

/// Scrapes `target` once a second for `seconds` ticks (after one warm-up tick), handing each body
/// to `step`, and returns the figures. Runs on the caller's runtime.
pub async fn measure(target: &str, seconds: usize, step: &mut impl Step) -> Result<Figures> {
    let scraper = Scraper::new(ScrapeConfig::new(target))?;
    let mut ticks = tokio::time::interval(Duration::from_secs(1));
    ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    ticks.tick().await;
    let mut body_bytes = 0;
    tick(&scraper, step, &mut body_bytes).await;
    let (mut totals, mut steps) = (Vec::new(), Vec::new());
    let (mut usable_ticks, mut failed_ticks) = (0, 0);
    let cpu_before = proc::cpu_seconds()?;
    let wall = Instant::now();
    for _ in 0..seconds {
        ticks.tick().await;
        match tick(&scraper, step, &mut body_bytes).await {
            Some((total, step_time, usable)) => {
                totals.push(total);
                steps.push(step_time);
                usable_ticks += usize::from(usable);
            }
            None => failed_ticks += 1,
        }
    }
    let cpu_percent = (proc::cpu_seconds()? - cpu_before) / wall.elapsed().as_secs_f64() * 100.0;
    let memory = proc::memory()?;
    Ok(Figures {
        ticks: seconds,
        usable_ticks,
        failed_ticks,
        body_bytes,
        total_median_ms: percentile(&mut totals, 0.5),
        total_p99_ms: percentile(&mut totals, 0.99),
        step_median_ms: percentile(&mut steps, 0.5),
        step_p99_ms: percentile(&mut steps, 0.99),
        rss_kib: memory.rss_kib,
        hwm_kib: memory.hwm_kib,
        cpu_percent,
    })
}

/// One tick: (scrape + step ms, step ms, usable), or `None` if the scrape or the step failed.
async fn tick(
    scraper: &Scraper,
    step: &mut impl Step,
    body_bytes: &mut usize,
) -> Option<(f64, f64, bool)> {
    let started = Instant::now();
    let body = scraper.scrape().await.ok()?;
    let parsing = Instant::now();
    let usable = step.process(unix_ms(), &body).ok()?;
    let done = Instant::now();
    *body_bytes = body.len();
    Some((millis(done - started), millis(done - parsing), usable))
}

fn unix_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

fn millis(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// The `q` quantile (nearest rank) of `values`, sorted in place; NaN when there are none.
pub fn percentile(values: &mut [f64], q: f64) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    values.sort_by(f64::total_cmp);
    let rank = (q * values.len() as f64).ceil() as usize;
    values[rank.clamp(1, values.len()) - 1]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::footprint::SyntheticApp;

    #[test]
    fn percentiles_are_nearest_rank() {
        let mut values: Vec<f64> = (1..=100).rev().map(f64::from).collect();
        assert_eq!(percentile(&mut values, 0.5), 50.0);
        assert_eq!(percentile(&mut values, 0.99), 99.0);
        assert_eq!(percentile(&mut [3.0], 0.99), 3.0);
        assert!(percentile(&mut [], 0.5).is_nan());
    }

    #[test]
    fn the_sidecar_step_finds_every_watched_metric_in_the_app() {
        let mut app = SyntheticApp::new(10_000, 1);
        let mut step = RipcordStep::new().unwrap();
        assert!(!step.process(0, app.render().as_bytes()).unwrap());
        app.advance();
        assert!(step.process(1_000, app.render().as_bytes()).unwrap());
        assert_eq!(step.window.len(), 2);
    }
}
