//! The state saver: writes the state file after it changes, paced by the file's size and the
//! cost of the last write, and at once when a lockout guard engaged or released.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::state::{Saved, State};

/// Saves the state after it changes, on the blocking pool. Between two saves it pauses at
/// least [`SAVE_PAUSE`], and longer for a large state: 50 times what the last save took (saving
/// costs at most 2 % of a core) and its size at [`SAVE_BYTES_PER_SECOND`] (the disk is not worn
/// by a file rewritten over and over), at most [`SAVE_PAUSE_MAX`]. A lockout guard that engaged
/// or released does not wait for that: it is on disk within about [`URGENT_WITHIN`].
pub(super) async fn save_periodically(state: Arc<State>, shutdown: CancellationToken) {
    let mut failing = false;
    let mut pause = SAVE_PAUSE;
    loop {
        tokio::select! {
            _ = state.changed() => {}
            _ = shutdown.cancelled() => return,
        }
        let saving = state.clone();
        let saved = tokio::task::spawn_blocking(move || saving.save())
            .await
            .unwrap_or_else(|e| Err(std::io::Error::other(e)));
        // Warn when saving starts failing and when it recovers, not at every change.
        match saved {
            Err(e) if !failing => {
                failing = true;
                tracing::warn!(
                    "cannot save state (results and the lockout guard will not survive a restart): {e}"
                );
            }
            Err(e) => tracing::debug!("still cannot save state: {e}"),
            Ok(saved) => {
                if failing {
                    failing = false;
                    tracing::info!("state saved again");
                }
                pause = save_pause(saved);
            }
        }
        // Sleep the pause in short steps, so that a guard change cuts it short.
        let until = tokio::time::Instant::now() + pause;
        let mut next = tokio::time::Instant::now() + URGENT_WITHIN;
        loop {
            tokio::select! {
                _ = tokio::time::sleep_until(next.min(until)) => {}
                _ = shutdown.cancelled() => return,
            }
            if next >= until || state.urgent() {
                break;
            }
            next += URGENT_WITHIN;
        }
    }
}

/// The pause after a save (see [`save_periodically`]).
fn save_pause(saved: Saved) -> Duration {
    let by_cost = saved.took * 50;
    let by_size = Duration::from_secs_f64(saved.bytes as f64 / SAVE_BYTES_PER_SECOND);
    by_cost.max(by_size).clamp(SAVE_PAUSE, SAVE_PAUSE_MAX)
}

/// The least time between two writes of the state file: a small config checked often is not
/// rewritten (and synced) every second; a crash loses at most this long's results.
const SAVE_PAUSE: Duration = Duration::from_secs(10);
/// How soon an engaged or released lockout guard is on disk, whatever the pause.
const URGENT_WITHIN: Duration = Duration::from_secs(1);
/// The most time between two writes of a changed state file.
const SAVE_PAUSE_MAX: Duration = Duration::from_secs(300);
/// How fast, on average, the state file may be rewritten.
const SAVE_BYTES_PER_SECOND: f64 = 256.0 * 1024.0;
