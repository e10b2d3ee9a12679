//! A release's policy, read from its pod template's `ripcord.dev/*` annotations: what to watch
//! (parsed by [`ripcord_sidecar::spec`]), what to do on a regression and in which order, which
//! flag, whether to act or only observe, and for how long. Pure: annotations in, [`Policy`] or an
//! error naming the annotation out.

mod flag;

use std::collections::BTreeMap;
use std::time::Duration;

use ripcord_sidecar::spec::{SpecError, WatchSpec, parse_watch};

use crate::crd::{
    CONDITION_POLICY_VALID, Condition, ConditionStatus, Mode, PolicySnapshot, RegressionStep,
};

pub use flag::{FlagRef, FlagScheme};

/// The watch spec (required).
pub const ANNOTATION_WATCH: &str = "ripcord.dev/watch";
/// What to do on a regression: `flag`, `rollback`, or both in order (default `rollback`).
pub const ANNOTATION_ON_REGRESSION: &str = "ripcord.dev/on-regression";
/// The flag URL, required when the steps include `flag`.
pub const ANNOTATION_FLAG: &str = "ripcord.dev/flag";
/// `act` (default) or `observe`.
pub const ANNOTATION_MODE: &str = "ripcord.dev/mode";
/// The guard period after a release, e.g. `30m` (default [`DEFAULT_WATCH_FOR`]).
pub const ANNOTATION_WATCH_FOR: &str = "ripcord.dev/watch-for";

/// Guard period when `ripcord.dev/watch-for` is absent.
pub const DEFAULT_WATCH_FOR: Duration = Duration::from_secs(30 * 60);
/// Shortest accepted guard period.
pub const MIN_WATCH_FOR: Duration = Duration::from_secs(10);
/// Longest accepted guard period (a week).
pub const MAX_WATCH_FOR: Duration = Duration::from_secs(7 * 24 * 3600);
/// Longest accepted value of the short annotations (all but the watch spec and the flag URL).
const MAX_SHORT_VALUE_BYTES: usize = 256;

/// An annotation that cannot become a policy: which one, and what is wrong. The workload is
/// never touched because of it; report it (Event, condition) and wait for a corrected template.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// A required annotation is absent.
    #[error("annotation {annotation} is missing: {hint}")]
    Missing {
        /// The annotation's key.
        annotation: &'static str,
        /// What to write.
        hint: &'static str,
    },
    /// The watch spec does not parse.
    #[error("annotation {ANNOTATION_WATCH}: {0}")]
    Watch(#[source] SpecError),
    /// Another annotation has a value that is not understood.
    #[error("annotation {annotation}: {message}")]
    Invalid {
        /// The annotation's key.
        annotation: &'static str,
        /// What is wrong, with what is expected.
        message: String,
    },
}

impl Error {
    /// A CamelCase reason code for Events and conditions.
    pub fn reason(&self) -> &'static str {
        match self {
            Error::Missing { .. } => "AnnotationMissing",
            Error::Watch(_) => "WatchSpecInvalid",
            Error::Invalid { .. } => "AnnotationInvalid",
        }
    }

    /// The annotation at fault.
    pub fn annotation(&self) -> &'static str {
        match self {
            Error::Missing { annotation, .. } | Error::Invalid { annotation, .. } => annotation,
            Error::Watch(_) => ANNOTATION_WATCH,
        }
    }
}

/// The `PolicyValid` condition of a `ReleaseCheck` for the outcome of reading its annotations,
/// set at `at` (RFC 3339) for `observed_generation`.
pub fn policy_condition(
    result: &Result<Policy>,
    at: String,
    observed_generation: Option<i64>,
) -> Condition {
    let (status, reason, message) = match result {
        Ok(_) => (
            ConditionStatus::True,
            "Parsed",
            "the ripcord.dev annotations parsed".to_string(),
        ),
        Err(error) => (ConditionStatus::False, error.reason(), error.to_string()),
    };
    Condition {
        type_: CONDITION_POLICY_VALID.to_string(),
        status,
        reason: reason.to_string(),
        message,
        last_transition_time: at,
        observed_generation,
    }
}

/// Result alias of the `policy` module.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What Ripcord does for a release, from its pod template's annotations.
#[derive(Debug, Clone)]
pub struct Policy {
    /// The watch spec as written.
    pub watch_text: String,
    /// The parsed watch spec.
    pub watch: WatchSpec,
    /// Steps on a regression, in order, without repeats.
    pub on_regression: Vec<RegressionStep>,
    /// The flag to turn off; present exactly when the steps include `flag`.
    pub flag: Option<FlagRef>,
    /// Act, or only observe.
    pub mode: Mode,
    /// How long after the release its canaries are judged.
    pub watch_for: Duration,
}

