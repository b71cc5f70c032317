//! What credwatch remembers about each integration, in memory and in `state_dir/state.json`:
//! the last 20 results, the last success, the lockout guard with the fingerprint of the
//! credentials that failed. The daemon saves it shortly after every change (see [`State::save`]);
//! `credwatch check` reads it to honour the guard.

mod file;

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use tokio::sync::Notify;

pub use file::STATE_FILE;

use crate::guard::Engaged;
use crate::outcome::FailureReason;
use crate::runner::Report;

/// How many results each integration keeps.
pub const HISTORY: usize = 20;

/// What credwatch remembers of one integration.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Record {
    /// The integration's type when last checked: a record of another type is not its own.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Unix seconds of the last success.
    #[serde(default)]
    pub last_success: Option<f64>,
    /// Expiry of the token the last success minted, unix seconds.
    #[serde(default)]
    pub token_expiry: Option<f64>,
    /// `notAfter` of the mTLS client certificate, when last seen, unix seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_certificate_expiry: Option<f64>,
    /// `notAfter` of the soonest server certificate, when last seen, unix seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_certificate_expiry: Option<f64>,
    /// The lockout guard, while engaged.
    #[serde(default)]
    pub guard: Option<Engaged>,
    /// The last results, oldest first.
    #[serde(default)]
    pub history: VecDeque<Entry>,
}

impl Record {
    /// The latest result.
    pub fn last(&self) -> Option<&Entry> {
        self.history.back()
    }
}

/// One result, in 24 bytes, because tens of thousands of integrations keep twenty each: times
/// in milliseconds, the result as the failure reason (none for a success), and a failure's
/// message shared with the result before when it is the same text.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(into = "EntryJson", try_from = "EntryJson")]
pub struct Entry {
    /// When the check ended, unix milliseconds.
    pub time_ms: u64,
    /// How long it took, in milliseconds.
    pub duration_ms: u32,
    /// Why it failed; `None` for a success.
    pub failure: Option<FailureReason>,
    /// The failure's message (free of secrets); absent on success.
    pub message: Option<Arc<String>>,
}

const _: () = assert!(std::mem::size_of::<Entry>() == 24);

impl Entry {
    /// `success` or the failure reason.
    pub fn result(&self) -> &'static str {
        self.failure.map_or("success", FailureReason::as_str)
    }

    /// How long it took, in seconds.
    pub fn duration_seconds(&self) -> f64 {
        f64::from(self.duration_ms) / 1000.0
    }

    /// When the check ended, unix seconds.
    pub fn time(&self) -> f64 {
        self.time_ms as f64 / 1000.0
    }
}

/// [`Entry`] as the state file and the API write it.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct EntryJson {
    time: f64,
    duration_seconds: f64,
    /// `success` or the failure reason.
    result: String,
    #[serde(default)]
    message: Option<String>,
}

impl From<Entry> for EntryJson {
    fn from(entry: Entry) -> Self {
        Self {
            time: entry.time(),
            duration_seconds: entry.duration_seconds(),
            result: entry.result().to_string(),
            message: entry.message.map(Arc::unwrap_or_clone),
        }
    }
}

impl TryFrom<EntryJson> for Entry {
    type Error = String;

    fn try_from(json: EntryJson) -> Result<Self, String> {
        let failure = match json.result.as_str() {
            "success" => None,
            other => Some(
                FailureReason::ALL
                    .into_iter()
                    .find(|reason| reason.as_str() == other)
                    .ok_or_else(|| format!("unknown result {other:?}"))?,
            ),
        };
        Ok(Self {
            time_ms: (json.time * 1000.0).round().max(0.0) as u64,
            duration_ms: millis(json.duration_seconds),
            failure,
            message: json.message.map(Arc::new),
        })
    }
}

/// Shared, thread-safe state.
#[derive(Debug)]
pub struct State {
    file: PathBuf,
    /// Why the file could not be read, when it exists but could not be (permissions).
    unreadable: Option<String>,
    inner: Mutex<Inner>,
    changed: Notify,
}

#[derive(Debug, Default)]
struct Inner {
    records: BTreeMap<String, Record>,
    /// Integrations checked or held by the guard in this run: readiness.
    seen: HashSet<String>,
    /// Something changed since the last save.
    dirty: bool,
    /// A lockout guard engaged, released or changed since the last save: save soon, whatever
    /// the pause between saves.
    urgent: bool,
}

/// What a save wrote.
#[derive(Debug, Clone, Copy, Default)]
pub struct Saved {
    /// The file's size; 0 when nothing had changed and nothing was written.
    pub bytes: u64,
    /// How long writing took.
    pub took: std::time::Duration,
}

impl State {
    /// Loads `state_dir/state.json`, or starts afresh (a bad file is moved aside and warned
    /// about: credwatch never refuses to start because of its state).
    /// Records of earlier layouts, keyed by name alone, go to `main_org`.
    pub fn load(state_dir: &Path, main_org: &str) -> Self {
        let file = state_dir.join(STATE_FILE);
        let loaded = file::load(&file, main_org);
        if let Some(warning) = &loaded.warning {
            tracing::warn!("{warning}");
        }
        Self {
            file,
            unreadable: loaded.unreadable.then(|| loaded.warning.clone()).flatten(),
            inner: Mutex::new(Inner {
                records: loaded.integrations,
                ..Inner::default()
            }),
            changed: Notify::new(),
        }
    }

