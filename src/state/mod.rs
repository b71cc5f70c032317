//! What credwatch remembers about each integration, in memory and in `state_dir/state.json`:
//! the last 20 results, the last success, the lockout guard with the fingerprint of the
//! credentials that failed. The daemon saves it shortly after every change (see [`State::save`]);
//! `credwatch check` reads it to honour the guard.

mod file;

use std::borrow::Cow;
use std::collections::{BTreeMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use tokio::sync::Notify;

pub use file::STATE_FILE;

use crate::clock::unix_seconds;
use crate::guard::Engaged;
use crate::outcome::FailureReason;
use crate::runner::Report;

/// Every record by `ORG/NAME`. Boxed: a map's nodes are often half empty, and empty slots of
/// pointers cost less than empty slots of records.
pub(crate) type Records = BTreeMap<String, Box<Record>>;

/// How many results each integration keeps.
pub const HISTORY: usize = 20;

/// What credwatch remembers of one integration. Kept compact, because tens of thousands of
/// integrations keep twenty results each: a result is 12 bytes, and only failures' messages are
/// kept beside them (shared with the failure before when the text is the same).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(try_from = "RecordJson")]
pub struct Record {
    /// The integration's type when last checked: a record of another type is not its own.
    pub kind: Option<Cow<'static, str>>,
    /// Unix seconds of the last success.
    pub last_success: Option<f64>,
    /// Expiry of the token the last success minted, unix seconds.
    pub token_expiry: Option<f64>,
    /// `notAfter` of the mTLS client certificate, when last seen, unix seconds.
    pub client_certificate_expiry: Option<f64>,
    /// `notAfter` of the soonest server certificate, when last seen, unix seconds.
    pub server_certificate_expiry: Option<f64>,
    /// The lockout guard, while engaged (boxed: few records have one).
    pub guard: Option<Box<Engaged>>,
    /// The last results, oldest first.
    pub history: VecDeque<Entry>,
    /// The messages of the failures in `history`, oldest first, by their entry's time.
    messages: VecDeque<(u64, Arc<String>)>,
    /// Checked (or held by the guard) in this run: readiness. Not saved.
    seen: bool,
}

impl Record {
    /// The latest result.
    pub fn last(&self) -> Option<&Entry> {
        self.history.back()
    }

    /// The message of a failure in the history.
    pub fn message_of(&self, entry: &Entry) -> Option<&str> {
        self.kept_message(entry)
            .map(|(_, message)| message.as_str())
    }

    /// The kept message of a failure in the history, with its entry's time.
    fn kept_message(&self, entry: &Entry) -> Option<&(u64, Arc<String>)> {
        entry.failure?;
        self.messages
            .iter()
            .rev()
            .find(|(time, _)| *time == entry.time_ms())
    }

    /// Adds a result, forgetting the oldest beyond [`HISTORY`].
    fn push(&mut self, entry: Entry, message: Option<&str>) {
        if self.history.len() >= HISTORY
            && let Some(oldest) = self.history.pop_front()
            && self
                .messages
                .front()
                .is_some_and(|(time, _)| *time == oldest.time_ms())
        {
            self.messages.pop_front();
        }
        // Full size at once: the history fills up within twenty checks anyway.
        if self.history.capacity() < HISTORY {
            self.history.reserve_exact(HISTORY - self.history.len());
        }
        if let Some(message) = message.filter(|_| entry.failure.is_some()) {
            let shared = match self.messages.back() {
                Some((_, before)) if before.as_str() == message => before.clone(),
                _ => Arc::new(message.to_string()),
            };
            self.messages.push_back((entry.time_ms(), shared));
        }
        self.history.push_back(entry);
    }

    /// A copy with only the latest result (and its message).
    fn latest(&self) -> Record {
        let last = self.last().copied();
        let message = last.and_then(|entry| self.kept_message(&entry).cloned());
        Record {
            kind: self.kind.clone(),
            last_success: self.last_success,
            token_expiry: self.token_expiry,
            client_certificate_expiry: self.client_certificate_expiry,
            server_certificate_expiry: self.server_certificate_expiry,
            guard: self.guard.clone(),
            history: last.into_iter().collect(),
            messages: message.into_iter().collect(),
            seen: self.seen,
        }
    }

    /// The results, newest first, with their messages.
    pub fn results(&self) -> impl Iterator<Item = (&Entry, Option<&str>)> {
        self.history
            .iter()
            .rev()
            .map(|entry| (entry, self.message_of(entry)))
    }
}

/// One result: when it ended (unix seconds and milliseconds), how long it took, and why it
/// failed (`None` for a success).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    seconds: u32,
    duration_ms: u32,
    millis: u16,
    pub failure: Option<FailureReason>,
}

