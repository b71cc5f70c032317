//! OAuth 2.0 token requests made by the `oauth2` crate and sent through credwatch's own HTTP
//! client, and the mapping of what token endpoints answer to failure reasons. Genesys Cloud,
//! Salesforce, Entra (Dynamics 365), Google and web services' OAuth all use it.

use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use oauth2::basic::{
    BasicErrorResponse, BasicRevocationErrorResponse, BasicTokenIntrospectionResponse,
    BasicTokenType,
};
use oauth2::{
    AccessToken, AsyncHttpClient, AuthType, ClientId, ClientSecret, EmptyExtraTokenFields,
    EndpointNotSet, EndpointSet, ExtraTokenFields, RefreshToken, RequestTokenError,
    ResourceOwnerPassword, ResourceOwnerUsername, RevocationUrl, Scope, StandardRevocableToken,
    StandardTokenResponse, TokenResponse, TokenUrl,
};
use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use url::Url;

mod jwt_bearer;

pub use jwt_bearer::jwt_bearer;

use super::scrub::printable;
use super::{CheckContext, failure_for_status};
use crate::http::{HttpClient, TransportError, retry_after};
use crate::outcome::{Failure, FailureReason};
use crate::secret::Secret;

/// A token the endpoint granted, with the provider's own extra fields `EF`.
pub struct Granted<EF = EmptyExtraTokenFields> {
    /// The access token (already marked secret in the check context).
    pub access_token: Secret,
    /// When it expires, if the endpoint said.
    pub expires_at: Option<SystemTime>,
    /// The refresh token, when the endpoint granted one (already marked secret in the check
    /// context). Never stored: it goes when the check's context does.
    pub refresh_token: Option<Secret>,
    /// Fields beyond RFC 6749's (Salesforce's `id` and `instance_url`).
    pub extra: EF,
}

/// What went wrong getting a token, before it is given a provider's wording.
#[derive(Debug)]
pub enum TokenError {
    /// The endpoint answered an OAuth error (`invalid_client`, ...).
    OAuth {
        status: Option<StatusCode>,
        code: String,
        /// `error_description`, already scrubbed of the check's secrets.
        description: Option<String>,
        retry_after: Option<Duration>,
        /// The whole error body as JSON, for providers with fields of their own (Entra's
        /// `error_codes`); `Null` when it was not JSON.
        body: serde_json::Value,
    },
    /// The endpoint answered a status with no OAuth error in the body.
    Status {
        status: StatusCode,
        retry_after: Option<Duration>,
    },
    /// The answer was not what RFC 6749 promises.
    Protocol(String),
    /// The request did not complete.
    Transport(TransportError),
}

/// The grant to ask for.
pub enum Grant<'a> {
    /// RFC 6749 section 4.4.
    ClientCredentials,
    /// RFC 6749 section 4.3, the resource owner's username and password.
    Password {
        username: &'a str,
        password: &'a Secret,
    },
    /// RFC 6749 section 6, a refresh token redeemed (for another resource's scope, as Entra
    /// allows).
    RefreshToken { token: &'a Secret },
}

/// One token request: where, who the client is, and what for.
pub struct TokenRequest<'a> {
    pub token_url: &'a Url,
    pub client_id: &'a str,
    pub client_secret: Option<&'a Secret>,
    /// `true` sends `client_id`/`client_secret` in the form (Salesforce, Entra); `false` uses
    /// HTTP Basic when there is a secret.
    pub client_in_body: bool,
    pub grant: Grant<'a>,
    pub scopes: &'a [String],
}

/// The client-credentials grant (RFC 6749 section 4.4), client authenticated with HTTP Basic.
pub async fn client_credentials(
    ctx: &CheckContext,
    token_url: &Url,
    client_id: &str,
    client_secret: &Secret,
) -> Result<Granted, TokenError> {
    request_token(
        ctx,
        TokenRequest {
            token_url,
            client_id,
            client_secret: Some(client_secret),
            client_in_body: false,
            grant: Grant::ClientCredentials,
            scopes: &[],
        },
    )
    .await
}

/// The `oauth2` client whose token answers carry the extra fields `EF`, with its revocation
/// and token endpoints set or not (by default: a token endpoint only).
type Client<EF, HasRevocationUrl = EndpointNotSet, HasTokenUrl = EndpointSet> = oauth2::Client<
    BasicErrorResponse,
    StandardTokenResponse<EF, BasicTokenType>,
    BasicTokenIntrospectionResponse,
    StandardRevocableToken,
    BasicRevocationErrorResponse,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    HasRevocationUrl,
    HasTokenUrl,
