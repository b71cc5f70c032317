//! The Prometheus metrics of DESIGN.md section 5, in a registry of credwatch's own. Series are
//! kept to about ten per integration: the failure-reason gauge holds only the current reason,
//! and the duration histogram is per type.

use prometheus::{
    Encoder, Gauge, GaugeVec, HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry,
    TextEncoder,
};

use crate::config::{Config, Integration};
use crate::guard::Engaged;
use crate::outcome::FailureReason;
use crate::runner::Report;
use crate::state::{State, unix_seconds};
use crate::verify::TYPES;

/// The git revision credwatch was built from (`unknown` outside a checkout).
pub const REVISION: &str = env!("CREDWATCH_REVISION");

const ITYPE: &[&str] = &["org", "integration", "type"];

/// Every credwatch metric.
pub struct Metrics {
    registry: Registry,
    check_success: GaugeVec,
    check_duration: HistogramVec,
    last_duration: GaugeVec,
    last_run: GaugeVec,
    last_success: GaugeVec,
    checks_total: IntCounterVec,
    failure_reason: GaugeVec,
    token_expiry: GaugeVec,
    certificate_expiry: GaugeVec,
    guard_engaged: GaugeVec,
    interval: GaugeVec,
    integration_info: GaugeVec,
    integrations: GaugeVec,
    integrations_limit: GaugeVec,
    reload_successful: Gauge,
    reload_timestamp: Gauge,
}

