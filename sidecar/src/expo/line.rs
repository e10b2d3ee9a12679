//! Sample lines: `name{labels} value [timestamp] [# {exemplar labels} value [timestamp]]`.

use super::cursor::Cursor;
use super::error::{ParseErrorKind, Result};
use super::labels::parse_label_set;
use super::number::{parse_timestamp, parse_value};
use super::{Format, Label};

/// The parts of a sample line other than its labels (which go to a reused buffer).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct SampleLine<'a> {
    /// Sample name.
    pub(super) name: &'a str,
    /// Sample value.
    pub(super) value: f64,
    /// Timestamp in milliseconds.
    pub(super) timestamp_ms: Option<i64>,
}

/// Reused label buffers, so that a scrape allocates nothing per sample.
#[derive(Debug, Default)]
pub(super) struct LabelBuffers<'a> {
    /// Labels of the current sample.
    pub(super) sample: Vec<Label<'a>>,
    /// Labels of the current exemplar (validated, then dropped).
    pub(super) exemplar: Vec<Label<'a>>,
}

/// Parses one sample line; its labels are left in `buffers.sample`.
pub(super) fn parse_sample_line<'a>(
    cur: &mut Cursor<'a>,
    format: Format,
    max_labels: usize,
    buffers: &mut LabelBuffers<'a>,
) -> Result<SampleLine<'a>> {
    let name = cur.metric_name()?;
    if format == Format::Prometheus && next_non_blank(cur) == Some(b'{') {
        cur.skip_blanks();
    }
    if cur.peek() == Some(b'{') {
        parse_label_set(cur, format, max_labels, &mut buffers.sample)?;
    } else {
        buffers.sample.clear();
    }
    cur.separator(format, "a blank before the value")?;
    let value = parse_value(cur)?;
    let mut timestamp_ms = None;
    if at_line_end(cur, format) {
        return Ok(SampleLine {
            name,
            value,
            timestamp_ms,
        });
    }
    cur.separator(format, "a blank before the timestamp")?;
    if cur.peek() != Some(b'#') {
        timestamp_ms = Some(parse_timestamp(cur, format)?);
        if at_line_end(cur, format) {
            return Ok(SampleLine {
                name,
                value,
                timestamp_ms,
            });
        }
        cur.separator(format, "end of line")?;
    }
    parse_exemplar(cur, format, max_labels, &mut buffers.exemplar)?;
    Ok(SampleLine {
        name,
        value,
        timestamp_ms,
    })
}

/// The first byte after any blanks at the cursor, without consuming anything.
fn next_non_blank(cur: &Cursor<'_>) -> Option<u8> {
    cur.rest()
        .iter()
        .copied()
        .find(|b| !matches!(b, b' ' | b'\t'))
}

/// Whether only (Prometheus: optional trailing blanks) remain.
fn at_line_end(cur: &Cursor<'_>, format: Format) -> bool {
    match format {
        Format::Prometheus => cur.rest().iter().all(|b| matches!(b, b' ' | b'\t')),
        Format::OpenMetrics => cur.at_end(),
    }
}

/// Validates an OpenMetrics exemplar `# {labels} value [timestamp]` and drops it.
fn parse_exemplar<'a>(
    cur: &mut Cursor<'a>,
    format: Format,
    max_labels: usize,
    scratch: &mut Vec<Label<'a>>,
) -> Result<()> {
    if cur.peek() != Some(b'#') {
        return Err(cur.unexpected("end of line"));
    }
    if format == Format::Prometheus {
        return Err(cur.error(ParseErrorKind::OpenMetricsOnly("an exemplar")));
    }
    cur.advance(1);
    cur.separator(format, "a space after `#`")?;
    parse_label_set(cur, format, max_labels, scratch)?;
    cur.separator(format, "a space before the exemplar value")?;
    parse_value(cur)?;
    if !cur.at_end() {
        cur.separator(format, "a space before the exemplar timestamp")?;
        parse_timestamp(cur, format)?;
    }
    cur.expect_end(format)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(text: &str, format: Format) -> Result<(SampleLine<'_>, Vec<(String, String)>)> {
        let mut buffers = LabelBuffers::default();
        let sample = parse_sample_line(
            &mut Cursor::new(text.as_bytes(), 1),
            format,
            8,
            &mut buffers,
        )?;
        let labels = buffers
            .sample
            .iter()
            .map(|l| (l.name.to_owned(), l.value.to_string()))
            .collect();
        Ok((sample, labels))
    }

    #[test]
    fn plain_labelled_and_timestamped_lines() {
        let (s, l) = line("up 1", Format::Prometheus).unwrap();
        assert_eq!(
            (s.name, s.value, s.timestamp_ms, l.len()),
            ("up", 1.0, None, 0)
        );
        let (s, l) = line("a:b{x=\"y\"}\t2.5\t1700000000000  ", Format::Prometheus).unwrap();
        assert_eq!(
            (s.name, s.value, s.timestamp_ms),
            ("a:b", 2.5, Some(1_700_000_000_000))
        );
        assert_eq!(l, vec![("x".to_owned(), "y".to_owned())]);
        let (s, _) = line("x {} -Inf", Format::Prometheus).unwrap();
        assert_eq!(s.value, f64::NEG_INFINITY);
    }

    #[test]
    fn openmetrics_exemplars_are_validated_and_skipped() {
        let text = "h_bucket{le=\"0.5\"} 3 # {trace_id=\"abc\"} 0.42 1700000000.5";
        let (s, l) = line(text, Format::OpenMetrics).unwrap();
        assert_eq!((s.value, s.timestamp_ms, l.len()), (3.0, None, 1));
        let (s, _) = line("c_total 4 1700000000 # {a=\"b\"} 1", Format::OpenMetrics).unwrap();
        assert_eq!(s.timestamp_ms, Some(1_700_000_000_000));
        assert!(line("c_total 4 # {a=\"b\"}", Format::OpenMetrics).is_err());
        assert!(line("c_total 4 # {a=\"b} 1", Format::OpenMetrics).is_err());
    }

    #[test]
    fn exemplar_in_prometheus_text_is_refused() {
        let err = line("c_total 4 # {a=\"b\"} 1", Format::Prometheus).unwrap_err();
        assert_eq!(
            (err.column, err.kind),
            (11, ParseErrorKind::OpenMetricsOnly("an exemplar"))
        );
    }

    #[test]
    fn openmetrics_whitespace_is_strict() {
        assert!(line("up  1", Format::OpenMetrics).is_err());
        assert!(line("up 1 ", Format::OpenMetrics).is_err());
        assert!(line("up {} 1", Format::OpenMetrics).is_err());
        assert!(line("up  1 ", Format::Prometheus).is_ok());
    }

    #[test]
    fn missing_value_and_garbage_are_located() {
        let err = line("up", Format::Prometheus).unwrap_err();
        assert_eq!(err.column, 3);
        let err = line("up 1 2 3", Format::Prometheus).unwrap_err();
        assert_eq!(err.column, 8);
        let err = line("9up 1", Format::Prometheus).unwrap_err();
        assert_eq!(err.column, 1);
    }
}
