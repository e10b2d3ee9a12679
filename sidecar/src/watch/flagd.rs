//! Turning a flag off in an OpenFeature flagd flag-definition file
//! (`{"flags": {"KEY": {"state": "ENABLED", "variants": {...}, "defaultVariant": "on", ...}}}`).
//!
//! [`flag_off`] is the pure edit on a JSON document: the flag's `defaultVariant` becomes its off
//! variant and its `targeting` is removed, so every evaluation gets the off variant; every other
//! flag and field is left as it was. [`turn_off_in_file`] applies it to a file atomically (a
//! temporary file in the same directory, then a rename).

use std::path::{Path, PathBuf};

use serde_json::Value;

/// Why a flag could not be turned off.
#[derive(Debug, thiserror::Error)]
pub enum FlagdError {
    /// The document has no `flags` object.
    #[error("{0}: no top-level \"flags\" object")]
    NoFlags(String),
    /// The flag is not defined.
    #[error("{source_name}: flag `{key}` is not defined under \"flags\"")]
    NoSuchFlag {
        /// The file (or other source) read.
        source_name: String,
        /// The flag asked for.
        key: String,
    },
    /// The flag has no variant that means off.
    #[error(
        "{source_name}: flag `{key}` has no off variant (a variant whose value is false, or one named \"off\")"
    )]
    NoOffVariant {
        /// The file (or other source) read.
        source_name: String,
        /// The flag asked for.
        key: String,
    },
    /// The file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What failed.
        source: std::io::Error,
    },
    /// The file is not JSON.
    #[error("{path}: not JSON: {source}")]
    Json {
        /// The file.
        path: PathBuf,
        /// Where and why parsing failed.
        source: serde_json::Error,
    },
}

/// Result of the flagd edits.
pub type Result<T, E = FlagdError> = std::result::Result<T, E>;

/// The flag's off variant: the one whose value is `false`, else the one named `off`.
pub fn off_variant(flag: &Value) -> Option<String> {
    let variants = flag.get("variants")?.as_object()?;
    variants
        .iter()
        .find(|(_, value)| value.as_bool() == Some(false))
        .or_else(|| variants.iter().find(|(name, _)| name.as_str() == "off"))
        .map(|(name, _)| name.clone())
}

/// Returns `document` with flag `key` turned off; `source_name` names the document in errors.
pub fn flag_off(document: &Value, key: &str, source_name: &str) -> Result<Value> {
    let mut edited = document.clone();
    let flags = edited
        .get_mut("flags")
        .and_then(Value::as_object_mut)
        .ok_or_else(|| FlagdError::NoFlags(source_name.to_string()))?;
    let flag = flags
        .get_mut(key)
        .and_then(Value::as_object_mut)
        .ok_or_else(|| FlagdError::NoSuchFlag {
            source_name: source_name.to_string(),
            key: key.to_string(),
        })?;
    let off =
        off_variant(&Value::Object(flag.clone())).ok_or_else(|| FlagdError::NoOffVariant {
            source_name: source_name.to_string(),
            key: key.to_string(),
        })?;
    flag.insert("defaultVariant".to_string(), Value::String(off));
    flag.remove("targeting");
    Ok(edited)
}

/// Whether flag `key` of `document` is off: its default variant is its off variant and no
/// targeting can pick another.
pub fn is_off(document: &Value, key: &str) -> bool {
    let Some(flag) = document.get("flags").and_then(|flags| flags.get(key)) else {
        return false;
    };
    let default = flag.get("defaultVariant").and_then(Value::as_str);
    default.is_some()
        && default.map(str::to_string) == off_variant(flag)
        && flag.get("targeting").is_none()
}

