//! AWS Lambda: STS `AssumeRole` of the integration's role with its external id, as Genesys Cloud
//! does, then `GetCallerIdentity` with the temporary credentials. Both calls are made and signed
//! by `aws-sdk-sts`; credwatch's own identity is configured keys or the default AWS chain. With
//! `genesys_trust = true`, IAM `GetRole` then reads whether the role still trusts Genesys's own
//! AWS account with the external id ([`iam`]).

mod iam;
mod sts_errors;
mod trust;

use sts_errors::sts_reason;

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

use crate::forecast::Credential;
use crate::spec::intern::SharedUrl;

use super::aws_transport::sdk_http_client;
use super::{CheckContext, IntegrationType, Verifier};
use crate::http::{TransportError, error_chain, find_source};
use crate::outcome::{Failure, FailureReason, Outcome, Success};
use crate::secret::{Secret, SecretField};
use crate::spec::{ConfigError, Spec};

pub const TYPE: IntegrationType = IntegrationType {
    key: "aws_lambda",
    default_name: "AWS Lambda Data Actions",
    limit: 10,
    genesys_type_ids: &["aws-lambda-data-actions"],
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
    /// `genesys_trust = true`: the AWS account Genesys assumes the role from
    /// (`genesys_account`, default [`trust::GENESYS_ACCOUNT`]).
    genesys_trust: Option<String>,
    iam_endpoint: Option<SharedUrl>,
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
    let genesys_trust = genesys_trust(c)?;
    Ok(Box::new(AwsLambda {
        role_arn,
        external_id,
        region,
        access_key_id,
        secret_access_key,
        genesys_trust,
        sts_endpoint: spec
            .endpoints
            .opt_url("sts_endpoint")?
            .map(|url| spec.endpoints.shared(url)),
        iam_endpoint: spec
            .endpoints
            .opt_url("iam_endpoint")?
            .map(|url| spec.endpoints.shared(url)),
        default_chain: OnceCell::new(),
    }))
}

/// `genesys_trust` and `genesys_account`: the account whose trust to read, when asked.
fn genesys_trust(c: &mut crate::spec::Section) -> Result<Option<String>, ConfigError> {
    let on = c.opt_bool("genesys_trust")?.unwrap_or(false);
    let account = c.opt_string("genesys_account")?;
    match (on, account) {
        (false, None) => Ok(None),
        (false, Some(_)) => Err(c.error(
            "genesys_account",
            "only read with genesys_trust = true (set it too, or remove genesys_account)",
        )),
        (true, None) => Ok(Some(trust::GENESYS_ACCOUNT.to_string())),
        (true, Some(account))
            if account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit()) =>
        {
            Ok(Some(account))
        }
        (true, Some(_)) => Err(c.error("genesys_account", "must be a 12-digit AWS account id")),
    }
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
    /// The access key's secret.
    fn credential(&self) -> Credential {
        Credential::ClientSecret
    }

    fn credential_type(&self) -> &'static str {
        "assume_role"
    }

    fn check<'a>(&'a self, ctx: &'a CheckContext) -> BoxFuture<'a, Outcome> {
        Box::pin(self.run(ctx))
    }
}

/// Which call failed: the integration's (AssumeRole) or the check's own follow-up.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Call {
    AssumeRole,
    GetCallerIdentity,
    /// IAM's, with `genesys_trust`.
    GetRole,
}

impl AwsLambda {
    async fn run(&self, ctx: &CheckContext) -> Outcome {
        let own = self.own_identity(ctx).await?;
        let success = self.assume(ctx, own.clone()).await?;
        if let Some(account) = &self.genesys_trust {
            self.genesys_trust(ctx, own, account).await?;
        }
        Ok(success)
    }

    /// AssumeRole, then (with `follow_up`) GetCallerIdentity as the role.
    async fn assume(&self, ctx: &CheckContext, own: SharedCredentialsProvider) -> Outcome {
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
        let service = match error {
            SdkError::ServiceError(service) => service,
            unsent => return unanswered(call, unsent),
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
        let verdict = sts_reason(code, call, status);
        // STS's words are scrubbed before they are cut.
        let scrubber = ctx.scrubber();
        let operation = call.operation();
        let mut message = if code.is_empty() {
            format!("{operation} answered HTTP {status} without an error code")
        } else {
            format!("{operation} answered {}", scrubber.printable(code, 64))
        };
        if !said.is_empty() {
            message.push_str(": ");
            message.push_str(&scrubber.printable(said, 240));
        }
        let reason = verdict.reason();
        let retry_after = match reason {
            FailureReason::RateLimited => service
                .raw()
                .headers()
                .get("retry-after")
                .and_then(crate::http::retry_after_value),
            _ => None,
        };
        let hint = verdict.hint(&self.role_arn, &self.region);
        Failure::new(reason, format!("{message} ({hint})")).with_retry_after(retry_after)
    }
}

impl Call {
    /// The service and the operation: `STS AssumeRole`.
    fn operation(self) -> &'static str {
        match self {
            Call::AssumeRole => "STS AssumeRole",
            Call::GetCallerIdentity => "STS GetCallerIdentity",
            Call::GetRole => "IAM GetRole",
        }
    }
}

