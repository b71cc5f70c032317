//! The lockout guard: password logins lock accounts after a few failures, so after a check ends
//! `invalid_credentials` or `account_locked` credwatch makes no new attempt with the same
//! credentials until they change, an operator asks, or `guard_retry` has passed. This file is the
//! pure decision (attempt or hold) and the keyed fingerprint that tells "the credentials changed"
//! without ever storing them; the state file keeps what it decides.

use std::path::Path;
use std::time::Duration;

use aws_lc_rs::hmac;
use serde::{Deserialize, Serialize};

use crate::hex;
use crate::integration::Integration;
use crate::outcome::{FailureReason, Outcome};
use crate::secret::Resolved;

/// The failures after which another attempt with the same credentials risks a lockout.
pub const ENGAGING: [FailureReason; 2] = [
    FailureReason::InvalidCredentials,
    FailureReason::AccountLocked,
];

/// The name of the fingerprint key inside `state_dir`.
pub const KEY_FILE: &str = "guard.key";

/// An engaged guard, as the state file keeps it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Engaged {
    /// The reason of the failure that engaged it.
    pub reason: FailureReason,
    /// That failure's message (already free of secrets).
    pub message: String,
    /// When it engaged, unix seconds.
    pub since: f64,
    /// `KEYID:HMAC` of the credentials that failed (see [`FingerprintKey`]).
    pub fingerprint: String,
}

/// Why a held integration may be attempted once more.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Release {
    /// A secret or a credential setting differs from the one that failed.
    CredentialsChanged,
    /// An operator asked (API or `credwatch check --force`).
    Operator,
    /// `guard_retry` has passed since it engaged.
    RetryElapsed,
}

impl Release {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::CredentialsChanged => "the credentials changed",
            Self::Operator => "an operator asked for a check",
            Self::RetryElapsed => "guard_retry has passed",
        }
    }
}

/// What to do about one due check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Make the attempt; `Some` when it is the one attempt a release allows.
    Attempt(Option<Release>),
    /// Make no request: the credentials that failed would be tried again.
    Hold,
}

/// Decides whether a due check may reach the provider. `fingerprint` is the current credentials'
/// fingerprint, `None` when it cannot be computed (then only an operator or the retry time
/// releases: credwatch never guesses that credentials changed).
pub fn decide(
    engaged: Option<&Engaged>,
    fingerprint: Option<&str>,
    now: f64,
    retry: Duration,
    forced: bool,
) -> Decision {
    let Some(engaged) = engaged else {
        return Decision::Attempt(None);
    };
    if forced {
        return Decision::Attempt(Some(Release::Operator));
    }
    if let Some(current) = fingerprint
        && key_id(current) == key_id(&engaged.fingerprint)
        && current != engaged.fingerprint
    {
        return Decision::Attempt(Some(Release::CredentialsChanged));
    }
    if now - engaged.since >= retry.as_secs_f64() {
        return Decision::Attempt(Some(Release::RetryElapsed));
    }
    Decision::Hold
}

/// The guard after an attempt: engaged when it failed in a way that counts towards a lockout,
/// with the `fingerprint` of the credentials the attempt used (made only then).
pub fn after(outcome: &Outcome, now: f64, fingerprint: impl FnOnce() -> String) -> Option<Engaged> {
    let failure = outcome.as_ref().err()?;
    if !ENGAGING.contains(&failure.reason) {
        return None;
    }
    Some(Engaged {
        reason: failure.reason,
        message: failure.message.clone(),
        since: now,
        fingerprint: fingerprint(),
    })
}

/// The message a held integration reports in place of a new check.
pub fn held_message(engaged: &Engaged, name: &str, retry: Duration) -> String {
    let since = crate::clock::rfc3339(engaged.since);
    let until = crate::clock::rfc3339(engaged.since + retry.as_secs_f64());
    format!(
        "lockout guard: no attempt since {since}, when the check failed with {}, so that credwatch does not lock the account; \
         released by changing the credentials, by POST /api/v1/integrations/{name}/check or `credwatch check --force {name:?}`, \
         or at {until} (guard_retry); last failure: {}",
        engaged.reason, engaged.message
    )
}

fn key_id(fingerprint: &str) -> &str {
    fingerprint.split_once(':').map_or("", |(id, _)| id)
}

/// The random key of the credential fingerprints, kept in `state_dir/guard.key` (mode 0600) so
/// that fingerprints compare across restarts. Fingerprints carry the key's id: one made with
/// another key is never taken for a change of credentials.
pub struct FingerprintKey {
    key: hmac::Key,
    id: String,
}

impl FingerprintKey {
    /// Loads the key from `state_dir`, creating it when there is none and `create` allows.
    /// When it can be neither read nor created, a key for this process only (and the returned
    /// warning): fingerprints made with it never match saved ones.
    pub fn load(state_dir: &Path, create: bool) -> (Self, Option<String>) {
        let path = state_dir.join(KEY_FILE);
        match read_or_create(&path, create) {
            Ok(bytes) => (Self::from_bytes(&bytes), None),
            Err(e) => {
                let mut bytes = [0u8; 32];
                // aws-lc's generator only fails when the system has no randomness at all.
                let _ = aws_lc_rs::rand::fill(&mut bytes);
                (
                    Self::from_bytes(&bytes),
                    Some(format!(
                        "lockout guard: cannot use {}: {e}; a changed secret releases the guard only for changes made while this process runs",
                        path.display()
                    )),
                )
            }
        }
    }

