//! Microsoft Entra ID's token endpoint, `POST /{tenant}/oauth2/v2.0/token` with the resource
//! owner password grant (client id in the form, scope `{org}/.default`, and a refresh token when
//! `offline_access` is asked too), answering errors as Entra does (`AADSTS` codes in
//! `error_codes` and the description), and the refresh-token grant for Microsoft Graph's
//! `User.Read`; Dataverse's `GET /api/data/v9.2/WhoAmI`, which takes the Dataverse tokens Entra
//! issued; and Graph's `GET /v1.0/me` (on the Entra service), which takes only Graph tokens and
//! says the password changed 70 days ago.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use super::{
    Endpoints, Material, Provider, Service, Site, Tokens, accounts, field, form, random_hex,
};

pub(super) const PROVIDER: Provider = Provider {
    kind: "dynamics365",
    services: &[Service::http("entra"), Service::http("dynamics")],
    routers,
    demo,
    secrets: &[("dynamics-password", accounts::DYNAMICS_PASSWORD)],
};

/// How long ago the healthy user's password changed: 70 days into Entra's default 90.
const PASSWORD_AGE_DAYS: u64 = 70;

/// What Entra issued: Dataverse tokens, refresh tokens, Graph tokens.
#[derive(Clone, Default)]
struct Entra {
    dataverse: Tokens,
    refresh: Tokens,
    graph: Tokens,
}

/// Entra's token endpoint with Graph beside it, and Dataverse, which takes the Dataverse tokens
/// Entra issued.
fn routers(_: &Material, _: &Endpoints) -> Vec<Router> {
    let entra = Entra::default();
    vec![
        Router::new()
            .route("/{tenant}/oauth2/v2.0/token", post(token))
            .route("/v1.0/me", get(me))
            .with_state(entra.clone()),
        Router::new()
            .route("/api/data/v9.2/WhoAmI", get(who_am_i))
            .with_state(entra.dataverse),
    ]
}

fn demo(site: &Site) -> String {
    let user = |name: &str, user: &str, notes: &str, interval: &str| {
        // The healthy user also reads its password's expiry from Graph.
        let expiry = if user == accounts::DYNAMICS_USER {
            "\npassword_expiry = true"
        } else {
            ""
        };
        let graph = if user == accounts::DYNAMICS_USER {
            format!("\ngraph_url = \"{}\"", site.url("entra"))
        } else {
            String::new()
        };
        format!(
            r#"
[[integration]]
type = "dynamics365"
name = "{name}"
notes = "{notes}"{interval}
[integration.credentials]
username = "{user}"
password = {password}
org_url = "{dynamics}"
application_id = "{app}"
tenant = "demo.onmicrosoft.com"{expiry}
[integration.endpoints]
token_url = "{entra}/demo.onmicrosoft.com/oauth2/v2.0/token"{graph}
"#,
            password = site.secret("dynamics-password"),
            dynamics = site.url("dynamics"),
            app = accounts::ENTRA_APPLICATION_ID,
            entra = site.url("entra"),
        )
    };
    [
        "# ---- Microsoft Dynamics 365: Entra ID password grant, then WhoAmI ----".to_string(),
        user(
            "Dynamics 365 CRM",
            accounts::DYNAMICS_USER,
            "Healthy: a licensed service user without MFA. Its password changed 70 days ago (read from Microsoft Graph with the login's refresh token), and Entra expires passwords after 90: see Expires.",
            "",
        ),
        user(
            "Dynamics 365 MFA user",
            accounts::DYNAMICS_MFA_USER,
            "mfa_required: a Conditional Access policy demands MFA (AADSTS50076).",
            "\ninterval = \"12s\"",
        ),
        user(
            "Dynamics 365 locked user",
            accounts::DYNAMICS_LOCKED_USER,
            "account_locked (AADSTS50053): the lockout guard makes no further attempt until the password changes.",
            "\ninterval = \"15s\"",
        ),
    ]
    .concat()
}

