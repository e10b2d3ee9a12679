//! The resources this server knows by name: their group, version, kind, scope and whether they
//! have a `status` subresource. Other resources are still stored (any path works); this table
//! names kinds for seeding, lists, bookmarks and discovery.

/// One resource type the server knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ResourceInfo {
    /// API group; empty for the core group.
    pub(crate) group: &'static str,
    /// API version within the group.
    pub(crate) version: &'static str,
    /// Plural resource name used in paths.
    pub(crate) resource: &'static str,
    /// The kind of its objects.
    pub(crate) kind: &'static str,
    /// Whether objects live in a namespace.
    pub(crate) namespaced: bool,
    /// Whether writes to the main resource leave `status` alone (a `status` subresource).
    pub(crate) status_subresource: bool,
}

impl ResourceInfo {
    /// `v1` for the core group, else `<group>/<version>`.
    pub(crate) fn group_version(&self) -> String {
        if self.group.is_empty() {
            self.version.to_string()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }
}

const fn info(
    group: &'static str,
    version: &'static str,
    resource: &'static str,
    kind: &'static str,
    namespaced: bool,
    status_subresource: bool,
) -> ResourceInfo {
    ResourceInfo {
        group,
        version,
        resource,
        kind,
        namespaced,
        status_subresource,
    }
}

/// The resources Ripcord's controller reads or writes, and a few neighbours.
pub(crate) const KNOWN: &[ResourceInfo] = &[
    info("", "v1", "pods", "Pod", true, true),
    info("", "v1", "events", "Event", true, false),
    info("", "v1", "namespaces", "Namespace", false, true),
    info("", "v1", "secrets", "Secret", true, false),
    info("", "v1", "configmaps", "ConfigMap", true, false),
    info("", "v1", "services", "Service", true, true),
    info("", "v1", "serviceaccounts", "ServiceAccount", true, false),
    info("apps", "v1", "deployments", "Deployment", true, true),
    info("apps", "v1", "replicasets", "ReplicaSet", true, true),
    info("events.k8s.io", "v1", "events", "Event", true, false),
    info("coordination.k8s.io", "v1", "leases", "Lease", true, false),
    info(
        "authentication.k8s.io",
        "v1",
        "tokenreviews",
        "TokenReview",
        false,
        false,
    ),
    info(
        "admissionregistration.k8s.io",
        "v1",
        "mutatingwebhookconfigurations",
        "MutatingWebhookConfiguration",
        false,
        false,
    ),
    info(
        "apiextensions.k8s.io",
        "v1",
        "customresourcedefinitions",
        "CustomResourceDefinition",
        false,
        true,
    ),
    info(
        "ripcord.dev",
        "v1alpha1",
        "releasechecks",
        "ReleaseCheck",
        true,
        true,
    ),
    info(
        "core.openfeature.dev",
        "v1beta1",
        "featureflags",
        "FeatureFlag",
        true,
        true,
    ),
];

/// The known resource at `group_version` named `resource`.
pub(crate) fn by_resource(group_version: &str, resource: &str) -> Option<&'static ResourceInfo> {
    KNOWN
        .iter()
        .find(|info| info.resource == resource && info.group_version() == group_version)
}

/// The known resource of objects with `api_version` and `kind`.
pub(crate) fn by_kind(api_version: &str, kind: &str) -> Option<&'static ResourceInfo> {
    KNOWN
        .iter()
        .find(|info| info.kind == kind && info.group_version() == api_version)
}