    fn from_bytes(bytes: &[u8]) -> Self {
        let key = hmac::Key::new(hmac::HMAC_SHA256, bytes);
        let id = hex(&hmac::sign(&key, b"credwatch guard key id").as_ref()[..4]);
        Self { key, id }
    }

    /// The fingerprint of everything the integration logs in with: its credential tables as
    /// configured and every secret as `resolved` read it (a secret that does not resolve counts
    /// as its error).
    pub fn fingerprint(&self, integration: &Integration, resolved: &Resolved) -> String {
        let mut context = hmac::Context::with_key(&self.key);
        let mut feed = |part: &[u8]| {
            context.update(&(part.len() as u64).to_be_bytes());
            context.update(part);
        };
        feed(integration.kind.key.as_bytes());
        feed(integration.identity.expose().as_bytes());
        for (field, read) in resolved {
            feed(field.as_bytes());
            match read {
                Ok(value) => feed(value.expose().as_bytes()),
                Err(e) => feed(format!("unresolved: {e}").as_bytes()),
            }
        }
        format!("{}:{}", self.id, hex(context.sign().as_ref()))
    }
}

fn read_or_create(path: &Path, create: bool) -> std::io::Result<Vec<u8>> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    match std::fs::read(path) {
        Ok(bytes) if bytes.len() >= 32 => return Ok(bytes),
        Ok(_) => {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                "shorter than 32 bytes",
            ));
        }
        Err(e) if e.kind() != std::io::ErrorKind::NotFound || !create => return Err(e),
        Err(_) => {}
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut bytes = vec![0u8; 32];
    aws_lc_rs::rand::fill(&mut bytes).map_err(|_| std::io::Error::other("no randomness"))?;
    let tmp = path.with_extension("key.tmp");
    let _ = std::fs::remove_file(&tmp);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)?;
    file.write_all(&bytes)?;
    file.sync_all()?;
    // Two processes starting at once: the first key to land wins, and both use it.
    match std::fs::hard_link(&tmp, path) {
        Ok(()) => {
            let _ = std::fs::remove_file(&tmp);
            Ok(bytes)
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            let _ = std::fs::remove_file(&tmp);
            std::fs::read(path)
        }
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            Err(e)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outcome::Failure;

    const HOUR: Duration = Duration::from_secs(3600);

    fn engaged(fingerprint: &str) -> Engaged {
        Engaged {
            reason: FailureReason::InvalidCredentials,
            message: "wrong password".into(),
            since: 1000.0,
            fingerprint: fingerprint.into(),
        }
    }

    #[test]
    fn no_guard_attempts() {
        assert_eq!(
            decide(None, Some("k:a"), 0.0, HOUR, false),
            Decision::Attempt(None)
        );
    }

    #[test]
    fn same_credentials_are_held_until_retry() {
        let e = engaged("k:a");
        assert_eq!(
            decide(Some(&e), Some("k:a"), 1001.0, HOUR, false),
            Decision::Hold
        );
        assert_eq!(
            decide(Some(&e), Some("k:a"), 1000.0 + 3600.0, HOUR, false),
            Decision::Attempt(Some(Release::RetryElapsed))
        );
    }

    #[test]
    fn changed_credentials_release() {
        let e = engaged("k:a");
        assert_eq!(
            decide(Some(&e), Some("k:b"), 1001.0, HOUR, false),
            Decision::Attempt(Some(Release::CredentialsChanged))
        );
    }

    #[test]
    fn a_fingerprint_of_another_key_or_none_is_no_change() {
        let e = engaged("k:a");
        assert_eq!(
            decide(Some(&e), Some("other:b"), 1001.0, HOUR, false),
            Decision::Hold
        );
        assert_eq!(decide(Some(&e), None, 1001.0, HOUR, false), Decision::Hold);
        let unknown = engaged("");
        assert_eq!(
            decide(Some(&unknown), Some("k:b"), 1001.0, HOUR, false),
            Decision::Hold
        );
    }

    #[test]
    fn an_operator_releases() {
        let e = engaged("k:a");
        assert_eq!(
            decide(Some(&e), Some("k:a"), 1001.0, HOUR, true),
            Decision::Attempt(Some(Release::Operator))
        );
    }

    #[test]
    fn only_lockout_failures_engage() {
        let fail = |reason| Err(Failure::new(reason, "m"));
        assert!(after(&fail(FailureReason::InvalidCredentials), 1.0, String::new).is_some());
        assert!(after(&fail(FailureReason::AccountLocked), 1.0, String::new).is_some());
        assert!(after(&fail(FailureReason::Timeout), 1.0, String::new).is_none());
        assert!(after(&Ok(Default::default()), 1.0, String::new).is_none());
    }

    #[test]
    fn the_key_is_kept_private_and_reused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let (first, warning) = FingerprintKey::load(dir.path(), true);
        assert!(warning.is_none());
        let mode = std::fs::metadata(dir.path().join(KEY_FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let (second, _) = FingerprintKey::load(dir.path(), false);
        assert_eq!(first.id, second.id);
    }
}
