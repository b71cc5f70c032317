//! Google's OAuth server for service accounts: `POST /token` with the RFC 7523 JWT-bearer grant,
//! the RS256 assertion verified with the account's public key (header `kid`, claims `iss`,
//! `aud`, `iat`, `exp`, `scope`, and `sub` only for users the account may act as), then
//! `GET /tokeninfo?access_token=...` naming the granted scopes; and the service account's public
//! key certificates at `GET /service_accounts/v1/metadata/x509/{client_email}`, where a deleted
//! key is missing.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};

use super::material::Material;
use super::{Endpoints, Issued, Provider, Service, Site, accounts, field, form, random_hex, shown};

/// The audience google-auth puts in every assertion, whatever URL it posts to.
const AUDIENCE: &str = "https://oauth2.googleapis.com/token";

#[derive(Clone)]
struct Google {
    key: Arc<DecodingKey>,
    /// The certificate of the service account's one published key.
    certificate: Arc<String>,
    /// Access token → the scopes granted with it.
    granted: Issued<String>,
}

pub(super) const PROVIDER: Provider = Provider {
    kind: "google",
    services: &[Service::http("google")],
    routers,
    demo,
    secrets: &[],
};

fn routers(material: &Material, _: &Endpoints) -> Vec<Router> {
    vec![router(material)]
}

fn demo(site: &Site) -> String {
    format!(
        r#"# ---- Google: service-account JWT (RS256) bearer grant, then tokeninfo ----
[[integration]]
type = "google"
name = "Google Cloud"
notes = "Healthy: a GCP service account's JSON key file."
[integration.credentials]
credential_type = "gcp_service_account"
key_file = "{key}"
[integration.endpoints]
token_url = "{google}/token"
tokeninfo_url = "{google}/tokeninfo"
revoke_url = "{google}/revoke"
certificates_url = "{google}/service_accounts/v1/metadata/x509/"

[[integration]]
type = "google"
name = "Google deleted key"
notes = "invalid_credentials: the key was deleted from the service account; Google no longer publishes it, so no token is asked for."
[integration.credentials]
credential_type = "gcp_service_account"
key_file = "{deleted_key}"
[integration.endpoints]
token_url = "{google}/token"
tokeninfo_url = "{google}/tokeninfo"
revoke_url = "{google}/revoke"
certificates_url = "{google}/service_accounts/v1/metadata/x509/"

[[integration]]
type = "google"
name = "Google Workspace directory"
notes = "impersonation_denied: the service account has no domain-wide delegation for this user."
interval = "12s"
[integration.credentials]
credential_type = "workspace_service_account"
key_file = "{key}"
scopes = ["https://www.googleapis.com/auth/admin.directory.user.readonly"]
impersonate_user = "{denied_user}"
[integration.endpoints]
token_url = "{google}/token"
tokeninfo_url = "{google}/tokeninfo"
revoke_url = "{google}/revoke"
certificates_url = "{google}/service_accounts/v1/metadata/x509/"
"#,
        key = shown(&site.material.google_key_file),
        deleted_key = shown(&site.material.google_deleted_key_file),
        denied_user = accounts::GOOGLE_UNDELEGATED_USER,
        google = site.url("google"),
    )
}

fn router(material: &Material) -> Router {
    let key = DecodingKey::from_rsa_pem(material.google_public_pem.as_bytes())
        .expect("rcgen's public key is a valid PEM");
    Router::new()
        .route("/token", post(token))
        .route("/tokeninfo", get(tokeninfo))
        .route("/revoke", post(revoke))
        .route(
            "/service_accounts/v1/metadata/x509/{email}",
            get(certificates),
        )
        .with_state(Google {
            key: Arc::new(key),
            certificate: Arc::new(material.google_key_certificate.clone()),
            granted: Issued::default(),
        })
}

