//! What credwatch remembers about each integration, in memory and in `state_dir/state.json`:
//! the last 20 results, the last success, the lockout guard with the fingerprint of the
//! credentials that failed, and what an org view read with it remembers (see [`ViewMemory`]).
//! The daemon saves it shortly after every change (see [`State::save`]);
//! `credwatch check` reads it to honour the guard.

mod file;
mod record;
mod view;

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use tokio::sync::Notify;

pub use file::STATE_FILE;
pub use record::{Entry, EntryJson, HISTORY, Record};
pub use view::{CanaryRun, ViewMemory};

use crate::clock::unix_seconds;
use crate::forecast::Learnt;
use crate::guard::Engaged;
use crate::runner::Report;

/// Every record by `ORG/NAME`. Boxed: a map's nodes are often half empty, and empty slots of
/// pointers cost less than empty slots of records.
pub type Records = BTreeMap<String, Box<Record>>;

/// Shared, thread-safe state.
#[derive(Debug)]
pub struct State {
    file: PathBuf,
    /// Why the file could not be read, when it exists but could not be (permissions).
    unreadable: Option<String>,
    inner: Mutex<Inner>,
    changed: Notify,
    /// Failures the org view found ahead of the login, by integration: checks report them
    /// without asking the provider. Not saved: the view's next read finds them again.
    ahead: Mutex<std::collections::HashMap<String, crate::outcome::Failure>>,
}

