//! The `ripcord.dev/flag` URL: which flag system, checked only as far as its scheme and shape.
//! The `flags` module reads the details (project, environment, key) when it turns a flag off.

use super::{ANNOTATION_FLAG, Error, Result};

/// Longest accepted flag URL, in bytes.
pub const MAX_FLAG_URL_BYTES: usize = 2048;

/// The flag systems Ripcord can turn a flag off in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlagScheme {
    /// OpenFeature Operator `FeatureFlag`: `openfeature://<namespace>/<name>/<flag-key>`.
    OpenFeature,
    /// Unleash admin API: `unleash+https://<host>/<project>/<feature>?env=<environment>`.
    Unleash,
    /// LaunchDarkly semantic patch: `launchdarkly://<project>/<environment>/<flag>`.
    LaunchDarkly,
    /// A generic webhook: `webhook+https://<host>/<path>`.
    Webhook,
}

impl FlagScheme {
    /// Every scheme, in the order they are listed in error messages.
    pub const ALL: [FlagScheme; 4] = [
        FlagScheme::OpenFeature,
        FlagScheme::Unleash,
        FlagScheme::LaunchDarkly,
        FlagScheme::Webhook,
    ];

    /// The URL scheme, without `://`.
    pub fn prefix(self) -> &'static str {
        match self {
            FlagScheme::OpenFeature => "openfeature",
            FlagScheme::Unleash => "unleash+https",
            FlagScheme::LaunchDarkly => "launchdarkly",
            FlagScheme::Webhook => "webhook+https",
        }
    }
}

/// A flag URL whose scheme is known and whose shape is plausible.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlagRef {
    /// The URL as written (trimmed).
    pub url: String,
    /// Its flag system.
    pub scheme: FlagScheme,
}

impl FlagRef {
    /// Checks a flag URL: a known scheme, a host or namespace, and a path naming the flag;
    /// no whitespace, at most [`MAX_FLAG_URL_BYTES`].
    pub fn parse(value: &str) -> Result<Self> {
        let url = value.trim();
        let invalid = |message: String| Error::Invalid {
            annotation: ANNOTATION_FLAG,
            message,
        };
        if url.len() > MAX_FLAG_URL_BYTES {
            return Err(invalid(format!(
                "{} bytes, more than the {MAX_FLAG_URL_BYTES} allowed",
                url.len()
            )));
        }
        if let Some(bad) = url.chars().find(|c| c.is_whitespace() || c.is_control()) {
            return Err(invalid(format!("contains {bad:?}; a URL has no spaces")));
        }
        let Some((scheme_text, rest)) = url.split_once("://") else {
            return Err(invalid(format!(
                "{url:?} is not a URL; expected {}",
                schemes()
            )));
        };
        let Some(scheme) = FlagScheme::ALL
            .into_iter()
            .find(|scheme| scheme.prefix() == scheme_text)
        else {
            return Err(invalid(format!(
                "unknown scheme {scheme_text:?}; expected {}",
                schemes()
            )));
        };
        let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
        let path = path.split_once('#').map_or(path, |(path, _)| path);
        let segments: Vec<&str> = path.split('/').collect();
        if segments.first().is_none_or(|host| host.is_empty()) {
            return Err(invalid(format!("{url:?} names no host or namespace")));
        }
        let shape_ok = match scheme {
            FlagScheme::OpenFeature => {
                // openfeature://checkout/flags/new-checkout or openfeature://checkout/flags#key
                let fragment = rest.split_once('#').map(|(_, key)| key);
                named(&segments, 3)
                    || (named(&segments, 2) && fragment.is_some_and(|key| !key.is_empty()))
            }
            FlagScheme::LaunchDarkly => named(&segments, 3),
            FlagScheme::Unleash => {
                named(&segments, 3)
                    && query
                        .split('&')
                        .any(|pair| pair.strip_prefix("env=").is_some_and(|env| !env.is_empty()))
            }
            FlagScheme::Webhook => true,
        };
        if !shape_ok {
            return Err(invalid(format!(
                "{url:?} does not name a flag; expected {}",
                example(scheme)
            )));
        }
        Ok(FlagRef {
            url: url.to_string(),
            scheme,
        })
    }
}

/// Whether the path has exactly `count` non-empty segments.
fn named(segments: &[&str], count: usize) -> bool {
    segments.len() == count && segments.iter().all(|segment| !segment.is_empty())
}

fn example(scheme: FlagScheme) -> &'static str {
    match scheme {
        FlagScheme::OpenFeature => "openfeature://<namespace>/<featureflag>/<flag-key>",
        FlagScheme::Unleash => "unleash+https://<host>/<project>/<feature>?env=<environment>",
        FlagScheme::LaunchDarkly => "launchdarkly://<project>/<environment>/<flag>",
        FlagScheme::Webhook => "webhook+https://<host>/<path>",
    }
}

fn schemes() -> String {
    FlagScheme::ALL.map(example).join(", ")
}
