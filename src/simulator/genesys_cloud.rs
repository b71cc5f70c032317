//! Genesys Cloud's login: `POST /oauth/token` with the client credentials grant and HTTP Basic
//! client authentication, then `GET /api/v2/tokens/me` with the token, and `DELETE
//! /api/v2/tokens/me` to revoke it. One client of the demo gets no answer in time (a provider
//! that hangs). For the org view: `GET /api/v2/integrations` (paged, at most [`PAGE`] per page
//! so that the demo pages) and `GET /api/v2/integrations/actions/certificates`.

use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use super::{Endpoints, Material, Provider, Service, Site, Tokens, accounts, basic, field, form};

/// The most integrations one page holds, whatever `pageSize` asks.
const PAGE: usize = 4;

/// The org's integrations as the simulated Genesys Cloud lists them (name, type id, intended
/// state, reported state): the demo's checked ones, a second web-services integration in error
/// that credwatch does not check, and an integration that is no data action.
const INTEGRATIONS: &[(&str, &str, &str, &str)] = &[
    (
        "Genesys Cloud Data Actions",
        "purecloud-data-actions",
        "ENABLED",
        "ACTIVE",
    ),
    (
        "Zendesk Support",
        "zendesk-data-actions",
        "ENABLED",
        "ACTIVE",
    ),
    (
        "Lambda order lookup",
        "aws-lambda-data-actions",
        "ENABLED",
        "ACTIVE",
    ),
    ("Google Cloud", "google-data-actions", "ENABLED", "ACTIVE"),
    (
        "Dynamics 365 CRM",
        "microsoft-dynamics-data-actions",
        "ENABLED",
        "ACTIVE",
    ),
    (
        "Salesforce Service Cloud",
        "salesforce-datadip",
        "ENABLED",
        "ACTIVE",
    ),
    ("Orders API", "custom-rest-actions", "ENABLED", "ACTIVE"),
    (
        "Web Services Data Actions (2)",
        "custom-rest-actions",
        "ENABLED",
        "ERROR",
    ),
    (
        "Old Zendesk",
        "zendesk-data-actions",
        "DISABLED",
        "INACTIVE",
    ),
    ("Agent Scripts", "embedded-client-app", "ENABLED", "ACTIVE"),
];

#[derive(Clone, Default)]
struct Org {
    tokens: Tokens,
    certificates: std::sync::Arc<Vec<(&'static str, &'static str, String)>>,
}

pub(super) const PROVIDER: Provider = Provider {
    kind: "genesys_cloud",
    services: &[Service::http("genesys")],
    routers,
    demo,
    secrets: &[("genesys-client-secret", accounts::GENESYS_SECRET)],
};

fn routers(material: &Material, _: &Endpoints) -> Vec<Router> {
    vec![router(material)]
}

fn demo(site: &Site) -> String {
    format!(
        r#"# ---- Genesys Cloud: OAuth client credentials, then /api/v2/tokens/me ----
[[integration]]
type = "genesys_cloud"
notes = "Healthy: an OAuth client with the Client Credentials grant."
[integration.credentials]
client_id = "{client}"
client_secret = {secret}
region = "mypurecloud.com"
[integration.endpoints]
token_url = "{genesys}/oauth/token"
verify_url = "{genesys}/api/v2/tokens/me"

[[integration]]
type = "genesys_cloud"
name = "Genesys Cloud retired client"
notes = "account_disabled: the OAuth client was made inactive and Genesys deletes it in 6 days; the org view sees it, and the checks fail ahead of the login."
[integration.credentials]
client_id = "{retired}"
client_secret = {secret}
region = "mypurecloud.com"
[integration.endpoints]
token_url = "{genesys}/oauth/token"
verify_url = "{genesys}/api/v2/tokens/me"

[[integration]]
type = "genesys_cloud"
name = "Genesys Cloud slow login"
notes = "timeout: the token endpoint never answers; the check gives up after 3 s and delays no one."
timeout = "3s"
interval = "15s"
[integration.credentials]
client_id = "{slow}"
client_secret = {secret}
region = "mypurecloud.com"
[integration.endpoints]
token_url = "{genesys}/oauth/token"
verify_url = "{genesys}/api/v2/tokens/me"
"#,
        client = accounts::GENESYS_CLIENT_ID,
        slow = accounts::GENESYS_SLOW_CLIENT_ID,
        retired = accounts::GENESYS_RETIRED_CLIENT_ID,
        secret = site.secret("genesys-client-secret"),
        genesys = site.url("genesys"),
    )
}

fn router(material: &Material) -> Router {
    Router::new()
        .route("/oauth/token", post(token))
        .route("/api/v2/tokens/me", get(me).delete(revoke))
        .route("/api/v2/integrations", get(integrations))
        .route(
            "/api/v2/integrations/actions/certificates",
            get(certificates),
        )
        .route("/api/v2/oauth/clients/{id}", get(oauth_client))
        .route(
            "/api/v2/analytics/actions/aggregates/query",
            post(action_aggregates),
        )
        .route("/api/v2/integrations/actions/{id}/test", post(action_test))
        .with_state(Org {
            tokens: Tokens::default(),
            certificates: std::sync::Arc::new(material.genesys_mtls.clone()),
        })
}

