//! Streaming parser for the Prometheus text exposition format (0.0.4) and OpenMetrics text (1.0).
//!
//! The parser walks the input once and hands each sample to a visitor without building the whole
//! scrape in memory: the caller keeps only the series its watch spec selects. Every input is
//! untrusted, so every size is capped by [`Limits`] and every error names its line and column.

use std::borrow::Cow;

/// Size caps applied while parsing one exposition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Largest accepted exposition, in bytes.
    pub max_bytes: usize,
    /// Largest number of samples in one exposition.
    pub max_samples: usize,
    /// Longest accepted line, in bytes.
    pub max_line_bytes: usize,
    /// Most labels on one sample.
    pub max_labels: usize,
}

/// The type a `# TYPE` line gives a metric family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricType {
    /// A monotonically increasing counter.
    Counter,
    /// A value that goes up and down.
    Gauge,
    /// A cumulative histogram (`_bucket{le=...}`, `_sum`, `_count`).
    Histogram,
    /// An OpenMetrics gauge histogram.
    GaugeHistogram,
    /// A summary (`{quantile=...}`, `_sum`, `_count`).
    Summary,
    /// An OpenMetrics info metric.
    Info,
    /// An OpenMetrics state set.
    StateSet,
    /// No `# TYPE` line, or `untyped`/`unknown`.
    Unknown,
}

/// One label pair of a sample; the value is unescaped (borrowed when it held no escapes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Label<'a> {
    /// Label name.
    pub name: &'a str,
    /// Label value, unescaped.
    pub value: Cow<'a, str>,
}

/// One sample line, as handed to the visitor.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample<'a> {
    /// Full sample name, e.g. `http_requests_total` or `latency_seconds_bucket`.
    pub name: &'a str,
    /// Labels in the order they appeared.
    pub labels: &'a [Label<'a>],
    /// Sample value; may be NaN or ±Inf.
    pub value: f64,
    /// Timestamp in milliseconds, if the line carried one.
    pub timestamp_ms: Option<i64>,
    /// Type of the family this sample belongs to.
    pub metric_type: MetricType,
}

mod cursor;
mod error;
mod labels;
mod line;
mod meta;
mod number;

pub use error::{ParseError, ParseErrorKind, Result};

use cursor::Cursor;
use line::{LabelBuffers, parse_sample_line};
use meta::{Comment, Family, parse_comment};

impl Default for Limits {
    /// 32 MiB, 500,000 samples, 64 KiB lines, 64 labels: far above any sane app's exposition
    /// (a large node exporter is ~2,000 samples and ~300 KB) yet bounded.
    fn default() -> Self {
        Self {
            max_bytes: 32 * 1024 * 1024,
            max_samples: 500_000,
            max_line_bytes: 64 * 1024,
            max_labels: 64,
        }
    }
}

/// The text format of an exposition, detected from its content.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Prometheus text format 0.0.4.
    Prometheus,
    /// OpenMetrics text 1.0 (recognised by its final `# EOF` line).
    OpenMetrics,
}

/// What a successful parse saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParseSummary {
    /// Number of samples handed to the visitor.
    pub samples: usize,
    /// Number of lines read.
    pub lines: usize,
    /// Detected format.
    pub format: Format,
}

