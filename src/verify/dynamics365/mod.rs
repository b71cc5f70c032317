//! Microsoft Dynamics 365: the Entra resource-owner password grant (as MSAL sends it) with scope
//! `{org_url}/.default`, then `GET {org_url}/api/data/v9.2/WhoAmI` with the token, and, when
//! asked, the password's expiry from Microsoft Graph ([`graph`]). Entra's errors are told apart
//! by their `AADSTS` code.

mod graph;

use futures_util::future::BoxFuture;
use reqwest::header::ACCEPT;
use serde::Deserialize;
use url::Url;

use crate::forecast::Credential;
use crate::spec::intern::SharedUrl;

use super::oauth::{self, Grant, TokenError, TokenRequest};
use super::{CheckContext, IntegrationType, Verifier, status_failure};
use crate::outcome::{Failure, FailureReason, Outcome, Success};
use crate::secret::{Secret, SecretField};
use crate::spec::{ConfigError, Spec};

pub const TYPE: IntegrationType = IntegrationType {
    key: "dynamics365",
    default_name: "Microsoft Dynamics 365 Data Actions",
    limit: 10,
    genesys_type_ids: &["microsoft-dynamics-data-actions"],
    build,
};

const PROVIDER: &str = "Microsoft Entra";

struct Dynamics365 {
    username: String,
    password: SecretField,
    application_id: String,
    client_secret: Option<SecretField>,
    token_url: SharedUrl,
    /// `{org_url}/.default`, and `offline_access` when the password's expiry is read.
    scopes: Vec<String>,
    who_am_i: SharedUrl,
    /// `credentials.password_expiry = true`: the Graph read of the password's dates.
    password_expiry: Option<graph::PasswordExpiry>,
}

fn build(spec: &mut Spec) -> Result<Box<dyn Verifier>, ConfigError> {
    let c = &mut spec.credentials;
    let username = c.string("username")?;
    let password = c.secret("password")?;
    let org_url = c.url("org_url")?;
    let org = org_url.as_str().trim_end_matches('/').to_string();
    let who_am_i = Url::parse(&format!("{org}/api/data/v9.2/WhoAmI"))
        .map_err(|e| c.error("org_url", format!("cannot form the WhoAmI URL: {e}")))?;
    let application_id = c.string("application_id")?;
    let tenant = c
        .opt_string("tenant")?
        .unwrap_or_else(|| "organizations".into());
    if tenant.is_empty()
        || !tenant
            .chars()
            .all(|ch| ch.is_ascii_alphanumeric() || "-._".contains(ch))
    {
        return Err(c.error(
            "tenant",
            "must be a tenant id, a domain such as contoso.onmicrosoft.com, or organizations",
        ));
    }
    let client_secret = c.opt_secret("client_secret")?;
    let password_expiry = password_expiry(spec)?;
    let mut scopes = vec![format!("{org}/.default")];
    if password_expiry.is_some() {
        // The refresh token that lets the check ask Graph without a second password attempt.
        scopes.push("offline_access".to_string());
    }
    let token_url = match spec.endpoints.opt_url("token_url")? {
        Some(url) => url,
        None => Url::parse(&format!(
            "https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token"
        ))
        .map_err(|e| {
            spec.credentials
                .error("tenant", format!("cannot form the token URL: {e}"))
        })?,
    };
    Ok(Box::new(Dynamics365 {
        username,
        password,
        application_id,
        client_secret,
        token_url: spec.endpoints.shared(token_url),
        scopes,
        who_am_i: spec.endpoints.shared(who_am_i),
        password_expiry,
    }))
}

