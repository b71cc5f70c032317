//! Genesys Cloud: the OAuth client-credentials grant at `https://login.{region}/oauth/token`
//! (through the `oauth2` crate), then `GET https://api.{region}/api/v2/tokens/me` with the token,
//! which needs no permission beyond a valid token; then `DELETE /api/v2/tokens/me` revokes the
//! token (unless `revoke = false`).

use futures_util::future::BoxFuture;
use reqwest::Method;
use reqwest::header::ACCEPT;
use url::Url;

use crate::forecast::Credential;
use crate::spec::intern::SharedUrl;

use super::oauth::{self, TokenError};
use super::{CheckContext, IntegrationType, Verifier, status_failure};
use crate::outcome::{Failure, FailureReason, Outcome, Success};
use crate::secret::{Secret, SecretField};
use crate::spec::{ConfigError, Spec};

pub const TYPE: IntegrationType = IntegrationType {
    key: "genesys_cloud",
    default_name: "Genesys Cloud Data Actions",
    limit: 10,
    genesys_type_ids: &["purecloud-data-actions"],
    build,
};

const PROVIDER: &str = "Genesys Cloud";

/// The host suffixes of Genesys Cloud's regions.
pub const REGIONS: &[&str] = &[
    "mypurecloud.com",
    "use2.us-gov-pure.cloud",
    "usw2.pure.cloud",
    "cac1.pure.cloud",
    "mypurecloud.ie",
    "euw2.pure.cloud",
    "mypurecloud.de",
    "euc2.pure.cloud",
    "aps1.pure.cloud",
    "apne2.pure.cloud",
    "mypurecloud.com.au",
    "mypurecloud.jp",
    "apne3.pure.cloud",
    "sae1.pure.cloud",
    "mec1.pure.cloud",
];

struct GenesysCloud {
    api: Api,
}

/// How to reach one org's Platform API with an OAuth client's credentials: what the check
/// uses, and what the org view (`[genesys]`) borrows from the integration it names.
pub struct Api {
    client_id: String,
    client_secret: SecretField,
    token_url: SharedUrl,
    verify_url: SharedUrl,
}

impl Api {
    /// The OAuth client's id.
    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    /// The origin of the Platform API (`https://api.{region}`, or that of an endpoint override).
    pub fn origin(&self) -> Url {
        let mut origin = Url::clone(&self.verify_url);
        origin.set_path("/");
        origin.set_query(None);
        origin.set_fragment(None);
        origin
    }

    /// A token by the client-credentials grant, the failure worded for Genesys Cloud.
    pub async fn login(&self, ctx: &CheckContext) -> Result<oauth::Granted, Failure> {
        let secret = ctx.secret(&self.client_secret)?;
        oauth::client_credentials(ctx, &self.token_url, &self.client_id, &secret)
            .await
            .map_err(token_failure)
    }

    /// Ends `token` with `DELETE /api/v2/tokens/me` (see [`CheckContext::revoke`]).
    pub async fn revoke(&self, ctx: &CheckContext, token: &Secret) -> Option<bool> {
        let revoke = ctx
            .http
            .request(Method::DELETE, Url::clone(&self.verify_url))
            .bearer_auth(token.expose());
        ctx.revoke(PROVIDER, revoke).await
    }
}

fn build(spec: &mut Spec) -> Result<Box<dyn Verifier>, ConfigError> {
    let c = &mut spec.credentials;
    let client_id = c.string("client_id")?;
    let client_secret = c.secret("client_secret")?;
    let region = c.string("region")?;
    let token_url = spec.endpoints.opt_url("token_url")?;
    let verify_url = spec.endpoints.opt_url("verify_url")?;
    let known = REGIONS.contains(&region.as_str());
    // An unknown region is fine when both endpoints are given: a region newer than this list.
    if !known && (token_url.is_none() || verify_url.is_none()) {
        let c = &spec.credentials;
        return Err(c.error(
            "region",
            format!(
                "unknown region {region:?}; expected one of {} (or set endpoints.token_url and endpoints.verify_url)",
                REGIONS.join(", ")
            ),
        ));
    }
    let default = |text: String| {
        spec.endpoints
            .shared(Url::parse(&text).expect("region URLs are valid"))
    };
    Ok(Box::new(GenesysCloud {
        api: Api {
            client_id,
            client_secret,
            token_url: token_url.map_or_else(
                || default(format!("https://login.{region}/oauth/token")),
                |url| spec.endpoints.shared(url),
            ),
            verify_url: verify_url.map_or_else(
                || default(format!("https://api.{region}/api/v2/tokens/me")),
                |url| spec.endpoints.shared(url),
            ),
        },
    }))
}

