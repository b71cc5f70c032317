//! The org view's metrics (`[genesys]`): Genesys Cloud's integrations with their states and
//! whether credwatch checks each, where Genesys's executions and credwatch's checks disagree,
//! the mTLS client certificates' expiry, and the view's own
//! result, reported like a check's under series of its own. A few series per org, so they live
//! in the `prometheus` registry; the label sets written for an org are remembered so that the
//! next read replaces them.

use std::collections::HashMap;
use std::sync::Mutex;

use prometheus::{GaugeVec, IntCounterVec, Registry};

use super::{counter_vec, gauge_vec};
use crate::clock::unix_seconds;
use crate::orgview::{Comparison, ViewReport};
use crate::outcome::FailureReason;

/// Every org-view metric.
pub(super) struct ViewMetrics {
    info: GaugeVec,
    watched: GaugeVec,
    certificate_expiry: GaugeVec,
    disagreement: GaugeVec,
    success: GaugeVec,
    failure_reason: GaugeVec,
    last_run: GaugeVec,
    last_success: GaugeVec,
    reads: IntCounterVec,
    executions: IntCounterVec,
    /// Per org, the label values last written to the families that a read replaces.
    written: Mutex<HashMap<String, Written>>,
}

#[derive(Default)]
struct Written {
    info: Vec<Vec<String>>,
    watched: Vec<Vec<String>>,
    certificates: Vec<Vec<String>>,
    disagreements: Vec<Vec<String>>,
    failure: Option<FailureReason>,
}

impl ViewMetrics {
    pub(super) fn new(registry: &Registry) -> Self {
        let reads = counter_vec(
            registry,
            "credwatch_genesys_view_reads_total",
            "Reads of the Genesys Cloud org view, by org and result (success or a failure reason).",
            &["org", "result"],
        );
        let executions = counter_vec(
            registry,
            "credwatch_genesys_action_executions_total",
            "Data-action executions Genesys Cloud recorded, by org, Genesys's integration name, type and outcome (success, auth_failure, client_error, server_error, timeout, other).",
            &["org", "integration", "type", "outcome"],
        );
        Self {
            info: gauge_vec(
                registry,
                "credwatch_genesys_integration_info",
                "An integration as Genesys Cloud lists it, with its intended and reported state; always 1. `type` is credwatch's type for data actions, else Genesys Cloud's type id.",
                &[
                    "org",
                    "integration",
                    "type",
                    "intended_state",
                    "reported_state",
                ],
            ),
            watched: gauge_vec(
                registry,
                "credwatch_genesys_integration_watched",
                "Whether credwatch checks an active integration of the same org, type and name as this Genesys Cloud data-action integration (1) or not (0).",
                &["org", "integration", "type"],
            ),
            certificate_expiry: gauge_vec(
                registry,
                "credwatch_genesys_mtls_certificate_expiry_timestamp_seconds",
                "When an mTLS client certificate Genesys Cloud presents to web services expires (unix seconds).",
                &["org", "signing_authority", "status"],
            ),
            disagreement: gauge_vec(
                registry,
                "credwatch_genesys_disagreement",
                "1 when Genesys Cloud's executions of a watched data-action integration and credwatch's own check of it disagree over the view's last window: direction genesys_fails (Genesys met 401/403, credwatch passed) or credwatch_fails (credwatch fails, Genesys's executions succeed); 0 with direction none otherwise.",
                &["org", "integration", "type", "direction"],
            ),
            success: gauge_vec(
                registry,
                "credwatch_genesys_view_success",
                "Whether the last read of the Genesys Cloud org view succeeded.",
                &["org"],
            ),
            failure_reason: gauge_vec(
                registry,
                "credwatch_genesys_view_failure_reason",
                "The reason the last read of the org view failed; 1 for that reason only, absent after a success.",
                &["org", "reason"],
            ),
            last_run: gauge_vec(
                registry,
                "credwatch_genesys_view_last_run_timestamp_seconds",
                "When the org view was last read (unix seconds).",
                &["org"],
            ),
            last_success: gauge_vec(
                registry,
                "credwatch_genesys_view_last_success_timestamp_seconds",
                "When the org view was last read successfully (unix seconds).",
                &["org"],
            ),
            reads,
            executions,
            written: Mutex::new(HashMap::new()),
        }
    }

