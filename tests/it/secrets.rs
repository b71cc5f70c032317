//! No secret leaves credwatch: with canary values in every secret field of every type, and
//! providers that echo secrets back in their errors, no canary (nor its Basic-auth encoding)
//! appears in the debug logs, `/metrics`, `check` output, `validate` output or any message;
//! nor in the org view's, whose canary action's failing step quotes the request Genesys got
//! (its bearer token) and the secret of the integration it speaks for.

use crate::common;

use std::time::Duration;

use base64::Engine;
use common::{Daemon, binary, write};
use wiremock::matchers::path;
use wiremock::{Mock, MockServer, ResponseTemplate};

const CANARIES: &[&str] = &[
    "CANARY-zendesk-token-7f3a",
    "CANARY-genesys-secret-91bc",
    "CANARY-genesys-echo-secret-55aa",
    "CANARY-access-token-d00d",
    "CANARY-aws-secret-key-0c0c",
    "CANARY-aws-key-id-1d1d",
    "CANARY-google-private-key-2e2e",
    "CANARY-dynamics-password-3f3f",
    "CANARY-dynamics-client-secret-4a4a",
    "CANARY-salesforce-password-5b5b",
    "CANARY-salesforce-token-6c6c",
    "CANARY-salesforce-client-secret-7d7d",
    "CANARY-web-password-8e8e",
    "CANARY-web-field-9f9f",
    "CANARY-web-oauth-secret-a0a0",
    "CANARY-web-client-key-b1b1",
    "CANARY-entra-refresh-token-c2c2",
];

/// Fails if `text` holds a canary, plainly or inside anything base64 (a Basic header).
fn assert_clean(place: &str, text: &str) {
    for canary in CANARIES {
        assert!(!text.contains(canary), "{place} leaks {canary}:\n{text}");
    }
    let b64 = base64::engine::general_purpose::STANDARD;
    let is_b64 = |c: char| c.is_ascii_alphanumeric() || "+/=".contains(c);
    for word in text.split(|c: char| !is_b64(c)).filter(|w| w.len() >= 16) {
        // Every alignment: the encoded credential may start anywhere in the word.
        for start in 0..4.min(word.len()) {
            let mut part = word[start..].trim_end_matches('=').to_string();
            part.truncate(part.len() / 4 * 4);
            let Ok(decoded) = b64.decode(&part) else {
                continue;
            };
            let decoded = String::from_utf8_lossy(&decoded);
            for canary in CANARIES {
                assert!(
                    !decoded.contains(canary),
                    "{place} leaks {canary} in base64 ({word}):\n{text}"
                );
            }
        }
    }
}

