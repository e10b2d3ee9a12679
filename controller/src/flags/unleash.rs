//! Unleash admin API: read the feature's state in the environment, then
//! `POST /api/admin/projects/{project}/features/{feature}/environments/{env}/off`.

use hyper::{Method, Uri};
use serde_json::Value;

use crate::http::{HttpClient, json_request};

use super::FlipOutcome;
use super::error::{FlagError, Result};
use super::url::UnleashFlag;

/// Turns `flag` off with the admin API `token`; `AlreadyOff` when it was off in the environment.
pub(super) async fn turn_off(
    http: &HttpClient,
    token: &str,
    flag: &UnleashFlag,
    name: &str,
) -> Result<FlipOutcome> {
    let feature_url = format!(
        "{}/api/admin/projects/{}/features/{}",
        flag.base, flag.project, flag.feature
    );
    let call = |source| FlagError::Http {
        flag: name.to_string(),
        source,
    };
    let headers = [("authorization", token)];
    let get = json_request(Method::GET, uri(&feature_url, name)?, &headers, None).map_err(call)?;
    let answer = http.send(get).await.map_err(call)?;
    if !environment_enabled(&answer.body, &flag.environment).map_err(|reason| {
        FlagError::Provider {
            flag: name.to_string(),
            reason,
        }
    })? {
        return Ok(FlipOutcome::AlreadyOff);
    }
    let off_url = format!("{feature_url}/environments/{}/off", flag.environment);
    let post = json_request(Method::POST, uri(&off_url, name)?, &headers, None).map_err(call)?;
    http.send(post).await.map_err(call)?;
    Ok(FlipOutcome::Done)
}

fn uri(url: &str, name: &str) -> Result<Uri> {
    url.parse()
        .map_err(|e: http::uri::InvalidUri| FlagError::Url {
            url: name.to_string(),
            reason: e.to_string(),
        })
}

/// Whether the feature (the admin API's feature object) is enabled in `environment`.
pub(super) fn environment_enabled(body: &[u8], environment: &str) -> Result<bool, String> {
    let feature: Value =
        serde_json::from_slice(body).map_err(|e| format!("the feature is not JSON: {e}"))?;
    let environments = feature
        .get("environments")
        .and_then(Value::as_array)
        .ok_or("the feature has no environments list")?;
    let found = environments
        .iter()
        .find(|e| e.get("name").and_then(Value::as_str) == Some(environment))
        .ok_or_else(|| format!("the feature has no environment {environment:?}"))?;
    found
        .get("enabled")
        .and_then(Value::as_bool)
        .ok_or_else(|| format!("environment {environment:?} has no enabled flag"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_environment_state() {
        let body = br#"{"name":"x","environments":[{"name":"development","enabled":true},{"name":"production","enabled":false}]}"#;
        assert_eq!(environment_enabled(body, "development"), Ok(true));
        assert_eq!(environment_enabled(body, "production"), Ok(false));
        let missing = environment_enabled(body, "staging").expect_err("absent");
        assert!(missing.contains("staging"), "{missing}");
        assert!(environment_enabled(b"<html>", "development").is_err());
        assert!(environment_enabled(b"{}", "development").is_err());
    }
}
