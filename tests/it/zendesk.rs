//! Zendesk against a local server: the exact request, and every answer mapped to its reason.

use crate::common;

use std::time::{Duration, Instant};

use common::{check_only, refused_port};
use credwatch::outcome::FailureReason;
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const TOKEN: &str = "zd-token-0123456789";
/// base64("ops@example.com/token:zd-token-0123456789")
const AUTH: &str = "Basic b3BzQGV4YW1wbGUuY29tL3Rva2VuOnpkLXRva2VuLTAxMjM0NTY3ODk=";

fn config(base_url: &str, timeout: &str) -> String {
    format!(
        r#"
[[integration]]
type = "zendesk"
timeout = "{timeout}"
[integration.credentials]
email = "ops@example.com"
base_url = "{base_url}"
api_token = "{TOKEN}"
"#
    )
}

async fn answering(response: ResponseTemplate) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v2/users/me.json"))
        .respond_with(response)
        .mount(&server)
        .await;
    server
}

fn user(id: serde_json::Value, active: bool, suspended: bool) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(serde_json::json!({
        "user": { "id": id, "name": "Ops", "email": "ops@example.com", "active": active, "suspended": suspended, "role": "admin" }
    }))
}

#[tokio::test]
async fn success_sends_basic_auth_with_the_token_suffix() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v2/users/me.json"))
        .and(header("authorization", AUTH))
        .and(header("accept", "application/json"))
        .respond_with(user(serde_json::json!(361_768_110_000u64), true, false))
        .expect(1)
        .mount(&server)
        .await;
    let report = check_only(&config(&server.uri(), "5s")).await;
    assert!(report.outcome.is_ok(), "{:?}", report.outcome);
    let requests = server.received_requests().await.unwrap();
    let agent = requests[0]
        .headers
        .get("user-agent")
        .unwrap()
        .to_str()
        .unwrap();
    assert!(agent.starts_with("credwatch/"), "{agent}");
}

async fn failure(response: ResponseTemplate) -> credwatch::outcome::Failure {
    let server = answering(response).await;
    let report = check_only(&config(&server.uri(), "5s")).await;
    report.outcome.expect_err("the check should fail")
}

#[tokio::test]
async fn wrong_token_is_invalid_credentials() {
    let f = failure(
        ResponseTemplate::new(401)
            .set_body_json(serde_json::json!({"error": "Couldn't authenticate you"})),
    )
    .await;
    assert_eq!(f.reason, FailureReason::InvalidCredentials);
    assert!(f.message.contains("401"), "{}", f.message);
}

#[tokio::test]
async fn anonymous_user_is_invalid_credentials() {
    let f = failure(user(serde_json::Value::Null, true, false)).await;
    assert_eq!(f.reason, FailureReason::InvalidCredentials);
    assert!(f.message.contains("anonymous"), "{}", f.message);
}

#[tokio::test]
async fn suspended_or_inactive_user_is_account_disabled() {
    let f = failure(user(serde_json::json!(7), true, true)).await;
    assert_eq!(f.reason, FailureReason::AccountDisabled);
    assert!(f.message.contains("suspended"), "{}", f.message);
    let f = failure(user(serde_json::json!(7), false, false)).await;
    assert_eq!(f.reason, FailureReason::AccountDisabled);
}

#[tokio::test]
async fn forbidden_is_permission_denied() {
    let f = failure(ResponseTemplate::new(403)).await;
    assert_eq!(f.reason, FailureReason::PermissionDenied);
}

#[tokio::test]
async fn too_many_requests_is_rate_limited_with_retry_after() {
    let f = failure(ResponseTemplate::new(429).insert_header("retry-after", "42")).await;
    assert_eq!(f.reason, FailureReason::RateLimited);
    assert_eq!(f.retry_after, Some(Duration::from_secs(42)));
    assert!(f.message.contains("42s"), "{}", f.message);
}

#[tokio::test]
async fn server_error_is_provider_error() {
    let f = failure(ResponseTemplate::new(500)).await;
    assert_eq!(f.reason, FailureReason::ProviderError);
    let f = failure(ResponseTemplate::new(503)).await;
    assert_eq!(f.reason, FailureReason::ProviderError);
}

#[tokio::test]
async fn garbage_is_protocol_error() {
    let f = failure(ResponseTemplate::new(200).set_body_string("<html>maintenance</html>")).await;
    assert_eq!(f.reason, FailureReason::ProtocolError);
    let f =
        failure(ResponseTemplate::new(200).set_body_json(serde_json::json!({"users": []}))).await;
    assert_eq!(f.reason, FailureReason::ProtocolError);
}

#[tokio::test]
async fn oversized_answer_is_protocol_error() {
    let f = failure(ResponseTemplate::new(200).set_body_string("x".repeat(2 * 1024 * 1024))).await;
    assert_eq!(f.reason, FailureReason::ProtocolError);
    assert!(f.message.contains("larger than"), "{}", f.message);
}

#[tokio::test]
async fn redirect_is_not_followed() {
    let server = MockServer::start().await;
    Mock::given(path("/api/v2/users/me.json"))
        .respond_with(ResponseTemplate::new(302).insert_header("location", "/elsewhere"))
        .mount(&server)
        .await;
    Mock::given(path("/elsewhere"))
        .respond_with(user(serde_json::json!(1), true, false))
        .expect(0)
        .mount(&server)
        .await;
    let f = check_only(&config(&server.uri(), "5s"))
        .await
        .outcome
        .unwrap_err();
    assert_eq!(f.reason, FailureReason::ProtocolError);
    assert!(f.message.contains("redirect"), "{}", f.message);
}

#[tokio::test]
async fn server_that_never_answers_is_timeout_within_the_timeout() {
    let server =
        answering(user(serde_json::json!(1), true, false).set_delay(Duration::from_secs(60))).await;
    let started = Instant::now();
    let f = check_only(&config(&server.uri(), "1s"))
        .await
        .outcome
        .unwrap_err();
    assert_eq!(f.reason, FailureReason::Timeout);
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(5),
        "{took:?}"
    );
}

#[tokio::test]
async fn connection_refused_is_network_error() {
    let url = format!("http://127.0.0.1:{}", refused_port());
    let f = check_only(&config(&url, "5s")).await.outcome.unwrap_err();
    assert_eq!(f.reason, FailureReason::NetworkError);
    assert!(f.message.contains("127.0.0.1"), "{}", f.message);
}

#[tokio::test]
async fn tls_to_a_plain_http_server_is_tls_error() {
    let server = answering(user(serde_json::json!(1), true, false)).await;
    let url = server.uri().replace("http://", "https://");
    let f = check_only(&config(&url, "5s")).await.outcome.unwrap_err();
    assert_eq!(f.reason, FailureReason::TlsError, "{}", f.message);
}

#[tokio::test]
async fn unknown_subdomain_is_config_error() {
    let f = failure(ResponseTemplate::new(404)).await;
    assert_eq!(f.reason, FailureReason::ConfigError);
}
