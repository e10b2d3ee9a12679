//! The `ripcord.dev/flag` URL, checked with the `flags` module's own parser ([`FlagUrl`]) so a
//! policy accepts exactly the URLs the flag clients can turn off.

use crate::flags::{FlagError, FlagUrl};

use super::{ANNOTATION_FLAG, Error, Result};

/// The flag systems Ripcord can turn a flag off in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlagScheme {
    /// OpenFeature Operator `FeatureFlag`.
    OpenFeature,
    /// Unleash admin API.
    Unleash,
    /// LaunchDarkly semantic patch.
    LaunchDarkly,
    /// A generic webhook.
    Webhook,
}

/// A flag URL that parsed: as written, its flag system, and its parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlagRef {
    /// The URL as written (trimmed).
    pub url: String,
    /// Its flag system.
    pub scheme: FlagScheme,
    /// The parsed URL the flag clients act on.
    pub parsed: FlagUrl,
}

impl FlagRef {
    /// Parses a flag URL; an error names the annotation, the URL and what is wrong.
    pub fn parse(value: &str) -> Result<Self> {
        let url = value.trim();
        let parsed: FlagUrl = url.parse().map_err(|error| {
            let message = match error {
                FlagError::Url { url, reason } => format!("{url:?}: {reason}"),
                other => other.to_string(),
            };
            Error::Invalid {
                annotation: ANNOTATION_FLAG,
                message,
            }
        })?;
        let scheme = match parsed {
            FlagUrl::OpenFeature(_) => FlagScheme::OpenFeature,
            FlagUrl::Unleash(_) => FlagScheme::Unleash,
            FlagUrl::LaunchDarkly(_) => FlagScheme::LaunchDarkly,
            FlagUrl::Webhook(_) => FlagScheme::Webhook,
        };
        Ok(FlagRef {
            url: url.to_string(),
            scheme,
            parsed,
        })
    }
}
