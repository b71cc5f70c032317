//! `genesys_trust = true`: with credwatch's own AWS identity, IAM `GetRole` of the
//! integration's role (made and signed by `aws-sdk-iam`, through the same transport as STS), its
//! trust policy read for Genesys Cloud's AWS account with the external id ([`super::trust`]),
//! and its `RoleLastUsed` kept as the role's last use.

use aws_config::BehaviorVersion;
use aws_config::retry::RetryConfig;
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_sdk_iam::config::Region;
use aws_sdk_iam::error::{ProvideErrorMetadata, SdkError};

use super::trust::{self, Trust};
use super::{AwsLambda, Call, unanswered};
use crate::forecast::{Credential, Learnt};
use crate::outcome::{Failure, FailureReason};
use crate::verify::CheckContext;
use crate::verify::aws_transport::sdk_http_client;

/// IAM's region: the service is global, signed for `us-east-1` in the commercial partition.
const IAM_REGION: &str = "us-east-1";

impl AwsLambda {
    /// Reads the role with credwatch's identity `own`: `Ok` while its trust policy lets
    /// Genesys's account assume it with the external id.
    pub(super) async fn genesys_trust(
        &self,
        ctx: &CheckContext,
        own: SharedCredentialsProvider,
        account: &str,
    ) -> Result<(), Failure> {
        let mut config = aws_sdk_iam::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(IAM_REGION))
            .credentials_provider(own)
            .http_client(sdk_http_client(&ctx.http))
            .retry_config(RetryConfig::disabled());
        if let Some(endpoint) = &self.iam_endpoint {
            config = config.endpoint_url(endpoint.as_str());
        }
        let iam = aws_sdk_iam::Client::from_conf(config.build());
        let name = self.role_name();
        let answer = iam
            .get_role()
            .role_name(name)
            .send()
            .await
            .map_err(|e| self.get_role_failure(ctx, &e))?;
        let Some(role) = answer.role() else {
            return Err(Failure::new(
                FailureReason::ProtocolError,
                "IAM GetRole answered without a Role",
            ));
        };
        let used = role
            .role_last_used()
            .and_then(|u| u.last_used_date())
            .map(|at| at.secs() as f64);
        ctx.learn(Learnt {
            credential: Credential::Role,
            changed: None,
            expires: None,
            used,
        });
        let document = role.assume_role_policy_document().unwrap_or_default();
        let verdict = trust::evaluate(document, account, &self.external_id).map_err(|e| {
            Failure::new(
                FailureReason::ProtocolError,
                format!("IAM GetRole of {}: {e}", self.role_arn),
            )
        })?;
        let lost = |why: String| {
            Err(Failure::new(
                FailureReason::PermissionDenied,
                format!(
                    "the role no longer trusts Genesys's AWS account with this external id: {why} \
                     (IAM GetRole of {}; credwatch's own AssumeRole may still pass, Genesys's \
                     fails): restore the trust statement for account {account} with \
                     sts:ExternalId {:?}",
                    self.role_arn, self.external_id
                ),
            ))
        };
        match verdict {
            Trust::Trusted => Ok(()),
            Trust::Missing(why) => lost(why),
            Trust::Denied => lost(format!(
                "a Deny statement of its trust policy takes sts:AssumeRole away from account {account}"
            )),
        }
    }

    /// The role's name: the last segment of its ARN (its path is not part of it).
    fn role_name(&self) -> &str {
        self.role_arn.rsplit('/').next().unwrap_or_default()
    }

    fn get_role_failure<E>(
        &self,
        ctx: &CheckContext,
        error: &SdkError<E, aws_smithy_runtime_api::client::orchestrator::HttpResponse>,
    ) -> Failure
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        let SdkError::ServiceError(service) = error else {
            return unanswered(Call::GetRole, error);
        };
        let code = service.err().code().unwrap_or_default();
        let said = service.err().message().unwrap_or_default();
        let status = service.raw().status().as_u16();
        let (reason, hint) = match code {
            "AccessDenied" | "AccessDeniedException" => (
                FailureReason::PermissionDenied,
                format!(
                    "credwatch's own AWS identity may not read the role: allow it iam:GetRole on {}, or set genesys_trust = false",
                    self.role_arn
                ),
            ),
            "NoSuchEntity" | "NoSuchEntityException" => (
                FailureReason::ConfigError,
                format!(
                    "IAM has no role named {:?}: check role_arn",
                    self.role_name()
                ),
            ),
            "InvalidClientTokenId" | "SignatureDoesNotMatch" => (
                FailureReason::InvalidCredentials,
                "credwatch's own AWS identity was rejected, not the integration's role".to_string(),
            ),
            "Throttling" | "ThrottlingException" => (
                FailureReason::RateLimited,
                "IAM is throttling credwatch".to_string(),
            ),
            _ if status >= 500 => (
                FailureReason::ProviderError,
                "IAM failed on its side".to_string(),
            ),
            _ => (
                FailureReason::ProtocolError,
                "an IAM answer credwatch does not know".to_string(),
            ),
        };
        // IAM's words are scrubbed before they are cut, as STS's are.
        let scrubber = ctx.scrubber();
        let code = if code.is_empty() {
            format!("HTTP {status}")
        } else {
            scrubber.printable(code, 64)
        };
        let said = scrubber.printable(said, 240);
        Failure::new(
            reason,
            format!("IAM GetRole answered {code}: {said} ({hint})"),
        )
    }
}
