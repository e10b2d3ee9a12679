//! Test-only loading of the Kubernetes object fixtures in `testdata/k8s/`.

use std::path::PathBuf;

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use serde::Deserialize;

/// `pod-template-hash` of v1.4.0 in the fixtures.
pub(crate) const H1: &str = "6b9f7c5d48";
/// `pod-template-hash` of v1.4.1 in the fixtures.
pub(crate) const H2: &str = "7d8c96b5f4";
/// `pod-template-hash` of v1.4.2 (the release that fails) in the fixtures.
pub(crate) const H3: &str = "59c4d7f8b6";
/// `pod-template-hash` of v1.4.3 in the fixtures.
pub(crate) const H4: &str = "84b7f6d9c5";

/// One fixture file: a Deployment and the ReplicaSets listed with it, in file order.
#[derive(Debug, Clone)]
pub(crate) struct Fixture {
    pub(crate) deployment: Deployment,
    pub(crate) replica_sets: Vec<ReplicaSet>,
}

/// The fixture directory.
pub(crate) fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../testdata/k8s")
}

/// Loads `testdata/k8s/{name}`: YAML documents of kind Deployment (exactly one) and ReplicaSet.
pub(crate) fn load(name: &str) -> Fixture {
    let path = dir().join(name);
    let text = std::fs::read_to_string(&path).expect("the fixture file is readable");
    let mut deployment = None;
    let mut replica_sets = Vec::new();
    for document in serde_yaml::Deserializer::from_str(&text) {
        let value = serde_yaml::Value::deserialize(document).expect("each document is YAML");
        match value.get("kind").and_then(serde_yaml::Value::as_str) {
            Some("Deployment") => {
                let parsed = serde_yaml::from_value(value).expect("a Deployment object");
                assert!(
                    deployment.replace(parsed).is_none(),
                    "{name}: one Deployment"
                );
            }
            Some("ReplicaSet") => {
                replica_sets.push(serde_yaml::from_value(value).expect("a ReplicaSet object"));
            }
            other => panic!("{name}: unexpected kind {other:?}"),
        }
    }
    Fixture {
        deployment: deployment.expect("the fixture holds a Deployment"),
        replica_sets,
    }
}
