//! Where Genesys's record of a data action's executions and credwatch's own check of the same
//! integration (same org, type and name: the `watched` join) disagree. Genesys saw the third
//! party refuse its calls (401/403) while credwatch's check passed: the credential stored in
//! Genesys differs from credwatch's copy, or Genesys's network path is refused. Or the reverse:
//! credwatch's check fails while Genesys's executions succeed, so credwatch's copy or its own
//! path is what is wrong. Compared at each read of the view, over its window, against
//! credwatch's latest result at that moment.

use serde::Serialize;

use super::{ExecutionOutcome, ViewReport};
use crate::outcome::FailureReason;

/// Which side fails while the other succeeds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// Genesys's executions met 401/403 while credwatch's check passed.
    GenesysFails,
    /// credwatch's check failed while Genesys's executions succeeded (and met no 401/403).
    CredwatchFails,
}

impl Direction {
    /// The `direction` label.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::GenesysFails => "genesys_fails",
            Self::CredwatchFails => "credwatch_fails",
        }
    }

    /// What it means and what to do.
    pub fn advice(self) -> &'static str {
        match self {
            Self::GenesysFails => {
                "Genesys's data actions were refused (401/403) while credwatch's check passed: \
                 the credential stored in Genesys differs from credwatch's copy, or Genesys's \
                 network path is refused: update the credential in Genesys"
            }
            Self::CredwatchFails => {
                "credwatch's check fails while Genesys's data actions succeed: credwatch's copy \
                 of the credential, or credwatch's own network path, is what is wrong: update \
                 credwatch's copy or its access"
            }
        }
    }
}

/// One watched data-action integration, compared over the read's window.
#[derive(Debug, Clone, Serialize)]
pub struct Comparison {
    /// The name, Genesys's and credwatch's.
    pub integration: String,
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// Genesys's executions in the window that succeeded.
    pub successes: u64,
    /// Genesys's executions in the window the third party answered 401 or 403.
    pub auth_failures: u64,
    /// credwatch's latest result: `success`, a failure reason, or `None` when not checked yet.
    pub credwatch: Option<&'static str>,
    /// `None` when they agree, or when one side has nothing to say.
    pub direction: Option<Direction>,
}