fn gauge_vec(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> GaugeVec {
    let gauge = GaugeVec::new(Opts::new(name, help), labels).expect("valid metric");
    registry
        .register(Box::new(gauge.clone()))
        .expect("unique metric");
    gauge
}

fn gauge(registry: &Registry, name: &str, help: &str) -> Gauge {
    let gauge = Gauge::new(name, help).expect("valid metric");
    registry
        .register(Box::new(gauge.clone()))
        .expect("unique metric");
    gauge
}

/// The `org`, `integration` and `type` labels of an integration's series.
fn labels_of(integration: &Integration) -> [&str; 3] {
    [
        &integration.org,
        integration.name.as_str(),
        integration.kind.key,
    ]
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// A fresh registry with every metric, the build info and the process collector.
    pub fn new() -> Self {
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
        let check_duration = HistogramVec::new(
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
        .expect("valid metric");
        registry
            .register(Box::new(check_duration.clone()))
            .expect("unique metric");
        let checks_total = IntCounterVec::new(
            Opts::new(
                "credwatch_checks_total",
                "Checks run, by result: success or the failure reason.",
            ),
            &["org", "integration", "type", "result"],
        )
        .expect("valid metric");
        registry
            .register(Box::new(checks_total.clone()))
            .expect("unique metric");
        Self {
            check_success: gauge_vec(
                &registry,
                "credwatch_check_success",
                "1 if the last check of the integration passed, else 0.",
                ITYPE,
            ),
            check_duration,
            last_duration: gauge_vec(
                &registry,
                "credwatch_check_last_duration_seconds",
                "Time the last check of the integration took.",
                ITYPE,
            ),
            last_run: gauge_vec(
                &registry,
                "credwatch_check_last_run_timestamp_seconds",
                "When the last check of the integration ended (unix seconds).",
                ITYPE,
            ),
            last_success: gauge_vec(
                &registry,
                "credwatch_check_last_success_timestamp_seconds",
                "When the integration last passed a check (unix seconds); survives restarts.",
                ITYPE,
            ),
            checks_total,
            failure_reason: gauge_vec(
                &registry,
                "credwatch_check_failure_reason",
                "1 for the reason the last check of the integration failed; absent after a success.",
                &["org", "integration", "type", "reason"],
            ),
            token_expiry: gauge_vec(
                &registry,
                "credwatch_token_expiry_timestamp_seconds",
                "Expiry of the token or session minted by the last successful check (unix seconds).",
                ITYPE,
            ),
            certificate_expiry: gauge_vec(
                &registry,
                "credwatch_certificate_expiry_timestamp_seconds",
                "notAfter of the mTLS client certificate (certificate=\"client\") and of the soonest-expiring server leaf certificate the last check was shown (certificate=\"server\"), unix seconds.",
                &["org", "integration", "type", "certificate"],
            ),
            guard_engaged: gauge_vec(
                &registry,
                "credwatch_lockout_guard_engaged",
                "1 while the lockout guard pauses attempts so as not to lock the account; 0 when it does not (integrations the guard watches only).",
                ITYPE,
            ),
            interval: gauge_vec(
                &registry,
                "credwatch_check_interval_seconds",
                "How often the integration is checked: its interval, or the time between its next two cron runs.",
                ITYPE,
            ),
            integration_info: gauge_vec(
                &registry,
                "credwatch_integration_info",
                "Configured integrations; always 1.",
                &["org", "integration", "type", "credential_type", "active"],
            ),
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

    /// Publishes a newly loaded config: inventory, limits, and last successes remembered from
    /// earlier runs.
    pub fn set_config(&self, config: &Config, state: &State) {
        self.integration_info.reset();
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
        for integration in &config.integrations {
            let active = if integration.active { "true" } else { "false" };
            self.integration_info
                .with_label_values(&[
                    &*integration.org,
                    integration.name.as_str(),
                    integration.kind.key,
                    integration.verifier.credential_type(),
                    active,
                ])
                .set(1.0);
            if integration.active
                && let Some(seconds) = state.last_success(&integration.id)
            {
                self.last_success
                    .with_label_values(&labels_of(integration))
                    .set(seconds);
            }
            if integration.active
                && let Some(every) = integration.cadence.period()
            {
                self.interval
                    .with_label_values(&labels_of(integration))
                    .set(every.as_secs_f64());
            }
            if !integration.active || !integration.guard {
                let _ = self
                    .guard_engaged
                    .remove_label_values(&labels_of(integration));
            } else if let Some(engaged) = state.guard(&integration.id, integration.kind.key) {
                self.held(integration, &engaged);
            } else {
                self.set_guard(integration, false);
            }
        }
        self.reload_successful.set(1.0);
        self.reload_timestamp
            .set(unix_seconds(std::time::SystemTime::now()));
    }

    /// A reload failed: the running config stays, and the metric says so.
    pub fn reload_failed(&self) {
        self.reload_successful.set(0.0);
    }

    /// Drops every per-integration series of an integration that left the config.
    pub fn forget(&self, integration: &Integration) {
        let labels = labels_of(integration);
        let [org, name, kind] = labels;
        for vec in [
            &self.check_success,
            &self.last_duration,
            &self.last_run,
            &self.last_success,
            &self.token_expiry,
            &self.guard_engaged,
            &self.interval,
        ] {
            let _ = vec.remove_label_values(&labels);
        }
        for certificate in ["client", "server"] {
            let _ = self
                .certificate_expiry
                .remove_label_values(&[org, name, kind, certificate]);
        }
        let _ = self
            .checks_total
            .remove_label_values(&[org, name, kind, "success"]);
        for reason in FailureReason::ALL {
            let _ = self
                .checks_total
                .remove_label_values(&[org, name, kind, reason.as_str()]);
            let _ = self
                .failure_reason
                .remove_label_values(&[org, name, kind, reason.as_str()]);
        }
    }

    /// Whether the lockout guard holds the integration.
    pub fn set_guard(&self, integration: &Integration, engaged: bool) {
        self.guard_engaged
            .with_label_values(&labels_of(integration))
            .set(if engaged { 1.0 } else { 0.0 });
    }

    /// A due check the guard held: no check is counted, and the integration keeps reporting the
    /// failure that engaged the guard (also after a restart, when nothing else has said so).
    pub fn held(&self, integration: &Integration, engaged: &Engaged) {
        self.set_guard(integration, true);
        self.set_result(labels_of(integration), Some(engaged.reason));
    }

    /// `credwatch_check_success` and the one current `credwatch_check_failure_reason` series
    /// (none after a success).
    fn set_result(&self, labels: [&str; 3], failed: Option<FailureReason>) {
        let [org, name, kind] = labels;
        self.check_success
            .with_label_values(&labels)
            .set(if failed.is_some() { 0.0 } else { 1.0 });
        for reason in FailureReason::ALL {
            if Some(reason) != failed {
                let _ =
                    self.failure_reason
                        .remove_label_values(&[org, name, kind, reason.as_str()]);
            }
        }
        if let Some(reason) = failed {
            self.failure_reason
                .with_label_values(&[org, name, kind, reason.as_str()])
                .set(1.0);
        }
    }

    /// Records one check.
    pub fn observe(&self, report: &Report) {
        let labels = labels_of(&report.integration);
        let [org, name, kind] = labels;
        let seconds = report.duration.as_secs_f64();
        self.check_duration
            .with_label_values(&[kind])
            .observe(seconds);
        self.last_duration.with_label_values(&labels).set(seconds);
        self.last_run
            .with_label_values(&labels)
            .set(unix_seconds(report.finished));
        self.checks_total
            .with_label_values(&[org, name, kind, report.result()])
            .inc();
        self.set_result(labels, report.outcome.as_ref().err().map(|f| f.reason));
        // A certificate not seen this time (the check failed before the handshake) keeps its
        // last known expiry: it is still the certificate in use.
        let certificates = &report.certificates;
        for (certificate, expiry) in [
            ("client", certificates.client),
            ("server", certificates.server),
        ] {
            if let Some(expiry) = expiry {
                self.certificate_expiry
                    .with_label_values(&[org, name, kind, certificate])
                    .set(unix_seconds(expiry));
            }
        }
        if let Ok(success) = &report.outcome {
            self.last_success
                .with_label_values(&labels)
                .set(unix_seconds(report.finished));
            match success.token_expiry {
                Some(expiry) => self
                    .token_expiry
                    .with_label_values(&labels)
                    .set(unix_seconds(expiry)),
                None => {
                    let _ = self.token_expiry.remove_label_values(&labels);
                }
            }
        }
    }

    /// The text exposition format.
    pub fn render(&self) -> String {
        let mut out = Vec::new();
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut out)
            .expect("encoding to a Vec cannot fail");
        String::from_utf8(out).expect("the text format is UTF-8")
    }
}
