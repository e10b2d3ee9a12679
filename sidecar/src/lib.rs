//! Ripcord's sidecar library: everything that runs next to the app.
//!
//! The pipeline, one module a step:
//! - [`expo`] parses the app's exposition text (Prometheus text format and OpenMetrics),
//! - [`selector`] and [`spec`] read the service owner's `ripcord.dev/watch` annotation,
//! - [`window`] turns successive scrapes into per-metric count deltas (reset-aware),
//! - [`stats`] holds the distribution functions and the anytime-valid e-processes,
//! - [`judge`] compares canary and baseline each tick and decides, with evidence,
//! - [`verdict`] is the versioned verdict format the controller consumes,
//! - [`report`] delivers verdicts to the controller in a versioned envelope, in the background,
//! - [`scrape`] fetches the app's exposition, bounded in time and size,
//! - [`baseline`] reads the previous revision's counts from Prometheus (PromQL on its hash),
//! - [`replay`] judges a recorded release offline, and [`explain`] words its evidence,
//! - [`sim`] simulates releases for the detection benchmark,
//! - [`serve`] is the HTTP surface: health, own metrics, windows for peers, the verdict,
//! - [`run`] is the in-cluster mode: spec from the pod's annotations, role from the controller,
//!   scrape, judge and report,
//! - [`watch`] is the standalone mode: compare two URLs, act locally on a regression,
//! - [`demo`] runs two built-in services and the watch on them, end to end,
//! - [`footprint`] measures the sidecar's own memory, CPU and per-tick time,
//! - [`shutdown`] is the signal (SIGTERM, Ctrl-C) that stops the long-running commands.

pub mod assign;
pub mod baseline;
pub mod demo;
pub mod explain;
pub mod expo;
pub mod footprint;
pub mod judge;
pub mod replay;
pub mod report;
pub mod run;
pub mod scrape;
pub mod selector;
pub mod serve;
pub mod shutdown;
pub mod sim;
pub mod spec;
pub mod stats;
pub mod verdict;
pub mod watch;
pub mod window;
