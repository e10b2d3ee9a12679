//! A cursor over one line of the exposition: byte position, token helpers and located errors.

use super::Format;
use super::error::{ParseError, ParseErrorKind, Result};

/// Reads one line left to right; every error it builds carries the line and the current column.
pub(super) struct Cursor<'a> {
    line: &'a [u8],
    pos: usize,
    line_no: usize,
}

impl<'a> Cursor<'a> {
    /// A cursor at the start of `line`, which is line number `line_no` (1-based).
    pub(super) fn new(line: &'a [u8], line_no: usize) -> Self {
        Self {
            line,
            pos: 0,
            line_no,
        }
    }

    /// The byte under the cursor, if any.
    pub(super) fn peek(&self) -> Option<u8> {
        self.line.get(self.pos).copied()
    }

    /// Whether the whole line has been consumed.
    pub(super) fn at_end(&self) -> bool {
        self.pos >= self.line.len()
    }

    /// Current byte offset in the line.
    pub(super) fn pos(&self) -> usize {
        self.pos
    }

    /// The unread part of the line.
    pub(super) fn rest(&self) -> &'a [u8] {
        self.line.get(self.pos..).unwrap_or_default()
    }

    /// Moves the cursor forward by `n` bytes (never past the end).
    pub(super) fn advance(&mut self, n: usize) {
        self.pos = (self.pos + n).min(self.line.len());
    }

    /// An error at byte offset `pos` of this line.
    pub(super) fn error_at(&self, pos: usize, kind: ParseErrorKind) -> ParseError {
        ParseError {
            line: self.line_no,
            column: pos + 1,
            kind,
        }
    }

    /// An error at the cursor.
    pub(super) fn error(&self, kind: ParseErrorKind) -> ParseError {
        self.error_at(self.pos, kind)
    }

    /// An "expected X, found Y" error at the cursor.
    pub(super) fn unexpected(&self, expected: &'static str) -> ParseError {
        self.error(ParseErrorKind::Unexpected {
            expected,
            found: describe(self.peek()),
        })
    }

    /// Consumes `byte` or fails with "expected {expected}".
    pub(super) fn expect(&mut self, byte: u8, expected: &'static str) -> Result<()> {
        if self.peek() == Some(byte) {
            self.pos += 1;
            Ok(())
        } else {
            Err(self.unexpected(expected))
        }
    }

    /// Skips spaces and tabs; returns how many were skipped.
    pub(super) fn skip_blanks(&mut self) -> usize {
        let start = self.pos;
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.pos += 1;
        }
        self.pos - start
    }

    /// Skips blanks only where the format allows optional whitespace (Prometheus text).
    pub(super) fn skip_optional_blanks(&mut self, format: Format) {
        if format == Format::Prometheus {
            self.skip_blanks();
        }
    }

    /// Consumes the separator between tokens: one or more blanks in Prometheus text, exactly one
    /// space in OpenMetrics.
    pub(super) fn separator(&mut self, format: Format, expected: &'static str) -> Result<()> {
        match format {
            Format::Prometheus => {
                if self.skip_blanks() == 0 {
                    return Err(self.unexpected(expected));
                }
            }
            Format::OpenMetrics => {
                self.expect(b' ', expected)?;
                if matches!(self.peek(), Some(b' ' | b'\t')) {
                    return Err(self.unexpected("a single space (OpenMetrics)"));
                }
            }
        }
        Ok(())
    }

    /// Fails unless the line is finished; Prometheus text allows trailing blanks.
    pub(super) fn expect_end(&mut self, format: Format) -> Result<()> {
        self.skip_optional_blanks(format);
        if self.at_end() {
            Ok(())
        } else {
            Err(self.unexpected("end of line"))
        }
    }

    /// Takes bytes up to the next blank or the end of the line.
    pub(super) fn token(&mut self) -> &'a [u8] {
        let start = self.pos;
        while !matches!(self.peek(), None | Some(b' ' | b'\t')) {
            self.pos += 1;
        }
        self.line.get(start..self.pos).unwrap_or_default()
    }

    /// Takes a metric name `[a-zA-Z_:][a-zA-Z0-9_:]*`.
    pub(super) fn metric_name(&mut self) -> Result<&'a str> {
        self.name(
            |b| b.is_ascii_alphabetic() || b == b'_' || b == b':',
            "a metric name",
        )
    }

    /// Takes a label name `[a-zA-Z_][a-zA-Z0-9_]*`.
    pub(super) fn label_name(&mut self) -> Result<&'a str> {
        self.name(|b| b.is_ascii_alphabetic() || b == b'_', "a label name")
    }

    fn name(&mut self, first: impl Fn(u8) -> bool, expected: &'static str) -> Result<&'a str> {
        let start = self.pos;
        match self.peek() {
            Some(b) if first(b) => self.pos += 1,
            _ => return Err(self.unexpected(expected)),
        }
        while matches!(self.peek(), Some(b) if first(b) || b.is_ascii_digit()) {
            self.pos += 1;
        }
        let bytes = self.line.get(start..self.pos).unwrap_or_default();
        // Names are ASCII by construction, so this never fails; keep it an error, not a panic.
        std::str::from_utf8(bytes)
            .map_err(|_| self.error_at(start, ParseErrorKind::InvalidUtf8("name")))
    }
}

/// Describes a byte (or the end of the line) for an error message.
pub(super) fn describe(byte: Option<u8>) -> String {
    match byte {
        None => "end of line".to_owned(),
        Some(b) if b.is_ascii_graphic() => format!("`{}`", char::from(b)),
        Some(b' ') => "a space".to_owned(),
        Some(b'\t') => "a tab".to_owned(),
        Some(b) => format!("byte 0x{b:02x}"),
    }
}
