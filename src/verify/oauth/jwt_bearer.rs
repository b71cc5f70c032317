//! The JWT-bearer grant (RFC 7523), which the `oauth2` crate does not make: Google's service
//! accounts.

use std::sync::Mutex;

use oauth2::basic::{BasicErrorResponse, BasicTokenType};
use oauth2::{AsyncHttpClient, ExtraTokenFields, RequestTokenError, StandardTokenResponse};
use reqwest::header::{ACCEPT, CONTENT_TYPE};
use url::Url;

use super::{Granted, Sender, TokenError, granted};
use crate::http::TransportError;
use crate::secret::Secret;
use crate::verify::CheckContext;

/// RFC 7523's grant type.
pub const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

/// The JWT-bearer grant (RFC 7523 section 2.1): a signed assertion, no client authentication.
pub async fn jwt_bearer(
    ctx: &CheckContext,
    token_url: &Url,
    assertion: &Secret,
) -> Result<Granted, TokenError> {
    let sender = Sender {
        http: &ctx.http,
        seen: Mutex::new(None),
    };
    let result = send_jwt_bearer(&sender, token_url, assertion).await;
    let seen = sender.seen.into_inner().unwrap_or_else(|p| p.into_inner());
    granted(ctx, result, seen)
}

/// The `oauth2` crate has no RFC 7523 request, so this one form is built here, exactly as
/// google-auth sends it (the two fields, nothing else). The answer is read with the crate's own
/// token and error types, so it is judged like every other grant.
async fn send_jwt_bearer<EF: ExtraTokenFields>(
    sender: &Sender<'_>,
    token_url: &Url,
    assertion: &Secret,
) -> Result<
    StandardTokenResponse<EF, BasicTokenType>,
    RequestTokenError<TransportError, BasicErrorResponse>,
> {
    let body: String = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("grant_type", JWT_BEARER)
        .append_pair("assertion", assertion.expose())
        .finish();
    let request = oauth2::http::Request::builder()
        .method(oauth2::http::Method::POST)
        .uri(token_url.as_str())
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(ACCEPT, "application/json")
        .body(body.into_bytes())
        .map_err(|e| RequestTokenError::Other(e.to_string()))?;
    let response = sender
        .call(request)
        .await
        .map_err(RequestTokenError::Request)?;
    let body = response.body();
    if response.status().is_success() {
        serde_path_to_error::deserialize(&mut serde_json::Deserializer::from_slice(body))
            .map_err(|e| RequestTokenError::Parse(e, body.clone()))
    } else {
        match serde_json::from_slice::<BasicErrorResponse>(body) {
            Ok(error) => Err(RequestTokenError::ServerResponse(error)),
            Err(e) => Err(RequestTokenError::Other(e.to_string())),
        }
    }
}
