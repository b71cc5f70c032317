//! Dynamics 365 against a local server: the Entra password grant as MSAL sends it (public client,
//! or with a client secret), the Dataverse WhoAmI follow-up with its OData headers, and every
//! AADSTS code PROVIDERS.md lists mapped to its reason.

use crate::common;

use std::time::{Duration, SystemTime};

use common::{FormIs, check_only};
use credwatch::outcome::{Failure, FailureReason};
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const USERNAME: &str = "svc-genesys@contoso.onmicrosoft.com";
const PASSWORD: &str = "entra-s3cr3t-1234";
const APP_ID: &str = "51f81489-12ee-4a9e-aaae-a2591f45987d";
const CLIENT_SECRET: &str = "entra-client-secret-5678";
const ACCESS_TOKEN: &str = "eyJ0eXAi.entra-access-token";

/// `org` stands for the org URL; the token endpoint is on the same local server.
fn config(base: &str, follow_up: bool, secret: bool) -> String {
    let secret = if secret {
        format!("client_secret = \"{CLIENT_SECRET}\"")
    } else {
        String::new()
    };
    format!(
        r#"
[[integration]]
type = "dynamics365"
follow_up = {follow_up}
timeout = "5s"
[integration.credentials]
username = "{USERNAME}"
password = "{PASSWORD}"
org_url = "{base}/"
application_id = "{APP_ID}"
{secret}
[integration.endpoints]
token_url = "{base}/organizations/oauth2/v2.0/token"
"#
    )
}

fn token() -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(serde_json::json!({
        "token_type": "Bearer",
        "scope": "https://contoso.crm.dynamics.com/user_impersonation",
        "expires_in": 4814,
        "ext_expires_in": 4814,
        "access_token": ACCESS_TOKEN
    }))
}

fn who_am_i() -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(serde_json::json!({
        "@odata.context": "https://contoso.crm.dynamics.com/api/data/v9.2/$metadata#Microsoft.Dynamics.CRM.WhoAmIResponse",
        "BusinessUnitId": "6f202e6c-e471-ec11-8941-000d3a5ad6c2",
        "UserId": "88057198-a9b1-ec11-9840-00224800d2f9",
        "OrganizationId": "e34c95a5-f34c-430c-a05e-a23437e5b9fa"
    }))
}

async fn server(token: ResponseTemplate, who_am_i: ResponseTemplate) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/organizations/oauth2/v2.0/token"))
        .respond_with(token)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/data/v9.2/WhoAmI"))
        .respond_with(who_am_i)
        .mount(&server)
        .await;
    server
}

async fn failure(token: ResponseTemplate, who_am_i: ResponseTemplate) -> Failure {
    let server = server(token, who_am_i).await;
    check_only(&config(&server.uri(), true, false))
        .await
        .outcome
        .expect_err("the check should fail")
}

/// An Entra error answer as the v2.0 endpoint writes it.
fn aadsts(code: u64, error: &str, text: &str) -> ResponseTemplate {
    ResponseTemplate::new(400).set_body_json(serde_json::json!({
        "error": error,
        "error_description": format!("AADSTS{code}: {text}\r\nTrace ID: 0f5d6c0e-1f7a-4a1b-9d4c-3a2e0a0b5c00\r\nCorrelation ID: 6f5e8d2b-7c1a-4e2d-8b3f-1a2b3c4d5e6f\r\nTimestamp: 2026-11-24 10:00:00Z"),
        "error_codes": [code],
        "timestamp": "2026-11-24 10:00:00Z",
        "trace_id": "0f5d6c0e-1f7a-4a1b-9d4c-3a2e0a0b5c00",
        "correlation_id": "6f5e8d2b-7c1a-4e2d-8b3f-1a2b3c4d5e6f",
        "error_uri": "https://login.microsoftonline.com/error?code=50126"
    }))
}

