//! Log-level control for the admin route, and the peer address that decides who may use it.

use std::net::SocketAddr;
use std::sync::{Mutex, PoisonError};

use tracing_subscriber::EnvFilter;
use tracing_subscriber::reload;

/// The address of the peer a request came from, put in the request's extensions by the server.
/// A request without it is treated as remote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerAddr(pub SocketAddr);

impl PeerAddr {
    /// Whether the peer is on this machine (`127.0.0.0/8`, `::1` or an IPv4-mapped loopback).
    pub fn is_loopback(&self) -> bool {
        match self.0.ip() {
            std::net::IpAddr::V4(ip) => ip.is_loopback(),
            std::net::IpAddr::V6(ip) => {
                ip.is_loopback() || ip.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
            }
        }
    }
}

/// Reads and changes the sidecar's log filter (`tracing_subscriber`'s `EnvFilter` syntax).
pub trait LogLevelControl: Send + Sync {
    /// The filter in force.
    fn current(&self) -> String;
    /// Replaces the filter; an error says why `directive` was refused.
    fn set(&self, directive: &str) -> Result<(), String>;
}

/// A log level that is validated and remembered but drives no subscriber (for tests and for
/// embedding without `tracing_subscriber`).
#[derive(Debug)]
pub struct StoredLogLevel(Mutex<String>);

impl StoredLogLevel {
    /// Starts at `initial`.
    pub fn new(initial: &str) -> Self {
        StoredLogLevel(Mutex::new(initial.to_owned()))
    }
}

impl LogLevelControl for StoredLogLevel {
    fn current(&self) -> String {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn set(&self, directive: &str) -> Result<(), String> {
        let filter = EnvFilter::try_new(directive).map_err(|e| e.to_string())?;
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = filter.to_string();
        Ok(())
    }
}

/// The live filter of a subscriber built with a `reload::Layer<EnvFilter, _>`.
impl<S: 'static> LogLevelControl for reload::Handle<EnvFilter, S> {
    fn current(&self) -> String {
        self.with_current(|filter| filter.to_string())
            .unwrap_or_else(|e| format!("unavailable: {e}"))
    }

    fn set(&self, directive: &str) -> Result<(), String> {
        let filter = EnvFilter::try_new(directive).map_err(|e| e.to_string())?;
        self.reload(filter).map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_peers_are_recognised_in_every_spelling() {
        for (addr, loopback) in [
            ("127.0.0.1:1", true),
            ("127.3.2.1:1", true),
            ("[::1]:1", true),
            ("[::ffff:127.0.0.1]:1", true),
            ("10.0.0.7:1", false),
            ("[::ffff:10.0.0.7]:1", false),
            ("[fe80::1]:1", false),
            ("0.0.0.0:1", false),
        ] {
            let peer = PeerAddr(addr.parse().unwrap());
            assert_eq!(peer.is_loopback(), loopback, "{addr}");
        }
    }

    #[test]
    fn a_reload_handle_changes_the_live_filter() {
        let (layer, handle) =
            reload::Layer::<EnvFilter, tracing_subscriber::Registry>::new(EnvFilter::new("info"));
        let _keep = layer;
        assert_eq!(handle.current(), "info");
        handle.set("ripcord_sidecar=debug").unwrap();
        assert_eq!(handle.current(), "ripcord_sidecar=debug");
        assert!(handle.set("ripcord_sidecar=loud").is_err());
        assert_eq!(handle.current(), "ripcord_sidecar=debug");
    }
}
