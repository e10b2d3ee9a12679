//! The routes served over real TCP by hyper: requests carry their peer address (so loopback
//! admin works), and shutdown stops the server after answering.

use std::sync::Arc;
use std::time::Duration;

use ripcord_sidecar::serve::{Server, State};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

async fn http_get(addr: std::net::SocketAddr, path: &str) -> String {
    let mut stream = TcpStream::connect(addr).await.expect("connects");
    let request = format!("GET {path} HTTP/1.1\r\nHost: sidecar\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.expect("sends");
    let mut response = String::new();
    stream.read_to_string(&mut response).await.expect("reads");
    response
}

#[tokio::test]
async fn serves_over_tcp_with_the_peer_address_and_stops_on_shutdown() {
    let state = Arc::new(State::new(16));
    let server = Server::bind("127.0.0.1:0".parse().unwrap(), state)
        .await
        .expect("binds");
    let addr = server.local_addr().expect("has an address");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(server.serve(async {
        let _ = stopped.await;
    }));

    let live = http_get(addr, "/live").await;
    assert!(live.starts_with("HTTP/1.1 200"), "{live}");
    let ready = http_get(addr, "/ready").await;
    assert!(ready.starts_with("HTTP/1.1 503"), "{ready}");
    let admin = http_get(addr, "/admin/log-level").await;
    assert!(
        admin.starts_with("HTTP/1.1 200"),
        "loopback peer is seen: {admin}"
    );
    assert!(admin.ends_with("info\n"), "{admin}");

    stop.send(()).expect("server still running");
    tokio::time::timeout(Duration::from_secs(10), running)
        .await
        .expect("stops within the drain timeout")
        .expect("the serve task did not panic");
    assert!(
        TcpStream::connect(addr).await.is_err(),
        "no longer listening"
    );
}
