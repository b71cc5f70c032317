//! AWS Lambda: STS `AssumeRole` of the integration's role with its external id, as Genesys Cloud
//! does, then `GetCallerIdentity` with the temporary credentials. The fields are validated now;
//! the check itself lands with the AWS verifier issue.

use futures_util::future::BoxFuture;
use url::Url;

use super::{CheckContext, IntegrationType, Verifier, not_supported_yet};
use crate::config::{ConfigError, Spec};
use crate::outcome::Outcome;
use crate::secret::SecretField;

pub const TYPE: IntegrationType = IntegrationType {
    key: "aws_lambda",
    default_name: "AWS Lambda Data Actions",
    limit: 10,
    build,
};

/// Fields kept for the check that lands with the AWS verifier.
#[allow(dead_code)]
struct AwsLambda {
    role_arn: String,
    external_id: String,
    region: String,
    access_key_id: Option<SecretField>,
    secret_access_key: Option<SecretField>,
    sts_endpoint: Option<Url>,
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
    let external_id = c.string("external_id")?;
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
        sts_endpoint: spec.endpoints.opt_url("sts_endpoint")?,
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
    fn credential_type(&self) -> &str {
        "assume_role"
    }

    fn check<'a>(&'a self, _ctx: &'a CheckContext) -> BoxFuture<'a, Outcome> {
        not_supported_yet(TYPE.key)
    }
}

#[cfg(test)]
mod tests {
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
