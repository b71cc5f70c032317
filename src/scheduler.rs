//! Runs every active integration on its own cadence: one task keeps the schedule, each check
//! runs in a task of its own (so a hung provider delays nobody else), at most `concurrency`
//! checks in flight, `Retry-After` obeyed, the lockout guard consulted (through [`Checker`]),
//! and a check at once when a secret file changes. On shutdown no new check starts and the ones
//! in flight finish (each is bounded by its timeout).
//!
//! An interval cadence runs on a wall-clock grid: integration `id` with interval `every` is
//! checked at `phase(id) + k × every` seconds after the Unix epoch, the phase a stable hash of
//! the id spread over the whole interval. So checks are spread evenly over each interval, and a
//! restart or a reload does not move them: an integration checked within its last interval
//! waits for its next grid point; one never checked (or changed by a reload) is checked soon,
//! spread over at most [`MAX_START_SPREAD`], and then joins the grid. Due checks wait for each
//! other to share a wake-up of the process: the schedule wakes when [`BATCH`] are due, or
//! [`GATHER`] after the first is. A check therefore starts up to that much late, never early
//! (a provider's `Retry-After` is honoured to the millisecond).

use std::collections::{BTreeSet, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::sync::{Semaphore, mpsc};
use tokio::task::JoinSet;
use tokio::time::{Instant, sleep_until};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::checker::{Checked, Checker};
use crate::integration::{Cadence, Integration};

/// How long a due check may wait for others to start with: one wake-up of the process for many
/// checks costs far less CPU than one each (the benchmark: basic checks at 50 per second cost
/// 0.14 ms each when started within 25 ms of their time, 0.09 ms within 250 ms).
const GATHER: Duration = Duration::from_millis(250);

/// How many due checks start together at most, unless more are due at once: enough to share
/// the wake-up, few enough that a busy schedule does not hold hundreds of connections at once.
const BATCH: usize = 16;

/// The longest first-check delay: start-up checks are spread over at most this long.
const MAX_START_SPREAD: Duration = Duration::from_secs(30);

/// Rings integrations of the schedule by id: each is checked at once (after its check in
/// flight, if any).
#[derive(Clone)]
pub struct Wake {
    /// The schedule's integrations (shared with it).
    scheduled: Arc<[Arc<Integration>]>,
    /// Their places, sorted by id: 4 bytes an integration, no copy of the ids.
    by_id: Arc<[u32]>,
    tx: mpsc::UnboundedSender<usize>,
}

impl Wake {
    fn new(scheduled: Arc<[Arc<Integration>]>, tx: mpsc::UnboundedSender<usize>) -> Self {
        let count = u32::try_from(scheduled.len()).expect("fewer than 4 billion integrations");
        let mut by_id: Vec<u32> = (0..count).collect();
        by_id.sort_unstable_by(|a, b| scheduled[*a as usize].id.cmp(&scheduled[*b as usize].id));
        Self {
            scheduled,
            by_id: by_id.into(),
            tx,
        }
    }

    /// Asks for a check of the integration `id` now; an id the schedule does not check (an
    /// inactive integration, one a reload removed) is ignored.
    pub fn ring(&self, id: &str) {
        let place = self
            .by_id
            .binary_search_by(|n| self.scheduled[*n as usize].id.as_str().cmp(id));
        if let Ok(place) = place {
            let _ = self.tx.send(self.by_id[place] as usize);
        }
    }
}

/// The integrations a schedule checks.
pub fn scheduled(integrations: &[Arc<Integration>]) -> impl Iterator<Item = &Arc<Integration>> {
    integrations.iter().filter(|i| i.active)
}

/// Starts the schedule of the active integrations in `tasks`, taking `permits` (the
/// `concurrency` slots, shared with forced checks) for each check; it ends when `shutdown` is
/// cancelled, once the checks in flight have finished. `pulse` counts up every second for as
/// long as a check could start (see [`pulse`]). Integrations in `changed` (new or edited by a
/// reload) are checked soon even when checked recently. Returns what asks for a check now.
pub fn spawn(
    integrations: &[Arc<Integration>],
    permits: Arc<Semaphore>,
    checker: Arc<Checker>,
    pulse: Arc<AtomicU64>,
    shutdown: CancellationToken,
    changed: &HashSet<String>,
    tasks: &TaskTracker,
) -> Wake {
    tasks.spawn(self::pulse(pulse, permits.clone(), shutdown.clone()));
    let active: Arc<[Arc<Integration>]> = scheduled(integrations).cloned().collect();
    let first = active
        .iter()
        .map(|i| first_run(i, checker.last_started(i), changed.contains(&i.id)))
        .collect();
    let (tx, rx) = mpsc::unbounded_channel();
    let schedule = Schedule {
        integrations: active.clone(),
        permits,
        checker,
        shutdown,
    };
    tasks.spawn(schedule.run(first, rx));
    Wake::new(active, tx)
}

/// One task for the whole schedule: a queue of planned runs, each due check started in a task
/// of its own (so a hung provider delays nobody else). Tens of thousands of integrations cost
/// a queue entry each rather than a task each.
struct Schedule {
    integrations: Arc<[Arc<Integration>]>,
    permits: Arc<Semaphore>,
    checker: Arc<Checker>,
    shutdown: CancellationToken,
}

/// Where an integration is in its schedule.
#[derive(Clone, Copy, PartialEq)]
enum Slot {
    /// Waiting for its planned run.
    Planned(Instant),
    /// Its check is running; `rung` says a check was asked for meanwhile.
    Running { rung: bool },
    /// Its schedule has no future run.
    Done,
}

impl Schedule {
    async fn run(self, first: Vec<Instant>, mut wakes: mpsc::UnboundedReceiver<usize>) {
        let this = Arc::new(self);
        let mut slots: Vec<Slot> = first.iter().map(|at| Slot::Planned(*at)).collect();
        let mut queue: BTreeSet<(Instant, usize)> = first
            .into_iter()
            .enumerate()
            .map(|(n, at)| (at, n))
            .collect();
        let (done_tx, mut done) = mpsc::unbounded_channel::<(usize, Option<Instant>)>();
        let mut running = JoinSet::new();
        loop {
            let due = wake_up(&queue);
            tokio::select! {
                _ = this.shutdown.cancelled() => break,
                _ = sleep_until(due.unwrap_or_else(Instant::now)), if due.is_some() => {
                    let now = Instant::now();
                    while let Some((at, n)) = queue.first().copied() {
                        if at > now {
                            break;
                        }
                        queue.pop_first();
                        // Entries of runs a wake-up replaced are stale: skip them.
                        if slots[n] == Slot::Planned(at) {
                            slots[n] = Slot::Running { rung: false };
                            running.spawn(this.clone().check(n, Some(at), done_tx.clone()));
                        }
                    }
                }
                Some(n) = wakes.recv() => match &mut slots[n] {
                    Slot::Running { rung } => *rung = true,
                    slot => {
                        let integration = &this.integrations[n];
                        tracing::info!(org = %integration.org, integration = %integration.name, "a secret file changed: checking now");
                        *slot = Slot::Running { rung: false };
                        running.spawn(this.clone().check(n, None, done_tx.clone()));
                    }
                },
                Some((n, next)) = done.recv() => match (slots[n], next) {
                    (Slot::Running { rung: true }, _) => {
                        slots[n] = Slot::Running { rung: false };
                        running.spawn(this.clone().check(n, None, done_tx.clone()));
                    }
                    (_, Some(at)) => {
                        slots[n] = Slot::Planned(at);
                        queue.insert((at, n));
                    }
                    (_, None) => {
                        let integration = &this.integrations[n];
                        tracing::warn!(org = %integration.org, integration = %integration.name, "schedule has no future run; no more checks");
                        slots[n] = Slot::Done;
                    }
                },
                Some(_) = running.join_next(), if !running.is_empty() => {}
            }
        }
        // No new checks; the ones in flight finish (each is bounded by its timeout).
        while running.join_next().await.is_some() {}
    }

    /// Checks integration `n` (planned for `planned`, or asked for now) and reports when to
    /// check it next.
    async fn check(
        self: Arc<Self>,
        n: usize,
        planned: Option<Instant>,
        done: mpsc::UnboundedSender<(usize, Option<Instant>)>,
    ) {
        let integration = &self.integrations[n];
        let permit = tokio::select! {
            permit = self.permits.acquire() => permit.expect("the semaphore is never closed"),
            _ = self.shutdown.cancelled() => return,
        };
        let started = SystemTime::now();
        if let Some(planned) = planned {
            self.checker
                .started_late(Instant::now().saturating_duration_since(planned));
        }
        let checked = self.checker.check(integration, false).await;
        drop(permit);
        let retry_after = match &checked {
            Checked::Ran(report) => report.outcome.as_ref().err().and_then(|f| f.retry_after),
            Checked::Held(_) => None,
        };
        let _ = done.send((n, next_run(integration, started, retry_after)));
    }
}

/// When the schedule wakes next: when [`BATCH`] planned runs are due, or [`GATHER`] after the
/// first is, whichever comes first. Never before the first is due.
fn wake_up(queue: &BTreeSet<(Instant, usize)>) -> Option<Instant> {
    let (first, _) = queue.first()?;
    let gathered = first.checked_add(GATHER).unwrap_or(*first);
    Some(match queue.iter().nth(BATCH - 1) {
        Some((batch, _)) => gathered.min(*batch),
        None => gathered,
    })
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

/// When to check first: soon (see [`first_delay`]) unless the integration was checked within
/// its last period and is not `changed`; then at its next planned run.
fn first_run(integration: &Integration, last_started: Option<f64>, changed: bool) -> Instant {
    let soon = Instant::now() + first_delay(integration);
    let (Some(last), Some(period)) = (last_started, integration.cadence.period()) else {
        return soon;
    };
    let now = SystemTime::now();
    let last = UNIX_EPOCH + Duration::from_secs_f64(last.max(0.0));
    if changed || last + period <= now || last > now {
        return soon;
    }
    next_run(integration, last, None).unwrap_or(soon)
}

/// When to check next, given when the last check started and how long the provider asked us to
/// wait: the first grid point at least half an interval after that start (so a late check does
/// not shift the grid), or the next cron time.
fn next_run(
    integration: &Integration,
    started: SystemTime,
    retry_after: Option<Duration>,
) -> Option<Instant> {
    let now = SystemTime::now();
    let planned = match &integration.cadence {
        Cadence::Interval(every) => {
            on_grid(&integration.id, *every, (started + *every / 2).max(now))
        }
        Cadence::Schedule(schedule) => schedule.upcoming(chrono::Utc).next()?.into(),
    };
    let at = match retry_after {
        Some(wait) => planned.max(now + wait),
        None => planned,
    };
    Some(Instant::now() + at.duration_since(now).unwrap_or_default())
}

/// The first time at or after `after` on the grid of `id` with interval `every`.
pub fn on_grid(id: &str, every: Duration, after: SystemTime) -> SystemTime {
    let every = every.as_nanos().max(1);
    let phase = (every as f64 * phase_fraction(id)) as u128;
    let after = after
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos();
    let rounds = after.saturating_sub(phase).div_ceil(every);
    let at = rounds * every + phase;
    UNIX_EPOCH + Duration::from_nanos(u64::try_from(at).unwrap_or(u64::MAX))
}

/// Where in its interval an integration is checked: a stable fraction in [0, 1).
fn phase_fraction(id: &str) -> f64 {
    (fnv1a(id.as_bytes()) % 1_000_000) as f64 / 1_000_000.0
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

    /// The schedule's places rung by id, whatever the order of the config; unknown and
    /// inactive ids ring nothing.
    #[test]
    fn wakes_ring_integrations_by_id() {
        let text: String = ["b", "a", "c", "off"]
            .iter()
            .map(|name| {
                let active = if *name == "off" { "active = false\n" } else { "" };
                format!(
                    "[[integration]]\ntype = \"zendesk\"\nname = \"{name}\"\n{active}[integration.credentials]\nemail = \"a@b.c\"\nbase_url = \"https://x.zendesk.com\"\napi_token = {{ env = \"T\" }}\n"
                )
            })
            .collect();
        let config = crate::config::Config::parse("test.toml", &text).unwrap();
        let active: Arc<[Arc<Integration>]> = scheduled(&config.integrations).cloned().collect();
        let (tx, mut rx) = mpsc::unbounded_channel();
        let wake = Wake::new(active.clone(), tx);
        for id in [
            "default/c",
            "default/b",
            "default/a",
            "default/off",
            "default/z",
        ] {
            wake.ring(id);
        }
        let mut rung = Vec::new();
        while let Ok(n) = rx.try_recv() {
            rung.push(active[n].id.as_str());
        }
        assert_eq!(rung, ["default/c", "default/b", "default/a"]);
    }

    fn integration(every: Duration) -> Integration {
        let text = format!(
            "[[integration]]\ntype = \"zendesk\"\nname = \"Z\"\ninterval = \"{}s\"\n[integration.credentials]\nemail = \"a@b.c\"\nbase_url = \"https://x.zendesk.com\"\napi_token = {{ env = \"T\" }}\n",
            every.as_secs()
        );
        let config = crate::config::Config::parse("test.toml", &text).unwrap();
        Arc::into_inner(config.integrations.into_iter().next().unwrap()).unwrap()
    }

    #[test]
    fn due_checks_gather_never_starting_early() {
        let now = Instant::now();
        let ms = Duration::from_millis;
        assert_eq!(wake_up(&BTreeSet::new()), None);
        // Few runs: the first waits GATHER for others.
        let few: BTreeSet<_> = [(now + ms(10), 0), (now + ms(100), 1)].into();
        assert_eq!(wake_up(&few), Some(now + ms(10) + GATHER));
        // Many: the wake-up comes when BATCH are due.
        let many: BTreeSet<_> = (0..100).map(|n| (now + ms(n as u64), n)).collect();
        assert_eq!(wake_up(&many), Some(now + ms(BATCH as u64 - 1)));
        // Never before the first is due.
        let at_once: BTreeSet<_> = (0..100).map(|n| (now + ms(50), n)).collect();
        assert_eq!(wake_up(&at_once), Some(now + ms(50)));
    }

    #[test]
    fn retry_after_pushes_the_next_run_back() {
        let integration = integration(Duration::from_secs(10));
        let started = SystemTime::now();
        let plain = next_run(&integration, started, None).unwrap();
        assert!(plain >= Instant::now() + Duration::from_secs(4));
        let later = next_run(&integration, started, Some(Duration::from_secs(60))).unwrap();
        assert!(later >= Instant::now() + Duration::from_secs(59));
    }

    #[test]
    fn the_grid_is_every_interval_at_the_phase() {
        let every = Duration::from_secs(60);
        let after = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let first = on_grid("org/a", every, after);
        assert!(first >= after && first < after + every);
        // The same point from anywhere in the round before it, and one interval later after it.
        assert_eq!(
            on_grid("org/a", every, first - Duration::from_secs(59)),
            first
        );
        assert_eq!(on_grid("org/a", every, first), first);
        assert_eq!(
            on_grid("org/a", every, first + Duration::from_millis(1)),
            first + every
        );
    }

    #[test]
    fn phases_spread_over_the_whole_interval() {
        let every = Duration::from_secs(60);
        let after = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let mut per_second = [0u32; 60];
        for n in 0..6000 {
            let at = on_grid(&format!("org-{}/google {n:03}", n % 25), every, after);
            per_second[(at.duration_since(after).unwrap().as_secs() % 60) as usize] += 1;
        }
        // 100 a second on average; a fair hash keeps every second well within twice that.
        assert!(
            per_second.iter().all(|&n| (50..200).contains(&n)),
            "{per_second:?}"
        );
    }

    #[test]
    fn recently_checked_integrations_wait_for_their_grid_point() {
        let integration = integration(Duration::from_secs(600));
        let now = unix_now();
        // Checked a minute ago: the next run is on the grid, more than 4 minutes away.
        let first = first_run(&integration, Some(now - 60.0), false);
        assert!(first >= Instant::now() + Duration::from_secs(239));
        // Changed by a reload, never checked, or checked long ago: soon.
        let soon = Instant::now() + MAX_START_SPREAD + Duration::from_secs(1);
        assert!(first_run(&integration, Some(now - 60.0), true) < soon);
        assert!(first_run(&integration, None, false) < soon);
        assert!(first_run(&integration, Some(now - 601.0), false) < soon);
    }

    fn unix_now() -> f64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs_f64()
    }

    #[test]
    fn fnv_is_stable() {
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
    }
}
