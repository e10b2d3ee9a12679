//! Line-by-line parser of the watch spec; every error carries the line and character column.

use std::collections::HashMap;

use super::words::{decimal, hint, percent};
use super::{
    Direction, MAX_METRICS, MAX_NAME_BYTES, MAX_SPEC_BYTES, MetricSpec, Result, Signal, SpecError,
    WatchSpec,
};
use crate::selector::Selector;

/// Largest tolerated drop for `min` (90 %): beyond it the judge's rate-ratio grid (down to 1/64)
/// leaves no room between the tolerated rate and no events at all.
const MAX_DROP: f64 = 0.9;

/// Parses a `ripcord.dev/watch` annotation.
pub fn parse_watch(text: &str) -> Result<WatchSpec> {
    if text.len() > MAX_SPEC_BYTES {
        return Err(SpecError {
            line: 1,
            column: 1,
            message: format!(
                "watch spec is {} bytes; at most {MAX_SPEC_BYTES} are allowed",
                text.len()
            ),
        });
    }
    let mut metrics: Vec<MetricSpec> = Vec::new();
    let mut first_line_of: HashMap<String, usize> = HashMap::new();
    for (index, raw) in text.split('\n').enumerate() {
        let mut line = Line::new(index + 1, raw.strip_suffix('\r').unwrap_or(raw));
        line.skip_space();
        if line.at_end_or_comment() {
            continue;
        }
        let name_at = line.pos;
        let metric = line.metric()?;
        if metrics.len() == MAX_METRICS {
            return line.fail(
                name_at,
                format!("too many metrics: at most {MAX_METRICS} allowed"),
            );
        }
        if let Some(first) = first_line_of.insert(metric.name.clone(), metric.line) {
            return line.fail(
                name_at,
                format!(
                    "duplicate metric name {:?} (first defined on line {first})",
                    metric.name
                ),
            );
        }
        metrics.push(metric);
    }
    if metrics.is_empty() {
        return Err(SpecError {
            line: 1,
            column: 1,
            message: "empty watch spec: write one metric a line, e.g. \
                      `errors: http_requests_total{code=~\"5..\"} / http_requests_total max +50%`"
                .to_owned(),
        });
    }
    Ok(WatchSpec { metrics })
}

/// A cursor over one line of the spec.
struct Line<'a> {
    number: usize,
    text: &'a str,
    pos: usize,
}

impl<'a> Line<'a> {
    fn new(number: usize, text: &'a str) -> Self {
        Line {
            number,
            text,
            pos: 0,
        }
    }

