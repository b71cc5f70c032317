//! Salesforce's OAuth 2.0 username-password flow: `POST /services/oauth2/token` with the
//! connected app's key and secret in the form and the password followed by the security token,
//! answering `invalid_grant` "authentication failure" for anything wrong (Salesforce says no
//! more, also for a user it locked after 5 failed logins); then `GET` of the identity URL the
//! token answer names, and of the user's own record: the SOQL query of its
//! `LastPasswordChangeDate` (80 days ago) and `sobjects/User/{id}/password`. A user whose
//! password has expired still gets a token, and every API call with it fails with
//! `INVALID_OPERATION_WITH_EXPIRED_PASSWORD`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use super::{Endpoints, Material, Provider, Service, Site, Tokens, accounts, field, form};

const ORG_ID: &str = "00D5e000000DemoEAA";
const USER_ID: &str = "0055e000001DemoAAA";
const EXPIRED_USER_ID: &str = "0055e000002DemoAAA";

/// How long ago the healthy user's password changed: 80 days into the demo's 90-day policy.
const PASSWORD_AGE_DAYS: u64 = 80;

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
        (
            "salesforce-expired-password",
            accounts::SALESFORCE_EXPIRED_PASSWORD,
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
notes = "Healthy: the integration user with its security token. Its password changed 80 days ago, and the profile expires passwords after 90: see Expires."
[integration.credentials]
username = "{user}"
password = {password}
security_token = {token}
password_max_age = "90d"
login_url = "{salesforce}"
client_id = "{client}"
client_secret = {client_secret}

[[integration]]
type = "salesforce"
name = "Salesforce expired password"
notes = "expired_credentials: the login still gets a token, but the user's password has expired and every API call says so."
[integration.credentials]
username = "{expired}"
password = {expired_password}
security_token = {token}
password_max_age = "90d"
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
        expired = accounts::SALESFORCE_EXPIRED_USER,
        expired_password = site.secret("salesforce-expired-password"),
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
        .route("/id/{org}/{user}", get(identity))
        .route("/services/data/{version}/query", get(query))
        .route(
            "/services/data/{version}/sobjects/User/{user}/password",
            get(password_status),
        )
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
    let expired = format!(
        "{}{}",
        accounts::SALESFORCE_EXPIRED_PASSWORD,
        accounts::SALESFORCE_SECURITY_TOKEN
    );
    let username = field(&form, "username").unwrap_or_default().to_string();
    let password = field(&form, "password");
    let user_id = match username.as_str() {
        accounts::SALESFORCE_USER if password == Some(expected.as_str()) => Some(USER_ID),
        accounts::SALESFORCE_EXPIRED_USER if password == Some(expired.as_str()) => {
            Some(EXPIRED_USER_ID)
        }
        _ => None,
    };
    let right = user_id.is_some();
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
    let user_id = user_id.unwrap_or(USER_ID);
    axum::Json(serde_json::json!({
        // The token names its user, so that the API knows whose password it speaks of.
        "access_token": sf.tokens.issue(&format!("{ORG_ID}!{user_id}.")),
        "instance_url": sf.base,
        "id": format!("{}/id/{ORG_ID}/{user_id}", sf.base),
        "token_type": "Bearer",
        "issued_at": "1764072000000",
        "signature": "ZGVtby1zaWduYXR1cmU=",
    }))
    .into_response()
}

