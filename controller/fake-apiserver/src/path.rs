//! Parses Kubernetes resource URLs (`/api/v1/...`, `/apis/<group>/<version>/...`, namespaced or
//! cluster-scoped, with an optional subresource) into what the store keys objects by.

/// Where a request points: a collection, or one object, or one object's subresource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ResourcePath {
    /// `v1` for the core group, else `<group>/<version>`.
    pub(crate) group_version: String,
    /// The plural resource name, e.g. `deployments`.
    pub(crate) resource: String,
    /// The namespace in the path; `None` for a cluster-scoped object or an all-namespaces list.
    pub(crate) namespace: Option<String>,
    /// The object's name; `None` for a collection.
    pub(crate) name: Option<String>,
    /// The subresource, e.g. `status`.
    pub(crate) subresource: Option<String>,
}

/// Subresources of a Namespace object, told apart from a resource inside a namespace.
const NAMESPACE_SUBRESOURCES: [&str; 2] = ["status", "finalize"];

/// Parses `path`; `None` when it is not a resource URL this server knows.
pub(crate) fn parse(path: &str) -> Option<ResourcePath> {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let (group_version, rest) = match segments.as_slice() {
        ["api", version, rest @ ..] => ((*version).to_string(), rest),
        ["apis", group, version, rest @ ..] => (format!("{group}/{version}"), rest),
        _ => return None,
    };
    if rest.iter().any(|segment| segment.is_empty()) {
        return None;
    }
    let namespaced = match rest {
        ["namespaces", _, second, ..] => !NAMESPACE_SUBRESOURCES.contains(second) || rest.len() > 3,
        _ => false,
    };
    let (namespace, rest) = if namespaced {
        (Some(rest[1].to_string()), &rest[2..])
    } else {
        (None, rest)
    };
    let (resource, name, subresource) = match rest {
        [resource] => (resource, None, None),
        [resource, name] => (resource, Some(name), None),
        [resource, name, sub] => (resource, Some(name), Some(sub)),
        _ => return None,
    };
    Some(ResourcePath {
        group_version,
        resource: (*resource).to_string(),
        namespace,
        name: name.map(|name| (*name).to_string()),
        subresource: subresource.map(|sub| (*sub).to_string()),
    })
}

/// The plural resource name Kubernetes uses for `kind` (lower case, English plural rules the
/// built-in kinds follow).
pub(crate) fn plural(kind: &str) -> String {
    let lower = kind.to_ascii_lowercase();
    if lower == "endpoints" {
        lower
    } else if let Some(stem) = lower.strip_suffix('y') {
        if stem.ends_with(['a', 'e', 'o', 'u']) {
            format!("{lower}s")
        } else {
            format!("{stem}ies")
        }
    } else if lower.ends_with('s') || lower.ends_with('x') || lower.ends_with("ch") {
        format!("{lower}es")
    } else {
        format!("{lower}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(path: &str) -> ResourcePath {
        parse(path).expect("a resource path")
    }

    #[test]
    fn core_and_group_paths_parse() {
        let pod = at("/api/v1/namespaces/shop/pods/checkout-1");
        assert_eq!(pod.group_version, "v1");
        assert_eq!(pod.resource, "pods");
        assert_eq!(pod.namespace.as_deref(), Some("shop"));
        assert_eq!(pod.name.as_deref(), Some("checkout-1"));
        let status = at("/apis/apps/v1/namespaces/shop/deployments/checkout/status");
        assert_eq!(status.group_version, "apps/v1");
        assert_eq!(status.subresource.as_deref(), Some("status"));
        let all = at("/apis/apps/v1/deployments");
        assert_eq!(all.namespace, None);
        assert_eq!(all.name, None);
    }

    #[test]
    fn namespaces_themselves_are_cluster_scoped() {
        let namespace = at("/api/v1/namespaces/shop");
        assert_eq!(namespace.resource, "namespaces");
        assert_eq!(namespace.name.as_deref(), Some("shop"));
        let status = at("/api/v1/namespaces/shop/status");
        assert_eq!(status.resource, "namespaces");
        assert_eq!(status.subresource.as_deref(), Some("status"));
        let pods = at("/api/v1/namespaces/shop/pods");
        assert_eq!(pods.namespace.as_deref(), Some("shop"));
        assert_eq!(pods.resource, "pods");
    }

    #[test]
    fn other_paths_are_not_resources() {
        for path in [
            "/",
            "/version",
            "/api",
            "/apis/apps",
            "/api/v1/a/b/c/d",
            "/api/v1//x",
        ] {
            assert_eq!(parse(path), None, "{path}");
        }
    }

    #[test]
    fn kinds_pluralise_like_kubernetes() {
        for (kind, resource) in [
            ("Pod", "pods"),
            ("Deployment", "deployments"),
            ("ReplicaSet", "replicasets"),
            ("Ingress", "ingresses"),
            ("NetworkPolicy", "networkpolicies"),
            ("Gateway", "gateways"),
            ("Endpoints", "endpoints"),
            ("ReleaseCheck", "releasechecks"),
        ] {
            assert_eq!(plural(kind), resource);
        }
    }
}