/// Compares every watched data-action integration of `report`: `latest(name, type)` is
/// credwatch's latest result of that integration (`Ok` or the failure's reason), `None` when it
/// has none. `None` when the read did not get both the integrations and the executions.
pub fn compare(
    report: &ViewReport,
    latest: impl Fn(&str, &'static str) -> Option<Result<(), FailureReason>>,
) -> Option<Vec<Comparison>> {
    let integrations = report.integrations.as_ref()?;
    let executions = report.executions.as_ref()?;
    let compared = integrations
        .iter()
        .filter(|i| i.watched == Some(true))
        .filter_map(|i| {
            let kind = i.kind?;
            let outcomes = executions
                .iter()
                .find(|e| e.integration_id == i.id)
                .map(|e| &e.outcomes);
            let count = |outcome| outcomes.and_then(|o| o.get(&outcome)).copied().unwrap_or(0);
            let (successes, auth_failures) = (
                count(ExecutionOutcome::Success),
                count(ExecutionOutcome::AuthFailure),
            );
            let own = latest(&i.name, kind);
            let direction = match own {
                Some(Ok(())) if auth_failures > 0 => Some(Direction::GenesysFails),
                Some(Err(_)) if successes > 0 && auth_failures == 0 => {
                    Some(Direction::CredwatchFails)
                }
                _ => None,
            };
            Some(Comparison {
                integration: i.name.clone(),
                kind,
                successes,
                auth_failures,
                credwatch: own.map(|r| r.err().map_or("success", FailureReason::as_str)),
                direction,
            })
        })
        .collect();
    Some(compared)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::Arc;
    use std::time::{Duration, SystemTime};

    use super::*;
    use crate::orgview::{Executions, GenesysIntegration};

    fn integration(id: &str, kind: &'static str, watched: bool) -> GenesysIntegration {
        GenesysIntegration {
            id: id.to_string(),
            name: format!("{id} name"),
            type_id: "custom-rest-actions".to_string(),
            kind: Some(kind),
            intended_state: "ENABLED".to_string(),
            reported_state: "ACTIVE".to_string(),
            detail: None,
            watched: Some(watched),
        }
    }

    fn executions(id: &str, successes: u64, auth_failures: u64) -> Executions {
        let mut outcomes = BTreeMap::new();
        outcomes.insert(ExecutionOutcome::Success, successes);
        outcomes.insert(ExecutionOutcome::AuthFailure, auth_failures);
        outcomes.insert(ExecutionOutcome::ServerError, 3);
        Executions {
            integration_id: id.to_string(),
            name: format!("{id} name"),
            kind: "web_service".to_string(),
            outcomes,
        }
    }

    fn report(
        integrations: Vec<GenesysIntegration>,
        executions: Option<Vec<Executions>>,
    ) -> ViewReport {
        ViewReport {
            org: Arc::from("acme"),
            integration: "view".to_string(),
            outcome: Ok(()),
            integrations: Some(integrations),
            certificates: None,
            oauth_clients: None,
            executions,
            window: Some((0, 300)),
            compared: None,
            revoked: None,
            finished: SystemTime::now(),
            duration: Duration::ZERO,
        }
    }

    /// credwatch's results by integration id: `a` and `d` pass, `b` and `c` fail, `e` unchecked.
    fn latest(name: &str, kind: &'static str) -> Option<Result<(), FailureReason>> {
        assert_eq!(kind, "web_service");
        match name.split(' ').next()? {
            "a" | "d" | "f" => Some(Ok(())),
            "b" | "c" => Some(Err(FailureReason::InvalidCredentials)),
            _ => None,
        }
    }

    #[test]
    fn each_direction_is_found_on_the_integration_id_join() {
        let report = report(
            vec![
                integration("a", "web_service", true),
                integration("b", "web_service", true),
                integration("c", "web_service", true),
                integration("d", "web_service", true),
                integration("e", "web_service", true),
                integration("f", "web_service", false),
            ],
            Some(vec![
                // a passes in credwatch, Genesys met 401s: Genesys fails.
                executions("a", 10, 2),
                // b fails in credwatch, Genesys's succeed: credwatch fails.
                executions("b", 7, 0),
                // c fails on both sides: they agree.
                executions("c", 7, 1),
                // d: no executions in the window. e: credwatch has no result yet.
                executions("e", 0, 4),
                // f is not watched: not compared.
                executions("f", 0, 4),
            ]),
        );
        let compared = compare(&report, latest).expect("both parts read");
        let by_name: BTreeMap<&str, &Comparison> = compared
            .iter()
            .map(|c| (c.integration.as_str(), c))
            .collect();
        assert_eq!(
            by_name.keys().copied().collect::<Vec<_>>(),
            ["a name", "b name", "c name", "d name", "e name"]
        );
        assert_eq!(by_name["a name"].direction, Some(Direction::GenesysFails));
        assert_eq!(by_name["a name"].auth_failures, 2);
        assert_eq!(by_name["a name"].credwatch, Some("success"));
        assert_eq!(by_name["b name"].direction, Some(Direction::CredwatchFails));
        assert_eq!(by_name["b name"].credwatch, Some("invalid_credentials"));
        assert_eq!(by_name["c name"].direction, None);
        assert_eq!(by_name["d name"].direction, None);
        assert_eq!(
            (by_name["d name"].successes, by_name["d name"].auth_failures),
            (0, 0)
        );
        assert_eq!(by_name["e name"].direction, None);
        assert_eq!(by_name["e name"].credwatch, None);
    }

    #[test]
    fn nothing_is_compared_without_the_executions() {
        let report = report(vec![integration("a", "web_service", true)], None);
        assert!(compare(&report, latest).is_none());
    }
}
