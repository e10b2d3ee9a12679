//! What to do on a verdict: the pure part of the watch loop, apart from any I/O.
//!
//! - `fail` → act now (the actions of [`planned_actions`], in order), report, exit 1;
//! - `pass` → exit 0 at once: the pass test is anytime-valid, so stopping at the first pass keeps
//!   its guarantee (a release that should be guarded longer is watched by the controller);
//! - `inconclusive` → keep watching until the guard period (`--for`) is over, then exit 2.

use std::path::PathBuf;
use std::time::Duration;

use crate::verdict::Decision;

/// The next step of the loop after a tick.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Scrape and judge again after the interval.
    Continue,
    /// A regression: run the actions, then report and stop with exit code 1.
    Act,
    /// Stop without acting, with this decision.
    Finish(Decision),
}

/// The step after a tick that gave `decision`, `elapsed` into a guard period of `guard`.
pub fn next_step(decision: Decision, elapsed: Duration, guard: Duration) -> Step {
    match decision {
        Decision::Fail => Step::Act,
        Decision::Pass => Step::Finish(Decision::Pass),
        Decision::Inconclusive if elapsed >= guard => Step::Finish(Decision::Inconclusive),
        Decision::Inconclusive => Step::Continue,
    }
}

/// One local action on a regression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Turn flag `key` off in the flagd file at `path`.
    FlagOff {
        /// The flagd flag-definition file.
        path: PathBuf,
        /// The flag's key.
        key: String,
    },
    /// POST the verdict JSON to this URL.
    Webhook(String),
    /// Run this shell command with the verdict JSON on stdin.
    Command(String),
}

impl Action {
    /// A short description for the report.
    pub fn describe(&self) -> String {
        match self {
            Action::FlagOff { path, key } => {
                format!("turned flag `{key}` off in {}", path.display())
            }
            Action::Webhook(url) => format!("posted the verdict to {url}"),
            Action::Command(command) => format!("ran `{command}` with the verdict on stdin"),
        }
    }
}

/// The actions configured, in the order they run: the flag first (it stops the harm), then the
/// webhook (it tells people), then the command.
pub fn planned_actions(
    flag: Option<(PathBuf, String)>,
    webhook: Option<String>,
    command: Option<String>,
) -> Vec<Action> {
    let flag = flag.map(|(path, key)| Action::FlagOff { path, key });
    flag.into_iter()
        .chain(webhook.map(Action::Webhook))
        .chain(command.map(Action::Command))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const GUARD: Duration = Duration::from_secs(600);

    #[test]
    fn a_fail_acts_at_once_even_at_the_first_tick() {
        assert_eq!(next_step(Decision::Fail, Duration::ZERO, GUARD), Step::Act);
        assert_eq!(next_step(Decision::Fail, GUARD * 2, GUARD), Step::Act);
    }

    #[test]
    fn a_pass_finishes_without_acting() {
        let step = next_step(Decision::Pass, Duration::from_secs(3), GUARD);
        assert_eq!(step, Step::Finish(Decision::Pass));
    }

    #[test]
    fn inconclusive_keeps_watching_until_the_guard_period_ends() {
        let before = next_step(
            Decision::Inconclusive,
            GUARD - Duration::from_millis(1),
            GUARD,
        );
        assert_eq!(before, Step::Continue);
        let at = next_step(Decision::Inconclusive, GUARD, GUARD);
        assert_eq!(at, Step::Finish(Decision::Inconclusive));
    }

    #[test]
    fn actions_run_flag_then_webhook_then_command() {
        let actions = planned_actions(
            Some((PathBuf::from("flags.json"), "new-checkout".to_string())),
            Some("http://127.0.0.1:9/hook".to_string()),
            Some("cat".to_string()),
        );
        assert!(matches!(
            actions.as_slice(),
            [
                Action::FlagOff { .. },
                Action::Webhook(_),
                Action::Command(_)
            ]
        ));
        assert!(planned_actions(None, None, None).is_empty());
        let only_command = planned_actions(None, None, Some("true".to_string()));
        assert_eq!(only_command, vec![Action::Command("true".to_string())]);
    }
}