#[tokio::test]
async fn success_sends_the_password_grant_then_who_am_i() {
    let server = MockServer::start().await;
    let scope = format!("{}/.default", server.uri());
    Mock::given(method("POST"))
        .and(path("/organizations/oauth2/v2.0/token"))
        .and(header("content-type", "application/x-www-form-urlencoded"))
        .and(FormIs::new(&[
            ("grant_type", "password"),
            ("client_id", APP_ID),
            ("username", USERNAME),
            ("password", PASSWORD),
            ("scope", &scope),
        ]))
        .respond_with(token())
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/data/v9.2/WhoAmI"))
        .and(header(
            "authorization",
            format!("Bearer {ACCESS_TOKEN}").as_str(),
        ))
        .and(header("accept", "application/json"))
        .and(header("odata-maxversion", "4.0"))
        .and(header("odata-version", "4.0"))
        .respond_with(who_am_i())
        .expect(1)
        .mount(&server)
        .await;
    let report = check_only(&config(&server.uri(), true, false)).await;
    let success = report.outcome.expect("the check passes");
    let expiry = success.token_expiry.expect("expires_in becomes an expiry");
    let expected = SystemTime::now() + Duration::from_secs(4814);
    let gap = expected
        .duration_since(expiry)
        .unwrap_or_else(|e| e.duration());
    assert!(gap < Duration::from_secs(30), "expiry off by {gap:?}");
}

#[tokio::test]
async fn a_confidential_client_sends_its_secret_in_the_form() {
    let server = MockServer::start().await;
    let scope = format!("{}/.default", server.uri());
    Mock::given(method("POST"))
        .and(FormIs::new(&[
            ("grant_type", "password"),
            ("client_id", APP_ID),
            ("client_secret", CLIENT_SECRET),
            ("username", USERNAME),
            ("password", PASSWORD),
            ("scope", &scope),
        ]))
        .respond_with(token())
        .expect(1)
        .mount(&server)
        .await;
    let report = check_only(&config(&server.uri(), false, true)).await;
    assert!(report.outcome.is_ok(), "{:?}", report.outcome);
}

#[test]
fn a_tenant_that_is_not_a_name_is_a_config_error() {
    let text = format!(
        r#"
[[integration]]
type = "dynamics365"
[integration.credentials]
username = "{USERNAME}"
password = "p"
org_url = "https://contoso.crm.dynamics.com"
application_id = "{APP_ID}"
tenant = "contoso.onmicrosoft.com/../x"
"#
    );
    let error = credwatch::config::Config::parse("test.toml", &text).unwrap_err();
    assert!(error.to_string().contains("credentials.tenant"), "{error}");
}

#[tokio::test]
async fn every_aadsts_code_has_its_reason() {
    let cases: &[(u64, &str, FailureReason, &str)] = &[
        (
            50126,
            "invalid_grant",
            FailureReason::InvalidCredentials,
            "wrong username or password",
        ),
        (
            50034,
            "invalid_grant",
            FailureReason::InvalidCredentials,
            "no such user",
        ),
        (
            50053,
            "invalid_grant",
            FailureReason::AccountLocked,
            "locked",
        ),
        (
            50055,
            "invalid_grant",
            FailureReason::ExpiredCredentials,
            "password has expired",
        ),
        (
            50057,
            "invalid_grant",
            FailureReason::AccountDisabled,
            "disabled",
        ),
        (50076, "invalid_grant", FailureReason::MfaRequired, "MFA"),
        (50079, "invalid_grant", FailureReason::MfaRequired, "MFA"),
        (
            50158,
            "interaction_required",
            FailureReason::MfaRequired,
            "MFA",
        ),
        (
            65001,
            "invalid_grant",
            FailureReason::PermissionDenied,
            "consent",
        ),
        (
            53003,
            "invalid_grant",
            FailureReason::PermissionDenied,
            "Conditional Access",
        ),
        (
            7000218,
            "invalid_client",
            FailureReason::ConfigError,
            "public client flows",
        ),
        (
            700016,
            "unauthorized_client",
            FailureReason::ConfigError,
            "application_id",
        ),
        (
            90002,
            "invalid_request",
            FailureReason::ConfigError,
            "tenant",
        ),
        (
            500011,
            "invalid_resource",
            FailureReason::ConfigError,
            "org_url",
        ),
    ];
    for (code, error, reason, hint) in cases {
        let f = failure(aadsts(*code, error, "Entra's own words."), who_am_i()).await;
        assert_eq!(f.reason, *reason, "AADSTS{code}: {}", f.message);
        assert!(f.message.contains(hint), "AADSTS{code}: {}", f.message);
        assert!(
            f.message.contains(&format!("AADSTS{code}")),
            "{}",
            f.message
        );
        assert!(!f.message.contains("Trace ID"), "{}", f.message);
    }
}

