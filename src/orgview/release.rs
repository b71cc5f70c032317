//! Whether the credential Genesys Cloud holds for a held canary's data action changed after the
//! run the third party refused: the action's integration (`GET
//! /api/v2/integrations/actions/{actionId}`), the credentials its configuration names (`GET
//! /api/v2/integrations/{integrationId}/config/current`), and when each was last modified (the
//! cursor-paged `GET /api/v2/integrations/credentials/listing`). None of these answers holds a
//! secret. A canary the lockout guard holds runs again as soon as one did, as a check's guard
//! lets go when its credentials change.

use std::collections::HashSet;
use std::time::SystemTime;

use serde::Deserialize;
use std::time::Instant;

use super::api::{INTEGRATIONS_PERMISSION, Reader};
use super::executions::EXECUTIONS_PERMISSION;
use super::session::{self, Session};
use crate::config::OrgView;
use crate::outcome::{Failure, FailureReason};

/// The most pages of the credentials listing read (200 a page).
const MAX_PAGES: usize = 50;
/// Credentials a page of the listing asks for (Genesys Cloud's maximum).
const LISTING_PAGE_SIZE: &str = "200";

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Action {
    integration_id: Option<String>,
}

#[derive(Deserialize)]
struct Configuration {
    #[serde(default)]
    credentials: std::collections::HashMap<String, CredentialInfo>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CredentialInfo {
    id: Option<String>,
    modified_date: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CursorListing {
    #[serde(default)]
    entities: Vec<CredentialInfo>,
    next_uri: Option<String>,
}

/// For each held canary (its action, and when its refused run finished): whether a credential
/// of the action's integration changed in Genesys Cloud since. One login of the view's client
/// for all of them, bounded by the view's timeout; what cannot be read counts as unchanged (the
/// guard keeps holding) and is logged.
pub(super) async fn probe(view: &OrgView, held: &[(&str, SystemTime)]) -> Vec<bool> {
    let ctx = session::context(view, view.timeout);
    let started = Instant::now();
    let login = Session::start(&ctx, view);
    let login = crate::runner::bounded(&ctx, view.timeout, "the canaries' login", login);
    let session = match login.await {
        Ok(session) => session,
        Err(failure) => {
            tracing::warn!(
                "the org view's OAuth client could not log in to see whether a held canary's credential changed: {}",
                failure.message
            );
            return vec![false; held.len()];
        }
    };
    let reader = session.reader(&ctx, started + view.timeout);
    let mut out = Vec::with_capacity(held.len());
    for &(action, since) in held {
        let left = (started + view.timeout).saturating_duration_since(Instant::now());
        let asked = tokio::time::timeout(left, changed_since(&reader, action, since)).await;
        out.push(match asked {
            Ok(Ok(changed)) => changed,
            Ok(Err(failure)) => {
                tracing::warn!(
                    action,
                    reason = failure.reason.as_str(),
                    "could not see whether the credential of a held canary's action changed in Genesys Cloud; the lockout guard keeps holding it: {}",
                    ctx.scrub(&failure.message)
                );
                false
            }
            Err(_) => false,
        });
    }
    session.end(&ctx).await;
    out
}

/// Whether a credential of `action`'s integration was modified after `since`.
async fn changed_since(
    reader: &Reader<'_>,
    action: &str,
    since: SystemTime,
) -> Result<bool, Failure> {
    let wanted = credentials_of(reader, action).await?;
    modified_after(reader, wanted, chrono::DateTime::<chrono::Utc>::from(since)).await
}

/// The ids of the credentials the configuration of `action`'s integration names (none when
/// the action or its integration is gone).
async fn credentials_of(reader: &Reader<'_>, action: &str) -> Result<HashSet<String>, Failure> {
    let url = reader.path(&["api", "v2", "integrations", "actions", action])?;
    let Some(response) = reader
        .get_maybe(url, "the canary's data action", EXECUTIONS_PERMISSION)
        .await?
    else {
        return Ok(HashSet::new());
    };
    let action: Action = response.json("Genesys Cloud /api/v2/integrations/actions/{actionId}")?;
    let Some(integration) = action.integration_id else {
        return Ok(HashSet::new());
    };
    let url = reader.path(&[
        "api",
        "v2",
        "integrations",
        &integration,
        "config",
        "current",
    ])?;
    let Some(response) = reader
        .get_maybe(
            url,
            "the action's integration configuration",
            INTEGRATIONS_PERMISSION,
        )
        .await?
    else {
        return Ok(HashSet::new());
    };
    let configuration: Configuration =
        response.json("Genesys Cloud /api/v2/integrations/{integrationId}/config/current")?;
    Ok(configuration
        .credentials
        .into_values()
        .filter_map(|c| c.id)
        .collect())
}

/// Whether one of the credentials `wanted` was modified after `since`, read from the
/// credentials listing page by page (following each page's `nextUri` cursor) until all were
/// found.
async fn modified_after(
    reader: &Reader<'_>,
    mut wanted: HashSet<String>,
    since: chrono::DateTime<chrono::Utc>,
) -> Result<bool, Failure> {
    let mut after: Option<String> = None;
    for _ in 0..MAX_PAGES {
        if wanted.is_empty() {
            break;
        }
        let mut url = reader.path(&["api", "v2", "integrations", "credentials", "listing"])?;
        url.query_pairs_mut()
            .append_pair("pageSize", LISTING_PAGE_SIZE);
        if let Some(after) = &after {
            url.query_pairs_mut().append_pair("after", after);
        }
        let Some(response) = reader
            .get_maybe(url, "the credentials listing", INTEGRATIONS_PERMISSION)
            .await?
        else {
            return Ok(false);
        };
        let page: CursorListing =
            response.json("Genesys Cloud /api/v2/integrations/credentials/listing")?;
        for credential in &page.entities {
            let Some(id) = &credential.id else { continue };
            if !wanted.remove(id) {
                continue;
            }
            let Some(date) = credential.modified_date.as_deref() else {
                continue;
            };
            let modified = chrono::DateTime::parse_from_rfc3339(date).map_err(|e| {
                Failure::new(
                    FailureReason::ProtocolError,
                    format!("Genesys Cloud gave the credential {id} a modifiedDate that is not a date: {e}"),
                )
            })?;
            if modified > since {
                return Ok(true);
            }
        }
        after = page.next_uri.as_deref().and_then(cursor_after);
        if page.entities.is_empty() || after.is_none() {
            break;
        }
    }
    Ok(false)
}

/// The `after` cursor of a listing's `nextUri` (a path with its query).
fn cursor_after(next_uri: &str) -> Option<String> {
    let url = url::Url::parse("https://genesys.invalid")
        .ok()?
        .join(next_uri)
        .ok()?;
    url.query_pairs()
        .find(|(key, _)| key == "after")
        .map(|(_, value)| value.into_owned())
        .filter(|value| !value.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cursor_comes_from_the_next_uri() {
        assert_eq!(
            cursor_after("/api/v2/integrations/credentials/listing?pageSize=200&after=abc%3D"),
            Some("abc=".to_string())
        );
        assert_eq!(
            cursor_after("/api/v2/integrations/credentials/listing?pageSize=200"),
            None
        );
        assert_eq!(cursor_after("/x?after="), None);
    }
}
