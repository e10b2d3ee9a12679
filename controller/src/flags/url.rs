//! Flag URLs, the value of the `ripcord.dev/flag` annotation: which flag to turn off, at which
//! provider. Parsing is pure and strict: every part is checked, so a typo is an error naming the
//! part, never a call to the wrong flag.

use std::fmt;
use std::str::FromStr;

use hyper::Uri;

use super::error::{FlagError, Result};

/// Longest flag URL accepted.
const MAX_URL_CHARS: usize = 2048;
/// Longest part of a flag URL kept in an error message.
const ERROR_URL_CHARS: usize = 200;

/// A flag to turn off, parsed from its URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FlagUrl {
    /// `openfeature://<namespace>/<featureflag>/<flag-key>` (or `.../<featureflag>#<flag-key>`),
    /// optionally `?variant=<off-variant>`.
    OpenFeature(OpenFeatureFlag),
    /// `unleash+https://<host>[/<prefix>]/api/admin/projects/<project>/features/<feature>?environment=<env>`.
    Unleash(UnleashFlag),
    /// `launchdarkly://<project>/<environment>/<flag-key>`.
    LaunchDarkly(LaunchDarklyFlag),
    /// `webhook+https://<url>`: a signed JSON event is POSTed there.
    Webhook(WebhookFlag),
}

/// A flag of an OpenFeature Operator `FeatureFlag` object (`core.openfeature.dev/v1beta1`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenFeatureFlag {
    /// Namespace of the `FeatureFlag`.
    pub namespace: String,
    /// Name of the `FeatureFlag`.
    pub name: String,
    /// Key of the flag inside `spec.flagSpec.flags`.
    pub flag_key: String,
    /// The variant that means "off", when the URL names it; else `off`, or the one `false` variant.
    pub off_variant: Option<String>,
}

/// A feature toggle of an Unleash server, in one environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnleashFlag {
    /// `http(s)://host[:port][/prefix]`, where `/api/admin` is served.
    pub base: String,
    /// The Unleash project.
    pub project: String,
    /// The feature toggle's name.
    pub feature: String,
    /// The environment to turn it off in.
    pub environment: String,
}

/// A LaunchDarkly flag in one environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LaunchDarklyFlag {
    /// The project key.
    pub project: String,
    /// The environment key.
    pub environment: String,
    /// The flag key.
    pub flag_key: String,
}

/// A generic webhook that turns a flag off when it receives Ripcord's signed event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookFlag {
    /// The `http(s)://` URL the event is POSTed to.
    pub url: Uri,
}

impl FromStr for FlagUrl {
    type Err = FlagError;

    fn from_str(url: &str) -> Result<Self> {
        let refuse = |reason: String| FlagError::Url {
            url: scheme_and_host(url),
            reason,
        };
        let url = url.trim();
        if url.chars().count() > MAX_URL_CHARS {
            return Err(refuse(format!("longer than {MAX_URL_CHARS} characters")));
        }
        let (scheme, rest) = url
            .split_once("://")
            .ok_or_else(|| refuse("no scheme: expected openfeature://, unleash+https://, launchdarkly:// or webhook+https://".into()))?;
        match scheme {
            "openfeature" => openfeature(rest).map(FlagUrl::OpenFeature),
            "unleash+https" | "unleash+http" => unleash(&url["unleash+".len()..]).map(FlagUrl::Unleash),
            "launchdarkly" => launchdarkly(rest).map(FlagUrl::LaunchDarkly),
            "webhook+https" | "webhook+http" => webhook(&url["webhook+".len()..]).map(FlagUrl::Webhook),
            other => Err(format!(
                "unknown scheme {other:?}: expected openfeature, unleash+https, launchdarkly or webhook+https"
            )),
        }
        .map_err(refuse)
    }
}

