//! Salesforce: the OAuth username-password flow (password followed by the security token) at
//! `{login_url}/services/oauth2/token`, through the `oauth2` crate with the connected app's key
//! and secret in the form, then `GET` of the identity URL the token answer names and of the
//! password's expiry ([`password`]), then `POST {instance_url}/services/oauth2/revoke` to revoke
//! the token (unless `revoke = false`).

mod password;

use futures_util::future::BoxFuture;
use reqwest::header::ACCEPT;
use serde::{Deserialize, Serialize};
use url::Url;

use crate::forecast::Credential;
use crate::spec::intern::SharedUrl;

use super::oauth::{self, Grant, Granted, TokenError, TokenRequest};
use super::{CheckContext, IntegrationType, Verifier, status_failure};
use crate::outcome::{Failure, FailureReason, Outcome, Success};
use crate::secret::{Secret, SecretField};
use crate::spec::{ConfigError, Spec};

pub const TYPE: IntegrationType = IntegrationType {
    key: "salesforce",
    default_name: "Salesforce Data Actions",
    limit: 50,
    genesys_type_ids: &["salesforce-datadip"],
    build,
};

const PROVIDER: &str = "Salesforce";

struct Salesforce {
    username: String,
    password: SecretField,
    /// Absent when the org trusts credwatch's IP range.
    security_token: Option<SecretField>,
    token_url: SharedUrl,
    login_origin: url::Origin,
    client_id: String,
    client_secret: SecretField,
    /// How the password's expiry is read and forecast.
    policy: password::Policy,
}

/// Salesforce's fields in the token answer beyond RFC 6749's.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Extra {
    /// The identity URL, `https://login.salesforce.com/id/{org id}/{user id}`.
    id: Option<String>,
    instance_url: Option<String>,
}

impl oauth2::ExtraTokenFields for Extra {}

/// What the identity URL answers (only what the check reads).
#[derive(Deserialize)]
struct Identity {
    user_id: String,
    #[serde(default = "active_by_default")]
    active: bool,
}

fn active_by_default() -> bool {
    true
}

fn build(spec: &mut Spec) -> Result<Box<dyn Verifier>, ConfigError> {
    let c = &mut spec.credentials;
    let username = c.string("username")?;
    let password = c.secret("password")?;
    let security_token = c.opt_secret("security_token")?;
    let login_url = c
        .opt_url("login_url")?
        .unwrap_or_else(|| Url::parse("https://login.salesforce.com").expect("valid default URL"));
    let token_url = login_url
        .join("/services/oauth2/token")
        .map_err(|e| c.error("login_url", format!("cannot form the token URL: {e}")))?;
    Ok(Box::new(Salesforce {
        username,
        password,
        security_token,
        login_origin: login_url.origin(),
        token_url: spec.endpoints.shared(token_url),
        client_id: c.string("client_id")?,
        client_secret: c.secret("client_secret")?,
        policy: password::Policy {
            api_version: api_version(c)?,
            max_age: c.opt_duration("password_max_age")?,
        },
    }))
}

/// `credentials.api_version`: `65.0`, or another `NN.N` (a leading `v` is allowed).
fn api_version(c: &mut crate::spec::Section) -> Result<String, ConfigError> {
    let Some(text) = c.opt_string("api_version")? else {
        return Ok(password::DEFAULT_API_VERSION.to_string());
    };
    let version = text.strip_prefix('v').unwrap_or(&text);
    let well_formed = version.split_once('.').is_some_and(|(major, minor)| {
        !major.is_empty()
            && !minor.is_empty()
            && major
                .bytes()
                .chain(minor.bytes())
                .all(|b| b.is_ascii_digit())
    });
    if !well_formed {
        return Err(c.error("api_version", "must be a REST API version such as \"65.0\""));
    }
    Ok(version.to_string())
}

impl Verifier for Salesforce {
    fn credential(&self) -> Credential {
        Credential::Password
    }

