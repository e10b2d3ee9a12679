//! Discovery: `/version`, `/api`, `/apis` and the per-version resource lists, built from the
//! table of known resources.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::kinds::{KNOWN, ResourceInfo};

/// The answer to a discovery path, or `None` when `path` is not one.
pub(crate) fn answer(path: &str, address: &str) -> Option<Value> {
    match path.trim_end_matches('/') {
        "/version" => Some(version()),
        "/api" => Some(json!({
            "kind": "APIVersions",
            "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": address}],
        })),
        "/apis" => Some(groups()),
        "/api/v1" => Some(resources("v1")),
        other => {
            let rest = other.strip_prefix("/apis/")?;
            match rest.split('/').collect::<Vec<_>>().as_slice() {
                [group, version] => {
                    let group_version = format!("{group}/{version}");
                    KNOWN
                        .iter()
                        .any(|info| info.group_version() == group_version)
                        .then(|| resources(&group_version))
                }
                [group] => groups()["groups"]
                    .as_array()
                    .and_then(|all| all.iter().find(|g| g["name"] == *group))
                    .map(|g| {
                        let mut g = g.clone();
                        g["kind"] = "APIGroup".into();
                        g["apiVersion"] = "v1".into();
                        g
                    }),
                _ => None,
            }
        }
    }
}

fn version() -> Value {
    json!({
        "major": "1",
        "minor": "33",
        "gitVersion": "v1.33.0-ripcord-fake",
        "gitCommit": "0000000000000000000000000000000000000000",
        "gitTreeState": "clean",
        "buildDate": "2026-01-01T00:00:00Z",
        "goVersion": "go1.24",
        "compiler": "gc",
        "platform": "linux/amd64",
    })
}

fn groups() -> Value {
    let mut versions: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for info in KNOWN.iter().filter(|info| !info.group.is_empty()) {
        let list = versions.entry(info.group).or_default();
        if !list.contains(&info.version) {
            list.push(info.version);
        }
    }
    let groups: Vec<Value> = versions
        .into_iter()
        .map(|(group, versions)| {
            let listed: Vec<Value> = versions
                .iter()
                .map(|v| json!({"groupVersion": format!("{group}/{v}"), "version": v}))
                .collect();
            json!({"name": group, "versions": listed, "preferredVersion": listed[0]})
        })
        .collect();
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
}

fn resources(group_version: &str) -> Value {
    let mut list = Vec::new();
    for info in KNOWN
        .iter()
        .filter(|info| info.group_version() == group_version)
    {
        list.push(entry(info, info.resource));
        if info.status_subresource {
            let mut status = entry(info, &format!("{}/status", info.resource));
            status["verbs"] = json!(["get", "patch", "update"]);
            list.push(status);
        }
    }
    json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": group_version, "resources": list})
}

fn entry(info: &ResourceInfo, name: &str) -> Value {
    let verbs = if info.resource == "tokenreviews" {
        json!(["create"])
    } else {
        json!([
            "create",
            "delete",
            "deletecollection",
            "get",
            "list",
            "patch",
            "update",
            "watch"
        ])
    };
    json!({
        "name": name,
        "singularName": info.kind.to_ascii_lowercase(),
        "namespaced": info.namespaced,
        "kind": info.kind,
        "verbs": verbs,
    })
}
