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

    #[test]
    fn a_missing_file_is_stale_and_writing_makes_it_current() {
        let root = std::env::temp_dir().join(format!("ripcord-crdgen-{}", std::process::id()));
        let stale = write_crds(&root, true).expect("writes");
        assert_eq!(stale.len(), CRD_PATHS.len());
        assert!(write_crds(&root, false).expect("reads").is_empty());
        std::fs::remove_dir_all(&root).expect("cleans up");
    }
}
