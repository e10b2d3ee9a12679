//! Sample values and timestamps.

use super::Format;
use super::cursor::Cursor;
use super::error::{ParseErrorKind, Result};

/// Parses a sample value: a decimal float, `NaN`, `+Inf`, `-Inf` (case-insensitive, as Go's
/// `strconv.ParseFloat` which Prometheus uses).
pub(super) fn parse_value(cur: &mut Cursor<'_>) -> Result<f64> {
    let start = cur.pos();
    let token = cur.token();
    std::str::from_utf8(token)
        .ok()
        .filter(|text| !text.is_empty())
        .and_then(|text| text.parse::<f64>().ok())
        .ok_or_else(|| cur.error_at(start, ParseErrorKind::InvalidValue(lossy(token))))
}

/// Parses a timestamp into milliseconds: an integer count of milliseconds in Prometheus text, a
/// finite number of seconds (maybe fractional) in OpenMetrics.
pub(super) fn parse_timestamp(cur: &mut Cursor<'_>, format: Format) -> Result<i64> {
    let start = cur.pos();
    let token = cur.token();
    let text = std::str::from_utf8(token).ok();
    let millis = match format {
        Format::Prometheus => text.and_then(|t| t.parse::<i64>().ok()),
        Format::OpenMetrics => text.and_then(seconds_to_millis),
    };
    millis.ok_or_else(|| cur.error_at(start, ParseErrorKind::InvalidTimestamp(lossy(token))))
}

/// OpenMetrics seconds to milliseconds, rounded to the nearest millisecond.
fn seconds_to_millis(text: &str) -> Option<i64> {
    let seconds = text.parse::<f64>().ok().filter(|s| s.is_finite())?;
    let millis = (seconds * 1000.0).round();
    // i64::MAX as f64 rounds up to 2^63, so the upper bound is exclusive.
    (millis >= i64::MIN as f64 && millis < i64::MAX as f64).then_some(millis as i64)
}

/// A short, printable copy of a bad token for the error message (only built on error).
fn lossy(token: &[u8]) -> String {
    let text = String::from_utf8_lossy(token);
    text.chars().take(40).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(text: &str) -> Result<f64> {
        parse_value(&mut Cursor::new(text.as_bytes(), 1))
    }

    fn timestamp(text: &str, format: Format) -> Result<i64> {
        parse_timestamp(&mut Cursor::new(text.as_bytes(), 1), format)
    }

    #[test]
    fn special_values() {
        assert!(value("NaN").unwrap().is_nan());
        assert_eq!(value("+Inf").unwrap(), f64::INFINITY);
        assert_eq!(value("-Inf").unwrap(), f64::NEG_INFINITY);
        assert_eq!(value("1.5e3").unwrap(), 1500.0);
        assert_eq!(value("-0.25").unwrap(), -0.25);
    }

    #[test]
    fn bad_values_are_named() {
        let err = value("12abc").unwrap_err();
        assert_eq!(err.kind, ParseErrorKind::InvalidValue("12abc".into()));
        assert!(value("").is_err());
    }

    #[test]
    fn prometheus_timestamps_are_integer_millis() {
        assert_eq!(
            timestamp("1700000000123", Format::Prometheus).unwrap(),
            1_700_000_000_123
        );
        assert_eq!(timestamp("-5", Format::Prometheus).unwrap(), -5);
        assert!(timestamp("1700000000.5", Format::Prometheus).is_err());
    }

    #[test]
    fn openmetrics_timestamps_are_seconds() {
        assert_eq!(
            timestamp("1700000000.123", Format::OpenMetrics).unwrap(),
            1_700_000_000_123
        );
        assert_eq!(
            timestamp("1700000000", Format::OpenMetrics).unwrap(),
            1_700_000_000_000
        );
        assert!(timestamp("NaN", Format::OpenMetrics).is_err());
        assert!(timestamp("1e300", Format::OpenMetrics).is_err());
    }
}
