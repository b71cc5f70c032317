//! Web services against a local server: the four credential types, `${credentials.NAME}` in URL,
//! headers and body, the OAuth login of `user_defined_oauth`, `expect_status` and `expect_json`,
//! and the mapping of what the service answers. mTLS is in tests/mtls.rs.

use crate::common;

use std::time::{Duration, SystemTime};

use common::{FormIs, check_only};
use credwatch::outcome::{Failure, FailureReason};
use wiremock::matchers::{body_string, header, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

async fn failure(text: &str) -> Failure {
    check_only(text)
        .await
        .outcome
        .expect_err("the check should fail")
}

fn config(credentials: &str, request: &str) -> String {
    format!(
        "[[integration]]\ntype = \"web_service\"\ntimeout = \"5s\"\n[integration.credentials]\n{credentials}\n[integration.request]\n{request}\n"
    )
}

#[tokio::test]
async fn none_sends_the_request_as_configured() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/health"))
        .respond_with(ResponseTemplate::new(204))
        .expect(1)
        .mount(&server)
        .await;
    let text = config(
        "credential_type = \"none\"",
        &format!("url = \"{}/health\"", server.uri()),
    );
    let report = check_only(&text).await;
    assert!(report.outcome.is_ok(), "{:?}", report.outcome);
    let requests = server.received_requests().await.unwrap();
    assert!(!requests[0].headers.contains_key("authorization"));
}

#[tokio::test]
async fn basic_sends_basic_auth() {
    let server = MockServer::start().await;
    Mock::given(header("authorization", "Basic b3BzOnMzY3JldC1wYXNz"))
        .respond_with(ResponseTemplate::new(200))
        .expect(1)
        .mount(&server)
        .await;
    let text = config(
        "credential_type = \"basic\"\nusername = \"ops\"\npassword = \"s3cret-pass\"",
        &format!("url = \"{}/x\"", server.uri()),
    );
    let report = check_only(&text).await;
    assert!(report.outcome.is_ok(), "{:?}", report.outcome);
}

#[tokio::test]
async fn user_defined_fields_fill_url_headers_and_body() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/accounts/acme%2Fprod/check"))
        .and(query_param("key", "k&y=1 2"))
        .and(header("x-api-key", "hdr value/+="))
        .and(header("content-type", "application/json"))
        .and(body_string(r#"{"secret":"b0dy \"quoted\""}"#))
        .respond_with(ResponseTemplate::new(201))
        .expect(1)
        .mount(&server)
        .await;
    let text = format!(
        r#"
[[integration]]
type = "web_service"
timeout = "5s"
[integration.credentials]
credential_type = "user_defined"
[integration.credentials.fields]
account = "acme/prod"
key = "k&y=1 2"
header = "hdr value/+="
body = 'b0dy \"quoted\"'
[integration.request]
method = "POST"
url = "{}/v1/accounts/${{credentials.account}}/check?key=${{credentials.key}}"
body = '{{"secret":"${{credentials.body}}"}}'
expect_status = [200, 201]
[integration.request.headers]
X-Api-Key = "${{credentials.header}}"
Content-Type = "application/json"
"#,
        server.uri()
    );
    let report = check_only(&text).await;
    assert!(report.outcome.is_ok(), "{:?}", report.outcome);
}

fn oauth_config(server: &MockServer, extra: &str) -> String {
    format!(
        r#"
[[integration]]
type = "web_service"
timeout = "5s"
[integration.credentials]
credential_type = "user_defined_oauth"
login_url = "{0}/oauth/token"
client_id = "web-client"
client_secret = "web-secret-123"
{extra}
[integration.request]
url = "{0}/api/me"
[integration.request.headers]
Authorization = "Bearer ${{credentials.token}}"
"#,
        server.uri()
    )
}

#[tokio::test]
async fn user_defined_oauth_logs_in_then_uses_the_token() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/oauth/token"))
        .and(header(
            "authorization",
            "Basic d2ViLWNsaWVudDp3ZWItc2VjcmV0LTEyMw==",
        ))
        .and(FormIs::new(&[("grant_type", "client_credentials")]))
        .respond_with(common::token_answer("web-token-abc", 600))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/me"))
        .and(header("authorization", "Bearer web-token-abc"))
        .respond_with(ResponseTemplate::new(200))
        .expect(1)
        .mount(&server)
        .await;
    let success = check_only(&oauth_config(&server, ""))
        .await
        .outcome
        .expect("the check passes");
    let expiry = success.token_expiry.expect("the login's expires_in");
    let want = SystemTime::now() + Duration::from_secs(600);
    let gap = want.duration_since(expiry).unwrap_or_else(|e| e.duration());
    assert!(gap < Duration::from_secs(30), "{gap:?}");
}

