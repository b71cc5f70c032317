//! What a verifier gets for one check: the HTTP client (with the check's timeout), whether to
//! make the follow-up call, and secret resolution that remembers every value it hands out so that
//! no message leaving the check can carry one.

use std::future::Future;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

use reqwest::RequestBuilder;

use super::scrub::Scrubber;
use crate::forecast::Learnt;
use crate::http::HttpClient;
use crate::outcome::{Failure, FailureReason};
use crate::secret::{Resolved, Secret, SecretField, SecretFiles};

/// What a revocation leaves of the check's timeout: a slow revocation ends this long before the
/// check would time out, so that it never turns a passed check into a failed one.
const REVOKE_MARGIN: Duration = Duration::from_millis(200);

/// When the certificates a check dealt with expire.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Certificates {
    /// The mTLS client certificate's `notAfter`, when the integration has one.
    pub client: Option<SystemTime>,
    /// The soonest `notAfter` of the server leaf certificates of HTTPS answers.
    pub server: Option<SystemTime>,
}

/// Per-check context handed to [`super::Verifier::check`].
pub struct CheckContext {
    /// The integration's name (AWS puts it in the session name).
    pub integration: String,
    /// The integration's client, requests bounded by the check's timeout.
    pub http: HttpClient,
    /// `false` skips the authenticated follow-up call.
    pub follow_up: bool,
    /// `false`: leave the minted token to expire instead of revoking it.
    pub revoke: bool,
    /// The bound on the whole check.
    pub timeout: Duration,
    handed_out: Mutex<Vec<Secret>>,
    resolved: Resolved,
    /// Where secret files are read through (the daemon's keeps what the watcher watches);
    /// without one, from the disk.
    secret_files: Option<SecretFiles>,
    started: Instant,
    client_cert_expiry: Mutex<Option<SystemTime>>,
    learnt: Mutex<Vec<Learnt>>,
}

impl CheckContext {
    pub fn new(integration: &str, http: &HttpClient, timeout: Duration, follow_up: bool) -> Self {
        Self {
            integration: integration.to_string(),
            http: http.with_timeout(timeout),
            follow_up,
            revoke: true,
            timeout,
            handed_out: Mutex::new(Vec::new()),
            resolved: Resolved::new(),
            secret_files: None,
            started: Instant::now(),
            client_cert_expiry: Mutex::new(None),
            learnt: Mutex::new(Vec::new()),
        }
    }

    /// Secret values read for this check already (see [`Resolved`]): `secret` answers from
    /// them instead of reading again.
    pub fn with_resolved(mut self, resolved: Resolved) -> Self {
        self.resolved = resolved;
        self
    }

    /// Reads secret files through `files` (see [`SecretFiles`]).
    pub fn with_secret_files(mut self, files: SecretFiles) -> Self {
        self.secret_files = Some(files);
        self
    }

    /// The secret values read for this check beforehand ([`Self::with_resolved`]).
    pub fn into_resolved(self) -> Resolved {
        self.resolved
    }

    /// Reads a secret field now (or takes it from what was read for this check); a reference
    /// that does not resolve is a `config_error`.
    pub fn secret(&self, field: &SecretField) -> Result<Secret, Failure> {
        let read = match self.resolved.iter().find(|(name, _)| *name == field.field) {
            Some((_, read)) => read.clone(),
            None => match &self.secret_files {
                Some(files) => field.source.resolve_with(files),
                None => field.source.resolve(),
            }
            .map_err(|e| e.to_string()),
        };
        let secret = read.map_err(|e| {
            Failure::new(FailureReason::ConfigError, format!("{}: {e}", field.field))
        })?;
        self.remember(secret.clone());
        Ok(secret)
    }

    /// Marks a value minted during the check (an access token) as secret too.
    pub fn remember(&self, secret: Secret) {
        self.handed_out
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .push(secret);
    }

    /// Marks the HTTP Basic encodings of `user:password` secret, as sent plainly and as
    /// RFC 6749 section 2.3.1 sends it (each half form-urlencoded first): a provider that echoes
    /// the `Authorization` header must not get it into a message.
    pub fn remember_basic(&self, user: &str, password: &str) {
        use base64::Engine;
        let encode =
            |text: &str| url::form_urlencoded::byte_serialize(text.as_bytes()).collect::<String>();
        let b64 = base64::engine::general_purpose::STANDARD;
        for pair in [
            format!("{user}:{password}"),
            format!("{}:{}", encode(user), encode(password)),
        ] {
            self.remember(Secret::new(b64.encode(pair)));
        }
    }

