//! Leader election for the acting parts. Every replica serves the webhook and the intake; only
//! the replica holding the Lease acts on verdicts and reconciles releases. Correctness never
//! rests on the Lease alone: each action is also guarded by a resourceVersion precondition, so
//! two replicas that both believe they lead for a moment still act once.

use std::sync::Arc;

use kube_lease_manager::LeaseManagerBuilder;
use tokio::sync::watch;
use tracing::Instrument;

use super::metrics::Metrics;
use super::{Error, Result};

/// Settings of the acting Lease.
#[derive(Debug, Clone)]
pub struct LeaseSettings {
    /// Namespace of the Lease (the controller's own).
    pub namespace: String,
    /// Name of the Lease.
    pub name: String,
    /// This replica's identity, usually its pod name.
    pub identity: String,
    /// Seconds a holder keeps the Lease without renewing it.
    pub duration_seconds: u64,
    /// Seconds before expiry at which the holder renews.
    pub grace_seconds: u64,
}

/// Whether this replica may act now.
#[derive(Debug, Clone)]
pub struct Leadership {
    leading: watch::Receiver<bool>,
}

impl Leadership {
    /// Leadership that is always held: a single replica, or tests.
    pub fn always() -> Self {
        let (_sender, leading) = watch::channel(true);
        Leadership { leading }
    }

    /// Leadership from a channel that another part updates (tests drive it by hand).
    pub fn from_channel(leading: watch::Receiver<bool>) -> Self {
        Leadership { leading }
    }

    /// Starts competing for the Lease in the background and returns the live answer.
    pub async fn elect(
        client: kube::Client,
        settings: LeaseSettings,
        metrics: Arc<Metrics>,
    ) -> Result<Self> {
        let lease_error = |source| Error::Lease {
            namespace: settings.namespace.clone(),
            name: settings.name.clone(),
            source,
        };
        let manager = LeaseManagerBuilder::new(client, settings.name.clone())
            .with_namespace(settings.namespace.clone())
            .with_identity(settings.identity.clone())
            .with_duration(settings.duration_seconds)
            .with_grace(settings.grace_seconds)
            .build()
            .await
            .map_err(lease_error)?;
        let (leading, _task) = manager.watch().await;
        let mut updates = leading.clone();
        let span =
            tracing::info_span!("leader", lease = %settings.name, identity = %settings.identity);
        tokio::spawn(
            async move {
                loop {
                    let now = *updates.borrow_and_update();
                    metrics.set_leader(now);
                    tracing::info!(leading = now, "leadership changed");
                    if updates.changed().await.is_err() {
                        metrics.set_leader(false);
                        tracing::warn!("lease manager stopped; this replica no longer acts");
                        break;
                    }
                }
            }
            .instrument(span),
        );
        Ok(Leadership { leading })
    }

    /// Whether this replica holds the Lease now.
    pub fn is_leader(&self) -> bool {
        *self.leading.borrow()
    }

    /// Yields once each time this replica starts leading (at once if it leads already), so
    /// that a new leader looks at every object now instead of at its next resync.
    pub fn gained(&self) -> impl futures::Stream<Item = ()> + Send + 'static {
        futures::stream::unfold(
            (self.leading.clone(), false),
            |(mut leading, mut was)| async move {
                loop {
                    let now = *leading.borrow_and_update();
                    if now && !was {
                        return Some(((), (leading, true)));
                    }
                    was = now;
                    if leading.changed().await.is_err() {
                        return None;
                    }
                }
            },
        )
    }

    /// Waits until this replica leads; returns at once if it does.
    pub async fn wait_until_leading(&mut self) {
        // A closed channel means the lease manager stopped: this replica never leads again,
        // so wait forever rather than act.
        if self.leading.wait_for(|leading| *leading).await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_channel_driven_leadership_follows_its_sender() {
        let (sender, receiver) = watch::channel(false);
        let mut leadership = Leadership::from_channel(receiver);
        assert!(!leadership.is_leader());
        let waiter = tokio::spawn(async move {
            leadership.wait_until_leading().await;
            leadership.is_leader()
        });
        sender.send(true).expect("receiver alive");
        assert!(waiter.await.expect("joins"));
    }

    #[tokio::test]
    async fn gaining_the_lease_is_told_once_per_term() {
        use futures::StreamExt;
        let (sender, receiver) = watch::channel(false);
        let mut gained = Box::pin(Leadership::from_channel(receiver).gained());
        sender.send(true).expect("receiver alive");
        assert_eq!(gained.next().await, Some(()));
        sender.send(false).expect("receiver alive");
        let lost = tokio::time::timeout(std::time::Duration::from_millis(50), gained.next()).await;
        assert!(lost.is_err(), "losing the Lease yields nothing");
        sender.send(true).expect("receiver alive");
        assert_eq!(gained.next().await, Some(()), "a second term");
        drop(sender);
        assert_eq!(gained.next().await, None, "the lease manager stopped");
    }

    #[test]
    fn always_leads() {
        assert!(Leadership::always().is_leader());
    }
}
