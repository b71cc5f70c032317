//! Web services: a configured request, authenticated as `none`, `basic`, `user_defined` (named
//! fields substituted as `${credentials.NAME}`) or `user_defined_oauth` (a login request first,
//! whose token is offered as `${credentials.token}`), optionally over mTLS. Success is the
//! expected status and, when configured, a JSON value in the answer.

use std::collections::BTreeMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::Mutex;
use std::time::SystemTime;

use futures_util::future::BoxFuture;
use reqwest::Method;
use reqwest::header::{AUTHORIZATION, HeaderName, HeaderValue};
use serde::{Deserialize, Serialize};
use url::Url;

use crate::spec::intern::{SharedUrl, shared};

use super::oauth::{self, Grant, TokenRequest};
use super::{CheckContext, IntegrationType, Verifier, failure_for_status};
use crate::http::{HttpClient, Response};
use crate::outcome::{Failure, FailureReason, Outcome, Success};
use crate::secret::{Secret, SecretField};
use crate::spec::{ConfigError, Section, Spec};

pub const TYPE: IntegrationType = IntegrationType {
    key: "web_service",
    default_name: "Web Services Data Actions",
    limit: 50,
    genesys_type_ids: &["custom-rest-actions"],
    build,
};

const CREDENTIAL_TYPES: [&str; 4] = ["none", "basic", "user_defined", "user_defined_oauth"];

/// How the request is authenticated.
enum Auth {
    None,
    Basic {
        username: String,
        password: SecretField,
    },
    UserDefined {
        fields: BTreeMap<String, SecretField>,
    },
    UserDefinedOauth {
        login_url: SharedUrl,
        client_id: String,
        client_secret: SecretField,
        fields: BTreeMap<String, SecretField>,
        token_pointer: String,
        /// RFC 7009 revocation endpoint (`endpoints.revoke_url`), HTTPS.
        revoke_url: Option<SharedUrl>,
    },
}

/// The request that proves the credentials, as configured.
struct Request {
    method: Method,
    url: String,
    /// The URL parsed once, when it has no placeholder to fill in.
    fixed_url: Option<SharedUrl>,
    headers: Vec<(String, String)>,
    body: Option<String>,
    /// Accepted statuses; empty means any 2xx.
    expect_status: Vec<u16>,
    /// A JSON pointer and the value it must hold.
    expect_json: Option<(String, serde_json::Value)>,
}

struct WebService {
    credential_type: &'static str,
    auth: Auth,
    request: Request,
    mtls: Option<Mtls>,
}

/// The mTLS client identity: read at every check (certificates get renewed), with the client
/// built from it kept until the files change.
struct Mtls {
    cert_path: String,
    key: SecretField,
    ca_cert: Option<Vec<u8>>,
    /// A hash of the certificate and key last built into a client, and that client.
    client: Mutex<Option<(u64, HttpClient)>>,
}

