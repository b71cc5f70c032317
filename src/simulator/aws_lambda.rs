//! AWS STS's query API as the SDK meets it: `POST /` with a form (`Action=AssumeRole` or
//! `GetCallerIdentity`, `Version=2011-06-15`), every request signed with SigV4 and checked
//! here against the signer's secret (credwatch's own IAM user, or the temporary credentials
//! AssumeRole issued, with their session token), answers in STS's XML. IAM's `GetRole`
//! (`Version=2010-05-08`) is answered at the same address: the roles' trust policies
//! (URL-encoded, as IAM sends them) and their last use.

use aws_lc_rs::{digest, hmac};
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;

use super::{
    Endpoints, Issued, Material, Provider, Service, Site, accounts, field, form, random_hex,
};
use crate::hex;

const NAMESPACE: &str = "https://sts.amazonaws.com/doc/2011-06-15/";

/// Temporary credentials AssumeRole issued.
#[derive(Clone)]
struct Session {
    secret: String,
    token: String,
    arn: String,
    user_id: String,
}

#[derive(Clone, Default)]
struct Sts {
    sessions: Issued<Session>,
}

pub(super) const PROVIDER: Provider = Provider {
    kind: "aws_lambda",
    services: &[Service::http("aws_sts")],
    routers,
    demo,
    secrets: &[
        ("aws-access-key-id", accounts::AWS_ACCESS_KEY_ID),
        ("aws-secret-access-key", accounts::AWS_SECRET_ACCESS_KEY),
    ],
};

fn routers(_: &Material, _: &Endpoints) -> Vec<Router> {
    vec![router()]
}

fn demo(site: &Site) -> String {
    format!(
        r#"# ---- AWS Lambda: STS AssumeRole with the external id (SigV4-signed), then GetCallerIdentity ----
[[integration]]
type = "aws_lambda"
name = "Lambda order lookup"
notes = "Healthy: the role trusts credwatch's IAM user and Genesys's AWS account with this external id (IAM GetRole reads its trust policy); Genesys last used it 3 days ago."
[integration.credentials]
role_arn = "arn:aws:iam::{account}:role/{role}"
external_id = "{external_id}"
region = "us-east-1"
access_key_id = {key_id}
secret_access_key = {secret}
genesys_trust = true
[integration.endpoints]
sts_endpoint = "{sts}"
iam_endpoint = "{sts}"

[[integration]]
type = "aws_lambda"
name = "Lambda billing"
notes = "permission_denied: credwatch may assume the role, but its trust policy no longer names Genesys's AWS account, so Genesys's data actions fail; last used 45 days ago."
[integration.credentials]
role_arn = "arn:aws:iam::{account}:role/{lost_trust_role}"
external_id = "{external_id}"
region = "us-east-1"
access_key_id = {key_id}
secret_access_key = {secret}
genesys_trust = true
[integration.endpoints]
sts_endpoint = "{sts}"
iam_endpoint = "{sts}"

[[integration]]
type = "aws_lambda"
name = "Lambda reporting"
notes = "permission_denied: this role's trust policy does not allow credwatch (STS AccessDenied)."
interval = "12s"
[integration.credentials]
role_arn = "arn:aws:iam::{account}:role/{other_role}"
external_id = "{external_id}"
region = "us-east-1"
access_key_id = {key_id}
secret_access_key = {secret}
[integration.endpoints]
sts_endpoint = "{sts}"
"#,
        account = accounts::AWS_ACCOUNT,
        role = accounts::AWS_ROLE,
        other_role = accounts::AWS_OTHER_ROLE,
        lost_trust_role = accounts::AWS_LOST_TRUST_ROLE,
        external_id = accounts::AWS_EXTERNAL_ID,
        key_id = site.secret("aws-access-key-id"),
        secret = site.secret("aws-secret-access-key"),
        sts = site.url("aws_sts"),
    )
}

fn router() -> Router {
    Router::new()
        .route("/", post(call))
        .with_state(Sts::default())
}

