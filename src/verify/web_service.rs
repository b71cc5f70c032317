//! Web services: a configured request, authenticated as `none`, `basic`, `user_defined` (named
//! fields substituted as `${credentials.NAME}`) or `user_defined_oauth` (a login request first,
//! whose token is offered as `${credentials.token}`), optionally over mTLS. The fields and the
//! request are validated now; the check itself lands with the web-services verifier issue.

use std::collections::BTreeMap;

use futures_util::future::BoxFuture;
use reqwest::Method;
use url::Url;

use super::{CheckContext, IntegrationType, Verifier, not_supported_yet};
use crate::config::{ConfigError, Section, Spec};
use crate::outcome::Outcome;
use crate::secret::SecretField;

pub const TYPE: IntegrationType = IntegrationType {
    key: "web_service",
    default_name: "Web Services Data Actions",
    limit: 50,
    build,
};

const CREDENTIAL_TYPES: [&str; 4] = ["none", "basic", "user_defined", "user_defined_oauth"];

/// How the request is authenticated.
#[allow(dead_code)]
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
        login_url: Url,
        client_id: String,
        client_secret: SecretField,
        fields: BTreeMap<String, SecretField>,
        token_pointer: String,
    },
}

/// The request that proves the credentials, as configured.
#[allow(dead_code)]
struct Request {
    method: Method,
    url: String,
    headers: Vec<(String, String)>,
    body: Option<String>,
    /// Accepted statuses; empty means any 2xx.
    expect_status: Vec<u16>,
    /// A JSON pointer and the value it must hold.
    expect_json: Option<(String, serde_json::Value)>,
}

/// Fields kept for the check that lands with the web-services verifier.
#[allow(dead_code)]
struct WebService {
    credential_type: &'static str,
    auth: Auth,
    request: Request,
    /// PEM paths of the mTLS client certificate and key.
    client_identity: Option<(String, String)>,
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
            Auth::UserDefinedOauth {
                login_url: c.url("login_url")?,
                client_id: c.string("client_id")?,
                client_secret: c.secret("client_secret")?,
                fields: secret_fields(c)?.unwrap_or_default(),
                token_pointer,
            }
        }
    };
    let names = placeholder_names(&auth);
    let request = build_request(&mut spec.request, &names)?;
    let client_cert = spec.tls.opt_string("client_cert")?;
    let client_key = spec.tls.opt_string("client_key")?;
    let client_identity = match (client_cert, client_key) {
        (Some(cert), Some(key)) => Some((cert, key)),
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
        client_identity,
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
    match Url::parse(&fill_placeholders(&url)) {
        Ok(parsed) if matches!(parsed.scheme(), "http" | "https") => {}
        _ => return Err(r.error("url", "must be an http:// or https:// URL")),
    }
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
    fn credential_type(&self) -> &str {
        self.credential_type
    }

    fn check<'a>(&'a self, _ctx: &'a CheckContext) -> BoxFuture<'a, Outcome> {
        not_supported_yet(TYPE.key)
    }
}