/// The service account's published key certificates, `{key id: PEM}`; 404 for an account
/// Google does not know.
async fn certificates(
    State(google): State<Google>,
    axum::extract::Path(email): axum::extract::Path<String>,
) -> Response {
    if email != accounts::GOOGLE_CLIENT_EMAIL {
        return (StatusCode::NOT_FOUND, "Not Found").into_response();
    }
    axum::Json(serde_json::json!({ accounts::GOOGLE_KEY_ID: *google.certificate })).into_response()
}

/// Google revokes the form's `token`: 200, or 400 `invalid_token` for one it does not know.
async fn revoke(State(google): State<Google>, body: Bytes) -> Response {
    let form = form(&body);
    match field(&form, "token") {
        Some(token) if google.granted.remove(token) => StatusCode::OK.into_response(),
        _ => error("invalid_token", "Token is not revocable."),
    }
}

async fn token(State(google): State<Google>, body: Bytes) -> Response {
    let form = form(&body);
    if field(&form, "grant_type") != Some("urn:ietf:params:oauth:grant-type:jwt-bearer") {
        return error("unsupported_grant_type", "Invalid grant_type.");
    }
    let Some(assertion) = field(&form, "assertion") else {
        return error("invalid_request", "Missing required parameter: assertion");
    };
    let Ok(header) = jsonwebtoken::decode_header(assertion) else {
        return error("invalid_grant", "Invalid JWT.");
    };
    if header.alg != Algorithm::RS256 || header.kid.as_deref() != Some(accounts::GOOGLE_KEY_ID) {
        return error("invalid_grant", "Invalid JWT Signature.");
    }
    let mut validation = Validation::new(Algorithm::RS256);
    validation.set_audience(&[AUDIENCE]);
    validation.set_issuer(&[accounts::GOOGLE_CLIENT_EMAIL]);
    validation.set_required_spec_claims(&["exp", "iat", "aud", "iss"]);
    let claims =
        match jsonwebtoken::decode::<serde_json::Value>(assertion, &google.key, &validation) {
            Ok(data) => data.claims,
            Err(_) => return error("invalid_grant", "Invalid JWT Signature."),
        };
    let lifetime = claims["exp"].as_i64().unwrap_or(0) - claims["iat"].as_i64().unwrap_or(0);
    if lifetime > 3600 {
        return error(
            "invalid_grant",
            "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe.",
        );
    }
    let Some(scope) = claims["scope"].as_str().filter(|s| !s.is_empty()) else {
        return error(
            "invalid_scope",
            "Invalid OAuth scope or ID token audience provided.",
        );
    };
    if let Some(sub) = claims["sub"].as_str()
        && sub != accounts::GOOGLE_DELEGATED_USER
    {
        return error(
            "unauthorized_client",
            "Client is unauthorized to retrieve access tokens using this method, or client not authorized for any of the scopes requested.",
        );
    }
    let token = format!("ya29.demo{}", random_hex(24));
    google.granted.insert(token.clone(), scope.to_string());
    axum::Json(
        serde_json::json!({"access_token": token, "expires_in": 3599, "token_type": "Bearer"}),
    )
    .into_response()
}

async fn tokeninfo(
    State(google): State<Google>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let scope = query
        .get("access_token")
        .and_then(|token| google.granted.get(token));
    match scope {
        Some(scope) => axum::Json(serde_json::json!({
            "azp": accounts::GOOGLE_CLIENT_ID,
            "aud": accounts::GOOGLE_CLIENT_ID,
            "scope": scope,
            "expires_in": 3599,
            "access_type": "online",
        }))
        .into_response(),
        None => (
            StatusCode::BAD_REQUEST,
            axum::Json(
                serde_json::json!({"error": "invalid_token", "error_description": "Invalid Value"}),
            ),
        )
            .into_response(),
    }
}

fn error(code: &str, description: &str) -> Response {
    let status = if code == "unauthorized_client" {
        StatusCode::UNAUTHORIZED
    } else {
        StatusCode::BAD_REQUEST
    };
    (
        status,
        axum::Json(serde_json::json!({"error": code, "error_description": description})),
    )
        .into_response()
}
