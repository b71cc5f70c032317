//! Genesys Cloud's login: `POST /oauth/token` with the client credentials grant and HTTP Basic
//! client authentication, then `GET /api/v2/tokens/me` with the token, and `DELETE
//! /api/v2/tokens/me` to revoke it. One client of the demo gets no answer in time (a provider
//! that hangs).

use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use super::{Tokens, accounts, basic, field, form};

pub(super) fn router() -> Router {
    Router::new()
        .route("/oauth/token", post(token))
        .route("/api/v2/tokens/me", get(me).delete(revoke))
        .with_state(Tokens::default())
}

async fn token(State(tokens): State<Tokens>, headers: HeaderMap, body: Bytes) -> Response {
    let form = form(&body);
    if field(&form, "grant_type") != Some("client_credentials") {
        return error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "grant type not supported",
        );
    }
    let Some((id, secret)) = basic(&headers, true) else {
        return error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "client authentication required",
        );
    };
    if id == accounts::GENESYS_SLOW_CLIENT_ID {
        // Longer than any check's timeout.
        tokio::time::sleep(Duration::from_secs(300)).await;
    }
    let known = id == accounts::GENESYS_CLIENT_ID || id == accounts::GENESYS_SLOW_CLIENT_ID;
    if !known || secret != accounts::GENESYS_SECRET {
        return error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "client not found",
        );
    }
    axum::Json(serde_json::json!({
        "access_token": tokens.issue(""),
        "token_type": "bearer",
        "expires_in": 86_399,
    }))
    .into_response()
}

async fn me(State(tokens): State<Tokens>, headers: HeaderMap) -> Response {
    if !tokens.bearer_ok(&headers) {
        return error(
            StatusCode::UNAUTHORIZED,
            "bad.credentials",
            "Invalid login credentials.",
        );
    }
    axum::Json(serde_json::json!({
        "organization": {"id": "demo-org-id", "name": "credwatch demo"},
        "OAuthClient": {"id": accounts::GENESYS_CLIENT_ID, "name": "credwatch"},
    }))
    .into_response()
}

/// Genesys Cloud answers a revoked token `204 No Content`.
async fn revoke(State(tokens): State<Tokens>, headers: HeaderMap) -> Response {
    if !tokens.revoke_bearer(&headers) {
        return error(
            StatusCode::UNAUTHORIZED,
            "bad.credentials",
            "Invalid login credentials.",
        );
    }
    StatusCode::NO_CONTENT.into_response()
}

fn error(status: StatusCode, code: &str, description: &str) -> Response {
    (
        status,
        axum::Json(serde_json::json!({"error": code, "description": description, "error_description": description})),
    )
        .into_response()
}
