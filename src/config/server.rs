//! `[server]`: where credwatch serves, the host names it answers to (`names`), who may use it
//! (`[server.basic_auth_users]`, user name to bcrypt hash as Prometheus exporters' web config has
//! it, or to `{ hash, role }`) and HTTPS (`[server.tls]`).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use super::ConfigError;
use super::raw::RawServer;
use crate::secret::SecretField;
use crate::spec::{Section, Source};

/// The HTTP server's settings.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// `listen`, default `127.0.0.1:9464`.
    pub listen: SocketAddr,
    /// `names`: the DNS names operators reach credwatch by, lowercase, beside the listen address
    /// and the loopback names (the `Host` allowlist against DNS rebinding).
    pub names: Vec<String>,
    /// User name → bcrypt hash and role; when not empty every endpoint but `/healthz` and
    /// `/readyz` needs one of them.
    pub users: BTreeMap<String, User>,
    /// HTTPS, when configured.
    pub tls: Option<ServerTls>,
}

/// A user of `[server.basic_auth_users]`.
#[derive(Debug, Clone, PartialEq)]
pub struct User {
    /// The bcrypt hash of the password.
    pub hash: String,
    /// What the user may do.
    pub role: Role,
}

/// What a user may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The status page, the API's reads and `/metrics` (a Prometheus scrape user).
    Read,
    /// Also forced checks and reloads. A user given as a bare hash has this role.
    Operate,
}

/// `[server.tls]`.
#[derive(Debug, Clone)]
pub struct ServerTls {
    /// PEM certificate chain, leaf first.
    pub cert_file: PathBuf,
    /// The private key (PEM), a secret reference: a bare string is a path.
    pub key: SecretField,
}

impl RawServer {
    pub(crate) fn resolve(self, source: &Arc<Source>) -> Result<ServerConfig, ConfigError> {
        let listen = match self.listen {
            None => SocketAddr::from(([127, 0, 0, 1], 9464)),
            Some(listen) => listen.get_ref().parse().map_err(|e| {
                source.error(
                    Some(listen.span()),
                    format!("server.listen: {e} (want e.g. 127.0.0.1:9464)"),
                )
            })?,
        };
        let mut users = BTreeMap::new();
        for (user, value) in self
            .basic_auth_users
            .map(|u| u.into_inner())
            .unwrap_or_default()
        {
            let span = value.span();
            let error = |message: String| source.error(Some(span.clone()), message);
            if user.is_empty() || user.contains(':') {
                return Err(error(format!(
                    "server.basic_auth_users: user name {user:?} must be non-empty and without ':'"
                )));
            }
            let user_config = parse_user(&user, value.into_inner()).map_err(error)?;
            users.insert(user, user_config);
        }
        let mut names = Vec::new();
        for name in self.names.map(|n| n.into_inner()).unwrap_or_default() {
            let span = name.span();
            let name = name.into_inner();
            match normalise_name(&name) {
                Some(normalised) => names.push(normalised),
                None => {
                    return Err(source.error(
                        Some(span),
                        format!(
                            "server.names: {name:?} is not a host name (want e.g. \"credwatch.example.com\", without scheme or port)"
                        ),
                    ));
                }
            }
        }
        let tls = match self.tls {
            None => None,
            Some(table) => {
                let span = table.span();
                let mut section =
                    Section::new(source.clone(), "server".into(), "tls", Some(table), span);
                let cert_file = section
                    .opt_string("cert_file")?
                    .ok_or_else(|| section.error("cert_file", "missing (required)"))?;
                let key = section
                    .opt_secret_file("key_file")?
                    .ok_or_else(|| section.error("key_file", "missing (required)"))?;
                section.finish()?;
                Some(ServerTls {
                    cert_file: cert_file.into(),
                    key,
                })
            }
        };
        Ok(ServerConfig {
            listen,
            names,
            users,
            tls,
        })
    }
}

/// A user's entry: a bcrypt hash (role `operate`), or `{ hash = "...", role = "read" }`.
fn parse_user(user: &str, value: toml::Value) -> Result<User, String> {
    let field = format!("server.basic_auth_users.{user}");
    let (hash, role) = match value {
        toml::Value::String(hash) => (hash, Role::Operate),
        toml::Value::Table(mut table) => {
            let hash = match table.remove("hash") {
                Some(toml::Value::String(hash)) => hash,
                Some(_) => return Err(format!("{field}.hash: must be a string")),
                None => return Err(format!("{field}.hash: missing (required)")),
            };
            let role = match table.remove("role") {
                None => Role::Operate,
                Some(toml::Value::String(role)) if role == "read" => Role::Read,
                Some(toml::Value::String(role)) if role == "operate" => Role::Operate,
                Some(other) => {
                    return Err(format!(
                        "{field}.role: {other} is not a role (want \"read\" or \"operate\")"
                    ));
                }
            };
            if let Some(key) = table.keys().next() {
                return Err(format!(
                    "{field}.{key}: unknown key (a user has hash and role)"
                ));
            }
            (hash, role)
        }
        _ => {
            return Err(format!(
                "{field}: want a bcrypt hash or {{ hash = \"...\", role = \"read\" }}"
            ));
        }
    };
    if hash.parse::<bcrypt::HashParts>().is_err() {
        return Err(format!(
            "{field}: not a bcrypt hash (want \"$2b$12$...\", e.g. from `htpasswd -nBC 12 {user}`)"
        ));
    }
    Ok(User { hash, role })
}

/// A configured host name, lowercase and without a trailing dot; `None` if it is not one.
fn normalise_name(name: &str) -> Option<String> {
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    let valid = !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        });
    valid.then_some(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn users_are_a_hash_or_a_hash_and_a_role() {
        let hash = "$2b$04$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy".to_string();
        let plain = parse_user("ops", toml::Value::String(hash.clone())).unwrap();
        assert_eq!(plain.role, Role::Operate);
        let table: toml::Value =
            toml::from_str(&format!("hash = '{hash}'\nrole = 'read'")).unwrap();
        assert_eq!(parse_user("prom", table).unwrap().role, Role::Read);
        let bad: toml::Value = toml::from_str(&format!("hash = '{hash}'\nrole = 'admin'")).unwrap();
        assert!(
            parse_user("x", bad)
                .unwrap_err()
                .contains("server.basic_auth_users.x.role")
        );
        let extra: toml::Value = toml::from_str(&format!("hash = '{hash}'\nrol = 'read'")).unwrap();
        assert!(
            parse_user("x", extra)
                .unwrap_err()
                .contains(".rol: unknown key")
        );
        let not_hash = toml::Value::String("secret".into());
        assert!(
            parse_user("x", not_hash)
                .unwrap_err()
                .contains("not a bcrypt hash")
        );
    }

    #[test]
    fn names_are_host_names() {
        assert_eq!(
            normalise_name("Credwatch.Example.COM."),
            Some("credwatch.example.com".into())
        );
        assert_eq!(normalise_name("https://x.example"), None);
        assert_eq!(normalise_name("x.example:9464"), None);
        assert_eq!(normalise_name(""), None);
    }
}
