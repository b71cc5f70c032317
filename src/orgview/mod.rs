//! The org view (`[genesys]`): Genesys Cloud's own account of an org's integrations (which
//! exist, what state Genesys reports them in), of the mTLS client certificates it presents to
//! web services, and of the OAuth clients of the org's `genesys_cloud` integrations, read with a
//! `genesys_cloud` integration's OAuth client. Its failures are its own: they never touch the
//! credential checks, but a client it found not active fails its integration's checks ahead of
//! the login ([`OauthClient::ahead`]).

mod api;
mod canary;
mod clients;
mod disagreement;
mod executions;
mod release;
mod session;
mod task;

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant, SystemTime};

pub use api::{CERTIFICATES_PERMISSION, INTEGRATIONS_PERMISSION, PAGE_SIZE};
pub use canary::{CANARY_PERMISSION, CanaryReport};
pub use clients::{OAUTH_CLIENT_PERMISSION, OauthClient};
pub use disagreement::{Comparison, Direction, compare};
pub use executions::{EXECUTIONS_PERMISSION, Executions, Outcome as ExecutionOutcome, window};
pub use task::{Observe, spawn};

use crate::config::OrgView;
use crate::outcome::Failure;
use crate::runner;
use crate::verify::CheckContext;

/// credwatch's type for a Genesys Cloud integration type id, when it is a data-action type
/// credwatch checks (each type lists its ids: `IntegrationType::genesys_type_ids`).
pub fn type_of(type_id: &str) -> Option<&'static str> {
    crate::verify::type_of_genesys_id(type_id).map(|t| t.key)
}

/// One integration as Genesys Cloud lists it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct GenesysIntegration {
    pub id: String,
    pub name: String,
    /// `integrationType.id`.
    pub type_id: String,
    /// credwatch's type for it, for a data-action type credwatch checks.
    #[serde(rename = "type")]
    pub kind: Option<&'static str>,
    /// `intendedState`: `ENABLED` or `DISABLED`.
    pub intended_state: String,
    /// `reportedState.code`: `ACTIVE`, `ACTIVATING`, `INACTIVE`, `DEACTIVATING` or `ERROR`.
    pub reported_state: String,
    /// `reportedState.detail.message`: why, for an integration in error.
    pub detail: Option<String>,
    /// For a data action: whether credwatch checks an active integration of the same org, type
    /// and name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub watched: Option<bool>,
}

impl GenesysIntegration {
    /// The `type` label: credwatch's type, else Genesys Cloud's type id.
    pub fn type_label(&self) -> &str {
        self.kind.unwrap_or(&self.type_id)
    }
}

/// One mTLS client certificate Genesys Cloud presents to web services.
#[derive(Debug, Clone, serde::Serialize)]
pub struct MtlsCertificate {
    /// `Genesys` or `DigiCert`.
    pub signing_authority: String,
    /// `Current` or `Upcoming`.
    pub status: String,
    /// Its `notAfter` (unix seconds), when the PEM parses.
    pub expiry: Option<f64>,
    /// Why there is no expiry.
    pub problem: Option<String>,
}

/// The result of one read of the org view.
#[derive(Debug, Clone)]
pub struct ViewReport {
    pub org: Arc<str>,
    /// The `genesys_cloud` integration whose client read it.
    pub integration: String,
    /// `Ok` when every part was read.
    pub outcome: Result<(), Failure>,
    /// The integrations, when they were read.
    pub integrations: Option<Vec<GenesysIntegration>>,
    /// The mTLS client certificates, when they were read.
    pub certificates: Option<Vec<MtlsCertificate>>,
    /// The OAuth clients of the org's `genesys_cloud` integrations, when they were read.
    pub oauth_clients: Option<Vec<OauthClient>>,
    /// Genesys's record of data-action executions in `window`, when it was read.
    pub executions: Option<Vec<Executions>>,
    /// The window (unix seconds) the executions were asked for; the next read starts at its
    /// end.
    pub window: Option<(i64, i64)>,
    /// Genesys's executions compared with credwatch's own checks (see [`compare`]), filled
    /// in by whoever knows credwatch's results ([`Observe::observe_view`]).
    pub compared: Option<Vec<Comparison>>,
    /// Whether the token was revoked (`None`: `revoke = false`, or no token).
    pub revoked: Option<bool>,
    pub finished: SystemTime,
    pub duration: Duration,
}

