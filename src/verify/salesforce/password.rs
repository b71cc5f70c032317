//! Salesforce password expiry, read after the login with the token it granted: the user's own
//! record says when the password last changed (`User.LastPasswordChangeDate`, one SOQL query)
//! and whether it has expired (`GET sobjects/User/{id}/password`). With `password_max_age`, the
//! change plus that age is the policy's forecast; the policy itself lives in the user's profile,
//! which an integration user usually cannot read. An expired password is `expired_credentials`:
//! Salesforce may still grant a token for it, while every later call fails with
//! `INVALID_OPERATION_WITH_EXPIRED_PASSWORD`.

use std::time::Duration;

use reqwest::header::ACCEPT;
use serde::Deserialize;
use url::Url;

use crate::forecast::{Credential, Learnt, Source};
use crate::http::Response;
use crate::outcome::{Failure, FailureReason};
use crate::secret::Secret;
use crate::verify::{CheckContext, status_failure};

/// The REST API version credwatch asks, unless `credentials.api_version` says otherwise.
pub(super) const DEFAULT_API_VERSION: &str = "65.0";

/// The two calls, as messages name them.
const QUERY: &str = "Salesforce query of the user's record";
const STATUS: &str = "Salesforce password status";

/// The errorCode of every call made with an expired password.
const EXPIRED: &str = "INVALID_OPERATION_WITH_EXPIRED_PASSWORD";

/// What the integration's config says of its password's expiry.
pub(super) struct Policy {
    /// `credentials.api_version`, e.g. `65.0`.
    pub(super) api_version: String,
    /// `credentials.password_max_age`: the profile's password expiry.
    pub(super) max_age: Option<Duration>,
}

/// One error of Salesforce's error answer (a JSON array of them).
#[derive(Deserialize)]
struct ApiError {
    #[serde(rename = "errorCode", default)]
    error_code: String,
}

#[derive(Deserialize)]
struct Query {
    #[serde(default)]
    records: Vec<UserRecord>,
}

#[derive(Deserialize)]
struct UserRecord {
    #[serde(rename = "LastPasswordChangeDate")]
    last_password_change_date: Option<String>,
}

#[derive(Deserialize)]
struct PasswordStatus {
    #[serde(rename = "isExpired")]
    is_expired: bool,
}

/// The failure of a login whose password has expired.
pub(super) fn expired(username: &str) -> Failure {
    Failure::new(
        FailureReason::ExpiredCredentials,
        format!(
            "the password of Salesforce user {username} has expired: reset it, then update it in \
             Genesys Cloud and in credwatch; resetting the password also resets the security \
             token, so take the new one from Salesforce's email as well"
        ),
    )
}

/// Whether an error answer says that the password has expired.
pub(super) fn says_expired(response: &Response) -> bool {
    serde_json::from_slice::<Vec<ApiError>>(&response.body)
        .is_ok_and(|errors| errors.iter().any(|e| e.error_code == EXPIRED))
}

/// The user id of an identity URL, `https://login.salesforce.com/id/{org id}/{user id}`.
pub(super) fn user_id(identity_url: &Url) -> Option<&str> {
    let id = identity_url.path_segments()?.next_back()?;
    // Salesforce ids are 15 or 18 letters and digits: nothing that could leave the SOQL string.
    (matches!(id.len(), 15 | 18) && id.bytes().all(|b| b.is_ascii_alphanumeric())).then_some(id)
}

/// `LastPasswordChangeDate` as Salesforce writes date-times (`2026-09-01T10:00:00.000+0000`),
/// in unix seconds.
fn salesforce_time(text: &str) -> Option<f64> {
    let parsed = chrono::DateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f%z")
        .or_else(|_| chrono::DateTime::parse_from_rfc3339(text))
        .ok()?;
    Some(parsed.timestamp() as f64)
}

