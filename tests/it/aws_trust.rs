//! `genesys_trust = true` for AWS Lambda: after the STS calls, IAM `GetRole` with credwatch's
//! own identity (signed for IAM in us-east-1), its trust policy read for Genesys's AWS account
//! with the external id, and `RoleLastUsed` exported. Against moto's IAM (a real peer: SigV4
//! verified, credwatch's policy evaluated) and wiremock answering IAM's XML: a role that still
//! trusts Genesys, one that lost the trust, a tampered policy, a missing iam:GetRole.

use crate::aws_lambda::{
    ASSUMED, EXTERNAL_ID, KEY_ID, Moto, ROLE, SECRET, assume_role_answer, caller_identity_answer,
    sts_error,
};
use crate::common;

use std::sync::Arc;

use common::check_only;
use credwatch::forecast::Credential;
use credwatch::outcome::FailureReason;
use wiremock::matchers::{body_string_contains, method};
use wiremock::{Mock, MockServer, ResponseTemplate};

/// An `aws_lambda` integration for `role`, with `genesys_trust = true`, STS and IAM at `base`.
fn config(base: &str, role: &str, key: &str, secret: &str, extra: &str) -> String {
    format!(
        r#"
[[integration]]
type = "aws_lambda"
name = "Lambda prod (EU)"
timeout = "10s"
[integration.credentials]
role_arn = "{role}"
external_id = "{EXTERNAL_ID}"
region = "eu-west-1"
access_key_id = "{key}"
secret_access_key = "{secret}"
genesys_trust = true
{extra}
[integration.endpoints]
sts_endpoint = "{base}"
iam_endpoint = "{base}"
"#
    )
}

/// A trust policy letting `account` assume the role with `external_id`.
fn trusting(account: &str, external_id: &str) -> String {
    serde_json::json!({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow",
        "Principal": {"AWS": format!("arn:aws:iam::{account}:root")},
        "Action": "sts:AssumeRole",
        "Condition": {"StringEquals": {"sts:ExternalId": external_id}}
    }]})
    .to_string()
}

/// IAM's `GetRole` answer: the document URL-encoded, as IAM sends it.
fn get_role_answer(document: &str, last_used: Option<&str>) -> ResponseTemplate {
    let encoded =
        percent_encoding::utf8_percent_encode(document, percent_encoding::NON_ALPHANUMERIC);
    let used = last_used.map_or(String::from("<RoleLastUsed/>"), |at| {
        format!("<RoleLastUsed><LastUsedDate>{at}</LastUsedDate><Region>eu-west-1</Region></RoleLastUsed>")
    });
    ResponseTemplate::new(200).set_body_raw(
        format!(
            r#"<GetRoleResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/">
  <GetRoleResult>
    <Role>
      <Path>/integrations/</Path>
      <AssumeRolePolicyDocument>{encoded}</AssumeRolePolicyDocument>
      <MaxSessionDuration>3600</MaxSessionDuration>
      <RoleId>AROA3XFRBF535PLBIFPI4</RoleId>
      <RoleName>genesys-data-actions</RoleName>
      <Arn>{ROLE}</Arn>
      <CreateDate>2024-02-01T09:00:00Z</CreateDate>
      {used}
    </Role>
  </GetRoleResult>
  <ResponseMetadata><RequestId>7a62c49f-347e-4fc4-9331-6e8eEXAMPLE</RequestId></ResponseMetadata>
</GetRoleResponse>"#
        ),
        "text/xml",
    )
}

/// STS passing, and IAM answering `get_role`.
async fn aws(get_role: ResponseTemplate) -> MockServer {
    let server = MockServer::start().await;
    for (action, answer) in [
        (
            "Action=AssumeRole",
            assume_role_answer("2030-01-02T03:04:05Z"),
        ),
        ("Action=GetCallerIdentity", caller_identity_answer(ASSUMED)),
        ("Action=GetRole", get_role),
    ] {
        Mock::given(method("POST"))
            .and(body_string_contains(action))
            .respond_with(answer)
            .mount(&server)
            .await;
    }
    server
}

#[tokio::test]
async fn a_role_that_trusts_genesys_passes_and_its_last_use_is_exported() {
    let server = aws(get_role_answer(
        &trusting("765628985471", EXTERNAL_ID),
        Some("2026-11-20T08:30:00Z"),
    ))
    .await;
    let report = check_only(&config(&server.uri(), ROLE, KEY_ID, SECRET, "")).await;
    assert!(report.outcome.is_ok(), "{:?}", report.outcome);

    // GetRole: IAM's query protocol, the role's name without its path, signed with credwatch's
    // own key for IAM in us-east-1.
    let requests = server.received_requests().await.unwrap();
    let get_role = requests
        .iter()
        .find(|r| String::from_utf8_lossy(&r.body).contains("Action=GetRole"))
        .expect("GetRole was called");
    let mut form = common::form_of(get_role);
    form.sort();
    assert_eq!(
        form,
        [
            ("Action".to_string(), "GetRole".to_string()),
            ("RoleName".to_string(), "genesys-data-actions".to_string()),
            ("Version".to_string(), "2010-05-08".to_string()),
        ]
    );
    let auth = get_role.headers["authorization"].to_str().unwrap();
    assert!(
        auth.contains(&format!("Credential={KEY_ID}/"))
            && auth.contains("/us-east-1/iam/aws4_request"),
        "{auth}"
    );

    // RoleLastUsed, in the metrics.
    let used = report
        .learnt
        .iter()
        .find(|l| l.credential == Credential::Role)
        .and_then(|l| l.used);
    assert_eq!(used, Some(1_795_163_400.0));
    let dir = tempfile::tempdir().unwrap();
    let state = Arc::new(credwatch::state::State::load(dir.path(), "default"));
    let metrics = credwatch::metrics::Metrics::new(state.clone());
    state.record(&report, None);
    metrics.observe(&report);
    let scrape = common::Metrics::parse(&metrics.render());
    assert_eq!(
        scrape.get(
            "credwatch_aws_role_last_used_timestamp_seconds",
            &[("integration", "Lambda prod (EU)"), ("type", "aws_lambda")]
        ),
        Some(1_795_163_400.0)
    );
    common::promtool(&scrape.text);
}

