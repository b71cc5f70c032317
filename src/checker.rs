//! The one entry point of every check, for the scheduler, the API and `credwatch check`: the
//! lockout guard decides whether the provider may be asked at all, at most one check of an
//! integration is in flight (a second caller waits for and shares the first one's result), and
//! what happened lands in the state and the metrics. Checks forced over HTTP also pass the
//! force cooldown (an engaged guard is released at most once per `force_cooldown`) and take a
//! slot of the same `concurrency` limit as scheduled ones. Every check runs as a task of the
//! daemon's one [`TaskTracker`], so that shutdown waits for it.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use futures_util::FutureExt;
use futures_util::future::{BoxFuture, Shared};
use tokio::sync::Semaphore;
use tokio_util::task::TaskTracker;

use crate::clock::unix_seconds;
use crate::guard::{self, Decision, Engaged, FingerprintKey};
use crate::integration::Integration;
use crate::metrics::Metrics;
use crate::runner::{self, Report};
use crate::secret::{Resolved, SecretFiles, resolve_all};
use crate::state::State;

/// What asking for a check gave.
#[derive(Debug, Clone)]
pub enum Checked {
    /// The check ran.
    Ran(Report),
    /// The lockout guard held it: no request was made.
    Held(Engaged),
}

type InFlight = Shared<BoxFuture<'static, Option<Checked>>>;

/// A forced check, shared by the requests that asked for it while it ran.
type Forced = Shared<BoxFuture<'static, Checked>>;

/// Takes a finished (or panicked) check out of `in_flight`, unless a later one replaced it.
struct InFlightSlot {
    checker: Arc<Checker>,
    integration: Arc<Integration>,
    number: u64,
}

impl Drop for InFlightSlot {
    fn drop(&mut self) {
        let mut in_flight = self
            .checker
            .in_flight
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let id = &self.integration.id;
        if in_flight
            .get(id)
            .is_some_and(|(running, _)| *running == self.number)
        {
            in_flight.remove(id);
        }
    }
}

/// The force cooldown of an integration whose guard is not engaged: a forced check mints a
/// token or makes a login like any other, and providers rate-limit both.
pub const UNGUARDED_FORCE_COOLDOWN: Duration = Duration::from_secs(10);

/// A forced check refused because one ran too recently.
#[derive(Debug, Clone, Copy)]
pub struct Cooldown {
    /// When the next forced check of the integration will be honoured.
    pub retry_after: Duration,
}

/// The running config's limits on checks.
struct Limits {
    /// `concurrency` slots, shared by scheduled and forced checks.
    permits: Arc<Semaphore>,
    /// `force_cooldown`.
    force_cooldown: Duration,
}

/// Runs checks with the guard, one at a time per integration.
pub struct Checker {
    state: Arc<State>,
    metrics: Arc<Metrics>,
    key: FingerprintKey,
    /// Integration id → the check of it in flight, with a number telling that check from a
    /// later one of the same integration.
    in_flight: Mutex<HashMap<String, (u64, InFlight)>>,
    started: AtomicU64,
    /// Where every check task runs.
    tasks: TaskTracker,
    limits: Mutex<Limits>,
    /// Integration id → when its last forced check was let through, and that check.
    forced: Mutex<HashMap<String, (Instant, Forced)>>,
    /// The secret files the watcher watches, read through by every check.
    secret_files: SecretFiles,
}

impl Checker {
    /// `key` fingerprints credentials for the guard (see [`FingerprintKey::load`]); every check
    /// runs as a task of `tasks` and reads secret files through `secret_files`.
    pub fn new(
        state: Arc<State>,
        metrics: Arc<Metrics>,
        key: FingerprintKey,
        tasks: TaskTracker,
        secret_files: SecretFiles,
    ) -> Arc<Self> {
        Arc::new(Self {
            state,
            metrics,
            key,
            in_flight: Mutex::new(HashMap::new()),
            started: AtomicU64::new(0),
            tasks,
            limits: Mutex::new(Limits {
                permits: Arc::new(Semaphore::new(16)),
                force_cooldown: Duration::from_secs(300),
            }),
            forced: Mutex::new(HashMap::new()),
            secret_files,
        })
    }

    /// The limits of a (re)loaded config; returns the `concurrency` slots its schedule takes.
    pub fn set_limits(&self, concurrency: usize, force_cooldown: Duration) -> Arc<Semaphore> {
        let permits = Arc::new(Semaphore::new(concurrency));
        *self.limits.lock().unwrap_or_else(|p| p.into_inner()) = Limits {
            permits: permits.clone(),
            force_cooldown,
        };
        permits
    }

    /// An operator's check over HTTP: it bypasses the lockout guard for one attempt, but at
    /// most once per `force_cooldown` while the guard is engaged (once per
    /// [`UNGUARDED_FORCE_COOLDOWN`] otherwise), and waits for a `concurrency` slot. A request
    /// while a forced check of the integration runs shares its result.
    pub async fn force(
        self: &Arc<Self>,
        integration: &Arc<Integration>,
    ) -> Result<Checked, Cooldown> {
        let (permits, force_cooldown) = {
            let limits = self.limits.lock().unwrap_or_else(|p| p.into_inner());
            (limits.permits.clone(), limits.force_cooldown)
        };
        let engaged = integration.guard
            && self
                .state
                .guard(&integration.id, integration.kind.key)
                .is_some();
        let cooldown = if engaged {
            force_cooldown
        } else {
            UNGUARDED_FORCE_COOLDOWN.min(force_cooldown)
        };
        let now = Instant::now();
        let forced = {
            let mut forced = self.forced.lock().unwrap_or_else(|p| p.into_inner());
            match forced.get(&integration.id) {
                Some((_, running)) if running.peek().is_none() => running.clone(),
                Some((at, _)) if now < *at + cooldown => {
                    self.metrics.forced(false);
                    return Err(Cooldown {
                        retry_after: *at + cooldown - now,
                    });
                }
                _ => {
                    // Bounded by the integrations: entries past every cooldown go.
                    if forced.len() > 4096 {
                        let longest = force_cooldown.max(UNGUARDED_FORCE_COOLDOWN);
                        forced.retain(|_, (at, _)| now.duration_since(*at) < longest);
                    }
                    let (this, to_check) = (self.clone(), integration.clone());
                    let run = async move {
                        let _permit = permits.acquire_owned().await;
                        this.check(&to_check, true).await
                    }
                    .boxed()
                    .shared();
                    forced.insert(integration.id.clone(), (now, run.clone()));
                    self.metrics.forced(true);
                    run
                }
            }
        };
        Ok(forced.await)
    }

