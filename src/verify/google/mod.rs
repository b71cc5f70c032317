//! Google: first the key must still be among the service account's published keys ([`keys`]);
//! then a service-account JWT bearer grant (RFC 7523) signed RS256 with the account's key,
//! optionally impersonating a Workspace user, sent as google-auth sends it; then the granted
//! scopes checked at tokeninfo; then `POST https://oauth2.googleapis.com/revoke` revokes the
//! token (unless `revoke = false`).

mod keys;

use std::time::{SystemTime, UNIX_EPOCH};

use futures_util::future::BoxFuture;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::{Deserialize, Serialize};
use url::Url;

use crate::forecast::Credential;
use crate::spec::intern::SharedUrl;

use super::oauth::{self, TokenError};
use super::{CheckContext, IntegrationType, Verifier, status_failure};
use crate::http::json_problem;
use crate::outcome::{Failure, FailureReason, Outcome, Success};
use crate::secret::{Secret, SecretField};
use crate::spec::{ConfigError, Section, Spec};

pub const TYPE: IntegrationType = IntegrationType {
    key: "google",
    default_name: "Google Data Actions",
    limit: 100,
    genesys_type_ids: &["google-data-actions", "google-cloud-data-actions"],
    build,
};

const CREDENTIAL_TYPES: [&str; 2] = ["gcp_service_account", "workspace_service_account"];

const PROVIDER: &str = "Google";

/// The assertion's audience, whatever the token URL: google-auth always sends this one.
const AUDIENCE: &str = "https://oauth2.googleapis.com/token";

/// Where the granted token's scopes are read back.
const TOKENINFO: &str = "https://oauth2.googleapis.com/tokeninfo";

/// Where Google revokes a token (`endpoints.revoke_url` overrides it).
const REVOKE: &str = "https://oauth2.googleapis.com/revoke";

/// google-auth's assertion lifetime, the most Google accepts.
const ASSERTION_LIFETIME_SECS: u64 = 3600;

/// The scope a `gcp_service_account` asks for when none is configured.
pub const DEFAULT_GCP_SCOPE: &str = "https://www.googleapis.com/auth/cloud-platform";

/// Where the service account's key comes from.
enum Key {
    /// The JSON key file as Google hands it out.
    File(SecretField),
    /// The key's fields, pasted into the config.
    Fields {
        client_email: String,
        client_id: Option<String>,
        private_key_id: String,
        private_key: SecretField,
    },
}

struct Google {
    credential_type: &'static str,
    key: Key,
    scopes: Vec<String>,
    impersonate_user: Option<String>,
    token_url: Option<SharedUrl>,
    tokeninfo_url: SharedUrl,
    revoke_url: SharedUrl,
    /// Where the service account's public key certificates are read, up to the email.
    certificates_url: SharedUrl,
}

fn build(spec: &mut Spec) -> Result<Box<dyn Verifier>, ConfigError> {
    let c = &mut spec.credentials;
    let credential_type = c.one_of("credential_type", &CREDENTIAL_TYPES)?;
    let workspace = credential_type == "workspace_service_account";
    let key = match c.opt_secret_file("key_file")? {
        Some(file) => {
            for field in [
                "client_email",
                "service_account_email",
                "client_id",
                "private_key_id",
                "private_key",
            ] {
                if c.has(field) {
                    return Err(c.error(field, "set either key_file or the key's fields, not both"));
                }
            }
            Key::File(file)
        }
        None => key_fields(c, workspace)?,
    };
    let scopes = match c.opt_string_list("scopes")? {
        Some(scopes) if !scopes.is_empty() => scopes,
        _ if workspace => {
            return Err(c.error("scopes", "missing (required for workspace_service_account)"));
        }
        _ => vec![DEFAULT_GCP_SCOPE.to_string()],
    };
    let impersonate_user = c.opt_string("impersonate_user")?;
    if impersonate_user.as_ref().is_some_and(|u| !u.contains('@')) {
        return Err(c.error(
            "impersonate_user",
            "must be the email address of a Workspace user",
        ));
    }
    Ok(Box::new(Google {
        credential_type,
        key,
        scopes,
        impersonate_user,
        token_url: spec
            .endpoints
            .opt_url("token_url")?
            .map(|url| spec.endpoints.shared(url)),
        tokeninfo_url: spec.endpoints.opt_url("tokeninfo_url")?.map_or_else(
            || {
                spec.endpoints
                    .shared(Url::parse(TOKENINFO).expect("valid default URL"))
            },
            |url| spec.endpoints.shared(url),
        ),
        revoke_url: spec.endpoints.opt_url("revoke_url")?.map_or_else(
            || {
                spec.endpoints
                    .shared(Url::parse(REVOKE).expect("valid default URL"))
            },
            |url| spec.endpoints.shared(url),
        ),
        certificates_url: certificates_url(spec)?,
    }))
}

