//! The org view's reads of the Genesys Cloud Platform API: `GET /api/v2/integrations` page by
//! page, `GET /api/v2/integrations/actions/certificates` (Current and Upcoming client
//! certificates), each honouring `Retry-After` while the read's time allows, and each 403 naming
//! the permission to grant.

use std::time::{Duration, Instant};

use reqwest::header::ACCEPT;
use serde::Deserialize;
use url::Url;

use super::{GenesysIntegration, MtlsCertificate, type_of};
use crate::http::Response;
use crate::outcome::{Failure, FailureReason};
use crate::secret::Secret;
use crate::verify::{CheckContext, failure_for_status, status_failure};

/// Integrations asked for per page (the most `GET /api/v2/integrations` gives).
pub const PAGE_SIZE: u32 = 100;
/// Pages read at most: 10,000 integrations, far beyond any org's data actions.
const MAX_PAGES: u32 = 100;
/// Tries of one request that Genesys Cloud answers 429.
const TRIES: u32 = 3;
/// The wait after a 429 without `Retry-After`.
const DEFAULT_WAIT: Duration = Duration::from_secs(1);

/// The permission `GET /api/v2/integrations` needs.
pub const INTEGRATIONS_PERMISSION: &str = "integrations:integration:view";
/// The permission `GET /api/v2/integrations/actions/certificates` needs.
pub const CERTIFICATES_PERMISSION: &str = "integrations:actionCertificate:view";