/// `credentials.password_expiry`, `credentials.password_max_age` and `endpoints.graph_url`.
fn password_expiry(spec: &mut Spec) -> Result<Option<graph::PasswordExpiry>, ConfigError> {
    let c = &mut spec.credentials;
    let wanted = c.opt_bool("password_expiry")?.unwrap_or(false);
    let max_age = c.opt_duration("password_max_age")?;
    let graph = spec.endpoints.opt_url("graph_url")?;
    if !wanted {
        if max_age.is_some() {
            return Err(c.error(
                "password_max_age",
                "needs password_expiry = true (the password's last change comes from Microsoft Graph)",
            ));
        }
        return Ok(None);
    }
    let graph = graph.unwrap_or_else(|| Url::parse(graph::GRAPH).expect("valid default URL"));
    let me = graph::me_url(&graph).map_err(|e| {
        spec.endpoints
            .error("graph_url", format!("cannot form the /me URL: {e}"))
    })?;
    Ok(Some(graph::PasswordExpiry {
        me: spec.endpoints.shared(me),
        max_age: max_age.unwrap_or(graph::DEFAULT_MAX_AGE),
    }))
}

/// WhoAmI's answer (only what the check reads).
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct WhoAmI {
    #[allow(dead_code)]
    user_id: String,
}

impl Verifier for Dynamics365 {
    fn credential(&self) -> Credential {
        Credential::Password
    }

    fn credential_type(&self) -> &'static str {
        "password"
    }

    fn password_login(&self) -> bool {
        true
    }

    fn login_limits(&self) -> Option<&'static str> {
        Some(
            "Microsoft Entra ID throttles token requests and records every password sign-in in \
             its sign-in logs",
        )
    }

    fn check<'a>(&'a self, ctx: &'a CheckContext) -> BoxFuture<'a, Outcome> {
        Box::pin(self.run(ctx))
    }
}

impl Dynamics365 {
    async fn run(&self, ctx: &CheckContext) -> Outcome {
        let password = ctx.secret(&self.password)?;
        let client_secret = match &self.client_secret {
            Some(field) => Some(ctx.secret(field)?),
            None => None,
        };
        let granted = oauth::request_token::<oauth2::EmptyExtraTokenFields>(
            ctx,
            TokenRequest {
                token_url: &self.token_url,
                client_id: &self.application_id,
                client_secret: client_secret.as_ref(),
                client_in_body: true,
                grant: Grant::Password {
                    username: &self.username,
                    password: &password,
                },
                scopes: &self.scopes,
            },
        )
        .await
        .map_err(token_failure)?;
        let success = Success {
            token_expiry: granted.expires_at,
            revoked: None,
        };
        if !ctx.follow_up {
            return Ok(success);
        }
        self.who_am_i(ctx, &granted.access_token).await?;
        if let Some(expiry) = &self.password_expiry {
            let client = graph::Client {
                token_url: &self.token_url,
                application_id: &self.application_id,
                client_secret: client_secret.as_ref(),
            };
            expiry
                .read(ctx, client, granted.refresh_token.as_ref())
                .await;
        }
        Ok(success)
    }

    /// `WhoAmI` with the Dataverse token: the user must have a license and a security role.
    async fn who_am_i(&self, ctx: &CheckContext, token: &Secret) -> Result<(), Failure> {
        let request = ctx
            .http
            .get(Url::clone(&self.who_am_i))
            .bearer_auth(token.expose())
            .header(ACCEPT, "application/json")
            .header("OData-MaxVersion", "4.0")
            .header("OData-Version", "4.0");
        let response = ctx.http.send(request).await?;
        match response.status.as_u16() {
            200 => {
                let _: WhoAmI = response.json("Dataverse WhoAmI")?;
                Ok(())
            }
            401 | 403 => Err(Failure::new(
                FailureReason::PermissionDenied,
                format!(
                    "Entra signed {} in, but Dataverse refused WhoAmI (HTTP {}): the user needs a \
                     license and a security role in this environment",
                    self.username,
                    response.status.as_u16()
                ),
            )),
            _ => Err(status_failure("Dataverse WhoAmI", &response)),
        }
    }
}

