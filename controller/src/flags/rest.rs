//! The authenticated JSON calls of the REST flag providers (Unleash, LaunchDarkly), with errors
//! that name the flag.

use hyper::{Method, Uri};

use crate::http::{Answer, HttpClient, json_request};

use super::error::{FlagError, Result};

/// Calls to one provider about one flag, with its API token in `Authorization`.
pub(super) struct ProviderCall<'a> {
    /// The client.
    pub(super) http: &'a HttpClient,
    /// The flag, as its URL, for errors.
    pub(super) flag: &'a str,
    /// The `Authorization` header's value.
    pub(super) token: &'a str,
}

impl ProviderCall<'_> {
    /// Sends `method url` with an optional `(content type, body)`; succeeds on a 2xx answer.
    pub(super) async fn send(
        &self,
        method: Method,
        url: &str,
        body: Option<(&str, Vec<u8>)>,
    ) -> Result<Answer> {
        let uri: Uri = url
            .parse()
            .map_err(|e: http::uri::InvalidUri| FlagError::Url {
                url: self.flag.to_string(),
                reason: e.to_string(),
            })?;
        let mut headers = vec![("authorization", self.token)];
        let body = body.map(|(content_type, body)| {
            headers.push(("content-type", content_type));
            body
        });
        let request = json_request(method, uri, &headers, body).map_err(|e| self.http_error(e))?;
        self.http
            .send(request)
            .await
            .map_err(|e| self.http_error(e))
    }

    /// The provider's answer did not make sense: `reason` says how.
    pub(super) fn unexpected(&self, reason: String) -> FlagError {
        FlagError::Provider {
            flag: self.flag.to_string(),
            reason,
        }
    }

    fn http_error(&self, source: crate::http::HttpError) -> FlagError {
        FlagError::Http {
            flag: self.flag.to_string(),
            source,
        }
    }
}
