//! Where an org view's reads go besides the status page.

use std::sync::Arc;

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
    fn observe_view(&self, report: &orgview::ViewReport) {
        self.metrics.observe_view(report);
        for client in report.oauth_clients.iter().flatten() {
            self.state
                .learn(&client.integration, "genesys_cloud", &[client.learnt()]);
            self.state.set_ahead(&client.integration, client.ahead());
        }
    }
}