>;

/// Asks a token endpoint for a token, through the `oauth2` crate.
pub async fn request_token<EF: ExtraTokenFields + Clone>(
    ctx: &CheckContext,
    request: TokenRequest<'_>,
) -> Result<Granted<EF>, TokenError> {
    request_token_via(ctx, &ctx.http, request).await
}

/// [`request_token`] through another client of the check (one presenting a client certificate).
pub async fn request_token_via<EF: ExtraTokenFields + Clone>(
    ctx: &CheckContext,
    http: &HttpClient,
    request: TokenRequest<'_>,
) -> Result<Granted<EF>, TokenError> {
    let mut client: Client<EF> = oauth2::Client::new(ClientId::new(request.client_id.into()))
        .set_token_uri(TokenUrl::from_url(request.token_url.clone()))
        .set_auth_type(if request.client_in_body {
            AuthType::RequestBody
        } else {
            AuthType::BasicAuth
        });
    if let Some(secret) = request.client_secret {
        client = client.set_client_secret(ClientSecret::new(secret.expose().to_string()));
        if !request.client_in_body {
            ctx.remember_basic(request.client_id, secret.expose());
        }
    }
    let scopes = request.scopes.iter().map(|s| Scope::new(s.clone()));
    let sender = Sender {
        http,
        seen: Mutex::new(None),
    };
    let result = match request.grant {
        Grant::ClientCredentials => {
            client
                .exchange_client_credentials()
                .add_scopes(scopes)
                .request_async(&sender)
                .await
        }
        Grant::Password { username, password } => {
            let username = ResourceOwnerUsername::new(username.to_string());
            let password = ResourceOwnerPassword::new(password.expose().to_string());
            client
                .exchange_password(&username, &password)
                .add_scopes(scopes)
                .request_async(&sender)
                .await
        }
        Grant::RefreshToken { token } => {
            let token = RefreshToken::new(token.expose().to_string());
            client
                .exchange_refresh_token(&token)
                .add_scopes(scopes)
                .request_async(&sender)
                .await
        }
    };
    let seen = sender.seen.into_inner().unwrap_or_else(|p| p.into_inner());
    granted(ctx, result, seen)
}

/// The `oauth2` client that only revokes (RFC 7009).
type Revoker = Client<EmptyExtraTokenFields, EndpointSet, EndpointNotSet>;

/// Revokes an access token at an RFC 7009 endpoint through the `oauth2` crate (HTTPS only, as
/// RFC 7009 demands), the client authenticated with HTTP Basic as for its token request.
/// `Err` says why it was not revoked.
pub async fn revoke_access_token(
    http: &HttpClient,
    revocation_url: &Url,
    client_id: &str,
    client_secret: &Secret,
    token: &Secret,
) -> Result<(), String> {
    let client: Revoker = oauth2::Client::new(ClientId::new(client_id.into()))
        .set_client_secret(ClientSecret::new(client_secret.expose().to_string()))
        .set_auth_type(AuthType::BasicAuth)
        .set_revocation_url(RevocationUrl::from_url(revocation_url.clone()));
    let sender = Sender {
        http,
        seen: Mutex::new(None),
    };
    let request = client
        .revoke_token(StandardRevocableToken::AccessToken(AccessToken::new(
            token.expose().to_string(),
        )))
        .map_err(|e| e.to_string())?;
    match request.request_async(&sender).await {
        Ok(()) => Ok(()),
        Err(RequestTokenError::Request(e)) => Err(e.message),
        Err(RequestTokenError::ServerResponse(e)) => Err(format!(
            "the revocation endpoint answered {}",
            e.error().as_ref()
        )),
        Err(_) => Err(
            match sender.seen.into_inner().unwrap_or_else(|p| p.into_inner()) {
                Some(seen) => format!(
                    "the revocation endpoint answered HTTP {}",
                    seen.status.as_u16()
                ),
                None => "the revocation endpoint gave an unexpected answer".to_string(),
            },
        ),
    }
}

