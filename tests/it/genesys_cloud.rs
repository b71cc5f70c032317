//! Genesys Cloud against a local server: the client-credentials grant as the Genesys SDKs send
//! it, the `/api/v2/tokens/me` follow-up, and every answer mapped to its reason.

use crate::common;

use std::time::{Duration, Instant, SystemTime};

use common::{check_only, refused_port};
use credwatch::outcome::{Failure, FailureReason};
use wiremock::matchers::{body_string, header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const CLIENT_ID: &str = "0b5a0ee1-52d2-4c4f-a1bb-2c8d1b0c6f3e";
const SECRET: &str = "gc-secret-abcdefghijklmnop";
const ACCESS_TOKEN: &str = "gc-access-token-xyz";

fn config(base: &str, follow_up: bool, timeout: &str) -> String {
    format!(
        r#"
[[integration]]
type = "genesys_cloud"
follow_up = {follow_up}
timeout = "{timeout}"
[integration.credentials]
client_id = "{CLIENT_ID}"
client_secret = "{SECRET}"
region = "mypurecloud.ie"
[integration.endpoints]
token_url = "{base}/oauth/token"
verify_url = "{base}/api/v2/tokens/me"
"#
    )
}

fn token() -> ResponseTemplate {
    common::token_answer(ACCESS_TOKEN, 86399)
}

fn me() -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(serde_json::json!({
        "name": "credwatch", "homeOrganization": {"id": "o", "name": "Org"}, "authorizedScope": []
    }))
}

async fn server(token_answer: ResponseTemplate, me_answer: ResponseTemplate) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/oauth/token"))
        .respond_with(token_answer)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v2/tokens/me"))
        .respond_with(me_answer)
        .mount(&server)
        .await;
    server
}

async fn failure(token_answer: ResponseTemplate, me_answer: ResponseTemplate) -> Failure {
    let server = server(token_answer, me_answer).await;
    check_only(&config(&server.uri(), true, "5s"))
        .await
        .outcome
        .expect_err("the check should fail")
}

fn oauth_error(status: u16, code: &str) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_json(serde_json::json!({
        "error": code, "description": "client not found", "error_description": "client not found"
    }))
}

#[tokio::test]
async fn success_uses_basic_client_auth_then_the_bearer_token() {
    let server = MockServer::start().await;
    let basic = format!("Basic {}", base64_of(&format!("{CLIENT_ID}:{SECRET}")));
    Mock::given(method("POST"))
        .and(path("/oauth/token"))
        .and(header("authorization", basic.as_str()))
        .and(header("content-type", "application/x-www-form-urlencoded"))
        .and(body_string("grant_type=client_credentials"))
        .respond_with(token())
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v2/tokens/me"))
        .and(header(
            "authorization",
            format!("Bearer {ACCESS_TOKEN}").as_str(),
        ))
        .respond_with(me())
        .expect(1)
        .mount(&server)
        .await;
    let report = check_only(&config(&server.uri(), true, "5s")).await;
    let success = report.outcome.expect("the check passes");
    let expiry = success.token_expiry.expect("expires_in becomes an expiry");
    let in_a_day = SystemTime::now() + Duration::from_secs(86399);
    let gap = in_a_day
        .duration_since(expiry)
        .unwrap_or_else(|e| e.duration());
    assert!(gap < Duration::from_secs(30), "expiry off by {gap:?}");
}

/// Standard base64, written out so the test does not trust the code under test.
fn base64_of(text: &str) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let bytes = text.as_bytes();
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, b)| acc | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[tokio::test]
async fn follow_up_false_skips_tokens_me() {
    let server = MockServer::start().await;
    Mock::given(path("/oauth/token"))
        .respond_with(token())
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v2/tokens/me"))
        .respond_with(me())
        .expect(0)
        .mount(&server)
        .await;
    let report = check_only(&config(&server.uri(), false, "5s")).await;
    assert!(report.outcome.is_ok(), "{:?}", report.outcome);
}

#[tokio::test]
async fn wrong_secret_is_invalid_credentials() {
    let f = failure(oauth_error(401, "invalid_client"), me()).await;
    assert_eq!(f.reason, FailureReason::InvalidCredentials);
    assert!(f.message.contains("invalid_client"), "{}", f.message);
    // Genesys also answers 400 with the same code.
    let f = failure(oauth_error(400, "invalid_client"), me()).await;
    assert_eq!(f.reason, FailureReason::InvalidCredentials);
    // And a bare 401 without a body.
    let f = failure(ResponseTemplate::new(401), me()).await;
    assert_eq!(f.reason, FailureReason::InvalidCredentials);
}

#[tokio::test]
async fn unauthorized_client_is_permission_denied() {
    let f = failure(oauth_error(400, "unauthorized_client"), me()).await;
    assert_eq!(f.reason, FailureReason::PermissionDenied);
}

#[tokio::test]
async fn forbidden_follow_up_is_permission_denied() {
    let f = failure(token(), ResponseTemplate::new(403)).await;
    assert_eq!(f.reason, FailureReason::PermissionDenied);
}