/// `endpoints.certificates_url`, ending in `/` so that the email is appended to it.
fn certificates_url(spec: &mut Spec) -> Result<SharedUrl, ConfigError> {
    let mut url = spec
        .endpoints
        .opt_url("certificates_url")?
        .unwrap_or_else(|| Url::parse(keys::CERTIFICATES).expect("valid default URL"));
    if !url.path().ends_with('/') {
        let path = format!("{}/", url.path());
        url.set_path(&path);
    }
    Ok(spec.endpoints.shared(url))
}

/// The key given field by field: `gcp_service_account` names the email `client_email`,
/// `workspace_service_account` names it `service_account_email`.
fn key_fields(c: &mut Section, workspace: bool) -> Result<Key, ConfigError> {
    let (email_key, client_id) = if workspace {
        ("service_account_email", None)
    } else {
        ("client_email", Some(c.string("client_id")?))
    };
    let client_email = c.string(email_key)?;
    if !client_email.contains('@') {
        return Err(c.error(email_key, "must be the service account's email address"));
    }
    Ok(Key::Fields {
        client_email,
        client_id,
        private_key_id: c.string("private_key_id")?,
        private_key: c.secret("private_key")?,
    })
}

impl Verifier for Google {
    fn credential(&self) -> Credential {
        Credential::ServiceAccountKey
    }

    fn credential_type(&self) -> &'static str {
        self.credential_type
    }

    fn check<'a>(&'a self, ctx: &'a CheckContext) -> BoxFuture<'a, Outcome> {
        Box::pin(self.run(ctx))
    }
}

/// The service account, read fresh at every check (the key file may be rotated).
struct Account {
    client_email: String,
    client_id: Option<String>,
    private_key_id: String,
    private_key: Secret,
    token_uri: Option<String>,
}

/// The JSON key file as Google hands it out (only what the check reads).
#[derive(Deserialize)]
struct KeyFile {
    #[serde(rename = "type")]
    kind: Option<String>,
    client_email: String,
    client_id: Option<String>,
    private_key_id: String,
    private_key: String,
    token_uri: Option<String>,
}

/// The assertion's claims, as google-auth writes them.
#[derive(Serialize)]
struct Claims<'a> {
    iss: &'a str,
    scope: String,
    aud: &'static str,
    iat: u64,
    exp: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    sub: Option<&'a str>,
}

/// What tokeninfo answers (only what the check reads).
#[derive(Deserialize)]
struct TokenInfo {
    #[serde(default)]
    scope: String,
}

impl Google {
    async fn run(&self, ctx: &CheckContext) -> Outcome {
        let account = self.account(ctx)?;
        // A key that cannot sign is a config error before any request.
        let assertion = Secret::new(self.assertion(&account)?);
        ctx.remember(assertion.clone());
        keys::check(
            ctx,
            &self.certificates_url,
            &account.client_email,
            &account.private_key_id,
        )
        .await?;
        let token_url = match (&self.token_url, &account.token_uri) {
            (Some(url), _) => Url::clone(url),
            (None, Some(uri)) => Url::parse(uri).map_err(|e| {
                Failure::new(
                    FailureReason::ConfigError,
                    format!("credentials.key_file: token_uri is not a URL: {e}"),
                )
            })?,
            (None, None) => Url::parse(AUDIENCE).expect("valid default URL"),
        };
        let granted = oauth::jwt_bearer(ctx, &token_url, &assertion)
            .await
            .map_err(|e| self.token_failure(&account, e))?;
        if ctx.follow_up {
            self.verify(ctx, &granted.access_token).await?;
        }
        let revoked = oauth::revoke_posting_token(
            ctx,
            PROVIDER,
            Url::clone(&self.revoke_url),
            &granted.access_token,
        )
        .await;
        Ok(Success {
            token_expiry: granted.expires_at,
            revoked,
        })
    }

