//! Label and field selectors as the API server reads them from `labelSelector` and
//! `fieldSelector`: equality (`=`, `==`, `!=`), set (`in`, `notin`) and existence (`k`, `!k`).

use crate::error::ApiError;
use serde_json::Value;

/// One requirement of a selector.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Requirement {
    Equals(String, String),
    NotEquals(String, String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    Absent(String),
}

/// A parsed selector: every requirement must hold.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Selector {
    requirements: Vec<Requirement>,
}

impl Selector {
    /// Parses a selector string; an empty one selects everything.
    pub(crate) fn parse(text: &str) -> Result<Self, ApiError> {
        let requirements = split_top_level(text)
            .into_iter()
            .map(str::trim)
            .filter(|part| !part.is_empty())
            .map(requirement)
            .collect::<Result<_, _>>()?;
        Ok(Selector { requirements })
    }

    /// Whether this selector selects everything (it has no requirements).
    pub(crate) fn is_empty(&self) -> bool {
        self.requirements.is_empty()
    }

    /// Whether the labels of `object` satisfy this selector.
    pub(crate) fn matches_labels(&self, object: &Value) -> bool {
        let labels = object.pointer("/metadata/labels");
        self.matches(|key| {
            labels
                .and_then(|labels| labels.get(key))
                .and_then(Value::as_str)
        })
    }

    /// Whether the fields of `object` (dotted paths such as `metadata.name`) satisfy this
    /// selector.
    pub(crate) fn matches_fields(&self, object: &Value) -> bool {
        self.matches(|key| {
            key.split('.')
                .try_fold(object, |value, part| value.get(part))
                .and_then(Value::as_str)
        })
    }

    fn matches<'a>(&self, lookup: impl Fn(&str) -> Option<&'a str>) -> bool {
        self.requirements
            .iter()
            .all(|requirement| match requirement {
                Requirement::Equals(key, value) => lookup(key) == Some(value.as_str()),
                Requirement::NotEquals(key, value) => lookup(key) != Some(value.as_str()),
                Requirement::In(key, values) => {
                    lookup(key).is_some_and(|found| values.iter().any(|v| v == found))
                }
                Requirement::NotIn(key, values) => {
                    !lookup(key).is_some_and(|found| values.iter().any(|v| v == found))
                }
                Requirement::Exists(key) => lookup(key).is_some(),
                Requirement::Absent(key) => lookup(key).is_none(),
            })
    }
}

/// Splits on commas that are not inside a parenthesised value set.
fn split_top_level(text: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut depth = 0usize;
    let mut start = 0;
    for (index, character) in text.char_indices() {
        match character {
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                parts.push(&text[start..index]);
                start = index + 1;
            }
            _ => {}
        }
    }
    parts.push(&text[start..]);
    parts
}

fn requirement(part: &str) -> Result<Requirement, ApiError> {
    let invalid = || ApiError::bad_request(format!("unable to parse requirement {part:?}"));
    if let Some((key, value)) = part.split_once("!=") {
        return Ok(Requirement::NotEquals(
            key.trim().to_string(),
            value.trim().to_string(),
        ));
    }
    if let Some((key, value)) = part.split_once("==").or_else(|| part.split_once('=')) {
        return Ok(Requirement::Equals(
            key.trim().to_string(),
            value.trim().to_string(),
        ));
    }
    if let Some((head, set)) = part.split_once('(') {
        let set = set.strip_suffix(')').ok_or_else(invalid)?;
        let values = set
            .split(',')
            .map(|value| value.trim().to_string())
            .collect();
        let mut words = head.split_whitespace();
        let (Some(key), Some(operator), None) = (words.next(), words.next(), words.next()) else {
            return Err(invalid());
        };
        return match operator {
            "in" => Ok(Requirement::In(key.to_string(), values)),
            "notin" => Ok(Requirement::NotIn(key.to_string(), values)),
            _ => Err(invalid()),
        };
    }
    if part.contains(char::is_whitespace) {
        return Err(invalid());
    }
    match part.strip_prefix('!') {
        Some(key) => Ok(Requirement::Absent(key.to_string())),
        None => Ok(Requirement::Exists(part.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod() -> Value {
        json!({"metadata": {"name": "checkout-1", "labels": {"app": "checkout", "tier": "web"}},
               "status": {"phase": "Running"}})
    }

    fn labels(selector: &str) -> bool {
        Selector::parse(selector)
            .expect("parses")
            .matches_labels(&pod())
    }

    #[test]
    fn label_selectors_select() {
        assert!(labels(""));
        assert!(labels("app=checkout"));
        assert!(labels("app==checkout,tier"));
        assert!(!labels("app=cart"));
        assert!(labels("app!=cart"));
        assert!(labels("tier in (web, api)"));
        assert!(!labels("tier notin (web)"));
        assert!(labels("!canary"));
        assert!(!labels("canary"));
        assert!(!labels("app=checkout,tier in (api)"));
    }

    #[test]
    fn field_selectors_follow_dotted_paths() {
        let selector =
            Selector::parse("metadata.name=checkout-1,status.phase!=Failed").expect("parses");
        assert!(selector.matches_fields(&pod()));
        let other = Selector::parse("metadata.name=other").expect("parses");
        assert!(!other.matches_fields(&pod()));
    }

    #[test]
    fn nonsense_is_refused() {
        for text in ["a b", "tier in web)", "tier among (web)"] {
            assert!(Selector::parse(text).is_err(), "{text}");
        }
    }
}
