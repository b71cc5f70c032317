//! `[server]`: where credwatch serves, who may use it (`[server.basic_auth_users]`, user name to
//! bcrypt hash, as Prometheus exporters' web config has it) and HTTPS (`[server.tls]`).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use super::ConfigError;
use super::raw::RawServer;
use super::section::{Section, Source};
use crate::secret::SecretField;

/// The HTTP server's settings.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// `listen`, default `127.0.0.1:9464`.
    pub listen: SocketAddr,
    /// User name → bcrypt hash; when not empty every endpoint but `/healthz` and `/readyz`
    /// needs one of them.
    pub users: BTreeMap<String, String>,
    /// HTTPS, when configured.
    pub tls: Option<ServerTls>,
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
        for (user, hash) in self
            .basic_auth_users
            .map(|u| u.into_inner())
            .unwrap_or_default()
        {
            let span = hash.span();
            let hash = hash.into_inner();
            if user.is_empty() || user.contains(':') {
                return Err(source.error(
                    Some(span),
                    format!("server.basic_auth_users: user name {user:?} must be non-empty and without ':'"),
                ));
            }
            if hash.parse::<bcrypt::HashParts>().is_err() {
                return Err(source.error(
                    Some(span),
                    format!(
                        "server.basic_auth_users.{user}: not a bcrypt hash (want \"$2b$12$...\", e.g. from `htpasswd -nBC 12 {user}`)"
                    ),
                ));
            }
            users.insert(user, hash);
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
        Ok(ServerConfig { listen, users, tls })
    }
}
