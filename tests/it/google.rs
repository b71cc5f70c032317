//! Google against a local token server that checks the assertion the way Google does: RS256
//! signature with the account's public key, the `kid`, every claim; then tokeninfo. Covers the
//! key file and the fields, hand-pasted keys, impersonation, and each error mapping.

use crate::common;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::check_only;
use credwatch::outcome::{Failure, FailureReason};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use rcgen::{KeyPair, PKCS_RSA_SHA256, RsaKeySize};
use serde_json::{Value, json};
use wiremock::matchers::{method, path, query_param};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

const EMAIL: &str = "credwatch@project-1234.iam.gserviceaccount.com";
const CLIENT_ID: &str = "109876543210987654321";
const KEY_ID: &str = "7f3e2d1c0b0a09080706050403020100aabbccdd";
const ACCESS_TOKEN: &str = "ya29.a0AfH6SMBx-t0k3n";
const CLOUD: &str = "https://www.googleapis.com/auth/cloud-platform";
const DIRECTORY: &str = "https://www.googleapis.com/auth/admin.directory.user.readonly";
const USER: &str = "admin@example.com";

fn rsa_key() -> KeyPair {
    KeyPair::generate_rsa_for(&PKCS_RSA_SHA256, RsaKeySize::_2048).expect("RSA key generation")
}

/// Google's token endpoint as far as the check can tell: verifies the assertion and answers
/// as Google does.
struct TokenEndpoint {
    public_pem: String,
    /// Subjects the account may impersonate (domain-wide delegation).
    delegated: Vec<&'static str>,
}

impl Respond for TokenEndpoint {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let form = common::form_of(request);
        let names: Vec<&str> = form.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            names,
            ["grant_type", "assertion"],
            "google-auth sends these two"
        );
        assert_eq!(form[0].1, "urn:ietf:params:oauth:grant-type:jwt-bearer");
        let assertion = &form[1].1;
        let header = jsonwebtoken::decode_header(assertion).expect("a JWT header");
        assert_eq!(header.alg, Algorithm::RS256);
        assert_eq!(header.typ.as_deref(), Some("JWT"));
        assert_eq!(header.kid.as_deref(), Some(KEY_ID));
        let mut validation = Validation::new(Algorithm::RS256);
        validation.set_audience(&["https://oauth2.googleapis.com/token"]);
        validation.set_issuer(&[EMAIL]);
        validation.set_required_spec_claims(&["exp", "iat", "aud", "iss"]);
        let key = DecodingKey::from_rsa_pem(self.public_pem.as_bytes()).unwrap();
        let claims = match jsonwebtoken::decode::<Value>(assertion, &key, &validation) {
            Ok(data) => data.claims,
            Err(_) => return error("invalid_grant", "Invalid JWT Signature."),
        };
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let iat = claims["iat"].as_u64().unwrap();
        assert!(iat.abs_diff(now) < 60, "iat is now");
        assert_eq!(claims["exp"].as_u64().unwrap(), iat + 3600);
        assert!(claims["scope"].is_string());
        if let Some(sub) = claims.get("sub")
            && !self.delegated.contains(&sub.as_str().unwrap())
        {
            return error(
                "unauthorized_client",
                "Client is unauthorized to retrieve access tokens using this method, or client not authorized for any of the scopes requested.",
            );
        }
        ResponseTemplate::new(200).set_body_json(json!({
            "access_token": ACCESS_TOKEN, "expires_in": 3599, "token_type": "Bearer"
        }))
    }
}

fn error(code: &str, description: &str) -> ResponseTemplate {
    ResponseTemplate::new(400)
        .set_body_json(json!({"error": code, "error_description": description}))
}

fn tokeninfo(scopes: &str) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({
        "azp": CLIENT_ID, "aud": CLIENT_ID, "scope": scopes,
        "exp": "1900000000", "expires_in": "3599", "access_type": "online"
    }))
}

