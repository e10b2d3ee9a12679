//! The pod's annotations as the kubelet writes them through the downward API: one `key="value"`
//! line per annotation, keys sorted, each value quoted the way Go's `strconv.Quote` does
//! (`\n`, `\"`, `\\`, `\t`, `\xNN`, `\uNNNN`, ...). Pure: text in, map out.

use std::collections::BTreeMap;

/// The annotation holding the watch spec.
pub const WATCH_ANNOTATION: &str = "ripcord.dev/watch";

/// Largest annotations file read, in bytes (Kubernetes caps all of a pod's annotations together
/// at 256 KiB).
pub const MAX_ANNOTATIONS_BYTES: usize = 256 * 1024;

/// A line of the annotations file that is not `key="value"`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("annotations line {line}, column {column}: {message}")]
pub struct AnnotationsError {
    /// Line of the file (1-based).
    pub line: usize,
    /// Column, in characters (1-based).
    pub column: usize,
    /// What is wrong.
    pub message: String,
}

/// Parses the downward API's annotations file into a map from key to unquoted value. Blank
/// lines are skipped; a malformed line is an error naming its line and column.
pub fn parse_annotations(text: &str) -> Result<BTreeMap<String, String>, AnnotationsError> {
    let mut annotations = BTreeMap::new();
    for (index, line) in text.lines().enumerate() {
        let at = |column: usize, message: String| AnnotationsError {
            line: index + 1,
            column,
            message,
        };
        if line.trim().is_empty() {
            continue;
        }
        let (key, quoted) = line
            .split_once('=')
            .ok_or_else(|| at(1, "expected key=\"value\"".to_string()))?;
        if key.is_empty() || key.contains(char::is_whitespace) {
            return Err(at(1, format!("bad annotation key {key:?}")));
        }
        let column = key.chars().count() + 2;
        let value = unquote(quoted).map_err(|(offset, message)| at(column + offset, message))?;
        annotations.insert(key.to_string(), value);
    }
    Ok(annotations)
}

/// Undoes Go's `strconv.Quote`; an error gives the character offset into `quoted` and why.
fn unquote(quoted: &str) -> Result<String, (usize, String)> {
    let inner = quoted
        .strip_prefix('"')
        .and_then(|rest| rest.strip_suffix('"'))
        .filter(|_| quoted.len() >= 2)
        .ok_or_else(|| (0, "the value is not in double quotes".to_string()))?;
    let mut bytes = Vec::with_capacity(inner.len());
    let mut chars = inner.char_indices().peekable();
    while let Some((offset, c)) = chars.next() {
        let at = |message: &str| (offset + 1, message.to_string());
        match c {
            '"' => return Err(at("unescaped double quote inside the value")),
            '\\' => {
                let (_, escape) = chars.next().ok_or_else(|| at("dangling backslash"))?;
                let mut take = |n: usize, radix: u32| -> Result<u32, (usize, String)> {
                    let digits: String = (0..n)
                        .filter_map(|_| chars.next().map(|(_, d)| d))
                        .collect();
                    if digits.chars().count() != n {
                        return Err(at("escape sequence cut short"));
                    }
                    u32::from_str_radix(&digits, radix).map_err(|_| at("bad digits in escape"))
                };
                match escape {
                    'a' => bytes.push(0x07),
                    'b' => bytes.push(0x08),
                    'f' => bytes.push(0x0c),
                    'n' => bytes.push(b'\n'),
                    'r' => bytes.push(b'\r'),
                    't' => bytes.push(b'\t'),
                    'v' => bytes.push(0x0b),
                    '\\' | '"' | '\'' => bytes.push(escape as u8),
                    'x' => bytes.push(take(2, 16)? as u8),
                    'u' | 'U' => {
                        let code = take(if escape == 'u' { 4 } else { 8 }, 16)?;
                        let rune =
                            char::from_u32(code).ok_or_else(|| at("not a Unicode scalar"))?;
                        bytes.extend_from_slice(rune.encode_utf8(&mut [0; 4]).as_bytes());
                    }
                    '0'..='7' => {
                        let rest = take(2, 8)?;
                        let code = (escape as u32 - '0' as u32) * 64 + rest;
                        let byte = u8::try_from(code).map_err(|_| at("octal escape over 255"))?;
                        bytes.push(byte);
                    }
                    other => return Err(at(&format!("unknown escape \\{other}"))),
                }
            }
            c => bytes.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes()),
        }
    }
    String::from_utf8(bytes).map_err(|_| (1, "the value is not UTF-8 once unquoted".to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_escapes_are_undone() {
        assert_eq!(
            unquote(r#""a\nb\t\"c\"\\d""#),
            Ok("a\nb\t\"c\"\\d".to_string())
        );
        assert_eq!(
            unquote(r#""\u00e9\U0001F600\x41\101""#),
            Ok("é😀AA".to_string())
        );
        assert_eq!(unquote(r#""""#), Ok(String::new()));
        assert!(unquote(r#""a"b""#).is_err());
        assert!(unquote(r#""a\"#).is_err());
        assert!(
            unquote(r#""\q""#)
                .expect_err("unknown escape")
                .1
                .contains("\\q")
        );
        assert!(unquote("\"").is_err());
        assert!(unquote(r#""\u12""#).is_err());
    }

    #[test]
    fn errors_name_line_and_column() {
        let text = "a=\"1\"\nripcord.dev/watch=\"x\\qy\"\n";
        let error = parse_annotations(text).expect_err("bad escape");
        assert_eq!((error.line, error.column), (2, 21), "{error}");
        let error = parse_annotations("no-equals-sign\n").expect_err("no =");
        assert_eq!(error.line, 1);
        let error = parse_annotations("k=unquoted\n").expect_err("unquoted");
        assert!(error.message.contains("double quotes"), "{error}");
    }
}
