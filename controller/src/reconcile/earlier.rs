//! The revisions from before Ripcord was enabled on a Deployment. ReplicaSets are watched by
//! the `ripcord.dev/enabled` label, so the revision a Deployment had before its template was
//! labelled is not in the caches, and its first watched release would look like a first
//! revision. When the caches show no previous revision but the release's number says there is
//! one, the Deployment's ReplicaSets are listed once (by its selector) and remembered for that
//! release; detection and assignments then see the unlabelled previous revision, a baseline
//! without sidecars.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use k8s_openapi::api::apps::v1::ReplicaSet;
use kube::api::{Api, ListParams};

use super::error::{Error, Result};
use crate::release::{CompactDeployment, CompactReplicaSet, Release};

/// ReplicaSets asked for per page of a listing (a Deployment keeps ten by default; a selector
/// shared with other workloads matches theirs too).
const PAGE: u32 = 100;

/// Most pages one listing reads, so a selector matching thousands of ReplicaSets costs bounded
/// memory and time; the revisions beyond are not seen.
const MAX_PAGES: usize = 10;

/// What one listing found for a Deployment's release.
#[derive(Debug, Clone)]
struct Listed {
    /// The release number the listing was made for.
    revision: u64,
    replica_sets: Arc<Vec<CompactReplicaSet>>,
}

/// The Deployments' listed ReplicaSets, one listing per Deployment and release; cheap to share.
#[derive(Debug, Default)]
pub struct EarlierRevisions {
    listed: Mutex<HashMap<String, Listed>>,
}

impl EarlierRevisions {
    /// Whether `release` (detected from the caches) may be missing its previous revision: it
    /// has none, yet its number says revisions came before it.
    pub fn may_be_missing(release: &Release) -> bool {
        release.previous.is_none() && release.current.number > 1
    }

    /// What was listed for Deployment `uid` at release `revision`, if it was.
    pub fn known(&self, uid: &str, revision: u64) -> Option<Arc<Vec<CompactReplicaSet>>> {
        let listed = self.lock();
        listed
            .get(uid)
            .filter(|l| l.revision == revision)
            .map(|l| Arc::clone(&l.replica_sets))
    }

    /// The Deployment's ReplicaSets for release `revision`: remembered, or listed now by the
    /// Deployment's selector, `matchLabels` and `matchExpressions` alike (none when the selector
    /// is empty or unreadable).
    pub async fn list(
        &self,
        client: &kube::Client,
        deployment: &CompactDeployment,
        revision: u64,
    ) -> Result<Arc<Vec<CompactReplicaSet>>> {
        let uid = deployment.metadata.uid.clone().unwrap_or_default();
        let namespace = deployment.metadata.namespace.as_deref().unwrap_or_default();
        let name = format!(
            "Deployment {namespace}/{}",
            deployment.metadata.name.as_deref().unwrap_or_default()
        );
        if let Some(known) = self.known(&uid, revision) {
            return Ok(known);
        }
        let replica_sets = match &deployment.selector {
            Some(selector) => {
                let api: Api<ReplicaSet> = Api::namespaced(client.clone(), namespace);
                list_pages(&api, selector, &uid, &name).await?
            }
            None => Vec::new(),
        };
        let replica_sets = Arc::new(replica_sets);
        self.lock().insert(
            uid,
            Listed {
                revision,
                replica_sets: Arc::clone(&replica_sets),
            },
        );
        Ok(replica_sets)
    }

    /// Forgets Deployment `uid` (its previous revision is in the caches, or it is gone).
    pub fn forget(&self, uid: &str) {
        self.lock().remove(uid);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Listed>> {
        self.listed
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// The ReplicaSets `selector` matches that Deployment `owner_uid` controls (others sharing the
/// labels are dropped as they come), page by page, at most [`MAX_PAGES`] pages.
async fn list_pages(
    api: &Api<ReplicaSet>,
    selector: &str,
    owner_uid: &str,
    name: &str,
) -> Result<Vec<CompactReplicaSet>> {
    let mut params = ListParams::default().labels(selector).limit(PAGE);
    let mut listed = Vec::new();
    for _ in 0..MAX_PAGES {
        let page = api
            .list(&params)
            .await
            .map_err(|source| Error::kube("list the ReplicaSets of", name, source))?;
        listed.extend(
            page.items
                .iter()
                .map(CompactReplicaSet::from)
                .filter(|rs| rs.owner.as_ref().is_some_and(|o| o.uid == owner_uid)),
        );
        match page.metadata.continue_.filter(|token| !token.is_empty()) {
            Some(token) => params = params.continue_token(&token),
            None => return Ok(listed),
        }
    }
    tracing::warn!(
        deployment = name,
        pages = MAX_PAGES,
        "its selector matches more ReplicaSets than are listed; older revisions may be missed"
    );
    Ok(listed)
}

/// The cached ReplicaSets and the listed ones not among them (by name).
pub fn merged<'a>(
    cached: &'a [Arc<CompactReplicaSet>],
    listed: &'a [CompactReplicaSet],
) -> impl Iterator<Item = &'a CompactReplicaSet> {
    let cached_names: std::collections::HashSet<Option<&str>> =
        cached.iter().map(|rs| rs.name.as_deref()).collect();
    cached.iter().map(AsRef::as_ref).chain(
        listed
            .iter()
            .filter(move |rs| !cached_names.contains(&rs.name.as_deref())),
    )
}
