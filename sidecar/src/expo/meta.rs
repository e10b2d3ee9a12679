//! Comment lines (`# HELP`, `# TYPE`, `# UNIT`, `# EOF`) and the family a sample belongs to.

use super::cursor::Cursor;
use super::error::{ParseErrorKind, Result};
use super::{Format, MetricType};

/// What a comment line means to the parser.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Comment<'a> {
    /// `# TYPE name type`: starts a typed family.
    Type(Family<'a>),
    /// `# EOF`: the end of an OpenMetrics exposition.
    Eof,
    /// `# HELP`, `# UNIT` or (Prometheus text only) a free comment: nothing to keep.
    Ignored,
}

/// The metric family declared by the last `# TYPE` line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Family<'a> {
    /// Family name as written on the `# TYPE` line.
    pub(super) name: &'a str,
    /// Declared type.
    pub(super) metric_type: MetricType,
}

impl Family<'_> {
    /// The type of a sample called `sample_name` if it belongs to this family (its name is the
    /// family name plus a suffix the type allows), else [`MetricType::Unknown`].
    pub(super) fn type_of(&self, sample_name: &str) -> MetricType {
        match sample_name.strip_prefix(self.name) {
            Some(suffix) if suffix_allowed(self.metric_type, suffix) => self.metric_type,
            _ => MetricType::Unknown,
        }
    }
}

fn suffix_allowed(metric_type: MetricType, suffix: &str) -> bool {
    match metric_type {
        MetricType::Counter => matches!(suffix, "" | "_total" | "_created"),
        MetricType::Histogram => matches!(suffix, "_bucket" | "_count" | "_sum" | "_created"),
        MetricType::GaugeHistogram => matches!(suffix, "_bucket" | "_gcount" | "_gsum"),
        MetricType::Summary => matches!(suffix, "" | "_count" | "_sum" | "_created"),
        MetricType::Info => matches!(suffix, "" | "_info"),
        MetricType::Gauge | MetricType::StateSet | MetricType::Unknown => suffix.is_empty(),
    }
}

/// Parses a line starting with `#`.
pub(super) fn parse_comment<'a>(cur: &mut Cursor<'a>, format: Format) -> Result<Comment<'a>> {
    cur.expect(b'#', "`#`")?;
    match format {
        Format::Prometheus => prometheus_comment(cur),
        Format::OpenMetrics => openmetrics_comment(cur),
    }
}

/// Prometheus text: `# HELP` and `# TYPE` are parsed; any other comment is ignored.
fn prometheus_comment<'a>(cur: &mut Cursor<'a>) -> Result<Comment<'a>> {
    cur.skip_blanks();
    let keyword = cur.token();
    if !matches!(keyword, b"HELP" | b"TYPE" | b"EOF") {
        return Ok(Comment::Ignored);
    }
    if keyword == b"EOF" {
        return Ok(Comment::Eof);
    }
    cur.separator(Format::Prometheus, "a blank after the keyword")?;
    let name = cur.metric_name()?;
    if keyword == b"HELP" {
        return help_text(cur);
    }
    cur.separator(Format::Prometheus, "a blank before the type")?;
    let metric_type = type_word(cur, Format::Prometheus)?;
    cur.expect_end(Format::Prometheus)?;
    Ok(Comment::Type(Family { name, metric_type }))
}

/// OpenMetrics: exactly `# HELP name text`, `# TYPE name type`, `# UNIT name unit` or `# EOF`.
fn openmetrics_comment<'a>(cur: &mut Cursor<'a>) -> Result<Comment<'a>> {
    let rest = cur.rest();
    if rest == b" EOF" {
        cur.advance(rest.len());
        return Ok(Comment::Eof);
    }
    let keyword = rest.get(..6).unwrap_or_default();
    if !matches!(keyword, b" HELP " | b" TYPE " | b" UNIT ") {
        return Err(cur.error(ParseErrorKind::InvalidComment));
    }
    cur.advance(6);
    let name = cur.metric_name()?;
    match keyword {
        b" TYPE " => {
            cur.separator(Format::OpenMetrics, "a space before the type")?;
            let metric_type = type_word(cur, Format::OpenMetrics)?;
            cur.expect_end(Format::OpenMetrics)?;
            Ok(Comment::Type(Family { name, metric_type }))
        }
        b" UNIT " => {
            if !cur.at_end() {
                cur.separator(Format::OpenMetrics, "a space before the unit")?;
                cur.metric_name()?;
            }
            cur.expect_end(Format::OpenMetrics)?;
            Ok(Comment::Ignored)
        }
        _ => help_text(cur),
    }
}

/// The rest of a `# HELP` line: free text, which must be UTF-8.
fn help_text<'a>(cur: &mut Cursor<'a>) -> Result<Comment<'a>> {
    let start = cur.pos();
    let text = cur.rest();
    if let Err(e) = std::str::from_utf8(text) {
        return Err(cur.error_at(
            start + e.valid_up_to(),
            ParseErrorKind::InvalidUtf8("help text"),
        ));
    }
    cur.advance(text.len());
    Ok(Comment::Ignored)
}