impl Policy {
    /// Reads a policy from pod-template annotations (other keys are ignored).
    pub fn from_annotations(annotations: &BTreeMap<String, String>) -> Result<Self> {
        let get = |key: &str| annotations.get(key).map(String::as_str);
        let watch_text = get(ANNOTATION_WATCH).ok_or(Error::Missing {
            annotation: ANNOTATION_WATCH,
            hint: "name the metrics to judge, e.g. `errors: http_requests_total{code=~\"5..\"} / http_requests_total max +50%`",
        })?;
        let watch = parse_watch(watch_text).map_err(Error::Watch)?;
        let on_regression = match get(ANNOTATION_ON_REGRESSION) {
            Some(value) => parse_steps(value)?,
            None => vec![RegressionStep::Rollback],
        };
        let flag = match (
            get(ANNOTATION_FLAG),
            on_regression.contains(&RegressionStep::Flag),
        ) {
            (Some(url), true) => Some(FlagRef::parse(url)?),
            (None, true) => {
                return Err(Error::Missing {
                    annotation: ANNOTATION_FLAG,
                    hint: "ripcord.dev/on-regression asks for `flag`; name the flag to turn off, e.g. `openfeature://<namespace>/<featureflag>/<flag-key>`",
                });
            }
            (Some(_), false) => {
                return Err(invalid(
                    ANNOTATION_FLAG,
                    "is set but ripcord.dev/on-regression does not include `flag`, so it would never be turned off; add `flag` there or remove this annotation".to_string(),
                ));
            }
            (None, false) => None,
        };
        let mode = match get(ANNOTATION_MODE) {
            Some(value) => parse_mode(value)?,
            None => Mode::Act,
        };
        let watch_for = match get(ANNOTATION_WATCH_FOR) {
            Some(value) => parse_watch_for(value)?,
            None => DEFAULT_WATCH_FOR,
        };
        Ok(Policy {
            watch_text: watch_text.to_string(),
            watch,
            on_regression,
            flag,
            mode,
            watch_for,
        })
    }

    /// The policy as recorded in a `ReleaseCheck`'s spec.
    pub fn snapshot(&self) -> PolicySnapshot {
        PolicySnapshot {
            on_regression: self.on_regression.clone(),
            flag: self.flag.as_ref().map(|flag| flag.url.clone()),
            mode: self.mode,
            watch: self.watch_text.clone(),
            watch_for_seconds: i64::try_from(self.watch_for.as_secs()).unwrap_or(i64::MAX),
        }
    }
}

fn invalid(annotation: &'static str, message: String) -> Error {
    Error::Invalid {
        annotation,
        message,
    }
}

fn short_value(annotation: &'static str, value: &str) -> Result<String> {
    if value.len() > MAX_SHORT_VALUE_BYTES {
        return Err(invalid(
            annotation,
            format!(
                "{} bytes, more than the {MAX_SHORT_VALUE_BYTES} allowed",
                value.len()
            ),
        ));
    }
    Ok(value.trim().to_string())
}

/// `flag`, `rollback`, or both separated by a comma, in the order to take them.
fn parse_steps(value: &str) -> Result<Vec<RegressionStep>> {
    let value = short_value(ANNOTATION_ON_REGRESSION, value)?;
    let mut steps = Vec::new();
    for word in value.split(',').map(str::trim) {
        let step = match word {
            "flag" => RegressionStep::Flag,
            "rollback" => RegressionStep::Rollback,
            "" => {
                return Err(invalid(
                    ANNOTATION_ON_REGRESSION,
                    format!(
                        "{value:?} has an empty step; write `flag`, `rollback` or `flag, rollback`"
                    ),
                ));
            }
            other => {
                return Err(invalid(
                    ANNOTATION_ON_REGRESSION,
                    format!("unknown step {other:?}; write `flag`, `rollback` or `flag, rollback`"),
                ));
            }
        };
        if steps.contains(&step) {
            return Err(invalid(
                ANNOTATION_ON_REGRESSION,
                format!("step {:?} is given twice", step.keyword()),
            ));
        }
        steps.push(step);
    }
    Ok(steps)
}

fn parse_mode(value: &str) -> Result<Mode> {
    match short_value(ANNOTATION_MODE, value)?.as_str() {
        "act" => Ok(Mode::Act),
        "observe" => Ok(Mode::Observe),
        other => Err(invalid(
            ANNOTATION_MODE,
            format!("unknown mode {other:?}; write `act` (the default) or `observe`"),
        )),
    }
}

/// A duration such as `30m`, `2h`, `1h30m`, `1d` or `PT45M`, between [`MIN_WATCH_FOR`] and
/// [`MAX_WATCH_FOR`].
fn parse_watch_for(value: &str) -> Result<Duration> {
    let text = short_value(ANNOTATION_WATCH_FOR, value)?;
    use k8s_openapi::jiff::{Span, SpanRelativeTo};
    let not_a_duration = |error: k8s_openapi::jiff::Error| {
        invalid(
            ANNOTATION_WATCH_FOR,
            format!("{text:?} is not a duration ({error}); write e.g. `30m`, `2h` or `1h30m`"),
        )
    };
    let span: Span = text.parse().map_err(not_a_duration)?;
    // Days are 24 hours here: a guard period is elapsed time, not calendar time.
    let parsed = span
        .to_duration(SpanRelativeTo::days_are_24_hours())
        .map_err(not_a_duration)?;
    let duration = Duration::try_from(parsed).map_err(|_| {
        invalid(
            ANNOTATION_WATCH_FOR,
            format!("{text:?} is negative; write a guard period such as `30m`"),
        )
    })?;
    if !(MIN_WATCH_FOR..=MAX_WATCH_FOR).contains(&duration) {
        return Err(invalid(
            ANNOTATION_WATCH_FOR,
            format!(
                "{text:?} is outside {}s to {}h",
                MIN_WATCH_FOR.as_secs(),
                MAX_WATCH_FOR.as_secs() / 3600
            ),
        ));
    }
    Ok(duration)
}

#[cfg(test)]
mod tests;
