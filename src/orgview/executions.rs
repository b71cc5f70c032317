//! Genesys Cloud's own record of data-action executions: `POST
//! /api/v2/analytics/actions/aggregates/query` (permission `integrations:action:view`) for the
//! window since the previous read, grouped by `integrationId`, `errorType` and
//! `responseStatus`, metric `tTotalExecution`. It costs no third-party login. Windows follow one
//! another without overlap or gap, also across restarts: the end of the last one is kept in the
//! state (the view's integration's record).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::api::Reader;
use crate::outcome::Failure;

/// The permission the aggregates query needs (or `bridge:actions:view`).
pub const EXECUTIONS_PERMISSION: &str = "integrations:action:view";

/// The longest window asked for at once: after a longer outage, the window starts this long
/// before its end (and the log says what was skipped).
pub const LONGEST_WINDOW: i64 = 7 * 86_400;

/// What became of executions: the `outcome` label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Success,
    /// The third party answered 401 or 403.
    AuthFailure,
    ClientError,
    ServerError,
    Timeout,
    Other,
}

impl Outcome {
    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::AuthFailure => "auth_failure",
            Self::ClientError => "client_error",
            Self::ServerError => "server_error",
            Self::Timeout => "timeout",
            Self::Other => "other",
        }
    }

    /// The outcome of executions Genesys groups under `error_type` (`NONE` for none) and the
    /// third party's `response_status`.
    pub fn of(error_type: Option<&str>, response_status: Option<&str>) -> Self {
        let status = response_status.and_then(|s| s.trim().parse::<u16>().ok());
        let error = error_type
            .map(str::to_ascii_uppercase)
            .filter(|e| !e.is_empty() && e != "NONE");
        match (status, error.as_deref()) {
            (Some(401 | 403), _) => Self::AuthFailure,
            (Some(408 | 504), _) => Self::Timeout,
            (_, Some(e)) if e.contains("TIMEOUT") => Self::Timeout,
            (Some(400..=499), _) => Self::ClientError,
            (Some(500..=599), _) => Self::ServerError,
            (Some(200..=299) | None, None) => Self::Success,
            _ => Self::Other,
        }
    }
}

/// Executions of one Genesys integration in the window, by outcome.
#[derive(Debug, Clone, Serialize)]
pub struct Executions {
    /// Genesys Cloud's integration id.
    pub integration_id: String,
    /// Its name, from the integrations list (the id when the list has none).
    pub name: String,
    /// credwatch's type, else Genesys's type id (`unknown` when the list does not have it).
    #[serde(rename = "type")]
    pub kind: String,
    pub outcomes: BTreeMap<Outcome, u64>,
}

/// The window of a read at `now` (unix seconds) after one that ended at `previous_end`: from
/// there to now, whole seconds, never longer than [`LONGEST_WINDOW`]; the first read ever looks
/// back `first` seconds. `None` when no time has passed.
pub fn window(previous_end: Option<i64>, now: i64, first: i64) -> Option<(i64, i64)> {
    let start = previous_end.unwrap_or(now - first);
    let start = start.max(now - LONGEST_WINDOW);
    (start < now).then_some((start, now))
}

