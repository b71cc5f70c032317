//! Canary actions (`[[genesys.canary]]`): Genesys Cloud runs a data action for credwatch, with
//! the credential stored in Genesys, from Genesys's network (for AWS Lambda, as Genesys's own
//! AWS principal): `POST /api/v2/integrations/actions/{action}/test` (permission
//! `integrations:action:execute`). Its `TestExecutionResult` says which step failed and why;
//! the third party's answer is mapped to credwatch's reasons. Each run calls the third party for
//! real and counts against the org's data-action limits.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use serde::Deserialize;

use super::api::Reader;
use super::session::{self, Session};
use crate::config::{Canary, OrgView};
use crate::outcome::{Failure, FailureReason};
use crate::verify::status_failure;

/// The permission the action test needs.
pub const CANARY_PERMISSION: &str = "integrations:action:execute";

/// The longest message kept of what the action's step said.
const MESSAGE_CAP: usize = 600;

/// One run of one canary.
#[derive(Debug, Clone)]
pub struct CanaryReport {
    pub org: Arc<str>,
    pub action: String,
    /// The `integration` label: the credwatch integration it speaks for, or empty.
    pub integration: String,
    pub outcome: Result<(), Failure>,
    /// The name of the step that failed (`Execute`, `Resolve translation map`, …), when a step
    /// of the action failed rather than the call to Genesys Cloud.
    pub step: Option<String>,
    pub finished: SystemTime,
    pub duration: Duration,
    /// When the lockout guard holds the canary (see [`wait_after`]): not run before then.
    pub held_until: Option<SystemTime>,
}

/// How long after `report`'s run `canary` runs again: its `interval`, or, when the third party
/// refused the credential Genesys holds (`invalid_credentials` or `account_locked` at a step)
/// and the integration it speaks for has the lockout guard, at least that integration's
/// `guard_retry`: each run is a login with that credential, and a wrong one run every few
/// minutes locks the account for everyone using it. `true` when the guard holds it.
pub fn wait_after(canary: &Canary, report: &CanaryReport) -> (Duration, bool) {
    let refused = matches!(&report.outcome, Err(f) if crate::guard::ENGAGING.contains(&f.reason));
    match &canary.integration {
        Some(guarded) if guarded.guard && refused && report.step.is_some() => {
            (canary.interval.max(guarded.guard_retry), true)
        }
        _ => (canary.interval, false),
    }
}

/// A failed run: the failure, and the action's step that failed, if one did.
#[derive(Debug)]
struct StepFailure {
    step: Option<String>,
    failure: Failure,
}

