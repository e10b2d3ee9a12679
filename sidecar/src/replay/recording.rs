//! Reads a recording: a file of `# SCRAPE <unix-ms>` blocks, each holding one scrape's exposition
//! text, or `# SCRAPE <unix-ms> error <message>` for a failed scrape.

use std::io::Read;
use std::ops::Range;
use std::path::{Path, PathBuf};

use super::error::{ReplayError, Result};

/// Largest recording accepted, in bytes (256 MiB: hours of one-second scrapes of a large app).
pub const MAX_RECORDING_BYTES: u64 = 256 * 1024 * 1024;

/// The marker that starts every block.
const HEADER: &str = "# SCRAPE";

/// One recorded scrape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scrape {
    /// When the scrape was taken, Unix milliseconds.
    pub at_ms: i64,
    /// 1-based line of the block's `# SCRAPE` header.
    pub line: usize,
    /// The exposition text, or why the scrape failed.
    pub content: Content,
}

/// What a block holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Content {
    /// Byte range of the exposition text within the recording.
    Exposition(Range<usize>),
    /// The scrape failed; the recorder's message.
    Failed(String),
}

/// A parsed recording: the file's bytes and its scrapes in time order.
#[derive(Debug, Clone)]
pub struct Recording {
    /// Where it was read from (named in every error).
    pub path: PathBuf,
    text: Vec<u8>,
    /// The scrapes, timestamps strictly increasing; never empty.
    pub scrapes: Vec<Scrape>,
}

impl Recording {
    /// Reads and parses the recording at `path`, refusing files over [`MAX_RECORDING_BYTES`].
    pub fn read(path: &Path) -> Result<Recording> {
        let read_error = |source| ReplayError::Read {
            path: path.to_path_buf(),
            source,
        };
        let too_large = || ReplayError::TooLarge {
            path: path.to_path_buf(),
            limit: MAX_RECORDING_BYTES,
        };
        let file = std::fs::File::open(path).map_err(read_error)?;
        if file.metadata().map_err(read_error)?.len() > MAX_RECORDING_BYTES {
            return Err(too_large());
        }
        let mut text = Vec::new();
        file.take(MAX_RECORDING_BYTES + 1)
            .read_to_end(&mut text)
            .map_err(read_error)?;
        if text.len() as u64 > MAX_RECORDING_BYTES {
            return Err(too_large());
        }
        Recording::parse(path, text)
    }

    /// Parses recording text; `path` only names the recording in errors.
    pub fn parse(path: &Path, text: Vec<u8>) -> Result<Recording> {
        let scrapes = Parser {
            path,
            scrapes: Vec::new(),
        }
        .run(&text)?;
        Ok(Recording {
            path: path.to_path_buf(),
            text,
            scrapes,
        })
    }

    /// The exposition bytes of a block.
    pub fn exposition(&self, range: &Range<usize>) -> &[u8] {
        self.text.get(range.clone()).unwrap_or_default()
    }
}

/// State of one pass over the lines of a recording.
struct Parser<'p> {
    path: &'p Path,
    scrapes: Vec<Scrape>,
}

