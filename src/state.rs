//! What credwatch remembers: the last report of every integration (in memory, for readiness and
//! the API) and each integration's last success (on disk, replaced atomically), so that
//! `credwatch_check_last_success_timestamp_seconds` survives restarts.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::runner::Report;

/// The state file's name inside `state_dir`.
pub const STATE_FILE: &str = "state.json";

/// Shared, thread-safe state.
#[derive(Debug)]
pub struct State {
    file: PathBuf,
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    last: HashMap<String, Report>,
    saved: Saved,
    dirty: bool,
}

/// The on-disk form.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Saved {
    /// Integration name → unix seconds of its last success.
    #[serde(default)]
    last_success: BTreeMap<String, f64>,
}

impl State {
    /// Loads `state_dir/state.json`; a missing file is a fresh start, an unreadable one a
    /// warning (credwatch keeps running and will replace it).
    pub fn load(state_dir: &Path) -> Self {
        let file = state_dir.join(STATE_FILE);
        let saved = match std::fs::read(&file) {
            Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or_else(|e| {
                tracing::warn!(file = %file.display(), "ignoring unreadable state file: {e}");
                Saved::default()
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Saved::default(),
            Err(e) => {
                tracing::warn!(file = %file.display(), "cannot read state file: {e}");
                Saved::default()
            }
        };
        Self {
            file,
            inner: Mutex::new(Inner {
                saved,
                ..Inner::default()
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Remembers a report.
    pub fn record(&self, report: &Report) {
        let mut inner = self.lock();
        if report.outcome.is_ok() {
            let seconds = unix_seconds(report.finished);
            inner
                .saved
                .last_success
                .insert(report.integration.name.clone(), seconds);
            inner.dirty = true;
        }
        inner
            .last
            .insert(report.integration.name.clone(), report.clone());
    }

    /// Unix seconds of the integration's last success, this run or an earlier one.
    pub fn last_success(&self, name: &str) -> Option<f64> {
        self.lock().saved.last_success.get(name).copied()
    }

    /// The integration's latest report of this run.
    pub fn last_report(&self, name: &str) -> Option<Report> {
        self.lock().last.get(name).cloned()
    }

    /// Writes the state file if anything changed (write to a temporary file, then rename).
    pub fn save(&self) -> std::io::Result<()> {
        let bytes = {
            let mut inner = self.lock();
            if !inner.dirty {
                return Ok(());
            }
            inner.dirty = false;
            serde_json::to_vec_pretty(&inner.saved).expect("state serialises")
        };
        let result = write_atomically(&self.file, &bytes);
        if result.is_err() {
            self.lock().dirty = true;
        }
        result
    }
}

fn write_atomically(file: &Path, bytes: &[u8]) -> std::io::Result<()> {
    if let Some(dir) = file.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = file.with_extension("json.tmp");
    std::fs::write(&tmp, bytes)?;
    std::fs::File::open(&tmp)?.sync_all()?;
    std::fs::rename(&tmp, file)
}

/// Seconds since the epoch, as Prometheus timestamps want them.
pub fn unix_seconds(time: SystemTime) -> f64 {
    time.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}
