//! Runs one check of one integration: a fresh context, the timeout around the whole check, and
//! the scrub that keeps every secret the check touched out of the message it leaves with
//! ([`bounded`], which the org view's reads go through too). The scheduler, `credwatch check`
//! and the API all check through here.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use crate::forecast::Learnt;
use crate::integration::Integration;
use crate::outcome::{Failure, FailureReason, Outcome};
use crate::secret::{Resolved, SecretFiles};
use crate::verify::{Certificates, CheckContext};

/// The result of one check, with its timing.
#[derive(Debug, Clone)]
pub struct Report {
    pub integration: Arc<Integration>,
    pub outcome: Outcome,
    /// Expiry of the certificates the check presented and was shown.
    pub certificates: Certificates,
    /// What the check learnt of its credentials' dates (empty for most types).
    pub learnt: Vec<Learnt>,
    /// When the check ended.
    pub finished: SystemTime,
    pub duration: Duration,
}

impl Report {
    /// The report of a check whose task panicked (a bug in credwatch, never a provider's
    /// doing): a failure, so that it is seen.
    pub fn panicked(integration: &Arc<Integration>) -> Self {
        Self {
            integration: integration.clone(),
            outcome: Err(Failure::new(
                FailureReason::ProtocolError,
                "the check stopped unexpectedly (a bug in credwatch: the log says more)",
            )),
            certificates: Certificates::default(),
            learnt: Vec::new(),
            finished: SystemTime::now(),
            duration: Duration::ZERO,
        }
    }

    /// The report of a check that did not ask the provider, because what credwatch already
    /// knows fails it (the org view found its OAuth client not active).
    pub fn ahead(integration: &Arc<Integration>, failure: Failure) -> Self {
        tracing::warn!(
            org = %integration.org,
            integration = %integration.name,
            r#type = integration.kind.key,
            reason = failure.reason.as_str(),
            "check failed ahead of the login: {}",
            failure.message
        );
        Self {
            integration: integration.clone(),
            outcome: Err(failure),
            certificates: Certificates::default(),
            learnt: Vec::new(),
            finished: SystemTime::now(),
            duration: Duration::ZERO,
        }
    }

    /// How long the check took, in seconds rounded to the millisecond (for output and state).
    pub fn duration_seconds(&self) -> f64 {
        crate::clock::rounded_seconds(self.duration)
    }

    /// `success` or the failure reason: the `result` label.
    pub fn result(&self) -> &'static str {
        crate::outcome::result_of(&self.outcome)
    }
}

/// The pipeline every piece of work against a provider goes through (a check, an org view's
/// read): `work` within `timeout`, else a `timeout` failure saying that `what` did not finish;
/// and a failure's message scrubbed of every secret `ctx` handed out, before anyone sees it.
pub async fn bounded<T>(
    ctx: &CheckContext,
    timeout: Duration,
    what: &str,
    work: impl Future<Output = Result<T, Failure>>,
) -> Result<T, Failure> {
    let result = match tokio::time::timeout(timeout, work).await {
        Ok(result) => result,
        Err(_) => Err(Failure::new(
            FailureReason::Timeout,
            format!(
                "{what} did not finish within its timeout of {}",
                humantime::format_duration(timeout)
            ),
        )),
    };
    result.map_err(|mut failure| {
        failure.message = ctx.scrub(&failure.message);
        failure
    })
}

/// Checks one integration now, bounded by its timeout, reading every secret afresh.
pub async fn run(integration: &Arc<Integration>) -> Report {
    run_with(integration, Resolved::new(), &SecretFiles::default())
        .await
        .0
}

/// The same, with secret values read for this check already (for the lockout guard): they are
/// not read a second time, and they are handed back with the report. The others are read
/// through `files` (the daemon's, which keeps what the watcher watches).
pub async fn run_with(
    integration: &Arc<Integration>,
    resolved: Resolved,
    files: &SecretFiles,
) -> (Report, Resolved) {
    let mut ctx = CheckContext::new(
        &integration.name,
        &integration.http,
        integration.timeout,
        integration.follow_up,
    )
    .with_resolved(resolved)
    .with_secret_files(files.clone());
    ctx.revoke = integration.revoke;
    let started = Instant::now();
    let check = integration.verifier.check(&ctx);
    let outcome = bounded(&ctx, integration.timeout, "the check", check).await;
    let duration = started.elapsed();
    match &outcome {
        Ok(_) => tracing::debug!(
            org = %integration.org,
            integration = %integration.name,
            r#type = integration.kind.key,
            duration_ms = duration.as_millis() as u64,
            "check passed"
        ),
        Err(failure) => tracing::warn!(
            org = %integration.org,
            integration = %integration.name,
            r#type = integration.kind.key,
            reason = failure.reason.as_str(),
            duration_ms = duration.as_millis() as u64,
            "check failed: {}",
            failure.message
        ),
    }
    let report = Report {
        integration: integration.clone(),
        outcome,
        certificates: ctx.certificates(),
        learnt: ctx.learnt(),
        finished: SystemTime::now(),
        duration,
    };
    (report, ctx.into_resolved())
}