#[tokio::test]
async fn a_role_that_lost_genesyss_trust_or_was_tampered_with_is_permission_denied() {
    let lost = [
        // Genesys's statement removed: only another account is trusted.
        trusting("111122223333", EXTERNAL_ID),
        // Tampered: the external id no longer the org's.
        trusting("765628985471", "genesys-org-8c1f5b2f"),
        // Tampered: a Deny of everyone added after Genesys's statement.
        {
            let mut policy: serde_json::Value =
                serde_json::from_str(&trusting("765628985471", EXTERNAL_ID)).unwrap();
            policy["Statement"]
                .as_array_mut()
                .unwrap()
                .push(serde_json::json!(
                    {"Effect": "Deny", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}
                ));
            policy.to_string()
        },
    ];
    for document in lost {
        let server = aws(get_role_answer(&document, None)).await;
        let failure = check_only(&config(&server.uri(), ROLE, KEY_ID, SECRET, ""))
            .await
            .outcome
            .expect_err("the trust is gone");
        assert_eq!(
            failure.reason,
            FailureReason::PermissionDenied,
            "{document}"
        );
        assert!(
            failure
                .message
                .contains("the role no longer trusts Genesys's AWS account with this external id"),
            "{}",
            failure.message
        );
        assert!(
            failure.message.contains("765628985471"),
            "{}",
            failure.message
        );
    }
    // Another account for Genesys (FedRAMP): genesys_account.
    let server = aws(get_role_answer(
        &trusting("111122223333", EXTERNAL_ID),
        None,
    ))
    .await;
    let text = config(
        &server.uri(),
        ROLE,
        KEY_ID,
        SECRET,
        "genesys_account = \"111122223333\"",
    );
    assert!(check_only(&text).await.outcome.is_ok());
}

#[tokio::test]
async fn without_iam_get_role_the_check_says_which_permission_to_grant() {
    let server = aws(sts_error(
        403,
        "AccessDenied",
        "User is not authorized to perform: iam:GetRole",
    ))
    .await;
    let failure = check_only(&config(&server.uri(), ROLE, KEY_ID, SECRET, ""))
        .await
        .outcome
        .expect_err("GetRole refused");
    assert_eq!(failure.reason, FailureReason::PermissionDenied);
    assert!(
        failure
            .message
            .contains("IAM GetRole answered AccessDenied"),
        "{}",
        failure.message
    );
    assert!(
        failure.message.contains("allow it iam:GetRole"),
        "{}",
        failure.message
    );
    assert!(!failure.message.contains(SECRET));
}

#[test]
fn genesys_trust_mistakes_name_the_field() {
    let text = config(
        "http://127.0.0.1:1",
        ROLE,
        KEY_ID,
        SECRET,
        "genesys_account = \"7656\"",
    );
    let error = credwatch::config::Config::parse("t.toml", &text)
        .unwrap_err()
        .to_string();
    assert!(error.contains("genesys_account"), "{error}");
    let text = config(
        "http://127.0.0.1:1",
        ROLE,
        KEY_ID,
        SECRET,
        "genesys_account = \"765628985471\"",
    )
    .replace("genesys_trust = true\n", "");
    let error = credwatch::config::Config::parse("t.toml", &text)
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("genesys_account") && error.contains("genesys_trust"),
        "{error}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn moto_iam_reads_the_trust_of_a_real_role() {
    if !common::peer("moto", &["python3", "-c", "import moto.server, boto3"]) {
        return;
    }
    let moto = Moto::start();
    let (key, secret) = moto.credwatch.clone();
    // moto's roles have no path.
    let role = ROLE.replace("integrations/", "");
    let report = check_only(&config(&moto.url, &role, &key, &secret, "")).await;
    assert!(report.outcome.is_ok(), "{:?}", report.outcome);
    let lost = role.replace("genesys-data-actions", "genesys-lost-trust");
    let failure = check_only(&config(&moto.url, &lost, &key, &secret, ""))
        .await
        .outcome
        .expect_err("the role trusts another account");
    assert_eq!(
        failure.reason,
        FailureReason::PermissionDenied,
        "{}",
        failure.message
    );
    assert!(
        failure.message.contains("no longer trusts"),
        "{}",
        failure.message
    );
}
