//! Wire conformance with the providers' official SDKs: each SDK logs in (tests/sdk/login.py, in
//! the virtual environment `.ci/run` makes) against a recording server on 127.0.0.1, credwatch
//! checks the same credentials against another, and the login requests are set side by side:
//! method, path, form fields, Basic credentials, JWT header and claims (lifetimes, not times),
//! SigV4's signed parameters. Every difference must be one of [`INTENDED`], with its reason.
//!
//! The SDKs' Python: `CREDWATCH_SDK_PYTHON`, else `target/sdk-venv/bin/python`. Without it (or
//! an SDK) the test follows the peer policy (`common::peer_missing`).

use crate::common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::{Value, json};
use wiremock::matchers::{method, path, path_regex};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

/// Differences between an SDK's login and credwatch's that are meant: (type, field, why).
const INTENDED: &[(&str, &str, &str)] = &[
    (
        "dynamics365",
        "form scope",
        "MSAL adds `offline_access openid profile` to ask for a refresh token and an ID token \
         for its account cache; credwatch asks for `{org_url}/.default` only: it keeps no \
         account and needs no refresh token",
    ),
    (
        "aws_lambda",
        "sigv4 signed headers",
        "credwatch signs with aws-sdk-sts, the official Rust SDK, whose SigV4 signer also signs \
         x-amz-user-agent (and content-length on AssumeRole); boto3 signs fewer headers. Both \
         are valid SigV4: STS (and moto's verifying STS in tests/aws_lambda.rs) checks whichever \
         headers the request says it signed",
    ),
    (
        "dynamics365",
        "form client_info",
        "MSAL asks for client_info to key its account cache; credwatch keeps none",
    ),
];

/// The SDKs' Python, or why there is none.
fn python() -> Result<PathBuf, String> {
    let path = std::env::var_os("CREDWATCH_SDK_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("target/sdk-venv/bin/python")
        });
    if path.exists() {
        Ok(path)
    } else {
        Err(format!(
            "{} does not exist (.ci/run makes one and sets CREDWATCH_SDK_PYTHON; or python3 -m venv target/sdk-venv, then pip install -r tests/sdk/requirements.txt)",
            path.display()
        ))
    }
}

fn skip_or_fail(why: &str) {
    common::peer_missing("the providers' SDKs", why);
}