#[tokio::test]
async fn token_rejected_by_the_api_is_invalid_credentials() {
    let f = failure(token(), ResponseTemplate::new(401)).await;
    assert_eq!(f.reason, FailureReason::InvalidCredentials);
    assert!(f.message.contains("tokens/me"), "{}", f.message);
}

#[tokio::test]
async fn too_many_requests_is_rate_limited_with_retry_after() {
    let f = failure(
        ResponseTemplate::new(429).insert_header("retry-after", "17"),
        me(),
    )
    .await;
    assert_eq!(f.reason, FailureReason::RateLimited);
    assert_eq!(f.retry_after, Some(Duration::from_secs(17)));
    let f = failure(
        token(),
        ResponseTemplate::new(429).insert_header("retry-after", "5"),
    )
    .await;
    assert_eq!(f.reason, FailureReason::RateLimited);
    assert_eq!(f.retry_after, Some(Duration::from_secs(5)));
}

#[tokio::test]
async fn server_error_is_provider_error() {
    let f = failure(ResponseTemplate::new(500).set_body_string("oops"), me()).await;
    assert_eq!(f.reason, FailureReason::ProviderError);
    let f = failure(token(), ResponseTemplate::new(502)).await;
    assert_eq!(f.reason, FailureReason::ProviderError);
}

#[tokio::test]
async fn garbage_is_protocol_error() {
    let garbage = ResponseTemplate::new(200).set_body_raw("{not json", "application/json");
    let f = failure(garbage, me()).await;
    assert_eq!(f.reason, FailureReason::ProtocolError);
    let no_token =
        ResponseTemplate::new(200).set_body_json(serde_json::json!({"token_type": "bearer"}));
    let f = failure(no_token, me()).await;
    assert_eq!(f.reason, FailureReason::ProtocolError);
    let f = failure(token(), ResponseTemplate::new(200).set_body_string("[1,2")).await;
    assert_eq!(f.reason, FailureReason::ProtocolError);
}

#[tokio::test]
async fn server_that_never_answers_is_timeout_within_the_timeout() {
    let server = server(token().set_delay(Duration::from_secs(60)), me()).await;
    let started = Instant::now();
    let f = check_only(&config(&server.uri(), true, "1s"))
        .await
        .outcome
        .unwrap_err();
    assert_eq!(f.reason, FailureReason::Timeout);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn connection_refused_is_network_error() {
    let base = format!("http://127.0.0.1:{}", refused_port());
    let f = check_only(&config(&base, true, "5s"))
        .await
        .outcome
        .unwrap_err();
    assert_eq!(f.reason, FailureReason::NetworkError, "{}", f.message);
}

/// The revocations the server saw: `DELETE /api/v2/tokens/me`, each with the bearer token.
async fn revocations(server: &MockServer) -> Vec<String> {
    common::received(server, "DELETE", "/api/v2/tokens/me")
        .await
        .iter()
        .filter_map(|r| {
            r.headers
                .get("authorization")?
                .to_str()
                .ok()
                .map(str::to_string)
        })
        .collect()
}

#[tokio::test]
async fn a_passed_check_revokes_the_token_it_minted_once() {
    for follow_up in [true, false] {
        let server = server(token(), me()).await;
        Mock::given(method("DELETE"))
            .and(path("/api/v2/tokens/me"))
            .respond_with(ResponseTemplate::new(204))
            .mount(&server)
            .await;
        let report = check_only(&config(&server.uri(), follow_up, "5s")).await;
        let success = report.outcome.expect("the check passes");
        assert_eq!(success.revoked, Some(true), "follow_up = {follow_up}");
        assert_eq!(
            revocations(&server).await,
            [format!("Bearer {ACCESS_TOKEN}")],
            "follow_up = {follow_up}"
        );
    }
}

#[tokio::test]
async fn a_failed_check_revokes_nothing_and_a_failed_revocation_fails_nothing() {
    // The API rejects the token: no revocation.
    let rejecting = server(token(), ResponseTemplate::new(401)).await;
    let report = check_only(&config(&rejecting.uri(), true, "5s")).await;
    assert!(report.outcome.is_err());
    assert_eq!(revocations(&rejecting).await, Vec::<String>::new());

    // Revocation answered 500, or never answered within the check's timeout: still a pass.
    for answer in [
        ResponseTemplate::new(500),
        ResponseTemplate::new(204).set_delay(Duration::from_secs(10)),
    ] {
        let failing = server(token(), me()).await;
        Mock::given(method("DELETE"))
            .and(path("/api/v2/tokens/me"))
            .respond_with(answer)
            .mount(&failing)
            .await;
        let started = Instant::now();
        let report = check_only(&config(&failing.uri(), true, "2s")).await;
        assert!(started.elapsed() < Duration::from_secs(3));
        let success = report
            .outcome
            .expect("a failed revocation leaves the check passed");
        assert_eq!(success.revoked, Some(false));
        assert_eq!(revocations(&failing).await.len(), 1);
    }

    // `revoke = false`: no revocation at all.
    let kept = server(token(), me()).await;
    let text =
        config(&kept.uri(), true, "5s").replace("follow_up =", "revoke = false\nfollow_up =");
    let report = check_only(&text).await;
    assert_eq!(report.outcome.expect("passes").revoked, None);
    assert_eq!(revocations(&kept).await, Vec::<String>::new());
}
