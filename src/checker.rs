//! The door every check goes through, for the scheduler, the API and `credwatch check`: the
//! lockout guard decides whether the provider may be asked at all, at most one check of an
//! integration is in flight (a second caller waits for and shares the first one's result), and
//! what happened lands in the state and the metrics.

use std::collections::HashMap;
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

/// Runs checks with the guard, one at a time per integration.
pub struct Checker {
    state: Arc<State>,
    metrics: Arc<Metrics>,
    key: FingerprintKey,
    in_flight: Mutex<HashMap<String, InFlight>>,
}

impl Checker {
    /// `key` fingerprints credentials for the guard (see [`FingerprintKey::load`]).
    pub fn new(state: Arc<State>, metrics: Arc<Metrics>, key: FingerprintKey) -> Arc<Self> {
        Arc::new(Self {
            state,
            metrics,
            key,
            in_flight: Mutex::new(HashMap::new()),
        })
    }

    /// Checks the integration now, unless the guard holds it; `force` is an operator's request
    /// and bypasses the guard for this one attempt. A check of the same integration already in
    /// flight is joined instead of starting a second one.
    pub async fn check(self: &Arc<Self>, integration: &Arc<Integration>, force: bool) -> Checked {
        loop {
            let shared = self.join_or_start(integration, force);
            let checked = shared.clone().await;
            {
                let mut in_flight = self.in_flight.lock().unwrap_or_else(|p| p.into_inner());
                if in_flight
                    .get(&integration.id)
                    .is_some_and(|running| running.ptr_eq(&shared))
                {
                    in_flight.remove(&integration.id);
                }
            }
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
        if let Some(running) = in_flight.get(&integration.id) {
            return running.clone();
        }
        let this = self.clone();
        let task_integration = integration.clone();
        // A task of its own: the check finishes (and is recorded) even when the caller goes
        // away, e.g. an HTTP client that hangs up.
        let task = tokio::spawn(async move { this.run(&task_integration, force).await });
        let shared = async move { task.await.ok() }.boxed().shared();
        in_flight.insert(integration.id.clone(), shared.clone());
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
        // Read once: the fingerprint is of exactly what the attempt will send.
        let resolved = resolve_all(&integration.secrets);
        let fingerprint = Some(self.key.fingerprint(integration, &resolved));
        let engaged = self.state.guard(name, integration.kind.key);
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
        let report = runner::run_with(integration, resolved).await;
        let engaged = guard::after(&report.outcome, fingerprint, unix_seconds(report.finished));
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