async fn identity(
    State(sf): State<Salesforce>,
    Path((org, user)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let Some(owner) = owner(&sf, &headers) else {
        return (StatusCode::FORBIDDEN, "Bad_OAuth_Token").into_response();
    };
    if org != ORG_ID || user != owner {
        return (StatusCode::FORBIDDEN, "Bad_OAuth_Token").into_response();
    }
    let username = if owner == EXPIRED_USER_ID {
        accounts::SALESFORCE_EXPIRED_USER
    } else {
        accounts::SALESFORCE_USER
    };
    axum::Json(serde_json::json!({
        "id": format!("{}/id/{ORG_ID}/{owner}", sf.base),
        "user_id": owner,
        "organization_id": ORG_ID,
        "username": username,
        "active": true,
        "user_type": "STANDARD",
    }))
    .into_response()
}

/// The user id a bearer token issued here was issued to.
fn owner(sf: &Salesforce, headers: &HeaderMap) -> Option<&'static str> {
    if !sf.tokens.bearer_ok(headers) {
        return None;
    }
    let token = headers
        .get(axum::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    Some(if token.contains(EXPIRED_USER_ID) {
        EXPIRED_USER_ID
    } else {
        USER_ID
    })
}

/// Salesforce's REST refusal of a call: status, errorCode, message.
type Refusal = (StatusCode, &'static str, &'static str);

/// A REST API call: the token's user id, or why Salesforce refuses it (a bad token, an expired
/// password, an unknown version).
fn api_caller(
    sf: &Salesforce,
    headers: &HeaderMap,
    version: &str,
) -> Result<&'static str, Refusal> {
    let known = version
        .strip_prefix('v')
        .and_then(|v| v.split_once('.'))
        .is_some_and(|(major, minor)| {
            major.parse::<u32>().is_ok_and(|m| (20..=70).contains(&m)) && minor == "0"
        });
    if !known {
        return Err((
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
            "The requested resource does not exist",
        ));
    }
    match owner(sf, headers) {
        None => Err((
            StatusCode::UNAUTHORIZED,
            "INVALID_SESSION_ID",
            "Session expired or invalid",
        )),
        Some(EXPIRED_USER_ID) => Err((
            StatusCode::INTERNAL_SERVER_ERROR,
            "INVALID_OPERATION_WITH_EXPIRED_PASSWORD",
            "The users password has expired, you must call SetPassword before attempting any other API operations",
        )),
        Some(user) => Ok(user),
    }
}

/// `GET /services/data/vNN.N/query?q=SELECT LastPasswordChangeDate FROM User WHERE Id = '…'`.
async fn query(
    State(sf): State<Salesforce>,
    Path(version): Path<String>,
    Query(params): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let user = match api_caller(&sf, &headers, &version) {
        Ok(user) => user,
        Err((status, code, message)) => return api_error(status, code, message),
    };
    let expected = format!("SELECT LastPasswordChangeDate FROM User WHERE Id = '{user}'");
    if params.get("q").map(String::as_str) != Some(expected.as_str()) {
        return api_error(
            StatusCode::BAD_REQUEST,
            "MALFORMED_QUERY",
            "this simulator answers only the query of the user's own LastPasswordChangeDate",
        );
    }
    let changed =
        std::time::SystemTime::now() - std::time::Duration::from_secs(PASSWORD_AGE_DAYS * 86_400);
    let changed = chrono::DateTime::<chrono::Utc>::from(changed)
        .format("%Y-%m-%dT%H:%M:%S%.3f%z")
        .to_string();
    axum::Json(serde_json::json!({
        "totalSize": 1,
        "done": true,
        "records": [{
            "attributes": {"type": "User", "url": format!("/services/data/{version}/sobjects/User/{user}")},
            "LastPasswordChangeDate": changed,
        }],
    }))
    .into_response()
}

/// `GET /services/data/vNN.N/sobjects/User/{id}/password`: a user may ask of its own.
async fn password_status(
    State(sf): State<Salesforce>,
    Path((version, user)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    match api_caller(&sf, &headers, &version) {
        Ok(caller) if caller == user => {
            axum::Json(serde_json::json!({"isExpired": false})).into_response()
        }
        Ok(_) => api_error(
            StatusCode::FORBIDDEN,
            "INSUFFICIENT_ACCESS",
            "insufficient access rights on cross-reference id",
        ),
        Err((status, code, message)) => api_error(status, code, message),
    }
}

/// Salesforce's REST error answer: a JSON array of `{message, errorCode}`.
fn api_error(status: StatusCode, code: &str, message: &str) -> Response {
    (
        status,
        axum::Json(serde_json::json!([{"message": message, "errorCode": code}])),
    )
        .into_response()
}

fn error(code: &str, description: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        axum::Json(serde_json::json!({"error": code, "error_description": description})),
    )
        .into_response()
}
