//! The canary actions' metrics (`[[genesys.canary]]`): each canary's last result, its failure
//! reason, when it last ran and last passed, whether the lockout guard holds it, and its runs
//! by result, labelled by org, data
//! action id and the credwatch integration it speaks for (empty when none). A few series per
//! canary, in the `prometheus` registry; a canary no longer configured loses its series.

use std::collections::HashMap;
use std::sync::Mutex;

use prometheus::{GaugeVec, IntCounterVec, Registry};

use super::{counter_vec, gauge_vec};
use crate::clock::unix_seconds;
use crate::orgview::CanaryReport;
use crate::outcome::FailureReason;

/// Every canary metric.
pub(super) struct CanaryMetrics {
    success: GaugeVec,
    failure_reason: GaugeVec,
    last_run: GaugeVec,
    last_success: GaugeVec,
    duration: GaugeVec,
    held: GaugeVec,
    runs: IntCounterVec,
    /// Per (org, action): the `integration` label written, and the reason written.
    written: Mutex<HashMap<(String, String), Written>>,
}

/// The labels written for a canary: its `integration`, and its failure's `reason`.
type Written = (String, Option<FailureReason>);

const LABELS: [&str; 3] = ["org", "action", "integration"];

impl CanaryMetrics {
    pub(super) fn new(registry: &Registry) -> Self {
        let runs = counter_vec(
            registry,
            "credwatch_genesys_canary_runs_total",
            "Runs of a canary data action by Genesys Cloud, by result (success or a failure reason).",
            &["org", "action", "integration", "result"],
        );
        Self {
            success: gauge_vec(
                registry,
                "credwatch_genesys_canary_success",
                "Whether the last run of a canary data action by Genesys Cloud (POST /api/v2/integrations/actions/{action}/test) succeeded.",
                &LABELS,
            ),
            failure_reason: gauge_vec(
                registry,
                "credwatch_genesys_canary_failure_reason",
                "The reason the last run of a canary data action failed (the failing step's error mapped to credwatch's reasons); 1 for that reason only, absent after a success.",
                &["org", "action", "integration", "reason"],
            ),
            last_run: gauge_vec(
                registry,
                "credwatch_genesys_canary_last_run_timestamp_seconds",
                "When a canary data action last ran (unix seconds).",
                &LABELS,
            ),
            last_success: gauge_vec(
                registry,
                "credwatch_genesys_canary_last_success_timestamp_seconds",
                "When a canary data action last succeeded (unix seconds), as far as this run of credwatch knows (a last run before a restart that succeeded counts).",
                &LABELS,
            ),
            duration: gauge_vec(
                registry,
                "credwatch_genesys_canary_last_duration_seconds",
                "How long the last run of a canary data action took, Genesys Cloud's login included.",
                &LABELS,
            ),
            held: gauge_vec(
                registry,
                "credwatch_genesys_canary_held",
                "1 while the lockout guard holds a canary (the third party refused the password login Genesys Cloud holds for a guarded integration): no run until guard_retry has passed or the credential changes in Genesys Cloud; else 0.",
                &LABELS,
            ),
            runs,
            written: Mutex::new(HashMap::new()),
        }
    }

    /// Records one run; `count` it in the runs counter unless it ran before a restart or a
    /// reload (shown again, counted then).
    pub(super) fn observe(&self, report: &CanaryReport, count: bool) {
        let labels = [
            &*report.org,
            report.action.as_str(),
            report.integration.as_str(),
        ];
        let key = (report.org.to_string(), report.action.clone());
        let mut written = self.written.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(before) = written.get(&key)
            && before.0 != report.integration
        {
            // It speaks for another integration now: the old label set goes.
            let before = before.clone();
            self.remove(&key.0, &key.1, &before);
        }
        if let Some((_, Some(reason))) = written.get(&key) {
            let _ = self.failure_reason.remove_label_values(&[
                labels[0],
                labels[1],
                labels[2],
                reason.as_str(),
            ]);
        }
        let finished = unix_seconds(report.finished);
        self.last_run.with_label_values(&labels).set(finished);
        self.duration
            .with_label_values(&labels)
            .set(report.duration.as_secs_f64());
        let held = if report.held_until.is_some() {
            1.0
        } else {
            0.0
        };
        self.held.with_label_values(&labels).set(held);
        let reason = match &report.outcome {
            Ok(()) => {
                self.success.with_label_values(&labels).set(1.0);
                self.last_success.with_label_values(&labels).set(finished);
                if count {
                    self.runs
                        .with_label_values(&[labels[0], labels[1], labels[2], "success"])
                        .inc();
                }
                None
            }
            Err(failure) => {
                let reason = failure.reason.as_str();
                self.success.with_label_values(&labels).set(0.0);
                self.failure_reason
                    .with_label_values(&[labels[0], labels[1], labels[2], reason])
                    .set(1.0);
                if count {
                    self.runs
                        .with_label_values(&[labels[0], labels[1], labels[2], reason])
                        .inc();
                }
                Some(failure.reason)
            }
        };
        written.insert(key, (report.integration.clone(), reason));
    }

    /// Drops the series of every canary `keep` (org, action) says no to.
    pub(super) fn retain(&self, keep: impl Fn(&str, &str) -> bool) {
        let mut written = self.written.lock().unwrap_or_else(|p| p.into_inner());
        let gone: Vec<_> = written
            .keys()
            .filter(|(org, action)| !keep(org, action))
            .cloned()
            .collect();
        for key in gone {
            if let Some(before) = written.remove(&key) {
                self.remove(&key.0, &key.1, &before);
            }
        }
    }

    fn remove(
        &self,
        org: &str,
        action: &str,
        (integration, reason): &(String, Option<FailureReason>),
    ) {
        let labels = [org, action, integration.as_str()];
        for family in [
            &self.success,
            &self.last_run,
            &self.last_success,
            &self.duration,
            &self.held,
        ] {
            let _ = family.remove_label_values(&labels);
        }
        if let Some(reason) = reason {
            let _ = self.failure_reason.remove_label_values(&[
                org,
                action,
                integration,
                reason.as_str(),
            ]);
        }
        for result in crate::outcome::results() {
            let _ = self
                .runs
                .remove_label_values(&[org, action, integration, result]);
        }
    }
}
