//! The org views' tasks: one per org with `[genesys]`, reading at once and then every
//! `interval` (later when Genesys Cloud asked for a longer wait), each report going to the
//! status page's store and to the metrics; and one per org with canaries, running each at its
//! own `interval` (counted from its last run, across reloads and restarts).

use std::sync::Arc;
use std::time::SystemTime;

use tokio::time::Instant;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::{CanaryReport, ViewReport, Views, canary, read};

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

    /// Records one run of a canary of the view read with the integration `integration_id`;
    /// `definition` is the canary's [`Canary::definition`](crate::config::Canary::definition).
    fn observe_canary(&self, integration_id: &str, definition: &str, report: &CanaryReport);

    /// The last runs remembered (from before a restart or a reload) of the canaries of the
    /// view read with `integration_id` whose action and definition are among `current`, shown
    /// again as they were; the others are forgotten.
    fn resume_canaries(
        &self,
        _org: &Arc<str>,
        _integration_id: &str,
        _current: &[(&str, &str)],
    ) -> Vec<CanaryReport> {
        Vec::new()
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
        if !view.canaries.is_empty() {
            spawn_canaries(&org.name, &view, views, metrics, stop, tasks);
        }
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

/// The task of an org's canaries: each runs when its `interval` since its last run has passed
/// (at once when none is remembered, or the canary changed since), then at its `interval`
/// (later when Genesys Cloud asked for a longer wait); those due together share one token.
fn spawn_canaries(
    org: &Arc<str>,
    view: &crate::config::OrgView,
    views: &Arc<Views>,
    observe: &Arc<dyn Observe>,
    stop: &CancellationToken,
    tasks: &TaskTracker,
) {
    let (org, view, views, observe, stop) = (
        org.clone(),
        view.clone(),
        views.clone(),
        observe.clone(),
        stop.clone(),
    );
    tasks.spawn(async move {
        let definitions: Vec<String> = view.canaries.iter().map(|c| c.definition()).collect();
        let mut next = resume(&org, &view, &definitions, &views, &*observe);
        loop {
            let now = Instant::now();
            let due: Vec<usize> = (0..next.len()).filter(|&n| next[n] <= now).collect();
            if !due.is_empty() {
                let canaries: Vec<_> = due.iter().map(|&n| &view.canaries[n]).collect();
                let reports = canary::run(&org, &view, &canaries).await;
                if stop.is_cancelled() {
                    return;
                }
                for &n in &due {
                    next[n] = Instant::now() + view.canaries[n].interval;
                }
                for (n, mut report) in due.into_iter().zip(reports) {
                    let (wait, held) = canary::wait_after(&view.canaries[n], &report);
                    next[n] = next[n].max(Instant::now() + wait);
                    if held {
                        report.held_until = Some(SystemTime::now() + wait);
                        warn_held(&report, wait);
                    }
                    if let Some(asked) = report.outcome.as_ref().err().and_then(|f| f.retry_after) {
                        next[n] = next[n].max(Instant::now() + asked);
                    }
                    observe.observe_canary(&view.integration.id, &definitions[n], &report);
                    views.record_canary(report);
                }
            }
            let wake = next.iter().min().copied().unwrap_or_else(Instant::now);
            tokio::select! {
                _ = tokio::time::sleep_until(wake) => {}
                _ = stop.cancelled() => return,
            }
        }
    });
}

/// Says that the lockout guard holds a canary, and until when.
fn warn_held(report: &CanaryReport, wait: std::time::Duration) {
    tracing::warn!(
        org = %report.org,
        action = %report.action,
        integration = %report.integration,
        "the third party refused the credential Genesys Cloud holds for {:?}: the lockout guard holds the canary for {} (guard_retry), since each run logs in with that credential; fix it in Genesys Cloud, then change the canary or wait",
        report.integration,
        humantime::format_duration(wait)
    );
}

/// When each canary of `view` runs first: its `interval` (or the lockout guard's wait, see
/// [`canary::wait_after`]) after its last run remembered with its definition (shown again
/// meanwhile), else at once.
fn resume(
    org: &Arc<str>,
    view: &crate::config::OrgView,
    definitions: &[String],
    views: &Views,
    observe: &dyn Observe,
) -> Vec<Instant> {
    let current: Vec<(&str, &str)> = view
        .canaries
        .iter()
        .zip(definitions)
        .map(|(c, d)| (c.action.as_str(), d.as_str()))
        .collect();
    let (now, wall) = (Instant::now(), std::time::SystemTime::now());
    let mut next = vec![now; view.canaries.len()];
    for mut report in observe.resume_canaries(org, &view.integration.id, &current) {
        let Some(n) = view.canaries.iter().position(|c| c.action == report.action) else {
            continue;
        };
        // A run stamped in the future (the clock was set back) counts as just now.
        let ago = wall.duration_since(report.finished).unwrap_or_default();
        let (wait, held) = canary::wait_after(&view.canaries[n], &report);
        next[n] = now + wait.saturating_sub(ago);
        if held && wait > ago {
            report.held_until = Some(report.finished.min(wall) + wait);
        }
        views.record_canary(report);
    }
    next
}