fn build(spec: &mut Spec) -> Result<Box<dyn Verifier>, ConfigError> {
    let c = &mut spec.credentials;
    let credential_type = c.one_of("credential_type", &CREDENTIAL_TYPES)?;
    let auth = match credential_type {
        "none" => Auth::None,
        "basic" => Auth::Basic {
            username: c.string("username")?,
            password: c.secret("password")?,
        },
        "user_defined" => Auth::UserDefined {
            fields: secret_fields(c)?.unwrap_or_default(),
        },
        _ => {
            let token_pointer = c
                .opt_string("token_pointer")?
                .unwrap_or_else(|| "/access_token".into());
            if !token_pointer.starts_with('/') {
                return Err(c.error(
                    "token_pointer",
                    "must be a JSON pointer such as /access_token",
                ));
            }
            let revoke_url = match spec.endpoints.opt_url("revoke_url")? {
                Some(url) if url.scheme() != "https" => {
                    return Err(spec.endpoints.error(
                        "revoke_url",
                        "must be an https:// URL (RFC 7009 token revocation is HTTPS only)",
                    ));
                }
                url => url.map(shared),
            };
            let c = &mut spec.credentials;
            Auth::UserDefinedOauth {
                login_url: shared(c.url("login_url")?),
                client_id: c.string("client_id")?,
                client_secret: c.secret("client_secret")?,
                fields: secret_fields(c)?.unwrap_or_default(),
                token_pointer,
                revoke_url,
            }
        }
    };
    let names = placeholder_names(&auth);
    let request = build_request(&mut spec.request, &names)?;
    let client_cert = spec.tls.opt_string("client_cert")?;
    let client_key = spec.tls.opt_secret_file("client_key")?;
    let mtls = match (client_cert, client_key) {
        (Some(cert_path), Some(key)) => Some(Mtls {
            cert_path,
            key,
            ca_cert: spec.ca_cert.clone(),
            client: Mutex::new(None),
        }),
        (None, None) => None,
        (Some(_), None) => {
            return Err(spec
                .tls
                .error("client_key", "missing (client_cert needs it)"));
        }
        (None, Some(_)) => {
            return Err(spec
                .tls
                .error("client_cert", "missing (client_key needs it)"));
        }
    };
    Ok(Box::new(WebService {
        credential_type,
        auth,
        request,
        mtls,
    }))
}

/// `[integration.credentials.fields]`: every value is a secret reference.
fn secret_fields(c: &mut Section) -> Result<Option<BTreeMap<String, SecretField>>, ConfigError> {
    let Some(mut table) = c.opt_table("fields")? else {
        return Ok(None);
    };
    let mut fields = BTreeMap::new();
    for key in table.keys() {
        let value = table.secret(&key)?;
        fields.insert(key, value);
    }
    c.absorb(table)?;
    Ok(Some(fields))
}

/// The names `${credentials.NAME}` may use with this authentication.
fn placeholder_names(auth: &Auth) -> Vec<String> {
    match auth {
        Auth::None => Vec::new(),
        Auth::Basic { .. } => vec!["username".into(), "password".into()],
        Auth::UserDefined { fields } => fields.keys().cloned().collect(),
        Auth::UserDefinedOauth { fields, .. } => {
            let mut names: Vec<String> = fields.keys().cloned().collect();
            names.push("token".into());
            names
        }
    }
}

fn build_request(r: &mut Section, names: &[String]) -> Result<Request, ConfigError> {
    let method_text = r.opt_string("method")?.unwrap_or_else(|| "GET".into());
    let method = match method_text.to_ascii_uppercase().as_str() {
        "GET" => Method::GET,
        "POST" => Method::POST,
        "PUT" => Method::PUT,
        "PATCH" => Method::PATCH,
        "DELETE" => Method::DELETE,
        "HEAD" => Method::HEAD,
        _ => return Err(r.error("method", "must be GET, POST, PUT, PATCH, DELETE or HEAD")),
    };
    let url = r.string("url")?;
    check_placeholders(r, "url", &url, names)?;
    let fixed_url = match Url::parse(&fill_placeholders(&url)) {
        Ok(parsed) if matches!(parsed.scheme(), "http" | "https") => {
            (!url.contains(PLACEHOLDER_START)).then(|| shared(parsed))
        }
        _ => return Err(r.error("url", "must be an http:// or https:// URL")),
    };
    let mut headers = Vec::new();
    if let Some(mut table) = r.opt_table("headers")? {
        for key in table.keys() {
            let value = table.string(&key)?;
            check_placeholders(&table, &key, &value, names)?;
            headers.push((key, value));
        }
        r.absorb(table)?;
    }
    let body = r.opt_string("body")?;
    if let Some(body) = &body {
        check_placeholders(r, "body", body, names)?;
    }
    let expect_status = match r.opt_value("expect_status") {
        None => Vec::new(),
        Some(value) => statuses(&value).ok_or_else(|| {
            r.error(
                "expect_status",
                "must be an HTTP status (100-599) or an array of them",
            )
        })?,
    };
    let expect_json = match r.opt_table("expect_json")? {
        None => None,
        Some(mut table) => {
            let pointer = table.string("pointer")?;
            if !pointer.starts_with('/') {
                return Err(table.error("pointer", "must be a JSON pointer such as /status"));
            }
            let Some(equals) = table.opt_value("equals") else {
                return Err(table.error("equals", "missing (required)"));
            };
            let equals = serde_json::to_value(equals)
                .map_err(|e| table.error("equals", format!("cannot be compared as JSON: {e}")))?;
            r.absorb(table)?;
            Some((pointer, equals))
        }
    };
    Ok(Request {
        method,
        url,
        fixed_url,
        headers,
        body,
        expect_status,
        expect_json,
    })
}