impl Policy {
    /// Reads the password's change date and expiry for user `user_id` at `instance` with
    /// `token`, and tells `ctx` what it learnt. A 403 (the user may not read its own record) is
    /// a warning; an expired password fails the check.
    pub(super) async fn read(
        &self,
        ctx: &CheckContext,
        instance: &Url,
        token: &Secret,
        user_id: &str,
        username: &str,
    ) -> Result<(), Failure> {
        let base = instance
            .join(&format!("/services/data/v{}/", self.api_version))
            .map_err(|e| Failure::new(FailureReason::ConfigError, format!("api_version: {e}")))?;
        let mut query = base.join("query").expect("a relative path joins");
        query.query_pairs_mut().append_pair(
            "q",
            &format!("SELECT LastPasswordChangeDate FROM User WHERE Id = '{user_id}'"),
        );
        let changed = match self.get(ctx, query, QUERY, token, username).await? {
            Some(response) => {
                let answer: Query = response.json(QUERY)?;
                answer
                    .records
                    .first()
                    .and_then(|r| r.last_password_change_date.as_deref())
                    .and_then(salesforce_time)
            }
            None => None,
        };
        let status_url = base
            .join(&format!("sobjects/User/{user_id}/password"))
            .expect("a relative path joins");
        if let Some(response) = self.get(ctx, status_url, STATUS, token, username).await? {
            let status: PasswordStatus = response.json(STATUS)?;
            if status.is_expired {
                self.learn(ctx, changed);
                return Err(expired(username));
            }
        }
        self.learn(ctx, changed);
        Ok(())
    }

    fn learn(&self, ctx: &CheckContext, changed: Option<f64>) {
        let Some(changed) = changed else {
            return;
        };
        let expires = self
            .max_age
            .map(|age| (Source::Policy, changed + age.as_secs_f64()));
        ctx.learn(Learnt {
            credential: Credential::Password,
            used: None,
            changed: Some(changed),
            expires,
        });
    }

    /// `GET url` with the token: the answer when 200; an expired password fails; anything else
    /// (a 403 when the user may not read its own record, a 404 when the org lacks the API
    /// version, a provider's hiccup) is a warning and `None`: the login itself was proven.
    async fn get(
        &self,
        ctx: &CheckContext,
        url: Url,
        what: &str,
        token: &Secret,
        username: &str,
    ) -> Result<Option<Response>, Failure> {
        let request = ctx
            .http
            .get(url)
            .bearer_auth(token.expose())
            .header(ACCEPT, "application/json");
        let response = match ctx.http.send(request).await {
            Ok(response) => response,
            Err(failure) => {
                cannot_tell(ctx, what, &failure.message);
                return Ok(None);
            }
        };
        match response.status.as_u16() {
            200 => Ok(Some(response)),
            _ if says_expired(&response) => Err(expired(username)),
            403 => {
                let why = "HTTP 403: the user may not read its own record";
                cannot_tell(ctx, what, why);
                Ok(None)
            }
            404 => {
                let why = format!("HTTP 404: check api_version ({})", self.api_version);
                cannot_tell(ctx, what, &why);
                Ok(None)
            }
            _ => {
                cannot_tell(ctx, what, &status_failure(what, &response).message);
                Ok(None)
            }
        }
    }
}

/// Warns that the password's expiry is unknown this time, and why.
fn cannot_tell(ctx: &CheckContext, what: &str, why: &str) {
    let message = format!("{what} failed, so credwatch cannot tell when the password expires");
    ctx.warn(&message, why);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn salesforce_times_and_user_ids_are_read() {
        assert_eq!(
            salesforce_time("2026-09-01T10:00:00.000+0000"),
            Some(1_788_256_800.0)
        );
        assert_eq!(
            salesforce_time("2026-09-01T12:00:00.000+0200"),
            Some(1_788_256_800.0)
        );
        assert_eq!(salesforce_time("yesterday"), None);
        let url =
            Url::parse("https://login.salesforce.com/id/00D000000000001AAA/005000000000001AAA")
                .unwrap();
        assert_eq!(user_id(&url), Some("005000000000001AAA"));
        let quote = Url::parse("https://login.salesforce.com/id/00D/005'OR'1'='1").unwrap();
        assert_eq!(user_id(&quote), None);
    }
}