impl fmt::Display for FlagUrl {
    /// The URL in canonical form; a webhook's query (which may hold a secret) is left out.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FlagUrl::OpenFeature(flag) => {
                write!(
                    f,
                    "openfeature://{}/{}/{}",
                    flag.namespace, flag.name, flag.flag_key
                )?;
                match &flag.off_variant {
                    Some(variant) => write!(f, "?variant={variant}"),
                    None => Ok(()),
                }
            }
            FlagUrl::Unleash(flag) => write!(
                f,
                "unleash+{}/api/admin/projects/{}/features/{}?environment={}",
                flag.base, flag.project, flag.feature, flag.environment
            ),
            FlagUrl::LaunchDarkly(flag) => write!(
                f,
                "launchdarkly://{}/{}/{}",
                flag.project, flag.environment, flag.flag_key
            ),
            FlagUrl::Webhook(flag) => {
                let scheme = flag.url.scheme_str().unwrap_or("https");
                let authority = flag.url.authority().map_or("", |a| a.as_str());
                write!(f, "webhook+{scheme}://{authority}{}", flag.url.path())
            }
        }
    }
}

impl FlagUrl {
    /// The flag as logs, errors, Events, notifications and action records show it: the
    /// canonical form, but a webhook only by its scheme and host, since an incoming-webhook
    /// URL often holds its secret in its path.
    pub fn shown(&self) -> String {
        match self {
            FlagUrl::Webhook(flag) => {
                let scheme = flag.url.scheme_str().unwrap_or("https");
                let authority = flag.url.authority().map_or("", |a| a.as_str());
                format!("webhook+{scheme}://{authority}/…")
            }
            other => other.to_string(),
        }
    }

    /// Where turning the flag off sends the controller's credentials, for flags at an origin
    /// the workload names: `scheme://host[:port]` of an Unleash server or a webhook, in lower
    /// case. `None` for OpenFeature (the cluster's API server) and LaunchDarkly (its fixed API).
    pub fn origin(&self) -> Option<String> {
        match self {
            FlagUrl::Unleash(flag) => flag.base.parse::<Uri>().ok().as_ref().and_then(origin_of),
            FlagUrl::Webhook(flag) => origin_of(&flag.url),
            FlagUrl::OpenFeature(_) | FlagUrl::LaunchDarkly(_) => None,
        }
    }
}

/// `scheme://authority` of `uri`, in lower case.
fn origin_of(uri: &Uri) -> Option<String> {
    let scheme = uri.scheme_str()?;
    let authority = uri.authority()?;
    Some(format!("{scheme}://{authority}").to_ascii_lowercase())
}

/// An origin the controller may send flag credentials to, as given to
/// `--flag-allowed-origins`: `http(s)://host[:port]` with no path, query or credentials;
/// returned in lower case, as [`FlagUrl::origin`] gives it.
pub fn parse_origin(text: &str) -> std::result::Result<String, String> {
    let text = text.trim().trim_end_matches('/');
    let uri = http_url_of(text)?;
    let bare = uri
        .path_and_query()
        .is_none_or(|p| p.as_str().is_empty() || p.as_str() == "/");
    if !bare {
        return Err(format!(
            "{text:?} has a path or query: give an origin, http(s)://host[:port]"
        ));
    }
    origin_of(&uri).ok_or_else(|| format!("{text:?} is not http(s)://host[:port]"))
}

/// The flag URL `raw` as Events, notifications and action records may show it:
/// [`FlagUrl::shown`] when it parses, else only its scheme and host, since an unparsed query or
/// path may hold a secret.
pub fn redacted(raw: &str) -> String {
    match raw.parse::<FlagUrl>() {
        Ok(url) => url.shown(),
        Err(_) => format!("{} (not a valid flag URL)", scheme_and_host(raw)),
    }
}

/// Only the scheme and host of a flag URL that did not parse, cut to a bounded length.
fn scheme_and_host(raw: &str) -> String {
    let raw: String = raw.trim().chars().take(ERROR_URL_CHARS).collect();
    match raw.split_once("://") {
        Some((scheme, rest)) => {
            let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
            let host = host.rsplit('@').next().unwrap_or_default();
            format!("{scheme}://{host}/…")
        }
        None => "…".to_string(),
    }
}

type Parsed<T> = std::result::Result<T, String>;