fn statuses(value: &toml::Value) -> Option<Vec<u16>> {
    let one = |v: &toml::Value| {
        v.as_integer()
            .filter(|s| (100..=599).contains(s))
            .map(|s| s as u16)
    };
    match value {
        toml::Value::Array(items) if !items.is_empty() => items.iter().map(one).collect(),
        other => one(other).map(|s| vec![s]),
    }
}

const PLACEHOLDER_START: &str = "${credentials.";

/// Every `${credentials.NAME}` in `text` must name a field this authentication offers.
fn check_placeholders(
    section: &Section,
    key: &str,
    text: &str,
    names: &[String],
) -> Result<(), ConfigError> {
    let mut rest = text;
    while let Some(start) = rest.find(PLACEHOLDER_START) {
        let after = &rest[start + PLACEHOLDER_START.len()..];
        let Some(end) = after.find('}') else {
            return Err(section.error(key, "has an unterminated ${credentials. placeholder"));
        };
        let name = &after[..end];
        if !names.iter().any(|n| n == name) {
            let offered = if names.is_empty() {
                "none".to_string()
            } else {
                names.join(", ")
            };
            return Err(section.error(
                key,
                format!(
                    "${{credentials.{name}}} names no credential field (offered here: {offered})"
                ),
            ));
        }
        rest = &after[end + 1..];
    }
    Ok(())
}

/// The text with every placeholder replaced by a harmless value, to validate its shape.
fn fill_placeholders(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find(PLACEHOLDER_START) {
        out.push_str(&rest[..start]);
        let after = &rest[start..];
        let end = after.find('}').map_or(after.len(), |e| e + 1);
        out.push('x');
        rest = &after[end..];
    }
    out.push_str(rest);
    out
}

impl Verifier for WebService {
    fn credential_type(&self) -> &'static str {
        self.credential_type
    }

    fn password_login(&self) -> bool {
        matches!(self.auth, Auth::Basic { .. })
    }

    fn login_limits(&self) -> Option<&'static str> {
        match self.auth {
            Auth::Basic { .. } => Some(
                "every check sends the password, and the service's own login limits and \
                 lockout policy count each one",
            ),
            Auth::UserDefinedOauth { .. } => Some(
                "every check is a login at login_url, which providers rate-limit, and mints a \
                 token that stays valid until it expires",
            ),
            _ => None,
        }
    }

    fn check<'a>(&'a self, ctx: &'a CheckContext) -> BoxFuture<'a, Outcome> {
        Box::pin(self.run(ctx))
    }
}

/// Every field of the login answer, for `token_pointer`.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct LoginFields(serde_json::Map<String, serde_json::Value>);

impl oauth2::ExtraTokenFields for LoginFields {}