    /// When the integration's last recorded check started (unix seconds), this run or an
    /// earlier one.
    pub fn last_started(&self, integration: &Integration) -> Option<f64> {
        self.state.last_started(&integration.id)
    }

    /// A scheduled check started `lag` after it was planned.
    pub fn started_late(&self, lag: std::time::Duration) {
        self.metrics.start_lag(lag);
    }

    /// Checks the integration now, unless the guard holds it; `force` is an operator's request
    /// and bypasses the guard for this one attempt. A check of the same integration already in
    /// flight is joined instead of starting a second one.
    pub async fn check(self: &Arc<Self>, integration: &Arc<Integration>, force: bool) -> Checked {
        loop {
            let checked = self.join_or_start(integration, force).await;
            match checked {
                // An operator's request that joined a scheduled check the guard held: the
                // operator asked for an attempt, so make one.
                Some(Checked::Held(_)) if force => continue,
                Some(checked) => return checked,
                // The check task panicked: report it like a failure, so that it is seen.
                None => return Checked::Ran(runner::Report::panicked(integration)),
            }
        }
    }

    /// The check of `integration` in flight, or a new one.
    fn join_or_start(self: &Arc<Self>, integration: &Arc<Integration>, force: bool) -> InFlight {
        let mut in_flight = self.in_flight.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((_, running)) = in_flight.get(&integration.id) {
            return running.clone();
        }
        let number = self.started.fetch_add(1, Ordering::Relaxed);
        let this = self.clone();
        let task_integration = integration.clone();
        // A task of its own: the check finishes (and is recorded, and leaves `in_flight`) even
        // when every caller goes away, e.g. an HTTP client that hangs up or a reload.
        let task = self.tasks.spawn(async move {
            let slot = InFlightSlot {
                checker: this.clone(),
                integration: task_integration,
                number,
            };
            this.run(&slot.integration, force).await
        });
        let shared = async move { task.await.ok() }.boxed().shared();
        in_flight.insert(integration.id.clone(), (number, shared.clone()));
        shared
    }

    async fn run(&self, integration: &Arc<Integration>, force: bool) -> Checked {
        // What the org view found fails the check without a login, unless an operator asks.
        if !force && let Some(failure) = self.state.ahead(&integration.id) {
            let report = runner::Report::ahead(integration, failure);
            let engaged = integration
                .guard
                .then(|| self.state.guard(&integration.id, integration.kind.key))
                .flatten();
            self.record(&report, engaged);
            return Checked::Ran(report);
        }
        if !integration.guard {
            let files = &self.secret_files;
            let (report, _) = runner::run_with(integration, Resolved::new(), files).await;
            self.record(&report, None);
            return Checked::Ran(report);
        }
        let name = integration.id.as_str();
        // Read once: the fingerprint is of exactly what the attempt will send. It is needed
        // only to release an engaged guard or to engage one, so mostly not at all.
        let resolved = resolve_all(&integration.secrets, &self.secret_files);
        let engaged = self.state.guard(name, integration.kind.key);
        let fingerprint = engaged
            .is_some()
            .then(|| self.key.fingerprint(integration, &resolved));
        let now = unix_seconds(SystemTime::now());
        match guard::decide(
            engaged.as_ref(),
            fingerprint.as_deref(),
            now,
            integration.guard_retry,
            force,
        ) {
            Decision::Hold => {
                let engaged = engaged.expect("only an engaged guard holds");
                self.state.held(&integration.id);
                return Checked::Held(engaged);
            }
            Decision::Attempt(Some(release)) => tracing::info!(
                org = %integration.org,
                integration = %integration.name,
                r#type = integration.kind.key,
                "lockout guard released for one attempt: {}",
                release.as_str()
            ),
            Decision::Attempt(None) => {}
        }
        let (report, resolved) = runner::run_with(integration, resolved, &self.secret_files).await;
        let engaged = guard::after(&report.outcome, unix_seconds(report.finished), || {
            fingerprint.unwrap_or_else(|| self.key.fingerprint(integration, &resolved))
        });
        if let Some(engaged) = &engaged {
            tracing::warn!(
                org = %integration.org,
                integration = %integration.name,
                r#type = integration.kind.key,
                reason = engaged.reason.as_str(),
                "lockout guard engaged: no more attempts with these credentials until they change, an operator asks, or {} pass",
                humantime::format_duration(integration.guard_retry)
            );
        }
        self.record(&report, engaged);
        Checked::Ran(report)
    }

    /// The one place a check's result is applied, the same way for every check: the state
    /// keeps it (the record that the metrics' gauges, the page, the API and systemd's
    /// `STATUS=` read, and the file), and the metrics count it. `guard` is the lockout guard's
    /// verdict after it (`None` also for an integration the guard does not watch).
    fn record(&self, report: &runner::Report, guard: Option<Engaged>) {
        self.state.record(report, guard);
        self.metrics.observe(report);
    }
}
