//! What the API and the status page show of an integration: one plain, serialisable model built
//! from the config, the state and this run's last report ("view" in credwatch is the org view,
//! `[genesys]`, only). Field names are the API's contract (docs/operating.md, "JSON API"): add
//! fields, never rename them. Nothing secret is in it: messages were
//! scrubbed when the check ended, and the config's secrets are not read here.

use std::sync::Arc;

use serde::Serialize;

use std::time::SystemTime;

use crate::clock::{rfc3339, unix_seconds};
use crate::forecast::{self, Forecast};
use crate::guard;
use crate::guard::Engaged;
use crate::integration::Integration;
use crate::state::{Entry, EntryJson, Record, State};

/// Where an integration stands, for the summary and the page's colours.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// The last check failed.
    Failing,
    /// The last check failed and the lockout guard holds further attempts.
    Guarded,
    /// Not checked yet.
    Pending,
    /// The last check passed.
    Healthy,
    /// Configured, never exercised.
    Inactive,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Failing => "failing",
            Self::Guarded => "guarded",
            Self::Pending => "pending",
            Self::Healthy => "healthy",
            Self::Inactive => "inactive",
        }
    }
}

/// One integration.
#[derive(Debug, Clone, Serialize)]
pub struct IntegrationModel {
    /// `ORG/NAME`: how the API and the page address it.
    pub id: String,
    pub org: String,
    pub name: String,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub credential_type: String,
    pub active: bool,
    pub notes: Option<String>,
    pub status: Status,
    /// `success`, the failure reason of the last check, or null before the first check.
    pub result: Option<String>,
    /// The last failure's message (while guarded: what the guard did and what releases it).
    pub message: Option<String>,
    /// RFC 3339 times, null when unknown.
    pub last_check: Option<String>,
    pub last_duration_seconds: Option<f64>,
    pub last_success: Option<String>,
    pub token_expiry: Option<String>,
    pub certificates: CertificatesView,
    /// When its credentials end, soonest first (see docs/operating.md, "Expiry forecasts");
    /// empty for an inactive integration.
    pub expiries: Vec<ExpiryView>,
    /// When the provider says its credentials last changed.
    pub credentials_changed: Vec<ChangedView>,
    pub guard: GuardView,
    /// The same times as unix seconds, for the status page's "3 min ago" and days left.
    #[serde(skip)]
    pub seconds: Seconds,
    /// The last results, newest first (only in the single-integration answer).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub history: Option<Vec<EntryJson<'static>>>,
}

/// Times of an integration as unix seconds.
#[derive(Debug, Clone, Default)]
pub struct Seconds {
    pub last_check: Option<f64>,
    pub last_success: Option<f64>,
    pub token_expiry: Option<f64>,
    pub client_certificate: Option<f64>,
    pub server_certificate: Option<f64>,
    /// When `guard_retry` releases an engaged guard.
    pub guard_retry: Option<f64>,
    /// The credentials' forecasts, soonest first.
    pub expiries: Vec<Forecast>,
}

/// When one credential ends, and who says so.
#[derive(Debug, Clone, Serialize)]
pub struct ExpiryView {
    /// `password`, `api_token`, `client_secret`, `service_account_key` or `oauth_client`.
    pub credential: &'static str,
    /// `provider`, `policy`, `sunset` or `config`.
    pub source: &'static str,
    /// RFC 3339.
    pub expires: String,
    /// Whole days from now (negative once past).
    pub days_left: i64,
}

impl ExpiryView {
    fn all(forecasts: &[Forecast]) -> Vec<Self> {
        let now = unix_seconds(SystemTime::now());
        forecasts
            .iter()
            .map(|f| ExpiryView {
                credential: f.credential.as_str(),
                source: f.source.as_str(),
                expires: rfc3339(f.at),
                days_left: ((f.at - now) / 86_400.0).floor() as i64,
            })
            .collect()
    }
}

/// When one credential last changed, as the provider says.
#[derive(Debug, Clone, Serialize)]
pub struct ChangedView {
    pub credential: &'static str,
    /// RFC 3339.
    pub changed: String,
}

/// Certificate expiry, as last seen by a check.
#[derive(Debug, Clone, Serialize)]
pub struct CertificatesView {
    /// The mTLS client certificate's `notAfter`, RFC 3339.
    pub client: Option<String>,
    /// The soonest server leaf certificate's `notAfter`, RFC 3339.
    pub server: Option<String>,
}

impl ChangedView {
    fn all(record: &Record) -> Vec<Self> {
        record
            .credentials
            .iter()
            .filter_map(|learnt| {
                Some(ChangedView {
                    credential: learnt.credential.as_str(),
                    changed: rfc3339(learnt.changed?),
                })
            })
            .collect()
    }
}

/// The lockout guard.
#[derive(Debug, Clone, Serialize)]
pub struct GuardView {
    /// Whether the guard watches this integration.
    pub enabled: bool,
    pub engaged: bool,
    /// While engaged: when it engaged, why, and when `guard_retry` releases it (RFC 3339).
    pub since: Option<String>,
    pub reason: Option<String>,
    pub retry_at: Option<String>,
}

