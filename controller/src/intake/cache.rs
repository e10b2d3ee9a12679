//! A short-lived cache of successful TokenReviews, so a sidecar reporting every second costs
//! the API server one review per [`TTL`] rather than one per report. Only authenticated answers
//! are kept; the pod-to-release check still runs on every report.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use super::auth::PodIdentity;

/// How long an authenticated token is trusted without a new review.
pub(crate) const TTL: Duration = Duration::from_secs(10);

/// Tokens remembered at most.
pub(crate) const CAPACITY: usize = 4096;

/// Token → identity and when the entry expires.
#[derive(Debug, Default)]
pub(crate) struct ReviewCache {
    entries: HashMap<String, (PodIdentity, Instant)>,
}

impl ReviewCache {
    /// The identity `token` was reviewed as, if that was less than [`TTL`] before `now`.
    pub(crate) fn get(&self, token: &str, now: Instant) -> Option<PodIdentity> {
        self.entries
            .get(token)
            .filter(|(_, expires)| *expires > now)
            .map(|(identity, _)| identity.clone())
    }

    /// Remembers that `token` authenticated as `identity` at `now`.
    pub(crate) fn insert(&mut self, token: &str, identity: PodIdentity, now: Instant) {
        if self.entries.len() >= CAPACITY {
            self.entries.retain(|_, (_, expires)| *expires > now);
            if self.entries.len() >= CAPACITY {
                self.entries.clear();
            }
        }
        self.entries
            .insert(token.to_string(), (identity, now + TTL));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn identity(pod: &str) -> PodIdentity {
        PodIdentity {
            namespace: "shop".into(),
            pod: pod.into(),
            pod_uid: None,
            service_account: "checkout".into(),
        }
    }

    #[test]
    fn entries_expire_after_the_ttl() {
        let mut cache = ReviewCache::default();
        let start = Instant::now();
        cache.insert("t", identity("a"), start);
        assert_eq!(cache.get("t", start + TTL / 2), Some(identity("a")));
        assert_eq!(cache.get("t", start + TTL), None);
        assert_eq!(cache.get("other", start), None);
    }

    #[test]
    fn the_cache_stays_bounded() {
        let mut cache = ReviewCache::default();
        let now = Instant::now();
        for n in 0..CAPACITY + 5 {
            cache.insert(&format!("token-{n}"), identity("a"), now);
        }
        assert!(cache.entries.len() <= CAPACITY);
        assert!(cache.get(&format!("token-{}", CAPACITY + 4), now).is_some());
    }
}
