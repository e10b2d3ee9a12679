//! The demo's load: GET `/checkout` over one keep-alive HTTP/1 connection per service.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::Request;
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// A keep-alive client sending checkouts to one service.
pub struct Client {
    sender: SendRequest<Empty<Bytes>>,
    host: String,
}

impl Client {
    /// Connects to the service at `addr`.
    pub async fn connect(addr: SocketAddr) -> Result<Client, String> {
        let stream = TcpStream::connect(addr)
            .await
            .map_err(|e| format!("connecting to {addr}: {e}"))?;
        let (sender, connection) = http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| format!("HTTP handshake with {addr}: {e}"))?;
        tokio::spawn(connection);
        Ok(Client {
            sender,
            host: addr.to_string(),
        })
    }

    /// Sends one checkout and reads the answer.
    pub async fn checkout(&mut self) -> Result<(), String> {
        let request = Request::get("/checkout")
            .header(hyper::header::HOST, self.host.as_str())
            .body(Empty::new())
            .map_err(|e| e.to_string())?;
        let response = self
            .sender
            .send_request(request)
            .await
            .map_err(|e| format!("checkout on {}: {e}", self.host))?;
        response
            .into_body()
            .collect()
            .await
            .map_err(|e| format!("reading the answer of {}: {e}", self.host))?;
        Ok(())
    }
}

/// Sends `count` checkouts as fast as the service answers.
pub async fn burst(client: &mut Client, count: u32) -> Result<(), String> {
    for _ in 0..count {
        client.checkout().await?;
    }
    Ok(())
}

/// Sends one checkout to each client every `1/rate` second, forever (until the task is dropped).
pub async fn steady(clients: &mut [Client], rate_per_s: f64) -> Result<(), String> {
    let mut ticker = tokio::time::interval(Duration::from_secs_f64(1.0 / rate_per_s));
    loop {
        ticker.tick().await;
        for client in clients.iter_mut() {
            client.checkout().await?;
        }
    }
}