/// `GET /api/v2/integrations?pageSize=N&pageNumber=K`.
async fn integrations(
    State(org): State<Org>,
    headers: HeaderMap,
    Query(query): Query<std::collections::HashMap<String, String>>,
) -> Response {
    if !org.tokens.bearer_ok(&headers) {
        return unauthorized();
    }
    let number = |key: &str, default: usize| {
        query
            .get(key)
            .and_then(|v| v.parse::<usize>().ok())
            .filter(|n| *n > 0)
            .unwrap_or(default)
    };
    let size = number("pageSize", 25).min(PAGE);
    let page = number("pageNumber", 1);
    let entities: Vec<serde_json::Value> = INTEGRATIONS
        .iter()
        .enumerate()
        .skip((page - 1).saturating_mul(size))
        .take(size)
        .map(|(index, (name, type_id, intended, reported))| {
            let mut state = serde_json::json!({"code": reported, "effective": reported});
            if *reported == "ERROR" {
                state["detail"] = serde_json::json!({"message": "Authentication failed: the credentials were rejected."});
            }
            serde_json::json!({
                "id": format!("00000000-0000-4000-8000-{index:012}"),
                "name": name,
                "integrationType": {"id": type_id},
                "notes": "",
                "intendedState": intended,
                "reportedState": state,
            })
        })
        .collect();
    axum::Json(serde_json::json!({
        "entities": entities,
        "pageSize": size,
        "pageNumber": page,
        "total": INTEGRATIONS.len(),
        "pageCount": INTEGRATIONS.len().div_ceil(size),
    }))
    .into_response()
}

/// What Genesys recorded of each data-action integration's executions in any window: (name,
/// errorType, responseStatus, count). The second web service's third party refuses Genesys's
/// credential.
const EXECUTIONS: &[(&str, &str, &str, u64)] = &[
    ("Genesys Cloud Data Actions", "NONE", "200", 40),
    // Genesys still holds the token rotated away from (credwatch's copy is the new one): the
    // disagreement.
    ("Zendesk Support", "REMOTE_ENDPOINT_ERROR", "401", 9),
    ("Orders API", "NONE", "200", 60),
    ("Orders API", "REMOTE_ENDPOINT_ERROR", "503", 1),
    (
        "Web Services Data Actions (2)",
        "REMOTE_ENDPOINT_ERROR",
        "401",
        12,
    ),
];

/// `POST /api/v2/analytics/actions/aggregates/query`: the executions grouped by integration,
/// error type and response status, as an `ActionAggregateQueryResponse`.
async fn action_aggregates(State(org): State<Org>, headers: HeaderMap, body: Bytes) -> Response {
    if !org.tokens.bearer_ok(&headers) {
        return unauthorized();
    }
    let query: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    let interval = query["interval"].as_str().unwrap_or_default().to_string();
    let grouped = query["groupBy"]
        .as_array()
        .is_some_and(|g| g.iter().any(|d| d == "integrationId"));
    if !interval.contains('/') || !grouped || query["metrics"][0] != "tTotalExecution" {
        return (
            StatusCode::BAD_REQUEST,
            axum::Json(serde_json::json!({"message": "interval, groupBy integrationId and the metric tTotalExecution are required", "code": "bad.request", "status": 400})),
        )
            .into_response();
    }
    let results: Vec<serde_json::Value> = EXECUTIONS
        .iter()
        .filter_map(|(name, error, status, count)| {
            let index = INTEGRATIONS.iter().position(|(n, ..)| n == name)?;
            Some(serde_json::json!({
                "group": {
                    "integrationId": format!("00000000-0000-4000-8000-{index:012}"),
                    "errorType": error,
                    "responseStatus": status,
                },
                "data": [{"interval": interval, "metrics": [{"metric": "tTotalExecution", "stats": {"count": count, "sum": count * 350, "min": 120, "max": 900}}]}],
            }))
        })
        .collect();
    axum::Json(serde_json::json!({"results": results})).into_response()
}

/// The demo's data actions a canary may test: the WhoAmI of the Orders API passes; the
/// Zendesk lookup fails, as Genesys still holds the token rotated away from.
pub const CANARY_OK: &str = "custom_-_0b1c2d3e-whoami-orders";
pub const CANARY_REFUSED: &str = "custom_-_4f5a6b7c-zendesk-me";