/// Revokes `token` with `POST url` and the form `token=...`, as Google's and Salesforce's
/// revocation endpoints take it (no client authentication): see [`CheckContext::revoke`].
pub async fn revoke_posting_token(
    ctx: &CheckContext,
    provider: &str,
    url: Url,
    token: &Secret,
) -> Option<bool> {
    let request = ctx
        .http
        .request(reqwest::Method::POST, url)
        .form(&[("token", token.expose())]);
    ctx.revoke(provider, request).await
}

/// What the token endpoint answered besides the body the crate parsed.
struct Answered {
    status: StatusCode,
    headers: HeaderMap,
    /// The body of an error answer; empty for a success.
    body: Vec<u8>,
}

/// Sends the `oauth2` crate's requests through the check's HTTP client, remembering the status,
/// headers (`Retry-After`) and body that the crate's error types do not keep.
struct Sender<'a> {
    http: &'a HttpClient,
    seen: Mutex<Option<Answered>>,
}

impl<'c> AsyncHttpClient<'c> for Sender<'_> {
    type Error = TransportError;
    type Future =
        Pin<Box<dyn Future<Output = Result<oauth2::HttpResponse, TransportError>> + Send + 'c>>;

    fn call(&'c self, request: oauth2::HttpRequest) -> Self::Future {
        Box::pin(async move {
            let response = self.http.send_oauth(request).await?;
            // Only an error body is read again (for fields the crate drops); a token stays
            // with the crate alone.
            let body = if response.status().is_success() {
                Vec::new()
            } else {
                response.body().clone()
            };
            *self.seen.lock().unwrap_or_else(|p| p.into_inner()) = Some(Answered {
                status: response.status(),
                headers: response.headers().clone(),
                body,
            });
            Ok(response)
        })
    }
}

fn granted<EF: ExtraTokenFields + Clone>(
    ctx: &CheckContext,
    result: Result<
        StandardTokenResponse<EF, BasicTokenType>,
        RequestTokenError<TransportError, BasicErrorResponse>,
    >,
    seen: Option<Answered>,
) -> Result<Granted<EF>, TokenError> {
    let status = seen.as_ref().map(|s| s.status);
    let wait = seen.as_ref().and_then(|s| retry_after(&s.headers));
    match result {
        Ok(token) => {
            let access_token = Secret::new(token.access_token().secret().clone());
            ctx.remember(access_token.clone());
            let refresh_token = token
                .refresh_token()
                .map(|refresh| Secret::new(refresh.secret().clone()));
            if let Some(refresh) = &refresh_token {
                ctx.remember(refresh.clone());
            }
            Ok(Granted {
                access_token,
                refresh_token,
                expires_at: token.expires_in().map(|d| SystemTime::now() + d),
                extra: token.extra_fields().clone(),
            })
        }
        // The provider's words are scrubbed as they arrive, before anything cuts or cleans them.
        Err(RequestTokenError::ServerResponse(e)) => Err(TokenError::OAuth {
            status,
            code: e.error().as_ref().to_string(),
            description: e.error_description().map(|d| ctx.scrub(d)),
            retry_after: wait,
            body: seen
                .and_then(|s| serde_json::from_slice(&s.body).ok())
                .unwrap_or_default(),
        }),
        Err(RequestTokenError::Request(e)) => Err(TokenError::Transport(e)),
        Err(error @ (RequestTokenError::Parse(..) | RequestTokenError::Other(_))) => {
            // A failed status with a body that is no OAuth error: the status says it all.
            if let Some(status) = status.filter(|s| *s != StatusCode::OK) {
                return Err(TokenError::Status {
                    status,
                    retry_after: wait,
                });
            }
            Err(TokenError::Protocol(match error {
                RequestTokenError::Parse(e, _) => format!(
                    "the token endpoint answered HTTP 200 without a valid token response (at {})",
                    e.path()
                ),
                other => format!("the token endpoint gave an unexpected answer: {other}"),
            }))
        }
    }
}

/// The RFC 6749 error codes every provider shares, given their reasons. Providers map their own
/// codes first and fall back to this.
pub fn standard_failure(provider: &str, error: TokenError) -> Failure {
    match error {
        TokenError::OAuth {
            status,
            code,
            description,
            retry_after,
            ..
        } => {
            let reason = standard_reason(&code, status.map(|s| s.as_u16()));
            Failure::new(
                reason,
                oauth_message(provider, &code, description.as_deref()),
            )
            .with_retry_after(retry_after)
        }
        TokenError::Status {
            status,
            retry_after,
        } => failure_for_status(&format!("{provider} token endpoint"), status, retry_after),
        TokenError::Protocol(message) => Failure::new(
            FailureReason::ProtocolError,
            format!("{provider}: {message}"),
        ),
        TokenError::Transport(e) => e.into(),
    }
}