    /// tokeninfo with the new token: every configured scope must be granted.
    async fn verify(&self, ctx: &CheckContext, token: &Secret) -> Result<(), Failure> {
        let mut url = Url::clone(&self.tokeninfo_url);
        url.query_pairs_mut()
            .append_pair("access_token", token.expose());
        let response = ctx.http.send(ctx.http.get(url)).await?;
        match response.status.as_u16() {
            200 => {}
            400 | 401 => {
                return Err(Failure::new(
                    FailureReason::InvalidCredentials,
                    format!(
                        "Google issued a token but tokeninfo does not know it (HTTP {})",
                        response.status.as_u16()
                    ),
                ));
            }
            _ => return Err(status_failure("Google tokeninfo", &response)),
        }
        let info: TokenInfo = response.json("Google tokeninfo")?;
        let granted: Vec<&str> = info.scope.split_whitespace().collect();
        let missing: Vec<&str> = self
            .scopes
            .iter()
            .map(String::as_str)
            .filter(|s| !granted.contains(s))
            .collect();
        if !missing.is_empty() {
            return Err(Failure::new(
                FailureReason::InvalidScope,
                format!(
                    "Google granted a token without the scope(s) {}",
                    missing.join(" ")
                ),
            ));
        }
        Ok(())
    }

    fn account(&self, ctx: &CheckContext) -> Result<Account, Failure> {
        match &self.key {
            Key::File(field) => {
                let text = ctx.secret(field)?;
                let file: KeyFile = serde_json::from_str(text.expose()).map_err(|e| {
                    Failure::new(
                        FailureReason::ConfigError,
                        format!(
                            "{}: not a service account JSON key (line {}, column {}: {})",
                            field.field,
                            e.line(),
                            e.column(),
                            json_problem(&e)
                        ),
                    )
                })?;
                if let Some(kind) = file.kind.as_deref().filter(|k| *k != "service_account") {
                    return Err(Failure::new(
                        FailureReason::ConfigError,
                        format!(
                            "{}: the key file is of type {kind:?}, not \"service_account\"",
                            field.field
                        ),
                    ));
                }
                let private_key = Secret::new(file.private_key);
                ctx.remember(private_key.clone());
                Ok(Account {
                    client_email: file.client_email,
                    client_id: file.client_id,
                    private_key_id: file.private_key_id,
                    private_key,
                    token_uri: file.token_uri,
                })
            }
            Key::Fields {
                client_email,
                client_id,
                private_key_id,
                private_key,
            } => Ok(Account {
                client_email: client_email.clone(),
                client_id: client_id.clone(),
                private_key_id: private_key_id.clone(),
                private_key: ctx.secret(private_key)?,
                token_uri: None,
            }),
        }
    }

    /// The signed assertion; a key that does not parse or sign is a `config_error`.
    fn assertion(&self, account: &Account) -> Result<String, Failure> {
        let bad_key = |detail: String| {
            let field = match self.key {
                Key::File(_) => "credentials.key_file",
                Key::Fields { .. } => "credentials.private_key",
            };
            Failure::new(
                FailureReason::ConfigError,
                format!("{field}: the private key cannot be used: {detail}"),
            )
        };
        let pem = normalize_pem(account.private_key.expose())
            .ok_or_else(|| bad_key("no -----BEGIN PRIVATE KEY----- block".into()))?;
        let key = EncodingKey::from_rsa_pem(pem.as_bytes()).map_err(|e| bad_key(e.to_string()))?;
        // The key is parsed for signing once per key content, not at every check.
        super::rsa_cache::install();
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(account.private_key_id.clone());
        let iat = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        let claims = Claims {
            iss: &account.client_email,
            scope: self.scopes.join(" "),
            aud: AUDIENCE,
            iat,
            exp: iat + ASSERTION_LIFETIME_SECS,
            sub: self.impersonate_user.as_deref(),
        };
        jsonwebtoken::encode(&header, &claims, &key).map_err(|e| bad_key(e.to_string()))
    }

