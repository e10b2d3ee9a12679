//! What one scrape offered a selector, before it is trusted: series keys, the series budget, and
//! the first problem met (too many series, a value that is not a finite count).

use std::fmt::Write as _;

use crate::expo::Label;
use crate::selector::write_quoted;

/// Why a selector's staged values cannot be used this scrape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum StageIssue {
    /// The extractor's series budget ran out while staging.
    TooManySeries {
        /// The budget.
        limit: usize,
    },
    /// A series carried NaN, an infinity or a negative value.
    BadValue {
        /// The series.
        series: String,
        /// The value, as text.
        value: String,
    },
}

impl StageIssue {
    /// A message for `Unavailable::ScrapeFailed`.
    pub(super) fn message(&self, selector: &str) -> String {
        match self {
            StageIssue::TooManySeries { limit } => format!(
                "more than {limit} series match the watched selectors (at {selector}); \
                 narrow the selectors"
            ),
            StageIssue::BadValue { series, value } => {
                format!("series {series} has value {value}; a counter must be a finite number >= 0")
            }
        }
    }
}

/// How many more series the current scrape may stage, across all selectors of an extractor.
#[derive(Debug)]
pub(super) struct Budget {
    /// The cap.
    pub(super) limit: usize,
    /// Series still allowed.
    pub(super) left: usize,
}

impl Budget {
    /// Takes one series from the budget; false when exhausted.
    pub(super) fn take(&mut self) -> bool {
        if self.left == 0 {
            return false;
        }
        self.left -= 1;
        true
    }
}

/// Checks that a counter-like value is a finite count.
pub(super) fn check_count(series: &str, value: f64) -> Result<f64, StageIssue> {
    if value.is_finite() && value >= 0.0 {
        Ok(value)
    } else {
        Err(StageIssue::BadValue {
            series: series.to_owned(),
            value: value.to_string(),
        })
    }
}

/// The canonical name of a series: `name{a="x", b="y"}` with labels sorted by name, leaving out
/// the label `skip` (the histograms' `le`).
pub(super) fn series_key(name: &str, labels: &[Label<'_>], skip: Option<&str>) -> String {
    let mut sorted: Vec<&Label<'_>> = labels.iter().filter(|l| Some(l.name) != skip).collect();
    sorted.sort_by(|a, b| a.name.cmp(b.name));
    let mut key = String::with_capacity(name.len() + 16 * sorted.len());
    key.push_str(name);
    if !sorted.is_empty() {
        key.push('{');
        for (i, label) in sorted.iter().enumerate() {
            if i > 0 {
                key.push_str(", ");
            }
            key.push_str(label.name);
            key.push('=');
            // Writing to a String cannot fail.
            let _ = write_quoted(&mut key, &label.value);
        }
        key.push('}');
    }
    key
}

/// Records only the first issue of a scrape.
pub(super) fn note(slot: &mut Option<StageIssue>, issue: StageIssue) {
    if slot.is_none() {
        *slot = Some(issue);
    }
}

/// Writes `value` for a message, `+Inf` style for infinities.
pub(super) fn show_bound(value: f64) -> String {
    let mut text = String::new();
    if value == f64::INFINITY {
        text.push_str("+Inf");
    } else {
        let _ = write!(text, "{value}");
    }
    text
}