/// The `AADSTS` code of an Entra error: the first of `error_codes`, else the one that starts
/// the (lower-cased) `error_description` (`aadsts50126: error validating credentials...`).
fn aadsts_code(description: &str, body: &serde_json::Value) -> Option<u64> {
    if let Some(code) = body
        .get("error_codes")
        .and_then(|codes| codes.get(0))
        .and_then(|code| code.as_u64())
    {
        return Some(code);
    }
    let digits = &description[description.find("aadsts")? + "aadsts".len()..];
    let end = digits
        .find(|ch: char| !ch.is_ascii_digit())
        .unwrap_or(digits.len());
    digits[..end].parse().ok()
}

/// The reason and an operator's hint for each AADSTS code PROVIDERS.md lists.
fn aadsts_reason(code: u64) -> Option<(FailureReason, &'static str)> {
    Some(match code {
        50126 | 50034 => (
            FailureReason::InvalidCredentials,
            "wrong username or password, or no such user",
        ),
        50053 => (
            FailureReason::AccountLocked,
            "the account is locked after too many failed sign-ins",
        ),
        50055 => (
            FailureReason::ExpiredCredentials,
            "the password has expired",
        ),
        50057 => (
            FailureReason::AccountDisabled,
            "the user account is disabled",
        ),
        50076 | 50079 | 50158 => (
            FailureReason::MfaRequired,
            "a Conditional Access policy or security defaults demand MFA, which a password grant cannot answer; exclude this account",
        ),
        65001 => (
            FailureReason::PermissionDenied,
            "no one has consented to the application for Dynamics CRM: grant admin consent",
        ),
        53003 => (
            FailureReason::PermissionDenied,
            "a Conditional Access policy blocked the sign-in",
        ),
        7000218 => (
            FailureReason::ConfigError,
            "the app registration does not allow public client flows: turn on Allow public client flows, or set client_secret",
        ),
        700016 => (
            FailureReason::ConfigError,
            "no application with this application_id in the tenant",
        ),
        90002 => (FailureReason::ConfigError, "no such tenant"),
        500011 => (
            FailureReason::ConfigError,
            "no Dataverse environment answers to this org_url in the tenant",
        ),
        _ => return None,
    })
}

fn token_failure(error: TokenError) -> Failure {
    oauth::provider_failure(PROVIDER, error, |_, text, body| {
        let (reason, hint) = aadsts_reason(aadsts_code(text, body)?)?;
        Some((reason, hint.to_string()))
    })
}

#[cfg(test)]
mod tests {
    use super::{aadsts_code, aadsts_reason};
    use crate::outcome::FailureReason::{self, *};
    use serde_json::json;

    /// Every AADSTS code PROVIDERS.md lists, and one it does not.
    #[test]
    fn aadsts_codes_map_to_reasons() {
        let rows: &[(u64, Option<FailureReason>)] = &[
            (50126, Some(InvalidCredentials)),
            (50034, Some(InvalidCredentials)),
            (50053, Some(AccountLocked)),
            (50055, Some(ExpiredCredentials)),
            (50057, Some(AccountDisabled)),
            (50076, Some(MfaRequired)),
            (50079, Some(MfaRequired)),
            (50158, Some(MfaRequired)),
            (65001, Some(PermissionDenied)),
            (53003, Some(PermissionDenied)),
            (7000218, Some(ConfigError)),
            (700016, Some(ConfigError)),
            (90002, Some(ConfigError)),
            (500011, Some(ConfigError)),
            (50000, None),
        ];
        for &(code, reason) in rows {
            assert_eq!(aadsts_reason(code).map(|(r, _)| r), reason, "AADSTS{code}");
        }
    }

    #[test]
    fn aadsts_code_from_error_codes_or_description() {
        assert_eq!(
            aadsts_code("aadsts50126: error", &json!({"error_codes": [50053]})),
            Some(50053)
        );
        assert_eq!(
            aadsts_code("aadsts7000218: the request body", &json!(null)),
            Some(7000218)
        );
        assert_eq!(aadsts_code("no code here", &json!({})), None);
        assert_eq!(aadsts_code("", &json!({"error_codes": []})), None);
    }
}