/// The type word of a `# TYPE` line.
fn type_word(cur: &mut Cursor<'_>, format: Format) -> Result<MetricType> {
    let start = cur.pos();
    let word = cur.token();
    let metric_type = match word {
        b"counter" => MetricType::Counter,
        b"gauge" => MetricType::Gauge,
        b"histogram" => MetricType::Histogram,
        b"summary" => MetricType::Summary,
        b"untyped" | b"unknown" => MetricType::Unknown,
        b"gaugehistogram" => MetricType::GaugeHistogram,
        b"info" => MetricType::Info,
        b"stateset" => MetricType::StateSet,
        other => {
            let name = String::from_utf8_lossy(other).chars().take(40).collect();
            return Err(cur.error_at(start, ParseErrorKind::UnknownType(name)));
        }
    };
    let openmetrics_only = matches!(
        metric_type,
        MetricType::GaugeHistogram | MetricType::Info | MetricType::StateSet
    ) || word == b"unknown";
    if format == Format::Prometheus && openmetrics_only {
        return Err(cur.error_at(start, ParseErrorKind::OpenMetricsOnly("this metric type")));
    }
    Ok(metric_type)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn comment(text: &str, format: Format) -> Result<Comment<'_>> {
        parse_comment(&mut Cursor::new(text.as_bytes(), 1), format)
    }

    fn family(name: &str, metric_type: MetricType) -> Comment<'_> {
        Comment::Type(Family { name, metric_type })
    }

    #[test]
    fn type_lines_in_both_formats() {
        assert_eq!(
            comment("# TYPE a_total counter", Format::Prometheus).unwrap(),
            family("a_total", MetricType::Counter)
        );
        assert_eq!(
            comment("#  TYPE\tb histogram  ", Format::Prometheus).unwrap(),
            family("b", MetricType::Histogram)
        );
        assert_eq!(
            comment("# TYPE c info", Format::OpenMetrics).unwrap(),
            family("c", MetricType::Info)
        );
        assert_eq!(
            comment("# TYPE d unknown", Format::OpenMetrics).unwrap(),
            family("d", MetricType::Unknown)
        );
    }

    #[test]
    fn free_comments_only_in_prometheus_text() {
        assert_eq!(
            comment("# just a note", Format::Prometheus).unwrap(),
            Comment::Ignored
        );
        assert_eq!(
            comment("# just a note", Format::OpenMetrics)
                .unwrap_err()
                .kind,
            ParseErrorKind::InvalidComment
        );
    }

    #[test]
    fn openmetrics_only_types_are_refused_in_prometheus_text() {
        let err = comment("# TYPE x stateset", Format::Prometheus).unwrap_err();
        assert_eq!(
            (err.column, err.kind),
            (10, ParseErrorKind::OpenMetricsOnly("this metric type"))
        );
        assert_eq!(
            comment("# TYPE x nonsense", Format::OpenMetrics)
                .unwrap_err()
                .kind,
            ParseErrorKind::UnknownType("nonsense".into())
        );
    }

    #[test]
    fn unit_help_and_eof() {
        assert_eq!(
            comment("# UNIT x_seconds seconds", Format::OpenMetrics).unwrap(),
            Comment::Ignored
        );
        assert_eq!(
            comment("# HELP x Some \\n help", Format::OpenMetrics).unwrap(),
            Comment::Ignored
        );
        assert_eq!(comment("# EOF", Format::OpenMetrics).unwrap(), Comment::Eof);
        assert_eq!(comment("# EOF", Format::Prometheus).unwrap(), Comment::Eof);
        assert!(comment("# EOF extra", Format::OpenMetrics).is_err());
    }

    #[test]
    fn samples_take_their_family_type_through_the_standard_suffixes() {
        let counter = Family {
            name: "req",
            metric_type: MetricType::Counter,
        };
        assert_eq!(counter.type_of("req_total"), MetricType::Counter);
        assert_eq!(counter.type_of("req_created"), MetricType::Counter);
        assert_eq!(counter.type_of("req_bucket"), MetricType::Unknown);
        assert_eq!(counter.type_of("other"), MetricType::Unknown);
        let histogram = Family {
            name: "lat",
            metric_type: MetricType::Histogram,
        };
        for name in ["lat_bucket", "lat_sum", "lat_count", "lat_created"] {
            assert_eq!(histogram.type_of(name), MetricType::Histogram, "{name}");
        }
        assert_eq!(histogram.type_of("lat"), MetricType::Unknown);
        let gauge_histogram = Family {
            name: "q",
            metric_type: MetricType::GaugeHistogram,
        };
        assert_eq!(
            gauge_histogram.type_of("q_gsum"),
            MetricType::GaugeHistogram
        );
        assert_eq!(
            gauge_histogram.type_of("q_gcount"),
            MetricType::GaugeHistogram
        );
        let info = Family {
            name: "build",
            metric_type: MetricType::Info,
        };
        assert_eq!(info.type_of("build_info"), MetricType::Info);
    }
}
