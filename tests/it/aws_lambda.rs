//! AWS Lambda: against moto's STS with IAM authentication on (a real peer that verifies SigV4
//! and evaluates policies), and against wiremock answering STS's XML for the error codes moto
//! cannot produce. Asserts the exact AssumeRole request, the assumed-role check, the expiry, and
//! every mapping of PROVIDERS.md.

use crate::common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, SystemTime};

use common::{binary, check_only, write};
use credwatch::outcome::{Failure, FailureReason};
use wiremock::matchers::{body_string_contains, header_exists, method, path};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

pub(crate) const ROLE: &str = "arn:aws:iam::123456789012:role/integrations/genesys-data-actions";
pub(crate) const ASSUMED: &str =
    "arn:aws:sts::123456789012:assumed-role/genesys-data-actions/credwatch-Lambda-prod--EU-";
pub(crate) const EXTERNAL_ID: &str = "genesys-org-8c1f5b2e";
pub(crate) const KEY_ID: &str = "AKIAIOSFODNN7EXAMPLE";
pub(crate) const SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
const TEMP_KEY_ID: &str = "ASIATEMPORARYKEY0001";
const TEMP_SECRET: &str = "temporary-secret-access-key-qwertyuiop";
const SESSION_TOKEN: &str = "FwoGZXIvYXdzEXAMPLESESSIONTOKEN";

fn config(endpoint: &str, key_id: &str, secret: &str) -> String {
    format!(
        r#"
[[integration]]
type = "aws_lambda"
name = "Lambda prod (EU)"
timeout = "10s"
[integration.credentials]
role_arn = "{ROLE}"
external_id = "{EXTERNAL_ID}"
region = "eu-west-1"
access_key_id = "{key_id}"
secret_access_key = "{secret}"
[integration.endpoints]
sts_endpoint = "{endpoint}"
"#
    )
}

/// moto's server with two IAM users and two roles, stopped when dropped.
pub(crate) struct Moto {
    child: Child,
    pub(crate) url: String,
    pub(crate) credwatch: (String, String),
    nobody: (String, String),
}

impl Moto {
    pub(crate) fn start() -> Moto {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/aws/moto_sts.py");
        let mut child = Command::new("python3")
            .arg(script)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3 runs");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let info: serde_json::Value = serde_json::from_str(&line).unwrap_or_else(|_| {
            panic!("moto did not start; install it with pip install 'moto[server]' (.ci/run does)")
        });
        let pair = |who: &str| {
            (
                info[who][0].as_str().unwrap().to_string(),
                info[who][1].as_str().unwrap().to_string(),
            )
        };
        Moto {
            url: info["url"].as_str().unwrap().to_string(),
            credwatch: pair("credwatch"),
            nobody: pair("nobody"),
            child,
        }
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn against_moto(moto: &Moto, key: &str, secret: &str) -> credwatch::runner::Report {
    check_only(&config(&moto.url, key, secret)).await
}

#[tokio::test(flavor = "multi_thread")]
async fn moto_sts_verifies_signatures_and_policies() {
    if !common::peer("moto", &["python3", "-c", "import moto.server, boto3"]) {
        return;
    }
    let moto = Moto::start();
    let (key, secret) = moto.credwatch.clone();

    let report = against_moto(&moto, &key, &secret).await;
    let success = report
        .outcome
        .expect("AssumeRole then GetCallerIdentity pass");
    let expiry = success
        .token_expiry
        .expect("Credentials.Expiration is the expiry");
    let in_900s = SystemTime::now() + Duration::from_secs(900);
    let gap = in_900s
        .duration_since(expiry)
        .unwrap_or_else(|e| e.duration());
    assert!(gap < Duration::from_secs(60), "expiry off by {gap:?}");

    // A wrong secret: moto recomputes the SigV4 signature and it does not match.
    let f = against_moto(&moto, &key, "wrong-secret-access-key-000000000000000")
        .await
        .outcome
        .unwrap_err();
    assert_eq!(f.reason, FailureReason::InvalidCredentials, "{}", f.message);
    assert!(f.message.contains("SignatureDoesNotMatch"), "{}", f.message);
    assert!(
        f.message.contains("credwatch's own AWS identity"),
        "{}",
        f.message
    );
    assert!(f.message.contains("not proven broken"), "{}", f.message);

    // A key AWS never issued.
    let f = against_moto(&moto, "AKIAUNKNOWNKEY000000", &secret)
        .await
        .outcome
        .unwrap_err();
    assert_eq!(f.reason, FailureReason::InvalidCredentials, "{}", f.message);
    assert!(f.message.contains("InvalidClientTokenId"), "{}", f.message);
    assert!(
        f.message.contains("credwatch's own AWS identity"),
        "{}",
        f.message
    );

    // A principal that may not assume the role.
    let (key, secret) = moto.nobody.clone();
    let f = against_moto(&moto, &key, &secret)
        .await
        .outcome
        .unwrap_err();
    assert_eq!(f.reason, FailureReason::PermissionDenied, "{}", f.message);
    for needle in ["trust policy", "external id", "does not exist", ROLE] {
        assert!(
            f.message.contains(needle),
            "{needle:?} missing: {}",
            f.message
        );
    }
}

