//! The Prometheus metrics (docs/metrics.md lists them). Series are kept to about
//! ten per integration: the failure-reason gauge holds only the current reason, and the duration
//! histogram is per type. A check's result is kept once, in the [`State`]: the per-integration
//! gauges are read from it when a scrape is written ([`series`]), and the metrics keep only
//! what the state does not (counters, histograms, what the config says). Everything that is
//! not per integration is in a `prometheus` registry.

mod canary;
mod org_view;
mod series;

use prometheus::{
    Encoder, Gauge, GaugeVec, Histogram, HistogramOpts, HistogramVec, IntCounterVec, Opts,
    Registry, TextEncoder,
};

use std::sync::Arc;

use crate::clock::unix_seconds;
use crate::config::Config;
use crate::integration::Integration;
use crate::orgview::ViewReport;
use crate::outcome::Success;
use crate::runner::Report;
use crate::state::State;
use crate::verify::TYPES;

/// The git revision credwatch was built from (`unknown` outside a checkout).
pub const REVISION: &str = env!("CREDWATCH_REVISION");

/// Every credwatch metric.
pub struct Metrics {
    registry: Registry,
    /// Where the per-integration gauges are read from.
    state: Arc<State>,
    series: series::Store,
    check_duration: HistogramVec,
    start_lag: Histogram,
    revocations: IntCounterVec,
    forced: IntCounterVec,
    integrations: GaugeVec,
    integrations_limit: GaugeVec,
    reload_successful: Gauge,
    reload_timestamp: Gauge,
    view: org_view::ViewMetrics,
    canaries: canary::CanaryMetrics,
}

fn gauge_vec(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> GaugeVec {
    registered(
        registry,
        GaugeVec::new(Opts::new(name, help), labels).expect("valid metric"),
    )
}

/// Registers `metric` in `registry` and hands it back.
fn registered<M: prometheus::core::Collector + Clone + 'static>(
    registry: &Registry,
    metric: M,
) -> M {
    registry
        .register(Box::new(metric.clone()))
        .expect("unique metric");
    metric
}

fn counter_vec(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    registered(
        registry,
        IntCounterVec::new(Opts::new(name, help), labels).expect("valid metric"),
    )
}

/// `credwatch_check_duration_seconds`, per type.
fn check_duration(registry: &Registry) -> HistogramVec {
    registered(
        registry,
        HistogramVec::new(
            HistogramOpts::new(
                "credwatch_check_duration_seconds",
                "Time checks took, per integration type.",
            )
            // From a loopback answer (a few ms) to the longest timeout worth having (60 s).
            .buckets(vec![
                0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 15.0, 30.0, 60.0,
            ]),
            &["type"],
        )
        .expect("valid metric"),
    )
}

/// `credwatch_check_start_lag_seconds`.
fn start_lag(registry: &Registry) -> Histogram {
    registered(
        registry,
        Histogram::with_opts(
            HistogramOpts::new(
                "credwatch_check_start_lag_seconds",
                "How late scheduled checks started: actual minus planned start.",
            )
            .buckets(vec![
                0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
            ]),
        )
        .expect("valid metric"),
    )
}

fn gauge(registry: &Registry, name: &str, help: &str) -> Gauge {
    registered(registry, Gauge::new(name, help).expect("valid metric"))
}

impl Metrics {
    /// A fresh registry with every metric, the build info and the process collector; the
    /// per-integration gauges read the results `state` holds.
    pub fn new(state: Arc<State>) -> Self {
        let registry = Registry::new();
        #[cfg(target_os = "linux")]
        registry
            .register(Box::new(
                prometheus::process_collector::ProcessCollector::for_self(),
            ))
            .expect("process collector registers once");
        let build_info = gauge_vec(
            &registry,
            "credwatch_build_info",
            "credwatch's version and git revision; always 1.",
            &["version", "revision"],
        );
        build_info
            .with_label_values(&[env!("CARGO_PKG_VERSION"), REVISION])
            .set(1.0);
        let check_duration = check_duration(&registry);
        let start_lag = start_lag(&registry);
        let revocations = counter_vec(
            &registry,
            "credwatch_token_revocations_total",
            "Revocations of the tokens checks minted, by org, type and result (success or failure).",
            &["org", "type", "result"],
        );
        let forced = counter_vec(
            &registry,
            "credwatch_forced_checks_total",
            "Checks asked for over HTTP (the API or the page's button), by result: checked, or refused (the force cooldown).",
            &["result"],
        );
        for result in ["checked", "refused"] {
            forced.with_label_values(&[result]);
        }
        Self {
            view: org_view::ViewMetrics::new(&registry),
            canaries: canary::CanaryMetrics::new(&registry),
            state,
            series: series::Store::default(),
            check_duration,
            start_lag,
            revocations,
            forced,
            integrations: gauge_vec(
                &registry,
                "credwatch_integrations",
                "Integrations configured, by org and type (inactive ones included).",
                &["org", "type"],
            ),
            integrations_limit: gauge_vec(
                &registry,
                "credwatch_integrations_limit",
                "How many integrations of the type Genesys Cloud allows per org.",
                &["org", "type"],
            ),
            reload_successful: gauge(
                &registry,
                "credwatch_config_last_reload_successful",
                "Whether the last configuration load succeeded.",
            ),
            reload_timestamp: gauge(
                &registry,
                "credwatch_config_last_reload_success_timestamp_seconds",
                "When the configuration was last loaded successfully (unix seconds).",
            ),
            registry,
        }
    }

