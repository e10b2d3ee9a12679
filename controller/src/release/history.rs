//! A Deployment's rollout history: the ReplicaSets it controls, with their revision numbers,
//! template hashes and template digests, read once and checked. [`Lineage`] orders the
//! revisions of a compacted Deployment (what the caches hold); [`History`] wraps it for whole
//! objects read from the API server, keeping each revision's template for the rollback patch.

use std::cmp::Reverse;

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::PodTemplateSpec;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::compact::{CompactReplicaSet, TemplateDigest};
use super::{Error, POD_TEMPLATE_HASH_LABEL, Result, Revision};

/// Longest field value quoted back in an error.
const MAX_QUOTED: usize = 64;

/// Most earlier revision numbers kept from a `revision-history` annotation (the latest ones).
const MAX_EARLIER_NUMBERS: usize = 100;

/// Path of the revision-history annotation, as errors name it.
const HISTORY_FIELD: &str = "metadata.annotations[\"deployment.kubernetes.io/revision-history\"]";

/// Path of the revision annotation, as errors name it.
const ANNOTATION_FIELD: &str = "metadata.annotations[\"deployment.kubernetes.io/revision\"]";

/// A Deployment's name, namespace and UID, required.
pub(crate) struct Identity<'n> {
    pub(crate) name: &'n str,
    pub(crate) namespace: &'n str,
    pub(crate) uid: &'n str,
}

impl<'n> Identity<'n> {
    /// Reads the Deployment's identity; `has_spec` tells whether it has a spec, which detection
    /// also needs.
    pub(crate) fn of(meta: &'n ObjectMeta, has_spec: bool) -> Result<Self> {
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
        if !has_spec {
            return Err(missing("spec"));
        }
        Ok(Self {
            name,
            namespace,
            uid,
        })
    }

    /// Whether the ReplicaSet is controlled by this Deployment (controller ownerReference with
    /// its UID, same namespace).
    pub(crate) fn controls(&self, replica_set: &CompactReplicaSet) -> bool {
        replica_set
            .namespace
            .as_deref()
            .is_none_or(|ns| ns == self.namespace)
            && replica_set
                .owner
                .as_ref()
                .is_some_and(|owner| owner.uid == self.uid)
    }
}

/// The ReplicaSets a Deployment controls, newest revision first.
#[derive(Debug)]
pub(crate) struct Lineage<'n, E> {
    namespace: &'n str,
    name: &'n str,
    /// Digest of the Deployment's template.
    template: TemplateDigest,
    /// Owned ReplicaSets, by revision (highest first, unrevisioned last), then name.
    entries: Vec<E>,
}

/// What detection reads of one ReplicaSet the Deployment controls, checked.
#[derive(Debug)]
pub(crate) struct Facts {
    object: String,
    name: String,
    revision: Option<u64>,
    earlier_numbers: Vec<u64>,
    hash: Option<String>,
    digest: TemplateDigest,
    has_sidecar: bool,
}

impl AsRef<Facts> for Facts {
    fn as_ref(&self) -> &Facts {
        self
    }
}

impl<'n, E: AsRef<Facts>> Lineage<'n, E> {
    /// Orders `entries`, the ReplicaSets `identity` controls.
    pub(crate) fn new(
        identity: &Identity<'n>,
        template: TemplateDigest,
        mut entries: Vec<E>,
    ) -> Self {
        entries.sort_by(|a, b| {
            let (a, b) = (a.as_ref(), b.as_ref());
            (Reverse(a.revision), &a.name).cmp(&(Reverse(b.revision), &b.name))
        });
        Self {
            namespace: identity.namespace,
            name: identity.name,
            template,
            entries,
        }
    }

    /// The Deployment's namespace.
    pub(crate) fn namespace(&self) -> &'n str {
        self.namespace
    }

    /// The Deployment's name.
    pub(crate) fn name(&self) -> &'n str {
        self.name
    }

    /// The owned ReplicaSet with the highest revision whose template equals the Deployment's
    /// (ignoring `pod-template-hash`), or `None` when there is none yet.
    pub(crate) fn current(&self) -> Result<Option<&E>> {
        let mut matching = self.running(self.template);
        let Some(first) = matching.next() else {
            return Ok(None);
        };
        // Sorted highest revision first, unrevisioned last.
        if first.as_ref().revision.is_none() {
            return Err(first.as_ref().missing(ANNOTATION_FIELD));
        }
        Ok(Some(first))
    }

    /// Owned revisions numbered below `current`, highest first, leaving out any that run the
    /// current template again (they would change nothing) and ReplicaSets without a revision.
    pub(crate) fn earlier<'h>(&'h self, current: &'h E) -> impl Iterator<Item = &'h E> + 'h {
        let current = current.as_ref();
        self.entries.iter().filter(move |e| {
            let e = e.as_ref();
            e.revision.is_some() && e.revision < current.revision && e.digest != current.digest
        })
    }

    /// The owned ReplicaSets whose template has this digest.
    pub(crate) fn running(&self, digest: TemplateDigest) -> impl Iterator<Item = &E> + '_ {
        self.entries
            .iter()
            .filter(move |e| e.as_ref().digest == digest)
    }
}