/// Parses one exposition in a single streaming pass, calling `visit` for every sample.
///
/// The format is OpenMetrics if the input ends with a `# EOF` line, else Prometheus text; in
/// Prometheus text, OpenMetrics-only syntax (exemplars, `info`/`stateset`/`gaugehistogram`/`unknown`
/// types, `# EOF` before the end) is an error, which catches truncated OpenMetrics scrapes. Labels
/// are borrowed from `input` (owned only when a value holds escapes) and their buffer is reused.
/// On the first error the whole exposition is refused: the visitor may have seen some samples,
/// which the caller must discard.
pub fn parse(
    input: &[u8],
    limits: &Limits,
    mut visit: impl FnMut(&Sample<'_>),
) -> Result<ParseSummary> {
    if input.len() > limits.max_bytes {
        return Err(ParseError::whole(ParseErrorKind::InputTooLarge {
            size: input.len(),
            limit: limits.max_bytes,
        }));
    }
    let format = detect_format(input);
    let mut buffers = LabelBuffers::default();
    let mut family: Option<Family<'_>> = None;
    let mut summary = ParseSummary {
        samples: 0,
        lines: 0,
        format,
    };
    let mut eof_seen = false;
    let mut rest = input;
    while !rest.is_empty() {
        summary.lines += 1;
        let (line, next) = split_line(rest, limits.max_line_bytes, summary.lines)?;
        rest = next;
        let mut cur = Cursor::new(line, summary.lines);
        if eof_seen {
            return Err(cur.error(ParseErrorKind::ContentAfterEof));
        }
        match classify(&mut cur, format)? {
            LineKind::Blank => {}
            LineKind::Comment => match parse_comment(&mut cur, format)? {
                Comment::Type(declared) => family = Some(declared),
                Comment::Eof => eof_seen = true,
                Comment::Ignored => {}
            },
            LineKind::Sample => {
                let sample = parse_sample_line(&mut cur, format, limits.max_labels, &mut buffers)?;
                if summary.samples == limits.max_samples {
                    return Err(cur.error_at(
                        0,
                        ParseErrorKind::TooManySamples {
                            limit: limits.max_samples,
                        },
                    ));
                }
                summary.samples += 1;
                visit(&Sample {
                    name: sample.name,
                    labels: &buffers.sample,
                    value: sample.value,
                    timestamp_ms: sample.timestamp_ms,
                    metric_type: family.map_or(MetricType::Unknown, |f| f.type_of(sample.name)),
                });
            }
        }
    }
    Ok(summary)
}

/// OpenMetrics if the last line (ignoring one final newline) is `# EOF`.
fn detect_format(input: &[u8]) -> Format {
    let body = input.strip_suffix(b"\n").unwrap_or(input);
    let body = body.strip_suffix(b"\r").unwrap_or(body);
    match body.strip_suffix(b"# EOF") {
        Some(before) if before.is_empty() || before.ends_with(b"\n") => Format::OpenMetrics,
        _ => Format::Prometheus,
    }
}

/// Splits off the first line (without its `\n` or `\r\n`), looking no further than the line cap.
fn split_line(input: &[u8], max_line_bytes: usize, line_no: usize) -> Result<(&[u8], &[u8])> {
    let window = input
        .get(..max_line_bytes.saturating_add(1))
        .unwrap_or(input);
    let (line, rest) = match memchr::memchr(b'\n', window) {
        Some(end) => {
            let (line, rest) = input.split_at(end);
            (line, rest.get(1..).unwrap_or_default())
        }
        None if input.len() > max_line_bytes => {
            return Err(ParseError {
                line: line_no,
                column: max_line_bytes + 1,
                kind: ParseErrorKind::LineTooLong {
                    limit: max_line_bytes,
                },
            });
        }
        None => (input, &[][..]),
    };
    Ok((line.strip_suffix(b"\r").unwrap_or(line), rest))
}

/// The three kinds of line.
enum LineKind {
    Blank,
    Comment,
    Sample,
}

/// Decides what a line is; Prometheus text allows leading blanks and blank lines, OpenMetrics
/// neither.
fn classify(cur: &mut Cursor<'_>, format: Format) -> Result<LineKind> {
    cur.skip_optional_blanks(format);
    match cur.peek() {
        None if format == Format::OpenMetrics => Err(cur.error(ParseErrorKind::EmptyLine)),
        None => Ok(LineKind::Blank),
        Some(b'#') => Ok(LineKind::Comment),
        Some(_) => Ok(LineKind::Sample),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type Seen = Vec<(String, MetricType, f64)>;

    fn run(text: &str) -> Result<(ParseSummary, Seen)> {
        let mut seen = Vec::new();
        let summary = parse(text.as_bytes(), &Limits::default(), |s| {
            seen.push((s.name.to_owned(), s.metric_type, s.value));
        })?;
        Ok((summary, seen))
    }

    #[test]
    fn format_is_detected_from_the_final_eof() {
        assert_eq!(run("up 1\n").unwrap().0.format, Format::Prometheus);
        assert_eq!(run("up 1\n# EOF\n").unwrap().0.format, Format::OpenMetrics);
        assert_eq!(run("up 1\n# EOF").unwrap().0.format, Format::OpenMetrics);
        assert_eq!(
            run("").unwrap().0,
            ParseSummary {
                samples: 0,
                lines: 0,
                format: Format::Prometheus
            }
        );
    }

    #[test]
    fn content_after_eof_is_refused() {
        let err = run("up 1\n# EOF\nup 2\n").unwrap_err();
        assert_eq!((err.line, err.kind), (3, ParseErrorKind::ContentAfterEof));
        let err = run("# EOF\n\n").unwrap_err();
        assert_eq!((err.line, err.kind), (2, ParseErrorKind::ContentAfterEof));
    }

    #[test]
    fn truncated_openmetrics_is_refused() {
        let text =
            "# TYPE h histogram\nh_bucket{le=\"1\"} 1 # {t=\"a\"} 0.5\nh_bucket{le=\"+Inf\"} 2\n";
        let err = run(text).unwrap_err();
        assert_eq!(
            (err.line, err.kind),
            (2, ParseErrorKind::OpenMetricsOnly("an exemplar"))
        );
    }

    #[test]
    fn types_follow_the_last_type_line() {
        let text = "# TYPE a counter\na_total 1\na_created 2\n# TYPE b summary\nb{quantile=\"0.5\"} 3\nb_sum 4\nb_count 5\nc 6\n# EOF\n";
        let (summary, seen) = run(text).unwrap();
        let types: Vec<MetricType> = seen.iter().map(|s| s.1).collect();
        use MetricType::{Counter, Summary, Unknown};
        assert_eq!(
            types,
            [Counter, Counter, Summary, Summary, Summary, Unknown]
        );
        assert_eq!((summary.samples, summary.lines), (6, 9));
    }

    #[test]
    fn prometheus_text_allows_blank_lines_comments_leading_blanks_and_crlf() {
        let (summary, seen) = run("# a comment\n\n  up 1\r\n\tdown 0 \r\n").unwrap();
        assert_eq!(seen.len(), 2);
        assert_eq!((seen[0].0.as_str(), seen[1].2), ("up", 0.0));
        assert_eq!(summary.lines, 4);
    }

    #[test]
    fn openmetrics_refuses_blank_lines_and_free_comments() {
        assert_eq!(
            run("up 1\n\n# EOF\n").unwrap_err().kind,
            ParseErrorKind::EmptyLine
        );
        assert_eq!(
            run("# hi\n# EOF\n").unwrap_err().kind,
            ParseErrorKind::InvalidComment
        );
    }

    #[test]
    fn errors_carry_line_and_column() {
        let err = run("up 1\nreq{path=\"/a} 1\n").unwrap_err();
        assert_eq!(
            err.to_string(),
            "line 2, column 10: unterminated label value"
        );
    }
}