async fn call(
    State(sts): State<Sts>,
    method: Method,
    uri: axum::http::Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let signer = match verify(&sts, &method, &uri, &headers, &body) {
        Ok(signer) => signer,
        Err((code, message)) => return error(StatusCode::FORBIDDEN, code, message),
    };
    let form = form(&body);
    match (field(&form, "Action"), &signer) {
        (Some("AssumeRole"), Signer::User) => assume_role(&sts, &form),
        (Some("GetCallerIdentity"), Signer::User) => ok(
            "GetCallerIdentity",
            &format!(
                "<Arn>arn:aws:iam::{}:user/credwatch</Arn><UserId>AIDADEMOCREDWATCH</UserId><Account>{}</Account>",
                accounts::AWS_ACCOUNT,
                accounts::AWS_ACCOUNT
            ),
        ),
        (Some("GetCallerIdentity"), Signer::Session(session)) => ok(
            "GetCallerIdentity",
            &format!(
                "<Arn>{}</Arn><UserId>{}</UserId><Account>{}</Account>",
                session.arn,
                session.user_id,
                accounts::AWS_ACCOUNT
            ),
        ),
        (Some("GetRole"), Signer::User) => get_role(field(&form, "RoleName").unwrap_or_default()),
        (Some("AssumeRole"), Signer::Session(_)) => error(
            StatusCode::FORBIDDEN,
            "AccessDenied",
            "Roles may not be assumed by root accounts or role chaining in this demo.",
        ),
        (action, _) => error(
            StatusCode::BAD_REQUEST,
            "InvalidAction",
            &format!("Could not find operation {}", action.unwrap_or("")),
        ),
    }
}

fn assume_role(sts: &Sts, form: &[(String, String)]) -> Response {
    let role_arn = field(form, "RoleArn").unwrap_or_default();
    let session_name = field(form, "RoleSessionName").unwrap_or_default();
    let role = role_arn.rsplit('/').next().unwrap_or_default();
    let trusts_credwatch = [accounts::AWS_ROLE, accounts::AWS_LOST_TRUST_ROLE]
        .iter()
        .any(|r| role_arn == format!("arn:aws:iam::{}:role/{r}", accounts::AWS_ACCOUNT));
    if !trusts_credwatch || field(form, "ExternalId") != Some(accounts::AWS_EXTERNAL_ID) {
        return error(
            StatusCode::FORBIDDEN,
            "AccessDenied",
            &format!(
                "User: arn:aws:iam::{}:user/credwatch is not authorized to perform: sts:AssumeRole on resource: {role_arn}",
                accounts::AWS_ACCOUNT
            ),
        );
    }
    let seconds: i64 = field(form, "DurationSeconds")
        .and_then(|d| d.parse().ok())
        .unwrap_or(3600);
    let expiration = chrono::Utc::now() + chrono::Duration::seconds(seconds);
    let key_id = format!("ASIA{}", random_hex(8).to_uppercase());
    let role_id = "AROADEMOCREDWATCHROLE";
    let session = Session {
        secret: random_hex(20),
        token: format!("IQoJb3JpZ2luX2VjE{}", random_hex(32)),
        arn: format!(
            "arn:aws:sts::{}:assumed-role/{role}/{session_name}",
            accounts::AWS_ACCOUNT
        ),
        user_id: format!("{role_id}:{session_name}"),
    };
    let body = format!(
        "<Credentials><AccessKeyId>{key_id}</AccessKeyId><SecretAccessKey>{}</SecretAccessKey><SessionToken>{}</SessionToken><Expiration>{}</Expiration></Credentials><AssumedRoleUser><AssumedRoleId>{}</AssumedRoleId><Arn>{}</Arn></AssumedRoleUser>",
        session.secret,
        session.token,
        expiration.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        session.user_id,
        session.arn
    );
    sts.sessions.insert(key_id, session);
    ok("AssumeRole", &body)
}

