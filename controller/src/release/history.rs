//! A Deployment's rollout history: the ReplicaSets it controls, with their revision numbers,
//! template hashes and templates, read once and checked.

use std::cmp::Reverse;

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::PodTemplateSpec;

use super::{
    Error, POD_TEMPLATE_HASH_LABEL, REVISION_ANNOTATION, REVISION_HISTORY_ANNOTATION, Result,
    Revision, has_sidecar,
};

/// Longest field value quoted back in an error.
const MAX_QUOTED: usize = 64;

/// Most earlier revision numbers kept from a `revision-history` annotation (the latest ones).
const MAX_EARLIER_NUMBERS: usize = 100;

/// The ReplicaSets a Deployment controls, newest revision first.
#[derive(Debug)]
pub(crate) struct History<'a> {
    deployment: &'a Deployment,
    namespace: &'a str,
    name: &'a str,
    /// The Deployment's template without a `pod-template-hash` label, for comparisons.
    template: PodTemplateSpec,
    /// Owned ReplicaSets, by revision (highest first, unrevisioned last), then name.
    entries: Vec<Entry<'a>>,
}

/// One ReplicaSet the Deployment controls.
#[derive(Debug)]
pub(crate) struct Entry<'a> {
    object: String,
    name: &'a str,
    revision: Option<u64>,
    earlier_numbers: Vec<u64>,
    hash: Option<&'a str>,
    template: &'a PodTemplateSpec,
    /// `template` without its `pod-template-hash` label.
    normalized: PodTemplateSpec,
}

impl<'a> History<'a> {
    /// Reads the Deployment and keeps the ReplicaSets it controls (controller ownerReference
    /// with its UID, same namespace).
    pub(crate) fn new(deployment: &'a Deployment, replica_sets: &'a [ReplicaSet]) -> Result<Self> {
        let meta = &deployment.metadata;
        let object = describe(
            "Deployment",
            meta.namespace.as_deref(),
            meta.name.as_deref(),
        );
        let missing = |field| Error::MissingField {
            object: object.clone(),
            field,
        };
        let name = meta
            .name
            .as_deref()
            .ok_or_else(|| missing("metadata.name"))?;
        let namespace = meta
            .namespace
            .as_deref()
            .ok_or_else(|| missing("metadata.namespace"))?;
        let uid = meta.uid.as_deref().ok_or_else(|| missing("metadata.uid"))?;
        let spec = deployment.spec.as_ref().ok_or_else(|| missing("spec"))?;
        let mut entries = Vec::new();
        for replica_set in replica_sets {
            if controlled_by(replica_set, namespace, uid) {
                entries.push(Entry::new(replica_set, namespace)?);
            }
        }
        entries.sort_by(|a, b| (Reverse(a.revision), a.name).cmp(&(Reverse(b.revision), b.name)));
        Ok(Self {
            deployment,
            namespace,
            name,
            template: without_hash(&spec.template),
            entries,
        })
    }

    /// The Deployment these ReplicaSets belong to.
    pub(crate) fn deployment(&self) -> &'a Deployment {
        self.deployment
    }

    /// The Deployment's namespace.
    pub(crate) fn namespace(&self) -> &'a str {
        self.namespace
    }

    /// The Deployment's name.
    pub(crate) fn name(&self) -> &'a str {
        self.name
    }

    /// The owned ReplicaSet with the highest revision whose template equals the Deployment's
    /// (ignoring `pod-template-hash`), or `None` when there is none yet.
    pub(crate) fn current(&self) -> Result<Option<&Entry<'a>>> {
        let mut matching = self.entries.iter().filter(|e| e.runs(&self.template));
        let Some(first) = matching.next() else {
            return Ok(None);
        };
        // Sorted highest revision first, unrevisioned last.
        if first.revision.is_none() {
            return Err(first.missing(ANNOTATION_FIELD));
        }
        Ok(Some(first))
    }

    /// Owned revisions numbered below `current`, highest first, leaving out any that run the
    /// current template again (they would change nothing) and ReplicaSets without a revision.
    pub(crate) fn earlier<'h>(
        &'h self,
        current: &'h Entry<'a>,
    ) -> impl Iterator<Item = &'h Entry<'a>> + 'h {
        let below = current.revision;
        self.entries.iter().filter(move |e| {
            e.revision.is_some() && e.revision < below && !e.runs(&current.normalized)
        })
    }

    /// The owned ReplicaSets whose template equals `template` (ignoring `pod-template-hash`).
    pub(crate) fn running<'h>(
        &'h self,
        template: &'h PodTemplateSpec,
    ) -> impl Iterator<Item = &'h Entry<'a>> + 'h {
        let wanted = without_hash(template);
        self.entries.iter().filter(move |e| e.normalized == wanted)
    }

    /// The Deployment's template, without a `pod-template-hash` label.
    pub(crate) fn template(&self) -> &PodTemplateSpec {
        &self.template
    }
}

/// Path of the revision-history annotation, as errors name it.
const HISTORY_FIELD: &str = "metadata.annotations[\"deployment.kubernetes.io/revision-history\"]";

/// Path of the revision annotation, as errors name it.
const ANNOTATION_FIELD: &str = "metadata.annotations[\"deployment.kubernetes.io/revision\"]";