    /// Records one read. Parts that were not read keep their last known series.
    pub(super) fn observe(&self, report: &ViewReport) {
        let org = &*report.org;
        for executions in report.executions.iter().flatten() {
            for (outcome, count) in &executions.outcomes {
                self.executions
                    .with_label_values(&[org, &executions.name, &executions.kind, outcome.as_str()])
                    .inc_by(*count);
            }
        }
        let mut written = self.written.lock().unwrap_or_else(|p| p.into_inner());
        let written = written.entry(org.to_string()).or_default();
        if let Some(integrations) = &report.integrations {
            replace(
                &self.info,
                &mut written.info,
                integrations.iter().map(|i| {
                    (
                        vec![
                            org.to_string(),
                            i.name.clone(),
                            i.type_label().to_string(),
                            i.intended_state.clone(),
                            i.reported_state.clone(),
                        ],
                        1.0,
                    )
                }),
            );
            replace(
                &self.watched,
                &mut written.watched,
                integrations.iter().filter_map(|i| {
                    let kind = i.kind?;
                    let value = if i.watched? { 1.0 } else { 0.0 };
                    Some((
                        vec![org.to_string(), i.name.clone(), kind.to_string()],
                        value,
                    ))
                }),
            );
        }
        if let Some(certificates) = &report.certificates {
            replace(
                &self.certificate_expiry,
                &mut written.certificates,
                certificates.iter().filter_map(|c| {
                    let labels = vec![
                        org.to_string(),
                        c.signing_authority.clone(),
                        c.status.clone(),
                    ];
                    Some((labels, c.expiry?))
                }),
            );
        }
        if let Some(compared) = &report.compared {
            self.disagreements(org, compared, &mut written.disagreements);
        }
        self.result(org, report, written);
    }

    /// The read's own result: success or its failure's reason, and when.
    fn result(&self, org: &str, report: &ViewReport, written: &mut Written) {
        let finished = unix_seconds(report.finished);
        self.last_run.with_label_values(&[org]).set(finished);
        if let Some(reason) = written.failure.take() {
            let _ = self
                .failure_reason
                .remove_label_values(&[org, reason.as_str()]);
        }
        match &report.outcome {
            Ok(()) => {
                self.success.with_label_values(&[org]).set(1.0);
                self.last_success.with_label_values(&[org]).set(finished);
                self.reads.with_label_values(&[org, "success"]).inc();
            }
            Err(failure) => {
                self.success.with_label_values(&[org]).set(0.0);
                let reason = failure.reason.as_str();
                self.failure_reason
                    .with_label_values(&[org, reason])
                    .set(1.0);
                self.reads.with_label_values(&[org, reason]).inc();
                written.failure = Some(failure.reason);
            }
        }
    }

    /// Replaces the org's disagreement series with those of `compared`.
    fn disagreements(&self, org: &str, compared: &[Comparison], written: &mut Vec<Vec<String>>) {
        replace(
            &self.disagreement,
            written,
            compared.iter().map(|c| {
                let direction = c.direction.map_or("none", |d| d.as_str());
                let labels = vec![
                    org.to_string(),
                    c.integration.clone(),
                    c.kind.to_string(),
                    direction.to_string(),
                ];
                (labels, if c.direction.is_some() { 1.0 } else { 0.0 })
            }),
        );
    }

    /// Drops every series of an org whose view is no longer configured.
    pub(super) fn forget(&self, org: &str) {
        let mut written = self.written.lock().unwrap_or_else(|p| p.into_inner());
        let Some(mut gone) = written.remove(org) else {
            return;
        };
        replace(&self.info, &mut gone.info, std::iter::empty());
        replace(&self.watched, &mut gone.watched, std::iter::empty());
        replace(
            &self.certificate_expiry,
            &mut gone.certificates,
            std::iter::empty(),
        );
        replace(
            &self.disagreement,
            &mut gone.disagreements,
            std::iter::empty(),
        );
        if let Some(reason) = gone.failure {
            let _ = self
                .failure_reason
                .remove_label_values(&[org, reason.as_str()]);
        }
        for family in [&self.success, &self.last_run, &self.last_success] {
            let _ = family.remove_label_values(&[org]);
        }
        for result in crate::outcome::results() {
            let _ = self.reads.remove_label_values(&[org, result]);
        }
    }
}

/// Replaces the series `written` holds in `family` with `new` ones.
fn replace(
    family: &GaugeVec,
    written: &mut Vec<Vec<String>>,
    new: impl Iterator<Item = (Vec<String>, f64)>,
) {
    for labels in written.drain(..) {
        let labels: Vec<&str> = labels.iter().map(String::as_str).collect();
        let _ = family.remove_label_values(&labels);
    }
    for (labels, value) in new {
        let refs: Vec<&str> = labels.iter().map(String::as_str).collect();
        family.with_label_values(&refs).set(value);
        written.push(labels);
    }
}
