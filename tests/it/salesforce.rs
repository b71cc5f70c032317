//! Salesforce against a local server: the username-password flow as Salesforce documents it
//! (connected app key and secret in the form, password followed by the security token), the
//! identity-URL follow-up, and every error PROVIDERS.md lists mapped to its reason.

use crate::common;

use std::time::Duration;

use common::{FormIs, check_only};
use credwatch::outcome::{Failure, FailureReason};
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const USERNAME: &str = "integration@example.com";
const PASSWORD: &str = "sf-Pa55w0rd-1234";
const SECURITY_TOKEN: &str = "sf-token-abcd";
const CLIENT_ID: &str = "3MVG9sf-consumer-key";
const CLIENT_SECRET: &str = "sf-c0nsum3r-s3cr3t-5678";
const ACCESS_TOKEN: &str = "00Dxx!sf-access-token";

fn config(base: &str, follow_up: bool, security_token: bool) -> String {
    let token = if security_token {
        format!("security_token = \"{SECURITY_TOKEN}\"")
    } else {
        String::new()
    };
    format!(
        r#"
[[integration]]
type = "salesforce"
follow_up = {follow_up}
timeout = "5s"
[integration.credentials]
username = "{USERNAME}"
password = "{PASSWORD}"
{token}
login_url = "{base}"
client_id = "{CLIENT_ID}"
client_secret = "{CLIENT_SECRET}"
"#
    )
}

fn token_answer(id: &str) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(serde_json::json!({
        "access_token": ACCESS_TOKEN,
        // The server under test: the token is revoked there after a passed check.
        "instance_url": id.split("/id/").next().unwrap_or_default(),
        "id": id,
        "token_type": "Bearer",
        "issued_at": "1558553873237",
        "signature": "c2lnbmF0dXJl"
    }))
}

fn identity(active: bool) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(serde_json::json!({
        "id": "https://login.salesforce.com/id/00Dxx0000001gPLEAY/005xx000001SwiUAAS",
        "user_id": "005xx000001SwiUAAS",
        "organization_id": "00Dxx0000001gPLEAY",
        "username": USERNAME,
        "active": active
    }))
}

async fn server(token: ResponseTemplate, identity: ResponseTemplate) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/services/oauth2/token"))
        .respond_with(token)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/id/00Dxx0000001gPLEAY/005xx000001SwiUAAS"))
        .respond_with(identity)
        .mount(&server)
        .await;
    server
}

fn id_on(server: &MockServer) -> String {
    format!("{}/id/00Dxx0000001gPLEAY/005xx000001SwiUAAS", server.uri())
}

/// The failure for a token endpoint answering `status` with an OAuth error.
async fn token_error(status: u16, code: &str, description: &str) -> Failure {
    let answer = ResponseTemplate::new(status).set_body_json(serde_json::json!({
        "error": code, "error_description": description
    }));
    let server = server(answer, identity(true)).await;
    check_only(&config(&server.uri(), true, true))
        .await
        .outcome
        .expect_err("the check should fail")
}

#[tokio::test]
async fn success_sends_the_password_grant_then_reads_the_identity_url() {
    let server = MockServer::start().await;
    let password = format!("{PASSWORD}{SECURITY_TOKEN}");
    Mock::given(method("POST"))
        .and(path("/services/oauth2/token"))
        .and(header("content-type", "application/x-www-form-urlencoded"))
        .and(header("accept", "application/json"))
        .and(FormIs::new(&[
            ("grant_type", "password"),
            ("client_id", CLIENT_ID),
            ("client_secret", CLIENT_SECRET),
            ("username", USERNAME),
            ("password", &password),
        ]))
        .respond_with(token_answer(&id_on(&server)))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/id/00Dxx0000001gPLEAY/005xx000001SwiUAAS"))
        .and(header(
            "authorization",
            format!("Bearer {ACCESS_TOKEN}").as_str(),
        ))
        .respond_with(identity(true))
        .expect(1)
        .mount(&server)
        .await;
    let report = check_only(&config(&server.uri(), true, true)).await;
    assert!(report.outcome.is_ok(), "{:?}", report.outcome);
}

