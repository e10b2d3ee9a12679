//! Label sets `{name="value",...}` and quoted label values with escapes.

use std::borrow::Cow;

use super::cursor::Cursor;
use super::error::{ParseErrorKind, Result};
use super::{Format, Label};

/// Parses a label set starting at `{` into `out` (cleared first), enforcing `max_labels` and
/// rejecting duplicate names. Allows `{}` and a trailing comma; blanks inside the braces only in
/// Prometheus text.
pub(super) fn parse_label_set<'a>(
    cur: &mut Cursor<'a>,
    format: Format,
    max_labels: usize,
    out: &mut Vec<Label<'a>>,
) -> Result<()> {
    out.clear();
    cur.expect(b'{', "`{`")?;
    loop {
        cur.skip_optional_blanks(format);
        if cur.peek() == Some(b'}') {
            cur.advance(1);
            return Ok(());
        }
        let name_pos = cur.pos();
        let name = cur.label_name()?;
        cur.skip_optional_blanks(format);
        cur.expect(b'=', "`=` after the label name")?;
        cur.skip_optional_blanks(format);
        let value = quoted_value(cur, format)?;
        if out.len() == max_labels {
            return Err(cur.error_at(
                name_pos,
                ParseErrorKind::TooManyLabels { limit: max_labels },
            ));
        }
        if out.iter().any(|label| label.name == name) {
            return Err(cur.error_at(name_pos, ParseErrorKind::DuplicateLabel(name.to_owned())));
        }
        out.push(Label { name, value });
        cur.skip_optional_blanks(format);
        match cur.peek() {
            Some(b',') => cur.advance(1),
            Some(b'}') => {
                cur.advance(1);
                return Ok(());
            }
            _ => return Err(cur.unexpected("`,` or `}` after a label value")),
        }
    }
}

/// Parses `"..."`, unescaping `\\`, `\"` and `\n`. Borrows when the value holds no escape.
/// Other escapes are kept verbatim in Prometheus text (as the Prometheus server does) and are an
/// error in OpenMetrics.
pub(super) fn quoted_value<'a>(cur: &mut Cursor<'a>, format: Format) -> Result<Cow<'a, str>> {
    let open = cur.pos();
    cur.expect(b'"', "`\"` opening the label value")?;
    let body = cur.rest();
    let Some(stop) = memchr::memchr2(b'"', b'\\', body) else {
        return Err(cur.error_at(open, ParseErrorKind::UnterminatedLabelValue));
    };
    if body.get(stop) == Some(&b'"') {
        let value = utf8(cur, open + 1, body.get(..stop).unwrap_or_default())?;
        cur.advance(stop + 1);
        return Ok(Cow::Borrowed(value));
    }
    unescape(cur, format, open).map(Cow::Owned)
}

/// The slow path for a value holding at least one backslash.
fn unescape(cur: &mut Cursor<'_>, format: Format, open: usize) -> Result<String> {
    let mut value = String::new();
    loop {
        let body = cur.rest();
        let Some(stop) = memchr::memchr2(b'"', b'\\', body) else {
            return Err(cur.error_at(open, ParseErrorKind::UnterminatedLabelValue));
        };
        value.push_str(utf8(cur, cur.pos(), body.get(..stop).unwrap_or_default())?);
        cur.advance(stop);
        if cur.peek() == Some(b'"') {
            cur.advance(1);
            return Ok(value);
        }
        let escape_pos = cur.pos();
        cur.advance(1);
        match cur.peek() {
            Some(b'\\') => value.push('\\'),
            Some(b'"') => value.push('"'),
            Some(b'n') => value.push('\n'),
            None => return Err(cur.error_at(open, ParseErrorKind::UnterminatedLabelValue)),
            Some(other) => {
                if format == Format::OpenMetrics {
                    return Err(
                        cur.error_at(escape_pos, ParseErrorKind::InvalidEscape(char::from(other)))
                    );
                }
                // Kept verbatim: the backslash now, the escaped byte with the next segment.
                value.push('\\');
                continue;
            }
        }
        cur.advance(1);
    }
}

