//! Zendesk's `GET /api/v2/users/me.json` with Basic `{email}/token:{api_token}`: the user for a
//! known agent and token, the anonymous user for anything else (as Zendesk answers a wrong
//! token), and a 429 with `Retry-After` for the agent the demo shows rate-limited.

use axum::Router;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use super::{Endpoints, Material, Provider, Service, Site, accounts, basic};

pub(super) const PROVIDER: Provider = Provider {
    kind: "zendesk",
    services: &[Service::http("zendesk")],
    routers,
    demo,
    secrets: &[
        ("zendesk-token", accounts::ZENDESK_TOKEN),
        ("zendesk-old-token", "zd-demo-token-rotated-away"),
    ],
};

fn routers(_: &Material, _: &Endpoints) -> Vec<Router> {
    vec![Router::new().route("/api/v2/users/me.json", get(me))]
}

fn demo(site: &Site) -> String {
    format!(
        r#"# ---- Zendesk: GET /api/v2/users/me.json as {{email}}/token ----
[[integration]]
type = "zendesk"
name = "Zendesk Support"
notes = "Healthy: an agent's API token. Genesys's data actions still send the token it replaced, and are refused: the org view's disagreement."
[integration.credentials]
email = "{email}"
base_url = "{zendesk}"
api_token = {token}

[[integration]]
type = "zendesk"
name = "Zendesk rotated token"
notes = "invalid_credentials: the token was rotated in Zendesk but not here."
interval = "12s"
[integration.credentials]
email = "{email}"
base_url = "{zendesk}"
api_token = {old_token}

[[integration]]
type = "zendesk"
name = "Zendesk busy agent"
notes = "rate_limited: Zendesk answers 429 with Retry-After, and credwatch waits that long."
interval = "15s"
[integration.credentials]
email = "{busy}"
base_url = "{zendesk}"
api_token = {token}
"#,
        email = accounts::ZENDESK_EMAIL,
        busy = accounts::ZENDESK_BUSY_EMAIL,
        zendesk = site.url("zendesk"),
        token = site.secret("zendesk-token"),
        old_token = site.secret("zendesk-old-token"),
    )
}

async fn me(headers: HeaderMap) -> Response {
    let Some((user, token)) = basic(&headers, false) else {
        return anonymous();
    };
    let Some(email) = user.strip_suffix("/token") else {
        return anonymous();
    };
    if email == accounts::ZENDESK_BUSY_EMAIL {
        return (
            StatusCode::TOO_MANY_REQUESTS,
            [(header::RETRY_AFTER, accounts::ZENDESK_RETRY_AFTER.to_string())],
            axum::Json(serde_json::json!({"error": "APIRateLimitExceeded", "description": "Number of allowed API requests per minute exceeded"})),
        )
            .into_response();
    }
    if email != accounts::ZENDESK_EMAIL || token != accounts::ZENDESK_TOKEN {
        return (
            StatusCode::UNAUTHORIZED,
            axum::Json(serde_json::json!({"error": "Couldn't authenticate you"})),
        )
            .into_response();
    }
    axum::Json(serde_json::json!({"user": {
        "id": 361_000_000_001_u64, "name": "Demo Ops", "email": email,
        "role": "admin", "active": true, "suspended": false, "verified": true
    }}))
    .into_response()
}

/// What Zendesk answers when no credentials came with the request.
fn anonymous() -> Response {
    axum::Json(serde_json::json!({"user": {"id": null, "name": "Anonymous user", "role": "end-user", "active": true}}))
        .into_response()
}
