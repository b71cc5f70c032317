//! Salesforce: the OAuth username-password flow (password followed by the security token) at
//! `{login_url}/services/oauth2/token`, then `GET` of the identity URL it returns. The fields are
//! validated now; the check itself lands with the Salesforce verifier issue.

use futures_util::future::BoxFuture;
use url::Url;

use super::{CheckContext, IntegrationType, Verifier, not_supported_yet};
use crate::config::{ConfigError, Spec};
use crate::outcome::Outcome;
use crate::secret::SecretField;

pub const TYPE: IntegrationType = IntegrationType {
    key: "salesforce",
    default_name: "Salesforce Data Actions",
    limit: 50,
    build,
};

/// Fields kept for the check that lands with the Salesforce verifier.
#[allow(dead_code)]
struct Salesforce {
    username: String,
    password: SecretField,
    /// Empty when the org trusts credwatch's IP range.
    security_token: Option<SecretField>,
    login_url: Url,
    client_id: String,
    client_secret: SecretField,
}

fn build(spec: &mut Spec) -> Result<Box<dyn Verifier>, ConfigError> {
    let c = &mut spec.credentials;
    Ok(Box::new(Salesforce {
        username: c.string("username")?,
        password: c.secret("password")?,
        security_token: c.opt_secret("security_token")?,
        login_url: c.opt_url("login_url")?.unwrap_or_else(|| {
            Url::parse("https://login.salesforce.com").expect("valid default URL")
        }),
        client_id: c.string("client_id")?,
        client_secret: c.secret("client_secret")?,
    }))
}

impl Verifier for Salesforce {
    fn credential_type(&self) -> &str {
        "username_password"
    }

    fn check<'a>(&'a self, _ctx: &'a CheckContext) -> BoxFuture<'a, Outcome> {
        not_supported_yet(TYPE.key)
    }
}
