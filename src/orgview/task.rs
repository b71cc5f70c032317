//! The org views' tasks: one per org with `[genesys]`, reading at once and then every
//! `interval` (later when Genesys Cloud asked for a longer wait), each report going to the
//! status page's store and to the metrics; and one per org with canaries, running each at its
//! own `interval` (counted from its last run, across reloads and restarts).

use std::sync::Arc;
use std::time::SystemTime;

use tokio::time::Instant;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::{CanaryReport, ViewReport, Views, canary, read, release};

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
    /// view read with `integration_id` whose action and definition are among `current`; the
    /// others are forgotten.
    fn resume_canaries(
        &self,
        _org: &Arc<str>,
        _integration_id: &str,
        _current: &[(&str, &str)],
    ) -> Vec<CanaryReport> {
        Vec::new()
    }

    /// Shows a canary's run remembered from before a restart or a reload again (not as a new
    /// run).
    fn restore_canary(&self, _report: &CanaryReport) {}
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
/// (later when Genesys Cloud asked for a longer wait); those due together share one token. One
/// the lockout guard holds is not run until its `guard_retry` has passed, or until Genesys
/// Cloud says the credential of its action changed (asked at its `interval`).
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
        let mut schedule = resume(&org, &view, &definitions, &views, &*observe);
        loop {
            let now = Instant::now();
            let due: Vec<usize> = (0..view.canaries.len())
                .filter(|&n| schedule.next[n] <= now)
                .collect();
            let (asked, mut due): (Vec<usize>, Vec<usize>) = due
                .into_iter()
                .partition(|&n| schedule.held[n].is_some_and(|h| now < h.until));
            if !asked.is_empty() {
                due.extend(schedule.released(&view, &asked).await);
                if stop.is_cancelled() {
                    return;
                }
            }
            if !due.is_empty() {
                let canaries: Vec<_> = due.iter().map(|&n| &view.canaries[n]).collect();
                let reports = canary::run(&org, &view, &canaries).await;
                if stop.is_cancelled() {
                    return;
                }
                for (n, mut report) in due.into_iter().zip(reports) {
                    schedule.ran(&view.canaries[n], n, &mut report);
                    observe.observe_canary(&view.integration.id, &definitions[n], &report);
                    views.record_canary(report);
                }
            }
            let wake = schedule
                .next
                .iter()
                .min()
                .copied()
                .unwrap_or_else(Instant::now);
            tokio::select! {
                _ = tokio::time::sleep_until(wake) => {}
                _ = stop.cancelled() => return,
            }
        }
    });
}

/// A canary the lockout guard holds.
#[derive(Debug, Clone, Copy)]
struct Held {
    /// When its refused run finished: a credential modified in Genesys Cloud after it lets go.
    since: SystemTime,
    /// When `guard_retry` lets go.
    until: Instant,
}

/// When each canary of an org is due, and which ones the lockout guard holds.
struct Schedule {
    next: Vec<Instant>,
    held: Vec<Option<Held>>,
}

impl Schedule {
    /// Sets the next run of the canary `n` after `report`'s run, and whether the guard holds
    /// it (then `report` says until when, and a warning says why).
    fn ran(&mut self, canary: &crate::config::Canary, n: usize, report: &mut CanaryReport) {
        let (wait, held) = canary::wait_after(canary, report);
        let now = Instant::now();
        // A held canary is due again at its interval, to ask whether its credential changed.
        self.next[n] = now + canary.interval;
        self.held[n] = held.then(|| Held {
            since: report.finished,
            until: now + wait,
        });
        if held {
            report.held_until = Some(SystemTime::now() + wait);
            warn_held(report, wait);
        }
        if let Some(asked) = report.outcome.as_ref().err().and_then(|f| f.retry_after) {
            self.next[n] = self.next[n].max(now + asked);
        }
    }

    /// Asks Genesys Cloud whether the credential of each held canary of `asked` changed since
    /// its refused run: those whose did are released (returned, to run now); the others are
    /// asked again at their interval, or run when the guard lets go.
    async fn released(&mut self, view: &crate::config::OrgView, asked: &[usize]) -> Vec<usize> {
        let held: Vec<(&str, SystemTime)> = asked
            .iter()
            .map(|&n| {
                let since = self.held[n].map_or(SystemTime::UNIX_EPOCH, |h| h.since);
                (view.canaries[n].action.as_str(), since)
            })
            .collect();
        let changed = release::probe(view, &held).await;
        let mut released = Vec::new();
        for (&n, changed) in asked.iter().zip(changed) {
            let canary = &view.canaries[n];
            if changed {
                tracing::info!(
                    action = %canary.action,
                    integration = canary.integration_name(),
                    "the credential of the held canary's action changed in Genesys Cloud: the lockout guard lets it run"
                );
                released.push(n);
            } else if let Some(held) = self.held[n] {
                self.next[n] = (Instant::now() + canary.interval).min(held.until);
            }
        }
        released
    }
}

/// Says that the lockout guard holds a canary, and until when.
fn warn_held(report: &CanaryReport, wait: std::time::Duration) {
    tracing::warn!(
        org = %report.org,
        action = %report.action,
        integration = %report.integration,
        "the third party refused the credential Genesys Cloud holds for {:?}: the lockout guard holds the canary for {} (guard_retry), or until that credential changes in Genesys Cloud, since each run logs in with it",
        report.integration,
        humantime::format_duration(wait)
    );
}

/// When each canary of `view` runs first: its `interval` after its last run remembered with
/// its definition (shown again meanwhile, on the page and in the gauges), else at once; one the guard held then is held still
/// (see [`canary::wait_after`]).
fn resume(
    org: &Arc<str>,
    view: &crate::config::OrgView,
    definitions: &[String],
    views: &Views,
    observe: &dyn Observe,
) -> Schedule {
    let current: Vec<(&str, &str)> = view
        .canaries
        .iter()
        .zip(definitions)
        .map(|(c, d)| (c.action.as_str(), d.as_str()))
        .collect();
    let (now, wall) = (Instant::now(), SystemTime::now());
    let mut schedule = Schedule {
        next: vec![now; view.canaries.len()],
        held: vec![None; view.canaries.len()],
    };
    for mut report in observe.resume_canaries(org, &view.integration.id, &current) {
        let Some(n) = view.canaries.iter().position(|c| c.action == report.action) else {
            continue;
        };
        let canary = &view.canaries[n];
        // A run stamped in the future (the clock was set back) counts as just now.
        let ago = wall.duration_since(report.finished).unwrap_or_default();
        schedule.next[n] = now + canary.interval.saturating_sub(ago);
        let (wait, held) = canary::wait_after(canary, &report);
        if held && wait > ago {
            report.held_until = Some(report.finished.min(wall) + wait);
            schedule.held[n] = Some(Held {
                since: report.finished,
                until: now + (wait - ago),
            });
        }
        observe.restore_canary(&report);
        views.record_canary(report);
    }
    schedule
}
