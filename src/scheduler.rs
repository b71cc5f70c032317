//! Runs every active integration on its own cadence: each in a task of its own (so a hung
//! provider delays nobody else), first check soon after start spread by a deterministic jitter,
//! at most `concurrency` checks in flight, `Retry-After` obeyed, the lockout guard consulted
//! (through [`Checker`]), and a check at once when a secret file changes. On shutdown no new check starts
//! and the ones in flight finish (each is bounded by its timeout).

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::{Notify, Semaphore};
use tokio::task::JoinSet;
use tokio::time::{Instant, sleep_until};
use tokio_util::sync::CancellationToken;

use crate::checker::{Checked, Checker};
use crate::config::{Cadence, Integration};

/// The longest first-check delay: start-up checks are spread over at most this long.
const MAX_START_SPREAD: Duration = Duration::from_secs(30);

/// The running schedule: a task per active integration, and the bell that makes one check now.
pub struct Scheduled {
    pub tasks: JoinSet<()>,
    /// Integration name → its task's wake-up call (a secret file changed).
    pub wake: HashMap<String, Arc<Notify>>,
}

/// Starts one task per active integration; they end when `shutdown` is cancelled. `pulse`
/// counts up every second for as long as a check could start (see [`pulse`]).
pub fn spawn(
    integrations: &[Arc<Integration>],
    concurrency: usize,
    checker: Arc<Checker>,
    pulse: Arc<AtomicU64>,
    shutdown: CancellationToken,
) -> Scheduled {
    let permits = Arc::new(Semaphore::new(concurrency));
    let mut tasks = JoinSet::new();
    tasks.spawn(self::pulse(pulse, permits.clone(), shutdown.clone()));
    let mut wake = HashMap::new();
    for integration in integrations.iter().filter(|i| i.active) {
        let bell = Arc::new(Notify::new());
        wake.insert(integration.id.clone(), bell.clone());
        tasks.spawn(run_integration(
            integration.clone(),
            permits.clone(),
            checker.clone(),
            bell,
            shutdown.clone(),
        ));
    }
    Scheduled { tasks, wake }
}

async fn run_integration(
    integration: Arc<Integration>,
    permits: Arc<Semaphore>,
    checker: Arc<Checker>,
    wake: Arc<Notify>,
    shutdown: CancellationToken,
) {
    let mut next = Instant::now() + first_delay(&integration);
    loop {
        tokio::select! {
            _ = sleep_until(next) => {}
            _ = wake.notified() => {
                tracing::info!(org = %integration.org, integration = %integration.name, "a secret file changed: checking now");
            }
            _ = shutdown.cancelled() => return,
        }
        let permit = tokio::select! {
            permit = permits.clone().acquire_owned() => permit.expect("the semaphore is never closed"),
            _ = shutdown.cancelled() => return,
        };
        let started = Instant::now();
        let checked = checker.check(&integration, false).await;
        drop(permit);
        let retry_after = match &checked {
            Checked::Ran(report) => report.outcome.as_ref().err().and_then(|f| f.retry_after),
            Checked::Held(_) => None,
        };
        match next_run(&integration.cadence, started, retry_after) {
            Some(at) => next = at,
            None => {
                tracing::warn!(org = %integration.org, integration = %integration.name, "schedule has no future run; no more checks");
                return;
            }
        }
    }
}

/// The scheduler's proof of life for the systemd watchdog: every second it takes one of the
/// check slots as a check would, and counts. Checks hold slots for at most their timeout, so a
/// pulse that stops for long means the runtime or the scheduler is stuck.
async fn pulse(pulse: Arc<AtomicU64>, permits: Arc<Semaphore>, shutdown: CancellationToken) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            _ = shutdown.cancelled() => return,
        }
        tokio::select! {
            permit = permits.acquire() => drop(permit),
            _ = shutdown.cancelled() => return,
        }
        pulse.fetch_add(1, Ordering::Relaxed);
    }
}

/// The delay before the first check: a stable fraction of the cadence (at most
/// [`MAX_START_SPREAD`]), so that a restart does not check everything at once.
pub fn first_delay(integration: &Integration) -> Duration {
    let window = match &integration.cadence {
        Cadence::Interval(every) => (*every).min(MAX_START_SPREAD),
        Cadence::Schedule(_) => MAX_START_SPREAD,
    };
    let fraction = (fnv1a(integration.id.as_bytes()) % 10_000) as f64 / 10_000.0;
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
