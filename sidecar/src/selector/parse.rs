//! The selector parser: a byte cursor over the source that reports the offset of each error.

use super::{MAX_SELECTOR_BYTES, MatchOp, Matcher, Result, Selector, SelectorError};

/// Parses a selector at the start of `src` (leading whitespace skipped); returns the bytes used.
pub(super) fn parse_prefix(src: &str) -> Result<(Selector, usize)> {
    let mut cursor = Cursor { src, pos: 0 };
    cursor.skip_space();
    let metric = cursor.metric_name()?;
    let after_name = cursor.pos;
    cursor.skip_space();
    let matchers = if cursor.peek() == Some('{') {
        cursor.matchers()?
    } else {
        cursor.pos = after_name;
        Vec::new()
    };
    if cursor.pos > MAX_SELECTOR_BYTES {
        return Err(SelectorError {
            offset: 0,
            message: format!(
                "selector is {} bytes long; at most {MAX_SELECTOR_BYTES} are allowed",
                cursor.pos
            ),
        });
    }
    Ok((Selector { metric, matchers }, cursor.pos))
}

/// Names the token at the start of `rest` for an error message.
pub(crate) fn describe(rest: &str) -> String {
    match rest.chars().next() {
        None => "end of input".to_owned(),
        Some(c) if c.is_alphanumeric() || c == '_' => {
            let word: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || matches!(c, '_' | '.' | ':'))
                .take(40)
                .collect();
            format!("{word:?}")
        }
        Some(c) => format!("{:?}", c.to_string()),
    }
}

struct Cursor<'a> {
    src: &'a str,
    pos: usize,
}

impl Cursor<'_> {
    fn rest(&self) -> &str {
        self.src.get(self.pos..).unwrap_or("")
    }

    fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += c.len_utf8();
        Some(c)
    }

    fn skip_space(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.bump();
        }
    }

    fn error<T>(&self, offset: usize, message: impl Into<String>) -> Result<T> {
        Err(SelectorError {
            offset,
            message: message.into(),
        })
    }

    fn unexpected<T>(&self, expected: &str) -> Result<T> {
        self.error(
            self.pos,
            format!("expected {expected}, found {}", describe(self.rest())),
        )
    }

    fn identifier(&mut self, first: fn(char) -> bool, next: fn(char) -> bool) -> Option<String> {
        let start = self.pos;
        if !self.peek().is_some_and(first) {
            return None;
        }
        self.bump();
        while self.peek().is_some_and(next) {
            self.bump();
        }
        Some(self.src[start..self.pos].to_owned())
    }

    fn metric_name(&mut self) -> Result<String> {
        let first = |c: char| c.is_ascii_alphabetic() || c == '_' || c == ':';
        let next = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == ':';
        match self.identifier(first, next) {
            Some(name) => Ok(name),
            None => self.unexpected("a metric name"),
        }
    }

    fn label_name(&mut self) -> Option<String> {
        let first = |c: char| c.is_ascii_alphabetic() || c == '_';
        let next = |c: char| c.is_ascii_alphanumeric() || c == '_';
        self.identifier(first, next)
    }

    fn matchers(&mut self) -> Result<Vec<Matcher>> {
        let open = self.pos;
        self.bump();
        let mut matchers = Vec::new();
        loop {
            self.skip_space();
            match self.peek() {
                Some('}') => break,
                None => return self.unclosed(open),
                Some(_) => {}
            }
            matchers.push(self.matcher()?);
            self.skip_space();
            match self.peek() {
                Some(',') => {
                    self.bump();
                }
                Some('}') => break,
                None => return self.unclosed(open),
                Some(_) => return self.unexpected("\",\" or \"}\""),
            }
        }
        self.bump();
        Ok(matchers)
    }

    fn unclosed<T>(&self, open: usize) -> Result<T> {
        self.error(
            self.pos,
            format!("missing \"}}\" to close the \"{{\" at byte {open}"),
        )
    }

    fn matcher(&mut self) -> Result<Matcher> {
        let Some(label) = self.label_name() else {
            return self.unexpected("a label name or \"}\"");
        };
        self.skip_space();
        let op = self.match_op(&label)?;
        self.skip_space();
        let value_at = self.pos;
        let value = self.string()?;
        Matcher::new(label, op, value).map_err(|e| SelectorError {
            offset: value_at,
            message: e.message,
        })
    }

    fn match_op(&mut self, label: &str) -> Result<MatchOp> {
        let rest = self.rest();
        let (op, len) = if rest.starts_with("=~") {
            (MatchOp::RegexMatch, 2)
        } else if rest.starts_with("!=") {
            (MatchOp::NotEqual, 2)
        } else if rest.starts_with("!~") {
            (MatchOp::RegexNoMatch, 2)
        } else if rest.starts_with('=') {
            (MatchOp::Equal, 1)
        } else {
            return self.unexpected(&format!("=, !=, =~ or !~ after label {label:?}"));
        };
        self.pos += len;
        Ok(op)
    }

    fn string(&mut self) -> Result<String> {
        let open = self.pos;
        let quote = match self.peek() {
            Some(q @ ('"' | '\'' | '`')) => q,
            _ => return self.unexpected("a quoted label value"),
        };
        self.bump();
        let mut value = String::new();
        loop {
            let at = self.pos;
            match self.bump() {
                None | Some('\n') => {
                    return self.error(
                        open,
                        format!("unterminated string: missing closing {quote}"),
                    );
                }
                Some(c) if c == quote => return Ok(value),
                Some('\\') if quote != '`' => value.push(self.escape(at)?),
                Some(c) => value.push(c),
            }
        }
    }

    /// Reads one escape after its backslash (at byte `at`), as Go and PromQL do.
    fn escape(&mut self, at: usize) -> Result<char> {
        let simple = match self.bump() {
            Some('a') => '\u{7}',
            Some('b') => '\u{8}',
            Some('f') => '\u{c}',
            Some('n') => '\n',
            Some('r') => '\r',
            Some('t') => '\t',
            Some('v') => '\u{b}',
            Some(c @ ('\\' | '\'' | '"')) => c,
            Some('x') => return self.code_point(at, 2, 16),
            Some('u') => return self.code_point(at, 4, 16),
            Some('U') => return self.code_point(at, 8, 16),
            Some(c @ '0'..='7') => {
                self.pos -= c.len_utf8();
                return self.code_point(at, 3, 8);
            }
            Some(c) => return self.error(at, format!("unknown escape \"\\{c}\"")),
            None => return self.error(at, "unterminated escape at end of input"),
        };
        Ok(simple)
    }

    fn code_point(&mut self, at: usize, digits: usize, radix: u32) -> Result<char> {
        let text = self.rest().get(..digits).unwrap_or("");
        let value = if text.len() == digits && text.chars().all(|c| c.is_digit(radix)) {
            u32::from_str_radix(text, radix).ok()
        } else {
            None
        };
        match value.and_then(char::from_u32) {
            Some(c) => {
                self.pos += digits;
                Ok(c)
            }
            None => self.error(
                at,
                format!("bad escape: expected {digits} base-{radix} digits naming a character"),
            ),
        }
    }
}
