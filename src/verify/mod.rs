//! Verifiers: one file per integration type behind the [`Verifier`] trait, each declaring its
//! [`IntegrationType`] (config key, Genesys limit and type ids, builder). The scheduler, the
//! metrics, the org view and the server know only this trait and the [`TYPES`] registry.

mod aws_lambda;
mod aws_transport;
mod context;
mod dynamics365;
pub mod genesys_cloud;
mod google;
pub(crate) mod oauth;
mod rsa_cache;
mod salesforce;
pub mod scrub;
mod web_service;
mod zendesk;

use futures_util::future::BoxFuture;

pub use context::{Certificates, CheckContext};

use crate::forecast::Credential;
use crate::http::Response;
use crate::outcome::{Failure, FailureReason, Outcome};
use crate::spec::{ConfigError, Spec};

/// Proves that one integration's credentials work.
pub trait Verifier: Send + Sync {
    /// The `credential_type` label of `credwatch_integration_info` (e.g. `api_token`).
    fn credential_type(&self) -> &'static str;

    /// The integration's main credential: what `expires` in its config speaks of.
    fn credential(&self) -> Credential;

    /// Whether the check logs in with a password that the provider locks after failed
    /// attempts: such integrations get the lockout guard unless `guard = false`.
    fn password_login(&self) -> bool {
        false
    }

    /// For a check that logs in with a password or client credentials: what the provider
    /// limits or records of such logins (a config checked more often than once a minute is
    /// warned about it). `None` for the others.
    fn login_limits(&self) -> Option<&'static str> {
        None
    }

    /// Runs the check: resolve secrets through `ctx`, talk to the provider, map the answer.
    fn check<'a>(&'a self, ctx: &'a CheckContext) -> BoxFuture<'a, Outcome>;

    /// For a `genesys_cloud` integration: its way into the org's Platform API, which the org
    /// view borrows. `None` for the other types.
    fn genesys_api(&self) -> Option<&genesys_cloud::Api> {
        None
    }
}

/// An integration type: its config key, the Genesys rules for it, and how to build its verifier.
#[derive(Debug)]
pub struct IntegrationType {
    /// The `type` value in the config and the `type` label.
    pub key: &'static str,
    /// The name a nameless integration of this type gets.
    pub default_name: &'static str,
    /// How many Genesys Cloud allows per org.
    pub limit: usize,
    /// Genesys Cloud's integration type ids of this type's data-action integrations (what the
    /// org view reads as `integrationType.id`).
    pub genesys_type_ids: &'static [&'static str],
    /// Reads the type's fields from the config and builds its verifier.
    pub build: fn(&mut Spec) -> Result<Box<dyn Verifier>, ConfigError>,
}

/// Every integration type credwatch knows, in the order the docs list them.
pub static TYPES: &[IntegrationType] = &[
    aws_lambda::TYPE,
    genesys_cloud::TYPE,
    google::TYPE,
    dynamics365::TYPE,
    salesforce::TYPE,
    web_service::TYPE,
    zendesk::TYPE,
];

impl IntegrationType {
    /// The type as people name it: its default name without " Data Actions" (`Zendesk`,
    /// `Microsoft Dynamics 365`, `Web Services`).
    pub fn label(&self) -> &'static str {
        self.default_name
            .strip_suffix(" Data Actions")
            .unwrap_or(self.default_name)
    }
}

/// The type of a Genesys Cloud integration type id, when it is a data-action type credwatch
/// checks.
pub fn type_of_genesys_id(type_id: &str) -> Option<&'static IntegrationType> {
    TYPES.iter().find(|t| t.genesys_type_ids.contains(&type_id))
}

/// Looks a type up by its config key.
pub fn find_type(key: &str) -> Option<&'static IntegrationType> {
    TYPES.iter().find(|t| t.key == key)
}

/// The failure for an HTTP response no provider-specific rule covered.
pub(crate) fn status_failure(provider: &str, response: &Response) -> Failure {
    failure_for_status(provider, response.status, response.retry_after())
}

/// The failure for an HTTP status, the same for every provider and endpoint: `who` names the
/// party that answered (`Zendesk`, `Genesys Cloud token endpoint`).
pub(crate) fn failure_for_status(
    who: &str,
    status: reqwest::StatusCode,
    retry_after: Option<std::time::Duration>,
) -> Failure {
    let (reason, what) = match status.as_u16() {
        401 => (
            FailureReason::InvalidCredentials,
            "rejected the credentials",
        ),
        403 => (FailureReason::PermissionDenied, "refused access"),
        404 => (
            FailureReason::ConfigError,
            "has no such endpoint (check the URL)",
        ),
        429 => (FailureReason::RateLimited, "is rate limiting credwatch"),
        300..=399 => (
            FailureReason::ProtocolError,
            "answered with a redirect, which credwatch does not follow",
        ),
        500..=599 => (FailureReason::ProviderError, "failed on its side"),
        _ => (FailureReason::ProtocolError, "gave an unexpected answer"),
    };
    let mut message = format!("{who} {what} (HTTP {})", status.as_u16());
    if let Some(wait) = retry_after {
        message.push_str(&format!(
            "; retry after {}",
            humantime::format_duration(wait)
        ));
    }
    Failure::new(reason, message).with_retry_after(retry_after)
}