    /// Records the `notAfter` of the client certificate the check presents (or would have).
    pub fn note_client_cert(&self, not_after: SystemTime) {
        *self
            .client_cert_expiry
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = Some(not_after);
    }

    /// Records what the check learnt of a credential's dates (see [`Learnt`]), also when the
    /// check goes on to fail.
    pub fn learn(&self, learnt: Learnt) {
        let mut all = self.learnt.lock().unwrap_or_else(|p| p.into_inner());
        crate::forecast::merge(&mut all, &[learnt]);
    }

    /// What the check learnt of its credentials' dates.
    pub fn learnt(&self) -> Vec<Learnt> {
        self.learnt
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Revokes the token this check minted with `request` (which carries it), unless the
    /// integration says `revoke = false` (then `None`). Bounded by what is left of the check's
    /// timeout less a margin; whatever happens, the check's outcome stays what it was. `Some(true)`
    /// when `provider` answered 2xx.
    pub async fn revoke(&self, provider: &str, request: RequestBuilder) -> Option<bool> {
        let send = async {
            match self.http.send(request).await {
                Ok(response) if response.status.is_success() => Ok(()),
                Ok(response) => Err(format!(
                    "{provider} answered HTTP {}",
                    response.status.as_u16()
                )),
                Err(e) => Err(e.message),
            }
        };
        self.revoke_by(provider, send).await
    }

    /// [`Self::revoke`] with the revocation made by `revocation` (`Err` says why it failed).
    pub async fn revoke_by(
        &self,
        provider: &str,
        revocation: impl Future<Output = Result<(), String>>,
    ) -> Option<bool> {
        if !self.revoke {
            return None;
        }
        let left = self
            .timeout
            .saturating_sub(self.started.elapsed())
            .saturating_sub(REVOKE_MARGIN);
        let why = match tokio::time::timeout(left, revocation).await {
            Ok(Ok(())) => return Some(true),
            Ok(Err(why)) => self.scrub(&why),
            Err(_) => format!("no answer from {provider} within the check's timeout"),
        };
        tracing::warn!(
            integration = %self.integration,
            "the token this check minted was not revoked ({why}); it stays valid until it expires"
        );
        Some(false)
    }

    /// The certificates this check presented and was shown.
    pub fn certificates(&self) -> Certificates {
        Certificates {
            client: *self
                .client_cert_expiry
                .lock()
                .unwrap_or_else(|p| p.into_inner()),
            server: self.http.server_cert_expiry(),
        }
    }

    /// What keeps every secret handed out during this check so far out of a message.
    pub fn scrubber(&self) -> Scrubber {
        let secrets = self
            .handed_out
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        Scrubber::new(secrets.iter().map(Secret::expose))
    }

    /// `message` with every secret handed out during this check, in every form a provider may
    /// echo it in, replaced by `[redacted]` (see [`Scrubber`]).
    pub fn scrub(&self, message: &str) -> String {
        self.scrubber().scrub(message)
    }

    /// Logs that something the check tried failed without failing the check (a forecast that
    /// could not be read): credwatch's own `message`, then `why`, which may quote the provider
    /// and is scrubbed as a failure's message is.
    pub fn warn(&self, message: &str, why: &str) {
        tracing::warn!(
            integration = %self.integration,
            "{message} ({}); the check goes on",
            self.scrub(why)
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::SecretRef;

    #[test]
    fn scrub_removes_handed_out_secrets() {
        let http = HttpClient::new(None).unwrap();
        let ctx = CheckContext::new("test", &http, Duration::from_secs(1), true);
        let field = SecretField {
            field: "credentials.api_token".into(),
            source: SecretRef::Literal(Secret::new("s3cr3t-value")),
        };
        ctx.secret(&field).unwrap();
        assert_eq!(
            ctx.scrub("server said s3cr3t-value is wrong"),
            "server said [redacted] is wrong"
        );
    }

    #[test]
    fn unresolvable_secret_is_config_error_naming_the_field() {
        let http = HttpClient::new(None).unwrap();
        let ctx = CheckContext::new("test", &http, Duration::from_secs(1), true);
        let field = SecretField {
            field: "credentials.client_secret".into(),
            source: SecretRef::Env("CREDWATCH_TEST_SURELY_UNSET".into()),
        };
        let failure = ctx.secret(&field).unwrap_err();
        assert_eq!(failure.reason, FailureReason::ConfigError);
        assert!(failure.message.contains("credentials.client_secret"));
        assert!(failure.message.contains("CREDWATCH_TEST_SURELY_UNSET"));
    }
}
