//! Web services: a configured request, authenticated as `none`, `basic`, `user_defined` (named
//! fields substituted as `${credentials.NAME}`) or `user_defined_oauth` (a login request first,
//! whose token is offered as `${credentials.token}`), optionally over mTLS. Success is the
//! expected status and, when configured, a JSON value in the answer.

mod mtls;
mod request;
mod template;

use mtls::Mtls;
use request::{Request, build_request};

use std::collections::BTreeMap;
use std::sync::Mutex;

use futures_util::future::BoxFuture;
use serde::{Deserialize, Serialize};

use crate::forecast::Credential;
use crate::spec::intern::SharedUrl;

use super::oauth::{self, Grant, TokenRequest};
use super::{CheckContext, IntegrationType, Verifier};
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

struct WebService {
    credential_type: &'static str,
    auth: Auth,
    request: Request,
    mtls: Option<Mtls>,
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
                url => url.map(|url| spec.endpoints.shared(url)),
            };
            let c = &mut spec.credentials;
            Auth::UserDefinedOauth {
                login_url: spec.endpoints.shared(c.url("login_url")?),
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

impl Verifier for WebService {
    /// Basic: the password; user-defined fields: an API token; user-defined OAuth and mTLS
    /// (whose certificate has its own metric): the client secret.
    fn credential(&self) -> Credential {
        match self.auth {
            Auth::Basic { .. } => Credential::Password,
            Auth::UserDefined { .. } => Credential::ApiToken,
            Auth::None | Auth::UserDefinedOauth { .. } => Credential::ClientSecret,
        }
    }

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