async fn providers() -> (MockServer, MockServer, MockServer) {
    // Zendesk answers 401 with the token echoed in the body.
    let zendesk = MockServer::start().await;
    Mock::given(path("/api/v2/users/me.json"))
        .respond_with(
            ResponseTemplate::new(401).set_body_string(format!("bad token {}", CANARIES[0])),
        )
        .mount(&zendesk)
        .await;
    // A Genesys that grants a canary access token.
    let genesys = MockServer::start().await;
    common::mock_token(&genesys, "/oauth/token", CANARIES[3]).await;
    Mock::given(path("/api/v2/tokens/me"))
        .respond_with(
            ResponseTemplate::new(403)
                .set_body_string(format!("token {} lacks scope", CANARIES[3])),
        )
        .mount(&genesys)
        .await;
    // A Genesys whose error description echoes the client secret.
    let echo = MockServer::start().await;
    Mock::given(path("/oauth/token"))
        .respond_with(ResponseTemplate::new(401).set_body_json(serde_json::json!({
            "error": "invalid_client",
            "error_description": format!("secret {} is not valid", CANARIES[2])
        })))
        .mount(&echo)
        .await;
    // An Entra that grants a refresh token with the Dataverse token, then answers its
    // redemption for Graph by quoting the whole request (the refresh token in it).
    use wiremock::matchers::body_string_contains;
    Mock::given(path("/entra/token"))
        .and(body_string_contains("grant_type=password"))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "token_type": "Bearer", "expires_in": 3600,
            "access_token": "dataverse-token", "refresh_token": CANARIES[16]
        })))
        .mount(&genesys)
        .await;
    Mock::given(path("/entra/token"))
        .and(body_string_contains("grant_type=refresh_token"))
        .respond_with(EchoEverything)
        .mount(&genesys)
        .await;
    // Genesys runs the canary action, whose failing step quotes the whole request (the view's
    // token in its Authorization) and the Zendesk token the action was sent with.
    Mock::given(path("/api/v2/integrations/actions/custom_-_echo/test"))
        .respond_with(EchoingTest)
        .mount(&genesys)
        .await;
    // The OAuth client the view reads of both Genesys integrations: active.
    Mock::given(path("/api/v2/oauth/clients/cid"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(serde_json::json!({"id": "cid", "state": "active"})),
        )
        .mount(&genesys)
        .await;
    Mock::given(path("/dynamics/api/data/v9.2/WhoAmI"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(serde_json::json!({"UserId": "u-1"})),
        )
        .mount(&genesys)
        .await;
    (zendesk, genesys, echo)
}

/// A provider that answers every request with an OAuth error quoting the whole request: its
/// form, its query and its Authorization header.
struct EchoEverything;

impl wiremock::Respond for EchoEverything {
    fn respond(&self, request: &wiremock::Request) -> ResponseTemplate {
        let said = format!(
            "{} {} {:?}",
            request.url.query().unwrap_or_default(),
            String::from_utf8_lossy(&request.body),
            request.headers.get("authorization")
        );
        ResponseTemplate::new(400).set_body_json(serde_json::json!({
            "error": "invalid_grant", "error_description": said
        }))
    }
}

/// A data action test whose `Execute` step failed with the third party quoting the request.
struct EchoingTest;

impl wiremock::Respond for EchoingTest {
    fn respond(&self, request: &wiremock::Request) -> ResponseTemplate {
        let said = format!(
            "Response from web service: bad token {} for {:?} {}",
            CANARIES[0],
            request.headers.get("authorization"),
            String::from_utf8_lossy(&request.body)
        );
        ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "success": false,
            "operations": [{"step": 1, "name": "Execute", "success": false,
                            "error": {"message": said, "code": "UNAUTHORIZED", "status": 401}}]
        }))
    }
}

async fn echo_everything() -> MockServer {
    let server = MockServer::start().await;
    Mock::given(wiremock::matchers::any())
        .respond_with(EchoEverything)
        .mount(&server)
        .await;
    server
}