    fn credential_type(&self) -> &'static str {
        "username_password"
    }

    fn password_login(&self) -> bool {
        true
    }

    fn login_limits(&self) -> Option<&'static str> {
        Some(
            "Salesforce allows 3,600 logins per user per hour (then LOGIN_RATE_EXCEEDED, for every \
             client of that user) and writes each one to the user's Login History",
        )
    }

    fn check<'a>(&'a self, ctx: &'a CheckContext) -> BoxFuture<'a, Outcome> {
        Box::pin(self.run(ctx))
    }
}

impl Salesforce {
    async fn run(&self, ctx: &CheckContext) -> Outcome {
        let mut password = ctx.secret(&self.password)?.expose().to_string();
        if let Some(token) = &self.security_token {
            password.push_str(ctx.secret(token)?.expose());
        }
        let password = Secret::new(password);
        ctx.remember(password.clone());
        let client_secret = ctx.secret(&self.client_secret)?;
        let granted = oauth::request_token::<Extra>(
            ctx,
            TokenRequest {
                token_url: &self.token_url,
                client_id: &self.client_id,
                client_secret: Some(&client_secret),
                client_in_body: true,
                grant: Grant::Password {
                    username: &self.username,
                    password: &password,
                },
                scopes: &[],
            },
        )
        .await
        .map_err(token_failure)?;
        if ctx.follow_up {
            let identity_url = self.verify(ctx, &granted).await?;
            self.read_password_expiry(ctx, &granted, &identity_url)
                .await?;
        }
        let revoked = match self.revoke_url(granted.extra.instance_url.as_deref()) {
            Some(url) => {
                oauth::revoke_posting_token(ctx, PROVIDER, url, &granted.access_token).await
            }
            None => None,
        };
        Ok(Success {
            revoked,
            ..Success::default()
        })
    }

    /// When the password changed and whether it has expired, read at the instance with the new
    /// token (see [`password`]). Skipped, with a warning, when the token answer names no
    /// instance credwatch may send the token to.
    async fn read_password_expiry(
        &self,
        ctx: &CheckContext,
        granted: &Granted<Extra>,
        identity_url: &Url,
    ) -> Result<(), Failure> {
        let Some(user_id) = password::user_id(identity_url) else {
            tracing::warn!(
                integration = %ctx.integration,
                "the Salesforce identity URL ends in no user id, so credwatch cannot tell when the password expires"
            );
            return Ok(());
        };
        let instance = granted
            .extra
            .instance_url
            .as_deref()
            .and_then(|u| Url::parse(u).ok())
            .filter(|u| self.may_receive_token(u));
        let Some(instance) = instance else {
            tracing::warn!(
                integration = %ctx.integration,
                "the Salesforce token answer names no HTTPS instance_url, so credwatch cannot tell when the password expires"
            );
            return Ok(());
        };
        self.policy
            .read(
                ctx,
                &instance,
                &granted.access_token,
                user_id,
                &self.username,
            )
            .await
    }

    /// The identity URL with the new token: the user must be active. Returns the URL, whose
    /// last segment is the user's id.
    async fn verify(&self, ctx: &CheckContext, granted: &Granted<Extra>) -> Result<Url, Failure> {
        let id_url = self.identity_url(granted.extra.id.as_deref())?;
        let request = ctx
            .http
            .get(id_url.clone())
            .bearer_auth(granted.access_token.expose())
            .header(ACCEPT, "application/json");
        let response = ctx.http.send(request).await?;
        if response.status.as_u16() != 200 {
            if password::says_expired(&response) {
                return Err(password::expired(&self.username));
            }
            return Err(status_failure("Salesforce identity URL", &response));
        }
        let identity: Identity = response.json("Salesforce identity URL")?;
        if !identity.active {
            return Err(Failure::new(
                FailureReason::AccountDisabled,
                format!(
                    "Salesforce user {} ({}) is inactive",
                    self.username, identity.user_id
                ),
            ));
        }
        Ok(id_url)
    }