/// Runs the SDK of `kind` with `params` (plus the recorder); its version, or why it could not.
fn run_sdk(kind: &str, recorder: &str, mut params: Value) -> Result<String, String> {
    let python = python()?;
    params["recorder"] = json!(recorder);
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/sdk/login.py");
    let out = Command::new(python)
        .arg(script)
        .arg(kind)
        .arg(params.to_string())
        .output()
        .map_err(|e| format!("cannot run the SDKs' Python: {e}"))?;
    let said: Value = serde_json::from_slice(&out.stdout).map_err(|_| {
        format!(
            "login.py {kind} printed no verdict: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })?;
    if let Some(missing) = said["missing"].as_str() {
        return Err(missing.to_string());
    }
    if let Some(after) = said["after_login"].as_str() {
        println!("{kind}: the SDK stopped after its login (compared anyway): {after}");
    }
    Ok(said["version"].as_str().unwrap_or("?").to_string())
}

/// The scope the impersonation case asks for.
const DIRECTORY_SCOPE: &str = "https://www.googleapis.com/auth/admin.directory.user.readonly";

/// A recording provider answering what both the SDK and credwatch need to get through a login.
async fn recorder(case: &str) -> MockServer {
    let server = MockServer::start().await;
    let base = server.uri();
    let ok = |body: Value| ResponseTemplate::new(200).set_body_json(body);
    let mocks: Vec<Mock> = match case {
        "genesys_cloud" => vec![
            Mock::given(path("/oauth/token")).respond_with(ok(json!({
                "access_token": "genesys-token", "token_type": "bearer", "expires_in": 86399
            }))),
            Mock::given(path("/api/v2/tokens/me")).respond_with(ok(json!({
                "organization": {"id": "o", "name": "Org"}, "homeOrganization": {"id": "o"},
                "OAuthClient": {"id": "c", "name": "credwatch"}
            }))),
        ],
        "google" | "google_impersonation" => vec![
            Mock::given(path("/token")).respond_with(ok(json!({
                "access_token": "google-token", "expires_in": 3599, "token_type": "Bearer"
            }))),
            Mock::given(path("/tokeninfo")).respond_with(ok(json!({
                "scope": if case == "google" {
                    "https://www.googleapis.com/auth/cloud-platform"
                } else {
                    DIRECTORY_SCOPE
                },
                "expires_in": 3599
            }))),
        ],
        "dynamics365" => vec![
            Mock::given(path_regex("/v2.0/.well-known/openid-configuration$")).respond_with(ok(json!({
                "token_endpoint": "https://login.microsoftonline.com/contoso.example/oauth2/v2.0/token",
                "authorization_endpoint": "https://login.microsoftonline.com/contoso.example/oauth2/v2.0/authorize",
                "device_authorization_endpoint": "https://login.microsoftonline.com/contoso.example/oauth2/v2.0/devicecode",
                "issuer": "https://login.microsoftonline.com/0000-tenant/v2.0",
            }))),
            Mock::given(path_regex("^/common/userrealm/")).respond_with(ok(json!({
                "ver": "1.0", "account_type": "Managed", "domain_name": "contoso.example"
            }))),
            Mock::given(path_regex("/oauth2/v2.0/token$")).respond_with(ok(json!({
                "token_type": "Bearer", "scope": format!("{base}/user_impersonation"),
                "expires_in": 3599, "ext_expires_in": 3599, "access_token": "entra-token"
            }))),
            Mock::given(path("/api/data/v9.2/WhoAmI")).respond_with(ok(json!({
                "UserId": "11111111-1111-1111-1111-111111111111",
                "BusinessUnitId": "22222222-2222-2222-2222-222222222222",
                "OrganizationId": "33333333-3333-3333-3333-333333333333"
            }))),
        ],
        "salesforce" => vec![
            Mock::given(path("/services/oauth2/token")).respond_with(ok(json!({
                "access_token": "00D!salesforce-token", "instance_url": base,
                "id": format!("{base}/id/00D000000000001/005000000000001"),
                "token_type": "Bearer", "issued_at": "1700000000000", "signature": "c2ln"
            }))),
            Mock::given(path_regex("^/id/")).respond_with(ok(json!({
                "user_id": "005000000000001", "organization_id": "00D000000000001", "active": true,
                "username": "svc@contoso.example"
            }))),
        ],
        "zendesk" => vec![Mock::given(path("/api/v2/users/me.json")).respond_with(ok(json!({
            "user": {"id": 42, "url": format!("{base}/api/v2/users/42.json"), "name": "Ops",
                     "email": "ops@contoso.example", "active": true, "suspended": false,
                     "role": "admin", "created_at": "2024-01-01T00:00:00Z"}
        })))],
        "aws_lambda" => {
            let expiration = (chrono::Utc::now() + chrono::Duration::seconds(900))
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
            let xml = |body: String| ResponseTemplate::new(200).set_body_raw(body, "text/xml");
            vec![
                Mock::given(method("POST"))
                    .and(wiremock::matchers::body_string_contains("Action=AssumeRole"))
                    .respond_with(xml(format!(
                        "<AssumeRoleResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><AssumeRoleResult>\
                         <Credentials><AccessKeyId>ASIATEMPORARY0000001</AccessKeyId>\
                         <SecretAccessKey>temporary/secret/key/0000000000000000000</SecretAccessKey>\
                         <SessionToken>IQoJsessiontoken</SessionToken><Expiration>{expiration}</Expiration></Credentials>\
                         <AssumedRoleUser><AssumedRoleId>AROAROLE:credwatch-sdk</AssumedRoleId>\
                         <Arn>arn:aws:sts::123456789012:assumed-role/genesys-data-actions/credwatch-sdk</Arn>\
                         </AssumedRoleUser></AssumeRoleResult><ResponseMetadata><RequestId>r1</RequestId>\
                         </ResponseMetadata></AssumeRoleResponse>"
                    ))),
                Mock::given(method("POST"))
                    .and(wiremock::matchers::body_string_contains("Action=GetCallerIdentity"))
                    .respond_with(xml(
                        "<GetCallerIdentityResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">\
                         <GetCallerIdentityResult><Arn>arn:aws:sts::123456789012:assumed-role/genesys-data-actions/credwatch-sdk</Arn>\
                         <UserId>AROAROLE:credwatch-sdk</UserId><Account>123456789012</Account>\
                         </GetCallerIdentityResult><ResponseMetadata><RequestId>r2</RequestId>\
                         </ResponseMetadata></GetCallerIdentityResponse>"
                            .to_string(),
                    )),
            ]
        }
        _ => unreachable!(),
    };
    for mock in mocks {
        mock.mount(&server).await;
    }
    server
}

/// A Google service account's JSON key file, `dir/google.json`.
fn google_key_file(dir: &Path) {
    let key = rcgen::KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, rcgen::RsaKeySize::_2048)
        .unwrap();
    let file = json!({
        "type": "service_account", "project_id": "sdk-project",
        "private_key_id": "4f1c0a6c2f1b7d0e9a8b7c6d5e4f3a2b1c0d9e8f",
        "private_key": key.serialize_pem(),
        "client_email": "credwatch@sdk-project.iam.gserviceaccount.com",
        "client_id": "100000000000000000001",
        "token_uri": "https://oauth2.googleapis.com/token",
    });
    std::fs::write(dir.join("google.json"), file.to_string()).unwrap();
}

/// The credentials both sides use, as SDK parameters and as a credwatch integration.
fn credentials(case: &str, base: &str, dir: &Path) -> (Value, String) {
    let secret = |name: &str, value: &str| {
        let path = dir.join(name);
        std::fs::write(&path, value).unwrap();
        format!("{{ file = \"{}\" }}", path.display())
    };
    match case {
        "genesys_cloud" => (
            json!({"client_id": "0b5a0ee1-52d2-4c4f-a1bb-2c8d1b0c6f3e", "client_secret": "gc-secret-value"}),
            format!(
                "client_id = \"0b5a0ee1-52d2-4c4f-a1bb-2c8d1b0c6f3e\"\nclient_secret = {}\nregion = \"mypurecloud.com\"\n\
                 [integration.endpoints]\ntoken_url = \"{base}/oauth/token\"\nverify_url = \"{base}/api/v2/tokens/me\"",
                secret("gc", "gc-secret-value")
            ),
        ),
        "google" => {
            let key_file = dir.join("google.json");
            (
                json!({"key_file": key_file, "scopes": ["https://www.googleapis.com/auth/cloud-platform"]}),
                format!(
                    "credential_type = \"gcp_service_account\"\nkey_file = \"{}\"\n\
                     [integration.endpoints]\ntoken_url = \"{base}/token\"\ntokeninfo_url = \"{base}/tokeninfo\"\nrevoke_url = \"{base}/revoke\"\ncertificates_url = \"{base}/x509/\"",
                    key_file.display()
                ),
            )
        }
        "google_impersonation" => {
            let key_file = dir.join("google.json");
            (
                json!({"key_file": key_file, "scopes": [DIRECTORY_SCOPE], "subject": "admin@contoso.example"}),
                format!(
                    "credential_type = \"workspace_service_account\"\nkey_file = \"{}\"\n\
                     scopes = [\"{DIRECTORY_SCOPE}\"]\nimpersonate_user = \"admin@contoso.example\"\n\
                     [integration.endpoints]\ntoken_url = \"{base}/token\"\ntokeninfo_url = \"{base}/tokeninfo\"\nrevoke_url = \"{base}/revoke\"\ncertificates_url = \"{base}/x509/\"",
                    key_file.display()
                ),
            )
        }
        "dynamics365" => (
            json!({"client_id": "51f81489-12ee-4a9e-aaae-a2591f45987d", "tenant": "contoso.example",
                   "username": "svc@contoso.example", "password": "entra-password", "org_url": base}),
            format!(
                "username = \"svc@contoso.example\"\npassword = {}\norg_url = \"{base}\"\n\
                 application_id = \"51f81489-12ee-4a9e-aaae-a2591f45987d\"\ntenant = \"contoso.example\"\n\
                 [integration.endpoints]\ntoken_url = \"{base}/contoso.example/oauth2/v2.0/token\"",
                secret("entra", "entra-password")
            ),
        ),
        "salesforce" => (
            json!({"username": "svc@contoso.example", "password": "sf-password",
                   "security_token": "sftoken", "client_id": "3MVG9connectedapp", "client_secret": "sf-app-secret"}),
            format!(
                "username = \"svc@contoso.example\"\npassword = {}\nsecurity_token = {}\nlogin_url = \"{base}\"\n\
                 client_id = \"3MVG9connectedapp\"\nclient_secret = {}",
                secret("sfp", "sf-password"),
                secret("sft", "sftoken"),
                secret("sfs", "sf-app-secret")
            ),
        ),
        "zendesk" => (
            json!({"subdomain": "contoso", "email": "ops@contoso.example", "api_token": "zd-api-token"}),
            format!(
                "email = \"ops@contoso.example\"\nbase_url = \"{base}\"\napi_token = {}",
                secret("zd", "zd-api-token")
            ),
        ),
        "aws_lambda" => (
            json!({"region": "us-east-1", "access_key_id": "AKIACREDWATCH0000001",
                   "secret_access_key": "credwatch/secret/access/key/000000000000",
                   "role_arn": "arn:aws:iam::123456789012:role/genesys-data-actions",
                   "session_name": "credwatch-sdk", "external_id": "org-1234"}),
            format!(
                "role_arn = \"arn:aws:iam::123456789012:role/genesys-data-actions\"\nexternal_id = \"org-1234\"\n\
                 region = \"us-east-1\"\naccess_key_id = {}\nsecret_access_key = {}\n\
                 [integration.endpoints]\nsts_endpoint = \"{base}\"",
                secret("akid", "AKIACREDWATCH0000001"),
                secret("sak", "credwatch/secret/access/key/000000000000")
            ),
        ),
        _ => unreachable!(),
    }
}

/// The parts of a request that are compared, by name.
fn parts(kind: &str, request: &Request) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    out.insert("method".into(), request.method.to_string());
    out.insert("path".into(), request.url.path().to_string());
    let is_form = request
        .headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    if is_form {
        for (name, value) in url::form_urlencoded::parse(&request.body) {
            if name == "assertion" {
                jwt_parts(&value, &mut out);
            } else {
                out.insert(format!("form {name}"), value.into_owned());
            }
        }
    }
    if let Some(auth) = request
        .headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
    {
        if let Some(basic) = auth.strip_prefix("Basic ") {
            let decoded = STANDARD.decode(basic.trim()).unwrap_or_default();
            out.insert(
                "basic credentials".into(),
                String::from_utf8_lossy(&decoded).into_owned(),
            );
        } else if let Some(sigv4) = auth.strip_prefix("AWS4-HMAC-SHA256 ") {
            sigv4_parts(sigv4, &mut out);
        } else if auth.starts_with("Bearer ") {
            out.insert("authorization".into(), "Bearer".into());
        }
    }
    if kind == "aws_lambda" {
        out.insert(
            "x-amz-security-token present".into(),
            request
                .headers
                .contains_key("x-amz-security-token")
                .to_string(),
        );
    }
    out
}

/// A JWT assertion's header fields and claims; `iat`/`exp` as the lifetime only.
fn jwt_parts(jwt: &str, out: &mut BTreeMap<String, String>) {
    let mut pieces = jwt.split('.');
    let decode = |p: Option<&str>| -> Value {
        serde_json::from_slice(
            &URL_SAFE_NO_PAD
                .decode(p.unwrap_or_default())
                .unwrap_or_default(),
        )
        .unwrap_or(Value::Null)
    };
    let (header, claims) = (decode(pieces.next()), decode(pieces.next()));
    for (name, value) in header.as_object().into_iter().flatten() {
        out.insert(format!("jwt header {name}"), value.to_string());
    }
    let claims = claims.as_object().cloned().unwrap_or_default();
    for (name, value) in &claims {
        if name != "iat" && name != "exp" {
            out.insert(format!("jwt claim {name}"), value.to_string());
        }
    }
    let lifetime = claims.get("exp").and_then(Value::as_i64).unwrap_or(0)
        - claims.get("iat").and_then(Value::as_i64).unwrap_or(0);
    out.insert("jwt lifetime (exp - iat)".into(), lifetime.to_string());
}

/// SigV4: the credential scope without its date, and the signed headers.
fn sigv4_parts(params: &str, out: &mut BTreeMap<String, String>) {
    out.insert("sigv4 algorithm".into(), "AWS4-HMAC-SHA256".into());
    for param in params.split(',') {
        let Some((name, value)) = param.trim().split_once('=') else {
            continue;
        };
        match name {
            "Credential" => {
                let scope: Vec<&str> = value.split('/').collect();
                let without_date: Vec<&str> = scope
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| *i != 1)
                    .map(|(_, s)| *s)
                    .collect();
                out.insert(
                    "sigv4 credential scope (no date)".into(),
                    without_date.join("/"),
                );
            }
            "SignedHeaders" => {
                out.insert("sigv4 signed headers".into(), value.to_string());
            }
            _ => {}
        }
    }
}

