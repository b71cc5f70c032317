//! systemd's notification protocol (`Type=notify`, through the `sd-notify` crate): `READY=1` once
//! the config is loaded and the HTTP server listens, `RELOADING=1` with `MONOTONIC_USEC` then
//! `READY=1` around each reload, `STOPPING=1` on shutdown, `STATUS=` lines a person can read,
//! and `WATCHDOG=1` only while the scheduler shows it can still start checks. Without
//! `NOTIFY_SOCKET` every call does nothing.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use sd_notify::NotifyState;
use tokio_util::sync::CancellationToken;

/// How often `STATUS=` is refreshed when systemd asks for no watchdog.
const STATUS_EVERY: Duration = Duration::from_secs(15);

fn send(states: &[NotifyState]) {
    if let Err(e) = sd_notify::notify(states) {
        tracing::debug!("cannot notify the service manager: {e}");
    }
}

/// The service is up: config loaded, HTTP served.
pub fn ready(status: &str) {
    send(&[NotifyState::Ready, NotifyState::Status(status)]);
}

/// A reload begins (systemd 253+ wants the monotonic time with it).
pub fn reloading() {
    match NotifyState::monotonic_usec_now() {
        Ok(now) => send(&[
            NotifyState::Reloading,
            now,
            NotifyState::Status("reloading the config"),
        ]),
        Err(_) => send(&[NotifyState::Reloading]),
    }
}

/// The service stops.
pub fn stopping() {
    send(&[
        NotifyState::Stopping,
        NotifyState::Status("stopping: letting the checks in flight finish"),
    ]);
}

/// Whether a service manager listens at all.
pub fn enabled() -> bool {
    std::env::var_os("NOTIFY_SOCKET").is_some()
}

/// Pings the watchdog (at half its period) while `pulse` moves, and refreshes `STATUS=`. The
/// pulse is the scheduler's proof of life (see [`crate::scheduler::spawn`]): when it stops, so
/// do the pings, and systemd restarts the service after `WatchdogSec`.
pub async fn watchdog(
    pulse: Arc<AtomicU64>,
    status: impl Fn() -> String,
    shutdown: CancellationToken,
) {
    let watchdog = sd_notify::watchdog_enabled();
    let every = watchdog.map_or(STATUS_EVERY, |period| period / 2);
    let mut last = pulse.load(Ordering::Relaxed);
    let mut stalled = false;
    loop {
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = shutdown.cancelled() => return,
        }
        let status = status();
        let now = pulse.load(Ordering::Relaxed);
        let alive = now != last;
        last = now;
        match (watchdog.is_some(), alive) {
            (true, true) => {
                if stalled {
                    tracing::info!("the scheduler starts checks again; watchdog pings resume");
                    stalled = false;
                }
                send(&[NotifyState::Watchdog, NotifyState::Status(&status)]);
            }
            (true, false) => {
                if !stalled {
                    tracing::error!(
                        "the scheduler has not been able to start a check for {}; no watchdog ping (systemd restarts credwatch after WatchdogSec)",
                        humantime::format_duration(every)
                    );
                    stalled = true;
                }
                send(&[NotifyState::Status(&status)]);
            }
            (false, _) => send(&[NotifyState::Status(&status)]),
        }
    }
}