impl Parser<'_> {
    fn run(mut self, text: &[u8]) -> Result<Vec<Scrape>> {
        let mut offset = 0;
        for (index, raw) in text.split_inclusive(|&b| b == b'\n').enumerate() {
            let line = index + 1;
            let content = trim_line_end(raw);
            if is_header(content) {
                self.close_block(offset);
                self.open_block(content, line, offset + raw.len())?;
            } else if !content.iter().all(u8::is_ascii_whitespace) {
                self.check_body_allowed(line)?;
            }
            offset += raw.len();
        }
        self.close_block(offset);
        if self.scrapes.is_empty() {
            return Err(ReplayError::Empty {
                path: self.path.to_path_buf(),
            });
        }
        Ok(self.scrapes)
    }

    /// Ends the open exposition block (if any) just before `end`.
    fn close_block(&mut self, end: usize) {
        if let Some(Scrape {
            content: Content::Exposition(range),
            ..
        }) = self.scrapes.last_mut()
        {
            range.end = end;
        }
    }

    /// Starts a block from its header line; its body (if any) begins at `body_start`.
    fn open_block(&mut self, header: &[u8], line: usize, body_start: usize) -> Result<()> {
        let (at_ms, failure) =
            parse_header(header).map_err(|message| self.bad_header(line, message))?;
        if let Some(previous) = self.scrapes.last()
            && at_ms <= previous.at_ms
        {
            return Err(ReplayError::NotIncreasing {
                path: self.path.to_path_buf(),
                line,
                at_ms,
                previous_ms: previous.at_ms,
            });
        }
        let content = match failure {
            Some(message) => Content::Failed(message),
            None => Content::Exposition(body_start..body_start),
        };
        self.scrapes.push(Scrape {
            at_ms,
            line,
            content,
        });
        Ok(())
    }

    /// A non-blank body line is allowed only inside an exposition block.
    fn check_body_allowed(&self, line: usize) -> Result<()> {
        match self.scrapes.last() {
            None => Err(self.bad_header(
                line,
                "expected a `# SCRAPE <unix-ms>` header before any exposition text",
            )),
            Some(Scrape {
                content: Content::Failed(_),
                line: header,
                ..
            }) => Err(self.bad_header(
                line,
                &format!("the failed scrape of line {header} cannot hold exposition text"),
            )),
            Some(_) => Ok(()),
        }
    }

    fn bad_header(&self, line: usize, message: &str) -> ReplayError {
        ReplayError::BadHeader {
            path: self.path.to_path_buf(),
            line,
            message: message.to_string(),
        }
    }
}

