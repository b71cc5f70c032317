//! Web services as Genesys calls them: an API behind HTTP Basic, an OAuth server with the client
//! credentials grant (RFC 6749 section 4.4, HTTP Basic client authentication) and the API its
//! tokens open, and an HTTPS API that requires a client certificate from the demo's client CA.

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use super::material::Material;
use super::{Endpoints, Provider, Service, Site, Tokens, accounts, basic, field, form, shown};

pub(super) const PROVIDER: Provider = Provider {
    kind: "web_service",
    services: &[Service::http("web"), Service::mtls("web_mtls")],
    routers,
    demo,
    secrets: &[
        ("orders-api-password", accounts::WEB_PASSWORD),
        ("inventory-client-secret", accounts::WEB_CLIENT_SECRET),
    ],
};

/// The APIs behind Basic and OAuth; and the one behind mTLS, where only a client with a
/// certificate from the demo's client CA gets (see [`Material::mtls_acceptor`]).
fn routers(_: &Material, _: &Endpoints) -> Vec<Router> {
    vec![
        Router::new()
            .route("/orders/health", get(orders))
            .route("/oauth/token", post(token))
            .route("/inventory/health", get(inventory))
            .with_state(Tokens::default()),
        Router::new().route(
            "/billing/health",
            get(|| async { axum::Json(serde_json::json!({"status": "ok"})) }),
        ),
    ]
}

fn demo(site: &Site) -> String {
    let material = site.material;
    format!(
        r#"# ---- Web services: basic, user-defined OAuth, mTLS ----
[[integration]]
type = "web_service"
name = "Orders API"
notes = "Healthy: HTTP Basic."
[integration.credentials]
credential_type = "basic"
username = "{user}"
password = {password}
[integration.request]
url = "{web}/orders/health"
expect_json = {{ pointer = "/status", equals = "ok" }}

[[integration]]
type = "web_service"
name = "Inventory API"
notes = "Healthy: an OAuth client-credentials login, then the API with the token."
interval = "15s"
[integration.credentials]
credential_type = "user_defined_oauth"
login_url = "{web}/oauth/token"
client_id = "{client}"
client_secret = {client_secret}
[integration.request]
url = "{web}/inventory/health"
[integration.request.headers]
Authorization = "Bearer ${{credentials.token}}"

[[integration]]
type = "web_service"
name = "Billing API (mTLS)"
notes = "Healthy, but its client certificate expires in 5 days: see the certificate column."
[integration.credentials]
credential_type = "none"
[integration.request]
url = "{web_mtls}/billing/health"
[integration.tls]
client_cert = "{soon_cert}"
client_key = "{soon_key}"
ca_cert = "{server_ca}"

[[integration]]
type = "web_service"
name = "Payments API (mTLS)"
notes = "expired_credentials: the client certificate expired 2 days ago; no request is made."
interval = "12s"
[integration.credentials]
credential_type = "none"
[integration.request]
url = "{web_mtls}/billing/health"
[integration.tls]
client_cert = "{old_cert}"
client_key = "{old_key}"
ca_cert = "{server_ca}"
"#,
        user = accounts::WEB_USER,
        password = site.secret("orders-api-password"),
        client = accounts::WEB_CLIENT_ID,
        client_secret = site.secret("inventory-client-secret"),
        web = site.url("web"),
        web_mtls = site.url("web_mtls"),
        soon_cert = shown(&material.client_soon.0),
        soon_key = shown(&material.client_soon.1),
        old_cert = shown(&material.client_expired.0),
        old_key = shown(&material.client_expired.1),
        server_ca = shown(&material.server_ca),
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