impl WebService {
    async fn run(&self, ctx: &CheckContext) -> Outcome {
        let http = match &self.mtls {
            Some(mtls) => mtls.client(ctx)?.in_check_of(&ctx.http),
            None => ctx.http.clone(),
        };
        let mut values: BTreeMap<String, Secret> = BTreeMap::new();
        let mut success = Success::default();
        // After a pass: the login's token, and where and as whom to revoke it.
        let mut revocation = None;
        match &self.auth {
            Auth::None => {}
            Auth::Basic { username, password } => {
                let password = ctx.secret(password)?;
                ctx.remember_basic(username, password.expose());
                values.insert("username".into(), Secret::new(username.clone()));
                values.insert("password".into(), password);
            }
            Auth::UserDefined { fields } => {
                for (name, field) in fields {
                    values.insert(name.clone(), ctx.secret(field)?);
                }
            }
            Auth::UserDefinedOauth {
                login_url,
                client_id,
                client_secret,
                fields,
                token_pointer,
                revoke_url,
            } => {
                for (name, field) in fields {
                    values.insert(name.clone(), ctx.secret(field)?);
                }
                let secret = ctx.secret(client_secret)?;
                let granted = oauth::request_token_via::<LoginFields>(
                    ctx,
                    &http,
                    TokenRequest {
                        token_url: login_url,
                        client_id,
                        client_secret: Some(&secret),
                        client_in_body: false,
                        grant: Grant::ClientCredentials,
                        scopes: &[],
                    },
                )
                .await
                .map_err(|e| oauth::standard_failure("Web service login", e))?;
                let token = if token_pointer == "/access_token" {
                    granted.access_token
                } else {
                    let all = serde_json::Value::Object(granted.extra.0);
                    let token = all
                        .pointer(token_pointer)
                        .and_then(|v| v.as_str())
                        .ok_or_else(|| {
                            Failure::new(
                                FailureReason::ProtocolError,
                                format!("the login answer has no string at {token_pointer}"),
                            )
                        })?;
                    let token = Secret::new(token.to_string());
                    ctx.remember(token.clone());
                    token
                };
                if let Some(url) = revoke_url {
                    revocation = Some((url, client_id, secret, token.clone()));
                }
                values.insert("token".into(), token);
                success.token_expiry = granted.expires_at;
            }
        }
        let request = self.request.build(&http, &values, &self.auth)?;
        let response = http.send(request).await?;
        self.request.judge(ctx, &response)?;
        if let Some((url, client_id, secret, token)) = revocation {
            let revoke = oauth::revoke_access_token(&http, url, client_id, &secret, &token);
            success.revoked = ctx.revoke_by("the revocation endpoint", revoke).await;
        }
        Ok(success)
    }
}

impl Mtls {
    /// The client presenting the certificate; an expired certificate fails here, before any
    /// request, as `expired_credentials`.
    fn client(&self, ctx: &CheckContext) -> Result<HttpClient, Failure> {
        let config_error = |field: &str, detail: String| {
            Failure::new(FailureReason::ConfigError, format!("tls.{field}: {detail}"))
        };
        let cert = std::fs::read(&self.cert_path).map_err(|e| {
            config_error(
                "client_cert",
                format!("cannot read {}: {e}", self.cert_path),
            )
        })?;
        let not_after = crate::certs::leaf_not_after(&cert)
            .map_err(|e| config_error("client_cert", format!("{} {e}", self.cert_path)))?;
        ctx.note_client_cert(not_after);
        if not_after <= SystemTime::now() {
            return Err(Failure::new(
                FailureReason::ExpiredCredentials,
                format!(
                    "the client certificate {} expired at {}; no request was made",
                    self.cert_path,
                    humantime::format_rfc3339_seconds(not_after)
                ),
            ));
        }
        let key = ctx.secret(&self.key)?;
        let mut identity = cert;
        identity.push(b'\n');
        identity.extend_from_slice(key.expose().as_bytes());
        let mut hasher = DefaultHasher::new();
        identity.hash(&mut hasher);
        let hash = hasher.finish();
        let mut cached = self.client.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((built, client)) = cached.as_ref()
            && *built == hash
        {
            return Ok(client.clone());
        }
        let client = HttpClient::with_identity(self.ca_cert.as_deref(), Some(&identity))
            .map_err(|e| config_error("client_key", e.to_string()))?;
        *cached = Some((hash, client.clone()));
        Ok(client)
    }
}