fn openfeature(rest: &str) -> Parsed<OpenFeatureFlag> {
    let (rest, fragment) = match rest.split_once('#') {
        Some((rest, fragment)) => (rest, Some(fragment)),
        None => (rest, None),
    };
    let (path, query) = split_query(rest);
    let parts: Vec<&str> = path.split('/').collect();
    let (namespace, name, flag_key) = match (parts.as_slice(), fragment) {
        ([namespace, name, key], None) => (*namespace, *name, *key),
        ([namespace, name], Some(key)) => (*namespace, *name, key),
        _ => {
            return Err(
                "expected openfeature://<namespace>/<featureflag-name>/<flag-key>".to_string(),
            );
        }
    };
    let off_variant = match query {
        Some(query) => Some(single_param(query, "variant")?),
        None => None,
    };
    Ok(OpenFeatureFlag {
        namespace: dns_label(namespace, "namespace")?,
        name: dns_subdomain(name, "FeatureFlag name")?,
        flag_key: segment(flag_key, "flag key")?,
        off_variant: off_variant.map(|v| segment(&v, "variant")).transpose()?,
    })
}

fn unleash(http_url: &str) -> Parsed<UnleashFlag> {
    let uri = http_url_of(http_url)?;
    const API: &str = "/api/admin/projects/";
    let path = uri.path();
    let at = path
        .find(API)
        .ok_or("expected .../api/admin/projects/<project>/features/<feature>?environment=<env>")?;
    let prefix = path[..at].trim_end_matches('/');
    let parts: Vec<&str> = path[at + API.len()..].split('/').collect();
    let (project, feature) = match parts.as_slice() {
        [project, "features", feature] => (*project, *feature),
        _ => {
            return Err("expected .../api/admin/projects/<project>/features/<feature>".to_string());
        }
    };
    let environment = single_param(uri.query().unwrap_or(""), "environment")?;
    let scheme = uri.scheme_str().unwrap_or("https");
    let authority = uri.authority().map_or("", |a| a.as_str());
    Ok(UnleashFlag {
        base: format!("{scheme}://{authority}{prefix}"),
        project: segment(project, "project")?,
        feature: segment(feature, "feature")?,
        environment: segment(&environment, "environment")?,
    })
}

fn launchdarkly(rest: &str) -> Parsed<LaunchDarklyFlag> {
    match rest.split('/').collect::<Vec<_>>().as_slice() {
        [project, environment, flag_key] => Ok(LaunchDarklyFlag {
            project: segment(project, "project key")?,
            environment: segment(environment, "environment key")?,
            flag_key: segment(flag_key, "flag key")?,
        }),
        _ => Err("expected launchdarkly://<project>/<environment>/<flag-key>".to_string()),
    }
}

fn webhook(http_url: &str) -> Parsed<WebhookFlag> {
    let url = http_url_of(http_url)?;
    Ok(WebhookFlag { url })
}

/// The `http(s)://` part of a flag URL, with the HTTP client's reason when it is not one.
fn http_url_of(http_url: &str) -> Parsed<Uri> {
    let uri = crate::http::parse_url(http_url, "flag").map_err(|e| match e {
        crate::http::HttpError::Request { reason, .. } => reason,
        other => other.to_string(),
    })?;
    if uri.authority().is_some_and(|a| a.as_str().contains('@')) {
        return Err(
            "user:password@ in the URL: credentials belong in the credentials Secret".into(),
        );
    }
    Ok(uri)
}

fn split_query(rest: &str) -> (&str, Option<&str>) {
    match rest.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (rest, None),
    }
}

/// The value of the one parameter `query` must consist of: `name=value`.
fn single_param(query: &str, name: &str) -> Parsed<String> {
    let mut found = None;
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        match pair.split_once('=') {
            Some((key, value)) if key == name && found.is_none() => found = Some(value.to_string()),
            Some((key, _)) if key == name => return Err(format!("{name} is given twice")),
            _ => {
                let key = pair.split_once('=').map_or(pair, |(key, _)| key);
                return Err(format!(
                    "unexpected query parameter {key:?}; only {name}= is read"
                ));
            }
        }
    }
    found.ok_or_else(|| format!("missing ?{name}="))
}

