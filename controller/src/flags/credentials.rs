//! Credentials for flag providers and notifications, read from a directory (the mounted Secret
//! named in the chart's values), one file per key, re-read on every use so a rotated Secret
//! takes effect without a restart. Never from the workload.

use std::io::Read;
use std::path::{Path, PathBuf};

/// Largest credential file read.
const MAX_CREDENTIAL_BYTES: u64 = 16 * 1024;

/// File holding the Unleash admin API token.
pub const UNLEASH_TOKEN: &str = "unleash-token";
/// File holding the LaunchDarkly API access token.
pub const LAUNCHDARKLY_TOKEN: &str = "launchdarkly-token";
/// File holding the secret the generic flag webhook's events are signed with.
pub const WEBHOOK_SECRET: &str = "webhook-secret";
/// File holding the Slack-compatible incoming-webhook URL.
pub const SLACK_WEBHOOK_URL: &str = "slack-webhook-url";

/// Why a credential could not be read.
#[derive(Debug, thiserror::Error)]
pub enum CredentialError {
    /// The file is absent.
    #[error(
        "credential {key:?} missing: no file {path}; give up: add key {key:?} to the credentials Secret"
    )]
    Missing {
        /// The key (file name).
        key: String,
        /// Where it was looked for.
        path: PathBuf,
    },
    /// The file exists but could not be used.
    #[error("credential {key:?} at {path}: {reason}; give up: fix the credentials Secret")]
    Unusable {
        /// The key (file name).
        key: String,
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
}

/// A directory of credential files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    dir: PathBuf,
}

impl Credentials {
    /// Credentials read from `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Credentials { dir: dir.into() }
    }

    /// The directory read.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The credential `key`, trimmed of surrounding whitespace; an error when absent or empty.
    pub fn read(&self, key: &str) -> Result<String, CredentialError> {
        self.read_optional(key)?
            .ok_or_else(|| CredentialError::Missing {
                key: key.to_string(),
                path: self.dir.join(key),
            })
    }

    /// The credential `key`, or `None` when its file is absent; an empty or oversized file is an
    /// error.
    pub fn read_optional(&self, key: &str) -> Result<Option<String>, CredentialError> {
        let path = self.dir.join(key);
        let unusable = |reason: String| CredentialError::Unusable {
            key: key.to_string(),
            path: path.clone(),
            reason,
        };
        let file = match std::fs::File::open(&path) {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(unusable(e.to_string())),
        };
        let mut bytes = Vec::new();
        file.take(MAX_CREDENTIAL_BYTES + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| unusable(e.to_string()))?;
        if bytes.len() as u64 > MAX_CREDENTIAL_BYTES {
            return Err(unusable(format!(
                "larger than {MAX_CREDENTIAL_BYTES} bytes"
            )));
        }
        let text = String::from_utf8(bytes).map_err(|_| unusable("not UTF-8".to_string()))?;
        let text = text.trim();
        if text.is_empty() {
            return Err(unusable("empty".to_string()));
        }
        Ok(Some(text.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("ripcord-credentials-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        dir
    }

    #[test]
    fn reads_trimmed_and_refuses_missing_empty_and_huge_files() {
        let dir = dir("read");
        std::fs::write(dir.join(UNLEASH_TOKEN), "  *:*.abc\n").expect("write");
        std::fs::write(dir.join(WEBHOOK_SECRET), "\n").expect("write");
        std::fs::write(dir.join(LAUNCHDARKLY_TOKEN), vec![b'a'; 20_000]).expect("write");
        let credentials = Credentials::new(&dir);
        assert_eq!(credentials.read(UNLEASH_TOKEN).expect("present"), "*:*.abc");
        let missing = credentials.read(SLACK_WEBHOOK_URL).expect_err("absent");
        assert!(
            matches!(missing, CredentialError::Missing { .. }),
            "{missing}"
        );
        assert!(
            missing.to_string().contains("slack-webhook-url"),
            "{missing}"
        );
        assert_eq!(
            credentials.read_optional(SLACK_WEBHOOK_URL).expect("fine"),
            None
        );
        for key in [WEBHOOK_SECRET, LAUNCHDARKLY_TOKEN] {
            let error = credentials.read(key).expect_err(key);
            assert!(matches!(error, CredentialError::Unusable { .. }), "{error}");
        }
        std::fs::remove_dir_all(dir).expect("cleanup");
    }
}
