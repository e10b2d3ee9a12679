//! The scrape client: fetches the app's exposition over plain HTTP on loopback, bounded in time
//! and size, and turns each attempt into an [`Observation`] (a failed scrape is an observation
//! whose metrics are all unavailable with the reason, never an error that stops the loop).
//!
//! [`Scraper`] does one bounded HTTP/1 exchange; [`ScrapeError`] says why one failed and whether
//! to retry now or back off; [`Backoff`] computes the wait after consecutive failures;
//! [`scrape_tick`] is one tick of the scrape loop. [`Tls`] is the HTTPS side the sidecar's other
//! clients (assignment, reports, peers) share with it.

mod backoff;
pub(crate) mod client;
mod error;
pub(crate) mod transport;

pub use backoff::Backoff;
pub use client::{ACCEPT_EXPOSITION, DEFAULT_TIMEOUT, ScrapeConfig, Scraper};
pub use error::{Result, Retry, ScrapeError};
pub use transport::{Tls, TlsError};

use crate::window::{Extractor, Observation};
use bytes::Bytes;

/// Scrapes once and turns the outcome into the tick's observation (see [`observe_scrape`]).
pub async fn scrape_tick(scraper: &Scraper, extractor: &mut Extractor, at_ms: i64) -> Observation {
    let scraped = scraper.scrape().await;
    observe_scrape(extractor, at_ms, &scraped)
}

/// A fetched body goes through the extractor (a body that does not parse is refused there); a
/// failed scrape gives every metric [`crate::window::Unavailable::ScrapeFailed`] with the error.
pub fn observe_scrape(
    extractor: &mut Extractor,
    at_ms: i64,
    scraped: &Result<Bytes>,
) -> Observation {
    match scraped {
        Ok(body) => extractor.observe(at_ms, body),
        Err(error) => extractor.failed(at_ms, &error.to_string()),
    }
}
