//! The result of one check: a success, or a failure carrying exactly one reason from a closed set
//! and a short message that never contains a secret.

use std::fmt;
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

/// Why a check failed. The set is closed: these strings are Prometheus label values and alert
/// rules match on them, so a new variant is a breaking change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureReason {
    /// The provider rejected the credential itself (wrong secret, unknown client, ...).
    InvalidCredentials,
    /// The credential is known but past its validity (expired password or certificate).
    ExpiredCredentials,
    /// The account is locked after failed attempts.
    AccountLocked,
    /// The account, user or organisation is disabled or suspended.
    AccountDisabled,
    /// The provider requires an interactive second factor.
    MfaRequired,
    /// Authenticated, but not allowed to do what the integration needs.
    PermissionDenied,
    /// A service account may not act as the configured user.
    ImpersonationDenied,
    /// A requested scope was refused or not granted.
    InvalidScope,
    /// The provider throttled us.
    RateLimited,
    /// No answer within the check's timeout.
    Timeout,
    /// DNS, connect or reset failures.
    NetworkError,
    /// TLS handshake or certificate failure.
    TlsError,
    /// The provider failed (5xx and the like).
    ProviderError,
    /// The provider answered something the protocol does not allow.
    ProtocolError,
    /// credwatch's configuration is wrong or incomplete for this check.
    ConfigError,
}

impl FailureReason {
    /// Every reason, in documentation order.
    pub const ALL: [FailureReason; 15] = [
        Self::InvalidCredentials,
        Self::ExpiredCredentials,
        Self::AccountLocked,
        Self::AccountDisabled,
        Self::MfaRequired,
        Self::PermissionDenied,
        Self::ImpersonationDenied,
        Self::InvalidScope,
        Self::RateLimited,
        Self::Timeout,
        Self::NetworkError,
        Self::TlsError,
        Self::ProviderError,
        Self::ProtocolError,
        Self::ConfigError,
    ];

    /// The reason whose label value is `label`, if one is.
    pub fn from_label(label: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|reason| reason.as_str() == label)
    }

    /// The label value, e.g. `invalid_credentials`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidCredentials => "invalid_credentials",
            Self::ExpiredCredentials => "expired_credentials",
            Self::AccountLocked => "account_locked",
            Self::AccountDisabled => "account_disabled",
            Self::MfaRequired => "mfa_required",
            Self::PermissionDenied => "permission_denied",
            Self::ImpersonationDenied => "impersonation_denied",
            Self::InvalidScope => "invalid_scope",
            Self::RateLimited => "rate_limited",
            Self::Timeout => "timeout",
            Self::NetworkError => "network_error",
            Self::TlsError => "tls_error",
            Self::ProviderError => "provider_error",
            Self::ProtocolError => "protocol_error",
            Self::ConfigError => "config_error",
        }
    }
}

impl fmt::Display for FailureReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A failed check.
#[derive(Debug, Clone, PartialEq)]
pub struct Failure {
    /// The one reason.
    pub reason: FailureReason,
    /// A short message for an operator; never contains a secret.
    pub message: String,
    /// When the provider asked us to wait (HTTP `Retry-After`), how long.
    pub retry_after: Option<Duration>,
}

impl Failure {
    pub fn new(reason: FailureReason, message: impl Into<String>) -> Self {
        Self {
            reason,
            message: message.into(),
            retry_after: None,
        }
    }

    /// The same failure, remembering how long the provider asked us to wait.
    pub fn with_retry_after(mut self, retry_after: Option<Duration>) -> Self {
        self.retry_after = retry_after;
        self
    }
}

/// Every value of a `result` label: `success`, then each reason.
pub fn results() -> impl Iterator<Item = &'static str> {
    std::iter::once("success").chain(FailureReason::ALL.iter().map(|r| r.as_str()))
}

/// `success` or the failure's reason: the `result` label, and the API's `result`.
pub fn result_of<T>(outcome: &Result<T, Failure>) -> &'static str {
    match outcome {
        Ok(_) => "success",
        Err(failure) => failure.reason.as_str(),
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.reason, self.message)
    }
}

impl std::error::Error for Failure {}

/// A passed check.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Success {
    /// Expiry of the token or session the check minted, when the provider said.
    pub token_expiry: Option<SystemTime>,
    /// Whether the minted token was revoked after the check; `None` when no revocation was
    /// attempted (the provider has none, or `revoke = false`).
    pub revoked: Option<bool>,
}

/// What a verifier returns.
pub type Outcome = Result<Success, Failure>;
