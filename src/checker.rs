//! The door every check goes through, for the scheduler, the API and `credwatch check`: the
//! lockout guard decides whether the provider may be asked at all, at most one check of an
//! integration is in flight (a second caller waits for and shares the first one's result), and
//! what happened lands in the state and the metrics.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use futures_util::FutureExt;
use futures_util::future::{BoxFuture, Shared};

use crate::config::Integration;
use crate::guard::{self, Decision, Engaged, FingerprintKey};
use crate::metrics::Metrics;
use crate::runner::{self, Report};
use crate::secret::resolve_all;
use crate::state::{State, unix_seconds};

/// What asking for a check gave.
#[derive(Debug, Clone)]
pub enum Checked {
    /// The check ran.
    Ran(Report),
    /// The lockout guard held it: no request was made.
    Held(Engaged),
}

type InFlight = Shared<BoxFuture<'static, Option<Checked>>>;

/// Takes a finished (or panicked) check out of `in_flight`, unless a later one replaced it.
struct Leave {
    checker: Arc<Checker>,
    integration: Arc<Integration>,
    number: u64,
}

impl Drop for Leave {
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

/// Runs checks with the guard, one at a time per integration.
pub struct Checker {
    state: Arc<State>,
    metrics: Arc<Metrics>,
    key: FingerprintKey,
    /// Integration id → the check of it in flight, with a number telling that check from a
    /// later one of the same integration.
    in_flight: Mutex<HashMap<String, (u64, InFlight)>>,
    started: AtomicU64,
}

impl Checker {
    /// `key` fingerprints credentials for the guard (see [`FingerprintKey::load`]).
    pub fn new(state: Arc<State>, metrics: Arc<Metrics>, key: FingerprintKey) -> Arc<Self> {
        Arc::new(Self {
            state,
            metrics,
            key,
            in_flight: Mutex::new(HashMap::new()),
            started: AtomicU64::new(0),
        })
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
        let task = tokio::spawn(async move {
            let leave = Leave {
                checker: this.clone(),
                integration: task_integration,
                number,
            };
            this.run(&leave.integration, force).await
        });
        let shared = async move { task.await.ok() }.boxed().shared();
        in_flight.insert(integration.id.clone(), (number, shared.clone()));
        shared
    }

    async fn run(&self, integration: &Arc<Integration>, force: bool) -> Checked {
        if !integration.guard {
            let report = runner::run(integration).await;
            self.state.record(&report, None);
            self.metrics.observe(&report);
            return Checked::Ran(report);
        }
        let name = integration.id.as_str();
        // Read once: the fingerprint is of exactly what the attempt will send. It is needed
        // only to release an engaged guard or to engage one, so mostly not at all.
        let resolved = resolve_all(&integration.secrets);
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
                self.state.held(name);
                self.metrics.held(integration, &engaged);
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
        let (report, resolved) = runner::run_with(integration, resolved).await;
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
        self.metrics.observe(&report);
        self.metrics.set_guard(integration, engaged.is_some());
        self.state.record(&report, engaged);
        Checked::Ran(report)
    }
}
