//! A web service's mTLS client identity: the certificate and key read at every check (they get
//! renewed), an expired certificate failing before any request, and the client built from them
//! kept until the files change.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::Mutex;
use std::time::SystemTime;

use crate::http::HttpClient;
use crate::outcome::{Failure, FailureReason};
use crate::secret::SecretField;
use crate::verify::CheckContext;

/// The mTLS client identity: read at every check (certificates get renewed), with the client
/// built from it kept until the files change.
pub(super) struct Mtls {
    pub(super) cert_path: String,
    pub(super) key: SecretField,
    pub(super) ca_cert: Option<Vec<u8>>,
    /// A hash of the certificate and key last built into a client, and that client.
    pub(super) client: Mutex<Option<(u64, HttpClient)>>,
}

impl Mtls {
    /// The client presenting the certificate; an expired certificate fails here, before any
    /// request, as `expired_credentials`.
    pub(super) fn client(&self, ctx: &CheckContext) -> Result<HttpClient, Failure> {
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