pub(crate) fn assume_role_answer(expiration: &str) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_raw(
        format!(
            r#"<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <AssumeRoleResult>
    <AssumedRoleUser>
      <Arn>{ASSUMED}</Arn>
      <AssumedRoleId>AROA3XFRBF535PLBIFPI4:credwatch-Lambda-prod--EU-</AssumedRoleId>
    </AssumedRoleUser>
    <Credentials>
      <AccessKeyId>{TEMP_KEY_ID}</AccessKeyId>
      <SecretAccessKey>{TEMP_SECRET}</SecretAccessKey>
      <SessionToken>{SESSION_TOKEN}</SessionToken>
      <Expiration>{expiration}</Expiration>
    </Credentials>
  </AssumeRoleResult>
  <ResponseMetadata><RequestId>c6104cbe-af31-11e0-8154-cbc7ccf896c7</RequestId></ResponseMetadata>
</AssumeRoleResponse>"#
        ),
        "text/xml",
    )
}

pub(crate) fn caller_identity_answer(arn: &str) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_raw(
        format!(
            r#"<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <GetCallerIdentityResult>
    <Arn>{arn}</Arn>
    <UserId>AROA3XFRBF535PLBIFPI4:credwatch-Lambda-prod--EU-</UserId>
    <Account>123456789012</Account>
  </GetCallerIdentityResult>
  <ResponseMetadata><RequestId>01234567-89ab-cdef-0123-456789abcdef</RequestId></ResponseMetadata>
</GetCallerIdentityResponse>"#
        ),
        "text/xml",
    )
}

pub(crate) fn sts_error(status: u16, code: &str, message: &str) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_raw(
        format!(
            r#"<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message></Error>
  <RequestId>4d9c7b3a-1111-2222-3333-444455556666</RequestId>
</ErrorResponse>"#
        ),
        "text/xml",
    )
}

async fn sts(assume: ResponseTemplate, identity: ResponseTemplate) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(body_string_contains("Action=AssumeRole"))
        .respond_with(assume)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(body_string_contains("Action=GetCallerIdentity"))
        .respond_with(identity)
        .mount(&server)
        .await;
    server
}

async fn failure(assume: ResponseTemplate, identity: ResponseTemplate) -> Failure {
    let server = sts(assume, identity).await;
    check_only(&config(&server.uri(), KEY_ID, SECRET))
        .await
        .outcome
        .expect_err("the check should fail")
}

/// `AWS4-HMAC-SHA256 Credential={key}/{yyyymmdd}/{region}/sts/aws4_request, SignedHeaders=...,
/// Signature={64 hex}`.
fn assert_sigv4(request: &Request, key_id: &str) {
    let auth = request.headers["authorization"].to_str().unwrap();
    let rest = auth
        .strip_prefix("AWS4-HMAC-SHA256 Credential=")
        .unwrap_or_else(|| panic!("not SigV4: {auth}"));
    let scope: Vec<&str> = rest.split(',').next().unwrap().split('/').collect();
    assert_eq!(scope[0], key_id);
    assert_eq!(scope[1].len(), 8, "{auth}");
    assert_eq!(&scope[2..], ["eu-west-1", "sts", "aws4_request"], "{auth}");
    let signed = auth
        .split("SignedHeaders=")
        .nth(1)
        .unwrap()
        .split(',')
        .next()
        .unwrap();
    for needed in ["host", "x-amz-date"] {
        assert!(signed.split(';').any(|h| h == needed), "{auth}");
    }
    let signature = auth.split("Signature=").nth(1).unwrap();
    assert_eq!(signature.len(), 64, "{auth}");
    assert!(signature.bytes().all(|b| b.is_ascii_hexdigit()), "{auth}");
    assert!(request.headers.contains_key("x-amz-date"));
}