/// Reads a flagd file as JSON.
pub fn read(path: &Path) -> Result<Value> {
    let text = std::fs::read(path).map_err(|source| FlagdError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    serde_json::from_slice(&text).map_err(|source| FlagdError::Json {
        path: path.to_path_buf(),
        source,
    })
}

/// Turns flag `key` off in the file at `path`, atomically: the edited document is written to a
/// temporary file beside it, then renamed over it.
pub fn turn_off_in_file(path: &Path, key: &str) -> Result<()> {
    let document = read(path)?;
    let edited = flag_off(&document, key, &path.display().to_string())?;
    let io = |source| FlagdError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut text = serde_json::to_vec_pretty(&edited).map_err(|e| io(e.into()))?;
    text.push(b'\n');
    let name = path.file_name().map_or_else(
        || "flags".into(),
        |name| name.to_string_lossy().into_owned(),
    );
    let temporary = path.with_file_name(format!(".{name}.ripcord-{}.tmp", std::process::id()));
    std::fs::write(&temporary, &text).map_err(io)?;
    std::fs::rename(&temporary, path).map_err(|source| {
        let _ = std::fs::remove_file(&temporary);
        io(source)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn fixture() -> Value {
        json!({
            "$schema": "https://flagd.dev/schema/v0/flags.json",
            "flags": {
                "new-checkout": {
                    "state": "ENABLED",
                    "variants": {"on": true, "off": false},
                    "defaultVariant": "on",
                    "targeting": {"if": [{"in": ["@example.com", {"var": "email"}]}, "on", "off"]},
                    "metadata": {"owner": "checkout-team"}
                },
                "banner-color": {
                    "state": "ENABLED",
                    "variants": {"red": "#f00", "blue": "#00f"},
                    "defaultVariant": "red"
                }
            }
        })
    }

    #[test]
    fn turns_the_flag_off_and_drops_its_targeting_only() {
        let before = fixture();
        let after = flag_off(&before, "new-checkout", "flags.json").expect("edit");
        let flag = &after["flags"]["new-checkout"];
        assert_eq!(flag["defaultVariant"], "off");
        assert!(flag.get("targeting").is_none());
        assert_eq!(
            flag["metadata"],
            before["flags"]["new-checkout"]["metadata"]
        );
        assert_eq!(flag["state"], "ENABLED");
        assert_eq!(
            after["flags"]["banner-color"],
            before["flags"]["banner-color"]
        );
        assert_eq!(after["$schema"], before["$schema"]);
        assert!(is_off(&after, "new-checkout"));
        assert!(!is_off(&before, "new-checkout"));
    }

    #[test]
    fn the_off_variant_is_the_false_one_whatever_its_name() {
        let document = json!({"flags": {"f": {"variants": {"enabled": true, "disabled": false},
            "defaultVariant": "enabled"}}});
        let after = flag_off(&document, "f", "x").expect("edit");
        assert_eq!(after["flags"]["f"]["defaultVariant"], "disabled");
    }

    #[test]
    fn a_variant_named_off_counts_when_none_is_false() {
        let document = json!({"flags": {"f": {"variants": {"on": "v2", "off": "v1"},
            "defaultVariant": "on"}}});
        let after = flag_off(&document, "f", "x").expect("edit");
        assert_eq!(after["flags"]["f"]["defaultVariant"], "off");
    }

    #[test]
    fn refuses_clearly_when_it_cannot_turn_off() {
        let error = flag_off(&fixture(), "banner-color", "flags.json").expect_err("no off variant");
        assert!(
            error
                .to_string()
                .contains("`banner-color` has no off variant"),
            "{error}"
        );
        let error = flag_off(&fixture(), "nope", "flags.json").expect_err("no flag");
        assert!(
            error.to_string().contains("flag `nope` is not defined"),
            "{error}"
        );
        let error = flag_off(&json!({"flag": {}}), "x", "f.json").expect_err("no flags");
        assert!(error.to_string().contains("no top-level"), "{error}");
    }

    #[test]
    fn edits_a_file_in_place_and_leaves_no_temporary_behind() {
        let dir = std::env::temp_dir().join(format!("ripcord-flagd-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let path = dir.join("flags.json");
        std::fs::write(&path, serde_json::to_vec(&fixture()).expect("json")).expect("write");
        turn_off_in_file(&path, "new-checkout").expect("turn off");
        let after = read(&path).expect("read back");
        assert!(is_off(&after, "new-checkout"));
        let left: Vec<_> = std::fs::read_dir(&dir).expect("list").collect();
        assert_eq!(left.len(), 1);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
