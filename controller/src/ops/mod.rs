//! Operations: the controller's own metrics, leader election, and the plain-HTTP server for
//! `/metrics`, `/live` and `/ready`.

mod error;
pub mod health;
pub mod leader;
pub mod metrics;
pub mod server;

pub use error::{Error, Result};