#[tokio::test]
async fn an_unknown_code_falls_back_to_the_oauth_error() {
    let f = failure(aadsts(99999, "invalid_grant", "Something new."), who_am_i()).await;
    assert_eq!(f.reason, FailureReason::InvalidCredentials);
    let f = failure(
        aadsts(99998, "temporarily_unavailable", "Busy."),
        who_am_i(),
    )
    .await;
    assert_eq!(f.reason, FailureReason::ProviderError);
}

#[tokio::test]
async fn who_am_i_refusing_is_permission_denied() {
    for status in [401, 403] {
        let f = failure(token(), ResponseTemplate::new(status)).await;
        assert_eq!(f.reason, FailureReason::PermissionDenied, "HTTP {status}");
        assert!(f.message.contains("security role"), "{}", f.message);
    }
}

#[tokio::test]
async fn who_am_i_without_user_id_is_protocol_error() {
    let f = failure(
        token(),
        ResponseTemplate::new(200).set_body_json(serde_json::json!({})),
    )
    .await;
    assert_eq!(f.reason, FailureReason::ProtocolError);
}

const REFRESH_TOKEN: &str = "0.AR8A-entra-refresh-token";

/// Matches a token request of this `grant_type`.
struct Grant(&'static str);

impl wiremock::Match for Grant {
    fn matches(&self, request: &wiremock::Request) -> bool {
        common::form_of(request)
            .iter()
            .any(|(k, v)| k == "grant_type" && v == self.0)
    }
}
const GRAPH_TOKEN: &str = "eyJ0eXAi.graph-access-token";

/// A config asking for the password's expiry, with Graph on the same local server.
fn expiry_config(base: &str, extra: &str) -> String {
    format!(
        "{}graph_url = \"{base}/graph\"\n",
        config(base, true, true).replace(
            &format!("client_secret = \"{CLIENT_SECRET}\""),
            &format!("client_secret = \"{CLIENT_SECRET}\"\npassword_expiry = true\n{extra}"),
        )
    )
}

/// An Entra whose password grant also hands out a refresh token, whose refresh grant gives a
/// Graph token, and a Graph `/me` answering `me` to that token.
async fn entra_and_graph(me: serde_json::Value) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/organizations/oauth2/v2.0/token"))
        .and(Grant("password"))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "token_type": "Bearer",
            "scope": "https://contoso.crm.dynamics.com/user_impersonation",
            "expires_in": 4814,
            "access_token": ACCESS_TOKEN,
            "refresh_token": REFRESH_TOKEN
        })))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/organizations/oauth2/v2.0/token"))
        .and(Grant("refresh_token"))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "token_type": "Bearer",
            "scope": "https://graph.microsoft.com/User.Read",
            "expires_in": 3600,
            "access_token": GRAPH_TOKEN,
            "refresh_token": "0.AR8A-a-rotated-refresh-token"
        })))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/data/v9.2/WhoAmI"))
        .respond_with(who_am_i())
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/graph/v1.0/me"))
        .and(wiremock::matchers::query_param(
            "$select",
            "lastPasswordChangeDateTime,passwordPolicies",
        ))
        .and(header(
            "authorization",
            format!("Bearer {GRAPH_TOKEN}").as_str(),
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(me))
        .mount(&server)
        .await;
    server
}

