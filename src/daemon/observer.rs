//! Where an org view's reads go besides the status page: the metrics, and the state (the
//! OAuth clients' dates and verdicts, where the executions window ended, the canaries' last
//! runs); and where Genesys's executions are compared with credwatch's own latest results.

use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use crate::clock::unix_seconds;
use crate::integration::id_of;
use crate::metrics::Metrics;
use crate::orgview::{self, CanaryReport};
use crate::outcome::{Failure, FailureReason, result_of};
use crate::state::{CanaryRun, State};

/// Where an org view's reads go besides the status page: the metrics, and the state, which
/// keeps what the view learnt of the OAuth clients of the org's `genesys_cloud` integrations
/// (their dates, and a client not active, which fails its integration's checks ahead of the
/// login).
pub(super) struct ViewObserver {
    pub(super) metrics: Arc<Metrics>,
    pub(super) state: Arc<State>,
}

impl orgview::Observe for ViewObserver {
    fn executions_since(&self, integration_id: &str) -> Option<i64> {
        self.state
            .executions_until(integration_id)
            .map(|until| until as i64)
    }

    fn observe_canary(&self, integration_id: &str, definition: &str, report: &CanaryReport) {
        self.metrics.observe_canary(report);
        self.state
            .set_canary_run(integration_id, run_of(definition, report));
    }

    fn resume_canaries(
        &self,
        org: &Arc<str>,
        integration_id: &str,
        current: &[(&str, &str)],
    ) -> Vec<CanaryReport> {
        let runs = self.state.canary_runs(integration_id, current);
        runs.into_iter().filter_map(|r| report_of(org, r)).collect()
    }

    fn restore_canary(&self, report: &CanaryReport) {
        self.metrics.restore_canary(report);
    }

    fn observe_view(&self, report: &mut orgview::ViewReport) {
        report.compared = orgview::compare(report, |name, kind| {
            let id = id_of(&report.org, name);
            self.state.peek(&id, |record| {
                let record = record.filter(|r| r.kind.as_deref() == Some(kind))?;
                record.last().map(|entry| match entry.failure {
                    None => Ok(()),
                    Some(reason) => Err(reason),
                })
            })
        });
        self.metrics.observe_view(report);
        if let Some((_, end)) = report.window {
            let id = id_of(&report.org, &report.integration);
            self.state.set_executions_until(&id, end as f64);
        }
        for client in report.oauth_clients.iter().flatten() {
            self.state
                .learn(&client.integration, "genesys_cloud", &[client.learnt()]);
            self.state.set_ahead(&client.integration, client.ahead());
        }
    }
}

/// A canary's run as the state keeps it.
fn run_of(definition: &str, report: &CanaryReport) -> CanaryRun {
    CanaryRun {
        action: report.action.clone(),
        definition: definition.to_string(),
        integration: report.integration.clone(),
        finished: unix_seconds(report.finished),
        duration_seconds: report.duration.as_secs_f64(),
        result: result_of(&report.outcome).into(),
        step: report.step.clone(),
        message: report.outcome.as_ref().err().map(|f| f.message.clone()),
    }
}

/// A remembered run as its report; `None` for one the state cannot have written.
fn report_of(org: &Arc<str>, run: CanaryRun) -> Option<CanaryReport> {
    let outcome = match &*run.result {
        "success" => Ok(()),
        other => Err(Failure::new(
            FailureReason::from_label(other)?,
            run.message.unwrap_or_default(),
        )),
    };
    Some(CanaryReport {
        org: org.clone(),
        action: run.action,
        integration: run.integration,
        outcome,
        step: run.step,
        finished: UNIX_EPOCH + Duration::try_from_secs_f64(run.finished).ok()?,
        duration: Duration::try_from_secs_f64(run.duration_seconds).ok()?,
        held_until: None,
    })
}