/// IAM `GetRole`: the healthy role trusts Genesys's account and credwatch's user with the
/// external id, and Genesys used it 3 days ago; the billing role's Genesys statement was
/// removed (credwatch may still assume it), and its last use was 45 days ago.
fn get_role(name: &str) -> Response {
    let (principals, days) = match name {
        accounts::AWS_ROLE => (
            vec![
                format!("arn:aws:iam::{}:root", accounts::GENESYS_AWS_ACCOUNT),
                format!("arn:aws:iam::{}:user/credwatch", accounts::AWS_ACCOUNT),
            ],
            3,
        ),
        accounts::AWS_LOST_TRUST_ROLE => (
            vec![format!(
                "arn:aws:iam::{}:user/credwatch",
                accounts::AWS_ACCOUNT
            )],
            45,
        ),
        _ => {
            return error(
                StatusCode::NOT_FOUND,
                "NoSuchEntity",
                &format!("The role with name {name} cannot be found."),
            );
        }
    };
    let policy = serde_json::json!({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow",
        "Principal": {"AWS": principals},
        "Action": "sts:AssumeRole",
        "Condition": {"StringEquals": {"sts:ExternalId": accounts::AWS_EXTERNAL_ID}}
    }]});
    let at = |days: i64| {
        (chrono::Utc::now() - chrono::Duration::days(days))
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    };
    let role = format!(
        "<Role><Path>/</Path><AssumeRolePolicyDocument>{}</AssumeRolePolicyDocument><MaxSessionDuration>3600</MaxSessionDuration><RoleId>AROADEMO{}</RoleId><RoleName>{name}</RoleName><Arn>arn:aws:iam::{}:role/{name}</Arn><CreateDate>{}</CreateDate><RoleLastUsed><LastUsedDate>{}</LastUsedDate><Region>us-east-1</Region></RoleLastUsed></Role>",
        encode(&policy.to_string()),
        random_hex(6).to_uppercase(),
        accounts::AWS_ACCOUNT,
        at(400),
        at(days),
    );
    xml(
        StatusCode::OK,
        format!(
            "<GetRoleResponse xmlns=\"https://iam.amazonaws.com/doc/2010-05-08/\"><GetRoleResult>{role}</GetRoleResult><ResponseMetadata><RequestId>{}</RequestId></ResponseMetadata></GetRoleResponse>",
            random_hex(16)
        ),
    )
}

/// Who signed a request.
enum Signer {
    /// credwatch's own IAM user.
    User,
    /// Temporary credentials from AssumeRole.
    Session(Session),
}

/// Why STS refuses a request: its error code and message.
type Denied = (&'static str, &'static str);

/// Checks the SigV4 signature of a request: the canonical request rebuilt from what arrived,
/// the string to sign, the derived key, compared with the signature sent.
fn verify(
    sts: &Sts,
    method: &Method,
    uri: &axum::http::Uri,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Signer, Denied> {
    let auth = Authorization::of(headers)?;
    let (key_id, scope) = auth
        .credential
        .split_once('/')
        .unwrap_or((auth.credential, ""));
    let (secret, signer) = signer(sts, key_id, headers)?;
    let amz_date = headers
        .get("x-amz-date")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let signed_at = chrono::NaiveDateTime::parse_from_str(amz_date, "%Y%m%dT%H%M%SZ")
        .map(|t| t.and_utc())
        .map_err(|_| ("IncompleteSignature", "Missing or invalid X-Amz-Date"))?;
    if (chrono::Utc::now() - signed_at).num_minutes().abs() > 15 {
        return Err(("SignatureDoesNotMatch", "Signature expired"));
    }
    let canonical = canonical_request(method, uri, headers, auth.signed_headers, body);
    let string_to_sign = format!(
        "AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}",
        hex(digest::digest(&digest::SHA256, canonical.as_bytes()).as_ref())
    );
    let mut key = format!("AWS4{secret}").into_bytes();
    for part in scope.split('/') {
        key = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, &key), part.as_bytes())
            .as_ref()
            .to_vec();
    }
    let expected = hex(hmac::sign(
        &hmac::Key::new(hmac::HMAC_SHA256, &key),
        string_to_sign.as_bytes(),
    )
    .as_ref());
    if expected != auth.signature {
        return Err((
            "SignatureDoesNotMatch",
            "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method.",
        ));
    }
    Ok(signer)
}

/// The parts of an `Authorization: AWS4-HMAC-SHA256 Credential=…, SignedHeaders=…,
/// Signature=…` header.
struct Authorization<'a> {
    credential: &'a str,
    signed_headers: &'a str,
    signature: &'a str,
}

