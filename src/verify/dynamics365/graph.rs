//! Entra password expiry, read through Microsoft Graph without a second password attempt
//! (`credentials.password_expiry = true`): the password login also asks for `offline_access`,
//! its refresh token is redeemed once at the same token endpoint for a Graph token (scope
//! `https://graph.microsoft.com/User.Read`, the delegated permission the app registration needs),
//! and `GET /v1.0/me?$select=lastPasswordChangeDateTime,passwordPolicies` tells when the
//! password last changed and whether it expires at all. The domain's password validity
//! (`passwordValidityPeriodInDays`) needs a permission integration apps rarely have, so it comes
//! from `password_max_age` (default 90 days, Entra's default). The refresh token is never kept:
//! it goes with the check's context. Anything that goes wrong here is a warning: the login
//! itself was proven.

use std::time::Duration;

use reqwest::header::ACCEPT;
use serde::Deserialize;
use url::Url;

use crate::forecast::{Credential, Learnt, Source};
use crate::secret::Secret;
use crate::spec::intern::SharedUrl;
use crate::verify::oauth::{self, Grant, TokenRequest};
use crate::verify::{CheckContext, status_failure};

/// The scope of the Graph token: reading the signed-in user's own profile.
pub(super) const USER_READ: &str = "https://graph.microsoft.com/User.Read";

/// Where Microsoft Graph answers (`endpoints.graph_url` overrides it).
pub(super) const GRAPH: &str = "https://graph.microsoft.com";

/// Entra's default password validity, when `password_max_age` is not set.
pub(super) const DEFAULT_MAX_AGE: Duration = Duration::from_secs(90 * 86_400);

/// What `/me` answers when both properties are selected.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Me {
    last_password_change_date_time: Option<String>,
    password_policies: Option<String>,
}

/// The Graph read of one integration.
pub(super) struct PasswordExpiry {
    /// `{graph_url}/v1.0/me?$select=lastPasswordChangeDateTime,passwordPolicies`.
    pub(super) me: SharedUrl,
    pub(super) max_age: Duration,
}

/// The token request's client: the app registration, as for the password login.
pub(super) struct Client<'a> {
    pub(super) token_url: &'a Url,
    pub(super) application_id: &'a str,
    pub(super) client_secret: Option<&'a Secret>,
}

/// The `/me` URL of a Graph base URL (a path in it is kept: a proxy's prefix).
pub(super) fn me_url(graph: &Url) -> Result<Url, url::ParseError> {
    let mut base = graph.clone();
    if !base.path().ends_with('/') {
        let path = format!("{}/", base.path());
        base.set_path(&path);
    }
    let mut url = base.join("v1.0/me")?;
    url.set_query(Some("$select=lastPasswordChangeDateTime,passwordPolicies"));
    Ok(url)
}

impl PasswordExpiry {
    /// Redeems `refresh_token` for a Graph token and reads the user's password dates; tells
    /// `ctx` what it learnt.
    pub(super) async fn read(
        &self,
        ctx: &CheckContext,
        client: Client<'_>,
        refresh_token: Option<&Secret>,
    ) {
        let Some(refresh_token) = refresh_token else {
            cannot_tell(
                ctx,
                "Entra granted no refresh token: offline_access was not granted to the app",
            );
            return;
        };
        let scopes = [USER_READ.to_string()];
        let granted = oauth::request_token::<oauth2::EmptyExtraTokenFields>(
            ctx,
            TokenRequest {
                token_url: client.token_url,
                client_id: client.application_id,
                client_secret: client.client_secret,
                client_in_body: true,
                grant: Grant::RefreshToken {
                    token: refresh_token,
                },
                scopes: &scopes,
            },
        )
        .await;
        let granted = match granted {
            Ok(granted) => granted,
            Err(error) => {
                let failure = super::token_failure(error);
                cannot_tell(
                    ctx,
                    &format!(
                        "the Graph token was refused: {}; the app registration needs the delegated \
                         Microsoft Graph permission User.Read, with consent",
                        failure.message
                    ),
                );
                return;
            }
        };
        let request = ctx
            .http
            .get(Url::clone(&self.me))
            .bearer_auth(granted.access_token.expose())
            .header(ACCEPT, "application/json");
        let me: Me = match ctx.http.send(request).await {
            Ok(response) if response.status.as_u16() == 200 => {
                match response.json("Microsoft Graph /me") {
                    Ok(me) => me,
                    Err(failure) => return cannot_tell(ctx, &failure.message),
                }
            }
            Ok(response) => {
                return cannot_tell(
                    ctx,
                    &status_failure("Microsoft Graph /me", &response).message,
                );
            }
            Err(failure) => return cannot_tell(ctx, &failure.message),
        };
        let Some(changed) = me
            .last_password_change_date_time
            .as_deref()
            .and_then(|text| chrono::DateTime::parse_from_rfc3339(text).ok())
            .map(|at| at.timestamp() as f64)
        else {
            return cannot_tell(ctx, "Microsoft Graph /me has no lastPasswordChangeDateTime");
        };
        let never = me
            .password_policies
            .as_deref()
            .is_some_and(|policies| policies.contains("DisablePasswordExpiration"));
        let expires = (!never).then_some((Source::Policy, changed + self.max_age.as_secs_f64()));
        ctx.learn(Learnt::dated(Credential::Password, Some(changed), expires));
    }
}

fn cannot_tell(ctx: &CheckContext, why: &str) {
    ctx.warn(
        "reading the password's expiry from Microsoft Graph failed",
        why,
    );
}