async fn token(State(entra): State<Entra>, Path(_tenant): Path<String>, body: Bytes) -> Response {
    let form = form(&body);
    if field(&form, "grant_type") == Some("refresh_token") {
        return refresh(&entra, &form);
    }
    if field(&form, "grant_type") != Some("password") {
        return aadsts(
            "unsupported_grant_type",
            70003,
            "The app requested an unsupported grant type.",
        );
    }
    if field(&form, "client_id") != Some(accounts::ENTRA_APPLICATION_ID) {
        return aadsts(
            "unauthorized_client",
            700016,
            "Application was not found in the directory 'credwatch demo'.",
        );
    }
    let scope = field(&form, "scope").unwrap_or_default();
    if !scope.split(' ').any(|s| s.ends_with("/.default")) {
        return aadsts(
            "invalid_scope",
            70011,
            "The provided value for the input parameter 'scope' is not valid.",
        );
    }
    let username = field(&form, "username").unwrap_or_default();
    let password = field(&form, "password").unwrap_or_default();
    match username {
        accounts::DYNAMICS_LOCKED_USER => {
            return aadsts(
                "invalid_grant",
                50053,
                "Your account is locked because you've tried to sign in too many times with an incorrect user ID or password.",
            );
        }
        accounts::DYNAMICS_USER | accounts::DYNAMICS_MFA_USER
            if password != accounts::DYNAMICS_PASSWORD =>
        {
            return aadsts(
                "invalid_grant",
                50126,
                "Error validating credentials due to invalid username or password.",
            );
        }
        accounts::DYNAMICS_MFA_USER => {
            return aadsts(
                "invalid_grant",
                50076,
                "Due to a configuration change made by your administrator, or because you moved to a new location, you must use multi-factor authentication to access 'Dataverse'.",
            );
        }
        accounts::DYNAMICS_USER => {}
        _ => {
            return aadsts(
                "invalid_grant",
                50034,
                "The user account does not exist in the directory.",
            );
        }
    }
    let mut answer = serde_json::json!({
        "token_type": "Bearer",
        "scope": scope,
        "expires_in": 4_799,
        "ext_expires_in": 4_799,
        "access_token": entra.dataverse.issue("eyJ0eXAiOiJKV1Qi.demo."),
    });
    if scope.split(' ').any(|s| s == "offline_access") {
        answer["refresh_token"] = entra.refresh.issue("0.AXEA-demo-refresh.").into();
    }
    axum::Json(answer).into_response()
}

/// The refresh-token grant: a refresh token Entra issued, redeemed for Graph's `User.Read`.
fn refresh(entra: &Entra, form: &[(String, String)]) -> Response {
    let known = field(form, "refresh_token").is_some_and(|t| entra.refresh.revoke(t));
    if !known {
        return aadsts(
            "invalid_grant",
            9002313,
            "Invalid request. Request is malformed or invalid.",
        );
    }
    if field(form, "scope") != Some("https://graph.microsoft.com/User.Read") {
        return aadsts(
            "invalid_scope",
            70011,
            "The provided value for the input parameter 'scope' is not valid.",
        );
    }
    axum::Json(serde_json::json!({
        "token_type": "Bearer",
        "scope": "https://graph.microsoft.com/User.Read",
        "expires_in": 4_799,
        "ext_expires_in": 4_799,
        "access_token": entra.graph.issue("eyJ0eXAiOiJKV1Qi.graph."),
        // Entra rotates refresh tokens; the check throws this one away.
        "refresh_token": entra.refresh.issue("0.AXEA-demo-refresh."),
    }))
    .into_response()
}

/// Graph's `/me` with both properties selected: only a Graph token is taken.
async fn me(
    State(entra): State<Entra>,
    Query(query): Query<std::collections::HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    if !entra.graph.bearer_ok(&headers) {
        return (
            StatusCode::UNAUTHORIZED,
            axum::Json(serde_json::json!({"error": {
                "code": "InvalidAuthenticationToken",
                "message": "Access token validation failure. Invalid audience."
            }})),
        )
            .into_response();
    }
    let selected = query.get("$select").map(String::as_str).unwrap_or_default();
    let mut me = serde_json::json!({
        "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#users(lastPasswordChangeDateTime,passwordPolicies)/$entity",
    });
    let changed =
        std::time::SystemTime::now() - std::time::Duration::from_secs(PASSWORD_AGE_DAYS * 86_400);
    let changed = chrono::DateTime::<chrono::Utc>::from(changed)
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    // Both properties come back only when selected.
    if selected
        .split(',')
        .any(|p| p == "lastPasswordChangeDateTime")
    {
        me["lastPasswordChangeDateTime"] = changed.into();
    }
    if selected.split(',').any(|p| p == "passwordPolicies") {
        me["passwordPolicies"] = serde_json::Value::Null;
    }
    axum::Json(me).into_response()
}

async fn who_am_i(State(tokens): State<Tokens>, headers: HeaderMap) -> Response {
    if !tokens.bearer_ok(&headers) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    axum::Json(serde_json::json!({
        "@odata.context": "https://demo.crm.dynamics.com/api/data/v9.2/$metadata#Microsoft.Dynamics.CRM.WhoAmIResponse",
        "BusinessUnitId": "6f202e6c-demo-ed11-b83d-000d3a0f6e1a",
        "UserId": "7a1f7e95-demo-ed11-b83d-000d3a0f6e1a",
        "OrganizationId": "0b8d2f3e-demo-4a6c-9a12-5c3d2e1f0a9b",
    }))
    .into_response()
}

/// An Entra error as Entra writes it.
fn aadsts(error: &str, code: u64, text: &str) -> Response {
    let trace = random_hex(16);
    let status = if error == "invalid_grant"
        || error == "invalid_scope"
        || error == "unsupported_grant_type"
    {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::UNAUTHORIZED
    };
    (
        status,
        axum::Json(serde_json::json!({
            "error": error,
            "error_description": format!("AADSTS{code}: {text} Trace ID: {trace} Correlation ID: {trace} Timestamp: 2026-11-25 12:00:00Z"),
            "error_codes": [code],
            "timestamp": "2026-11-25 12:00:00Z",
            "trace_id": trace,
            "correlation_id": trace,
            "error_uri": "https://login.microsoftonline.com/error?code=".to_string() + &code.to_string(),
        })),
    )
        .into_response()
}
