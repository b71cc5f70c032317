//! Web services as Genesys calls them: an API behind HTTP Basic, an OAuth server with the client
//! credentials grant (RFC 6749 section 4.4, HTTP Basic client authentication) and the API its
//! tokens open, and an HTTPS API that requires a client certificate from the demo's client CA.

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use tokio_rustls::TlsAcceptor;

use super::material::Material;
use super::{Tokens, accounts, basic, field, form};

pub(super) fn router() -> Router {
    Router::new()
        .route("/orders/health", get(orders))
        .route("/oauth/token", post(token))
        .route("/inventory/health", get(inventory))
        .with_state(Tokens::default())
}

/// Behind the TLS acceptor of [`mtls_acceptor`]: only a client with a certificate gets here.
pub(super) fn mtls_router() -> Router {
    Router::new().route(
        "/billing/health",
        get(|| async { axum::Json(serde_json::json!({"status": "ok"})) }),
    )
}

async fn orders(headers: HeaderMap) -> Response {
    match basic(&headers, false) {
        Some((user, password))
            if user == accounts::WEB_USER && password == accounts::WEB_PASSWORD =>
        {
            axum::Json(serde_json::json!({"status": "ok"})).into_response()
        }
        _ => (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Basic realm=\"orders\"")],
            "unauthorized",
        )
            .into_response(),
    }
}

async fn token(State(tokens): State<Tokens>, headers: HeaderMap, body: Bytes) -> Response {
    let form = form(&body);
    if field(&form, "grant_type") != Some("client_credentials") {
        return oauth_error(StatusCode::BAD_REQUEST, "unsupported_grant_type");
    }
    match basic(&headers, true) {
        Some((id, secret))
            if id == accounts::WEB_CLIENT_ID && secret == accounts::WEB_CLIENT_SECRET =>
        {
            axum::Json(serde_json::json!({
                "access_token": tokens.issue("inv-"),
                "token_type": "Bearer",
                "expires_in": 3600,
            }))
            .into_response()
        }
        _ => oauth_error(StatusCode::UNAUTHORIZED, "invalid_client"),
    }
}

async fn inventory(State(tokens): State<Tokens>, headers: HeaderMap) -> Response {
    if tokens.bearer_ok(&headers) {
        axum::Json(serde_json::json!({"status": "ok"})).into_response()
    } else {
        (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer error=\"invalid_token\"")],
        )
            .into_response()
    }
}

fn oauth_error(status: StatusCode, code: &str) -> Response {
    (status, axum::Json(serde_json::json!({"error": code}))).into_response()
}

/// TLS with the demo server certificate, requiring a client certificate from the client CA.
pub(super) fn mtls_acceptor(material: &Material) -> Result<TlsAcceptor, String> {
    crate::server::listen::tls_acceptor(
        material.server_cert_pem.as_bytes(),
        material.server_key_pem.as_bytes(),
        Some(material.client_ca_pem.as_bytes()),
    )
    .map_err(|e| format!("demo mTLS server: {e}"))
}
