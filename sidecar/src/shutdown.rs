//! The signal that stops a long-running command: SIGTERM (what the kubelet sends when a pod
//! stops; as a container's process 1 the default action does not apply, so it must be handled)
//! or Ctrl-C (SIGINT).

use std::future::Future;
use std::pin::Pin;

/// Starts listening for SIGTERM and SIGINT now, so a signal from here on is caught, and
/// returns what completes on the first. Call it inside a tokio runtime before the command
/// starts serving.
pub fn signal() -> Pin<Box<dyn Future<Output = ()> + Send>> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let (Ok(mut term), Ok(mut interrupt)) = (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) {
            return Box::pin(async move {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = interrupt.recv() => {}
                }
            });
        }
    }
    Box::pin(async {
        let _ = tokio::signal::ctrl_c().await;
    })
}
