//! Prometheus series selectors (`name{label="v", other=~"re"}`) and matching samples against them.
//!
//! The syntax is PromQL's instant-vector selector with a mandatory metric name:
//!
//! ```text
//! selector = metric-name [ "{" [ matcher { "," matcher } [ "," ] ] "}" ]
//! matcher  = label-name ( "=" | "!=" | "=~" | "!~" ) string
//! string   = '"' ... '"' | "'" ... "'" | "`" ... "`"     (Go escapes in the first two)
//! ```
//!
//! As in PromQL, regular expressions are fully anchored (`=~"5.."` matches `500`, not `5000`) and a
//! label a sample does not carry compares as the empty string. Regexes are compiled once, with a
//! size cap so a hostile annotation cannot exhaust memory.

mod parse;

use std::fmt;

use crate::expo::Label;

/// Most bytes a compiled regular expression (and its lazy DFA cache) may use.
pub const REGEX_SIZE_LIMIT: usize = 1 << 20;

/// Longest accepted selector source, in bytes.
pub const MAX_SELECTOR_BYTES: usize = 4096;

/// A selector that could not be parsed, and where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("byte {offset}: {message}")]
pub struct SelectorError {
    /// Byte offset into the selector source of the offending token.
    pub offset: usize,
    /// What is wrong.
    pub message: String,
}

/// Result of selector operations.
pub type Result<T, E = SelectorError> = std::result::Result<T, E>;

/// How a label matcher compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MatchOp {
    /// `=`: equal.
    Equal,
    /// `!=`: not equal.
    NotEqual,
    /// `=~`: fully matches the regular expression.
    RegexMatch,
    /// `!~`: does not fully match the regular expression.
    RegexNoMatch,
}

impl MatchOp {
    /// The operator as written in PromQL.
    pub fn as_str(self) -> &'static str {
        match self {
            MatchOp::Equal => "=",
            MatchOp::NotEqual => "!=",
            MatchOp::RegexMatch => "=~",
            MatchOp::RegexNoMatch => "!~",
        }
    }
}

/// One `label op "value"` matcher.
#[derive(Debug, Clone)]
pub struct Matcher {
    /// Label name.
    pub label: String,
    /// Comparison.
    pub op: MatchOp,
    /// The value or regular-expression source, unescaped.
    pub value: String,
    /// Compiled, anchored regular expression for `=~` and `!~`.
    regex: Option<regex::Regex>,
}

impl Matcher {
    /// Builds a matcher, compiling (anchored, size-capped) the regex of `=~` and `!~`.
    ///
    /// On a bad regex the error's offset is 0; the parser shifts it to the value's position.
    pub fn new(label: impl Into<String>, op: MatchOp, value: impl Into<String>) -> Result<Self> {
        let value = value.into();
        let regex = match op {
            MatchOp::Equal | MatchOp::NotEqual => None,
            MatchOp::RegexMatch | MatchOp::RegexNoMatch => Some(compile_anchored(&value)?),
        };
        Ok(Matcher {
            label: label.into(),
            op,
            value,
            regex,
        })
    }

    /// Whether a label value (empty when the label is absent) satisfies this matcher.
    pub fn matches_value(&self, value: &str) -> bool {
        match (self.op, &self.regex) {
            (MatchOp::Equal, _) => value == self.value,
            (MatchOp::NotEqual, _) => value != self.value,
            (MatchOp::RegexMatch, Some(re)) => re.is_match(value),
            (MatchOp::RegexNoMatch, Some(re)) => !re.is_match(value),
            // `new` always compiles a regex for the regex operators.
            (MatchOp::RegexMatch | MatchOp::RegexNoMatch, None) => false,
        }
    }
}

impl PartialEq for Matcher {
    fn eq(&self, other: &Self) -> bool {
        self.label == other.label && self.op == other.op && self.value == other.value
    }
}

impl fmt::Display for Matcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}", self.label, self.op.as_str())?;
        write_quoted(f, &self.value)
    }
}

fn compile_anchored(source: &str) -> Result<regex::Regex> {
    regex::RegexBuilder::new(&format!("^(?:{source})$"))
        .size_limit(REGEX_SIZE_LIMIT)
        .dfa_size_limit(REGEX_SIZE_LIMIT)
        .build()
        .map_err(|e| SelectorError {
            offset: 0,
            message: format!("bad regular expression {source:?}: {}", first_line(&e)),
        })
}

fn first_line(error: &regex::Error) -> String {
    match error {
        regex::Error::CompiledTooBig(limit) => {
            format!("compiled regex exceeds the {limit}-byte size limit")
        }
        other => {
            let text = other.to_string();
            let last = text.lines().rev().find(|l| !l.trim().is_empty());
            last.unwrap_or("invalid").trim().to_owned()
        }
    }
}

/// A series selector: a metric name and label matchers, as in PromQL.
#[derive(Debug, Clone, PartialEq)]
pub struct Selector {
    /// Sample name the selector matches (`http_requests_total`).
    pub metric: String,
    /// Label matchers, all of which must hold.
    pub matchers: Vec<Matcher>,
}

impl Selector {
    /// Parses a whole selector; anything but whitespace after it is an error.
    pub fn parse(source: &str) -> Result<Selector> {
        let (selector, used) = parse::parse_prefix(source)?;
        let rest = &source[used..];
        let trimmed = rest.trim_start();
        if trimmed.is_empty() {
            Ok(selector)
        } else {
            let offset = used + (rest.len() - trimmed.len());
            Err(SelectorError {
                offset,
                message: format!("unexpected {} after the selector", parse::describe(trimmed)),
            })
        }
    }

    /// Parses a selector at the start of `source` and returns it with the bytes it used, so a
    /// caller can parse what follows (the watch spec does).
    pub fn parse_prefix(source: &str) -> Result<(Selector, usize)> {
        parse::parse_prefix(source)
    }

    /// Whether a sample with this name and labels is selected.
    pub fn matches(&self, sample_name: &str, labels: &[Label<'_>]) -> bool {
        sample_name == self.metric && self.matches_labels(sample_name, labels)
    }

    /// Whether the labels satisfy every matcher, whatever the metric name; `__name__` matchers
    /// compare against `sample_name`.
    pub fn matches_labels(&self, sample_name: &str, labels: &[Label<'_>]) -> bool {
        self.matchers.iter().all(|m| {
            let value = if m.label == "__name__" {
                sample_name
            } else {
                labels
                    .iter()
                    .find(|l| l.name == m.label)
                    .map_or("", |l| l.value.as_ref())
            };
            m.matches_value(value)
        })
    }
}

impl fmt::Display for Selector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.metric)?;
        if self.matchers.is_empty() {
            return Ok(());
        }
        f.write_str("{")?;
        for (i, m) in self.matchers.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{m}")?;
        }
        f.write_str("}")
    }
}

/// Writes `value` double-quoted with the escapes the parser reads back.
pub(crate) fn write_quoted(f: &mut impl fmt::Write, value: &str) -> fmt::Result {
    f.write_char('"')?;
    for c in value.chars() {
        match c {
            '"' => f.write_str("\\\"")?,
            '\\' => f.write_str("\\\\")?,
            '\n' => f.write_str("\\n")?,
            '\r' => f.write_str("\\r")?,
            '\t' => f.write_str("\\t")?,
            c if c.is_control() => write!(f, "\\U{:08x}", u32::from(c))?,
            c => f.write_char(c)?,
        }
    }
    f.write_char('"')
}

#[cfg(test)]
mod tests;
