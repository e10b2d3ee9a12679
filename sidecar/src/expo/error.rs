//! Parse errors: what went wrong and where (1-based line and byte column).

/// Why an exposition was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseErrorKind {
    /// The whole exposition is larger than [`Limits::max_bytes`](super::Limits::max_bytes).
    #[error("exposition is {size} bytes, over the max_bytes cap of {limit} bytes")]
    InputTooLarge {
        /// Size of the input in bytes.
        size: usize,
        /// The cap.
        limit: usize,
    },
    /// More samples than [`Limits::max_samples`](super::Limits::max_samples).
    #[error("more than {limit} samples, over the max_samples cap")]
    TooManySamples {
        /// The cap.
        limit: usize,
    },
    /// A line longer than [`Limits::max_line_bytes`](super::Limits::max_line_bytes).
    #[error("line is longer than the max_line_bytes cap of {limit} bytes")]
    LineTooLong {
        /// The cap.
        limit: usize,
    },
    /// A sample with more labels than [`Limits::max_labels`](super::Limits::max_labels).
    #[error("more than {limit} labels on one sample, over the max_labels cap")]
    TooManyLabels {
        /// The cap.
        limit: usize,
    },
    /// A byte that does not fit the grammar at this place.
    #[error("expected {expected}, found {found}")]
    Unexpected {
        /// What the grammar allows here.
        expected: &'static str,
        /// What was there instead, described for humans.
        found: String,
    },
    /// A quoted label value with no closing quote on its line.
    #[error("unterminated label value")]
    UnterminatedLabelValue,
    /// An escape other than `\\`, `\"` or `\n` in an OpenMetrics label value.
    #[error("invalid escape sequence `\\{0}` in label value")]
    InvalidEscape(char),
    /// Text that must be UTF-8 is not.
    #[error("{0} is not valid UTF-8")]
    InvalidUtf8(&'static str),
    /// The same label name twice on one sample.
    #[error("duplicate label name `{0}`")]
    DuplicateLabel(String),
    /// A sample value that is not a number, `NaN`, `+Inf` or `-Inf`.
    #[error("invalid sample value `{0}`")]
    InvalidValue(String),
    /// A timestamp that is not an integer (Prometheus) or a finite number (OpenMetrics).
    #[error("invalid timestamp `{0}`")]
    InvalidTimestamp(String),
    /// A `# TYPE` line naming a type the format does not know.
    #[error("unknown metric type `{0}`")]
    UnknownType(String),
    /// OpenMetrics syntax in an exposition that does not end with `# EOF`.
    #[error("{0} is OpenMetrics syntax, but the exposition does not end with `# EOF` (truncated?)")]
    OpenMetricsOnly(&'static str),
    /// A line after `# EOF`.
    #[error("content after `# EOF`")]
    ContentAfterEof,
    /// An empty line in OpenMetrics, which does not allow them.
    #[error("empty line (not allowed in OpenMetrics)")]
    EmptyLine,
    /// A comment other than `# HELP`, `# TYPE`, `# UNIT` or `# EOF` in OpenMetrics.
    #[error(
        "comment is not `# HELP`, `# TYPE`, `# UNIT` or `# EOF` (OpenMetrics allows no others)"
    )]
    InvalidComment,
}

/// A refused exposition: the caller discards the whole scrape, as Prometheus does.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{kind}", location(.line, .column))]
pub struct ParseError {
    /// 1-based line number; 0 when the error concerns the whole input.
    pub line: usize,
    /// 1-based byte column within the line; 0 when the error concerns the whole input.
    pub column: usize,
    /// What is wrong.
    pub kind: ParseErrorKind,
}

impl ParseError {
    /// An error about the whole input rather than one place in it.
    pub(super) fn whole(kind: ParseErrorKind) -> Self {
        Self {
            line: 0,
            column: 0,
            kind,
        }
    }
}

fn location(line: &usize, column: &usize) -> String {
    if *line == 0 {
        String::new()
    } else {
        format!("line {line}, column {column}: ")
    }
}

/// Result of parsing, with [`ParseError`] as the default error.
pub type Result<T, E = ParseError> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_line_column_and_kind() {
        let err = ParseError {
            line: 12,
            column: 30,
            kind: ParseErrorKind::UnterminatedLabelValue,
        };
        assert_eq!(
            err.to_string(),
            "line 12, column 30: unterminated label value"
        );
    }

    #[test]
    fn whole_input_errors_have_no_location() {
        let err = ParseError::whole(ParseErrorKind::InputTooLarge { size: 10, limit: 5 });
        assert_eq!(
            err.to_string(),
            "exposition is 10 bytes, over the max_bytes cap of 5 bytes"
        );
    }
}