#[tokio::test]
async fn without_a_security_token_the_password_goes_alone() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(FormIs::new(&[
            ("grant_type", "password"),
            ("client_id", CLIENT_ID),
            ("client_secret", CLIENT_SECRET),
            ("username", USERNAME),
            ("password", PASSWORD),
        ]))
        .respond_with(token_answer(&id_on(&server)))
        .expect(1)
        .mount(&server)
        .await;
    let report = check_only(&config(&server.uri(), false, false)).await;
    assert!(report.outcome.is_ok(), "{:?}", report.outcome);
}

#[tokio::test]
async fn follow_up_false_skips_the_identity_url() {
    let server = MockServer::start().await;
    Mock::given(path("/services/oauth2/token"))
        .respond_with(token_answer(&id_on(&server)))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .respond_with(identity(true))
        .expect(0)
        .mount(&server)
        .await;
    let report = check_only(&config(&server.uri(), false, true)).await;
    assert!(report.outcome.is_ok(), "{:?}", report.outcome);
}

#[tokio::test]
async fn authentication_failure_names_both_causes_and_the_setting() {
    let f = token_error(400, "invalid_grant", "authentication failure").await;
    assert_eq!(f.reason, FailureReason::InvalidCredentials);
    for needle in [
        "security token",
        "Allow OAuth Username-Password Flows",
        "OAuth and OpenID Connect Settings",
        "Login History",
    ] {
        assert!(
            f.message.contains(needle),
            "{needle:?} missing: {}",
            f.message
        );
    }
}

#[tokio::test]
async fn unapproved_app_and_ip_restrictions_are_permission_denied() {
    let f = token_error(400, "invalid_grant", "user hasn't approved this consumer").await;
    assert_eq!(f.reason, FailureReason::PermissionDenied);
    assert!(f.message.contains("pre-authorize"), "{}", f.message);
    let f = token_error(400, "invalid_grant", "ip restricted or invalid login hours").await;
    assert_eq!(f.reason, FailureReason::PermissionDenied);
    assert!(f.message.contains("IP"), "{}", f.message);
}

#[tokio::test]
async fn login_rate_is_rate_limited() {
    let f = token_error(400, "invalid_grant", "login rate exceeded").await;
    assert_eq!(f.reason, FailureReason::RateLimited);
    let f = token_error(400, "rate_limit_exceeded", "too many requests").await;
    assert_eq!(f.reason, FailureReason::RateLimited);
}

#[tokio::test]
async fn inactive_user_or_org_is_account_disabled() {
    let f = token_error(400, "inactive_user", "user is inactive").await;
    assert_eq!(f.reason, FailureReason::AccountDisabled);
    let f = token_error(
        400,
        "inactive_org",
        "organization is locked, closed, or suspended",
    )
    .await;
    assert_eq!(f.reason, FailureReason::AccountDisabled);
    assert!(f.message.contains("org"), "{}", f.message);
}

#[tokio::test]
async fn connected_app_mistakes_are_config_errors() {
    for (code, description) in [
        ("invalid_client_id", "client identifier invalid"),
        ("invalid_client", "invalid client credentials"),
        ("invalid_client_credentials", "client secret invalid"),
    ] {
        let f = token_error(400, code, description).await;
        assert_eq!(f.reason, FailureReason::ConfigError, "{code}");
        assert!(f.message.contains("client_secret"), "{}", f.message);
    }
    let f = token_error(400, "unsupported_grant_type", "grant type not supported").await;
    assert_eq!(f.reason, FailureReason::ConfigError);
    assert!(f.message.contains("External Client App"), "{}", f.message);
}

#[tokio::test]
async fn other_invalid_grant_is_invalid_credentials() {
    let f = token_error(400, "invalid_grant", "expired access/refresh token").await;
    assert_eq!(f.reason, FailureReason::InvalidCredentials);
}

