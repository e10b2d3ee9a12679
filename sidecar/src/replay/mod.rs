//! `ripcord-sidecar replay`: judges a recorded release offline, tick by tick, exactly as a canary
//! sidecar would have judged it live.
//!
//! # Recording format
//!
//! A recording is a UTF-8 text file (at most [`MAX_RECORDING_BYTES`]) of blocks, one per scrape,
//! in strictly increasing time order:
//!
//! ```text
//! # SCRAPE 1732451000000
//! # TYPE http_requests_total counter
//! http_requests_total{code="200"} 1027
//! # SCRAPE 1732451001000 error connection refused
//! # SCRAPE 1732451002000
//! ...
//! ```
//!
//! - A line that is exactly `# SCRAPE` or starts with `# SCRAPE` and a space or tab is a header:
//!   `# SCRAPE <unix-ms>`, the scrape's time in Unix milliseconds (digits only).
//! - The lines after a header, up to the next header or the end of the file, are that scrape's
//!   exposition text as the app served it: Prometheus text 0.0.4, or OpenMetrics 1.0 when the
//!   block ends with `# EOF`.
//! - `# SCRAPE <unix-ms> error <message>` records a failed scrape; its block holds no text.
//! - Only blank lines may come before the first header. `\r\n` line ends are accepted.
//!
//! # Alignment
//!
//! The baseline's scrapes taken before the canary's first scrape are pre-release history
//! ([`Judge::baseline_history`]); then there is one tick per canary scrape, judged against the
//! baseline's delta over the same interval, as the [`align`] module's rule defines: each baseline
//! scrape joins the first canary tick it is not more than half a canary interval after, and the
//! deltas of several baseline scrapes in one tick add up.
//!
//! # Output
//!
//! One JSON line per tick on the output writer (standard output for the binary): the running
//! [`Verdict`], serialised as the controller receives it. The human summary (what was compared,
//! counts and rates, effect and interval, e-value against threshold, decision and when) goes to a
//! separate writer (standard error for the binary), so the standard output stays pure JSON lines.

mod align;
mod error;
mod recording;
mod run;
mod summary;

pub use align::{Alignment, DEFAULT_HALF_INTERVAL_MS, align, combine};
pub use error::{ReplayError, Result};
pub use recording::{Content, MAX_RECORDING_BYTES, Recording, Scrape};
pub use run::{ReplayArgs, Replayed, run, run_with_summary};
