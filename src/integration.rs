//! The central object: one configured integration, built whole by the config loader (its name
//! and id already assigned), holding its verifier and HTTP client, and what the scheduler, the
//! checker, the metrics, the state and the server read of it. Nothing here parses or checks.

use std::sync::Arc;
use std::time::Duration;

use crate::http::HttpClient;
use crate::secret::{Secret, SecretField};
use crate::verify::{IntegrationType, Verifier};

/// When an integration is checked.
#[derive(Debug, Clone)]
pub enum Cadence {
    /// Every so often (`interval = "5m"`).
    Interval(Duration),
    /// On a cron schedule with seconds (`schedule = "0 */5 * * * *"`).
    Schedule(Box<cron::Schedule>),
}

impl Cadence {
    /// The time between two checks: the interval, or the gap between the next two cron runs.
    pub fn period(&self) -> Option<Duration> {
        match self {
            Self::Interval(every) => Some(*every),
            Self::Schedule(schedule) => {
                let mut upcoming = schedule.upcoming(chrono::Utc);
                let (first, second) = (upcoming.next()?, upcoming.next()?);
                (second - first).to_std().ok()
            }
        }
    }
}

/// One configured integration, ready to be checked.
pub struct Integration {
    /// Its name, unique within its org: the `integration` label.
    pub name: String,
    /// Its org: the `org` label.
    pub org: Arc<str>,
    /// `ORG/NAME`: unique across the config, the key of everything credwatch remembers.
    pub id: String,
    /// Its type, from the registry.
    pub kind: &'static IntegrationType,
    /// Inactive integrations are configured and counted, never exercised.
    pub active: bool,
    /// Free text for the status page.
    pub notes: Option<String>,
    /// When its main credential ends, as the operator wrote it (`expires`), unix seconds.
    pub expires: Option<f64>,
    pub cadence: Cadence,
    /// Bound on one whole check.
    pub timeout: Duration,
    /// `false` skips the authenticated follow-up call.
    pub follow_up: bool,
    /// `false` leaves the token a check minted to expire on its own instead of revoking it.
    pub revoke: bool,
    /// Whether the lockout guard watches this integration (`guard`, default: password logins).
    pub guard: bool,
    /// How long the guard holds the same credentials (`[defaults] guard_retry`).
    pub guard_retry: Duration,
    /// The credential tables as configured (secrets included), only ever hashed: the lockout
    /// guard releases when they change. Empty when the guard does not watch the integration.
    pub identity: Secret,
    /// A digest of the whole definition (credential tables, cadence, timeout, switches): equal
    /// digests mean a reload left the integration as it was.
    pub definition: u64,
    /// The type's verifier, holding its parsed fields.
    pub verifier: Box<dyn Verifier>,
    /// The HTTP client for this integration (shared unless it has its own trusted roots).
    pub http: HttpClient,
    /// Every secret field, for `validate` and for scrubbing messages.
    pub secrets: Vec<SecretField>,
}

impl std::fmt::Debug for Integration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Integration")
            .field("org", &self.org)
            .field("name", &self.name)
            .field("type", &self.kind.key)
            .field("active", &self.active)
            .field("cadence", &self.cadence)
            .field("timeout", &self.timeout)
            .field("guard", &self.guard)
            .field("secrets", &self.secrets)
            .finish_non_exhaustive()
    }
}

/// The id of the integration `name` of `org`: `ORG/NAME`.
pub fn id_of(org: &str, name: &str) -> String {
    format!("{org}/{name}")
}

/// The integration `address` names among `integrations`: `ORG/NAME` first, then a bare `NAME`
/// that is unique. The error says why none (or which ones) match.
pub fn find<'a>(
    integrations: &'a [Arc<Integration>],
    address: &str,
) -> Result<&'a Arc<Integration>, String> {
    if let Some(found) = integrations.iter().find(|i| i.id == address) {
        return Ok(found);
    }
    let named: Vec<_> = integrations.iter().filter(|i| i.name == address).collect();
    match named.as_slice() {
        [one] => Ok(one),
        [] => Err(format!("no integration named {address:?}")),
        many => Err(format!(
            "{address:?} names an integration in several orgs; say which: {}",
            many.iter()
                .map(|i| i.id.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )),
    }
}