impl Facts {
    /// Reads and checks one ReplicaSet of the Deployment in `namespace`.
    pub(crate) fn new(replica_set: &CompactReplicaSet, namespace: &str) -> Result<Self> {
        let object = describe("ReplicaSet", Some(namespace), replica_set.name.as_deref());
        let missing = |field| Error::MissingField {
            object: object.clone(),
            field,
        };
        let name = replica_set
            .name
            .clone()
            .ok_or_else(|| missing("metadata.name"))?;
        let template = replica_set
            .template
            .as_ref()
            .ok_or_else(|| missing("spec.template"))?;
        let revision = match &replica_set.revision {
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
        let earlier_numbers = match &replica_set.revision_history {
            None => Vec::new(),
            Some(text) => earlier_numbers(text).ok_or_else(|| Error::InvalidField {
                object: object.clone(),
                field: HISTORY_FIELD,
                value: quoted(text),
                expected: "comma-separated whole numbers",
            })?,
        };
        if let Some(hash) = &replica_set.hash
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
            hash: replica_set.hash.clone(),
            digest: template.digest,
            has_sidecar: template.has_sidecar,
        })
    }

    fn missing(&self, field: &'static str) -> Error {
        Error::MissingField {
            object: self.object.clone(),
            field,
        }
    }

    /// The ReplicaSet's `pod-template-hash`, required.
    pub(crate) fn hash(&self) -> Result<&str> {
        self.hash
            .as_deref()
            .ok_or_else(|| self.missing("metadata.labels[\"pod-template-hash\"]"))
    }

    /// This ReplicaSet as a [`Revision`]; needs its revision number and hash.
    pub(crate) fn revision(&self) -> Result<Revision> {
        Ok(Revision {
            number: self
                .revision
                .ok_or_else(|| self.missing(ANNOTATION_FIELD))?,
            hash: self.hash()?.to_string(),
            replica_set: self.name.clone(),
            earlier_numbers: self.earlier_numbers.clone(),
            has_sidecar: self.has_sidecar,
        })
    }
}

/// A Deployment and the ReplicaSets it controls, read whole from the API server: the
/// [`Lineage`] of their compacted forms, plus each revision's template.
#[derive(Debug)]
pub(crate) struct History<'a> {
    deployment: &'a Deployment,
    /// The Deployment's template without a `pod-template-hash` label.
    template: PodTemplateSpec,
    lineage: Lineage<'a, Entry<'a>>,
}

/// One ReplicaSet the Deployment controls, with its template.
#[derive(Debug)]
pub(crate) struct Entry<'a> {
    facts: Facts,
    template: &'a PodTemplateSpec,
}

impl AsRef<Facts> for Entry<'_> {
    fn as_ref(&self) -> &Facts {
        &self.facts
    }
}

impl<'a> History<'a> {
    /// Reads the Deployment and keeps the ReplicaSets it controls (controller ownerReference
    /// with its UID, same namespace).
    pub(crate) fn new(deployment: &'a Deployment, replica_sets: &'a [ReplicaSet]) -> Result<Self> {
        let spec = deployment.spec.as_ref();
        let identity = Identity::of(&deployment.metadata, spec.is_some())?;
        let template = spec.map(|s| without_hash(&s.template)).unwrap_or_default();
        let mut entries = Vec::new();
        for replica_set in replica_sets {
            let compact = CompactReplicaSet::from(replica_set);
            if !identity.controls(&compact) {
                continue;
            }
            let facts = Facts::new(&compact, identity.namespace)?;
            let template = replica_set
                .spec
                .as_ref()
                .and_then(|s| s.template.as_ref())
                .ok_or_else(|| facts.missing("spec.template"))?;
            entries.push(Entry { facts, template });
        }
        let digest = TemplateDigest::of(&template);
        Ok(Self {
            deployment,
            template,
            lineage: Lineage::new(&identity, digest, entries),
        })
    }

    /// The Deployment these ReplicaSets belong to.
    pub(crate) fn deployment(&self) -> &'a Deployment {
        self.deployment
    }

    /// The Deployment's namespace.
    pub(crate) fn namespace(&self) -> &'a str {
        self.lineage.namespace()
    }

    /// The Deployment's name.
    pub(crate) fn name(&self) -> &'a str {
        self.lineage.name()
    }

    /// See [`Lineage::current`].
    pub(crate) fn current(&self) -> Result<Option<&Entry<'a>>> {
        self.lineage.current()
    }

    /// See [`Lineage::earlier`].
    pub(crate) fn earlier<'h>(
        &'h self,
        current: &'h Entry<'a>,
    ) -> impl Iterator<Item = &'h Entry<'a>> + 'h {
        self.lineage.earlier(current)
    }

    /// The owned ReplicaSets whose template equals `template` (ignoring `pod-template-hash`).
    pub(crate) fn running<'h>(
        &'h self,
        template: &'h PodTemplateSpec,
    ) -> impl Iterator<Item = &'h Entry<'a>> + 'h {
        self.lineage.running(TemplateDigest::of(template))
    }

    /// The Deployment's template, without a `pod-template-hash` label.
    pub(crate) fn template(&self) -> &PodTemplateSpec {
        &self.template
    }
}

impl<'a> Entry<'a> {
    /// The ReplicaSet's `pod-template-hash`, required.
    pub(crate) fn hash(&self) -> Result<&str> {
        self.facts.hash()
    }

    /// The ReplicaSet's pod template, as stored (with its hash label).
    pub(crate) fn template(&self) -> &'a PodTemplateSpec {
        self.template
    }

    /// This ReplicaSet as a [`Revision`]; needs its revision number and hash.
    pub(crate) fn revision(&self) -> Result<Revision> {
        self.facts.revision()
    }
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