impl From<Failure> for StepFailure {
    fn from(failure: Failure) -> Self {
        Self {
            step: None,
            failure,
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TestResult {
    #[serde(default)]
    operations: Vec<Operation>,
    error: Option<ErrorBody>,
    success: Option<bool>,
}

#[derive(Deserialize)]
struct Operation {
    name: Option<String>,
    success: Option<bool>,
    error: Option<ErrorBody>,
}

/// Genesys Cloud's `ErrorBody` (data actions also write `errorCode` and `userMessage`).
#[derive(Deserialize, Default)]
struct ErrorBody {
    #[serde(alias = "userMessage")]
    message: Option<String>,
    #[serde(alias = "errorCode")]
    code: Option<String>,
    status: Option<u16>,
    #[serde(default)]
    details: Vec<Detail>,
    #[serde(default)]
    errors: Vec<ErrorBody>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Detail {
    error_code: Option<String>,
}

impl ErrorBody {
    /// This body and the ones nested in it.
    fn all(&self) -> Vec<&ErrorBody> {
        let mut out = vec![self];
        for nested in &self.errors {
            out.extend(nested.all());
        }
        out
    }

    /// What the third party's answer means, as credwatch's reason.
    fn reason(&self) -> FailureReason {
        let all = self.all();
        let statuses: Vec<u16> = all.iter().filter_map(|e| e.status).collect();
        let codes: Vec<String> = all
            .iter()
            .filter_map(|e| e.code.as_deref())
            .chain(
                all.iter()
                    .flat_map(|e| &e.details)
                    .filter_map(|d| d.error_code.as_deref()),
            )
            .map(str::to_ascii_uppercase)
            .collect();
        let text = all
            .iter()
            .filter_map(|e| e.message.as_deref())
            .collect::<Vec<_>>()
            .join(" ")
            .to_ascii_lowercase();
        let status = |wanted: &dyn Fn(u16) -> bool| statuses.iter().any(|s| wanted(*s));
        let code = |wanted: &str| codes.iter().any(|c| c == wanted);
        if status(&|s| s == 401) || code("INVALID_CREDENTIALS") || code("ACTION.AUTHENTICATION") {
            FailureReason::InvalidCredentials
        } else if status(&|s| s == 403) {
            FailureReason::PermissionDenied
        } else if status(&|s| matches!(s, 408 | 504))
            || text.contains("timed out")
            || text.contains("timeout")
        {
            FailureReason::Timeout
        } else if status(&|s| s == 429) {
            FailureReason::RateLimited
        } else if code("ACTION.CERTIFICATE")
            || [
                "pkix",
                "handshake",
                "certification path",
                "certificate verify",
            ]
            .iter()
            .any(|t| text.contains(t))
        {
            FailureReason::TlsError
        } else if status(&|s| s >= 500) {
            FailureReason::ProviderError
        } else if status(&|s| (400..500).contains(&s)) || code("ACTION.PROCESSING") {
            FailureReason::ConfigError
        } else {
            FailureReason::ProviderError
        }
    }

    /// The most specific message: the innermost one.
    fn message(&self) -> String {
        let all = self.all();
        let text = all
            .iter()
            .rev()
            .find_map(|e| e.message.as_deref())
            .unwrap_or("no message");
        let statuses: Vec<String> = all
            .iter()
            .filter_map(|e| e.status)
            .map(|s| s.to_string())
            .collect();
        let mut message: String = text.chars().take(MESSAGE_CAP).collect();
        if message.len() < text.len() {
            message.push('…');
        }
        if !statuses.is_empty() {
            message.push_str(&format!(" (HTTP {})", statuses.join(", ")));
        }
        message
    }
}

/// What a test result says: `Ok` when the action succeeded, else its failing step.
fn judge(action: &str, result: TestResult) -> Result<(), StepFailure> {
    if result.success == Some(true) {
        return Ok(());
    }
    let failed = result.operations.iter().find(|o| o.success == Some(false));
    let step = failed.and_then(|o| o.name.clone());
    let error = failed
        .and_then(|o| o.error.as_ref())
        .or(result.error.as_ref());
    let Some(error) = error else {
        return Err(StepFailure {
            step,
            failure: Failure::new(
                FailureReason::ProviderError,
                format!(
                    "Genesys Cloud ran the data action {action} and reported a failure without saying why"
                ),
            ),
        });
    };
    let at = step
        .as_deref()
        .map(|s| format!(" at its step {s:?}"))
        .unwrap_or_default();
    Err(StepFailure {
        failure: Failure::new(
            error.reason(),
            format!(
                "Genesys Cloud ran the data action {action}, which failed{at}: {}",
                error.message()
            ),
        ),
        step,
    })
}

impl Reader<'_> {
    /// `POST /api/v2/integrations/actions/{action}/test` with the canary's input.
    async fn test_action(&self, canary: &Canary) -> Result<(), StepFailure> {
        let action = &canary.action;
        let url = self.path(&["api", "v2", "integrations", "actions", action, "test"])?;
        let body = canary.input.to_string().into_bytes();
        let request = self.request(reqwest::Method::POST, url, Some(body));
        let response = self.ctx.http.send(request).await.map_err(Failure::from)?;
        let problem = || {
            serde_json::from_slice::<ErrorBody>(&response.body)
                .ok()
                .map(|e| e.message())
                .unwrap_or_else(|| format!("HTTP {}", response.status.as_u16()))
        };
        let failure = |reason, message: String| Err(Failure::new(reason, message).into());
        match response.status.as_u16() {
            200 => {
                let result: TestResult =
                    response.json("Genesys Cloud /api/v2/integrations/actions/{actionId}/test")?;
                judge(action, result)
            }
            404 => {
                let message = format!(
                    "Genesys Cloud has no data action {action} (HTTP 404): correct the canary's action id, or remove the canary"
                );
                tracing::warn!("genesys.canary.action: {message}");
                failure(FailureReason::ConfigError, message)
            }
            400 => failure(
                FailureReason::ConfigError,
                format!(
                    "Genesys Cloud refused to run the data action {action} with the canary's input: {}",
                    problem()
                ),
            ),
            401 => failure(
                FailureReason::InvalidCredentials,
                format!(
                    "Genesys Cloud issued a token but rejected it running the data action {action} (HTTP 401)"
                ),
            ),
            403 => failure(
                FailureReason::PermissionDenied,
                format!(
                    "Genesys Cloud refused to run the data action {action} (HTTP 403): give the org view's OAuth client a role with the permission {CANARY_PERMISSION}"
                ),
            ),
            _ => Err(status_failure("Genesys Cloud API", &response).into()),
        }
    }
}

/// Runs `canaries` of an org now, side by side: one token of the view's OAuth client for all
/// of them, each test bounded by its timeout, the token revoked after. Every message is
/// scrubbed of the view's secrets and token and of the secrets of every integration of the
/// org (a third party may echo any credential Genesys holds).
pub async fn run(org: &Arc<str>, view: &OrgView, canaries: &[&Canary]) -> Vec<CanaryReport> {
    let longest = canaries.iter().map(|c| c.timeout).max().unwrap_or_default();
    let ctx = session::context(view, view.timeout.max(longest));
    // Any credential Genesys holds for the org may come back in a third party's answer: the
    // secrets of every integration of the org (the spoken-for ones among them).
    for integration in &view.scrubbed {
        for field in &integration.secrets {
            // Only remembered, to be scrubbed: one that cannot be read is nobody's echo.
            let _ = ctx.secret(field);
        }
    }
    let started = Instant::now();
    let login = Session::start(&ctx, view);
    let login = crate::runner::bounded(&ctx, view.timeout, "the canaries' login", login);
    let session = match login.await {
        Ok(granted) => granted,
        Err(failure) => {
            let failure = Failure::new(
                failure.reason,
                format!(
                    "the org view's OAuth client could not log in to run the canary: {}",
                    failure.message
                ),
            )
            .with_retry_after(failure.retry_after);
            let failed = StepFailure {
                step: None,
                failure,
            };
            return canaries
                .iter()
                .map(|c| report(org, c, Err(&failed), started))
                .collect();
        }
    };
    let reader = session.reader(&ctx, started + longest);
    let runs = canaries.iter().map(|canary| {
        let reader = &reader;
        let ctx = &ctx;
        async move {
            let started = Instant::now();
            let outcome =
                match tokio::time::timeout(canary.timeout, reader.test_action(canary)).await {
                    Ok(outcome) => outcome,
                    Err(_) => Err(StepFailure::from(Failure::new(
                        FailureReason::Timeout,
                        format!(
                            "the data action {} did not finish within the canary's timeout of {}",
                            canary.action,
                            humantime::format_duration(canary.timeout)
                        ),
                    ))),
                };
            let outcome = outcome.map_err(|mut failed| {
                failed.failure.message = ctx.scrub(&failed.failure.message);
                failed.step = failed.step.map(|s| ctx.scrub(&s));
                failed
            });
            report(org, canary, outcome.as_ref().map(|_| ()), started)
        }
    });
    let reports = futures_util::future::join_all(runs).await;
    session.end(&ctx).await;
    reports
}

fn report(
    org: &Arc<str>,
    canary: &Canary,
    outcome: Result<(), &StepFailure>,
    started: Instant,
) -> CanaryReport {
    let (outcome, step) = match outcome {
        Ok(()) => (Ok(()), None),
        Err(failed) => (Err(failed.failure.clone()), failed.step.clone()),
    };
    if let Err(failure) = &outcome {
        tracing::warn!(
            org = %org,
            action = %canary.action,
            reason = failure.reason.as_str(),
            "a canary action failed: {}",
            failure.message
        );
    }
    CanaryReport {
        org: org.clone(),
        action: canary.action.clone(),
        integration: canary.integration_name().to_string(),
        outcome,
        step,
        finished: SystemTime::now(),
        duration: started.elapsed(),
        held_until: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn judged(result: serde_json::Value) -> Result<(), StepFailure> {
        judge("custom_-_abc", serde_json::from_value(result).unwrap())
    }

    fn failed_step(status: u16, code: &str, message: &str) -> serde_json::Value {
        serde_json::json!({
            "success": false,
            "operations": [
                {"step": 1, "name": "Resolve request configuration template", "success": true},
                {"step": 2, "name": "Execute", "success": false, "error": {
                    "message": "REST call for action execute failed.", "code": code, "status": status,
                    "details": [{"errorCode": "ACTION.REMOTE_ENDPOINT"}],
                    "errors": [{"message": message, "code": code, "status": status}]
                }}
            ],
            "error": {"message": "REST call for action execute failed.", "code": code, "status": status}
        })
    }

    #[test]
    fn a_passing_test_is_a_success() {
        assert!(
            judged(serde_json::json!({"success": true, "operations": [], "finalResult": {}}))
                .is_ok()
        );
    }

    #[test]
    fn the_third_partys_answer_is_the_reason_and_the_failing_step_is_named() {
        let rows = [
            (
                401,
                "UNAUTHORIZED",
                "Response from web service: {\"error\":\"invalid token\"}",
                FailureReason::InvalidCredentials,
            ),
            (
                403,
                "FORBIDDEN",
                "Response from web service: forbidden",
                FailureReason::PermissionDenied,
            ),
            (
                504,
                "GATEWAY_TIMEOUT",
                "Request to backend service timed out",
                FailureReason::Timeout,
            ),
            (
                503,
                "SERVICE_UNAVAILABLE",
                "Response from web service: busy",
                FailureReason::ProviderError,
            ),
            (
                500,
                "INTERNAL_SERVER_ERROR",
                "Connection reset",
                FailureReason::ProviderError,
            ),
            (
                429,
                "TOO_MANY_REQUESTS",
                "slow down",
                FailureReason::RateLimited,
            ),
            (
                404,
                "NOT_FOUND",
                "Response from web service: no such order",
                FailureReason::ConfigError,
            ),
            (
                500,
                "INTERNAL_SERVER_ERROR",
                "javax.net.ssl.SSLHandshakeException: PKIX path building failed",
                FailureReason::TlsError,
            ),
        ];
        for (status, code, message, reason) in rows {
            let failed = judged(failed_step(status, code, message)).expect_err("a failure");
            assert_eq!(failed.failure.reason, reason, "{status} {code}");
            assert_eq!(failed.step.as_deref(), Some("Execute"));
            assert!(
                failed.failure.message.contains(message),
                "{}",
                failed.failure.message
            );
            assert!(
                failed.failure.message.contains("\"Execute\""),
                "{}",
                failed.failure.message
            );
        }
    }

    #[test]
    fn an_authentication_error_without_a_401_is_invalid_credentials() {
        // Genesys's own shape for a login the third party refused (Dynamics, Salesforce, ...).
        let result = serde_json::json!({"success": false, "error": {
            "errorCode": "INVALID_CREDENTIALS", "status": 400,
            "userMessage": "There was an issue validating the credentials.",
            "details": [{"errorCode": "ACTION.AUTHENTICATION"}],
            "errors": [{"errorCode": "INVALID_CREDENTIALS", "status": 400,
                        "userMessage": "Request to backend service failed. AADSTS50126: Invalid username or password"}]
        }});
        let failed = judged(result).err().unwrap();
        assert_eq!(failed.failure.reason, FailureReason::InvalidCredentials);
        assert!(failed.failure.message.contains("AADSTS50126"));
        assert_eq!(failed.step, None);
    }

    #[test]
    fn a_failure_without_a_reason_is_the_providers() {
        let failed = judged(serde_json::json!({"success": false})).err().unwrap();
        assert_eq!(failed.failure.reason, FailureReason::ProviderError);
    }

    #[test]
    fn long_messages_are_cut() {
        let long = "x".repeat(5000);
        let failed = judged(failed_step(500, "E", &long)).err().unwrap();
        assert!(failed.failure.message.len() < 1000);
    }

    /// Only a refusal of the credential at a step, for a guarded integration, holds a canary.
    #[test]
    fn the_guard_holds_only_a_refused_step_of_a_guarded_integration() {
        let text = r#"
[defaults]
guard_retry = "2h"

[genesys]
integration = "Genesys Cloud"

[[genesys.canary]]
action = "custom_-_password"
integration = "Password"
interval = "5m"

[[genesys.canary]]
action = "custom_-_token"
integration = "Token"
interval = "5m"

[[genesys.canary]]
action = "custom_-_none"
interval = "5m"

[[integration]]
type = "genesys_cloud"
name = "Genesys Cloud"
[integration.credentials]
client_id = "i"
client_secret = "s"
region = "mypurecloud.com"

[[integration]]
type = "web_service"
name = "Password"
[integration.credentials]
credential_type = "basic"
username = "u"
password = "p"
[integration.request]
url = "https://example.com/me"

[[integration]]
type = "zendesk"
name = "Token"
[integration.credentials]
email = "ops@example.com"
base_url = "https://acme.zendesk.com"
api_token = "t"
"#;
        let config = crate::config::Config::parse("test.toml", text).unwrap();
        let view = config.orgs[0].view.as_ref().unwrap();
        let [password, token, none] = [0, 1, 2].map(|n| &view.canaries[n]);
        let ran = |reason: Option<FailureReason>, step: Option<&str>| CanaryReport {
            org: Arc::from("default"),
            action: String::new(),
            integration: String::new(),
            outcome: reason.map_or(Ok(()), |r| Err(Failure::new(r, "refused"))),
            step: step.map(String::from),
            finished: SystemTime::now(),
            duration: Duration::ZERO,
            held_until: None,
        };
        let (five_minutes, two_hours) = (Duration::from_secs(300), Duration::from_secs(7200));
        let refused = ran(Some(FailureReason::InvalidCredentials), Some("Execute"));
        assert_eq!(wait_after(password, &refused), (two_hours, true));
        let locked = ran(Some(FailureReason::AccountLocked), Some("Execute"));
        assert_eq!(wait_after(password, &locked), (two_hours, true));
        // Genesys's own login of the view's client, a success, another reason: no hold.
        for report in [
            ran(Some(FailureReason::InvalidCredentials), None),
            ran(None, None),
            ran(Some(FailureReason::ProviderError), Some("Execute")),
        ] {
            assert_eq!(wait_after(password, &report), (five_minutes, false));
        }
        // An API token is not a password login, and no integration says nothing of one.
        assert_eq!(wait_after(token, &refused), (five_minutes, false));
        assert_eq!(wait_after(none, &refused), (five_minutes, false));
    }
}
