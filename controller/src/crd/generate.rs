//! The `ReleaseCheck` CRD as YAML, generated from the Rust types, and the files it is committed
//! to (written by `ripcord-crdgen`, checked for drift by a test and by CI).

use std::path::{Path, PathBuf};

use kube::CustomResourceExt;

use super::types::ReleaseCheck;
use super::{Error, Result};

/// Where the generated CRD is committed, relative to the repository root.
pub const CRD_PATHS: [&str; 2] = [
    "manifests/crds/releasecheck.yaml",
    "charts/ripcord/crds/releasecheck.yaml",
];

/// First lines of every generated CRD file.
pub const GENERATED_HEADER: &str = "# Generated from controller/src/crd by \
`cargo run -p ripcord-controller --bin ripcord-crdgen`; do not edit.\n";

/// The `ReleaseCheck` CustomResourceDefinition as YAML, with [`GENERATED_HEADER`].
pub fn crd_yaml() -> Result<String> {
    let yaml = serde_yaml::to_string(&ReleaseCheck::crd()).map_err(|source| Error::Serialise {
        what: "ReleaseCheck CRD",
        source: Box::new(source),
    })?;
    Ok(format!("{GENERATED_HEADER}{yaml}"))
}

/// The committed CRD files under `root` that differ from the generated YAML (missing ones
/// included). With `write`, they are rewritten (creating their directories).
pub fn write_crds(root: &Path, write: bool) -> Result<Vec<PathBuf>> {
    let yaml = crd_yaml()?;
    let mut stale = Vec::new();
    for relative in CRD_PATHS {
        let path = root.join(relative);
        let current = match std::fs::read_to_string(&path) {
            Ok(text) => Some(text),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => None,
            Err(source) => return Err(io("read", &path, source)),
        };
        if current.as_deref() == Some(yaml.as_str()) {
            continue;
        }
        if write {
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).map_err(|source| io("write", parent, source))?;
            }
            std::fs::write(&path, &yaml).map_err(|source| io("write", &path, source))?;
        }
        stale.push(path);
    }
    Ok(stale)
}