impl<'a> Authorization<'a> {
    fn of(headers: &'a HeaderMap) -> Result<Self, Denied> {
        const MISSING: Denied = (
            "MissingAuthenticationToken",
            "Request is missing Authentication Token",
        );
        let rest = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("AWS4-HMAC-SHA256 "))
            .ok_or(MISSING)?;
        let (mut credential, mut signed_headers, mut signature) = (None, None, None);
        for part in rest.split(',') {
            match part.trim().split_once('=') {
                Some(("Credential", v)) => credential = Some(v),
                Some(("SignedHeaders", v)) => signed_headers = Some(v),
                Some(("Signature", v)) => signature = Some(v),
                _ => {}
            }
        }
        Ok(Self {
            credential: credential.ok_or(MISSING)?,
            signed_headers: signed_headers.ok_or(MISSING)?,
            signature: signature.ok_or(MISSING)?,
        })
    }
}

/// Who holds the access key `key_id`, and its secret: credwatch's IAM user, or a session
/// AssumeRole issued (whose token must come along).
fn signer(sts: &Sts, key_id: &str, headers: &HeaderMap) -> Result<(String, Signer), Denied> {
    const INVALID: Denied = (
        "InvalidClientTokenId",
        "The security token included in the request is invalid.",
    );
    if key_id == accounts::AWS_ACCESS_KEY_ID {
        return Ok((accounts::AWS_SECRET_ACCESS_KEY.to_string(), Signer::User));
    }
    let session = sts.sessions.get(key_id).ok_or(INVALID)?;
    let token = headers
        .get("x-amz-security-token")
        .and_then(|v| v.to_str().ok());
    if token != Some(session.token.as_str()) {
        return Err(INVALID);
    }
    Ok((session.secret.clone(), Signer::Session(session)))
}

/// The canonical request SigV4 signs: method, path, sorted query, the signed headers with
/// their values, and the payload's hash.
fn canonical_request(
    method: &Method,
    uri: &axum::http::Uri,
    headers: &HeaderMap,
    signed_headers: &str,
    body: &[u8],
) -> String {
    let mut canonical_headers = String::new();
    for name in signed_headers.split(';') {
        let value = headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .map(|v| v.split_whitespace().collect::<Vec<_>>().join(" "))
            .collect::<Vec<_>>()
            .join(",");
        canonical_headers.push_str(&format!("{name}:{value}\n"));
    }
    let payload_hash = match headers
        .get("x-amz-content-sha256")
        .and_then(|v| v.to_str().ok())
    {
        Some(hash) => hash.to_string(),
        None => hex(digest::digest(&digest::SHA256, body).as_ref()),
    };
    format!(
        "{method}\n{}\n{}\n{canonical_headers}\n{signed_headers}\n{payload_hash}",
        if uri.path().is_empty() {
            "/"
        } else {
            uri.path()
        },
        canonical_query(uri.query().unwrap_or_default()),
    )
}

/// The query string as SigV4 canonicalises it: pairs sorted, each half RFC 3986-encoded.
fn canonical_query(query: &str) -> String {
    let mut pairs: Vec<(String, String)> = url::form_urlencoded::parse(query.as_bytes())
        .map(|(k, v)| (encode(&k), encode(&v)))
        .collect();
    pairs.sort();
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

fn encode(text: &str) -> String {
    const UNRESERVED: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'_')
        .remove(b'.')
        .remove(b'~');
    percent_encoding::utf8_percent_encode(text, UNRESERVED).to_string()
}

fn ok(action: &str, result: &str) -> Response {
    xml(
        StatusCode::OK,
        format!(
            "<{action}Response xmlns=\"{NAMESPACE}\"><{action}Result>{result}</{action}Result><ResponseMetadata><RequestId>{}</RequestId></ResponseMetadata></{action}Response>",
            random_hex(16)
        ),
    )
}

fn error(status: StatusCode, code: &str, message: &str) -> Response {
    xml(
        status,
        format!(
            "<ErrorResponse xmlns=\"{NAMESPACE}\"><Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message></Error><RequestId>{}</RequestId></ErrorResponse>",
            random_hex(16)
        ),
    )
}

fn xml(status: StatusCode, body: String) -> Response {
    (status, [(header::CONTENT_TYPE, "text/xml")], body).into_response()
}