/// The requests of one side that matter: the logins and what follows them, by role. The side's
/// own recorder URL (`base`, e.g. inside Entra's scope) reads `{recorder}` on both sides.
fn by_role(
    kind: &str,
    base: &str,
    requests: &[Request],
) -> BTreeMap<&'static str, BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    for request in requests {
        let path = request.url.path();
        let body = String::from_utf8_lossy(&request.body);
        let role = match kind {
            "aws_lambda" if body.contains("Action=AssumeRole") => "AssumeRole",
            "aws_lambda" if body.contains("Action=GetCallerIdentity") => "GetCallerIdentity",
            "zendesk" if path == "/api/v2/users/me.json" => "users/me",
            _ if path.ends_with("/token") && request.method.as_str() == "POST" => "token request",
            _ => continue,
        };
        out.entry(role).or_insert_with(|| {
            parts(kind, request)
                .into_iter()
                .map(|(name, value)| (name, value.replace(base, "{recorder}")))
                .collect()
        });
    }
    out
}

/// The differences between the SDK's requests and credwatch's: (role, part, SDK, credwatch).
fn differences(
    sdk: &BTreeMap<&'static str, BTreeMap<String, String>>,
    ours: &BTreeMap<&'static str, BTreeMap<String, String>>,
) -> Vec<(String, String, String, String)> {
    let mut out = Vec::new();
    let roles: BTreeSet<_> = sdk.keys().chain(ours.keys()).collect();
    let none = BTreeMap::new();
    for role in roles {
        let (a, b) = (
            sdk.get(role).unwrap_or(&none),
            ours.get(role).unwrap_or(&none),
        );
        if a.is_empty() || b.is_empty() {
            out.push((
                role.to_string(),
                "request".into(),
                (!a.is_empty()).to_string(),
                (!b.is_empty()).to_string(),
            ));
            continue;
        }
        let names: BTreeSet<_> = a.keys().chain(b.keys()).collect();
        for name in names {
            let (x, y) = (a.get(name), b.get(name));
            if x != y {
                let show = |v: Option<&String>| v.cloned().unwrap_or_else(|| "(absent)".into());
                out.push((role.to_string(), name.clone(), show(x), show(y)));
            }
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logins_match_the_official_sdks() {
    if let Err(why) = python() {
        return skip_or_fail(&why);
    }
    let dir = tempfile::tempdir().unwrap();
    let mut report = Vec::new();
    let mut unexpected = Vec::new();
    google_key_file(dir.path());
    for case in [
        "aws_lambda",
        "genesys_cloud",
        "google",
        "google_impersonation",
        "dynamics365",
        "salesforce",
        "zendesk",
    ] {
        let kind = case.strip_suffix("_impersonation").unwrap_or(case);
        let sdk_server = recorder(case).await;
        let ours_server = recorder(case).await;
        let (params, _) = credentials(case, &sdk_server.uri(), dir.path());
        let (_, config) = credentials(case, &ours_server.uri(), dir.path());
        let sdk_uri = sdk_server.uri();
        let kind_owned = kind.to_string();
        let version = tokio::task::spawn_blocking(move || run_sdk(&kind_owned, &sdk_uri, params))
            .await
            .unwrap();
        let version = match version {
            Ok(version) => version,
            Err(why) => return skip_or_fail(&why),
        };
        let text = format!(
            "[[integration]]\ntype = \"{kind}\"\nname = \"sdk\"\n[integration.credentials]\n{config}\n"
        );
        let outcome = common::check_only(&text).await.outcome;
        assert!(
            outcome.is_ok(),
            "{kind}: credwatch's check failed: {outcome:?}"
        );
        let sdk = by_role(
            kind,
            &sdk_server.uri(),
            &sdk_server.received_requests().await.unwrap_or_default(),
        );
        let ours = by_role(
            kind,
            &ours_server.uri(),
            &ours_server.received_requests().await.unwrap_or_default(),
        );
        assert!(
            !sdk.is_empty(),
            "{kind}: the SDK sent no login to the recorder"
        );
        report.push(format!("{case}: {version}"));
        for (role, compared) in &sdk {
            let names: Vec<&str> = compared.keys().map(String::as_str).collect();
            report.push(format!("  {role}: {}", names.join(", ")));
        }
        for (role, part, theirs, mine) in differences(&sdk, &ours) {
            let intended = INTENDED.iter().find(|(k, p, _)| *k == kind && *p == part);
            match intended {
                Some((_, _, why)) => report.push(format!(
                    "  intended: {role} {part}: SDK {theirs}, credwatch {mine} ({why})"
                )),
                None => unexpected.push(format!(
                    "{kind} {role} {part}: SDK sends {theirs}, credwatch {mine}"
                )),
            }
        }
    }
    println!("{}", report.join("\n"));
    assert!(
        unexpected.is_empty(),
        "credwatch's logins differ from the SDKs':\n{}",
        unexpected.join("\n")
    );
}