    /// Publishes a newly loaded config: inventory, limits, and what it says of each
    /// integration.
    pub fn set_config(&self, config: &Config) {
        self.integrations.reset();
        self.integrations_limit.reset();
        for org in &config.orgs {
            for kind in TYPES {
                self.integrations
                    .with_label_values(&[&*org.name, kind.key])
                    .set(config.count(&org.name, kind) as f64);
                self.integrations_limit
                    .with_label_values(&[&*org.name, kind.key])
                    .set(kind.limit as f64);
            }
        }
        for (_, series) in self.series.lock().iter_mut() {
            series.info = None;
        }
        self.series.add(
            config
                .integrations
                .iter()
                .map(|i| (i.id.as_str(), i.kind.key)),
        );
        for integration in &config.integrations {
            let active = integration.active;
            let info = series::Info {
                credential_type: integration.verifier.credential_type(),
                active,
                guarded: integration.guard,
                interval: integration
                    .cadence
                    .period()
                    .filter(|_| active)
                    .map(|every| every.as_secs_f64()),
                credential: integration.verifier.credential(),
                expires: integration.expires,
            };
            self.with(integration, |series| series.info = Some(info));
        }
        self.series.prune();
        self.reload_successful.set(1.0);
        self.reload_timestamp
            .set(unix_seconds(std::time::SystemTime::now()));
    }

    /// A reload failed: the running config stays, and the metric says so.
    pub fn reload_failed(&self) {
        self.reload_successful.set(0.0);
    }

    /// The integration's series, changed by `change`.
    fn with<R>(
        &self,
        integration: &Integration,
        change: impl FnOnce(&mut series::Series) -> R,
    ) -> R {
        self.series
            .with(&integration.id, integration.kind.key, change)
    }

    /// Drops the check counts of an integration that is no longer checked (its
    /// `credwatch_integration_info` follows the config, and what the state holds of it is not
    /// exported while it is inactive).
    pub fn forget(&self, integration: &Integration) {
        let mut series = self.series.lock();
        if let Some(one) = series::Store::get_mut(&mut series, &integration.id) {
            one.checks = Vec::new();
        }
    }

    /// A check asked for over HTTP was let through (`true`) or refused by the force cooldown.
    pub fn forced(&self, checked: bool) {
        let result = if checked { "checked" } else { "refused" };
        self.forced.with_label_values(&[result]).inc();
    }

    /// A scheduled check started `lag` after it was planned.
    pub fn start_lag(&self, lag: std::time::Duration) {
        self.start_lag.observe(lag.as_secs_f64());
    }

    /// Counts one check (what it found is read from the state, which holds it).
    pub fn observe(&self, report: &Report) {
        let seconds = report.duration.as_secs_f64();
        self.check_duration
            .with_label_values(&[report.integration.kind.key])
            .observe(seconds);
        if let Ok(Success {
            revoked: Some(revoked),
            ..
        }) = &report.outcome
        {
            let result = if *revoked { "success" } else { "failure" };
            self.revocations
                .with_label_values(&[
                    &*report.integration.org,
                    report.integration.kind.key,
                    result,
                ])
                .inc();
        }
        let result = report.result();
        self.with(&report.integration, |series| {
            match series.checks.iter_mut().find(|(r, _)| *r == result) {
                Some((_, count)) => *count += 1,
                None => {
                    // One slot at a time: most integrations only ever count `success`, and a
                    // growing Vec's first allocation would hold four.
                    series.checks.reserve_exact(1);
                    series.checks.push((result, 1));
                }
            }
        });
    }

    /// Records one read of an org's view (the daemon's [`crate::orgview::Observe`] calls it).
    pub fn observe_view(&self, report: &ViewReport) {
        self.view.observe(report);
        if let Some(revoked) = report.revoked {
            let result = if revoked { "success" } else { "failure" };
            self.revocations
                .with_label_values(&[&*report.org, "genesys_cloud", result])
                .inc();
        }
    }

    /// Drops the org view's series of an org whose view is no longer configured.
    pub fn forget_view(&self, org: &str) {
        self.view.forget(org);
    }

    /// Records one run of a canary action.
    pub fn observe_canary(&self, report: &crate::orgview::CanaryReport) {
        self.canaries.observe(report, true);
    }

    /// Shows a canary's run remembered from before a restart or a reload: its gauges, not
    /// its runs counter.
    pub fn restore_canary(&self, report: &crate::orgview::CanaryReport) {
        self.canaries.observe(report, false);
    }

    /// Drops the series of every canary `keep` (org, action) says no to.
    pub fn retain_canaries(&self, keep: impl Fn(&str, &str) -> bool) {
        self.canaries.retain(keep);
    }

    /// Writes the text exposition format to `out`: the per-integration series, then the
    /// registry's.
    pub fn write(&self, out: &mut dyn std::io::Write) -> std::io::Result<()> {
        self.series.write(&self.state, out)?;
        let mut text = Vec::new();
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut text)
            .map_err(std::io::Error::other)?;
        out.write_all(&text)
    }

    /// The text exposition format.
    pub fn render(&self) -> String {
        let mut out = Vec::new();
        self.write(&mut out).expect("writing to a Vec cannot fail");
        String::from_utf8(out).expect("the text format is UTF-8")
    }
}