/// The window as the query's `interval`: ISO-8601 start/end, UTC, milliseconds.
pub fn interval((start, end): (i64, i64)) -> String {
    let iso = |at: i64| {
        chrono::DateTime::from_timestamp(at, 0)
            .unwrap_or_default()
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
    };
    format!("{}/{}", iso(start), iso(end))
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Query<'a> {
    interval: String,
    group_by: [&'a str; 3],
    metrics: [&'a str; 1],
}

#[derive(Deserialize)]
struct Answer {
    #[serde(default)]
    results: Vec<Group>,
}

#[derive(Deserialize)]
struct Group {
    #[serde(default)]
    group: BTreeMap<String, String>,
    #[serde(default)]
    data: Vec<Data>,
}

#[derive(Deserialize)]
struct Data {
    #[serde(default)]
    metrics: Vec<Metric>,
}

#[derive(Deserialize)]
struct Metric {
    metric: String,
    stats: Stats,
}

#[derive(Deserialize)]
struct Stats {
    count: Option<u64>,
}

/// Sums an answer's `tTotalExecution` counts by integration id and outcome.
fn counts(answer: Answer) -> BTreeMap<String, BTreeMap<Outcome, u64>> {
    let mut out: BTreeMap<String, BTreeMap<Outcome, u64>> = BTreeMap::new();
    for group in answer.results {
        let Some(id) = group.group.get("integrationId") else {
            continue;
        };
        let outcome = Outcome::of(
            group.group.get("errorType").map(String::as_str),
            group.group.get("responseStatus").map(String::as_str),
        );
        let count: u64 = group
            .data
            .iter()
            .flat_map(|d| &d.metrics)
            .filter(|m| m.metric == "tTotalExecution")
            .filter_map(|m| m.stats.count)
            .sum();
        *out.entry(id.clone())
            .or_default()
            .entry(outcome)
            .or_default() += count;
    }
    out
}

impl Reader<'_> {
    /// The executions of the window, each integration named as `names` (id → name, type) has
    /// it.
    pub(super) async fn executions(
        &self,
        window: (i64, i64),
        names: &BTreeMap<String, (String, String)>,
    ) -> Result<Vec<Executions>, Failure> {
        let mut url = self.origin.clone();
        url.set_path("/api/v2/analytics/actions/aggregates/query");
        let query = Query {
            interval: interval(window),
            group_by: ["integrationId", "errorType", "responseStatus"],
            metrics: ["tTotalExecution"],
        };
        let response = self
            .post_json(
                url,
                &query,
                "the data actions' executions",
                EXECUTIONS_PERMISSION,
            )
            .await?;
        let answer: Answer =
            response.json("Genesys Cloud /api/v2/analytics/actions/aggregates/query")?;
        Ok(counts(answer)
            .into_iter()
            .map(|(id, outcomes)| {
                let (name, kind) = names
                    .get(&id)
                    .cloned()
                    .unwrap_or_else(|| (id.clone(), "unknown".to_string()));
                Executions {
                    integration_id: id,
                    name,
                    kind,
                    outcomes,
                }
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_follow_one_another_without_overlap_or_gap() {
        // The first read looks back one interval.
        let first = window(None, 1_000_000, 300).unwrap();
        assert_eq!(first, (999_700, 1_000_000));
        // The next starts where it ended, also after a restart (the end came from the state).
        let next = window(Some(first.1), 1_000_300, 300).unwrap();
        assert_eq!(next, (1_000_000, 1_000_300));
        let after_restart = window(Some(next.1), 1_004_000, 300).unwrap();
        assert_eq!(after_restart.0, next.1);
        // No time passed: no window.
        assert_eq!(window(Some(1_004_000), 1_004_000, 300), None);
        // After a week's outage, a week at most.
        let long = window(Some(0), 2_000_000, 300).unwrap();
        assert_eq!(long, (2_000_000 - LONGEST_WINDOW, 2_000_000));
        assert_eq!(
            interval((1_788_256_800, 1_788_257_100)),
            "2026-09-01T10:00:00.000Z/2026-09-01T10:05:00.000Z"
        );
    }

    #[test]
    fn outcomes_come_from_the_error_type_and_the_status() {
        let rows = [
            (Some("NONE"), Some("200"), Outcome::Success),
            (None, None, Outcome::Success),
            (
                Some("REMOTE_ENDPOINT_ERROR"),
                Some("401"),
                Outcome::AuthFailure,
            ),
            (
                Some("REMOTE_ENDPOINT_ERROR"),
                Some("403"),
                Outcome::AuthFailure,
            ),
            (
                Some("REMOTE_ENDPOINT_ERROR"),
                Some("404"),
                Outcome::ClientError,
            ),
            (
                Some("REMOTE_ENDPOINT_ERROR"),
                Some("503"),
                Outcome::ServerError,
            ),
            (Some("TIMEOUT"), None, Outcome::Timeout),
            (Some("REMOTE_ENDPOINT_ERROR"), Some("504"), Outcome::Timeout),
            (Some("TRANSLATION_ERROR"), Some("200"), Outcome::Other),
            (Some("INTERNAL_ERROR"), None, Outcome::Other),
        ];
        for (error, status, outcome) in rows {
            assert_eq!(Outcome::of(error, status), outcome, "{error:?} {status:?}");
        }
    }

    #[test]
    fn counts_are_summed_by_integration_and_outcome() {
        let answer: Answer = serde_json::from_value(serde_json::json!({"results": [
            {"group": {"integrationId": "a", "errorType": "NONE", "responseStatus": "200"},
             "data": [{"interval": "x", "metrics": [{"metric": "tTotalExecution", "stats": {"count": 7}}]}]},
            {"group": {"integrationId": "a", "errorType": "REMOTE_ENDPOINT_ERROR", "responseStatus": "401"},
             "data": [{"interval": "x", "metrics": [{"metric": "tTotalExecution", "stats": {"count": 2}}]},
                      {"interval": "y", "metrics": [{"metric": "tTotalExecution", "stats": {"count": 1}}]}]},
            {"group": {"integrationId": "b"},
             "data": [{"interval": "x", "metrics": [{"metric": "tTotalExecution", "stats": {"count": 4}}]}]},
            {"group": {"errorType": "NONE"}, "data": []}
        ]}))
        .unwrap();
        let counts = counts(answer);
        assert_eq!(counts["a"][&Outcome::Success], 7);
        assert_eq!(counts["a"][&Outcome::AuthFailure], 3);
        assert_eq!(counts["b"][&Outcome::Success], 4);
        assert_eq!(counts.len(), 2);
    }
}
