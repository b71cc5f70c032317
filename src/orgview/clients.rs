//! The OAuth clients of the org's `genesys_cloud` integrations, as Genesys Cloud keeps them:
//! `GET /api/v2/oauth/clients/{clientId}` (permission `oauth:client:view`). A client whose
//! `state` is not `active` (`disabled`: its tokens are refused; `inactive`: no tokens, and it
//! will be deleted at `dateToDelete`), or that is gone, fails its integration's checks ahead of
//! the login as `account_disabled`. `dateToDelete` is the client's forecast and `dateModified`
//! its last change.

use serde::{Deserialize, Serialize};

use super::api::Reader;
use crate::forecast::{Credential, Learnt, Source};
use crate::outcome::{Failure, FailureReason};

/// The permission `GET /api/v2/oauth/clients/{id}` needs.
pub const OAUTH_CLIENT_PERMISSION: &str = "oauth:client:view";

/// One OAuth client, as the org view read it.
#[derive(Debug, Clone, Serialize)]
pub struct OauthClient {
    /// The credwatch integration (`ORG/NAME`) that logs in with it.
    pub integration: String,
    pub client_id: String,
    /// Its name in Genesys Cloud.
    pub name: Option<String>,
    /// `active`, `disabled`, `inactive`; `missing` when Genesys Cloud no longer has it.
    pub state: String,
    /// When Genesys Cloud deletes it (unix seconds).
    pub date_to_delete: Option<f64>,
    /// When it last changed (unix seconds).
    pub date_modified: Option<f64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawClient {
    name: Option<String>,
    state: Option<String>,
    date_to_delete: Option<String>,
    date_modified: Option<String>,
}

/// A Genesys Cloud date-time (`2027-01-15T10:00:00Z`, or with milliseconds) in unix seconds.
fn seconds(text: Option<&str>) -> Option<f64> {
    let at = chrono::DateTime::parse_from_rfc3339(text?).ok()?;
    Some(at.timestamp() as f64)
}

impl OauthClient {
    /// What the view learnt of the client's dates, for its integration's forecasts.
    pub fn learnt(&self) -> Learnt {
        Learnt {
            credential: Credential::OauthClient,
            used: None,
            changed: self.date_modified,
            expires: self.date_to_delete.map(|at| (Source::Provider, at)),
        }
    }

    /// The failure its integration's checks report ahead of the login, unless it is active.
    pub fn ahead(&self) -> Option<Failure> {
        let why = match self.state.as_str() {
            "active" => return None,
            "missing" => "no longer exists in Genesys Cloud".to_string(),
            "disabled" => "is disabled in Genesys Cloud: its tokens are refused".to_string(),
            "inactive" => match self.date_to_delete {
                Some(at) => format!(
                    "is inactive in Genesys Cloud: it gets no tokens, and Genesys deletes it at {}",
                    crate::clock::rfc3339(at)
                ),
                None => "is inactive in Genesys Cloud: it gets no tokens".to_string(),
            },
            other => format!("is in the state {other:?} in Genesys Cloud, not active"),
        };
        Some(Failure::new(
            FailureReason::AccountDisabled,
            format!(
                "the OAuth client {}{} {why} (seen by the org view; no login was attempted): \
                 make it active again, or create a new client and update it in credwatch and in \
                 the data actions' integration",
                self.client_id,
                self.name
                    .as_deref()
                    .map(|n| format!(" ({n})"))
                    .unwrap_or_default()
            ),
        ))
    }
}

impl Reader<'_> {
    /// The OAuth client `client_id` of the integration `integration`.
    pub(super) async fn oauth_client(
        &self,
        integration: &str,
        client_id: &str,
    ) -> Result<OauthClient, Failure> {
        let mut url = self.origin.clone();
        if let Ok(mut segments) = url.path_segments_mut() {
            segments
                .clear()
                .extend(["api", "v2", "oauth", "clients", client_id]);
        }
        let what = format!("the OAuth client {client_id}");
        let found = self.get_maybe(url, &what, OAUTH_CLIENT_PERMISSION).await?;
        let raw: Option<RawClient> = match found {
            Some(response) => Some(response.json("Genesys Cloud /api/v2/oauth/clients")?),
            None => None,
        };
        Ok(match raw {
            None => OauthClient {
                integration: integration.to_string(),
                client_id: client_id.to_string(),
                name: None,
                state: "missing".to_string(),
                date_to_delete: None,
                date_modified: None,
            },
            Some(raw) => OauthClient {
                integration: integration.to_string(),
                client_id: client_id.to_string(),
                name: raw.name,
                state: raw.state.unwrap_or_else(|| "unknown".into()).to_lowercase(),
                date_to_delete: seconds(raw.date_to_delete.as_deref()),
                date_modified: seconds(raw.date_modified.as_deref()),
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(state: &str, to_delete: Option<f64>) -> OauthClient {
        OauthClient {
            integration: "acme/Genesys".into(),
            client_id: "c-1".into(),
            name: Some("credwatch".into()),
            state: state.into(),
            date_to_delete: to_delete,
            date_modified: Some(1_788_256_800.0),
        }
    }

    #[test]
    fn only_an_active_client_is_let_through() {
        assert!(client("active", None).ahead().is_none());
        for state in ["disabled", "inactive", "missing", "unknown"] {
            let failure = client(state, Some(1_800_000_000.0)).ahead().unwrap();
            assert_eq!(failure.reason, FailureReason::AccountDisabled, "{state}");
            assert!(
                failure.message.contains("c-1 (credwatch)"),
                "{}",
                failure.message
            );
        }
        let inactive = client("inactive", Some(1_800_000_000.0)).ahead().unwrap();
        assert!(
            inactive.message.contains("2027-01-15T08:00:00Z"),
            "{}",
            inactive.message
        );
        let learnt = client("inactive", Some(1_800_000_000.0)).learnt();
        assert_eq!(learnt.expires, Some((Source::Provider, 1_800_000_000.0)));
        assert_eq!(learnt.changed, Some(1_788_256_800.0));
        assert_eq!(
            seconds(Some("2026-09-01T10:00:00.000Z")),
            Some(1_788_256_800.0)
        );
    }
}