    /// Why the state file could not be read, when it exists but could not be: the lockout
    /// guard's state is unknown then.
    pub fn unreadable(&self) -> Option<&str> {
        self.unreadable.as_deref()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Remembers a check and the guard after it.
    pub fn record(&self, report: &Report, guard: Option<Engaged>) {
        let name = &report.integration.id;
        let time = unix_seconds(report.finished);
        {
            let mut inner = self.lock();
            let mut inner_urgent = false;
            let record = inner.records.entry(name.clone()).or_default();
            if record.kind.as_deref() != Some(report.integration.kind.key) {
                *record = Record {
                    kind: Some(report.integration.kind.key.to_string()),
                    ..Record::default()
                };
            }
            if let Ok(success) = &report.outcome {
                record.last_success = Some(time);
                record.token_expiry = success.token_expiry.map(unix_seconds);
            }
            // A certificate not seen this time (the check failed before the handshake) is
            // still the one in use.
            if let Some(client) = report.certificates.client {
                record.client_certificate_expiry = Some(unix_seconds(client));
            }
            if let Some(server) = report.certificates.server {
                record.server_certificate_expiry = Some(unix_seconds(server));
            }
            if record.guard != guard {
                inner_urgent = true;
            }
            record.guard = guard;
            let failure = report.outcome.as_ref().err();
            // The same failure again shares the message of the one before.
            let message = failure.map(|f| match record.history.back() {
                Some(Entry {
                    message: Some(before),
                    ..
                }) if **before == f.message => before.clone(),
                _ => Arc::new(f.message.clone()),
            });
            if record.history.len() >= HISTORY {
                record.history.pop_front();
            }
            if record.history.capacity() < HISTORY {
                record.history.reserve_exact(HISTORY - record.history.len());
            }
            record.history.push_back(Entry {
                time_ms: (time * 1000.0).round().max(0.0) as u64,
                duration_ms: millis(report.duration.as_secs_f64()),
                failure: failure.map(|f| f.reason),
                message,
            });
            inner.urgent |= inner_urgent;
            if !inner.seen.contains(name) {
                inner.seen.insert(name.clone());
            }
            inner.dirty = true;
        }
        self.changed.notify_one();
    }

    /// A due check the guard held: nothing new to keep, but the integration has a known state.
    pub fn held(&self, name: &str) {
        self.lock().seen.insert(name.to_string());
    }

    /// The engaged guard of an integration of type `kind`, if any.
    pub fn guard(&self, name: &str, kind: &str) -> Option<Engaged> {
        let inner = self.lock();
        let record = inner.records.get(name)?;
        if record.kind.as_deref() != Some(kind) {
            return None;
        }
        record.guard.clone()
    }

    /// Everything remembered of an integration.
    pub fn record_of(&self, name: &str) -> Option<Record> {
        self.lock().records.get(name).cloned()
    }

    /// What `look` makes of the integration's record, without copying it.
    pub fn peek<R>(&self, name: &str, look: impl FnOnce(Option<&Record>) -> R) -> R {
        look(self.lock().records.get(name))
    }

    /// The integration's record with only its latest result.
    pub fn latest_of(&self, name: &str) -> Option<Record> {
        self.peek(name, |record| {
            record.map(|record| Record {
                kind: record.kind.clone(),
                last_success: record.last_success,
                token_expiry: record.token_expiry,
                client_certificate_expiry: record.client_certificate_expiry,
                server_certificate_expiry: record.server_certificate_expiry,
                guard: record.guard.clone(),
                history: record.last().cloned().into_iter().collect(),
            })
        })
    }

    /// Unix seconds of the integration's last success, this run or an earlier one.
    pub fn last_success(&self, name: &str) -> Option<f64> {
        self.lock().records.get(name)?.last_success
    }

    /// When the integration's last recorded check started, unix seconds.
    pub fn last_started(&self, name: &str) -> Option<f64> {
        let inner = self.lock();
        let last = inner.records.get(name)?.last()?;
        Some(last.time() - last.duration_seconds())
    }

    /// Whether the integration was checked (or held by the guard) in this run.
    pub fn seen(&self, name: &str) -> bool {
        self.lock().seen.contains(name)
    }

    /// Forgets integrations the config no longer has.
    pub fn retain(&self, keep: impl Fn(&str) -> bool) {
        let mut inner = self.lock();
        let before = inner.records.len();
        inner.records.retain(|name, _| keep(name));
        if inner.records.len() != before {
            inner.dirty = true;
            drop(inner);
            self.changed.notify_one();
        }
    }

    /// Resolves when something changed since the last wait (the saver's cue).
    pub async fn changed(&self) {
        self.changed.notified().await
    }

    /// Whether a lockout guard changed since the last save (see [`State::save`]).
    pub fn urgent(&self) -> bool {
        self.lock().urgent
    }

    /// Writes the state file if anything changed (atomically: temp file, fsync, rename, fsync
    /// of the directory), as compact JSON, the records encoded a slice at a time.
    pub fn save(&self) -> std::io::Result<Saved> {
        {
            let mut inner = self.lock();
            if !inner.dirty {
                return Ok(Saved::default());
            }
            inner.dirty = false;
            inner.urgent = false;
        }
        let started = std::time::Instant::now();
        let result = file::write_atomically(&self.file, |out| file::encode(&self.inner, out));
        match result {
            Ok(bytes) => Ok(Saved {
                bytes,
                took: started.elapsed(),
            }),
            Err(e) => {
                self.lock().dirty = true;
                Err(e)
            }
        }
    }
}

/// Seconds as whole milliseconds (saturating: a check is bounded by its timeout anyway).
fn millis(seconds: f64) -> u32 {
    (seconds * 1000.0).round().clamp(0.0, f64::from(u32::MAX)) as u32
}

/// Seconds since the epoch, as Prometheus timestamps want them.
pub fn unix_seconds(time: SystemTime) -> f64 {
    time.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// Unix seconds as RFC 3339 (UTC, whole seconds).
pub fn rfc3339(seconds: f64) -> String {
    chrono::DateTime::from_timestamp(seconds as i64, 0)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}
