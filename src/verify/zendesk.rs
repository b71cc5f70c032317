//! Zendesk: `GET {base_url}/api/v2/users/me.json` with HTTP Basic `{email}/token:{api_token}`.
//! The endpoint answers anonymous callers too, so a 200 proves nothing until `user.id` is set;
//! an inactive or suspended user is a disabled account.

use futures_util::future::BoxFuture;
use reqwest::header::ACCEPT;
use serde::Deserialize;

use crate::forecast::Credential;
use crate::spec::intern::SharedUrl;

use super::{CheckContext, IntegrationType, Verifier, status_failure};
use crate::outcome::{Failure, FailureReason, Outcome, Success};
use crate::secret::SecretField;
use crate::spec::{ConfigError, Spec};

pub const TYPE: IntegrationType = IntegrationType {
    key: "zendesk",
    default_name: "Zendesk Data Actions",
    limit: 10,
    genesys_type_ids: &["zendesk-data-actions"],
    build,
};

const PROVIDER: &str = "Zendesk";

struct Zendesk {
    email: String,
    /// `https://{subdomain}.zendesk.com/`, always ending in a slash.
    base_url: SharedUrl,
    api_token: SecretField,
}

fn build(spec: &mut Spec) -> Result<Box<dyn Verifier>, ConfigError> {
    let c = &mut spec.credentials;
    let email = c.string("email")?;
    if !email.contains('@') {
        return Err(c.error("email", "must be the email address of the Zendesk user"));
    }
    let mut base_url = c.url("base_url")?;
    if !base_url.path().ends_with('/') {
        base_url.set_path(&format!("{}/", base_url.path()));
    }
    Ok(Box::new(Zendesk {
        email,
        base_url: spec.endpoints.shared(base_url),
        api_token: c.secret("api_token")?,
    }))
}

#[derive(Deserialize)]
struct Me {
    user: User,
}

#[derive(Deserialize)]
struct User {
    id: Option<u64>,
    active: Option<bool>,
    suspended: Option<bool>,
}

impl Verifier for Zendesk {
    fn credential(&self) -> Credential {
        Credential::ApiToken
    }

    fn credential_type(&self) -> &'static str {
        "api_token"
    }

    fn check<'a>(&'a self, ctx: &'a CheckContext) -> BoxFuture<'a, Outcome> {
        Box::pin(self.run(ctx))
    }
}

impl Zendesk {
    async fn run(&self, ctx: &CheckContext) -> Outcome {
        let token = ctx.secret(&self.api_token)?;
        ctx.remember_basic(&format!("{}/token", self.email), token.expose());
        let url = self
            .base_url
            .join("api/v2/users/me.json")
            .expect("a relative path joins any http(s) URL");
        let request = ctx
            .http
            .get(url)
            .basic_auth(format!("{}/token", self.email), Some(token.expose()))
            .header(ACCEPT, "application/json");
        let response = ctx.http.send(request).await?;
        match response.status.as_u16() {
            200 => {}
            // The shared mapping says "check the URL"; for Zendesk the URL part is the subdomain.
            404 => {
                return Err(Failure::new(
                    FailureReason::ConfigError,
                    "Zendesk has no API at this base_url (HTTP 404); check the subdomain",
                ));
            }
            _ => return Err(status_failure(PROVIDER, &response)),
        }
        let me: Me = response.json(PROVIDER)?;
        if me.user.id.is_none() {
            return Err(Failure::new(
                FailureReason::InvalidCredentials,
                "Zendesk answered as an anonymous user: the email or API token is not accepted \
                 (also check that token access is enabled in Admin Center)",
            ));
        }
        if me.user.suspended == Some(true) {
            return Err(Failure::new(
                FailureReason::AccountDisabled,
                "the Zendesk user is suspended",
            ));
        }
        if me.user.active == Some(false) {
            return Err(Failure::new(
                FailureReason::AccountDisabled,
                "the Zendesk user is inactive (deleted)",
            ));
        }
        Ok(Success::default())
    }
}