#[tokio::test]
async fn inactive_identity_is_account_disabled() {
    let server = MockServer::start().await;
    Mock::given(path("/services/oauth2/token"))
        .respond_with(token_answer(&id_on(&server)))
        .mount(&server)
        .await;
    Mock::given(path("/id/00Dxx0000001gPLEAY/005xx000001SwiUAAS"))
        .respond_with(identity(false))
        .mount(&server)
        .await;
    let f = check_only(&config(&server.uri(), true, true))
        .await
        .outcome
        .unwrap_err();
    assert_eq!(f.reason, FailureReason::AccountDisabled);
    assert!(f.message.contains(USERNAME), "{}", f.message);
}

#[tokio::test]
async fn identity_url_refusing_the_token_is_mapped_by_status() {
    for (status, reason) in [
        (403, FailureReason::PermissionDenied),
        (401, FailureReason::InvalidCredentials),
        (503, FailureReason::ProviderError),
    ] {
        let server = MockServer::start().await;
        Mock::given(path("/services/oauth2/token"))
            .respond_with(token_answer(&id_on(&server)))
            .mount(&server)
            .await;
        Mock::given(path("/id/00Dxx0000001gPLEAY/005xx000001SwiUAAS"))
            .respond_with(ResponseTemplate::new(status))
            .mount(&server)
            .await;
        let f = check_only(&config(&server.uri(), true, true))
            .await
            .outcome
            .unwrap_err();
        assert_eq!(f.reason, reason, "HTTP {status}");
    }
}

#[tokio::test]
async fn the_token_never_goes_to_a_plain_http_identity_url_elsewhere() {
    let elsewhere = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(identity(true))
        .expect(0)
        .mount(&elsewhere)
        .await;
    // 127.0.0.1 and localhost are different origins.
    let foreign = id_on(&elsewhere).replace("127.0.0.1", "localhost");
    let login = server(token_answer(&foreign), identity(true)).await;
    let f = check_only(&config(&login.uri(), true, true))
        .await
        .outcome
        .unwrap_err();
    assert_eq!(f.reason, FailureReason::ProtocolError);
    assert!(f.message.contains("not HTTPS"), "{}", f.message);
    let no_id = ResponseTemplate::new(200)
        .set_body_json(serde_json::json!({"access_token": ACCESS_TOKEN, "token_type": "Bearer"}));
    let server = server(no_id, identity(true)).await;
    let f = check_only(&config(&server.uri(), true, true))
        .await
        .outcome
        .unwrap_err();
    assert_eq!(f.reason, FailureReason::ProtocolError);
}

#[tokio::test]
async fn too_many_requests_keeps_retry_after() {
    let answer = ResponseTemplate::new(429).insert_header("retry-after", "42");
    let server = server(answer, identity(true)).await;
    let f = check_only(&config(&server.uri(), true, true))
        .await
        .outcome
        .unwrap_err();
    assert_eq!(f.reason, FailureReason::RateLimited);
    assert_eq!(f.retry_after, Some(Duration::from_secs(42)));
}

/// The revocations the server saw: `POST /services/oauth2/revoke`, each with its form.
async fn revocations(server: &MockServer) -> Vec<String> {
    common::received(server, "POST", "/services/oauth2/revoke")
        .await
        .iter()
        .map(|r| String::from_utf8_lossy(&r.body).into_owned())
        .collect()
}

