//! The org views' tasks: one per org with `[genesys]`, reading at once and then every
//! `interval` (later when Genesys Cloud asked for a longer wait), each report going to the
//! status page's store and to the metrics.

use std::sync::Arc;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::{ViewReport, Views, read};

/// Where a read's report goes besides the status page's store (the metrics): the org view
/// knows only this, so that the metrics may know the report without the view knowing them.
pub trait Observe: Send + Sync {
    /// Records one read of an org's view; it may fill in what the view cannot know itself
    /// (`compared`) before the status page's store keeps it.
    fn observe_view(&self, report: &mut ViewReport);

    /// Where the previous executions window read with the integration `integration_id`
    /// ended (unix seconds), as remembered from an earlier run: the first read goes on from
    /// there.
    fn executions_since(&self, _integration_id: &str) -> Option<i64> {
        None
    }
}
use crate::config::Config;

/// Starts the view task of every org of `config` that has `[genesys]`, in `tasks`; they stop
/// when `stop` is cancelled, after the read in flight.
pub fn spawn(
    config: &Config,
    views: &Arc<Views>,
    metrics: &Arc<dyn Observe>,
    stop: &CancellationToken,
    tasks: &TaskTracker,
) {
    for org in &config.orgs {
        let Some(view) = org.view.clone() else {
            continue;
        };
        let (org, views, metrics, stop) = (
            org.name.clone(),
            views.clone(),
            metrics.clone(),
            stop.clone(),
        );
        tasks.spawn(async move {
            let mut since = metrics.executions_since(&view.integration.id);
            loop {
                // A read in flight is not cut short (it is bounded by its timeout): its token
                // is revoked at its end. A read that ends after `stop` is not recorded.
                let mut report = read(&org, &view, since).await;
                if stop.is_cancelled() {
                    return;
                }
                metrics.observe_view(&mut report);
                if let Some((_, end)) = report.window {
                    since = Some(end);
                }
                let wait = match &report.outcome {
                    Err(failure) => failure
                        .retry_after
                        .map_or(view.interval, |asked| asked.max(view.interval)),
                    Ok(()) => view.interval,
                };
                views.record(report);
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    _ = stop.cancelled() => return,
                }
            }
        });
    }
}