/// Reads the org view once: a token, the integrations, the certificates, the OAuth clients,
/// the executions since `since` (the end of the previous read's window, unix seconds), then the
/// token is revoked. Bounded by the view's timeout; every message scrubbed of the secrets it
/// touched.
pub async fn read(org: &Arc<str>, view: &OrgView, since: Option<i64>) -> ViewReport {
    let integration = &view.integration;
    let ctx = session::context(view, view.timeout);
    let started = Instant::now();
    let mut report = ViewReport {
        org: org.clone(),
        integration: integration.name.clone(),
        outcome: Ok(()),
        integrations: None,
        certificates: None,
        oauth_clients: None,
        executions: None,
        window: None,
        compared: None,
        revoked: None,
        finished: SystemTime::now(),
        duration: Duration::ZERO,
    };
    let deadline = started + view.timeout;
    let read = read_parts(&ctx, view, deadline, since, &mut report);
    report.outcome = runner::bounded(&ctx, view.timeout, "the org view's read", read).await;
    if let Err(failure) = &report.outcome {
        tracing::warn!(
            org = %org,
            reason = failure.reason.as_str(),
            "the Genesys Cloud org view failed: {}",
            failure.message
        );
    }
    report.finished = SystemTime::now();
    report.duration = started.elapsed();
    report
}

/// The parts of [`read`], each recorded in `report` as it arrives; the first failure, with
/// the others' messages after it.
async fn read_parts(
    ctx: &CheckContext,
    view: &OrgView,
    deadline: Instant,
    since: Option<i64>,
    report: &mut ViewReport,
) -> Result<(), Failure> {
    let session = session::Session::start(ctx, view).await?;
    let reader = session.reader(ctx, deadline);
    let mut failures = Vec::new();
    match reader.integrations().await {
        Ok(mut integrations) => {
            for i in &mut integrations {
                i.watched = i
                    .kind
                    .map(|kind| view.checked.contains(&(kind, i.name.clone())));
            }
            report.integrations = Some(integrations);
        }
        Err(failure) => failures.push(failure),
    }
    match reader.certificates().await {
        Ok(certificates) => report.certificates = Some(certificates),
        Err(failure) => failures.push(failure),
    }
    match oauth_clients(&reader, view).await {
        Ok(clients) => report.oauth_clients = Some(clients),
        Err(failure) => failures.push(failure),
    }
    let now = crate::clock::unix_seconds(SystemTime::now()) as i64;
    let first = view.interval.as_secs() as i64;
    if let Some(window) = executions::window(since, now, first) {
        let names = report
            .integrations
            .iter()
            .flatten()
            .map(|i| (i.id.clone(), (i.name.clone(), i.type_label().to_string())))
            .collect();
        match reader.executions(window, &names).await {
            Ok(executions) => {
                report.executions = Some(executions);
                report.window = Some(window);
            }
            Err(failure) => failures.push(failure),
        }
    }
    report.revoked = session.end(ctx).await;
    let mut failures = failures.into_iter();
    match failures.next() {
        None => Ok(()),
        Some(mut first) => {
            for other in failures {
                first.message = format!("{}; {}", first.message, other.message);
            }
            Err(first)
        }
    }
}

/// The OAuth client of every active `genesys_cloud` integration of the org.
async fn oauth_clients(
    reader: &api::Reader<'_>,
    view: &OrgView,
) -> Result<Vec<OauthClient>, Failure> {
    let mut clients = Vec::with_capacity(view.clients.len());
    for (integration, client_id) in &view.clients {
        clients.push(reader.oauth_client(integration, client_id).await?);
    }
    Ok(clients)
}

/// The last report of every org's view and of every canary, for the status page and the API.
#[derive(Debug, Default)]
pub struct Views {
    reports: RwLock<BTreeMap<String, Arc<ViewReport>>>,
    /// By org and action.
    canaries: RwLock<BTreeMap<(String, String), Arc<CanaryReport>>>,
}

impl Views {
    /// Keeps `report` as its org's latest.
    pub fn record(&self, report: ViewReport) {
        self.reports
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(report.org.to_string(), Arc::new(report));
    }

    /// Keeps `report` as its canary's latest.
    pub fn record_canary(&self, report: CanaryReport) {
        let key = (report.org.to_string(), report.action.clone());
        self.canaries
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(key, Arc::new(report));
    }

    /// Forgets the views of orgs `keep` says no to, and the canaries `keep_canary` (org,
    /// action) says no to.
    pub fn retain(&self, keep: impl Fn(&str) -> bool, keep_canary: impl Fn(&str, &str) -> bool) {
        self.reports
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|org, _| keep(org));
        self.canaries
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|(org, action), _| keep_canary(org, action));
    }

    /// The latest run of every canary of `org`, by action.
    pub fn canaries_of(&self, org: &str) -> Vec<Arc<CanaryReport>> {
        self.canaries
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .filter(|((o, _), _)| o == org)
            .map(|(_, report)| report.clone())
            .collect()
    }

    /// Every org's latest report, by org.
    pub fn all(&self) -> Vec<Arc<ViewReport>> {
        self.reports
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .cloned()
            .collect()
    }
}