/// A path segment: URL-unreserved characters only, so it needs no escaping anywhere.
fn segment(text: &str, what: &str) -> Parsed<String> {
    if text.is_empty() {
        return Err(format!("the {what} is empty"));
    }
    if text.len() > 253 {
        return Err(format!("the {what} is longer than 253 characters"));
    }
    match text
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '~')))
    {
        Some(c) => Err(format!(
            "the {what} {text:?} holds {c:?}; only letters, digits, '-', '_', '.' and '~' are allowed"
        )),
        None => Ok(text.to_string()),
    }
}

fn dns_label(text: &str, what: &str) -> Parsed<String> {
    if text.len() > 63 {
        return Err(format!("the {what} {text:?} is longer than 63 characters"));
    }
    dns_name(text, what, false)
}

fn dns_subdomain(text: &str, what: &str) -> Parsed<String> {
    if text.len() > 253 {
        return Err(format!("the {what} is longer than 253 characters"));
    }
    dns_name(text, what, true)
}

fn dns_name(text: &str, what: &str, dots: bool) -> Parsed<String> {
    let valid_char =
        |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || (dots && c == '.');
    let alnum = |c: Option<char>| c.is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    if text.chars().all(valid_char) && alnum(text.chars().next()) && alnum(text.chars().last()) {
        Ok(text.to_string())
    } else {
        Err(format!(
            "the {what} {text:?} is not a Kubernetes name (lowercase letters, digits, '-'{})",
            if dots { ", '.'" } else { "" }
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(url: &str) -> FlagUrl {
        url.parse().expect(url)
    }

    #[test]
    fn origins_are_where_credentials_go() {
        let unleash = parse(
            "unleash+https://Unleash.Example.com:4242/unleash/api/admin/projects/p/features/f?environment=production",
        );
        assert_eq!(
            unleash.origin().as_deref(),
            Some("https://unleash.example.com:4242")
        );
        let hook = parse("webhook+http://hooks.example.com/off?token=x");
        assert_eq!(hook.origin().as_deref(), Some("http://hooks.example.com"));
        assert_eq!(parse("launchdarkly://p/e/f").origin(), None);
        assert_eq!(parse("openfeature://ns/flags/f").origin(), None);
        assert_eq!(
            parse_origin("https://Unleash.example.com:4242/").as_deref(),
            Ok("https://unleash.example.com:4242")
        );
        for bad in [
            "unleash.example.com",
            "ftp://unleash.example.com",
            "https://unleash.example.com/api",
            "https://user:pw@unleash.example.com",
        ] {
            assert!(parse_origin(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_shown_flag_url_keeps_no_part_that_may_hold_a_secret() {
        assert_eq!(
            redacted("webhook+https://hooks.example.com/hooks/catch/1/s3cr3t?token=s3cr3t"),
            "webhook+https://hooks.example.com/…"
        );
        let extra = "unleash+https://u.example/api/admin/projects/p/features/f?environment=prod&apikey=s3cr3t"
            .parse::<FlagUrl>()
            .expect_err("an unknown parameter");
        assert!(!extra.to_string().contains("s3cr3t"), "{extra}");
        assert!(extra.to_string().contains("apikey"), "{extra}");
        let unparsed = "webhook+https://user:pw@hooks.example.com/s3cr3t-path?token=s3cr3t&x";
        let shown = redacted(&format!("{unparsed} with a space"));
        assert_eq!(
            shown,
            "webhook+https://hooks.example.com/… (not a valid flag URL)"
        );
        let error = "webhook+ftp://hooks.example.com/s3cr3t?token=s3cr3t"
            .parse::<FlagUrl>()
            .expect_err("not http");
        let message = error.to_string();
        assert!(!message.contains("s3cr3t"), "{message}");
        assert!(message.contains("hooks.example.com"), "{message}");
    }

    #[test]
    fn openfeature_urls_in_both_forms() {
        let expected = FlagUrl::OpenFeature(OpenFeatureFlag {
            namespace: "checkout".into(),
            name: "checkout-flags".into(),
            flag_key: "new-checkout".into(),
            off_variant: None,
        });
        assert_eq!(
            parse("openfeature://checkout/checkout-flags/new-checkout"),
            expected
        );
        assert_eq!(
            parse("openfeature://checkout/checkout-flags#new-checkout"),
            expected
        );
        let with_variant =
            parse("openfeature://checkout/checkout-flags/button-color?variant=green");
        let FlagUrl::OpenFeature(flag) = &with_variant else {
            panic!("not openfeature: {with_variant:?}");
        };
        assert_eq!(flag.off_variant.as_deref(), Some("green"));
        assert_eq!(
            with_variant.to_string(),
            "openfeature://checkout/checkout-flags/button-color?variant=green"
        );
    }

    #[test]
    fn unleash_urls_keep_a_path_prefix_and_need_the_environment() {
        let flag = parse(
            "unleash+https://flags.example.com/unleash/api/admin/projects/shop/features/new-checkout?environment=production",
        );
        assert_eq!(
            flag,
            FlagUrl::Unleash(UnleashFlag {
                base: "https://flags.example.com/unleash".into(),
                project: "shop".into(),
                feature: "new-checkout".into(),
                environment: "production".into(),
            })
        );
        assert_eq!(
            flag.to_string(),
            "unleash+https://flags.example.com/unleash/api/admin/projects/shop/features/new-checkout?environment=production"
        );
        let local = parse(
            "unleash+http://127.0.0.1:4242/api/admin/projects/default/features/x?environment=development",
        );
        let FlagUrl::Unleash(local) = local else {
            panic!("not unleash");
        };
        assert_eq!(local.base, "http://127.0.0.1:4242");
    }

    #[test]
    fn launchdarkly_and_webhook_urls() {
        assert_eq!(
            parse("launchdarkly://default/production/new-checkout"),
            FlagUrl::LaunchDarkly(LaunchDarklyFlag {
                project: "default".into(),
                environment: "production".into(),
                flag_key: "new-checkout".into(),
            })
        );
        let hook = parse("webhook+https://flags.internal:8443/ripcord/off?key=s3cret");
        let FlagUrl::Webhook(flag) = &hook else {
            panic!("not a webhook: {hook:?}");
        };
        assert_eq!(
            flag.url.to_string(),
            "https://flags.internal:8443/ripcord/off?key=s3cret"
        );
        assert_eq!(
            hook.to_string(),
            "webhook+https://flags.internal:8443/ripcord/off"
        );
    }

    #[test]
    fn bad_urls_say_what_is_wrong() {
        let cases = [
            ("new-checkout", "no scheme"),
            ("flagd://a/b/c", "unknown scheme"),
            ("openfeature://checkout/flags", "expected openfeature://"),
            ("openfeature://Checkout/flags/x", "not a Kubernetes name"),
            ("openfeature://checkout/flags/a b", "holds ' '"),
            (
                "openfeature://checkout/flags/x?varient=off",
                "unexpected query parameter",
            ),
            (
                "unleash+https://u.example.com/api/admin/projects/p/features/f",
                "missing ?environment=",
            ),
            (
                "unleash+https://u.example.com/api/admin/features/f?environment=e",
                "expected .../api/admin/projects",
            ),
            (
                "unleash+https://u.example.com/api/admin/projects/p/features/f?environment=a&environment=b",
                "given twice",
            ),
            (
                "unleash+ftp://u.example.com/api/admin/projects/p/features/f?environment=e",
                "unknown scheme",
            ),
            (
                "launchdarkly://default/new-checkout",
                "expected launchdarkly://",
            ),
            (
                "launchdarkly://default//new-checkout",
                "environment key is empty",
            ),
            ("webhook+https:///off", "not a URL"),
            (
                "webhook+https://u:p@flags.internal/off",
                "credentials belong",
            ),
        ];
        for (url, needle) in cases {
            let error = url.parse::<FlagUrl>().expect_err(url);
            assert!(error.to_string().contains(needle), "{url}: {error}");
            assert_eq!(
                error.disposition(),
                crate::http::Disposition::GiveUp,
                "{url}"
            );
        }
        let long = format!("launchdarkly://p/e/{}", "x".repeat(5000));
        let error = long.parse::<FlagUrl>().expect_err("too long");
        assert!(error.to_string().len() < 400, "{error}");
    }
}
