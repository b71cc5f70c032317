//! Fuzzed parsers (proptest): the config loader on mutated configs, and every provider answer
//! parser (token answers, error bodies, STS XML, Zendesk users/me, tokeninfo, identity, WhoAmI)
//! on arbitrary answers served from 127.0.0.1. Whatever comes in, nothing panics, a config is
//! loaded or refused with a message, a check ends with a classified outcome, and no secret (nor
//! a token the check minted) is in any message.
//!
//! CI runs `FUZZ_CASES` cases per property (default 64). Longer:
//! `FUZZ_CASES=20000 cargo test --release --test it fuzz::`.

use std::convert::Infallible;
use std::sync::{Arc, LazyLock, Mutex};
use std::time::{Duration, Instant};

use credwatch::config::Config;
use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use proptest::prelude::*;
use proptest::test_runner::{Config as Cases, FileFailurePersistence};
use tokio::net::TcpListener;
use tokio::runtime::Runtime;

/// Secret values; none may appear in a message.
const PASSWORD: &str = "canary-password-4f1c";
const SECURITY_TOKEN: &str = "canary-sectoken-77ab";
const CLIENT_SECRET: &str = "canary-client-secret-9e2d";
const API_TOKEN: &str = "canary-api-token-c0de";
const AWS_SECRET: &str = "canary/aws/secret/key/0123456789abcdef";
/// The token a valid login answer mints: a secret from then on.
const MINTED: &str = "canary-minted-token-8d3e";
/// Every canary; the answers quote them all, and an integration's messages must not carry its
/// own ([`secrets_of`]).
const SECRETS: [&str; 6] = [
    PASSWORD,
    SECURITY_TOKEN,
    CLIENT_SECRET,
    API_TOKEN,
    AWS_SECRET,
    MINTED,
];

/// The secrets an integration of `kind` holds or is handed (a minted token, AWS's temporary
/// secret key): whatever a provider says, they are never in its messages.
fn secrets_of(kind: &str) -> &'static [&'static str] {
    match kind {
        "zendesk" => &[API_TOKEN],
        "genesys_cloud" | "web_service" => &[CLIENT_SECRET, MINTED],
        "google" => &[MINTED],
        "dynamics365" => &[PASSWORD, MINTED],
        "salesforce" => &[PASSWORD, SECURITY_TOKEN, CLIENT_SECRET, MINTED],
        "aws_lambda" => &[AWS_SECRET, MINTED],
        _ => unreachable!(),
    }
}

/// How long a check may take here: providers answer at once, so a check that takes longer is
/// stuck somewhere.
const CHECK_TIMEOUT: Duration = Duration::from_secs(3);