impl<'a> Entry<'a> {
    fn new(replica_set: &'a ReplicaSet, namespace: &str) -> Result<Self> {
        let meta = &replica_set.metadata;
        let object = describe("ReplicaSet", Some(namespace), meta.name.as_deref());
        let missing = |field| Error::MissingField {
            object: object.clone(),
            field,
        };
        let name = meta
            .name
            .as_deref()
            .ok_or_else(|| missing("metadata.name"))?;
        let template = replica_set
            .spec
            .as_ref()
            .and_then(|s| s.template.as_ref())
            .ok_or_else(|| missing("spec.template"))?;
        let revision = match meta
            .annotations
            .as_ref()
            .and_then(|a| a.get(REVISION_ANNOTATION))
        {
            None => None,
            Some(text) => Some(
                text.trim()
                    .parse::<u64>()
                    .map_err(|_| Error::InvalidField {
                        object: object.clone(),
                        field: ANNOTATION_FIELD,
                        value: quoted(text),
                        expected: "a non-negative whole number",
                    })?,
            ),
        };
        let earlier_numbers = match meta
            .annotations
            .as_ref()
            .and_then(|a| a.get(REVISION_HISTORY_ANNOTATION))
        {
            None => Vec::new(),
            Some(text) => earlier_numbers(text).ok_or_else(|| Error::InvalidField {
                object: object.clone(),
                field: HISTORY_FIELD,
                value: quoted(text),
                expected: "comma-separated whole numbers",
            })?,
        };
        let hash = meta
            .labels
            .as_ref()
            .and_then(|l| l.get(POD_TEMPLATE_HASH_LABEL))
            .or_else(|| {
                template
                    .metadata
                    .as_ref()
                    .and_then(|m| m.labels.as_ref())
                    .and_then(|l| l.get(POD_TEMPLATE_HASH_LABEL))
            })
            .map(String::as_str);
        if let Some(hash) = hash
            && !is_label_value(hash)
        {
            return Err(Error::InvalidField {
                object,
                field: "metadata.labels[\"pod-template-hash\"]",
                value: quoted(hash),
                expected: "a non-empty label value",
            });
        }
        Ok(Self {
            object,
            name,
            revision,
            earlier_numbers,
            hash,
            template,
            normalized: without_hash(template),
        })
    }

    /// Whether this ReplicaSet runs `normalized` (a template without its hash label).
    fn runs(&self, normalized: &PodTemplateSpec) -> bool {
        &self.normalized == normalized
    }

    fn missing(&self, field: &'static str) -> Error {
        Error::MissingField {
            object: self.object.clone(),
            field,
        }
    }

    /// The ReplicaSet's `pod-template-hash`, required.
    pub(crate) fn hash(&self) -> Result<&'a str> {
        self.hash
            .ok_or_else(|| self.missing("metadata.labels[\"pod-template-hash\"]"))
    }

    /// The ReplicaSet's pod template, as stored (with its hash label).
    pub(crate) fn template(&self) -> &'a PodTemplateSpec {
        self.template
    }

    /// This ReplicaSet as a [`Revision`]; needs its revision number and hash.
    pub(crate) fn revision(&self) -> Result<Revision> {
        Ok(Revision {
            number: self
                .revision
                .ok_or_else(|| self.missing(ANNOTATION_FIELD))?,
            hash: self.hash()?.to_string(),
            replica_set: self.name.to_string(),
            earlier_numbers: self.earlier_numbers.clone(),
            has_sidecar: has_sidecar(self.template),
        })
    }
}

/// Whether the ReplicaSet is controlled by the Deployment with this UID in this namespace.
fn controlled_by(replica_set: &ReplicaSet, namespace: &str, uid: &str) -> bool {
    let meta = &replica_set.metadata;
    if meta.namespace.as_deref().is_some_and(|ns| ns != namespace) {
        return false;
    }
    meta.owner_references
        .iter()
        .flatten()
        .any(|owner| owner.controller == Some(true) && owner.uid == uid)
}

/// The template without a `pod-template-hash` label, the way `kubectl rollout undo` writes a
/// ReplicaSet's template back into its Deployment. An emptied label map becomes absent, so a
/// template compares equal to its ReplicaSet's copy.
pub(crate) fn without_hash(template: &PodTemplateSpec) -> PodTemplateSpec {
    let mut template = template.clone();
    if let Some(meta) = template.metadata.as_mut()
        && let Some(labels) = meta.labels.as_mut()
    {
        labels.remove(POD_TEMPLATE_HASH_LABEL);
        if labels.is_empty() {
            meta.labels = None;
        }
    }
    template
}

/// The numbers of a `revision-history` annotation (`"2,3"`), the last [`MAX_EARLIER_NUMBERS`]
/// of them; `None` when one is not a number.
fn earlier_numbers(text: &str) -> Option<Vec<u64>> {
    let mut numbers = text
        .split(',')
        .map(|n| n.trim().parse::<u64>().ok())
        .collect::<Option<Vec<u64>>>()?;
    let excess = numbers.len().saturating_sub(MAX_EARLIER_NUMBERS);
    numbers.drain(..excess);
    Some(numbers)
}

/// `Kind namespace/name`, with placeholders for what is missing.
fn describe(kind: &str, namespace: Option<&str>, name: Option<&str>) -> String {
    format!(
        "{kind} {}/{}",
        namespace.unwrap_or("<no namespace>"),
        name.unwrap_or("<no name>")
    )
}

/// A value quoted back in an error, cut to [`MAX_QUOTED`] characters.
fn quoted(value: &str) -> String {
    value.chars().take(MAX_QUOTED).collect()
}

/// Whether the text is a valid Kubernetes label value that is not empty (at most 63
/// characters of `[A-Za-z0-9_.-]`, starting and ending alphanumeric). Label values reach URL
/// paths and PromQL selectors downstream, so anything else is refused here.
fn is_label_value(text: &str) -> bool {
    let bytes = text.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= 63
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        && bytes.first().is_some_and(u8::is_ascii_alphanumeric)
        && bytes.last().is_some_and(u8::is_ascii_alphanumeric)
}