/// A call STS did not answer with an error of its own: not sent, timed out, or an answer that is
/// not STS's XML.
fn unanswered<E>(call: Call, error: &SdkError<E, HttpResponse>) -> Failure
where
    E: std::error::Error + 'static,
{
    let operation = call.operation();
    match error {
        SdkError::DispatchFailure(dispatch) => {
            let cause = dispatch.as_connector_error();
            if let Some(e) = cause.and_then(|c| find_source::<TransportError>(c)) {
                return e.clone().into();
            }
            if let Some(e) = cause.and_then(|c| find_source::<CredentialsError>(c)) {
                return no_identity(&error_chain(e));
            }
            Failure::new(
                FailureReason::NetworkError,
                format!(
                    "{operation} could not be sent: {}",
                    DisplayErrorContext(error)
                ),
            )
        }
        SdkError::TimeoutError(_) => Failure::new(
            FailureReason::Timeout,
            format!("no answer from {operation} in time"),
        ),
        SdkError::ResponseError(_) => Failure::new(
            FailureReason::ProtocolError,
            format!("{operation} answered something that is not AWS's XML"),
        ),
        _ => Failure::new(
            FailureReason::ConfigError,
            format!(
                "{operation} could not be made: {}",
                DisplayErrorContext(error)
            ),
        ),
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
    use super::sts_errors::Verdict;
    use super::{Call, sts_reason};
    use crate::outcome::FailureReason;

    /// The STS error table, row by row: what PROVIDERS.md maps each code to.
    #[test]
    fn sts_codes_map_to_reasons() {
        use Call::{AssumeRole as Assume, GetCallerIdentity as Identity};
        use FailureReason::*;
        let rows: &[(&str, Call, u16, FailureReason)] = &[
            ("AccessDenied", Assume, 403, PermissionDenied),
            ("InvalidClientTokenId", Assume, 403, InvalidCredentials),
            ("SignatureDoesNotMatch", Assume, 403, InvalidCredentials),
            ("ExpiredToken", Assume, 400, ExpiredCredentials),
            ("ExpiredTokenException", Assume, 400, ExpiredCredentials),
            ("RegionDisabledException", Assume, 403, ConfigError),
            ("ValidationError", Assume, 400, ConfigError),
            ("MalformedPolicyDocument", Assume, 400, ConfigError),
            ("PackedPolicyTooLarge", Assume, 400, ConfigError),
            ("ValidationError", Identity, 400, ConfigError),
            ("Throttling", Assume, 400, RateLimited),
            ("ThrottlingException", Identity, 400, RateLimited),
            ("RequestLimitExceeded", Assume, 503, RateLimited),
            ("", Assume, 429, RateLimited),
            ("SlowDown", Identity, 429, RateLimited),
            // The follow-up: a 4xx refuses the credentials STS had just issued.
            ("AccessDenied", Identity, 403, InvalidCredentials),
            ("ExpiredToken", Identity, 400, InvalidCredentials),
            ("", Identity, 401, InvalidCredentials),
            ("InternalFailure", Assume, 500, ProviderError),
            ("", Identity, 503, ProviderError),
            ("SomethingNew", Assume, 400, ProtocolError),
            ("", Assume, 302, ProtocolError),
        ];
        for &(code, call, status, reason) in rows {
            assert_eq!(
                sts_reason(code, call, status).reason(),
                reason,
                "{code:?} on {} with HTTP {status}",
                call.operation()
            );
        }
    }

    #[test]
    fn hints_name_the_role_and_the_region() {
        let hint = sts_reason("AccessDenied", Call::AssumeRole, 403)
            .hint("arn:aws:iam::123456789012:role/x", "eu-west-1");
        assert!(
            hint.contains("role arn:aws:iam::123456789012:role/x"),
            "{hint}"
        );
        let hint = sts_reason("ValidationError", Call::AssumeRole, 400).hint("", "eu-west-1");
        assert!(hint.ends_with("(eu-west-1)"), "{hint}");
        assert_eq!(
            sts_reason("InvalidClientTokenId", Call::AssumeRole, 403),
            Verdict::OwnKeyRejected
        );
    }

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
