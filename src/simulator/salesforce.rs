//! Salesforce's OAuth 2.0 username-password flow: `POST /services/oauth2/token` with the
//! connected app's key and secret in the form and the password followed by the security token,
//! answering `invalid_grant` "authentication failure" for anything wrong (Salesforce says no
//! more, also for a user it locked after 5 failed logins); then `GET` of the identity URL the
//! token answer names.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use super::{Endpoints, Material, Provider, Service, Site, Tokens, accounts, field, form};

const ORG_ID: &str = "00D5e000000DemoEAA";
const USER_ID: &str = "0055e000001DemoAAA";

/// Failed logins after which a user is locked out, as a Salesforce password policy does.
const LOCKOUT_AFTER: usize = 5;

#[derive(Clone)]
struct Salesforce {
    base: String,
    tokens: Tokens,
    /// Failed logins per user name.
    failures: Arc<Mutex<HashMap<String, usize>>>,
}

pub(super) const PROVIDER: Provider = Provider {
    kind: "salesforce",
    services: &[Service::http("salesforce")],
    routers,
    demo,
    secrets: &[
        ("salesforce-password", accounts::SALESFORCE_PASSWORD),
        (
            "salesforce-security-token",
            accounts::SALESFORCE_SECURITY_TOKEN,
        ),
        (
            "salesforce-client-secret",
            accounts::SALESFORCE_CLIENT_SECRET,
        ),
        (
            "salesforce-old-password",
            accounts::SALESFORCE_STALE_PASSWORD,
        ),
    ],
};

/// The identity URL a token answer names is on the service's own address.
fn routers(_: &Material, endpoints: &Endpoints) -> Vec<Router> {
    vec![router(endpoints.get("salesforce"))]
}

fn demo(site: &Site) -> String {
    format!(
        r#"# ---- Salesforce: OAuth username-password flow, then the identity URL ----
[[integration]]
type = "salesforce"
name = "Salesforce Service Cloud"
notes = "Healthy: the integration user with its security token."
[integration.credentials]
username = "{user}"
password = {password}
security_token = {token}
login_url = "{salesforce}"
client_id = "{client}"
client_secret = {client_secret}

[[integration]]
type = "salesforce"
name = "Salesforce rotated password"
notes = "invalid_credentials: the password changed in Salesforce only. The simulator locks a user after 5 failed logins; the lockout guard stops at 1."
interval = "10s"
[integration.credentials]
username = "{stale}"
password = {old_password}
security_token = {token}
login_url = "{salesforce}"
client_id = "{client}"
client_secret = {client_secret}
"#,
        user = accounts::SALESFORCE_USER,
        stale = accounts::SALESFORCE_STALE_USER,
        password = site.secret("salesforce-password"),
        old_password = site.secret("salesforce-old-password"),
        token = site.secret("salesforce-security-token"),
        client = accounts::SALESFORCE_CLIENT_ID,
        client_secret = site.secret("salesforce-client-secret"),
        salesforce = site.url("salesforce"),
    )
}

fn router(base: &str) -> Router {
    Router::new()
        .route("/services/oauth2/token", post(token))
        .route("/services/oauth2/revoke", post(revoke))
        .route(&format!("/id/{ORG_ID}/{USER_ID}"), get(identity))
        .with_state(Salesforce {
            base: base.to_string(),
            tokens: Tokens::default(),
            failures: Arc::default(),
        })
}

/// Salesforce revokes the `token` of the form: 200, or 400 `unsupported_token_type` for a
/// token it does not know.
async fn revoke(State(sf): State<Salesforce>, body: Bytes) -> Response {
    let form = form(&body);
    match field(&form, "token") {
        Some(token) if sf.tokens.revoke(token) => StatusCode::OK.into_response(),
        _ => error("unsupported_token_type", "this token type is not supported"),
    }
}

async fn token(State(sf): State<Salesforce>, body: Bytes) -> Response {
    let form = form(&body);
    if field(&form, "grant_type") != Some("password") {
        return error("unsupported_grant_type", "grant type not supported");
    }
    if field(&form, "client_id") != Some(accounts::SALESFORCE_CLIENT_ID)
        || field(&form, "client_secret") != Some(accounts::SALESFORCE_CLIENT_SECRET)
    {
        return error("invalid_client_id", "client identifier invalid");
    }
    let expected = format!(
        "{}{}",
        accounts::SALESFORCE_PASSWORD,
        accounts::SALESFORCE_SECURITY_TOKEN
    );
    let username = field(&form, "username").unwrap_or_default().to_string();
    let right = username == accounts::SALESFORCE_USER
        && field(&form, "password") == Some(expected.as_str());
    {
        let mut failures = sf.failures.lock().unwrap_or_else(|p| p.into_inner());
        let failed = failures.entry(username).or_default();
        if !right {
            *failed += 1;
        }
        // A locked user gets the same answer as a wrong password.
        if !right || *failed >= LOCKOUT_AFTER {
            return error("invalid_grant", "authentication failure");
        }
    }
    axum::Json(serde_json::json!({
        "access_token": sf.tokens.issue(&format!("{ORG_ID}!")),
        "instance_url": sf.base,
        "id": format!("{}/id/{ORG_ID}/{USER_ID}", sf.base),
        "token_type": "Bearer",
        "issued_at": "1764072000000",
        "signature": "ZGVtby1zaWduYXR1cmU=",
    }))
    .into_response()
}

async fn identity(State(sf): State<Salesforce>, headers: HeaderMap) -> Response {
    if !sf.tokens.bearer_ok(&headers) {
        return (StatusCode::FORBIDDEN, "Bad_OAuth_Token").into_response();
    }
    axum::Json(serde_json::json!({
        "id": format!("{}/id/{ORG_ID}/{USER_ID}", sf.base),
        "user_id": USER_ID,
        "organization_id": ORG_ID,
        "username": accounts::SALESFORCE_USER,
        "active": true,
        "user_type": "STANDARD",
    }))
    .into_response()
}

fn error(code: &str, description: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        axum::Json(serde_json::json!({"error": code, "error_description": description})),
    )
        .into_response()
}
