//! The window route's query: `from` and `to`, Unix milliseconds.

use super::{Error, Result};

/// The range a window request asks for: observations in `(from_ms, to_ms]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct WindowQuery {
    pub(super) from_ms: i64,
    pub(super) to_ms: i64,
}

impl WindowQuery {
    /// Reads `from` and `to` from a query string; other parameters are ignored.
    pub(super) fn parse(query: Option<&str>) -> Result<Self> {
        let from_ms = millis(query, "from")?;
        let to_ms = millis(query, "to")?;
        if from_ms > to_ms {
            return Err(Error::BadQuery {
                param: "from",
                message: format!("{from_ms} is after `to` ({to_ms})"),
            });
        }
        Ok(WindowQuery { from_ms, to_ms })
    }
}

fn millis(query: Option<&str>, param: &'static str) -> Result<i64> {
    let bad = |message: String| Error::BadQuery { param, message };
    let mut values = query
        .unwrap_or("")
        .split('&')
        .filter_map(|pair| pair.split_once('=').or(Some((pair, ""))))
        .filter(|(name, _)| *name == param)
        .map(|(_, value)| value);
    let value = values
        .next()
        .ok_or_else(|| bad("missing (Unix milliseconds)".to_owned()))?;
    if values.next().is_some() {
        return Err(bad("given more than once".to_owned()));
    }
    value
        .parse::<i64>()
        .map_err(|_| bad(format!("{value:?} is not an integer (Unix milliseconds)")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_both_bounds_in_any_order_among_other_parameters() {
        let query = WindowQuery::parse(Some("to=2000&x=y&from=-5")).unwrap();
        assert_eq!(
            query,
            WindowQuery {
                from_ms: -5,
                to_ms: 2000
            }
        );
    }

    #[test]
    fn names_the_parameter_that_is_wrong() {
        for (query, param) in [
            (None, "from"),
            (Some("to=5"), "from"),
            (Some("from=5"), "to"),
            (Some("from=&to=5"), "from"),
            (Some("from=1.5&to=5"), "from"),
            (Some("from=1&to=1e3"), "to"),
            (Some("from=1&from=2&to=3"), "from"),
            (Some("from=9&to=3"), "from"),
            (Some("from=1&to=99999999999999999999"), "to"),
        ] {
            match WindowQuery::parse(query) {
                Err(Error::BadQuery { param: named, .. }) => assert_eq!(named, param, "{query:?}"),
                other => panic!("{query:?}: {other:?}"),
            }
        }
    }
}
