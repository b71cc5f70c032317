//! AWS Lambda: STS `AssumeRole` of the integration's role with its external id, as Genesys Cloud
//! does, then `GetCallerIdentity` with the temporary credentials. Both calls are made and signed
//! by `aws-sdk-sts`; credwatch's own identity is configured keys or the default AWS chain.

use std::time::SystemTime;

use aws_config::BehaviorVersion;
use aws_config::retry::RetryConfig;
use aws_credential_types::Credentials;
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_credential_types::provider::error::CredentialsError;
use aws_sdk_sts::config::Region;
use aws_sdk_sts::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use futures_util::future::BoxFuture;
use tokio::sync::OnceCell;

use crate::config::intern::{SharedUrl, shared};

use super::aws_transport::sdk_http_client;
use super::{CheckContext, IntegrationType, Verifier};
use crate::config::{ConfigError, Spec};
use crate::http::{TransportError, error_chain, find_source};
use crate::outcome::{Failure, FailureReason, Outcome, Success};
use crate::secret::{Secret, SecretField};

pub const TYPE: IntegrationType = IntegrationType {
    key: "aws_lambda",
    default_name: "AWS Lambda Data Actions",
    limit: 10,
    build,
};

/// The shortest session STS grants; a health check needs no more.
const SESSION_SECONDS: i32 = 900;

struct AwsLambda {
    role_arn: String,
    external_id: String,
    region: String,
    access_key_id: Option<SecretField>,
    secret_access_key: Option<SecretField>,
    sts_endpoint: Option<SharedUrl>,
    /// The default chain's provider, built at the first check (it caches what it fetches).
    default_chain: OnceCell<Option<SharedCredentialsProvider>>,
}

fn build(spec: &mut Spec) -> Result<Box<dyn Verifier>, ConfigError> {
    let c = &mut spec.credentials;
    let role_arn = c.string("role_arn")?;
    if !is_role_arn(&role_arn) {
        return Err(c.error(
            "role_arn",
            "must be an IAM role ARN like arn:aws:iam::123456789012:role/genesys-data-actions",
        ));
    }
    // Genesys uses the org id as the external id; an org's `org_id` is the default.
    let external_id = match c.opt_string("external_id")? {
        Some(id) => id,
        None => spec.org_id.clone().ok_or_else(|| {
            c.error(
                "external_id",
                "missing (required, unless the org has an org_id)",
            )
        })?,
    };
    let region = c
        .opt_string("region")?
        .unwrap_or_else(|| "us-east-1".into());
    let access_key_id = c.opt_secret("access_key_id")?;
    let secret_access_key = c.opt_secret("secret_access_key")?;
    if access_key_id.is_some() != secret_access_key.is_some() {
        let missing = if access_key_id.is_some() {
            "secret_access_key"
        } else {
            "access_key_id"
        };
        return Err(c.error(
            missing,
            "access_key_id and secret_access_key go together (or leave both out for the default AWS chain)",
        ));
    }
    Ok(Box::new(AwsLambda {
        role_arn,
        external_id,
        region,
        access_key_id,
        secret_access_key,
        sts_endpoint: spec.endpoints.opt_url("sts_endpoint")?.map(shared),
        default_chain: OnceCell::new(),
    }))
}

/// `arn:{partition}:iam::{12 digits}:role/{path and name}`.
fn is_role_arn(arn: &str) -> bool {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    matches!(parts.as_slice(), ["arn", partition, "iam", "", account, resource]
        if partition.starts_with("aws")
            && account.len() == 12
            && account.bytes().all(|b| b.is_ascii_digit())
            && resource.strip_prefix("role/").is_some_and(|name| !name.is_empty()))
}

impl Verifier for AwsLambda {
    fn credential_type(&self) -> &'static str {
        "assume_role"
    }

    fn check<'a>(&'a self, ctx: &'a CheckContext) -> BoxFuture<'a, Outcome> {
        Box::pin(self.run(ctx))
    }
}

/// Which call failed: the integration's (AssumeRole) or the check's own follow-up.
#[derive(Clone, Copy, PartialEq)]
enum Call {
    AssumeRole,
    GetCallerIdentity,
}