#[tokio::test]
async fn the_requests_are_signed_and_carry_the_external_id() {
    let server = sts(
        assume_role_answer("2030-01-02T03:04:05Z"),
        caller_identity_answer(ASSUMED),
    )
    .await;
    let report = check_only(&config(&server.uri(), KEY_ID, SECRET)).await;
    let success = report.outcome.expect("the check passes");
    let expected = SystemTime::UNIX_EPOCH + Duration::from_secs(1_893_553_445);
    assert_eq!(success.token_expiry, Some(expected));

    let requests = server.received_requests().await.unwrap();
    assert_eq!(requests.len(), 2);
    let assume = &requests[0];
    assert_eq!(
        assume.headers["content-type"],
        "application/x-www-form-urlencoded"
    );
    assert_sigv4(assume, KEY_ID);
    assert!(!assume.headers.contains_key("x-amz-security-token"));
    let mut form = common::form_of(assume);
    form.sort();
    let want = [
        ("Action", "AssumeRole"),
        ("DurationSeconds", "900"),
        ("ExternalId", EXTERNAL_ID),
        ("RoleArn", ROLE),
        ("RoleSessionName", "credwatch-Lambda-prod--EU-"),
        ("Version", "2011-06-15"),
    ];
    let want: Vec<(String, String)> = want
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    assert_eq!(form, want);

    // GetCallerIdentity is signed with the temporary credentials.
    let identity = &requests[1];
    assert_sigv4(identity, TEMP_KEY_ID);
    assert_eq!(identity.headers["x-amz-security-token"], SESSION_TOKEN);
}

#[tokio::test]
async fn follow_up_false_makes_only_assume_role() {
    let server = sts(
        assume_role_answer("2030-01-02T03:04:05Z"),
        caller_identity_answer(ASSUMED),
    )
    .await;
    let text = config(&server.uri(), KEY_ID, SECRET)
        .replace("timeout = \"10s\"", "timeout = \"10s\"\nfollow_up = false");
    assert!(check_only(&text).await.outcome.is_ok());
    assert_eq!(server.received_requests().await.unwrap().len(), 1);
}

#[tokio::test]
async fn another_identity_from_get_caller_identity_is_protocol_error() {
    let other = "arn:aws:sts::123456789012:assumed-role/other-role/credwatch-Lambda-prod--EU-";
    let f = failure(
        assume_role_answer("2030-01-02T03:04:05Z"),
        caller_identity_answer(other),
    )
    .await;
    assert_eq!(f.reason, FailureReason::ProtocolError);
    assert!(f.message.contains(ASSUMED), "{}", f.message);
}

#[tokio::test]
async fn every_sts_error_code_has_its_reason() {
    let cases = [
        (
            403,
            "AccessDenied",
            FailureReason::PermissionDenied,
            "trust policy",
        ),
        (
            403,
            "InvalidClientTokenId",
            FailureReason::InvalidCredentials,
            "credwatch's own AWS identity",
        ),
        (
            403,
            "SignatureDoesNotMatch",
            FailureReason::InvalidCredentials,
            "credwatch's own AWS identity",
        ),
        (
            400,
            "ExpiredToken",
            FailureReason::ExpiredCredentials,
            "credwatch's own AWS identity",
        ),
        (
            403,
            "RegionDisabledException",
            FailureReason::ConfigError,
            "eu-west-1",
        ),
        (
            400,
            "ValidationError",
            FailureReason::ConfigError,
            "external_id",
        ),
        (
            400,
            "MalformedPolicyDocument",
            FailureReason::ConfigError,
            "role_arn",
        ),
        (400, "Throttling", FailureReason::RateLimited, "throttling"),
        (
            500,
            "InternalFailure",
            FailureReason::ProviderError,
            "failed on its side",
        ),
    ];
    for (status, code, reason, needle) in cases {
        let f = failure(
            sts_error(status, code, "STS's own words"),
            caller_identity_answer(ASSUMED),
        )
        .await;
        assert_eq!(f.reason, reason, "{code}: {}", f.message);
        assert!(f.message.contains(code), "{}", f.message);
        assert!(
            f.message.contains(needle),
            "{needle:?} missing: {}",
            f.message
        );
    }
}

