//! Where the watch spec comes from, re-read every tick: `--watch` text, or the `ripcord.dev/watch`
//! annotation in the downward API's annotations file (which the kubelet rewrites through a
//! symlink swap when the pod's annotations change). A bad new spec is refused with its place and
//! the last good one stays in force.

use std::io::Read;
use std::path::{Path, PathBuf};

use super::annotations::{MAX_ANNOTATIONS_BYTES, WATCH_ANNOTATION, parse_annotations};
use crate::spec::{WatchSpec, parse_watch};

/// What a [`SpecSource::refresh`] found.
#[derive(Debug)]
pub enum SpecEvent {
    /// The spec text is as before (other annotations may have changed): nothing to do.
    Unchanged,
    /// A new spec parsed: judge with it from now on.
    Loaded(WatchSpec),
    /// The source could not be read or its spec does not parse; the previous good spec (if
    /// any) stays in force. The message names the file, line and column.
    Refused(String),
}

/// Where to read the watch spec from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SpecOrigin {
    /// Given inline (`--watch`); never changes.
    Inline(String),
    /// The `ripcord.dev/watch` annotation in a downward API annotations file.
    Annotations(PathBuf),
}

/// Reads the spec, notices when it changed, and keeps the last good one in force.
#[derive(Debug)]
pub struct SpecSource {
    origin: SpecOrigin,
    /// The raw bytes behind the last outcome (the file, or the error text if unreadable).
    last_raw: Option<Vec<u8>>,
    /// The text of the spec in force.
    active_text: Option<String>,
    /// Why the source was last refused, while it still is.
    error: Option<String>,
}

impl SpecSource {
    /// A source reading from `origin`; the first [`SpecSource::refresh`] always reports.
    pub fn new(origin: SpecOrigin) -> Self {
        SpecSource {
            origin,
            last_raw: None,
            active_text: None,
            error: None,
        }
    }

    /// Why the current source is refused (the previous good spec stays in force), if it is.
    pub fn error(&self) -> Option<&str> {
        self.error.as_deref()
    }

    /// Re-reads the source (at most [`MAX_ANNOTATIONS_BYTES`]) and says what changed.
    pub fn refresh(&mut self) -> SpecEvent {
        let raw = match &self.origin {
            SpecOrigin::Inline(text) => Ok(text.clone().into_bytes()),
            SpecOrigin::Annotations(path) => read_capped(path),
        };
        let key = match &raw {
            Ok(bytes) => bytes.clone(),
            Err(error) => error.clone().into_bytes(),
        };
        if self.last_raw.as_ref() == Some(&key) {
            return SpecEvent::Unchanged;
        }
        self.last_raw = Some(key);
        let text = match raw.and_then(|bytes| self.spec_text(&bytes)) {
            Ok(text) => text,
            Err(error) => return self.refuse(error),
        };
        if self.active_text.as_ref() == Some(&text) {
            self.error = None;
            return SpecEvent::Unchanged;
        }
        match parse_watch(&text) {
            Ok(spec) => {
                self.active_text = Some(text);
                self.error = None;
                SpecEvent::Loaded(spec)
            }
            Err(e) => self.refuse(format!("watch spec ({}): {e}", self.name())),
        }
    }

    fn refuse(&mut self, error: String) -> SpecEvent {
        self.error = Some(error.clone());
        SpecEvent::Refused(error)
    }

    /// The spec's text within the raw source.
    fn spec_text(&self, bytes: &[u8]) -> Result<String, String> {
        let text = std::str::from_utf8(bytes).map_err(|_| format!("{}: not UTF-8", self.name()))?;
        match &self.origin {
            SpecOrigin::Annotations(path) => {
                let annotations =
                    parse_annotations(text).map_err(|e| format!("{}: {e}", path.display()))?;
                annotations.get(WATCH_ANNOTATION).cloned().ok_or_else(|| {
                    format!(
                        "{}: the pod has no `{WATCH_ANNOTATION}` annotation, so nothing is watched",
                        path.display()
                    )
                })
            }
            SpecOrigin::Inline(_) => Ok(text.to_string()),
        }
    }

    fn name(&self) -> String {
        match &self.origin {
            SpecOrigin::Inline(_) => "--watch".to_string(),
            SpecOrigin::Annotations(path) => {
                format!("{WATCH_ANNOTATION} in {}", path.display())
            }
        }
    }
}

/// Reads a file of at most [`MAX_ANNOTATIONS_BYTES`]; the error says which file and why.
fn read_capped(path: &Path) -> Result<Vec<u8>, String> {
    let refuse = |why: String| format!("{}: {why}", path.display());
    let file = std::fs::File::open(path).map_err(|e| refuse(e.to_string()))?;
    let mut bytes = Vec::new();
    file.take(MAX_ANNOTATIONS_BYTES as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| refuse(e.to_string()))?;
    if bytes.len() > MAX_ANNOTATIONS_BYTES {
        return Err(refuse(format!("larger than {MAX_ANNOTATIONS_BYTES} bytes")));
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file_with(dir: &Path, watch: &str) -> PathBuf {
        let path = dir.join("annotations");
        let quoted = format!("{watch:?}");
        std::fs::write(
            &path,
            format!("app=\"shop\"\n{WATCH_ANNOTATION}={quoted}\n"),
        )
        .expect("write annotations");
        path
    }

    #[test]
    fn a_bad_spec_is_refused_with_its_place_and_the_good_one_stays() {
        let dir = std::env::temp_dir().join(format!("ripcord-spec-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = file_with(&dir, "errors: e_total / r_total max +50%");
        let mut source = SpecSource::new(SpecOrigin::Annotations(path.clone()));
        assert!(matches!(source.refresh(), SpecEvent::Loaded(s) if s.metrics.len() == 1));
        assert!(matches!(source.refresh(), SpecEvent::Unchanged));
        file_with(&dir, "errors: e_total / r_total maks +50%");
        let SpecEvent::Refused(error) = source.refresh() else {
            panic!("a typo must be refused");
        };
        assert!(
            error.contains("ripcord.dev/watch") && error.contains("line 1"),
            "{error}"
        );
        assert_eq!(source.error(), Some(error.as_str()));
        file_with(&dir, "errors: e_total / r_total max +50%");
        assert!(
            matches!(source.refresh(), SpecEvent::Unchanged),
            "same good spec again"
        );
        assert_eq!(source.error(), None);
        std::fs::remove_file(&path).expect("remove");
        assert!(matches!(source.refresh(), SpecEvent::Refused(e) if e.contains("annotations")));
        std::fs::remove_dir_all(&dir).expect("cleanup");
    }
}