fn config(zendesk: &str, genesys: &str, echo: &str, all: &str, dir: &std::path::Path) -> String {
    let key_file = write(dir, "google.pem", CANARIES[6]);
    // A real client certificate whose key file holds a canary instead of a key.
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["credwatch".to_string()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    let client_cert = write(dir, "client.crt", &cert.pem());
    let client_key = write(
        dir,
        "client.key",
        &format!(
            "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
            CANARIES[15]
        ),
    );
    format!(
        r#"
[defaults]
interval = "1s"
timeout = "3s"
state_dir = "{state}"

[genesys]
integration = "Genesys granted"
interval = "1s"

[[genesys.canary]]
action = "custom_-_echo"
integration = "Zendesk Data Actions"
interval = "1s"

[[integration]]
type = "zendesk"
[integration.credentials]
email = "ops@example.com"
base_url = "{zendesk}"
api_token = "{c0}"

[[integration]]
type = "genesys_cloud"
name = "Genesys granted"
[integration.credentials]
client_id = "cid"
client_secret = {{ env = "CANARY_GENESYS" }}
region = "mypurecloud.com"
[integration.endpoints]
token_url = "{genesys}/oauth/token"
verify_url = "{genesys}/api/v2/tokens/me"

[[integration]]
type = "genesys_cloud"
name = "Genesys echo"
[integration.credentials]
client_id = "cid"
client_secret = "{c2}"
region = "mypurecloud.com"
[integration.endpoints]
token_url = "{echo}/oauth/token"
verify_url = "{echo}/api/v2/tokens/me"

[[integration]]
type = "aws_lambda"
[integration.credentials]
role_arn = "arn:aws:iam::123456789012:role/genesys"
external_id = "org"
access_key_id = "{c5}"
secret_access_key = "{c4}"
[integration.endpoints]
sts_endpoint = "{all}/aws"

[[integration]]
type = "google"
[integration.credentials]
credential_type = "gcp_service_account"
client_id = "1"
client_email = "sa@p.iam.gserviceaccount.com"
private_key_id = "k"
private_key = {{ file = "{key_file}" }}
[integration.endpoints]
token_url = "{all}/google/token"

[[integration]]
type = "dynamics365"
[integration.credentials]
username = "u@contoso.com"
password = "{c7}"
client_secret = "{c8}"
org_url = "{all}/dynamics"
application_id = "app"
[integration.endpoints]
token_url = "{all}/entra/token"

[[integration]]
type = "dynamics365"
name = "Dynamics expiry"
[integration.credentials]
username = "u2@contoso.com"
password = "{c7}"
org_url = "{genesys}/dynamics"
application_id = "app"
password_expiry = true
[integration.endpoints]
token_url = "{genesys}/entra/token"
graph_url = "{genesys}/graph"

[[integration]]
type = "salesforce"
[integration.credentials]
username = "u@example.com"
password = "{c9}"
security_token = "{c10}"
client_id = "3MVG9"
client_secret = "{c11}"
login_url = "{all}"

[[integration]]
type = "web_service"
[integration.credentials]
credential_type = "basic"
username = "u"
password = "{c12}"
[integration.request]
url = "{all}/web"

[[integration]]
type = "web_service"
[integration.credentials]
credential_type = "user_defined_oauth"
login_url = "{all}/login"
client_id = "c"
client_secret = "{c14}"
[integration.credentials.fields]
key = "{c13}"
[integration.request]
url = "{all}/web?k=${{credentials.key}}"
[integration.request.headers]
Authorization = "Bearer ${{credentials.token}}"

[[integration]]
type = "web_service"
name = "mTLS"
[integration.credentials]
credential_type = "none"
[integration.request]
url = "{all}/mtls"
[integration.tls]
client_cert = "{client_cert}"
client_key = "{client_key}"
"#,
        state = dir.join("state").display(),
        key_file = key_file.display(),
        client_cert = client_cert.display(),
        client_key = client_key.display(),
        c0 = CANARIES[0],
        c2 = CANARIES[2],
        c4 = CANARIES[4],
        c5 = CANARIES[5],
        c7 = CANARIES[7],
        c8 = CANARIES[8],
        c9 = CANARIES[9],
        c10 = CANARIES[10],
        c11 = CANARIES[11],
        c12 = CANARIES[12],
        c13 = CANARIES[13],
        c14 = CANARIES[14],
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn no_canary_leaves_through_any_output() {
    let (zendesk, genesys, echo) = providers().await;
    let all = echo_everything().await;
    let dir = tempfile::tempdir().unwrap();
    let config = write(
        dir.path(),
        "c.toml",
        &config(
            &zendesk.uri(),
            &genesys.uri(),
            &echo.uri(),
            &all.uri(),
            dir.path(),
        ),
    );
    let env = [("CANARY_GENESYS", CANARIES[1]), ("CREDWATCH_LOG", "trace")];

    let daemon = Daemon::start(&config, &env);
    let metrics = daemon
        .metrics_when(
            Duration::from_secs(20),
            "every active integration checked twice, or once and guarded",
            |m| {
                let total = |name: &str, result: &str| {
                    m.get(
                        "credwatch_checks_total",
                        &[("integration", name), ("result", result)],
                    )
                    .unwrap_or(0.0)
                };
                let guarded = |name: &str| {
                    m.get("credwatch_lockout_guard_engaged", &[("integration", name)]) == Some(1.0)
                };
                m.count("credwatch_check_success", &[]) == 11
                    && total("Dynamics expiry", "success") >= 2.0
                    && total("Zendesk Data Actions", "invalid_credentials") >= 2.0
                    && total("Genesys granted", "permission_denied") >= 2.0
                    && total("Genesys echo", "invalid_credentials") >= 2.0
                    && total("Salesforce Data Actions", "invalid_credentials") >= 1.0
                    && guarded("Salesforce Data Actions")
                    && total("AWS Lambda Data Actions", "protocol_error") >= 2.0
                    && total("mTLS", "config_error") >= 2.0
                    && total("Microsoft Dynamics 365 Data Actions", "invalid_credentials") >= 1.0
                    && guarded("Microsoft Dynamics 365 Data Actions")
                    && m.get(
                        "credwatch_genesys_canary_runs_total",
                        &[
                            ("action", "custom_-_echo"),
                            ("result", "invalid_credentials"),
                        ],
                    )
                    .unwrap_or(0.0)
                        >= 2.0
            },
        )
        .await;
    assert_clean("/metrics", &metrics.text);
    let (_, readyz) = daemon.get("/readyz").await;
    assert_clean("/readyz", &readyz);
    // The API: the list, every integration with its history, and checks on demand (which
    // bypass the guard, so the echoing providers are asked again).
    let (status, page) = daemon.get("/").await;
    assert_eq!(status, 200);
    assert_clean("the status page", &page);
    let (status, list) = daemon.get("/api/v1/integrations").await;
    assert_eq!(status, 200, "{list}");
    assert_clean("/api/v1/integrations", &list);
    let (status, genesys) = daemon.get("/api/v1/genesys").await;
    assert_eq!(status, 200, "{genesys}");
    assert!(genesys.contains("bad token [redacted]"), "{genesys}");
    assert_clean("/api/v1/genesys", &genesys);
    let list: serde_json::Value = serde_json::from_str(&list).unwrap();
    let names: Vec<String> = list["integrations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names.len(), 11);
    for name in &names {
        let path = format!("/api/v1/integrations/{}", name.replace(' ', "%20"));
        let (status, detail) = daemon.get(&path).await;
        assert_eq!(status, 200, "{detail}");
        assert_clean(&path, &detail);
        let page = format!("/integrations/{}", name.replace(' ', "%20"));
        let (status, html) = daemon.get(&page).await;
        assert_eq!(status, 200, "{html}");
        assert_clean(&page, &html);
        let (status, checked) = daemon.post(&format!("{path}/check")).await;
        assert_eq!(status, 200, "{checked}");
        assert_clean(&format!("POST {path}/check"), &checked);
    }
    let (status, logs) = daemon.terminate();
    assert!(status.success());
    // The logs carry the failure messages.
    assert!(logs.contains("check failed"), "{logs}");
    assert!(
        logs.contains("invalid_client"),
        "echoing provider's answer is logged: {logs}"
    );
    assert!(
        logs.contains("[redacted]"),
        "the echoed secret was scrubbed: {logs}"
    );
    assert!(
        logs.contains("reading the password's expiry from Microsoft Graph failed"),
        "the refused redemption of the refresh token is logged: {logs}"
    );
    assert_clean("daemon logs", &logs);
    let state = std::fs::read_to_string(dir.path().join("state").join("state.json")).unwrap();
    assert!(state.contains("\"guard\":{"), "{state}");
    assert_clean("state file", &state);

    for args in [
        &["check", "--format", "json"][..],
        &["check"],
        &["validate"],
        &["--log-level", "debug", "check", "Genesys echo"],
        // The guarded ones once more, past their guard.
        &[
            "check",
            "--force",
            "Salesforce Data Actions",
            "--force",
            "Microsoft Dynamics 365 Data Actions",
            "--force",
            "Web Services Data Actions",
        ],
        // JSON lines for log shippers carry the same fields.
        &["--log-format", "json", "--log-level", "debug", "check"],
        // Directives reach the libraries' own debug logs.
        &["--log-level", "debug,credwatch=trace", "check"],
    ] {
        let mut command = binary();
        command.arg("--config").arg(&config).args(args);
        for (k, v) in env {
            command.env(k, v);
        }
        let out = command.output().unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert_clean(&format!("credwatch {args:?}"), &text);
        if args[0] == "check" {
            assert_eq!(out.status.code(), Some(1), "{text}");
        }
    }
}

#[test]
fn debug_output_of_the_config_redacts_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let text = config(
        "http://127.0.0.1:1",
        "http://127.0.0.1:1",
        "http://127.0.0.1:1",
        "http://127.0.0.1:1",
        dir.path(),
    );
    let config = credwatch::config::Config::parse("c.toml", &text).unwrap();
    let debug = format!("{config:?}");
    assert!(debug.contains("credentials.password"), "{debug}");
    assert_clean("Debug of Config", &debug);
    assert!(
        config
            .warnings
            .iter()
            .all(|w| CANARIES.iter().all(|c| !w.contains(c)))
    );
}

/// Whether any 6-character piece of `secret` is in `text`.
fn piece_of(secret: &str, text: &str) -> Option<String> {
    let chars: Vec<char> = secret.chars().collect();
    chars
        .windows(6)
        .map(|w| w.iter().collect::<String>())
        .find(|piece| text.contains(piece.as_str()))
}

#[tokio::test(flavor = "multi_thread")]
async fn an_echoed_password_leaves_no_piece_in_any_form_anywhere() {
    // A password with a tab and characters that every encoding changes.
    let password = "Sup3r!Tab\tQz%9&Xw7\"/é";
    let token = "tkN8vR2qLm";
    let sent = format!("{password}{token}");
    let form: String = url::form_urlencoded::byte_serialize(sent.as_bytes()).collect();
    let json = serde_json::to_string(&sent).unwrap();
    // The form the provider received, the JSON-escaped password, then the password itself
    // starting 190 characters in, across where a 200-character cut falls.
    let head = format!("got password={form}&grant_type=password | {json} | ");
    let description = format!(
        "{head}{}{sent} and more",
        "x".repeat(190 - head.chars().count())
    );
    let server = MockServer::start().await;
    Mock::given(path("/services/oauth2/token"))
        .respond_with(ResponseTemplate::new(400).set_body_json(
            serde_json::json!({"error": "invalid_grant", "error_description": description}),
        ))
        .mount(&server)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let password_file = write(dir.path(), "password", password);
    let token_file = write(dir.path(), "token", token);
    let config = write(
        dir.path(),
        "credwatch.toml",
        &format!(
            r#"
[defaults]
interval = "1h"
timeout = "5s"
state_dir = "{state}"

[[integration]]
type = "salesforce"
name = "Echo"
[integration.credentials]
username = "integration@example.com"
password = {{ file = "{password}" }}
security_token = {{ file = "{token}" }}
login_url = "{login}"
client_id = "3MVG9-key"
client_secret = "kQ7zP2mW9x"
"#,
            state = dir.path().join("state").display(),
            password = password_file.display(),
            token = token_file.display(),
            login = server.uri(),
        ),
    );
    let daemon = Daemon::start(&config, &[]);
    let (status, checked) = daemon.post("/api/v1/integrations/Echo/check").await;
    assert_eq!(status, 200, "{checked}");
    let view: serde_json::Value = serde_json::from_str(&checked).unwrap();
    assert_eq!(view["result"], "invalid_credentials", "{view}");
    let message = view["message"].as_str().unwrap().to_string();
    assert!(message.contains("[redacted]"), "{message}");
    let (_, page) = daemon.get("/integrations/Echo").await;
    let (_, api) = daemon.get("/api/v1/integrations").await;
    let (_, metrics) = daemon.get("/metrics").await;
    let (status, logs) = daemon.terminate();
    assert!(status.success(), "{logs}");
    let state = std::fs::read_to_string(dir.path().join("state").join("state.json")).unwrap();
    let forms = [
        password.to_string(),
        password.replace('\t', " "),
        sent.clone(),
        form.clone(),
        json.clone(),
        sent.replace('\t', " "),
    ];
    for (place, text) in [
        ("message", &message),
        ("detail API", &checked),
        ("page", &page),
        ("API", &api),
        ("metrics", &metrics),
        ("log", &logs),
        ("state", &state),
    ] {
        for secret in &forms {
            if let Some(piece) = piece_of(secret, text) {
                panic!("{place} holds {piece:?} of {secret:?}:\n{text}");
            }
        }
    }
}