impl AwsLambda {
    async fn run(&self, ctx: &CheckContext) -> Outcome {
        let own = self.own_identity(ctx).await?;
        let sts = aws_sdk_sts::Client::from_conf(self.sts_config(ctx, own));
        let assumed = sts
            .assume_role()
            .role_arn(&self.role_arn)
            .role_session_name(session_name(&ctx.integration))
            .external_id(&self.external_id)
            .duration_seconds(SESSION_SECONDS)
            .send()
            .await
            .map_err(|e| self.failure(ctx, Call::AssumeRole, &e))?;
        let Some(credentials) = assumed.credentials() else {
            return Err(Failure::new(
                FailureReason::ProtocolError,
                "STS AssumeRole answered without Credentials",
            ));
        };
        for secret in [credentials.secret_access_key(), credentials.session_token()] {
            ctx.remember(Secret::new(secret));
        }
        let expiry = SystemTime::try_from(*credentials.expiration()).ok();
        let success = Success {
            token_expiry: expiry,
            revoked: None,
        };
        if !ctx.follow_up {
            return Ok(success);
        }
        let temporary = Credentials::new(
            credentials.access_key_id(),
            credentials.secret_access_key(),
            Some(credentials.session_token().to_string()),
            expiry,
            "credwatch-assumed-role",
        );
        let as_role = aws_sdk_sts::Client::from_conf(
            self.sts_config(ctx, SharedCredentialsProvider::new(temporary)),
        );
        let identity = as_role
            .get_caller_identity()
            .send()
            .await
            .map_err(|e| self.failure(ctx, Call::GetCallerIdentity, &e))?;
        let expected = self.assumed_role_arn(&session_name(&ctx.integration));
        match identity.arn() {
            Some(arn) if arn == expected => Ok(success),
            other => Err(Failure::new(
                FailureReason::ProtocolError,
                format!(
                    "GetCallerIdentity with the role's credentials answered {}, not {expected}",
                    other.unwrap_or("no ARN")
                ),
            )),
        }
    }

    /// credwatch's own AWS identity: the configured keys (read at every check), or the default
    /// chain (environment, profile, web identity, container, instance metadata), built once.
    async fn own_identity(&self, ctx: &CheckContext) -> Result<SharedCredentialsProvider, Failure> {
        if let (Some(id), Some(secret)) = (&self.access_key_id, &self.secret_access_key) {
            let id = ctx.secret(id)?;
            let secret = ctx.secret(secret)?;
            return Ok(SharedCredentialsProvider::new(Credentials::new(
                id.expose(),
                secret.expose(),
                None,
                None,
                "credwatch-config",
            )));
        }
        let chain = self
            .default_chain
            .get_or_init(|| async {
                aws_config::defaults(BehaviorVersion::latest())
                    .region(Region::new(self.region.clone()))
                    .http_client(sdk_http_client(&ctx.http))
                    .retry_config(RetryConfig::disabled())
                    .load()
                    .await
                    .credentials_provider()
            })
            .await;
        chain
            .clone()
            .ok_or_else(|| no_identity("the default chain has no provider"))
    }