#[tokio::test]
async fn the_password_expiry_comes_from_graph_with_one_password_attempt() {
    use credwatch::forecast::{Credential, Learnt, Source};
    let server = entra_and_graph(serde_json::json!({
        "lastPasswordChangeDateTime": "2026-09-01T10:00:00Z",
        "passwordPolicies": null
    }))
    .await;
    let report = check_only(&expiry_config(&server.uri(), "")).await;
    assert!(report.outcome.is_ok(), "{:?}", report.outcome);
    let changed = 1_788_256_800.0;
    assert_eq!(
        report.learnt,
        [Learnt {
            credential: Credential::Password,
            used: None,
            changed: Some(changed),
            // Entra's default: 90 days.
            expires: Some((Source::Policy, changed + 90.0 * 86_400.0)),
        }]
    );
    let grants = common::received(&server, "POST", "/organizations/oauth2/v2.0/token").await;
    let forms: Vec<_> = grants.iter().map(common::form_of).collect();
    let field = |form: &[(String, String)], key: &str| {
        form.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone())
    };
    // Exactly one password attempt, which asked for a refresh token too.
    assert_eq!(forms.len(), 2, "{forms:?}");
    assert_eq!(field(&forms[0], "grant_type").as_deref(), Some("password"));
    let scope = field(&forms[0], "scope").unwrap();
    assert!(scope.split(' ').any(|s| s == "offline_access"), "{scope}");
    // Then the refresh token, once, for Graph's User.Read, by the same app.
    assert_eq!(
        field(&forms[1], "grant_type").as_deref(),
        Some("refresh_token")
    );
    assert_eq!(
        field(&forms[1], "refresh_token").as_deref(),
        Some(REFRESH_TOKEN)
    );
    assert_eq!(
        field(&forms[1], "scope").as_deref(),
        Some("https://graph.microsoft.com/User.Read")
    );
    assert_eq!(field(&forms[1], "client_id").as_deref(), Some(APP_ID));
    assert_eq!(field(&forms[1], "password"), None);

    // password_max_age replaces the default; DisablePasswordExpiration means no forecast.
    let report = check_only(&expiry_config(&server.uri(), "password_max_age = \"30d\"")).await;
    assert_eq!(
        report.learnt[0].expires,
        Some((Source::Policy, changed + 30.0 * 86_400.0))
    );
    let never = entra_and_graph(serde_json::json!({
        "lastPasswordChangeDateTime": "2026-09-01T10:00:00Z",
        "passwordPolicies": "DisablePasswordExpiration, DisableStrongPassword"
    }))
    .await;
    let report = check_only(&expiry_config(&never.uri(), "")).await;
    assert!(report.outcome.is_ok(), "{:?}", report.outcome);
    assert_eq!(report.learnt[0].changed, Some(changed));
    assert_eq!(report.learnt[0].expires, None);
}

#[tokio::test]
async fn without_password_expiry_no_refresh_token_is_asked_for() {
    let server = entra_and_graph(serde_json::json!({})).await;
    let report = check_only(&config(&server.uri(), true, true)).await;
    assert!(report.outcome.is_ok(), "{:?}", report.outcome);
    assert!(report.learnt.is_empty());
    let grants = common::received(&server, "POST", "/organizations/oauth2/v2.0/token").await;
    assert_eq!(grants.len(), 1);
    let form = common::form_of(&grants[0]);
    let scope = &form.iter().find(|(k, _)| k == "scope").unwrap().1;
    assert!(!scope.contains("offline_access"), "{scope}");
    assert!(
        common::received(&server, "GET", "/graph/v1.0/me")
            .await
            .is_empty()
    );

    // password_max_age alone is a config error that says what it needs.
    let text = config(&server.uri(), true, true).replace(
        "application_id",
        "password_max_age = \"90d\"\napplication_id",
    );
    let error = credwatch::config::Config::parse("t.toml", &text)
        .unwrap_err()
        .to_string();
    assert!(error.contains("credentials.password_max_age"), "{error}");
    assert!(error.contains("password_expiry = true"), "{error}");
}

#[tokio::test]
async fn graph_trouble_is_a_warning_and_an_expired_password_stays_expired_credentials() {
    // Graph refusing (no consent for User.Read): the check passes, nothing is learnt.
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/organizations/oauth2/v2.0/token"))
        .and(Grant("password"))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "token_type": "Bearer", "expires_in": 4814,
            "access_token": ACCESS_TOKEN, "refresh_token": REFRESH_TOKEN
        })))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/organizations/oauth2/v2.0/token"))
        .and(Grant("refresh_token"))
        .respond_with(aadsts(
            65001,
            "invalid_grant",
            "AADSTS65001: The user or administrator has not consented to use the application.",
        ))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/data/v9.2/WhoAmI"))
        .respond_with(who_am_i())
        .mount(&server)
        .await;
    let report = check_only(&expiry_config(&server.uri(), "")).await;
    assert!(report.outcome.is_ok(), "{:?}", report.outcome);
    assert!(report.learnt.is_empty());

    // AADSTS50055 at the password login is still an expired password.
    let expired = failure(
        aadsts(
            50055,
            "invalid_grant",
            "AADSTS50055: The password is expired.",
        ),
        who_am_i(),
    )
    .await;
    assert_eq!(expired.reason, FailureReason::ExpiredCredentials);
}
