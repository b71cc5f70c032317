//! STS's error table: what an STS error means for the integration, read from its code, the
//! call that failed and the HTTP status, and what the operator should look at.

use super::Call;
use crate::outcome::FailureReason;

/// What an STS error means for the integration, read from its code, the call, and the status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Verdict {
    /// The role refused credwatch (trust policy, external id, or no such role).
    RoleRefused,
    /// credwatch's own access key was rejected.
    OwnKeyRejected,
    /// credwatch's own session credentials expired.
    OwnKeyExpired,
    /// The role ARN, external id or region is wrong.
    BadConfig,
    /// STS said it is throttling.
    Throttled,
    /// HTTP 429 without a throttling code (a proxy, perhaps).
    TooManyRequests,
    /// STS refused the temporary credentials it had just issued.
    IssuedRefused,
    /// STS failed on its side.
    StsFailed,
    /// Nothing credwatch knows.
    Unknown,
}

/// The STS error table: `code` (empty when the answer had none), the `call` that failed and the
/// HTTP `status`.
pub(super) fn sts_reason(code: &str, call: Call, status: u16) -> Verdict {
    match (code, call) {
        ("AccessDenied", Call::AssumeRole) => Verdict::RoleRefused,
        ("InvalidClientTokenId" | "SignatureDoesNotMatch", Call::AssumeRole) => {
            Verdict::OwnKeyRejected
        }
        ("ExpiredToken" | "ExpiredTokenException", Call::AssumeRole) => Verdict::OwnKeyExpired,
        (
            "RegionDisabledException"
            | "ValidationError"
            | "MalformedPolicyDocument"
            | "MalformedPolicyDocumentException"
            | "PackedPolicyTooLarge"
            | "PackedPolicyTooLargeException",
            _,
        ) => Verdict::BadConfig,
        ("Throttling" | "ThrottlingException" | "RequestLimitExceeded", _) => Verdict::Throttled,
        _ if status == 429 => Verdict::TooManyRequests,
        (_, Call::GetCallerIdentity) if (400..500).contains(&status) => Verdict::IssuedRefused,
        _ if status >= 500 => Verdict::StsFailed,
        _ => Verdict::Unknown,
    }
}

impl Verdict {
    pub(super) fn reason(self) -> FailureReason {
        match self {
            Verdict::RoleRefused => FailureReason::PermissionDenied,
            Verdict::OwnKeyRejected | Verdict::IssuedRefused => FailureReason::InvalidCredentials,
            Verdict::OwnKeyExpired => FailureReason::ExpiredCredentials,
            Verdict::BadConfig => FailureReason::ConfigError,
            Verdict::Throttled | Verdict::TooManyRequests => FailureReason::RateLimited,
            Verdict::StsFailed => FailureReason::ProviderError,
            Verdict::Unknown => FailureReason::ProtocolError,
        }
    }

    /// What the operator should look at, after STS's own words.
    pub(super) fn hint(self, role_arn: &str, region: &str) -> String {
        let own = "credwatch's own AWS identity";
        match self {
            Verdict::RoleRefused => format!(
                "AWS does not say which of these it is: the role's trust policy does not \
                 trust credwatch's principal, the external id does not match the trust \
                 policy's sts:ExternalId, or the role {role_arn} does not exist"
            ),
            Verdict::OwnKeyRejected => format!(
                "{own} was rejected, not the integration's role: the integration is not \
                 proven broken; fix credwatch's access key"
            ),
            Verdict::OwnKeyExpired => format!(
                "{own} has expired, not the integration's role: the integration is not \
                 proven broken; renew credwatch's session credentials"
            ),
            Verdict::BadConfig => format!("check role_arn, external_id and region ({region})"),
            Verdict::Throttled => "STS is throttling credwatch".to_string(),
            Verdict::TooManyRequests => {
                "too many requests: STS, or a proxy in front of it, is throttling credwatch"
                    .to_string()
            }
            Verdict::IssuedRefused => {
                "STS refused the temporary credentials it had just issued for the role".to_string()
            }
            Verdict::StsFailed => "STS failed on its side".to_string(),
            Verdict::Unknown => "an STS answer credwatch does not know".to_string(),
        }
    }
}
