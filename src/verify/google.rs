//! Google: a service-account JWT bearer grant (RFC 7523) signed RS256 with the account's key,
//! optionally impersonating a Workspace user, then the granted scopes checked at tokeninfo. The
//! fields are validated now; the check itself lands with the Google verifier issue.

use futures_util::future::BoxFuture;
use url::Url;

use super::{CheckContext, IntegrationType, Verifier, not_supported_yet};
use crate::config::{ConfigError, Section, Spec};
use crate::outcome::Outcome;
use crate::secret::SecretField;

pub const TYPE: IntegrationType = IntegrationType {
    key: "google",
    default_name: "Google Data Actions",
    limit: 100,
    build,
};

const CREDENTIAL_TYPES: [&str; 2] = ["gcp_service_account", "workspace_service_account"];

/// The scope a `gcp_service_account` asks for when none is configured.
pub const DEFAULT_GCP_SCOPE: &str = "https://www.googleapis.com/auth/cloud-platform";

/// Where the service account's key comes from.
#[allow(dead_code)]
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

/// Fields kept for the check that lands with the Google verifier.
#[allow(dead_code)]
struct Google {
    credential_type: &'static str,
    key: Key,
    scopes: Vec<String>,
    impersonate_user: Option<String>,
    token_url: Option<Url>,
    tokeninfo_url: Option<Url>,
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
        token_url: spec.endpoints.opt_url("token_url")?,
        tokeninfo_url: spec.endpoints.opt_url("tokeninfo_url")?,
    }))
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
    fn credential_type(&self) -> &str {
        self.credential_type
    }

    fn check<'a>(&'a self, _ctx: &'a CheckContext) -> BoxFuture<'a, Outcome> {
        not_supported_yet(TYPE.key)
    }
}
