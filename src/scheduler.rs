//! Runs every active integration on its own cadence: each in a task of its own (so a hung
//! provider delays nobody else), first check soon after start spread by a deterministic jitter,
//! at most `concurrency` checks in flight, `Retry-After` obeyed. On shutdown no new check starts
//! and the ones in flight finish (each is bounded by its timeout).

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio::time::{Instant, sleep_until};
use tokio_util::sync::CancellationToken;

use crate::config::{Cadence, Integration};
use crate::metrics::Metrics;
use crate::runner;
use crate::state::State;

/// The longest first-check delay: start-up checks are spread over at most this long.
const MAX_START_SPREAD: Duration = Duration::from_secs(30);

/// Where check results go.
#[derive(Clone)]
pub struct Sinks {
    pub state: Arc<State>,
    pub metrics: Arc<Metrics>,
}

/// Starts one task per active integration; they end when `shutdown` is cancelled.
pub fn spawn(
    integrations: &[Arc<Integration>],
    concurrency: usize,
    sinks: Sinks,
    shutdown: CancellationToken,
) -> JoinSet<()> {
    let permits = Arc::new(Semaphore::new(concurrency));
    let mut tasks = JoinSet::new();
    for integration in integrations.iter().filter(|i| i.active) {
        tasks.spawn(run_integration(
            integration.clone(),
            permits.clone(),
            sinks.clone(),
            shutdown.clone(),
        ));
    }
    tasks
}

async fn run_integration(
    integration: Arc<Integration>,
    permits: Arc<Semaphore>,
    sinks: Sinks,
    shutdown: CancellationToken,
) {
    let mut next = Instant::now() + first_delay(&integration);
    loop {
        tokio::select! {
            _ = sleep_until(next) => {}
            _ = shutdown.cancelled() => return,
        }
        let permit = tokio::select! {
            permit = permits.clone().acquire_owned() => permit.expect("the semaphore is never closed"),
            _ = shutdown.cancelled() => return,
        };
        let started = Instant::now();
        let report = runner::run(&integration).await;
        drop(permit);
        sinks.state.record(&report);
        sinks.metrics.observe(&report);
        let retry_after = report.outcome.as_ref().err().and_then(|f| f.retry_after);
        match next_run(&integration.cadence, started, retry_after) {
            Some(at) => next = at,
            None => {
                tracing::warn!(integration = %integration.name, "schedule has no future run; no more checks");
                return;
            }
        }
    }
}

/// The delay before the first check: a stable fraction of the cadence (at most
/// [`MAX_START_SPREAD`]), so that a restart does not check everything at once.
pub fn first_delay(integration: &Integration) -> Duration {
    let window = match &integration.cadence {
        Cadence::Interval(every) => (*every).min(MAX_START_SPREAD),
        Cadence::Schedule(_) => MAX_START_SPREAD,
    };
    let fraction = (fnv1a(integration.name.as_bytes()) % 10_000) as f64 / 10_000.0;
    window.mul_f64(fraction)
}

/// When to check next, given when this check started and how long the provider asked us to wait.
fn next_run(cadence: &Cadence, started: Instant, retry_after: Option<Duration>) -> Option<Instant> {
    let now = Instant::now();
    let planned = match cadence {
        Cadence::Interval(every) => (started + *every).max(now),
        Cadence::Schedule(schedule) => {
            let at = schedule.upcoming(chrono::Utc).next()?;
            let wait = (at - chrono::Utc::now()).to_std().unwrap_or_default();
            now + wait
        }
    };
    Some(match retry_after {
        Some(wait) => planned.max(now + wait),
        None => planned,
    })
}

/// FNV-1a: a hash that is the same on every build and platform, unlike `DefaultHasher`.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_pushes_the_next_run_back() {
        let started = Instant::now();
        let cadence = Cadence::Interval(Duration::from_secs(10));
        let plain = next_run(&cadence, started, None).unwrap();
        assert!(plain >= started + Duration::from_secs(10));
        let later = next_run(&cadence, started, Some(Duration::from_secs(60))).unwrap();
        assert!(later >= started + Duration::from_secs(60));
    }

    #[test]
    fn fnv_is_stable() {
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
    }
}