#[tokio::test]
async fn temporary_credentials_refused_by_sts_are_invalid_credentials() {
    let f = failure(
        assume_role_answer("2030-01-02T03:04:05Z"),
        sts_error(
            403,
            "InvalidClientTokenId",
            "The security token included in the request is invalid.",
        ),
    )
    .await;
    assert_eq!(f.reason, FailureReason::InvalidCredentials);
    assert!(f.message.contains("GetCallerIdentity"), "{}", f.message);
    assert!(!f.message.contains("credwatch's own"), "{}", f.message);
}

#[tokio::test]
async fn an_unreachable_sts_is_network_error() {
    let endpoint = format!("http://127.0.0.1:{}", common::refused_port());
    let f = check_only(&config(&endpoint, KEY_ID, SECRET))
        .await
        .outcome
        .unwrap_err();
    assert_eq!(f.reason, FailureReason::NetworkError, "{}", f.message);
}

#[tokio::test]
async fn a_slow_sts_is_timeout() {
    let server = sts(
        assume_role_answer("2030-01-02T03:04:05Z").set_delay(Duration::from_secs(30)),
        caller_identity_answer(ASSUMED),
    )
    .await;
    let text =
        config(&server.uri(), KEY_ID, SECRET).replace("timeout = \"10s\"", "timeout = \"1s\"");
    let f = check_only(&text).await.outcome.unwrap_err();
    assert_eq!(f.reason, FailureReason::Timeout, "{}", f.message);
}

/// Without configured keys credwatch uses the default AWS chain: here, the environment.
#[tokio::test(flavor = "multi_thread")]
async fn the_default_chain_reads_the_environment() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/"))
        .and(header_exists("authorization"))
        .and(body_string_contains("Action=AssumeRole"))
        .respond_with(assume_role_answer("2030-01-02T03:04:05Z"))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(body_string_contains("Action=GetCallerIdentity"))
        .respond_with(caller_identity_answer(ASSUMED))
        .mount(&server)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let text: String = config(&server.uri(), KEY_ID, SECRET)
        .lines()
        .filter(|l| !l.starts_with("access_key_id") && !l.starts_with("secret_access_key"))
        .map(|l| format!("{l}\n"))
        .collect();
    let file = write(dir.path(), "c.toml", &text);
    let nowhere = dir.path().join("none");
    let out = binary()
        .arg("--config")
        .arg(&file)
        .args(["check", "--format", "json"])
        .env("AWS_ACCESS_KEY_ID", "AKIAENVIRONMENTKEY01")
        .env("AWS_SECRET_ACCESS_KEY", "environment-secret-0123456789")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_CONFIG_FILE", &nowhere)
        .env("AWS_SHARED_CREDENTIALS_FILE", &nowhere)
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_SESSION_TOKEN")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let requests = server.received_requests().await.unwrap();
    assert_sigv4(&requests[0], "AKIAENVIRONMENTKEY01");

    // With nothing in the chain either, the check says credwatch has no identity.
    let out = binary()
        .arg("--config")
        .arg(&file)
        .args(["check", "--format", "json"])
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_CONFIG_FILE", &nowhere)
        .env("AWS_SHARED_CREDENTIALS_FILE", &nowhere)
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_SESSION_TOKEN")
        .env_remove("AWS_WEB_IDENTITY_TOKEN_FILE")
        .env_remove("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI")
        .env_remove("AWS_CONTAINER_CREDENTIALS_FULL_URI")
        .output()
        .unwrap();
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report[0]["result"], "config_error", "{report}");
    let message = report[0]["message"].as_str().unwrap();
    assert!(message.contains("no AWS identity of its own"), "{message}");
    assert_eq!(
        server.received_requests().await.unwrap().len(),
        requests.len()
    );
}