    fn rest(&self) -> &'a str {
        self.text.get(self.pos..).unwrap_or("")
    }

    fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }

    fn skip_space(&mut self) {
        let rest = self.rest();
        self.pos += rest.len() - rest.trim_start().len();
    }

    fn at_end_or_comment(&self) -> bool {
        matches!(self.peek(), None | Some('#'))
    }

    /// Takes the longest run of characters satisfying `keep`.
    fn word(&mut self, keep: fn(char) -> bool) -> &'a str {
        let rest = self.rest();
        let len = rest.find(|c| !keep(c)).unwrap_or(rest.len());
        self.pos += len;
        &rest[..len]
    }

    fn column(&self, pos: usize) -> usize {
        self.text.get(..pos).map_or(pos, |t| t.chars().count()) + 1
    }

    fn fail<T>(&self, pos: usize, message: impl Into<String>) -> Result<T> {
        Err(SpecError {
            line: self.number,
            column: self.column(pos),
            message: message.into(),
        })
    }

    fn found(&self) -> String {
        match self.rest().split_whitespace().next() {
            None => "end of line".to_owned(),
            Some(token) => format!("{:?}", token.chars().take(40).collect::<String>()),
        }
    }

    fn metric(&mut self) -> Result<MetricSpec> {
        let name = self.name()?;
        self.skip_space();
        if self.peek() != Some(':') {
            return self.fail(
                self.pos,
                format!(
                    "expected \":\" after the metric name {name:?}, found {}",
                    self.found()
                ),
            );
        }
        self.pos += 1;
        let signal = self.signal()?;
        let (direction, tolerance) = self.constraint()?;
        let limit = self.limit(&signal, direction)?;
        self.skip_space();
        if !self.at_end_or_comment() {
            let after = if limit.is_some() {
                "the limit"
            } else {
                "the constraint (an absolute limit is written e.g. \"limit 2%\")"
            };
            return self.fail(
                self.pos,
                format!("unexpected {} after {after}", self.found()),
            );
        }
        Ok(MetricSpec {
            name: name.to_owned(),
            signal,
            direction,
            tolerance,
            limit,
            line: self.number,
        })
    }

    fn name(&mut self) -> Result<&'a str> {
        let start = self.pos;
        if !self.peek().is_some_and(|c| c.is_ascii_alphabetic()) {
            return self.fail(
                start,
                format!(
                    "expected a metric name like \"errors\", found {}",
                    self.found()
                ),
            );
        }
        let name = self.word(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        if name.len() > MAX_NAME_BYTES {
            return self.fail(
                start,
                format!(
                    "metric name is {} bytes; at most {MAX_NAME_BYTES}",
                    name.len()
                ),
            );
        }
        Ok(name)
    }

    fn selector(&mut self, role: &str) -> Result<Selector> {
        self.skip_space();
        let start = self.pos;
        if self.at_end_or_comment() {
            return self.fail(
                start,
                format!("expected {role} selector, found end of line"),
            );
        }
        match Selector::parse_prefix(self.rest()) {
            Ok((selector, used)) => {
                self.pos += used;
                Ok(selector)
            }
            Err(e) => self.fail(
                start + e.offset,
                format!("bad {role} selector: {}", e.message),
            ),
        }
    }

    fn signal(&mut self) -> Result<Signal> {
        let first_at = self.skip_space_then_pos();
        let first = self.selector("a")?;
        self.skip_space();
        if self.peek() == Some('/') {
            self.pos += 1;
            let denominator = self.selector("a denominator")?;
            self.skip_space();
            if self.peek_quantile() {
                return self.fail(
                    self.pos,
                    format!(
                        "a quantile applies to one histogram, not to the ratio \"{first} / {denominator}\"; \
                         write e.g. \"latency: http_request_duration_seconds p99 max +20%\""
                    ),
                );
            }
            return Ok(Signal::Ratio {
                numerator: first,
                denominator,
            });
        }
        if !self.peek_quantile() {
            return self.fail(
                self.pos,
                format!(
                    "expected \"/\" and a denominator selector (a ratio) or a quantile like p99 \
                     (a latency), found {}",
                    self.found()
                ),
            );
        }
        if let Some(family) = first.metric.strip_suffix("_bucket") {
            return self.fail(
                first_at,
                format!("name the histogram family {family:?}, without \"_bucket\""),
            );
        }
        let quantile = self.quantile()?;
        Ok(Signal::Latency {
            histogram: first,
            quantile,
        })
    }

    fn skip_space_then_pos(&mut self) -> usize {
        self.skip_space();
        self.pos
    }

    /// Whether the next word looks like a quantile (`p99`, `P99`, `p99.9`, `p999`).
    fn peek_quantile(&self) -> bool {
        let mut chars = self.rest().chars();
        matches!(chars.next(), Some('p' | 'P')) && chars.next().is_some_and(|c| c.is_ascii_digit())
    }

    fn quantile(&mut self) -> Result<f64> {
        let start = self.pos;
        let word = self.word(|c| c.is_ascii_alphanumeric() || c == '.');
        let bad = |why: &str| self.fail(start, format!("bad quantile {word:?}: {why}"));
        let Some(digits) = word.strip_prefix('p') else {
            return bad(&format!("write it lower-case, \"p{}\"", &word[1..]));
        };
        let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
        let all_digits = |s: &str| s.chars().all(|c| c.is_ascii_digit());
        if !all_digits(whole)
            || !all_digits(fraction)
            || (digits.contains('.') && fraction.is_empty())
        {
            return bad("expected p followed by a percentile such as p50, p99 or p99.9");
        }
        if whole.len() > 2 && fraction.is_empty() {
            let (head, tail) = whole.split_at(2);
            return bad(&format!(
                "a percentile is below 100; for the {head}.{tail}th percentile write \"p{head}.{tail}\""
            ));
        }
        if whole.len() > 2 {
            return bad("a percentile is below 100, e.g. p99 or p99.9");
        }
        if fraction.len() > 6 {
            return bad("at most 6 decimals");
        }
        let value = percent(whole, fraction);
        if value <= 0.0 {
            return bad("the percentile must be above 0, e.g. p50");
        }
        Ok(value)
    }

    fn constraint(&mut self) -> Result<(Direction, f64)> {
        self.skip_space();
        let start = self.pos;
        let word = self.word(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.');
        let direction = match word {
            "max" => Direction::Max,
            "min" => Direction::Min,
            "" if self.at_end_or_comment() => {
                return self.fail(
                    start,
                    "missing constraint: expected \"max +N%\" (higher is worse) or \"min -N%\" (lower is worse)",
                );
            }
            "" => {
                return self.fail(
                    start,
                    format!(
                        "expected a constraint \"max +N%\" or \"min -N%\", found {}",
                        self.found()
                    ),
                );
            }
            other => {
                return self.fail(
                    start,
                    format!(
                        "unknown constraint {other:?}; expected \"max\" or \"min\"{}",
                        hint(other)
                    ),
                );
            }
        };
        let tolerance = self.tolerance(direction)?;
        Ok((direction, tolerance))
    }

    fn tolerance(&mut self, direction: Direction) -> Result<f64> {
        self.skip_space();
        let keyword = direction.keyword();
        let (good_sign, example) = match direction {
            Direction::Max => ('+', "max +20% (higher is worse)"),
            Direction::Min => ('-', "min -5% (lower is worse)"),
        };
        let sign_at = self.pos;
        match self.peek() {
            Some(c) if c == good_sign => self.pos += 1,
            Some(c @ ('+' | '-')) => {
                return self.fail(
                    sign_at,
                    format!(
                        "\"{keyword}\" takes a \"{good_sign}\" tolerance, not \"{c}\": write e.g. {example}"
                    ),
                );
            }
            _ => {}
        }
        let number_at = self.pos;
        let number = self.word(|c| c.is_ascii_digit() || c == '.');
        let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
        if whole.is_empty() || fraction.contains('.') || (number.ends_with('.')) {
            return self.fail(
                number_at,
                format!(
                    "expected a tolerance in percent after \"{keyword}\", found {}; write e.g. {example}",
                    self.found_at(number_at)
                ),
            );
        }
        if self.peek() != Some('%') {
            return self.fail(
                self.pos,
                format!("missing \"%\" after the tolerance {number}: write {good_sign}{number}%"),
            );
        }
        self.pos += 1;
        let tolerance = if whole.len() + fraction.len() > 12 {
            f64::INFINITY
        } else {
            percent(whole, fraction)
        };
        let in_range = match direction {
            Direction::Max => tolerance <= 10.0,
            Direction::Min => tolerance <= MAX_DROP,
        };
        if !in_range {
            let range = match direction {
                Direction::Max => "an increase from +0% to +1000%",
                Direction::Min => "a drop from -0% to -90%",
            };
            return self.fail(
                number_at,
                format!("tolerance {number}% is out of range for \"{keyword}\": use {range}"),
            );
        }
        Ok(tolerance)
    }

    /// The optional `limit <value>` after the constraint.
    fn limit(&mut self, signal: &Signal, direction: Direction) -> Result<Option<f64>> {
        self.skip_space();
        let keyword_at = self.pos;
        let rest = self.rest();
        let is_limit = rest.strip_prefix("limit").is_some_and(|after| {
            after
                .chars()
                .next()
                .is_none_or(|c| c.is_whitespace() || c == '#')
        });
        if !is_limit {
            return Ok(None);
        }
        self.pos += "limit".len();
        self.skip_space();
        let number_at = self.pos;
        let number = self.word(|c| c.is_ascii_digit() || c == '.');
        let unit = self.word(|c| c.is_ascii_alphabetic() || c == '%');
        let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
        let example = match signal {
            Signal::Ratio { .. } => "limit 2%",
            Signal::Latency { .. } => "limit 500ms",
        };
        if whole.is_empty() || fraction.contains('.') || number.ends_with('.') {
            return self.fail(
                number_at,
                format!(
                    "expected a value after \"limit\", found {}; write e.g. {example}",
                    self.found_at(number_at)
                ),
            );
        }
        if whole.len() + fraction.len() > 12 {
            return self.fail(number_at, "the limit has more than 12 digits");
        }
        match signal {
            Signal::Ratio { .. } => {
                if unit != "%" {
                    return self.fail(
                        number_at + number.len(),
                        format!("a ratio's limit is a percentage: write {number}%"),
                    );
                }
                let rate = percent(whole, fraction);
                if !(rate > 0.0 && rate < 1.0) {
                    return self.fail(
                        number_at,
                        format!("limit {number}% is not a rate strictly between 0% and 100%"),
                    );
                }
                Ok(Some(rate))
            }
            Signal::Latency { .. } => {
                if direction != Direction::Max {
                    return self.fail(
                        keyword_at,
                        "a latency limit bounds the quantile from above: use it with \"max\"",
                    );
                }
                let shift = match unit {
                    "" | "s" => 0,
                    "ms" => 3,
                    "us" => 6,
                    other => {
                        return self.fail(
                            number_at + number.len(),
                            format!(
                                "unknown duration unit {other:?}; use \"us\", \"ms\", \"s\", \
                                 or none for the histogram's own unit"
                            ),
                        );
                    }
                };
                let seconds = decimal(whole, fraction, shift);
                if seconds <= 0.0 {
                    return self.fail(number_at, "a latency limit must be above zero");
                }
                Ok(Some(seconds))
            }
        }
    }

    fn found_at(&self, pos: usize) -> String {
        match self
            .text
            .get(pos..)
            .and_then(|r| r.split_whitespace().next())
        {
            None => "end of line".to_owned(),
            Some(token) => format!("{:?}", token.chars().take(40).collect::<String>()),
        }
    }
}