#[tokio::test]
async fn a_passed_check_revokes_its_token_at_the_instance_and_a_failed_one_nothing() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/services/oauth2/token"))
        .respond_with(token_answer(&id_on(&server)))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/id/00Dxx0000001gPLEAY/005xx000001SwiUAAS"))
        .respond_with(identity(true))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/services/oauth2/revoke"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&server)
        .await;
    let report = check_only(&config(&server.uri(), true, true)).await;
    assert_eq!(report.outcome.expect("passes").revoked, Some(true));
    assert_eq!(
        revocations(&server).await,
        [format!("token={}", ACCESS_TOKEN.replace('!', "%21"))]
    );

    // An inactive user: the check fails, and nothing is revoked.
    let failing = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/services/oauth2/token"))
        .respond_with(token_answer(&id_on(&failing)))
        .mount(&failing)
        .await;
    Mock::given(method("GET"))
        .and(path("/id/00Dxx0000001gPLEAY/005xx000001SwiUAAS"))
        .respond_with(identity(false))
        .mount(&failing)
        .await;
    assert!(
        check_only(&config(&failing.uri(), true, true))
            .await
            .outcome
            .is_err()
    );
    assert_eq!(revocations(&failing).await, Vec::<String>::new());
}

/// The user's record at `server`: its password changed at `changed` (Salesforce's format), and
/// `expired` says whether it has expired.
async fn password_record(server: &MockServer, changed: &str, expired: bool) {
    Mock::given(method("GET"))
        .and(path("/services/data/v65.0/query"))
        .and(wiremock::matchers::query_param(
            "q",
            "SELECT LastPasswordChangeDate FROM User WHERE Id = '005xx000001SwiUAAS'",
        ))
        .and(header(
            "authorization",
            format!("Bearer {ACCESS_TOKEN}").as_str(),
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "totalSize": 1, "done": true,
            "records": [{"attributes": {"type": "User"}, "LastPasswordChangeDate": changed}]
        })))
        .mount(server)
        .await;
    Mock::given(method("GET"))
        .and(path(
            "/services/data/v65.0/sobjects/User/005xx000001SwiUAAS/password",
        ))
        .and(header(
            "authorization",
            format!("Bearer {ACCESS_TOKEN}").as_str(),
        ))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(serde_json::json!({"isExpired": expired})),
        )
        .mount(server)
        .await;
}

/// A Salesforce whose login and identity URL work.
async fn logged_in() -> MockServer {
    server_with_identity(identity(true)).await
}

const EXPIRED_PASSWORD: &str = r#"[{"message":"The users password has expired, you must call SetPassword before attempting any other API operations","errorCode":"INVALID_OPERATION_WITH_EXPIRED_PASSWORD"}]"#;

#[tokio::test]
async fn the_password_change_and_the_policy_give_the_forecast() {
    use credwatch::forecast::{Credential, Learnt, Source};
    let server = logged_in().await;
    // 2026-09-01T10:00:00Z.
    password_record(&server, "2026-09-01T10:00:00.000+0000", false).await;
    let changed = 1_788_256_800.0;

    let with_policy = format!(
        "{}password_max_age = \"90d\"\n",
        config(&server.uri(), true, true)
    );
    let report = check_only(&with_policy).await;
    assert!(report.outcome.is_ok(), "{:?}", report.outcome);
    assert_eq!(
        report.learnt,
        [Learnt {
            credential: Credential::Password,
            used: None,
            changed: Some(changed),
            expires: Some((Source::Policy, changed + 90.0 * 86_400.0)),
        }]
    );

    // Without a maximum age, only the change is known.
    let report = check_only(&config(&server.uri(), true, true)).await;
    assert!(report.outcome.is_ok(), "{:?}", report.outcome);
    assert_eq!(report.learnt.len(), 1);
    assert_eq!(report.learnt[0].changed, Some(changed));
    assert_eq!(report.learnt[0].expires, None);

    // follow_up = false makes no call after the login, so it learns nothing.
    let report = check_only(&config(&server.uri(), false, true)).await;
    assert!(report.outcome.is_ok(), "{:?}", report.outcome);
    assert!(report.learnt.is_empty());
}