    /// Whether a URL from a token answer may be sent the token: HTTPS, or the configured login
    /// URL's own origin (a local server in tests).
    fn may_receive_token(&self, url: &Url) -> bool {
        url.scheme() == "https" || url.origin() == self.login_origin
    }

    /// `{instance_url}/services/oauth2/revoke`, where Salesforce revokes a token. The token goes
    /// there, so the instance URL must be HTTPS or on the login URL's origin (a local server in
    /// tests); without a usable one, the login URL's (Salesforce revokes there too).
    fn revoke_url(&self, instance_url: Option<&str>) -> Option<Url> {
        let instance = instance_url
            .and_then(|u| Url::parse(u).ok())
            .filter(|u| self.may_receive_token(u));
        let base = match instance {
            Some(url) => url,
            None => Url::parse(&self.login_origin.ascii_serialization()).ok()?,
        };
        base.join("/services/oauth2/revoke").ok()
    }

    /// The identity URL from the token answer. The token goes there, so it must be HTTPS (or on
    /// the configured login URL's own origin, as in a test against a local server).
    fn identity_url(&self, id: Option<&str>) -> Result<Url, Failure> {
        let missing = || {
            Failure::new(
                FailureReason::ProtocolError,
                "Salesforce token answer has no valid identity URL (`id`)",
            )
        };
        let url = Url::parse(id.ok_or_else(missing)?).map_err(|_| missing())?;
        if self.may_receive_token(&url) {
            Ok(url)
        } else {
            Err(Failure::new(
                FailureReason::ProtocolError,
                "Salesforce token answer names an identity URL that is not HTTPS; credwatch will not send the token there",
            ))
        }
    }
}

/// Salesforce's token errors, as its documentation lists them.
fn token_failure(error: TokenError) -> Failure {
    oauth::provider_failure(PROVIDER, error, |code, text, _| {
        let (reason, hint) = match code {
            "invalid_grant" if text.contains("authentication failure") => (
                FailureReason::InvalidCredentials,
                "either the username, password or security token is wrong, or the org blocks the \
                 OAuth username-password flow (new orgs do): turn on Allow OAuth Username-Password \
                 Flows in Setup > OAuth and OpenID Connect Settings; the user's Login History tells \
                 which",
            ),
            "invalid_grant"
                if text.contains("hasn't approved") || text.contains("not approved") =>
            {
                (
                    FailureReason::PermissionDenied,
                    "the connected app is not approved for this user: pre-authorize it for the user's \
                 profile or permission set, or set Permitted Users to all users",
                )
            }
            "invalid_grant" if text.contains("ip restricted") || text.contains("login hours") => (
                FailureReason::PermissionDenied,
                "the user's profile restricts login IP ranges or hours: allow credwatch's address, \
                 or relax the connected app's IP relaxation policy",
            ),
            "invalid_grant" if text.contains("rate exceeded") => (
                FailureReason::RateLimited,
                "Salesforce limits how often a user may log in; checks will go on at the next interval",
            ),
            "rate_limit_exceeded" => (
                FailureReason::RateLimited,
                "Salesforce limits how often a user may log in; checks will go on at the next interval",
            ),
            "inactive_user" => (FailureReason::AccountDisabled, "the user is deactivated"),
            "inactive_org" => (
                FailureReason::AccountDisabled,
                "the org is locked, closed or suspended",
            ),
            "invalid_client_id" | "invalid_client" | "invalid_client_credentials" => (
                FailureReason::ConfigError,
                "check client_id and client_secret: the connected app's consumer key and secret",
            ),
            "unsupported_grant_type" => (
                FailureReason::ConfigError,
                "the app does not offer the username-password flow (an External Client App has \
                 none), or the request was not form-encoded",
            ),
            _ => return None,
        };
        Some((reason, hint.to_string()))
    })
}
