//! OAuth 2.0 token requests made by the `oauth2` crate and sent through credwatch's own HTTP
//! client, and the mapping of what token endpoints answer to failure reasons. Genesys Cloud uses
//! it now; web services' OAuth and Salesforce build on it.

use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use oauth2::basic::{BasicClient, BasicErrorResponse, BasicTokenResponse};
use oauth2::{AsyncHttpClient, ClientId, ClientSecret, RequestTokenError, TokenResponse, TokenUrl};
use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use url::Url;

use super::{CheckContext, failure_for_status};
use crate::http::{TransportError, retry_after};
use crate::outcome::{Failure, FailureReason};
use crate::secret::Secret;

/// A token the endpoint granted.
pub struct Granted {
    /// The access token (already marked secret in the check context).
    pub access_token: Secret,
    /// When it expires, if the endpoint said.
    pub expires_at: Option<SystemTime>,
}

/// What went wrong getting a token, before it is given a provider's wording.
#[derive(Debug)]
pub enum TokenError {
    /// The endpoint answered an OAuth error (`invalid_client`, ...).
    OAuth {
        status: Option<StatusCode>,
        code: String,
        description: Option<String>,
        retry_after: Option<Duration>,
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

/// The client-credentials grant (RFC 6749 section 4.4), client authenticated with HTTP Basic.
pub async fn client_credentials(
    ctx: &CheckContext,
    token_url: &Url,
    client_id: &str,
    client_secret: &Secret,
) -> Result<Granted, TokenError> {
    let client = BasicClient::new(ClientId::new(client_id.to_string()))
        .set_client_secret(ClientSecret::new(client_secret.expose().to_string()))
        .set_token_uri(TokenUrl::from_url(token_url.clone()));
    let sender = Sender {
        ctx,
        seen: Mutex::new(None),
    };
    let result = client
        .exchange_client_credentials()
        .request_async(&sender)
        .await;
    let seen = sender.seen.into_inner().unwrap_or_else(|p| p.into_inner());
    granted(ctx, result, seen)
}

/// Sends the `oauth2` crate's requests through the check's HTTP client, remembering the status
/// and headers (`Retry-After`) that the crate's error types do not keep.
struct Sender<'a> {
    ctx: &'a CheckContext,
    seen: Mutex<Option<(StatusCode, HeaderMap)>>,
}

impl<'c> AsyncHttpClient<'c> for Sender<'_> {
    type Error = TransportError;
    type Future =
        Pin<Box<dyn Future<Output = Result<oauth2::HttpResponse, TransportError>> + Send + 'c>>;

    fn call(&'c self, request: oauth2::HttpRequest) -> Self::Future {
        Box::pin(async move {
            let response = self.ctx.http.send_oauth(request).await?;
            *self.seen.lock().unwrap_or_else(|p| p.into_inner()) =
                Some((response.status(), response.headers().clone()));
            Ok(response)
        })
    }
}

fn granted(
    ctx: &CheckContext,
    result: Result<BasicTokenResponse, RequestTokenError<TransportError, BasicErrorResponse>>,
    seen: Option<(StatusCode, HeaderMap)>,
) -> Result<Granted, TokenError> {
    let status = seen.as_ref().map(|(s, _)| *s);
    let wait = seen.as_ref().and_then(|(_, h)| retry_after(h));
    match result {
        Ok(token) => {
            let access_token = Secret::new(token.access_token().secret().clone());
            ctx.remember(access_token.clone());
            Ok(Granted {
                access_token,
                expires_at: token.expires_in().map(|d| SystemTime::now() + d),
            })
        }
        Err(RequestTokenError::ServerResponse(e)) => Err(TokenError::OAuth {
            status,
            code: e.error().as_ref().to_string(),
            description: e.error_description().cloned(),
            retry_after: wait,
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
        } => {
            let reason = match (code.as_str(), status.map(|s| s.as_u16())) {
                (_, Some(429)) | ("rate_limit_exceeded" | "slow_down", _) => {
                    FailureReason::RateLimited
                }
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
            };
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

/// `Genesys Cloud token endpoint answered invalid_client: Invalid client credentials`.
pub fn oauth_message(provider: &str, code: &str, description: Option<&str>) -> String {
    let mut message = format!("{provider} token endpoint answered {}", printable(code, 64));
    if let Some(description) = description.filter(|d| !d.trim().is_empty()) {
        message.push_str(": ");
        message.push_str(&printable(description, 200));
    }
    message
}

/// Provider text made safe for a one-line message: control characters dropped, length capped.
pub fn printable(text: &str, max_chars: usize) -> String {
    let cleaned: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let cleaned = cleaned.trim();
    if cleaned.chars().count() > max_chars {
        let cut: String = cleaned.chars().take(max_chars).collect();
        format!("{cut}…")
    } else {
        cleaned.to_string()
    }
}
