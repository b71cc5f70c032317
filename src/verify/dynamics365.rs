//! Microsoft Dynamics 365: the Entra resource-owner password grant with scope
//! `{org_url}/.default`, then `GET {org_url}/api/data/v9.2/WhoAmI`. The fields are validated now;
//! the check itself lands with the Dynamics verifier issue.

use futures_util::future::BoxFuture;
use url::Url;

use super::{CheckContext, IntegrationType, Verifier, not_supported_yet};
use crate::config::{ConfigError, Spec};
use crate::outcome::Outcome;
use crate::secret::SecretField;

pub const TYPE: IntegrationType = IntegrationType {
    key: "dynamics365",
    default_name: "Microsoft Dynamics 365 Data Actions",
    limit: 10,
    build,
};

/// Fields kept for the check that lands with the Dynamics verifier.
#[allow(dead_code)]
struct Dynamics365 {
    username: String,
    password: SecretField,
    org_url: Url,
    application_id: String,
    tenant: String,
    client_secret: Option<SecretField>,
    token_url: Option<Url>,
}

fn build(spec: &mut Spec) -> Result<Box<dyn Verifier>, ConfigError> {
    let c = &mut spec.credentials;
    Ok(Box::new(Dynamics365 {
        username: c.string("username")?,
        password: c.secret("password")?,
        org_url: c.url("org_url")?,
        application_id: c.string("application_id")?,
        tenant: c
            .opt_string("tenant")?
            .unwrap_or_else(|| "organizations".into()),
        client_secret: c.opt_secret("client_secret")?,
        token_url: spec.endpoints.opt_url("token_url")?,
    }))
}

impl Verifier for Dynamics365 {
    fn credential_type(&self) -> &str {
        "password"
    }

    fn check<'a>(&'a self, _ctx: &'a CheckContext) -> BoxFuture<'a, Outcome> {
        not_supported_yet(TYPE.key)
    }
}