/// Validates `bytes` (which start at byte offset `start` of the line) as UTF-8.
fn utf8<'a>(cur: &Cursor<'_>, start: usize, bytes: &'a [u8]) -> Result<&'a str> {
    std::str::from_utf8(bytes).map_err(|e| {
        cur.error_at(
            start + e.valid_up_to(),
            ParseErrorKind::InvalidUtf8("label value"),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(text: &str, format: Format) -> Result<Vec<(String, String)>> {
        let mut cur = Cursor::new(text.as_bytes(), 1);
        let mut out = Vec::new();
        parse_label_set(&mut cur, format, 8, &mut out)?;
        Ok(out
            .iter()
            .map(|l| (l.name.to_owned(), l.value.to_string()))
            .collect())
    }

    fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
        p.iter()
            .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
            .collect()
    }

    #[test]
    fn values_may_hold_braces_commas_quotes_and_escapes() {
        let got = labels(
            r#"{a="x}y",b="1,2",c="say \"hi\"",d="back\\slash",e="two\nlines"}"#,
            Format::OpenMetrics,
        );
        assert_eq!(
            got.unwrap(),
            pairs(&[
                ("a", "x}y"),
                ("b", "1,2"),
                ("c", "say \"hi\""),
                ("d", "back\\slash"),
                ("e", "two\nlines")
            ])
        );
    }

    #[test]
    fn empty_set_and_trailing_comma_are_accepted() {
        assert_eq!(labels("{}", Format::Prometheus).unwrap(), pairs(&[]));
        assert_eq!(
            labels(r#"{a="1",}"#, Format::Prometheus).unwrap(),
            pairs(&[("a", "1")])
        );
    }

    #[test]
    fn blanks_inside_braces_only_in_prometheus_text() {
        let text = r#"{ a = "1" , b="2" }"#;
        assert_eq!(
            labels(text, Format::Prometheus).unwrap(),
            pairs(&[("a", "1"), ("b", "2")])
        );
        assert!(labels(text, Format::OpenMetrics).is_err());
    }

    #[test]
    fn unknown_escape_is_verbatim_in_prometheus_and_an_error_in_openmetrics() {
        assert_eq!(
            labels(r#"{a="x\ty"}"#, Format::Prometheus).unwrap(),
            pairs(&[("a", "x\\ty")])
        );
        let err = labels(r#"{a="x\ty"}"#, Format::OpenMetrics).unwrap_err();
        assert_eq!(
            (err.column, err.kind),
            (6, ParseErrorKind::InvalidEscape('t'))
        );
    }

    #[test]
    fn unterminated_value_points_at_its_opening_quote() {
        let err = labels(r#"{a="open\"}"#, Format::Prometheus).unwrap_err();
        assert_eq!(
            (err.line, err.column, err.kind),
            (1, 4, ParseErrorKind::UnterminatedLabelValue)
        );
    }

    #[test]
    fn invalid_utf8_is_located() {
        let mut cur = Cursor::new(b"{a=\"ok\xff\"}", 3);
        let err = parse_label_set(&mut cur, Format::Prometheus, 8, &mut Vec::new()).unwrap_err();
        assert_eq!((err.line, err.column), (3, 7));
        assert_eq!(err.kind, ParseErrorKind::InvalidUtf8("label value"));
    }

    #[test]
    fn duplicate_and_too_many_labels_are_refused() {
        let err = labels(r#"{a="1",a="2"}"#, Format::Prometheus).unwrap_err();
        assert_eq!(err.kind, ParseErrorKind::DuplicateLabel("a".into()));
        let many = format!(
            "{{{}}}",
            (0..9)
                .map(|i| format!("l{i}=\"v\""))
                .collect::<Vec<_>>()
                .join(",")
        );
        let err = labels(&many, Format::Prometheus).unwrap_err();
        assert_eq!(err.kind, ParseErrorKind::TooManyLabels { limit: 8 });
    }
}
