//! Reading the previous revision's windows from its pods' sidecars, concurrently, each read
//! bounded in time and size; a pod that fails is left out with the reason.

use futures::StreamExt;
use http::Method;
use ripcord_sidecar::serve::{DecodedWindow, WindowJson};

use super::merge::PodWindow;
use crate::http::{HttpClient, json_request, parse_url};

/// Sidecars read at once.
const CONCURRENT_READS: usize = 16;

/// One previous-revision pod to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Peer {
    /// The pod's name.
    pub pod: String,
    /// Its sidecar's base URL, `http://<pod IP>:<port>`.
    pub url: String,
}

/// Every peer's window over `(from_ms, to_ms]`.
pub async fn read_windows(
    http: &HttpClient,
    peers: &[Peer],
    from_ms: i64,
    to_ms: i64,
) -> Vec<PodWindow> {
    futures::stream::iter(peers.iter().cloned())
        .map(|peer| async move {
            let url = format!("{}/v1/window?from={from_ms}&to={to_ms}", peer.url);
            let (observations, metrics) = match read_window(http, &url).await {
                Ok(window) => (Ok(window.observations), window.metrics),
                Err(reason) => (Err(reason), None),
            };
            PodWindow {
                observations,
                metrics,
                pod: peer.pod,
            }
        })
        .buffer_unordered(CONCURRENT_READS)
        .collect()
        .await
}

async fn read_window(http: &HttpClient, url: &str) -> Result<DecodedWindow, String> {
    let uri = parse_url(url, "sidecar window").map_err(|e| e.to_string())?;
    let request = json_request(Method::GET, uri, &[], None).map_err(|e| e.to_string())?;
    let answer = http.send(request).await.map_err(|e| e.to_string())?;
    WindowJson::decode_window(&answer.body)
}
