//! The request log: every request the server answered, in order, for tests to assert on.

use bytes::Bytes;
use http::Method;
use serde_json::Value;

/// One request as the server received it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoggedRequest {
    /// The HTTP method.
    pub method: Method,
    /// The path, without the query.
    pub path: String,
    /// The raw query string, if any.
    pub query: Option<String>,
    /// The `Content-Type` header, if any.
    pub content_type: Option<String>,
    /// The body as received.
    pub body: Bytes,
}

/// Resources whose POST reads rather than writes (reviews are answered, never stored).
const REVIEWS: [&str; 4] = [
    "/tokenreviews",
    "/subjectaccessreviews",
    "/selfsubjectaccessreviews",
    "/localsubjectaccessreviews",
];

impl LoggedRequest {
    /// The body parsed as JSON; `None` when empty or not JSON.
    pub fn json(&self) -> Option<Value> {
        serde_json::from_slice(&self.body).ok()
    }

    /// The decoded value of query parameter `name`, if present.
    pub fn query_param(&self, name: &str) -> Option<String> {
        let query = self.query.as_deref()?;
        form_urlencoded::parse(query.as_bytes())
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.into_owned())
    }

    /// Whether this request asked to change stored state (POST, PUT, PATCH or DELETE other
    /// than a TokenReview or access review).
    pub fn is_write(&self) -> bool {
        let writing =
            [Method::POST, Method::PUT, Method::PATCH, Method::DELETE].contains(&self.method);
        writing && !REVIEWS.iter().any(|review| self.path.ends_with(review))
    }
}