/// One read of the API with a token, within a deadline.
pub(super) struct Reader<'a> {
    pub(super) ctx: &'a CheckContext,
    pub(super) origin: Url,
    pub(super) token: &'a Secret,
    pub(super) deadline: Instant,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Page<T> {
    #[serde(default = "Vec::new")]
    entities: Vec<T>,
    page_count: Option<u32>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawIntegration {
    #[serde(default)]
    id: String,
    #[serde(default)]
    name: String,
    integration_type: Option<IdOnly>,
    intended_state: Option<String>,
    reported_state: Option<RawState>,
}

#[derive(Deserialize)]
struct IdOnly {
    #[serde(default)]
    id: String,
}

#[derive(Deserialize)]
struct RawState {
    code: Option<String>,
    detail: Option<RawDetail>,
}

#[derive(Deserialize)]
struct RawDetail {
    message: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawCertificate {
    signing_authority: Option<String>,
    certificate: Option<String>,
    status: Option<String>,
}

impl Reader<'_> {
    /// Every integration of the org, page by page.
    pub(super) async fn integrations(&self) -> Result<Vec<GenesysIntegration>, Failure> {
        let mut out = Vec::new();
        for number in 1..=MAX_PAGES {
            let mut url = self.url("/api/v2/integrations");
            url.query_pairs_mut()
                .append_pair("pageSize", &PAGE_SIZE.to_string())
                .append_pair("pageNumber", &number.to_string());
            let response = self
                .get(url, "the integrations", INTEGRATIONS_PERMISSION)
                .await?;
            let page: Page<RawIntegration> = response.json("Genesys Cloud /api/v2/integrations")?;
            let empty = page.entities.is_empty();
            out.extend(page.entities.into_iter().map(|raw| {
                let type_id = raw.integration_type.map(|t| t.id).unwrap_or_default();
                let state = raw.reported_state;
                GenesysIntegration {
                    kind: type_of(&type_id),
                    id: raw.id,
                    name: raw.name,
                    type_id,
                    intended_state: raw.intended_state.unwrap_or_else(|| "UNKNOWN".into()),
                    reported_state: state
                        .as_ref()
                        .and_then(|s| s.code.clone())
                        .unwrap_or_else(|| "UNKNOWN".into()),
                    detail: state.and_then(|s| s.detail).and_then(|d| d.message),
                    watched: None,
                }
            }));
            if empty || page.page_count.is_none_or(|count| number >= count) {
                return Ok(out);
            }
        }
        tracing::warn!(
            "Genesys Cloud lists more than {} integrations; the org view shows the first ones",
            MAX_PAGES * PAGE_SIZE
        );
        Ok(out)
    }

    /// The mTLS client certificates Genesys Cloud presents: the current ones, then the
    /// upcoming ones.
    pub(super) async fn certificates(&self) -> Result<Vec<MtlsCertificate>, Failure> {
        let mut out = Vec::new();
        for status in ["Current", "Upcoming"] {
            let mut url = self.url("/api/v2/integrations/actions/certificates");
            url.query_pairs_mut()
                .append_pair("status", status)
                .append_pair("type", "Client");
            let response = self
                .get(url, "the mTLS certificates", CERTIFICATES_PERMISSION)
                .await?;
            let page: Page<RawCertificate> =
                response.json("Genesys Cloud /api/v2/integrations/actions/certificates")?;
            out.extend(page.entities.into_iter().map(|raw| {
                let (expiry, problem) = match raw.certificate.as_deref().map(str::as_bytes) {
                    Some(pem) => match crate::certs::leaf_not_after(pem) {
                        Ok(expiry) => (Some(crate::clock::unix_seconds(expiry)), None),
                        Err(why) => (None, Some(format!("the certificate {why}"))),
                    },
                    None => (None, Some("no certificate in the answer".to_string())),
                };
                MtlsCertificate {
                    signing_authority: raw.signing_authority.unwrap_or_else(|| "unknown".into()),
                    status: raw.status.unwrap_or_else(|| status.to_string()),
                    expiry,
                    problem,
                }
            }));
        }
        Ok(out)
    }

    /// The API URL of `segments`, each percent-encoded as one path segment (ids come from the
    /// config or from Genesys Cloud's answers).
    pub(super) fn path(&self, segments: &[&str]) -> Result<Url, Failure> {
        let mut url = self.origin.clone();
        url.path_segments_mut()
            .map_err(|()| {
                Failure::new(
                    FailureReason::ConfigError,
                    "the Genesys Cloud API URL cannot take a path",
                )
            })?
            .clear()
            .extend(segments);
        Ok(url)
    }

    fn url(&self, path: &str) -> Url {
        let mut url = self.origin.clone();
        url.set_path(path);
        url
    }

    /// A GET with the token; a 429 is tried again after `Retry-After` while the deadline allows.
    async fn get(&self, url: Url, what: &str, permission: &str) -> Result<Response, Failure> {
        self.get_maybe(url, what, permission).await?.ok_or_else(|| {
            failure_for_status("Genesys Cloud API", reqwest::StatusCode::NOT_FOUND, None)
        })
    }

    /// [`Self::get`], with 404 (the thing is gone) an answer: `None`.
    pub(super) async fn get_maybe(
        &self,
        url: Url,
        what: &str,
        permission: &str,
    ) -> Result<Option<Response>, Failure> {
        self.call(reqwest::Method::GET, url, None, what, permission)
            .await
    }

    /// A POST of `body` as JSON with the token, as [`Self::get`] judges the answer.
    pub(super) async fn post_json(
        &self,
        url: Url,
        body: &impl serde::Serialize,
        what: &str,
        permission: &str,
    ) -> Result<Response, Failure> {
        let body = serde_json::to_vec(body)
            .map_err(|e| Failure::new(FailureReason::ProtocolError, format!("{what}: {e}")))?;
        self.call(reqwest::Method::POST, url, Some(body), what, permission)
            .await?
            .ok_or_else(|| {
                failure_for_status("Genesys Cloud API", reqwest::StatusCode::NOT_FOUND, None)
            })
    }

    /// A request with the token, asking for JSON; `body`, when given, is JSON.
    pub(super) fn request(
        &self,
        method: reqwest::Method,
        url: Url,
        body: Option<Vec<u8>>,
    ) -> reqwest::RequestBuilder {
        let request = self
            .ctx
            .http
            .request(method, url)
            .bearer_auth(self.token.expose())
            .header(ACCEPT, "application/json");
        match body {
            Some(body) => request
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body),
            None => request,
        }
    }

    /// One call with the token; a 429 is tried again after `Retry-After` while the deadline
    /// allows; 404 is `None`.
    async fn call(
        &self,
        method: reqwest::Method,
        url: Url,
        body: Option<Vec<u8>>,
        what: &str,
        permission: &str,
    ) -> Result<Option<Response>, Failure> {
        let mut attempt = 1;
        loop {
            let request = self.request(method.clone(), url.clone(), body.clone());
            let response = self.ctx.http.send(request).await?;
            match response.status.as_u16() {
                200 => return Ok(Some(response)),
                404 => return Ok(None),
                401 => {
                    return Err(Failure::new(
                        FailureReason::InvalidCredentials,
                        format!(
                            "Genesys Cloud issued a token but rejected it reading {what} (HTTP 401 from {})",
                            url.path()
                        ),
                    ));
                }
                403 => {
                    return Err(Failure::new(
                        FailureReason::PermissionDenied,
                        format!(
                            "Genesys Cloud refused to show {what} (HTTP 403 from {}): give the OAuth client a role with the permission {permission}",
                            url.path()
                        ),
                    ));
                }
                429 if attempt < TRIES => {
                    let wait = response.retry_after().unwrap_or(DEFAULT_WAIT);
                    if Instant::now() + wait >= self.deadline {
                        return Err(status_failure("Genesys Cloud API", &response));
                    }
                    tracing::debug!(
                        "Genesys Cloud is rate limiting the org view; reading {what} again in {}",
                        humantime::format_duration(wait)
                    );
                    tokio::time::sleep(wait).await;
                    attempt += 1;
                }
                _ => return Err(status_failure("Genesys Cloud API", &response)),
            }
        }
    }
}