impl GuardView {
    fn of(integration: &Integration, engaged: Option<&Engaged>) -> Self {
        Self {
            enabled: integration.guard,
            engaged: engaged.is_some(),
            since: engaged.map(|e| rfc3339(e.since)),
            reason: engaged.map(|e| e.reason.to_string()),
            retry_at: engaged.map(|e| rfc3339(e.since + integration.guard_retry.as_secs_f64())),
        }
    }
}

/// Counts by status.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Summary {
    pub healthy: usize,
    pub failing: usize,
    pub guarded: usize,
    pub pending: usize,
    pub inactive: usize,
}

impl Summary {
    /// One line for a person: `21 integrations: 9 healthy, 10 failing, 2 guarded, 0 inactive`.
    pub fn line(&self) -> String {
        let total = self.healthy + self.failing + self.guarded + self.pending + self.inactive;
        let mut line = format!(
            "{total} integrations: {} healthy, {} failing, {} guarded, {} inactive",
            self.healthy, self.failing, self.guarded, self.inactive
        );
        if self.pending > 0 {
            line.push_str(&format!(", {} not checked yet", self.pending));
        }
        line
    }

    /// Counts the integrations' statuses straight from the state, without building views.
    pub fn count(state: &State, integrations: &[Arc<Integration>]) -> Self {
        let mut summary = Self::default();
        for integration in integrations {
            let status = state.peek(&integration.id, |record| {
                let record = record.filter(|r| r.kind.as_deref() == Some(integration.kind.key));
                let engaged = record
                    .and_then(|r| r.guard.as_deref())
                    .filter(|_| integration.guard);
                status_of(integration, record.and_then(Record::last), engaged)
            });
            summary.add(status);
        }
        summary
    }

    fn add(&mut self, status: Status) {
        *match status {
            Status::Healthy => &mut self.healthy,
            Status::Failing => &mut self.failing,
            Status::Guarded => &mut self.guarded,
            Status::Pending => &mut self.pending,
            Status::Inactive => &mut self.inactive,
        } += 1;
    }

    pub fn of(models: &[IntegrationModel]) -> Self {
        let mut summary = Self::default();
        for model in models {
            summary.add(model.status);
        }
        summary
    }
}

/// An integration's status, from its latest result and its engaged guard.
fn status_of(integration: &Integration, last: Option<&Entry>, engaged: Option<&Engaged>) -> Status {
    match (integration.active, last, engaged) {
        (false, _, _) => Status::Inactive,
        (true, _, Some(_)) => Status::Guarded,
        (true, None, None) => Status::Pending,
        (true, Some(entry), None) if entry.failure.is_none() => Status::Healthy,
        (true, Some(_), None) => Status::Failing,
    }
}

/// The views of `integrations`, in their order, without history.
pub fn all(state: &State, integrations: &[Arc<Integration>]) -> Vec<IntegrationModel> {
    integrations
        .iter()
        .map(|i| integration(state, i, false))
        .collect()
}

/// The model of one integration; `history` adds its last results.
pub fn integration(state: &State, integration: &Integration, history: bool) -> IntegrationModel {
    let id = integration.id.as_str();
    let record = if history {
        state.record_of(id)
    } else {
        state.latest_of(id)
    };
    let record = record
        .filter(|r| r.kind.as_deref() == Some(integration.kind.key))
        .unwrap_or_default();
    let last = record.last();
    let engaged = if integration.guard {
        record.guard.as_deref().cloned()
    } else {
        None
    };
    let status = status_of(integration, last, engaged.as_ref());
    let expiries = if integration.active {
        forecast::forecasts(
            integration.kind.key,
            integration.verifier.credential(),
            integration.expires,
            &record.credentials,
        )
    } else {
        Vec::new()
    };

    let message = match &engaged {
        Some(engaged) => Some(guard::held_message(engaged, id, integration.guard_retry)),
        None => last.and_then(|e| record.message_of(e)).map(str::to_string),
    };
    IntegrationModel {
        id: id.to_string(),
        org: integration.org.to_string(),
        name: integration.name.clone(),
        kind: integration.kind.key,
        credential_type: integration.verifier.credential_type().to_string(),
        active: integration.active,
        notes: integration.notes.clone(),
        status,
        result: last.map(|e| e.result().to_string()),
        message,
        last_check: last.map(|e| rfc3339(e.time())),
        last_duration_seconds: last.map(Entry::duration_seconds),
        last_success: record.last_success.map(rfc3339),
        token_expiry: record.token_expiry.map(rfc3339),
        certificates: CertificatesView {
            client: record.client_certificate_expiry.map(rfc3339),
            server: record.server_certificate_expiry.map(rfc3339),
        },
        expiries: ExpiryView::all(&expiries),
        credentials_changed: ChangedView::all(&record),
        guard: GuardView::of(integration, engaged.as_ref()),
        seconds: Seconds {
            last_check: last.map(Entry::time),
            last_success: record.last_success,
            token_expiry: record.token_expiry,
            client_certificate: record.client_certificate_expiry,
            server_certificate: record.server_certificate_expiry,
            guard_retry: engaged
                .as_ref()
                .map(|e| e.since + integration.guard_retry.as_secs_f64()),
            expiries,
        },
        history: history.then(|| {
            record
                .results()
                .map(|(entry, message)| EntryJson {
                    message: message.map(|m| m.to_string().into()),
                    ..EntryJson::of(entry, None)
                })
                .collect()
        }),
    }
}