#[tokio::test]
async fn an_expired_password_fails_with_how_to_reset_it() {
    // The password status says so.
    let server = logged_in().await;
    password_record(&server, "2026-06-01T10:00:00.000+0000", true).await;
    let report = check_only(&config(&server.uri(), true, true)).await;
    let failure = report.outcome.unwrap_err();
    assert_eq!(failure.reason, FailureReason::ExpiredCredentials);
    assert!(
        failure.message.contains("has expired"),
        "{}",
        failure.message
    );
    assert!(
        failure.message.contains("security token"),
        "{}",
        failure.message
    );
    // What was read before the verdict is kept: the change date.
    assert_eq!(report.learnt.len(), 1, "{:?}", report.learnt);

    // Any call answering INVALID_OPERATION_WITH_EXPIRED_PASSWORD: the query, or the identity URL.
    let server = logged_in().await;
    Mock::given(method("GET"))
        .and(path("/services/data/v65.0/query"))
        .respond_with(ResponseTemplate::new(500).set_body_raw(EXPIRED_PASSWORD, "application/json"))
        .mount(&server)
        .await;
    let failure = check_only(&config(&server.uri(), true, true))
        .await
        .outcome
        .unwrap_err();
    assert_eq!(
        failure.reason,
        FailureReason::ExpiredCredentials,
        "{}",
        failure.message
    );

    let server = server_with_identity(
        ResponseTemplate::new(401).set_body_raw(EXPIRED_PASSWORD, "application/json"),
    )
    .await;
    let failure = check_only(&config(&server.uri(), true, true))
        .await
        .outcome
        .unwrap_err();
    assert_eq!(
        failure.reason,
        FailureReason::ExpiredCredentials,
        "{}",
        failure.message
    );
}

async fn server_with_identity(identity: ResponseTemplate) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/services/oauth2/token"))
        .respond_with(token_answer(&id_on(&server)))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/id/00Dxx0000001gPLEAY/005xx000001SwiUAAS"))
        .respond_with(identity)
        .mount(&server)
        .await;
    server
}

#[tokio::test]
async fn a_user_that_may_not_read_its_record_is_a_warning_not_a_failure() {
    let server = logged_in().await;
    let refused = ResponseTemplate::new(403).set_body_raw(
        r#"[{"message":"insufficient access rights on object id","errorCode":"INSUFFICIENT_ACCESS_OR_READONLY"}]"#,
        "application/json",
    );
    Mock::given(method("GET"))
        .and(path("/services/data/v65.0/query"))
        .respond_with(refused.clone())
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(
            "/services/data/v65.0/sobjects/User/005xx000001SwiUAAS/password",
        ))
        .respond_with(refused)
        .mount(&server)
        .await;
    let report = check_only(&config(&server.uri(), true, true)).await;
    assert!(report.outcome.is_ok(), "{:?}", report.outcome);
    assert!(report.learnt.is_empty());
    // Both were asked, once each.
    assert_eq!(
        common::received(&server, "GET", "/services/data/v65.0/query")
            .await
            .len(),
        1
    );
}

#[tokio::test]
async fn the_api_version_is_configurable_and_checked() {
    let server = logged_in().await;
    Mock::given(method("GET"))
        .and(path("/services/data/v61.0/query"))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "totalSize": 1, "done": true,
            "records": [{"LastPasswordChangeDate": "2026-09-01T10:00:00.000+0000"}]
        })))
        .mount(&server)
        .await;
    let text = format!(
        "{}api_version = \"v61.0\"\n",
        config(&server.uri(), true, true)
    );
    let report = check_only(&text).await;
    assert!(report.outcome.is_ok(), "{:?}", report.outcome);
    assert_eq!(report.learnt[0].changed, Some(1_788_256_800.0));

    for (line, field) in [
        ("api_version = \"latest\"", "api_version"),
        ("password_max_age = \"ninety days\"", "password_max_age"),
        ("password_max_age = \"0s\"", "password_max_age"),
    ] {
        let text = format!("{}{line}\n", config(&server.uri(), true, true));
        let error = credwatch::config::Config::parse("t.toml", &text)
            .unwrap_err()
            .to_string();
        assert!(error.contains(&format!("credentials.{field}")), "{error}");
    }
}