fn cases() -> Cases {
    let cases = std::env::var("FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(64);
    Cases {
        cases,
        failure_persistence: Some(Box::new(FileFailurePersistence::Off)),
        ..Cases::default()
    }
}

static RUNTIME: LazyLock<Runtime> = LazyLock::new(|| {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
});

// ---------------------------------------------------------------------------------------------
// Arbitrary answers

/// One HTTP answer.
#[derive(Debug, Clone)]
struct Answer {
    status: u16,
    content_type: Option<&'static str>,
    retry_after: Option<String>,
    body: Vec<u8>,
}

const KEYS: [&str; 34] = [
    "access_token",
    "token_type",
    "expires_in",
    "ext_expires_in",
    "scope",
    "error",
    "error_description",
    "error_codes",
    "error_uri",
    "instance_url",
    "id",
    "issued_at",
    "signature",
    "user",
    "active",
    "suspended",
    "user_id",
    "organization_id",
    "UserId",
    "BusinessUnitId",
    "OrganizationId",
    "status",
    "email",
    "azp",
    "aud",
    "expires_at",
    "message",
    "code",
    "errors",
    "details",
    "role",
    "name",
    "timestamp",
    "correlation_id",
];

const WORDS: [&str; 30] = [
    "invalid_grant",
    "invalid_client",
    "invalid_client_id",
    "unauthorized_client",
    "invalid_scope",
    "invalid_request",
    "unsupported_grant_type",
    "rate_limit_exceeded",
    "inactive_user",
    "inactive_org",
    "temporarily_unavailable",
    "authentication failure",
    "login rate exceeded",
    "user hasn't approved this consumer",
    "IP restricted or invalid login hours",
    "Invalid JWT Signature.",
    "Invalid grant: account not found",
    "Invalid JWT: Token must be a short-lived token (60 minutes)",
    "AADSTS50126: Error validating credentials due to invalid username or password.",
    "AADSTS50053: The account is locked.",
    "AADSTS50076: Due to a configuration change you must use multi-factor authentication.",
    "AADSTS7000218: The request body must contain client_assertion or client_secret.",
    "Bearer",
    // A URL (Salesforce sends the token to the URLs its answer names), never one off this
    // machine: port 1 of 127.0.0.1 refuses at once.
    "http://127.0.0.1:1/id/00D/005",
    "ok",
    "",
    "null",
    "0",
    "-1",
    "\u{0}\u{7f}\u{202e}",
];

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => proptest::sample::select(WORDS.to_vec()).prop_map(str::to_string),
        2 => proptest::sample::select(SECRETS.to_vec()).prop_map(|s| format!("value {s} here")),
        2 => "\\PC{0,40}",
        1 => proptest::sample::select(WORDS.to_vec()).prop_map(|w| w.repeat(400)),
    ]
}

