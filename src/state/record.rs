//! One integration's record: its last results (compact entries, with failures' messages kept
//! beside them), its last success, its certificates and its lockout guard; and how a record is
//! written to and read from the state file.

use std::borrow::Cow;
use std::collections::VecDeque;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::view::{CanaryRun, ViewMemory};
use crate::forecast::Learnt;
use crate::guard::Engaged;
use crate::outcome::FailureReason;

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
    /// What checks learnt of the credentials' dates (most types learn nothing).
    pub credentials: Vec<Learnt>,
    /// For the integration an org view reads with: where its last window of Genesys's
    /// execution records ended, and its canaries' last runs.
    pub view: Option<Box<ViewMemory>>,
    /// The last results, oldest first.
    pub history: VecDeque<Entry>,
    /// The messages of the failures in `history`, oldest first, by their entry's time.
    pub(super) messages: VecDeque<(u64, Arc<String>)>,
    /// Checked (or held by the guard) in this run: readiness. Not saved.
    pub(super) seen: bool,
}

impl Record {
    /// The latest result.
    pub fn last(&self) -> Option<&Entry> {
        self.history.back()
    }

    /// Whether the integration was checked (or held by the guard) in this run.
    pub fn seen(&self) -> bool {
        self.seen
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
    pub(super) fn push(&mut self, entry: Entry, message: Option<&str>) {
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
    pub(super) fn latest(&self) -> Record {
        let last = self.last().copied();
        let message = last.and_then(|entry| self.kept_message(&entry).cloned());
        Record {
            kind: self.kind.clone(),
            last_success: self.last_success,
            token_expiry: self.token_expiry,
            client_certificate_expiry: self.client_certificate_expiry,
            server_certificate_expiry: self.server_certificate_expiry,
            guard: self.guard.clone(),
            credentials: self.credentials.clone(),
            view: self.view.clone(),
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

/// [`Record`] as the state file has it. Fields it does not know (a newer release of the same
/// layout wrote them) are dropped, not a reason to move the whole file aside with every
/// lockout guard in it: only a newer `version` is.
#[derive(Deserialize)]
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
    credentials: Vec<Learnt>,
    #[serde(default)]
    executions_until: Option<f64>,
    #[serde(default)]
    canaries: Vec<CanaryRun>,
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
            credentials: json.credentials,
            view: (json.executions_until.is_some() || !json.canaries.is_empty()).then(|| {
                Box::new(ViewMemory {
                    executions_until: json.executions_until,
                    canaries: json.canaries,
                })
            }),
            ..Record::default()
        };
        for entry in json.history {
            let failure = match &*entry.result {
                "success" => None,
                other => Some(
                    FailureReason::from_label(other)
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
        if !self.credentials.is_empty() {
            map.serialize_entry("credentials", &self.credentials)?;
        }
        if let Some(view) = &self.view {
            if let Some(until) = view.executions_until {
                map.serialize_entry("executions_until", &until)?;
            }
            if !view.canaries.is_empty() {
                map.serialize_entry("canaries", &view.canaries)?;
            }
        }
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

/// Seconds as whole milliseconds (saturating: a check is bounded by its timeout anyway).
fn millis(seconds: f64) -> u32 {
    (seconds * 1000.0).round().clamp(0.0, f64::from(u32::MAX)) as u32
}
