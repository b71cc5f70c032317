//! The view's OAuth client logged in for one round of calls: a view's read, the canaries due
//! together, or the lockout guard's question whether a held canary's credential changed. Each
//! round makes its context, logs in, reads with the token, and revokes it at its end.

use std::time::{Duration, Instant};

use super::api::Reader;
use crate::config::OrgView;
use crate::outcome::{Failure, FailureReason};
use crate::verify::CheckContext;
use crate::verify::genesys_cloud::Api;
use crate::verify::oauth::Granted;

/// The context of one round with the view's client, bounded by `timeout`: its token is
/// revoked as the integration's checks revoke theirs.
pub(super) fn context(view: &OrgView, timeout: Duration) -> CheckContext {
    let integration = &view.integration;
    let mut ctx = CheckContext::new(&integration.name, &integration.http, timeout, true);
    ctx.revoke = integration.revoke;
    ctx
}

/// The view's client logged in.
pub(super) struct Session<'a> {
    api: &'a Api,
    granted: Granted,
}

impl<'a> Session<'a> {
    /// Logs in with the view's client (the caller bounds it).
    pub(super) async fn start(ctx: &CheckContext, view: &'a OrgView) -> Result<Self, Failure> {
        let Some(api) = view.integration.verifier.genesys_api() else {
            return Err(Failure::new(
                FailureReason::ConfigError,
                "the org view's integration is not a genesys_cloud one",
            ));
        };
        let granted = api.login(ctx).await?;
        Ok(Self { api, granted })
    }

    /// Calls with the token, within `deadline`.
    pub(super) fn reader<'r>(&'r self, ctx: &'r CheckContext, deadline: Instant) -> Reader<'r> {
        Reader {
            ctx,
            origin: self.api.origin(),
            token: &self.granted.access_token,
            deadline,
        }
    }

    /// Revokes the token: whether that worked, `None` when the integration does not revoke.
    pub(super) async fn end(self, ctx: &CheckContext) -> Option<bool> {
        self.api.revoke(ctx, &self.granted.access_token).await
    }
}
