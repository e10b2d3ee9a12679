//! Prometheus series selectors (`name{label="v", other=~"re"}`) and matching samples against them.

use crate::expo::Label;

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

/// A series selector: a metric name and label matchers, as in PromQL.
#[derive(Debug, Clone)]
pub struct Selector {
    /// Sample name the selector matches (`http_requests_total`).
    pub metric: String,
    /// Label matchers, all of which must hold.
    pub matchers: Vec<Matcher>,
}