/// A server whose token endpoint verifies assertions with `key`'s public half.
async fn verifying(
    key: &KeyPair,
    delegated: &[&'static str],
    info: ResponseTemplate,
) -> MockServer {
    let endpoint = TokenEndpoint {
        public_pem: key.public_key_pem(),
        delegated: delegated.to_vec(),
    };
    google(endpoint, info).await
}

/// A server with the token endpoint at `/token` and tokeninfo at `/tokeninfo`.
async fn google(token: impl Respond + 'static, info: ResponseTemplate) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/token"))
        .respond_with(token)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/tokeninfo"))
        .and(query_param("access_token", ACCESS_TOKEN))
        .respond_with(info)
        .mount(&server)
        .await;
    server
}

fn endpoints(server: &MockServer) -> String {
    format!(
        "[integration.endpoints]\ntoken_url = \"{0}/token\"\ntokeninfo_url = \"{0}/tokeninfo\"\nrevoke_url = \"{0}/revoke\"\ncertificates_url = \"{0}/x509/\"\n",
        server.uri()
    )
}

/// A `gcp_service_account` given field by field, with the key as a TOML literal string.
fn fields_config(server: &MockServer, private_key_toml: &str, extra: &str) -> String {
    format!(
        r#"
[[integration]]
type = "google"
timeout = "5s"
[integration.credentials]
credential_type = "gcp_service_account"
client_email = "{EMAIL}"
client_id = "{CLIENT_ID}"
private_key_id = "{KEY_ID}"
private_key = {private_key_toml}
{extra}
{}"#,
        endpoints(server)
    )
}

/// A TOML multi-line literal string holding `text` as is.
fn literal(text: &str) -> String {
    format!("'''\n{text}'''")
}

fn succeeds(report: credwatch::runner::Report) {
    let success = report.outcome.expect("the check passes");
    let expiry = success.token_expiry.expect("expires_in becomes an expiry");
    let expected = SystemTime::now() + Duration::from_secs(3599);
    let gap = expected
        .duration_since(expiry)
        .unwrap_or_else(|e| e.duration());
    assert!(gap < Duration::from_secs(30), "expiry off by {gap:?}");
}

async fn failing(token: impl Respond + 'static, info: ResponseTemplate, extra: &str) -> Failure {
    let key = rsa_key();
    let server = google(token, info).await;
    check_only(&fields_config(
        &server,
        &literal(&key.serialize_pem()),
        extra,
    ))
    .await
    .outcome
    .expect_err("the check should fail")
}

#[tokio::test]
async fn fields_with_the_default_scope_pass_a_verifying_server() {
    let key = rsa_key();
    let server = verifying(&key, &[], tokeninfo(CLOUD)).await;
    succeeds(check_only(&fields_config(&server, &literal(&key.serialize_pem()), "")).await);
    let requests = after_the_published_keys(&server).await;
    assert_eq!(requests.len(), 3, "token, tokeninfo, then the revocation");
    // The token the check minted is revoked, as RFC 7009 and Google's revoke endpoint take it.
    assert_eq!(requests[2].method.as_str(), "POST");
    assert_eq!(requests[2].url.path(), "/revoke");
    let revoked = common::form_of(&requests[2]);
    let minted = requests[1]
        .url
        .query_pairs()
        .find(|(k, _)| k == "access_token")
        .map(|(_, v)| v.into_owned());
    assert_eq!(revoked, [("token".to_string(), minted.unwrap())]);
    let form = common::form_of(&requests[0]);
    let claims = payload(&form[1].1);
    assert_eq!(claims["scope"], CLOUD);
    assert!(claims.get("sub").is_none());
}

/// The JWT's claims, read without verifying (the server already did).
fn payload(jwt: &str) -> Value {
    use base64::Engine;
    let part = jwt.split('.').nth(1).unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

#[tokio::test]
async fn the_key_file_gives_the_token_url_and_the_audience_stays_google() {
    let key = rsa_key();
    let server = verifying(&key, &[], tokeninfo(&format!("{CLOUD} {DIRECTORY}"))).await;
    let dir = tempfile::tempdir().unwrap();
    let file = common::write(
        dir.path(),
        "key.json",
        &json!({
            "type": "service_account",
            "project_id": "project-1234",
            "private_key_id": KEY_ID,
            "private_key": key.serialize_pem(),
            "client_email": EMAIL,
            "client_id": CLIENT_ID,
            "auth_uri": "https://accounts.google.com/o/oauth2/auth",
            "token_uri": format!("{}/token", server.uri()),
        })
        .to_string(),
    );
    let text = format!(
        r#"
[[integration]]
type = "google"
timeout = "5s"
[integration.credentials]
credential_type = "gcp_service_account"
key_file = "{}"
scopes = ["{CLOUD}"]
[integration.endpoints]
tokeninfo_url = "{}/tokeninfo"
revoke_url = "{}/revoke"
certificates_url = "{}/x509/"
"#,
        file.display(),
        server.uri(),
        server.uri(),
        server.uri()
    );
    succeeds(check_only(&text).await);
}

#[tokio::test]
async fn hand_pasted_keys_work() {
    let key = rsa_key();
    let pem = key.serialize_pem();
    let escaped = pem.replace('\n', "\\n");
    let variants = [
        // The JSON value pasted with its quotes and literal \n.
        format!("'\"{escaped}\"'"),
        format!("'{escaped}'"),
        literal(&pem.replace('\n', "\r\n")),
        literal(
            &pem.lines()
                .map(|l| format!("    {l}  "))
                .collect::<Vec<_>>()
                .join("\n"),
        ),
        format!("'{}'", pem.lines().collect::<Vec<_>>().join(" ")),
    ];
    for variant in variants {
        let server = verifying(&key, &[], tokeninfo(CLOUD)).await;
        let report = check_only(&fields_config(&server, &variant, "")).await;
        assert!(report.outcome.is_ok(), "{variant}: {:?}", report.outcome);
    }
}

#[tokio::test]
async fn a_key_that_does_not_parse_is_config_error_before_any_request() {
    let server = MockServer::start().await;
    Mock::given(wiremock::matchers::any())
        .respond_with(ResponseTemplate::new(500))
        .expect(0)
        .mount(&server)
        .await;
    for key in [
        "'not a key at all'".to_string(),
        literal("-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5\n-----END PRIVATE KEY-----\n"),
    ] {
        let f = check_only(&fields_config(&server, &key, ""))
            .await
            .outcome
            .unwrap_err();
        assert_eq!(f.reason, FailureReason::ConfigError, "{}", f.message);
        assert!(
            f.message.contains("credentials.private_key"),
            "{}",
            f.message
        );
    }
}

#[tokio::test]
async fn a_key_file_of_another_type_is_config_error() {
    let dir = tempfile::tempdir().unwrap();
    let file = common::write(
        dir.path(),
        "adc.json",
        r#"{"type": "authorized_user", "client_id": "x", "client_secret": "y", "refresh_token": "z"}"#,
    );
    let text = format!(
        "[[integration]]\ntype = \"google\"\n[integration.credentials]\ncredential_type = \"gcp_service_account\"\nkey_file = \"{}\"\n",
        file.display()
    );
    let f = check_only(&text).await.outcome.unwrap_err();
    assert_eq!(f.reason, FailureReason::ConfigError);
    assert!(f.message.contains("credentials.key_file"), "{}", f.message);
}

#[tokio::test]
async fn a_key_google_does_not_know_is_invalid_credentials() {
    // The server holds another key's public half: the signature does not verify.
    let other = rsa_key();
    let f = failing(
        TokenEndpoint {
            public_pem: other.public_key_pem(),
            delegated: vec![],
        },
        tokeninfo(CLOUD),
        "",
    )
    .await;
    assert_eq!(f.reason, FailureReason::InvalidCredentials);
    assert!(f.message.contains("Invalid JWT Signature"), "{}", f.message);
}

fn workspace_config(server: &MockServer, key: &KeyPair) -> String {
    format!(
        r#"
[[integration]]
type = "google"
timeout = "5s"
[integration.credentials]
credential_type = "workspace_service_account"
service_account_email = "{EMAIL}"
private_key_id = "{KEY_ID}"
private_key = {}
scopes = ["{DIRECTORY}"]
impersonate_user = "{USER}"
{}"#,
        literal(&key.serialize_pem()),
        endpoints(server)
    )
}

#[tokio::test]
async fn impersonation_allowed_sends_sub() {
    let key = rsa_key();
    let server = verifying(&key, &[USER], tokeninfo(DIRECTORY)).await;
    succeeds(check_only(&workspace_config(&server, &key)).await);
    let requests = after_the_published_keys(&server).await;
    let claims = payload(&common::form_of(&requests[0])[1].1);
    assert_eq!(claims["sub"], USER);
    assert_eq!(claims["scope"], DIRECTORY);
}

#[tokio::test]
async fn impersonation_denied_hints_at_domain_wide_delegation() {
    let key = rsa_key();
    let server = verifying(&key, &[], tokeninfo(DIRECTORY)).await;
    let f = check_only(&workspace_config(&server, &key))
        .await
        .outcome
        .unwrap_err();
    assert_eq!(f.reason, FailureReason::ImpersonationDenied);
    for needle in ["Domain-wide delegation", USER, DIRECTORY] {
        assert!(
            f.message.contains(needle),
            "{needle:?} missing: {}",
            f.message
        );
    }
}

#[tokio::test]
async fn unauthorized_client_without_a_subject_is_permission_denied() {
    let f = failing(
        error("unauthorized_client", "Client is unauthorized"),
        tokeninfo(CLOUD),
        "",
    )
    .await;
    assert_eq!(f.reason, FailureReason::PermissionDenied);
}

#[tokio::test]
async fn a_scope_missing_from_tokeninfo_is_invalid_scope() {
    let key = rsa_key();
    let server = verifying(&key, &[], tokeninfo(CLOUD)).await;
    let extra = format!("scopes = [\"{CLOUD}\", \"{DIRECTORY}\"]");
    let f = check_only(&fields_config(
        &server,
        &literal(&key.serialize_pem()),
        &extra,
    ))
    .await
    .outcome
    .unwrap_err();
    assert_eq!(f.reason, FailureReason::InvalidScope);
    assert!(f.message.contains(DIRECTORY), "{}", f.message);
    assert!(!f.message.contains(&format!("{CLOUD} ")), "{}", f.message);
}

#[tokio::test]
async fn token_errors_map_as_providers_md_says() {
    let cases = [
        (
            "invalid_grant",
            "Invalid grant: account not found",
            FailureReason::AccountDisabled,
            EMAIL,
        ),
        (
            "invalid_grant",
            "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. Check your iat and exp values in the JWT claim.",
            FailureReason::ConfigError,
            "clock",
        ),
        (
            "invalid_scope",
            "Invalid OAuth scope or ID token audience provided.",
            FailureReason::InvalidScope,
            CLOUD,
        ),
        (
            "invalid_grant",
            "Bad Request",
            FailureReason::InvalidCredentials,
            "Bad Request",
        ),
    ];
    for (code, description, reason, needle) in cases {
        let f = failing(error(code, description), tokeninfo(CLOUD), "").await;
        assert_eq!(f.reason, reason, "{description}");
        assert!(
            f.message.contains(needle),
            "{needle:?} missing: {}",
            f.message
        );
    }
}

#[tokio::test]
async fn tokeninfo_not_knowing_the_token_is_invalid_credentials() {
    let key = rsa_key();
    let server = verifying(
        &key,
        &[],
        ResponseTemplate::new(400).set_body_json(json!({"error": "invalid_token"})),
    )
    .await;
    let f = check_only(&fields_config(&server, &literal(&key.serialize_pem()), ""))
        .await
        .outcome
        .unwrap_err();
    assert_eq!(f.reason, FailureReason::InvalidCredentials);
}

/// The requests `server` received after the first, which reads the service account's published
/// key certificates (as google-auth names them: the email as is).
async fn after_the_published_keys(server: &MockServer) -> Vec<Request> {
    let mut requests = server.received_requests().await.unwrap();
    let first = requests.remove(0);
    assert_eq!(first.method.as_str(), "GET");
    assert_eq!(first.url.path(), format!("/x509/{EMAIL}"));
    requests
}

/// The key's certificate as Google publishes it: made `made`, valid until `ends`.
fn key_certificate(
    key: &KeyPair,
    made: time::OffsetDateTime,
    ends: time::OffsetDateTime,
) -> String {
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, EMAIL);
    params.not_before = made;
    params.not_after = ends;
    params.self_signed(key).unwrap().pem()
}

/// Publishes `keys` (`{key id: PEM}`) as the service account's certificates.
async fn publish(server: &MockServer, keys: Value) {
    Mock::given(method("GET"))
        .and(path(format!("/x509/{EMAIL}")))
        .respond_with(ResponseTemplate::new(200).set_body_json(keys))
        .mount(server)
        .await;
}

fn pem_toml(key: &KeyPair) -> String {
    literal(&key.serialize_pem())
}

#[tokio::test]
async fn a_published_key_tells_when_it_was_made_and_when_it_ends() {
    use credwatch::forecast::{Credential, Learnt, Source};
    let key = rsa_key();
    let server = verifying(&key, &[], tokeninfo(CLOUD)).await;
    // 2026-10-01T00:00:00Z to 2027-01-01T00:00:00Z: a key under an expiry policy.
    let made = time::OffsetDateTime::from_unix_timestamp(1_790_812_800).unwrap();
    let ends = time::OffsetDateTime::from_unix_timestamp(1_798_761_600).unwrap();
    publish(
        &server,
        json!({ KEY_ID: key_certificate(&key, made, ends), "another": "not ours" }),
    )
    .await;
    let report = check_only(&fields_config(&server, &pem_toml(&key), "")).await;
    assert_eq!(
        report.learnt,
        [Learnt {
            credential: Credential::ServiceAccountKey,
            used: None,
            changed: Some(1_790_812_800.0),
            expires: Some((Source::Provider, 1_798_761_600.0)),
        }]
    );
    succeeds(report);

    // A key that never expires is published until the year 9999: no forecast.
    let server = verifying(&key, &[], tokeninfo(CLOUD)).await;
    // 9999-12-31T23:59:59Z.
    let never = time::OffsetDateTime::from_unix_timestamp(253_402_300_799).unwrap();
    publish(
        &server,
        json!({ KEY_ID: key_certificate(&key, made, never) }),
    )
    .await;
    let report = check_only(&fields_config(&server, &pem_toml(&key), "")).await;
    assert_eq!(report.learnt.len(), 1);
    assert_eq!(report.learnt[0].expires, None);
    assert_eq!(report.learnt[0].changed, Some(1_790_812_800.0));
    succeeds(report);

    // Certificates that cannot be read (here: none published) tell nothing, and fail nothing.
    let server = verifying(&key, &[], tokeninfo(CLOUD)).await;
    let report = check_only(&fields_config(&server, &pem_toml(&key), "")).await;
    assert!(report.learnt.is_empty());
    succeeds(report);
}

#[tokio::test]
async fn a_key_google_no_longer_publishes_fails_without_a_token_request() {
    let key = rsa_key();
    let server = verifying(&key, &[], tokeninfo(CLOUD)).await;
    let made = time::OffsetDateTime::from_unix_timestamp(1_790_812_800).unwrap();
    let ends = time::OffsetDateTime::from_unix_timestamp(1_798_761_600).unwrap();
    publish(
        &server,
        json!({ "0123456789abcdef0123456789abcdef01234567": key_certificate(&key, made, ends) }),
    )
    .await;
    let report = check_only(&fields_config(&server, &pem_toml(&key), "")).await;
    let failure = report.outcome.unwrap_err();
    assert_eq!(failure.reason, FailureReason::InvalidCredentials);
    assert!(failure.message.contains(KEY_ID), "{}", failure.message);
    assert!(
        failure.message.contains("deleted or disabled"),
        "{}",
        failure.message
    );
    assert!(
        common::received(&server, "POST", "/token").await.is_empty(),
        "no token request is spent on a deleted key"
    );
}