#[derive(Debug, Default)]
struct Inner {
    records: Records,
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
            ahead: Mutex::default(),
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
                **record = Record {
                    kind: Some(Cow::Borrowed(report.integration.kind.key)),
                    seen: record.seen,
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
            crate::forecast::merge(&mut record.credentials, &report.learnt);
            if record.guard.as_deref() != guard.as_ref() {
                inner_urgent = true;
            }
            record.guard = guard.map(Box::new);
            let failure = report.outcome.as_ref().err();
            record.push(
                Entry::new(
                    time,
                    report.duration.as_secs_f64(),
                    failure.map(|f| f.reason),
                ),
                failure.map(|f| f.message.as_str()),
            );
            record.seen = true;
            inner.urgent |= inner_urgent;
            inner.dirty = true;
        }
        self.changed.notify_one();
    }

    /// Dates learnt of an integration's credentials outside its checks (the org view's), kept
    /// in its record as a check's would be.
    pub fn learn(&self, name: &str, kind: &'static str, learnt: &[Learnt]) {
        {
            let mut inner = self.lock();
            let record = inner.records.entry(name.to_string()).or_default();
            if record.kind.as_deref() != Some(kind) {
                **record = Record {
                    kind: Some(Cow::Borrowed(kind)),
                    seen: record.seen,
                    ..Record::default()
                };
            }
            let before = record.credentials.clone();
            crate::forecast::merge(&mut record.credentials, learnt);
            if record.credentials == before {
                return;
            }
            inner.dirty = true;
        }
        self.changed.notify_one();
    }

    /// Sets (or, with `None`, clears) the failure an integration's checks report ahead of the
    /// login.
    pub fn set_ahead(&self, name: &str, failure: Option<crate::outcome::Failure>) {
        let mut ahead = self.ahead.lock().unwrap_or_else(|p| p.into_inner());
        match failure {
            Some(failure) => ahead.insert(name.to_string(), failure),
            None => ahead.remove(name),
        };
    }

    /// Forgets every failure ahead of the login of the org `org` (its view is gone).
    pub fn clear_ahead(&self, org: &str) {
        let prefix = format!("{org}/");
        let mut ahead = self.ahead.lock().unwrap_or_else(|p| p.into_inner());
        ahead.retain(|id, _| !id.starts_with(&prefix));
    }

    /// The failure the integration's checks report ahead of the login, if any.
    pub fn ahead(&self, name: &str) -> Option<crate::outcome::Failure> {
        let ahead = self.ahead.lock().unwrap_or_else(|p| p.into_inner());
        ahead.get(name).cloned()
    }

    /// A due check the guard held: nothing new to keep, but the integration has a known state.
    pub fn held(&self, name: &str) {
        if let Some(record) = self.lock().records.get_mut(name) {
            record.seen = true;
        }
    }

    /// The engaged guard of an integration of type `kind`, if any.
    pub fn guard(&self, name: &str, kind: &str) -> Option<Engaged> {
        let inner = self.lock();
        let record = inner.records.get(name)?;
        if record.kind.as_deref() != Some(kind) {
            return None;
        }
        record.guard.as_deref().cloned()
    }

    /// Everything remembered of an integration.
    pub fn record_of(&self, name: &str) -> Option<Record> {
        self.lock().records.get(name).map(|r| Record::clone(r))
    }

    /// What `look` makes of the integration's record, without copying it.
    pub fn peek<R>(&self, name: &str, look: impl FnOnce(Option<&Record>) -> R) -> R {
        look(self.lock().records.get(name).map(|r| &**r))
    }

    /// The integration's record with only its latest result.
    pub fn latest_of(&self, name: &str) -> Option<Record> {
        self.peek(name, |record| record.map(Record::latest))
    }

    /// What `look` makes of every record, under the lock: keep it short (the metrics read a
    /// slice of integrations at a time).
    pub fn with_records<R>(&self, look: impl FnOnce(&Records) -> R) -> R {
        look(&self.lock().records)
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
        self.lock().records.get(name).is_some_and(|r| r.seen)
    }

    /// Moves records to new ids (`(former, now)`), each only when there is none under the new
    /// id yet: results and an engaged lockout guard follow an integration that was renamed.
    pub fn rename(&self, renames: &[(String, String)]) {
        let mut inner = self.lock();
        let mut moved = false;
        for (former, now) in renames {
            if inner.records.contains_key(now) {
                continue;
            }
            if let Some(record) = inner.records.remove(former) {
                tracing::info!(
                    "state: {former:?} is now {now:?} (default names are numbered as Genesys Cloud numbers them)"
                );
                inner.records.insert(now.clone(), record);
                moved = true;
            }
        }
        if moved {
            inner.dirty = true;
            inner.urgent = true;
            drop(inner);
            self.changed.notify_one();
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outcome::FailureReason;
    use std::sync::Arc;

    #[test]
    fn history_keeps_twenty_results_and_the_messages_of_its_failures() {
        let mut record = Record::default();
        for n in 0..25u32 {
            let time = 1_800_000_000.0 + f64::from(n) + 0.125;
            if n % 3 == 0 {
                record.push(Entry::new(time, 0.25, None), None);
            } else {
                let message = format!("refused {}", n / 10);
                let entry = Entry::new(time, 0.25, Some(FailureReason::InvalidCredentials));
                record.push(entry, Some(&message));
            }
        }
        assert_eq!(record.history.len(), HISTORY);
        let failures = record
            .history
            .iter()
            .filter(|e| e.failure.is_some())
            .count();
        assert_eq!(record.messages.len(), failures);
        // The same text is one allocation.
        assert!(Arc::ptr_eq(&record.messages[0].1, &record.messages[1].1));
        let mut results = record.results();
        let (newest, message) = results.next().unwrap();
        assert_eq!(newest.time(), 1_800_000_024.125);
        assert_eq!((newest.result(), message), ("success", None));
        let (before, message) = results.next().unwrap();
        assert_eq!(before.result(), "invalid_credentials");
        assert_eq!(message, Some("refused 2"));
        assert_eq!(before.duration_seconds(), 0.25);
        let oldest = record.history.front().unwrap();
        assert_eq!(record.message_of(oldest), Some("refused 0"));
        // What the state file holds reads back as the same record.
        let json = serde_json::to_string(&record).unwrap();
        let back: Record = serde_json::from_str(&json).unwrap();
        assert_eq!(back, record);
        assert!(json.contains(r#""result":"invalid_credentials","message":"refused 2""#));
    }
}