/// A line without its `\n` or `\r\n`.
fn trim_line_end(raw: &[u8]) -> &[u8] {
    let line = raw.strip_suffix(b"\n").unwrap_or(raw);
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// `# SCRAPE` alone or followed by whitespace; `# SCRAPED` is an ordinary comment.
fn is_header(line: &[u8]) -> bool {
    line.strip_prefix(HEADER.as_bytes())
        .is_some_and(|rest| rest.first().is_none_or(u8::is_ascii_whitespace))
}

/// Parses `# SCRAPE <unix-ms>` or `# SCRAPE <unix-ms> error <message>` into the timestamp and
/// the failure message, if any.
fn parse_header(line: &[u8]) -> std::result::Result<(i64, Option<String>), &'static str> {
    let text = std::str::from_utf8(line).map_err(|_| "`# SCRAPE` header is not valid UTF-8")?;
    let rest = text.get(HEADER.len()..).unwrap_or_default().trim_start();
    let (stamp, rest) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
    if stamp.is_empty() {
        return Err("`# SCRAPE` header lacks its timestamp: expected `# SCRAPE <unix-ms>`");
    }
    if !stamp.bytes().all(|b| b.is_ascii_digit()) {
        return Err("timestamp is not a whole number of Unix milliseconds");
    }
    let at_ms = stamp.parse::<i64>().map_err(|_| "timestamp is too large")?;
    let rest = rest.trim();
    if rest.is_empty() {
        return Ok((at_ms, None));
    }
    match rest.split_once(char::is_whitespace) {
        Some(("error", message)) => Ok((at_ms, Some(message.trim().to_string()))),
        None if rest == "error" => Ok((at_ms, Some(String::from("scrape failed")))),
        _ => Err("unexpected text after the timestamp: only `error <message>` may follow"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Recording> {
        Recording::parse(Path::new("test.rec"), text.as_bytes().to_vec())
    }

    fn bad_header_line(text: &str) -> (usize, String) {
        match parse(text) {
            Err(ReplayError::BadHeader { line, message, .. }) => (line, message),
            other => panic!("expected a bad header, got {other:?}"),
        }
    }

    #[test]
    fn blocks_hold_the_text_up_to_the_next_header() {
        let text =
            "# SCRAPE 1000\na 1\nb 2\n# SCRAPE 2000 error connection refused\n# SCRAPE 3000\na 3\n";
        let rec = parse(text).unwrap();
        let times: Vec<i64> = rec.scrapes.iter().map(|s| s.at_ms).collect();
        assert_eq!(times, [1000, 2000, 3000]);
        let Content::Exposition(first) = &rec.scrapes[0].content else {
            panic!("first block failed")
        };
        assert_eq!(rec.exposition(first), b"a 1\nb 2\n");
        assert_eq!(
            rec.scrapes[1].content,
            Content::Failed("connection refused".into())
        );
        let Content::Exposition(last) = &rec.scrapes[2].content else {
            panic!("last block failed")
        };
        assert_eq!(rec.exposition(last), b"a 3\n");
        assert_eq!(rec.scrapes[2].line, 5);
    }

    #[test]
    fn crlf_and_a_missing_final_newline_are_accepted() {
        let rec = parse("# SCRAPE 5\r\nx 1\r\n# SCRAPE 6\r\nx 2").unwrap();
        let Content::Exposition(last) = &rec.scrapes[1].content else {
            panic!("last block failed")
        };
        assert_eq!(rec.exposition(last), b"x 2");
    }

    #[test]
    fn an_empty_block_is_an_empty_exposition() {
        let rec = parse("# SCRAPE 1\n# SCRAPE 2\n").unwrap();
        let Content::Exposition(range) = &rec.scrapes[0].content else {
            panic!("block failed")
        };
        assert!(range.is_empty());
    }

    #[test]
    fn bad_headers_name_their_line() {
        assert_eq!(bad_header_line("# SCRAPE 1\nx 1\n# SCRAPE soon\n").0, 3);
        assert_eq!(bad_header_line("# SCRAPE\n").0, 1);
        assert_eq!(bad_header_line("# SCRAPE -5\n").0, 1);
        assert_eq!(
            bad_header_line("# SCRAPE 99999999999999999999\n").1,
            "timestamp is too large"
        );
        assert!(
            bad_header_line("# SCRAPE 1 oops\n")
                .1
                .contains("only `error <message>`")
        );
    }

    #[test]
    fn text_before_the_first_header_is_refused() {
        let (line, message) = bad_header_line("\nx 1\n# SCRAPE 1\n");
        assert_eq!(line, 2);
        assert!(message.contains("before any exposition"), "{message}");
    }

    #[test]
    fn a_failed_scrape_holds_no_text() {
        let (line, message) = bad_header_line("# SCRAPE 1 error timeout\nx 1\n");
        assert_eq!(line, 2);
        assert!(message.contains("line 1"), "{message}");
    }

    #[test]
    fn scraped_is_not_a_header() {
        let rec = parse("# SCRAPE 1\n# SCRAPED by hand\nx 1\n").unwrap();
        assert_eq!(rec.scrapes.len(), 1);
    }

    #[test]
    fn timestamps_must_increase() {
        match parse("# SCRAPE 2000\n# SCRAPE 3000\n# SCRAPE 3000\n") {
            Err(ReplayError::NotIncreasing {
                line,
                at_ms,
                previous_ms,
                ..
            }) => {
                assert_eq!((line, at_ms, previous_ms), (3, 3000, 3000));
            }
            other => panic!("expected non-increasing timestamps, got {other:?}"),
        }
    }

    #[test]
    fn empty_and_blank_files_are_refused() {
        for text in ["", "\n\n  \n"] {
            assert!(
                matches!(parse(text), Err(ReplayError::Empty { .. })),
                "{text:?}"
            );
        }
    }

    #[test]
    fn a_missing_file_is_a_read_error_naming_it() {
        let err = Recording::read(Path::new("/nonexistent/base.rec")).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("/nonexistent/base.rec: cannot read"),
            "{err}"
        );
    }
}