    fn sts_config(
        &self,
        ctx: &CheckContext,
        credentials: SharedCredentialsProvider,
    ) -> aws_sdk_sts::Config {
        let mut builder = aws_sdk_sts::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(self.region.clone()))
            .credentials_provider(credentials)
            .http_client(sdk_http_client(&ctx.http))
            // One check is one attempt; the schedule is the retry.
            .retry_config(RetryConfig::disabled());
        if let Some(endpoint) = &self.sts_endpoint {
            builder = builder.endpoint_url(endpoint.as_str());
        }
        builder.build()
    }

    /// `arn:{partition}:sts::{account}:assumed-role/{role name}/{session name}`; the role's path
    /// is not part of it.
    fn assumed_role_arn(&self, session_name: &str) -> String {
        let parts: Vec<&str> = self.role_arn.splitn(6, ':').collect();
        let role_name = parts[5].rsplit('/').next().unwrap_or_default();
        format!(
            "arn:{}:sts::{}:assumed-role/{role_name}/{}",
            parts[1], parts[4], session_name
        )
    }

    fn failure<E>(
        &self,
        ctx: &CheckContext,
        call: Call,
        error: &SdkError<E, HttpResponse>,
    ) -> Failure
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        let operation = match call {
            Call::AssumeRole => "AssumeRole",
            Call::GetCallerIdentity => "GetCallerIdentity",
        };
        let service = match error {
            SdkError::ServiceError(service) => service,
            SdkError::DispatchFailure(dispatch) => {
                let cause = dispatch.as_connector_error();
                if let Some(e) = cause.and_then(|c| find_source::<TransportError>(c)) {
                    return e.clone().into();
                }
                if let Some(e) = cause.and_then(|c| find_source::<CredentialsError>(c)) {
                    return no_identity(&error_chain(e));
                }
                return Failure::new(
                    FailureReason::NetworkError,
                    format!(
                        "STS {operation} could not be sent: {}",
                        DisplayErrorContext(error)
                    ),
                );
            }
            SdkError::TimeoutError(_) => {
                return Failure::new(
                    FailureReason::Timeout,
                    format!("no answer from STS {operation} in time"),
                );
            }
            SdkError::ResponseError(_) => {
                return Failure::new(
                    FailureReason::ProtocolError,
                    format!("STS {operation} answered something that is not STS's XML"),
                );
            }
            _ => {
                return Failure::new(
                    FailureReason::ConfigError,
                    format!(
                        "STS {operation} could not be made: {}",
                        DisplayErrorContext(error)
                    ),
                );
            }
        };
        let raw = service.raw().body().bytes().unwrap_or_default();
        let raw = String::from_utf8_lossy(raw);
        // STS look-alikes (moto) wrap the error in <Errors>, which the SDK does not read.
        let code = service
            .err()
            .code()
            .or_else(|| xml_element(&raw, "Code"))
            .unwrap_or_default();
        let said = service
            .err()
            .message()
            .or_else(|| xml_element(&raw, "Message"))
            .unwrap_or_default();
        let status = service.raw().status().as_u16();
        let own = "credwatch's own AWS identity";
        let (reason, hint) = match (code, call) {
            ("AccessDenied", Call::AssumeRole) => (
                FailureReason::PermissionDenied,
                format!(
                    "AWS does not say which of these it is: the role's trust policy does not \
                     trust credwatch's principal, the external id does not match the trust \
                     policy's sts:ExternalId, or the role {} does not exist",
                    self.role_arn
                ),
            ),
            ("InvalidClientTokenId" | "SignatureDoesNotMatch", Call::AssumeRole) => (
                FailureReason::InvalidCredentials,
                format!(
                    "{own} was rejected, not the integration's role: the integration is not \
                     proven broken; fix credwatch's access key"
                ),
            ),
            ("ExpiredToken" | "ExpiredTokenException", Call::AssumeRole) => (
                FailureReason::ExpiredCredentials,
                format!(
                    "{own} has expired, not the integration's role: the integration is not \
                     proven broken; renew credwatch's session credentials"
                ),
            ),
            (
                "RegionDisabledException"
                | "ValidationError"
                | "MalformedPolicyDocument"
                | "MalformedPolicyDocumentException"
                | "PackedPolicyTooLarge"
                | "PackedPolicyTooLargeException",
                _,
            ) => (
                FailureReason::ConfigError,
                format!("check role_arn, external_id and region ({})", self.region),
            ),
            ("Throttling" | "ThrottlingException" | "RequestLimitExceeded", _) => (
                FailureReason::RateLimited,
                "STS is throttling credwatch".to_string(),
            ),
            _ if status == 429 => (
                FailureReason::RateLimited,
                "too many requests: STS, or a proxy in front of it, is throttling credwatch"
                    .to_string(),
            ),
            (_, Call::GetCallerIdentity) if (400..500).contains(&status) => (
                FailureReason::InvalidCredentials,
                "STS refused the temporary credentials it had just issued for the role".to_string(),
            ),
            _ if status >= 500 => (
                FailureReason::ProviderError,
                "STS failed on its side".to_string(),
            ),
            _ => (
                FailureReason::ProtocolError,
                "an STS answer credwatch does not know".to_string(),
            ),
        };
        // STS's words are scrubbed before they are cut.
        let scrubber = ctx.scrubber();
        let mut message = if code.is_empty() {
            format!("STS {operation} answered HTTP {status} without an error code")
        } else {
            format!("STS {operation} answered {}", scrubber.printable(code, 64))
        };
        if !said.is_empty() {
            message.push_str(": ");
            message.push_str(&scrubber.printable(said, 240));
        }
        let retry_after = match reason {
            FailureReason::RateLimited => service
                .raw()
                .headers()
                .get("retry-after")
                .and_then(crate::http::retry_after_value),
            _ => None,
        };
        Failure::new(reason, format!("{message} ({hint})")).with_retry_after(retry_after)
    }
}

/// credwatch itself has no AWS identity to call STS with.
fn no_identity(detail: &str) -> Failure {
    Failure::new(
        FailureReason::ConfigError,
        format!(
            "credwatch has no AWS identity of its own ({detail}): set access_key_id and \
             secret_access_key, or give the process one through the default AWS chain"
        ),
    )
}

/// The text of the first `<name>` element of an XML error body.
fn xml_element<'a>(xml: &'a str, name: &str) -> Option<&'a str> {
    let start = xml.find(&format!("<{name}>"))? + name.len() + 2;
    let end = start + xml[start..].find(&format!("</{name}>"))?;
    Some(xml[start..end].trim())
}

/// `credwatch-<name>`, cut to STS's 64 characters of `[A-Za-z0-9+=,.@_-]`.
fn session_name(integration: &str) -> String {
    let name: String = format!("credwatch-{integration}")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "+=,.@_-".contains(c) {
                c
            } else {
                '-'
            }
        })
        .take(64)
        .collect();
    name
}

#[cfg(test)]
mod tests {
    #[test]
    fn session_names_keep_to_sts_characters() {
        assert_eq!(
            super::session_name("Lambda prod (EU)/x"),
            "credwatch-Lambda-prod--EU--x"
        );
        assert_eq!(super::session_name(&"é".repeat(100)).len(), 64);
    }

    #[test]
    fn role_arns() {
        assert!(super::is_role_arn("arn:aws:iam::123456789012:role/x"));
        assert!(super::is_role_arn(
            "arn:aws-us-gov:iam::123456789012:role/path/x"
        ));
        assert!(!super::is_role_arn("arn:aws:iam::123456789012:user/x"));
        assert!(!super::is_role_arn("arn:aws:iam::1234:role/x"));
        assert!(!super::is_role_arn("role/x"));
    }
}