    fn token_failure(&self, account: &Account, error: TokenError) -> Failure {
        oauth::provider_failure(PROVIDER, error, |code, text, _| {
            Some(match code {
                "invalid_grant" if text.contains("signature") => (
                    FailureReason::InvalidCredentials,
                    "the key was deleted from the service account, or is not its key".to_string(),
                ),
                "invalid_grant" if text.contains("not found") || text.contains("disabled") => (
                    FailureReason::AccountDisabled,
                    format!(
                        "the service account {} is deleted or disabled",
                        account.client_email
                    ),
                ),
                "invalid_grant"
                    if text.contains("iat")
                        || text.contains("exp")
                        || text.contains("timeframe")
                        || text.contains("short-lived") =>
                {
                    (
                        FailureReason::ConfigError,
                        "Google found the assertion's times wrong: check this machine's clock (NTP)"
                            .to_string(),
                    )
                }
                "unauthorized_client" if self.impersonate_user.is_some() => (
                    FailureReason::ImpersonationDenied,
                    format!(
                        "the service account may not act as {}: in the Workspace admin console, \
                         Security > API controls > Domain-wide delegation, allow client id {} for \
                         the scopes {}",
                        self.impersonate_user.as_deref().unwrap_or_default(),
                        account
                            .client_id
                            .as_deref()
                            .unwrap_or("(the service account's client id)"),
                        self.scopes.join(",")
                    ),
                ),
                "invalid_scope" => (
                    FailureReason::InvalidScope,
                    format!("Google refused the scopes {}", self.scopes.join(" ")),
                ),
                _ => return None,
            })
        })
    }
}

/// A PEM private key however it was pasted: wrapped in quotes, with literal `\n`, CRLF, stray
/// spaces or indentation, or all on one line. Returns the key with its base64 re-wrapped, or
/// `None` when no BEGIN/END block is there.
fn normalize_pem(pasted: &str) -> Option<String> {
    let text = pasted
        .trim()
        .trim_matches(|c| c == '"' || c == '\'')
        .replace("\\n", "\n")
        .replace("\\r", "");
    let label_start = text.find("-----BEGIN ")? + "-----BEGIN ".len();
    let label_end = label_start + text[label_start..].find("-----")?;
    let label = text[label_start..label_end].trim();
    let end_marker = format!("-----END {label}-----");
    let body_start = label_end + "-----".len();
    let body_end = body_start + text[body_start..].find(&end_marker)?;
    let base64: String = text[body_start..body_end]
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    let mut pem = format!("-----BEGIN {label}-----\n");
    for line in base64.as_bytes().chunks(64) {
        pem.push_str(std::str::from_utf8(line).ok()?);
        pem.push('\n');
    }
    pem.push_str(&end_marker);
    pem.push('\n');
    Some(pem)
}

#[cfg(test)]
mod tests {
    use super::normalize_pem;

    const CLEAN: &str = "-----BEGIN PRIVATE KEY-----\nQUJD\nREVG\n-----END PRIVATE KEY-----\n";

    #[test]
    fn pasted_keys_are_normalized() {
        let want = "-----BEGIN PRIVATE KEY-----\nQUJDREVG\n-----END PRIVATE KEY-----\n";
        for pasted in [
            CLEAN,
            "\"-----BEGIN PRIVATE KEY-----\\nQUJD\\nREVG\\n-----END PRIVATE KEY-----\\n\"",
            "-----BEGIN PRIVATE KEY-----\r\nQUJD\r\nREVG\r\n-----END PRIVATE KEY-----\r\n",
            "   -----BEGIN PRIVATE KEY-----\n    QUJD  \n    REVG\n   -----END PRIVATE KEY-----   ",
            "-----BEGIN PRIVATE KEY----- QUJD REVG -----END PRIVATE KEY-----",
            "'-----BEGIN PRIVATE KEY-----QUJDREVG-----END PRIVATE KEY-----'",
        ] {
            assert_eq!(normalize_pem(pasted).as_deref(), Some(want), "{pasted:?}");
        }
        assert_eq!(normalize_pem("not a key"), None);
        assert_eq!(normalize_pem("-----BEGIN PRIVATE KEY-----\nQUJD"), None);
    }
}
