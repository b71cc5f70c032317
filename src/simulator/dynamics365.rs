//! Microsoft Entra ID's token endpoint, `POST /{tenant}/oauth2/v2.0/token` with the resource
//! owner password grant (client id in the form, scope `{org}/.default`), answering errors as
//! Entra does (`AADSTS` codes in `error_codes` and the description); and Dataverse's
//! `GET /api/data/v9.2/WhoAmI`, which takes the tokens Entra issued.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
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

/// Entra's token endpoint and Dataverse, which takes the tokens Entra issued.
fn routers(_: &Material, _: &Endpoints) -> Vec<Router> {
    let tokens = Tokens::default();
    vec![
        Router::new()
            .route("/{tenant}/oauth2/v2.0/token", post(token))
            .with_state(tokens.clone()),
        Router::new()
            .route("/api/data/v9.2/WhoAmI", get(who_am_i))
            .with_state(tokens),
    ]
}

fn demo(site: &Site) -> String {
    let user = |name: &str, user: &str, notes: &str, interval: &str| {
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
tenant = "demo.onmicrosoft.com"
[integration.endpoints]
token_url = "{entra}/demo.onmicrosoft.com/oauth2/v2.0/token"
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
            "Healthy: a licensed service user without MFA.",
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

async fn token(State(tokens): State<Tokens>, Path(_tenant): Path<String>, body: Bytes) -> Response {
    let form = form(&body);
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
    if !field(&form, "scope").is_some_and(|s| s.ends_with("/.default")) {
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
    axum::Json(serde_json::json!({
        "token_type": "Bearer",
        "scope": field(&form, "scope"),
        "expires_in": 4_799,
        "ext_expires_in": 4_799,
        "access_token": tokens.issue("eyJ0eXAiOiJKV1Qi.demo."),
    }))
    .into_response()
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
