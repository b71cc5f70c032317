//! The integration tests, in one binary (one link of the crate and the AWS SDK, not one per file).
//! A module per subject; `common` holds the helpers they share and the peer policy: a test whose
//! real peer (nginx, Chromium, Prometheus, moto, the SDKs, systemd-analyze) is not installed prints
//! `SKIPPED: <peer> not installed` and passes, unless `CREDWATCH_REQUIRE_PEERS=1`, which `.ci/run`
//! sets once it has installed them.

mod common;

mod aws_lambda;
mod aws_trust;
mod canaries;
mod cli;
mod config;
mod daemon;
mod dashboard;
mod demo;
mod docs;
mod dynamics365;
mod faults;
mod forecasts;
mod fuzz;
mod genesys_cloud;
mod google;
mod lockout_guard;
mod mtls;
mod org_view;
mod orgs;
mod packaging;
mod registry;
mod reload;
mod revocation;
mod salesforce;
mod schedule;
mod sdk_conformance;
mod secrets;
mod server;
mod state;
mod systemd;
mod watch;
mod web_service;
mod zendesk;
