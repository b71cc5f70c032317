//! credwatch proves, on a schedule, that the credentials behind Genesys Cloud data-action
//! integrations still work, and exports per-integration health as Prometheus metrics.
//!
//! The flow: [`config`] loads and validates integrations; the [`scheduler`] runs each one's
//! [`verify::Verifier`] through [`runner`] and the [`checker`]; each result is kept once, in
//! [`state`], which the [`metrics`] (with their own counts), the [`server`]'s page and API read;
//! [`daemon`] ties them together with signals and reloads.

mod basic_auth;
pub mod certs;
pub mod checker;
pub mod clock;
pub mod config;
pub mod daemon;
#[cfg(feature = "simulator")]
pub mod demo;
pub mod forecast;
pub mod guard;
pub mod http;
pub mod integration;
pub mod listen;
pub mod metrics;
pub mod notify;
pub mod orgview;
pub mod outcome;
#[cfg(feature = "simulator")]
pub mod private_dir;
pub mod runner;
pub mod scheduler;
pub mod secret;
pub mod server;
#[cfg(feature = "simulator")]
pub mod simulator;
pub mod spec;
pub mod state;
pub mod verify;
pub mod watch;

/// Lowercase hex of bytes: fingerprints, the simulator's tokens and SigV4 digests.
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