impl Verifier for GenesysCloud {
    fn credential(&self) -> Credential {
        Credential::ClientSecret
    }

    fn credential_type(&self) -> &'static str {
        "client_credentials"
    }

    fn login_limits(&self) -> Option<&'static str> {
        Some(
            "Genesys Cloud rate-limits token requests (HTTP 429), and every check mints a token \
             that stays valid for hours",
        )
    }

    fn check<'a>(&'a self, ctx: &'a CheckContext) -> BoxFuture<'a, Outcome> {
        Box::pin(self.run(ctx))
    }

    fn genesys_api(&self) -> Option<&Api> {
        Some(&self.api)
    }
}

impl GenesysCloud {
    async fn run(&self, ctx: &CheckContext) -> Outcome {
        let granted = self.api.login(ctx).await?;
        let mut success = Success {
            token_expiry: granted.expires_at,
            revoked: None,
        };
        if ctx.follow_up {
            self.verify(ctx, &granted.access_token).await?;
        }
        // The token is of no further use: `DELETE /api/v2/tokens/me` ends it.
        success.revoked = self.api.revoke(ctx, &granted.access_token).await;
        Ok(success)
    }

    /// `GET /api/v2/tokens/me` with the new token.
    async fn verify(&self, ctx: &CheckContext, token: &Secret) -> Result<(), Failure> {
        let request = ctx
            .http
            .get(Url::clone(&self.api.verify_url))
            .bearer_auth(token.expose())
            .header(ACCEPT, "application/json");
        let response = ctx.http.send(request).await?;
        match response.status.as_u16() {
            200 => {
                let _: serde_json::Map<String, serde_json::Value> =
                    response.json("Genesys Cloud /api/v2/tokens/me")?;
                Ok(())
            }
            401 => Err(Failure::new(
                FailureReason::InvalidCredentials,
                "Genesys Cloud issued a token but the API rejected it (HTTP 401 from /api/v2/tokens/me)",
            )),
            _ => Err(status_failure("Genesys Cloud API", &response)),
        }
    }
}

fn token_failure(error: TokenError) -> Failure {
    oauth::provider_failure(PROVIDER, error, |code, _, _| match code {
        "invalid_client" => Some((
            FailureReason::InvalidCredentials,
            "check the OAuth client id and secret".into(),
        )),
        "unauthorized_client" => Some((
            FailureReason::PermissionDenied,
            "the OAuth client must use the Client Credentials grant".into(),
        )),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::REGIONS;
    use crate::config::Config;

    /// Every region in the list gets its login and API hosts, as the Genesys Cloud SDKs name
    /// them (`login.{region}`, `api.{region}`); an unknown one without both endpoints is refused.
    #[test]
    fn every_region_has_default_endpoints() {
        assert_eq!(REGIONS.len(), 15);
        for region in REGIONS {
            let text = format!(
                "[[integration]]\ntype = \"genesys_cloud\"\n[integration.credentials]\nclient_id = \"i\"\nclient_secret = \"s\"\nregion = \"{region}\"\n"
            );
            let config = Config::parse("test.toml", &text).unwrap();
            let api = config.integrations[0].verifier.genesys_api().unwrap();
            assert_eq!(
                api.token_url.as_str(),
                format!("https://login.{region}/oauth/token")
            );
            assert_eq!(
                api.verify_url.as_str(),
                format!("https://api.{region}/api/v2/tokens/me")
            );
            assert_eq!(api.origin().as_str(), format!("https://api.{region}/"));
        }
        let text = "[[integration]]\ntype = \"genesys_cloud\"\n[integration.credentials]\nclient_id = \"i\"\nclient_secret = \"s\"\nregion = \"mars1.pure.cloud\"\n";
        let error = Config::parse("test.toml", text).unwrap_err().to_string();
        assert!(error.contains("credentials.region"), "{error}");
        assert!(error.contains("unknown region"), "{error}");
    }
}
