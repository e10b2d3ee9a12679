//! How long to wait after consecutive failed scrapes: exponential, capped, reset on success.

use super::Retry;
use std::time::Duration;

/// An exponential backoff policy for the scrape loop. Pure: it only counts consecutive failures
/// and computes delays, so the loop decides when to sleep.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backoff {
    /// Delay after the first failure that calls for backing off.
    pub initial: Duration,
    /// Longest delay, however many failures came before.
    pub max: Duration,
    failures: u32,
}

impl Default for Backoff {
    /// 1 s after the first failure, doubling to at most 16 s.
    fn default() -> Self {
        Backoff::new(Duration::from_secs(1), Duration::from_secs(16))
    }
}

impl Backoff {
    /// A policy starting at `initial` and doubling up to `max`.
    pub fn new(initial: Duration, max: Duration) -> Self {
        Backoff {
            initial,
            max,
            failures: 0,
        }
    }

    /// Consecutive failures since the last success.
    pub fn failures(&self) -> u32 {
        self.failures
    }

    /// The delay after `failures` consecutive failures: `initial · 2^(failures-1)`, capped at
    /// `max`; zero when nothing failed.
    pub fn delay_after(&self, failures: u32) -> Duration {
        if failures == 0 {
            return Duration::ZERO;
        }
        let doublings = (failures - 1).min(31);
        self.initial.saturating_mul(1u32 << doublings).min(self.max)
    }

    /// Records a failure and returns how long to wait before the next attempt. [`Retry::Now`]
    /// is honoured only for the first failure of a run, so a peer that keeps closing connections
    /// cannot make the loop spin.
    pub fn failed(&mut self, advice: Retry) -> Duration {
        self.failures = self.failures.saturating_add(1);
        if advice == Retry::Now && self.failures == 1 {
            return Duration::ZERO;
        }
        self.delay_after(self.failures)
    }

    /// Records a success: the next failure starts from `initial` again.
    pub fn succeeded(&mut self) {
        self.failures = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> Backoff {
        Backoff::new(Duration::from_millis(100), Duration::from_millis(1000))
    }

    #[test]
    fn delays_double_then_stay_at_the_cap() {
        let mut backoff = policy();
        let delays: Vec<u128> = (0..7)
            .map(|_| backoff.failed(Retry::BackOff).as_millis())
            .collect();
        assert_eq!(delays, [100, 200, 400, 800, 1000, 1000, 1000]);
        assert_eq!(backoff.failures(), 7);
    }

    #[test]
    fn a_success_resets_the_delay() {
        let mut backoff = policy();
        for _ in 0..5 {
            backoff.failed(Retry::BackOff);
        }
        backoff.succeeded();
        assert_eq!(backoff.failures(), 0);
        assert_eq!(backoff.failed(Retry::BackOff), Duration::from_millis(100));
    }

    #[test]
    fn retry_now_is_immediate_only_once_in_a_run() {
        let mut backoff = policy();
        assert_eq!(backoff.failed(Retry::Now), Duration::ZERO);
        assert_eq!(backoff.failed(Retry::Now), Duration::from_millis(200));
    }

    #[test]
    fn huge_failure_counts_neither_overflow_nor_exceed_the_cap() {
        let backoff = Backoff::new(Duration::from_secs(u64::MAX / 2), Duration::from_secs(30));
        assert_eq!(backoff.delay_after(u32::MAX), Duration::from_secs(30));
        assert_eq!(policy().delay_after(u32::MAX), Duration::from_millis(1000));
    }
}