#[tokio::test]
async fn token_pointer_picks_another_field_of_the_login_answer() {
    let server = MockServer::start().await;
    Mock::given(path("/oauth/token"))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "access_token": "opaque", "token_type": "Bearer",
            "session": {"jwt": "nested-token-xyz"}
        })))
        .mount(&server)
        .await;
    Mock::given(path("/api/me"))
        .and(header("authorization", "Bearer nested-token-xyz"))
        .respond_with(ResponseTemplate::new(200))
        .expect(1)
        .mount(&server)
        .await;
    let report = check_only(&oauth_config(&server, "token_pointer = \"/session/jwt\"")).await;
    assert!(report.outcome.is_ok(), "{:?}", report.outcome);
    let f = failure(&oauth_config(
        &server,
        "token_pointer = \"/session/nothing\"",
    ))
    .await;
    assert_eq!(f.reason, FailureReason::ProtocolError);
    assert!(f.message.contains("/session/nothing"), "{}", f.message);
}

#[tokio::test]
async fn a_refused_login_is_mapped_like_any_oauth_error() {
    let server = MockServer::start().await;
    Mock::given(path("/oauth/token"))
        .respond_with(ResponseTemplate::new(401).set_body_json(serde_json::json!({
            "error": "invalid_client", "error_description": "bad secret"
        })))
        .mount(&server)
        .await;
    Mock::given(path("/api/me"))
        .respond_with(ResponseTemplate::new(200))
        .expect(0)
        .mount(&server)
        .await;
    let f = failure(&oauth_config(&server, "")).await;
    assert_eq!(f.reason, FailureReason::InvalidCredentials);
    assert!(f.message.contains("login"), "{}", f.message);
}

async fn answering(answer: ResponseTemplate, request_extra: &str) -> Failure {
    let server = MockServer::start().await;
    Mock::given(path("/x"))
        .respond_with(answer)
        .mount(&server)
        .await;
    let text = config(
        "credential_type = \"basic\"\nusername = \"u\"\npassword = \"p\"",
        &format!("url = \"{}/x\"\n{request_extra}", server.uri()),
    );
    failure(&text).await
}

#[tokio::test]
async fn statuses_map_to_reasons() {
    let cases = [
        (401, FailureReason::InvalidCredentials),
        (403, FailureReason::PermissionDenied),
        (404, FailureReason::ConfigError),
        (429, FailureReason::RateLimited),
        (503, FailureReason::ProviderError),
        (302, FailureReason::ProtocolError),
        (409, FailureReason::ProtocolError),
    ];
    for (status, reason) in cases {
        let f = answering(ResponseTemplate::new(status), "").await;
        assert_eq!(f.reason, reason, "HTTP {status}: {}", f.message);
    }
}

#[tokio::test]
async fn expect_status_narrows_success() {
    let f = answering(ResponseTemplate::new(200), "expect_status = 204").await;
    assert_eq!(f.reason, FailureReason::ProtocolError);
    assert!(f.message.contains("200"), "{}", f.message);
}

#[tokio::test]
async fn expect_json_must_match() {
    let body = serde_json::json!({"status": {"state": "degraded"}});
    let request = "[integration.request.expect_json]\npointer = \"/status/state\"\nequals = \"ok\"";
    let f = answering(ResponseTemplate::new(200).set_body_json(&body), request).await;
    assert_eq!(f.reason, FailureReason::ProtocolError);
    assert!(f.message.contains("/status/state"), "{}", f.message);
    assert!(f.message.contains("degraded"), "{}", f.message);

    let server = MockServer::start().await;
    Mock::given(path("/x"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(serde_json::json!({"status": {"state": "ok"}})),
        )
        .mount(&server)
        .await;
    let text = config(
        "credential_type = \"none\"",
        &format!("url = \"{}/x\"\n{request}", server.uri()),
    );
    let report = check_only(&text).await;
    assert!(report.outcome.is_ok(), "{:?}", report.outcome);
}

#[tokio::test]
async fn an_nginx_client_certificate_page_is_tls_error() {
    let page = "<html>\r\n<head><title>400 No required SSL certificate was sent</title></head>\r\n<body>\r\n<center><h1>400 Bad Request</h1></center>\r\n<center>No required SSL certificate was sent</center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n";
    let f = answering(ResponseTemplate::new(400).set_body_string(page), "").await;
    assert_eq!(f.reason, FailureReason::TlsError);
    assert!(f.message.contains("tls.client_cert"), "{}", f.message);
    // Any other 400 stays a protocol error.
    let f = answering(ResponseTemplate::new(400).set_body_string("bad input"), "").await;
    assert_eq!(f.reason, FailureReason::ProtocolError);
}

#[tokio::test]
async fn messages_never_carry_the_url() {
    let server = MockServer::start().await;
    Mock::given(path("/x"))
        .respond_with(ResponseTemplate::new(500))
        .mount(&server)
        .await;
    let text = config(
        "credential_type = \"user_defined\"\n[integration.credentials.fields]\nkey = \"url-secret-42\"",
        &format!("url = \"{}/x?key=${{credentials.key}}\"", server.uri()),
    );
    let f = failure(&text).await;
    assert_eq!(f.reason, FailureReason::ProviderError);
    assert!(!f.message.contains("url-secret-42"), "{}", f.message);
    assert!(!f.message.contains("/x"), "{}", f.message);
}