fn json() -> impl Strategy<Value = serde_json::Value> {
    use serde_json::Value;
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        text().prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 40, 8, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            proptest::collection::btree_map(
                proptest::sample::select(KEYS.to_vec()).prop_map(str::to_string),
                inner,
                0..8
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// An OAuth-style error body.
fn oauth_error() -> impl Strategy<Value = Vec<u8>> {
    (
        text(),
        text(),
        proptest::option::of(proptest::collection::vec(0u32..100_000_000, 0..3)),
    )
        .prop_map(|(error, description, codes)| {
            let mut v = serde_json::json!({"error": error, "error_description": description});
            if let Some(codes) = codes {
                v["error_codes"] = serde_json::json!(codes);
            }
            v.to_string().into_bytes()
        })
}

/// STS XML: an error, or a result with arbitrary parts.
fn sts_xml() -> impl Strategy<Value = Vec<u8>> {
    let code = prop_oneof![
        proptest::sample::select(vec![
            "AccessDenied",
            "InvalidClientTokenId",
            "SignatureDoesNotMatch",
            "ExpiredToken",
            "ValidationError",
            "Throttling",
            "RegionDisabledException",
            "MalformedPolicyDocument",
        ])
        .prop_map(str::to_string),
        text(),
    ];
    prop_oneof![
        (code, text()).prop_map(|(code, message)| format!(
            "<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><Error><Type>Sender</Type>\
             <Code>{code}</Code><Message>{message}</Message></Error><RequestId>r</RequestId></ErrorResponse>"
        )
        .into_bytes()),
        (text(), text(), text(), text()).prop_map(|(key, expiration, arn, account)| format!(
            "<AssumeRoleResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><AssumeRoleResult>\
             <Credentials><AccessKeyId>{key}</AccessKeyId><SecretAccessKey>{AWS_SECRET}</SecretAccessKey>\
             <SessionToken>{MINTED}</SessionToken><Expiration>{expiration}</Expiration></Credentials>\
             <AssumedRoleUser><AssumedRoleId>AROA:x</AssumedRoleId><Arn>{arn}</Arn></AssumedRoleUser>\
             </AssumeRoleResult></AssumeRoleResponse><GetCallerIdentityResponse><GetCallerIdentityResult>\
             <Arn>{arn}</Arn><UserId>u</UserId><Account>{account}</Account></GetCallerIdentityResult>\
             </GetCallerIdentityResponse>"
        )
        .into_bytes()),
    ]
}

fn answer() -> impl Strategy<Value = Answer> {
    let status = prop_oneof![
        4 => Just(200u16),
        6 => proptest::sample::select(vec![201u16, 204, 301, 400, 401, 403, 404, 409, 429, 500, 502, 503]),
        1 => 100u16..1000,
    ];
    let content_type = proptest::option::of(proptest::sample::select(vec![
        "application/json",
        "application/json; charset=utf-8",
        "text/xml",
        "text/html",
        "text/plain",
    ]));
    let body = prop_oneof![
        4 => json().prop_map(|v| v.to_string().into_bytes()),
        3 => oauth_error(),
        2 => sts_xml(),
        1 => proptest::collection::vec(any::<u8>(), 0..300),
    ];
    let retry_after = proptest::option::of(prop_oneof![
        (0u64..100_000).prop_map(|s| s.to_string()),
        Just("Wed, 21 Oct 2015 07:28:00 GMT".to_string()),
        "\\PC{0,20}",
    ]);
    (status, content_type, retry_after, body).prop_map(
        |(status, content_type, retry_after, body)| Answer {
            status,
            content_type,
            retry_after,
            body,
        },
    )
}

// ---------------------------------------------------------------------------------------------
// A provider that answers what it is told

/// What the provider answers: the valid login answer (or the fuzzed one, when the login is what
/// is fuzzed), and the fuzzed answer to everything else.
#[derive(Default)]
struct Script {
    fuzz_login: bool,
    login: Option<Answer>,
    fuzzed: Option<Answer>,
}

struct Provider {
    base: String,
    script: Arc<Mutex<Script>>,
}

/// Whether a request is a login (a token request, or STS AssumeRole).
fn is_login(path: &str, body: &[u8]) -> bool {
    path.ends_with("/token") || String::from_utf8_lossy(body).contains("Action=AssumeRole")
}

impl Provider {
    fn start() -> Provider {
        let script = Arc::new(Mutex::new(Script::default()));
        let shared = script.clone();
        let listener = RUNTIME.block_on(TcpListener::bind("127.0.0.1:0")).unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        RUNTIME.spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let script = shared.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |request: Request<Incoming>| {
                        let script = script.clone();
                        async move {
                            let path = request.uri().path().to_string();
                            let body = http_body_util::BodyExt::collect(request.into_body())
                                .await
                                .map(|b| b.to_bytes())
                                .unwrap_or_default();
                            let answer = {
                                let script = script.lock().unwrap();
                                if is_login(&path, &body) && !script.fuzz_login {
                                    script.login.clone()
                                } else {
                                    script.fuzzed.clone()
                                }
                            };
                            Ok::<_, Infallible>(respond(answer))
                        }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Provider { base, script }
    }
}

fn respond(answer: Option<Answer>) -> Response<Full<Bytes>> {
    let Some(answer) = answer else {
        return Response::builder()
            .status(500)
            .body(Full::default())
            .unwrap();
    };
    let mut builder = Response::builder().status(answer.status);
    if let Some(content_type) = answer.content_type {
        builder = builder.header("content-type", content_type);
    }
    if let Some(retry_after) = answer.retry_after
        && let Ok(value) = hyper::header::HeaderValue::from_str(&retry_after)
    {
        builder = builder.header("retry-after", value);
    }
    builder
        .body(Full::new(Bytes::from(answer.body)))
        .unwrap_or_else(|_| Response::new(Full::default()))
}

fn json_answer(value: serde_json::Value) -> Answer {
    Answer {
        status: 200,
        content_type: Some("application/json"),
        retry_after: None,
        body: value.to_string().into_bytes(),
    }
}

/// One integration of `kind` pointed at `base`, and the answer its login gets when the login
/// is not what is fuzzed.
fn integration(kind: &str, base: &str, key_file: &str) -> (String, Answer) {
    let (credentials, login) = match kind {
        "zendesk" => (
            format!(
                "email = \"ops@example.com\"\nbase_url = \"{base}\"\napi_token = \"{API_TOKEN}\""
            ),
            json_answer(serde_json::json!({})),
        ),
        "genesys_cloud" => (
            format!(
                "client_id = \"c\"\nclient_secret = \"{CLIENT_SECRET}\"\nregion = \"mypurecloud.com\"\n\
                 [integration.endpoints]\ntoken_url = \"{base}/oauth/token\"\nverify_url = \"{base}/api/v2/tokens/me\""
            ),
            json_answer(
                serde_json::json!({"access_token": MINTED, "token_type": "bearer", "expires_in": 86399}),
            ),
        ),
        "google" => (
            format!(
                "credential_type = \"gcp_service_account\"\nkey_file = \"{key_file}\"\n\
                 [integration.endpoints]\ntoken_url = \"{base}/token\"\ntokeninfo_url = \"{base}/tokeninfo\"\nrevoke_url = \"{base}/revoke\"\ncertificates_url = \"{base}/x509/\""
            ),
            json_answer(
                serde_json::json!({"access_token": MINTED, "expires_in": 3599, "token_type": "Bearer"}),
            ),
        ),
        "dynamics365" => (
            format!(
                "username = \"svc@contoso.example\"\npassword = \"{PASSWORD}\"\norg_url = \"{base}\"\n\
                 application_id = \"51f81489-12ee-4a9e-aaae-a2591f45987d\"\ntenant = \"contoso.example\"\n\
                 [integration.endpoints]\ntoken_url = \"{base}/contoso.example/oauth2/v2.0/token\""
            ),
            json_answer(serde_json::json!({
                "token_type": "Bearer", "scope": format!("{base}/.default"), "expires_in": 3599,
                "ext_expires_in": 3599, "access_token": MINTED
            })),
        ),
        "salesforce" => (
            format!(
                "username = \"svc@contoso.example\"\npassword = \"{PASSWORD}\"\nsecurity_token = \"{SECURITY_TOKEN}\"\n\
                 login_url = \"{base}\"\nclient_id = \"3MVG9\"\nclient_secret = \"{CLIENT_SECRET}\""
            ),
            json_answer(serde_json::json!({
                "access_token": MINTED, "instance_url": base, "id": format!("{base}/id/00D/005"),
                "token_type": "Bearer", "issued_at": "1700000000000", "signature": "c2ln"
            })),
        ),
        "web_service" => (
            format!(
                "credential_type = \"user_defined_oauth\"\nlogin_url = \"{base}/oauth/token\"\nclient_id = \"c\"\n\
                 client_secret = \"{CLIENT_SECRET}\"\n[integration.request]\nurl = \"{base}/health\"\n\
                 expect_json = {{ pointer = \"/status\", equals = \"ok\" }}\n\
                 [integration.request.headers]\nAuthorization = \"Bearer ${{credentials.token}}\""
            ),
            json_answer(
                serde_json::json!({"access_token": MINTED, "token_type": "Bearer", "expires_in": 3600}),
            ),
        ),
        "aws_lambda" => {
            let expiration = chrono::Utc::now() + chrono::Duration::seconds(900);
            (
                format!(
                    "role_arn = \"arn:aws:iam::123456789012:role/r\"\nexternal_id = \"org-1\"\n\
                     access_key_id = \"AKIAFUZZ\"\nsecret_access_key = \"{AWS_SECRET}\"\n\
                     [integration.endpoints]\nsts_endpoint = \"{base}\""
                ),
                Answer {
                    status: 200,
                    content_type: Some("text/xml"),
                    retry_after: None,
                    body: format!(
                        "<AssumeRoleResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><AssumeRoleResult>\
                         <Credentials><AccessKeyId>ASIAFUZZ</AccessKeyId><SecretAccessKey>{AWS_SECRET}</SecretAccessKey>\
                         <SessionToken>{MINTED}</SessionToken><Expiration>{}</Expiration></Credentials>\
                         <AssumedRoleUser><AssumedRoleId>AROA:credwatch-x</AssumedRoleId>\
                         <Arn>arn:aws:sts::123456789012:assumed-role/r/credwatch-x</Arn></AssumedRoleUser>\
                         </AssumeRoleResult><ResponseMetadata><RequestId>r</RequestId></ResponseMetadata></AssumeRoleResponse>",
                        expiration.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
                    )
                    .into_bytes(),
                },
            )
        }
        _ => unreachable!(),
    };
    // Salesforce revokes at the `instance_url` a token answer names: a fuzzed one could name
    // any HTTPS host, and tests never leave 127.0.0.1.
    let revoke = if kind == "salesforce" {
        "revoke = false\n"
    } else {
        ""
    };
    let text = format!(
        "[[integration]]\ntype = \"{kind}\"\nname = \"fuzz {kind}\"\ntimeout = \"{}s\"\n{revoke}[integration.credentials]\n{credentials}\n",
        CHECK_TIMEOUT.as_secs()
    );
    (text, login)
}

static KEY_FILE: LazyLock<(tempfile::TempDir, String)> = LazyLock::new(|| {
    let dir = tempfile::tempdir().unwrap();
    let key = rcgen::KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, rcgen::RsaKeySize::_2048)
        .unwrap();
    let file = serde_json::json!({
        "type": "service_account",
        "project_id": "fuzz",
        "private_key_id": "0123456789abcdef",
        "private_key": key.serialize_pem(),
        "client_email": "credwatch@fuzz.iam.gserviceaccount.com",
        "client_id": "1",
        "token_uri": "https://oauth2.googleapis.com/token",
    });
    let path = dir.path().join("key.json");
    std::fs::write(&path, file.to_string()).unwrap();
    let path = path.display().to_string();
    (dir, path)
});

/// Checks `kind` once with `fuzzed` as the login's answer (`fuzz_login`) or as the answer to
/// the call after a valid login; asserts what must hold of any outcome.
fn check_against(
    provider: &Provider,
    kind: &str,
    fuzz_login: bool,
    fuzzed: Answer,
) -> Result<(), TestCaseError> {
    let (text, login) = integration(kind, &provider.base, &KEY_FILE.1);
    *provider.script.lock().unwrap() = Script {
        fuzz_login,
        login: Some(login),
        fuzzed: Some(fuzzed),
    };
    let config =
        Config::parse("fuzz.toml", &text).map_err(|e| TestCaseError::fail(e.to_string()))?;
    let integration = config.integrations[0].clone();
    let started = Instant::now();
    let report = RUNTIME.block_on(credwatch::runner::run(&integration));
    prop_assert!(started.elapsed() < CHECK_TIMEOUT + Duration::from_secs(1));
    if let Err(failure) = &report.outcome {
        prop_assert!(
            !failure.message.trim().is_empty(),
            "{} failed without a message",
            kind
        );
        // When the login is what is fuzzed, no token was minted: the canary is just text.
        let secrets = secrets_of(kind)
            .iter()
            .filter(|s| !(fuzz_login && **s == MINTED));
        for secret in secrets {
            prop_assert!(
                !failure.message.contains(secret),
                "{} put a secret in its message: {}",
                kind,
                failure.message
            );
        }
    }
    Ok(())
}

macro_rules! answer_fuzz {
    ($name:ident, $kind:literal) => {
        #[test]
        fn $name() {
            let provider = Provider::start();
            proptest!(cases(), |(fuzz_login in any::<bool>(), fuzzed in answer())| {
                check_against(&provider, $kind, fuzz_login, fuzzed)?;
            });
        }
    };
}

answer_fuzz!(aws_lambda_answers, "aws_lambda");
answer_fuzz!(genesys_cloud_answers, "genesys_cloud");
answer_fuzz!(google_answers, "google");
answer_fuzz!(dynamics365_answers, "dynamics365");
answer_fuzz!(salesforce_answers, "salesforce");
answer_fuzz!(web_service_answers, "web_service");
answer_fuzz!(zendesk_answers, "zendesk");

// ---------------------------------------------------------------------------------------------
// The config loader

/// A valid config with every type, its secrets written as literals (allowed, warned about).
fn base_config() -> String {
    let mut text = String::from(
        "[defaults]\ninterval = \"5m\"\ntimeout = \"10s\"\n\n[server]\nlisten = \"127.0.0.1:9464\"\n\n\
         [genesys]\nintegration = \"fuzz genesys_cloud\"\n\n\
         [[genesys.canary]]\naction = \"custom_-_fuzz\"\ninput = { id = \"1\" }\n\n",
    );
    for kind in credwatch::verify::TYPES.iter().map(|t| t.key) {
        let (integration, _) = integration(
            kind,
            "https://provider.example",
            "/etc/credwatch/google.json",
        );
        text.push_str(&integration);
        text.push('\n');
    }
    text
}

const LINES: [&str; 20] = [
    "[[integration]]",
    "[integration.credentials]",
    "[integration.endpoints]",
    "[integration.tls]",
    "[defaults]",
    "type = \"zendesk\"",
    "type = 42",
    "interval = \"0s\"",
    "interval = \"banana\"",
    "schedule = \"* * *\"",
    "active = \"yes\"",
    "password = { file = \"\" }",
    "password = { env = \"\" }",
    "include = [\"/nonexistent/*.toml\"]",
    "org = \"\"",
    "name = \"\"",
    "[[genesys.canary]]",
    "action = \"custom/..\"",
    "input = 3",
    "genesys_trust = true",
];

/// A mutation of the base config.
#[derive(Debug, Clone)]
enum Mutation {
    ReplaceLine(usize, String),
    DeleteLine(usize),
    Truncate(usize),
    Insert(usize, String),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let line = prop_oneof![
        3 => proptest::sample::select(LINES.to_vec()).prop_map(str::to_string),
        1 => "\\PC{0,30}",
    ];
    prop_oneof![
        (0usize..200, line.clone()).prop_map(|(n, l)| Mutation::ReplaceLine(n, l)),
        (0usize..200).prop_map(Mutation::DeleteLine),
        (0usize..10_000).prop_map(Mutation::Truncate),
        (0usize..10_000, "\\PC{1,8}").prop_map(|(n, s)| Mutation::Insert(n, s)),
    ]
}

fn apply(text: &str, mutation: &Mutation) -> String {
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    let floor = |n: usize| {
        let mut n = n % (text.len() + 1);
        while !text.is_char_boundary(n) {
            n -= 1;
        }
        n
    };
    // A text truncated to nothing has no line to replace or delete: one empty line it is.
    if lines.is_empty() {
        lines.push(String::new());
    }
    match mutation {
        Mutation::ReplaceLine(n, line) => {
            let n = n % lines.len();
            lines[n] = line.clone();
            lines.join("\n")
        }
        Mutation::DeleteLine(n) => {
            lines.remove(n % lines.len());
            lines.join("\n")
        }
        Mutation::Truncate(n) => text[..floor(*n)].to_string(),
        Mutation::Insert(n, s) => {
            let n = floor(*n);
            format!("{}{s}{}", &text[..n], &text[n..])
        }
    }
}

#[test]
fn config_loader_on_mutated_configs() {
    let base = base_config();
    let loaded = Config::parse("fuzz.toml", &base).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(loaded.integrations.len(), credwatch::verify::TYPES.len());
    // Found by the fuzzer: truncated to nothing, then a line replaced.
    let emptied = apply(&base, &Mutation::Truncate(0));
    let text = apply(
        &emptied,
        &Mutation::ReplaceLine(0, "[[integration]]".to_string()),
    );
    assert!(Config::parse("fuzz.toml", &text).is_err());
    proptest!(cases(), |(mutations in proptest::collection::vec(mutation(), 1..4))| {
        let text = mutations.iter().fold(base.clone(), |text, m| apply(&text, m));
        let said = match Config::parse("fuzz.toml", &text) {
            Ok(config) => config.warnings.join("\n"),
            Err(e) => {
                let message = e.to_string();
                prop_assert!(!message.trim().is_empty());
                message
            }
        };
        for secret in SECRETS {
            prop_assert!(!said.contains(secret), "a secret in: {}", said);
        }
    });
}