/// `POST /api/v2/integrations/actions/{id}/test`: a `TestExecutionResult`.
async fn action_test(
    State(org): State<Org>,
    headers: HeaderMap,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> Response {
    if !org.tokens.bearer_ok(&headers) {
        return unauthorized();
    }
    let step = |n: u32, name: &str| serde_json::json!({"step": n, "name": name, "success": true});
    let body = match id.as_str() {
        CANARY_OK => serde_json::json!({
            "operations": [step(1, "Resolve request configuration template"), step(2, "Execute"), step(3, "Resolve translation map"), step(4, "Apply output transformation")],
            "finalResult": {"user": "genesys-data-actions"},
            "success": true,
        }),
        CANARY_REFUSED => {
            let error = |message: &str| serde_json::json!({"message": message, "code": "UNAUTHORIZED", "status": 401});
            let mut failed = serde_json::json!({"step": 2, "name": "Execute", "success": false});
            failed["error"] = error(
                "REST call for action execute failed. Message: Request to backend service failed. Response from web service: {\"error\":\"Couldn't authenticate you\"}",
            );
            serde_json::json!({
                "operations": [step(1, "Resolve request configuration template"), failed],
                "error": error("REST call for action execute failed."),
                "success": false,
            })
        }
        _ => {
            return (
                StatusCode::NOT_FOUND,
                axum::Json(serde_json::json!({"message": format!("Action {id} not found"), "code": "not.found", "status": 404})),
            )
                .into_response();
        }
    };
    axum::Json(body).into_response()
}

/// `GET /api/v2/oauth/clients/{id}`: the demo's clients, one of them inactive and to be deleted.
async fn oauth_client(
    State(org): State<Org>,
    headers: HeaderMap,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> Response {
    if !org.tokens.bearer_ok(&headers) {
        return unauthorized();
    }
    let day = |days: i64| {
        let at = chrono::Utc::now() + chrono::Duration::days(days);
        at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
    };
    let (name, state, to_delete, modified) = match id.as_str() {
        accounts::GENESYS_CLIENT_ID => ("credwatch", "active", None, -20),
        accounts::GENESYS_SLOW_CLIENT_ID => ("credwatch slow", "active", None, -40),
        accounts::GENESYS_RETIRED_CLIENT_ID => ("credwatch retired", "inactive", Some(6), -1),
        _ => {
            return (
                StatusCode::NOT_FOUND,
                axum::Json(serde_json::json!({"message": "OAuth client not found", "code": "not.found", "status": 404})),
            )
                .into_response();
        }
    };
    let mut client = serde_json::json!({
        "id": id,
        "name": name,
        "authorizedGrantType": "CLIENT-CREDENTIALS",
        "state": state,
        "dateCreated": day(-400),
        "dateModified": day(modified),
    });
    if let Some(days) = to_delete {
        client["dateToDelete"] = day(days).into();
    }
    axum::Json(client).into_response()
}

/// `GET /api/v2/integrations/actions/certificates?status=...&type=Client`.
async fn certificates(
    State(org): State<Org>,
    headers: HeaderMap,
    Query(query): Query<std::collections::HashMap<String, String>>,
) -> Response {
    if !org.tokens.bearer_ok(&headers) {
        return unauthorized();
    }
    let status = query.get("status").map(String::as_str);
    let entities: Vec<serde_json::Value> = org
        .certificates
        .iter()
        .filter(|(_, s, _)| status.is_none_or(|wanted| wanted.eq_ignore_ascii_case(s)))
        .map(|(authority, status, pem)| {
            serde_json::json!({
                "signingAuthority": authority,
                "certificate": pem,
                "status": status,
                "type": "Client",
            })
        })
        .collect();
    axum::Json(serde_json::json!({"entities": entities, "pageSize": 25, "pageNumber": 1, "total": entities.len()}))
        .into_response()
}

async fn token(State(org): State<Org>, headers: HeaderMap, body: Bytes) -> Response {
    let tokens = org.tokens;
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
    if id == accounts::GENESYS_RETIRED_CLIENT_ID {
        return error(
            StatusCode::BAD_REQUEST,
            "invalid_client",
            "client is not active",
        );
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

async fn me(State(org): State<Org>, headers: HeaderMap) -> Response {
    let tokens = org.tokens;
    if !tokens.bearer_ok(&headers) {
        return unauthorized();
    }
    axum::Json(serde_json::json!({
        "organization": {"id": "demo-org-id", "name": "credwatch demo"},
        "OAuthClient": {"id": accounts::GENESYS_CLIENT_ID, "name": "credwatch"},
    }))
    .into_response()
}

/// Genesys Cloud answers a revoked token `204 No Content`.
async fn revoke(State(org): State<Org>, headers: HeaderMap) -> Response {
    let tokens = org.tokens;
    if !tokens.revoke_bearer(&headers) {
        return unauthorized();
    }
    StatusCode::NO_CONTENT.into_response()
}

/// Genesys Cloud's answer to a missing, unknown or revoked token.
fn unauthorized() -> Response {
    error(
        StatusCode::UNAUTHORIZED,
        "bad.credentials",
        "Invalid login credentials.",
    )
}

fn error(status: StatusCode, code: &str, description: &str) -> Response {
    (
        status,
        axum::Json(serde_json::json!({"error": code, "description": description, "error_description": description})),
    )
        .into_response()
}