const _: () = assert!(std::mem::size_of::<Entry>() == 12);

impl Entry {
    /// A result that ended at `time` (unix seconds) and took `duration_seconds`.
    pub fn new(time: f64, duration_seconds: f64, failure: Option<FailureReason>) -> Self {
        let time_ms = (time * 1000.0).round().clamp(0.0, u32::MAX as f64 * 1000.0) as u64;
        Self {
            seconds: (time_ms / 1000) as u32,
            millis: (time_ms % 1000) as u16,
            duration_ms: millis(duration_seconds),
            failure,
        }
    }

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
        self.time_ms() as f64 / 1000.0
    }

    fn time_ms(&self) -> u64 {
        u64::from(self.seconds) * 1000 + u64::from(self.millis)
    }
}

/// A result as the state file and the API write it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EntryJson<'a> {
    pub time: f64,
    pub duration_seconds: f64,
    /// `success` or the failure reason.
    pub result: std::borrow::Cow<'a, str>,
    /// The failure's message (free of secrets); absent on success.
    #[serde(default)]
    pub message: Option<std::borrow::Cow<'a, str>>,
}

impl<'a> EntryJson<'a> {
    pub fn of(entry: &Entry, message: Option<&'a str>) -> Self {
        Self {
            time: entry.time(),
            duration_seconds: entry.duration_seconds(),
            result: entry.result().into(),
            message: message.map(Into::into),
        }
    }
}

/// [`Record`] as the state file has it.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RecordJson {
    #[serde(rename = "type", default)]
    kind: Option<Cow<'static, str>>,
    #[serde(default)]
    last_success: Option<f64>,
    #[serde(default)]
    token_expiry: Option<f64>,
    #[serde(default)]
    client_certificate_expiry: Option<f64>,
    #[serde(default)]
    server_certificate_expiry: Option<f64>,
    #[serde(default)]
    guard: Option<Box<Engaged>>,
    #[serde(default)]
    history: Vec<EntryJson<'static>>,
}

impl TryFrom<RecordJson> for Record {
    type Error = String;

    fn try_from(json: RecordJson) -> Result<Self, String> {
        let mut record = Record {
            kind: json.kind,
            last_success: json.last_success,
            token_expiry: json.token_expiry,
            client_certificate_expiry: json.client_certificate_expiry,
            server_certificate_expiry: json.server_certificate_expiry,
            guard: json.guard,
            ..Record::default()
        };
        for entry in json.history {
            let failure = match &*entry.result {
                "success" => None,
                other => Some(
                    FailureReason::ALL
                        .into_iter()
                        .find(|reason| reason.as_str() == other)
                        .ok_or_else(|| format!("unknown result {other:?}"))?,
                ),
            };
            let message = entry.message.as_deref();
            record.push(
                Entry::new(entry.time, entry.duration_seconds, failure),
                message,
            );
        }
        Ok(record)
    }
}

impl Serialize for Record {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = serializer.serialize_map(None)?;
        if let Some(kind) = &self.kind {
            map.serialize_entry("type", kind)?;
        }
        map.serialize_entry("last_success", &self.last_success)?;
        map.serialize_entry("token_expiry", &self.token_expiry)?;
        if let Some(at) = self.client_certificate_expiry {
            map.serialize_entry("client_certificate_expiry", &at)?;
        }
        if let Some(at) = self.server_certificate_expiry {
            map.serialize_entry("server_certificate_expiry", &at)?;
        }
        map.serialize_entry("guard", &self.guard)?;
        map.serialize_entry("history", &History(self))?;
        map.end()
    }
}

/// A record's results as the state file lists them, written one by one.
struct History<'a>(&'a Record);

impl Serialize for History<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeSeq;
        let record = self.0;
        let mut seq = serializer.serialize_seq(Some(record.history.len()))?;
        for entry in &record.history {
            seq.serialize_element(&EntryJson::of(entry, record.message_of(entry)))?;
        }
        seq.end()
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

/// Seconds as whole milliseconds (saturating: a check is bounded by its timeout anyway).
fn millis(seconds: f64) -> u32 {
    (seconds * 1000.0).round().clamp(0.0, f64::from(u32::MAX)) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

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