fn io(action: &'static str, path: &Path, source: std::io::Error) -> Error {
    Error::Io {
        action,
        path: path.to_path_buf(),
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn crd() -> Value {
        serde_json::to_value(ReleaseCheck::crd()).expect("the CRD serialises")
    }

    #[test]
    fn the_committed_crds_are_the_generated_ones() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let stale = write_crds(&root, false).expect("the CRD files read");
        assert!(
            stale.is_empty(),
            "{stale:?} differ from the types; run `cargo run -p ripcord-controller --bin ripcord-crdgen`"
        );
    }

    #[test]
    fn the_crd_names_group_scope_and_status_subresource() {
        let crd = crd();
        assert_eq!(crd["metadata"]["name"], "releasechecks.ripcord.dev");
        assert_eq!(crd["spec"]["scope"], "Namespaced");
        assert_eq!(crd["spec"]["names"]["kind"], "ReleaseCheck");
        assert_eq!(
            crd["spec"]["names"]["shortNames"],
            serde_json::json!(["rchk"])
        );
        let version = &crd["spec"]["versions"][0];
        assert_eq!(version["name"], "v1alpha1");
        assert!(version["subresources"]["status"].is_object());
        let columns: Vec<&str> = version["additionalPrinterColumns"]
            .as_array()
            .expect("printer columns")
            .iter()
            .filter_map(|column| column["name"].as_str())
            .collect();
        assert_eq!(
            columns,
            ["Deployment", "Revision", "Phase", "Verdict", "Age"]
        );
    }

    /// Every property of the schema has a description: the `///` of its field.
    #[test]
    fn every_schema_property_is_described() {
        fn walk(schema: &Value, path: &str, missing: &mut Vec<String>) {
            let Some(properties) = schema["properties"].as_object() else {
                if let Some(items) = schema.get("items") {
                    walk(items, &format!("{path}[]"), missing);
                }
                return;
            };
            for (name, property) in properties {
                let here = format!("{path}.{name}");
                let described = property["description"]
                    .as_str()
                    .is_some_and(|d| !d.is_empty());
                // apiVersion, kind and metadata are Kubernetes' own.
                if !described && !matches!(name.as_str(), "apiVersion" | "kind" | "metadata") {
                    missing.push(here.clone());
                }
                walk(property, &here, missing);
            }
        }
        let crd = crd();
        let mut missing = Vec::new();
        walk(
            &crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"],
            "",
            &mut missing,
        );
        assert!(missing.is_empty(), "undescribed: {missing:?}");
    }

    /// Checks `value` against an OpenAPI schema as the API server would: an unknown field would
    /// be pruned (silently lost), a wrong type or enum value or a missing required field refused.
    fn conforms(value: &Value, schema: &Value, path: &str, problems: &mut Vec<String>) {
        if value.is_null() {
            if schema["nullable"] != true {
                problems.push(format!("{path}: null but not nullable"));
            }
            return;
        }
        let expected = schema["type"].as_str().unwrap_or("");
        let type_ok = match value {
            Value::Object(_) => expected == "object",
            Value::Array(_) => expected == "array",
            Value::String(_) => expected == "string",
            Value::Number(n) => expected == "number" || (expected == "integer" && !n.is_f64()),
            Value::Bool(_) => expected == "boolean",
            Value::Null => true,
        };
        if !type_ok {
            problems.push(format!("{path}: {value} is not of type {expected:?}"));
            return;
        }
        if let Some(allowed) = schema["enum"].as_array()
            && !allowed.contains(value)
        {
            problems.push(format!("{path}: {value} is not one of {allowed:?}"));
        }
        match value {
            Value::Object(fields) => {
                let required = schema["required"].as_array().cloned().unwrap_or_default();
                for key in required.iter().filter_map(Value::as_str) {
                    if !fields.contains_key(key) {
                        problems.push(format!("{path}.{key}: required but absent"));
                    }
                }
                for (key, field) in fields {
                    match schema["properties"].get(key) {
                        Some(property) => {
                            conforms(field, property, &format!("{path}.{key}"), problems)
                        }
                        None if path.is_empty()
                            && matches!(key.as_str(), "apiVersion" | "kind" | "metadata") => {}
                        None => problems
                            .push(format!("{path}.{key}: not in the schema, would be pruned")),
                    }
                }
            }
            Value::Array(items) => {
                for (index, item) in items.iter().enumerate() {
                    conforms(
                        item,
                        &schema["items"],
                        &format!("{path}[{index}]"),
                        problems,
                    );
                }
            }
            _ => {}
        }
    }

    /// A fully populated ReleaseCheck, as the controller writes it, fits the generated schema.
    #[test]
    fn a_full_release_check_fits_the_generated_schema() {
        use crate::crd::*;
        use ripcord_sidecar::report::{Release, VerdictReport};
        use ripcord_sidecar::verdict::{self as wire, Verdict};
        let evidence = wire::MetricEvidence {
            name: "latency".to_string(),
            signal: "latency".to_string(),
            direction: "max".to_string(),
            tolerance: 0.2,
            decision: wire::Decision::Fail,
            reason: "slow".to_string(),
            canary: wire::ArmCounts {
                events: 30.0,
                trials: 300.0,
                rate: Some(0.1),
            },
            baseline: wire::ArmCounts {
                events: 3.0,
                trials: 300.0,
                rate: Some(0.01),
            },
            effect: wire::Effect {
                measure: "rate_ratio".to_string(),
                estimate: Some(10.0),
                lower: Some(3.0),
                upper: Some(40.0),
                confidence: 0.99,
            },
            e_value: 1e6,
            threshold: 100.0,
            alpha: 0.01,
            decided_at_ms: Some(1_700_000_010_000),
            skipped_ticks: 0,
            absolute: None,
            latency: Some(wire::LatencyEvidence {
                quantile: 0.99,
                edge: 0.25,
                baseline_share_below_edge: 0.99,
                canary_quantile: Some(0.9),
                baseline_quantile: Some(0.2),
            }),
        };
        let verdict = Verdict {
            version: wire::VERDICT_VERSION.to_string(),
            decision: wire::Decision::Fail,
            reason: "latency regressed".to_string(),
            at_ms: 1_700_000_010_000,
            elapsed_ms: 10_000,
            ticks: 10,
            alpha: 0.01,
            decided_at_ms: Some(1_700_000_010_000),
            basis: Default::default(),
            metrics: vec![evidence],
        };
        let release = Release {
            namespace: "shop".to_string(),
            deployment: "checkout".to_string(),
            revision: "7".to_string(),
            pod: "checkout-7-a".to_string(),
        };
        let mut status = ReleaseCheckStatus {
            phase: Some(Phase::RolledBack),
            claimed_by: Some("ripcord-controller-0".to_string()),
            observed_generation: Some(1),
            message: Some("rolled back to revision 6".to_string()),
            ..ReleaseCheckStatus::default()
        };
        status.record_verdict(&VerdictReport::new(release, 9, verdict));
        status.timeline.released = Some(rfc3339_from_ms(1_700_000_000_000));
        status.timeline.acted = Some(rfc3339_from_ms(1_700_000_010_010));
        status.timeline.rollback_complete = Some(rfc3339_from_ms(1_700_000_030_000));
        status.push_action(ActionRecord {
            kind: ActionKind::Rollback,
            result: ActionResult::Succeeded,
            at: rfc3339_from_ms(1_700_000_010_010),
            detail: Some("to revision 6".to_string()),
        });
        status.set_condition(Condition {
            type_: CONDITION_ACTED.to_string(),
            status: ConditionStatus::True,
            reason: "RolledBack".to_string(),
            message: String::new(),
            last_transition_time: rfc3339_from_ms(1_700_000_010_010),
            observed_generation: Some(1),
        });
        let mut check = ReleaseCheck::new(
            "checkout-7",
            ReleaseCheckSpec {
                deployment: "checkout".to_string(),
                revision: 7,
                template_hash: "7d9f8c6b5".to_string(),
                previous: Some(PreviousRevision {
                    revision: 6,
                    template_hash: "5c4b3a291".to_string(),
                }),
                policy: PolicySnapshot {
                    on_regression: vec![RegressionStep::Flag, RegressionStep::Rollback],
                    flag: Some("launchdarkly://shop/production/new-checkout".to_string()),
                    mode: Mode::Act,
                    watch: "latency: h p99 max +20%".to_string(),
                    watch_for_seconds: 1800,
                },
            },
        );
        check.status = Some(status);
        let instance = serde_json::to_value(&check).expect("serialises");
        let crd = crd();
        let mut problems = Vec::new();
        conforms(
            &instance,
            &crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"],
            "",
            &mut problems,
        );
        assert!(problems.is_empty(), "{problems:#?}");
        let mut broken = instance.clone();
        broken["status"]["phase"] = "Exploded".into();
        broken["status"]["unknownField"] = 1.into();
        let mut problems = Vec::new();
        conforms(
            &broken,
            &crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"],
            "",
            &mut problems,
        );
        assert_eq!(
            problems.len(),
            2,
            "the checker itself notices: {problems:#?}"
        );
    }

    #[test]
    fn a_missing_file_is_stale_and_writing_makes_it_current() {
        let root = std::env::temp_dir().join(format!("ripcord-crdgen-{}", std::process::id()));
        let stale = write_crds(&root, true).expect("writes");
        assert_eq!(stale.len(), CRD_PATHS.len());
        assert!(write_crds(&root, false).expect("reads").is_empty());
        std::fs::remove_dir_all(&root).expect("cleans up");
    }
}