/// The RFC 6749 table: an error `code` of a token endpoint, with the HTTP status it came with.
pub(crate) fn standard_reason(code: &str, status: Option<u16>) -> FailureReason {
    match (code, status) {
        (_, Some(429)) | ("rate_limit_exceeded" | "slow_down", _) => FailureReason::RateLimited,
        ("invalid_client" | "invalid_grant", _) => FailureReason::InvalidCredentials,
        ("unauthorized_client" | "access_denied", _) => FailureReason::PermissionDenied,
        ("invalid_scope", _) => FailureReason::InvalidScope,
        ("unsupported_grant_type" | "invalid_request", _) => FailureReason::ConfigError,
        ("temporarily_unavailable" | "server_error", _) | (_, Some(500..=599)) => {
            FailureReason::ProviderError
        }
        (_, Some(401)) => FailureReason::InvalidCredentials,
        (_, Some(403)) => FailureReason::PermissionDenied,
        _ => FailureReason::ProtocolError,
    }
}

/// A provider's own table of token errors first, the RFC 6749 defaults after. `rule` gets the
/// error code, the description in lower case and the whole error body, and returns the reason
/// with a hint for the operator, or `None` to leave the error to [`standard_failure`].
pub fn provider_failure(
    provider: &str,
    error: TokenError,
    rule: impl FnOnce(&str, &str, &serde_json::Value) -> Option<(FailureReason, String)>,
) -> Failure {
    if let TokenError::OAuth {
        ref code,
        ref description,
        ref body,
        retry_after,
        ..
    } = error
    {
        let text = description
            .as_deref()
            .unwrap_or_default()
            .to_ascii_lowercase();
        if let Some((reason, hint)) = rule(code, &text, body) {
            let said = oauth_message(provider, code, description.as_deref());
            return Failure::new(reason, format!("{said} ({hint})")).with_retry_after(retry_after);
        }
    }
    standard_failure(provider, error)
}

/// `Genesys Cloud token endpoint answered invalid_client: Invalid client credentials`. The
/// description was scrubbed when it arrived (see [`TokenError::OAuth`]).
pub fn oauth_message(provider: &str, code: &str, description: Option<&str>) -> String {
    let mut message = format!("{provider} token endpoint answered {}", printable(code, 64));
    // Entra ends its descriptions with trace and correlation ids, of no use to an operator.
    let description = description.map(|d| d.split("Trace ID:").next().unwrap_or(d));
    if let Some(description) = description.filter(|d| !d.trim().is_empty()) {
        message.push_str(": ");
        message.push_str(&printable(description, 200));
    }
    message
}

#[cfg(test)]
mod table_tests {
    use super::standard_reason;
    use crate::outcome::FailureReason::{self, *};

    /// RFC 6749 section 5.2's codes, and the statuses that decide when the code does not.
    #[test]
    fn standard_codes_and_statuses_map_to_reasons() {
        let rows: &[(&str, Option<u16>, FailureReason)] = &[
            ("invalid_client", Some(401), InvalidCredentials),
            ("invalid_grant", Some(400), InvalidCredentials),
            ("unauthorized_client", Some(400), PermissionDenied),
            ("access_denied", Some(403), PermissionDenied),
            ("invalid_scope", Some(400), InvalidScope),
            ("unsupported_grant_type", Some(400), ConfigError),
            ("invalid_request", Some(400), ConfigError),
            ("temporarily_unavailable", Some(503), ProviderError),
            ("server_error", Some(500), ProviderError),
            ("rate_limit_exceeded", Some(400), RateLimited),
            ("slow_down", Some(400), RateLimited),
            // The status wins for 429 whatever the code, and decides for unknown codes.
            ("invalid_grant", Some(429), RateLimited),
            ("something_new", Some(502), ProviderError),
            ("something_new", Some(401), InvalidCredentials),
            ("something_new", Some(403), PermissionDenied),
            ("something_new", Some(400), ProtocolError),
            ("", None, ProtocolError),
        ];
        for &(code, status, reason) in rows {
            assert_eq!(standard_reason(code, status), reason, "{code:?} {status:?}");
        }
    }
}
