//! Where an org view's reads go besides the status page: the metrics, and the state (the
//! OAuth clients' dates and verdicts, and where the executions window ended); and where
//! Genesys's executions are compared with credwatch's own latest results.

use std::sync::Arc;

use crate::integration::id_of;
use crate::metrics::Metrics;
use crate::orgview;
use crate::state::State;

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

    fn observe_canary(&self, report: &orgview::CanaryReport) {
        self.metrics.observe_canary(report);
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
