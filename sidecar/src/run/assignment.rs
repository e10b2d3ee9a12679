//! The assignment poll: `GET {controller}/v1/assignment` with the pod's token, every interval
//! while the controller answers and with backoff while it does not. The last good assignment
//! stays in force meanwhile, so an unreachable controller changes nothing the loop does.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use super::fetch::Fetcher;
use super::{Result, RunArgs, RunError, SharedStatus};
use crate::assign::{ASSIGNMENT_VERSION, Assignment, MAX_ASSIGNMENT_BYTES};
use crate::scrape::{Backoff, Retry, Tls};

/// Bound on one assignment request.
const ASSIGNMENT_TIMEOUT: Duration = Duration::from_secs(2);

/// Decodes an assignment body, refusing another version.
pub(super) fn decode(url: &str, body: &[u8]) -> Result<Assignment> {
    let refuse = |reason: String| RunError::Decode {
        url: url.to_string(),
        reason,
    };
    let assignment: Assignment =
        serde_json::from_slice(body).map_err(|e| refuse(format!("not an assignment: {e}")))?;
    if assignment.version != ASSIGNMENT_VERSION {
        return Err(refuse(format!(
            "version {:?}, this sidecar reads {ASSIGNMENT_VERSION:?}",
            assignment.version
        )));
    }
    Ok(assignment)
}

/// Polls the controller for this pod's assignment.
#[derive(Debug)]
pub(super) struct Poll {
    url: String,
    fetcher: Fetcher,
    interval: Duration,
    backoff: Backoff,
    pod_name: Option<String>,
    status: Arc<SharedStatus>,
}

impl Poll {
    pub(super) fn new(base: &str, args: &RunArgs, tls: &Tls, status: Arc<SharedStatus>) -> Poll {
        Poll {
            url: format!("{base}/v1/assignment"),
            fetcher: Fetcher {
                tls: Some(tls.clone()),
                token_file: Some(args.token_file.clone()),
                timeout: ASSIGNMENT_TIMEOUT.min(args.assignment_interval.max(args.interval)),
                max_bytes: MAX_ASSIGNMENT_BYTES,
            },
            interval: args.assignment_interval,
            backoff: Backoff::new(
                args.interval.min(Duration::from_secs(1)),
                args.assignment_interval.max(Duration::from_secs(30)),
            ),
            pod_name: args.pod_name.clone(),
            status,
        }
    }

    /// Polls until `stop` completes, publishing each new assignment on `assigned`.
    pub(super) async fn run(
        mut self,
        assigned: watch::Sender<Assignment>,
        stop: impl Future<Output = ()>,
    ) {
        let mut stop = std::pin::pin!(stop);
        loop {
            let wait = match self.poll_once().await {
                Ok(assignment) => {
                    self.backoff.succeeded();
                    self.accept(assignment, &assigned);
                    self.interval
                }
                Err(error) => {
                    let wait = self.backoff.failed(Retry::BackOff);
                    tracing::warn!(%error, wait_ms = wait.as_millis() as u64,
                        "assignment not fetched; the last one stays in force");
                    self.status
                        .update(|s| s.assignment_error = Some(error.to_string()));
                    wait
                }
            };
            tokio::select! {
                () = tokio::time::sleep(wait) => {}
                () = &mut stop => return,
            }
        }
    }

    async fn poll_once(&self) -> Result<Assignment> {
        let body = self.fetcher.get(&self.url).await?;
        decode(&self.url, &body)
    }

    fn accept(&self, assignment: Assignment, assigned: &watch::Sender<Assignment>) {
        let about_another_pod = assignment
            .release
            .as_ref()
            .zip(self.pod_name.as_ref())
            .filter(|(release, pod)| release.pod != **pod);
        if let Some((release, pod)) = about_another_pod {
            tracing::warn!(assigned = %release.pod, this = %pod,
                "the assignment names another pod; reporting for it anyway");
        }
        let role = assignment.role;
        self.status.update(|s| {
            s.assignment_error = None;
            s.role = role;
        });
        assigned.send_if_modified(|current| {
            let changed = *current != assignment;
            if changed {
                tracing::info!(?role, "new assignment");
                *current = assignment;
            }
            changed
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn another_version_or_garbage_is_refused_with_the_url() {
        let url = "https://ctl:8443/v1/assignment";
        let idle = serde_json::to_vec(&Assignment::idle()).expect("encode");
        assert_eq!(decode(url, &idle).expect("idle"), Assignment::idle());
        let future = String::from_utf8(idle)
            .expect("utf-8")
            .replace("v1alpha1", "v9");
        let refused = decode(url, future.as_bytes()).expect_err("v9");
        assert!(refused.to_string().contains("v9") && refused.to_string().contains(url));
        assert!(decode(url, b"<html>").is_err());
    }
}