impl Request {
    /// The configured request with every placeholder filled: percent-encoded in the URL,
    /// verbatim in headers and body.
    fn build(
        &self,
        http: &HttpClient,
        values: &BTreeMap<String, Secret>,
        auth: &Auth,
    ) -> Result<reqwest::RequestBuilder, Failure> {
        let url = match &self.fixed_url {
            Some(url) => Url::clone(url),
            None => Url::parse(&substitute(&self.url, values, true)).map_err(|e| {
                Failure::new(
                    FailureReason::ConfigError,
                    format!("request.url is not a valid URL once filled in: {e}"),
                )
            })?,
        };
        let mut request = http.request(self.method.clone(), url);
        let mut has_authorization = false;
        for (name, value) in &self.headers {
            let header = HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
                Failure::new(
                    FailureReason::ConfigError,
                    format!("request.headers.{name} is not a valid header name"),
                )
            })?;
            let filled = substitute(value, values, false);
            let mut header_value = HeaderValue::from_str(&filled).map_err(|_| {
                Failure::new(
                    FailureReason::ConfigError,
                    format!(
                        "request.headers.{name} holds characters a header cannot carry once filled in"
                    ),
                )
            })?;
            // Marked sensitive, HTTP/2 keeps it out of its header compression table.
            header_value.set_sensitive(value.contains(PLACEHOLDER_START));
            has_authorization |= header == AUTHORIZATION;
            request = request.header(header, header_value);
        }
        if let (Auth::Basic { username, .. }, false) = (auth, has_authorization) {
            request = request.basic_auth(username, values.get("password").map(Secret::expose));
        }
        if let Some(body) = &self.body {
            request = request.body(substitute(body, values, false));
        }
        Ok(request)
    }

    /// Whether the answer proves the credentials work.
    fn judge(&self, ctx: &CheckContext, response: &Response) -> Result<(), Failure> {
        let status = response.status.as_u16();
        let expected = if self.expect_status.is_empty() {
            response.status.is_success()
        } else {
            self.expect_status.contains(&status)
        };
        if !expected {
            return Err(unexpected_status(response));
        }
        let Some((pointer, equals)) = &self.expect_json else {
            return Ok(());
        };
        let body: serde_json::Value = response.json("The web service")?;
        match body.pointer(pointer) {
            Some(found) if found == equals => Ok(()),
            found => {
                let scrubber = ctx.scrubber();
                let found = found.map_or("missing".to_string(), |v| {
                    scrubber.printable(&v.to_string(), 64)
                });
                Err(Failure::new(
                    FailureReason::ProtocolError,
                    format!(
                        "the web service answered HTTP {status} but {pointer} is {found}, not {}",
                        scrubber.printable(&equals.to_string(), 64)
                    ),
                ))
            }
        }
    }
}

/// A status outside `expect_status`, mapped.
fn unexpected_status(response: &Response) -> Failure {
    let status = response.status.as_u16();
    let text = String::from_utf8_lossy(&response.body).to_ascii_lowercase();
    // nginx (and others) refuse a missing or bad client certificate with HTTP 400.
    if status == 400 && (text.contains("ssl certificate") || text.contains("client certificate")) {
        let said = if text.contains("no required ssl certificate") {
            "no client certificate was sent, and the server requires one (set tls.client_cert and tls.client_key)"
        } else {
            "the server rejected the client certificate (check that it is issued by a CA the server trusts)"
        };
        return Failure::new(
            FailureReason::TlsError,
            format!("the web service answered HTTP 400: {said}"),
        );
    }
    failure_for_status("The web service", response.status, response.retry_after())
}

/// What a value put into a URL is percent-encoded against: all but RFC 3986's unreserved
/// characters, so a value stays one path segment or one query value.
const URL_COMPONENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// `text` with every `${credentials.NAME}` replaced by its value (percent-encoded for a URL).
fn substitute(text: &str, values: &BTreeMap<String, Secret>, in_url: bool) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find(PLACEHOLDER_START) {
        out.push_str(&rest[..start]);
        let after = &rest[start + PLACEHOLDER_START.len()..];
        let Some(end) = after.find('}') else {
            break;
        };
        let value = values
            .get(&after[..end])
            .map(Secret::expose)
            .unwrap_or_default();
        if in_url {
            out.extend(percent_encoding::utf8_percent_encode(value, URL_COMPONENT));
        } else {
            out.push_str(value);
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    out
}
