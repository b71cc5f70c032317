//! The org view on the status page and in the API (`[genesys]`): per org, the last read of
//! Genesys Cloud's integrations and mTLS client certificates, which data-action integrations
//! credwatch does not check, Genesys's record of their executions, and where that record and
//! credwatch's own checks disagree.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::SystemTime;

use axum::Json;
use axum::extract::State as AxumState;
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};
use serde_json::{Value, json};

use super::AppState;
use crate::clock::{rfc3339, rounded_seconds, unix_seconds};
use crate::integration::id_of;
use crate::orgview::{CanaryReport, Comparison, Direction, GenesysIntegration, ViewReport, Views};
use crate::outcome::result_of;

/// `GET /api/v1/genesys`: every org view's last read.
pub(super) async fn api(AxumState(app): AxumState<AppState>) -> Response {
    let orgs: Vec<Value> = app
        .genesys
        .all()
        .iter()
        .map(|report| {
            let certificates = report.certificates.as_ref().map(|all| {
                all.iter()
                    .map(|c| {
                        json!({
                            "signing_authority": c.signing_authority,
                            "status": c.status,
                            "expiry": c.expiry.map(rfc3339),
                            "problem": c.problem,
                        })
                    })
                    .collect::<Vec<_>>()
            });
            let canaries: Vec<Value> = app
                .genesys
                .canaries_of(&report.org)
                .iter()
                .map(|c| canary_json(c))
                .collect();
            json!({
                "org": &*report.org,
                "integration": report.integration,
                "result": result_of(&report.outcome),
                "message": report.outcome.as_ref().err().map(|f| &f.message),
                "finished": rfc3339(unix_seconds(report.finished)),
                "duration_seconds": rounded_seconds(report.duration),
                "token_revoked": report.revoked,
                "integrations": report.integrations,
                "certificates": certificates,
                "executions": report.window.map(|(start, end)| json!({
                    "start": rfc3339(start as f64),
                    "end": rfc3339(end as f64),
                    "integrations": report.executions,
                })),
                "compared": report.compared.as_ref().map(|all| {
                    all.iter().map(|c| json!({
                        "integration": c.integration,
                        "type": c.kind,
                        "successes": c.successes,
                        "auth_failures": c.auth_failures,
                        "credwatch": c.credwatch,
                        "disagreement": c.direction,
                        "message": c.direction.map(Direction::advice),
                    })).collect::<Vec<_>>()
                }),
                "canaries": canaries,
            })
        })
        .collect();
    Json(json!({ "orgs": orgs })).into_response()
}

/// One canary's last run, as the API gives it.
fn canary_json(report: &CanaryReport) -> Value {
    json!({
        "action": report.action,
        "integration": report.integration,
        "result": result_of(&report.outcome),
        "step": report.step,
        "message": report.outcome.as_ref().err().map(|f| &f.message),
        "finished": rfc3339(unix_seconds(report.finished)),
        "duration_seconds": rounded_seconds(report.duration),
        "held_until": report.held_until.map(|at| rfc3339(unix_seconds(at))),
    })
}

/// Where the last reads found Genesys and credwatch disagreeing, by credwatch's `ORG/NAME`.
pub(super) fn disagreements(reports: &[Arc<ViewReport>]) -> BTreeMap<String, Direction> {
    reports
        .iter()
        .flat_map(|report| {
            let compared = report.compared.iter().flatten();
            compared.filter_map(|c| Some((id_of(&report.org, &c.integration), c.direction?)))
        })
        .collect()
}

/// The status page's section: one block per org with a view.
pub(super) fn section(reports: &[Arc<ViewReport>], views: &Views) -> Markup {
    let now = unix_seconds(SystemTime::now());
    html! {
        @for report in reports {
            h2 { "Genesys Cloud view of " (report.org) }
            p {
                "Read " (super::page::ago(Some(unix_seconds(report.finished)), now))
                " with " (report.integration) ": "
                @match &report.outcome {
                    Ok(()) => span.success { "success" },
                    Err(failure) => { span.bad { (failure.reason.as_str()) } " " (failure.message) },
                }
            }
            @if let Some(integrations) = &report.integrations {
                @let actions: Vec<&GenesysIntegration> = integrations.iter().filter(|i| i.kind.is_some()).collect();
                p { (integrations.len()) " integrations, " (actions.len()) " of them data actions credwatch can check." }
                @if let Some((start, end)) = report.window {
                    p { "Executions Genesys recorded from " (rfc3339(start as f64)) " to " (rfc3339(end as f64)) "." }
                }
                table {
                    thead { tr { th { "Name" } th { "Type" } th { "Intended" } th { "Reported" } th { "Checked by credwatch" } th { "Executions (last window)" } } }
                    tbody {
                        @for i in &actions {
                            tr {
                                td.name { (i.name) }
                                td { (i.type_label()) br; small { (i.type_id) } }
                                td { (i.intended_state) }
                                td {
                                    span class=(if i.reported_state == "ERROR" { "bad" } else { "" }) { (i.reported_state) }
                                    @if let Some(detail) = &i.detail { br; small { (detail) } }
                                }
                                td { @if i.watched == Some(true) { "yes" } @else { span.amber { "no" } } }
                                td { (executions(report, i)) }
                            }
                        }
                    }
                }
            }
            @if let Some(certificates) = &report.certificates {
                table {
                    thead { tr { th { "mTLS client certificate" } th { "Status" } th { "Expires" } } }
                    tbody {
                        @for c in certificates {
                            tr {
                                td { (c.signing_authority) }
                                td { (c.status) }
                                td {
                                    @if let Some(expiry) = c.expiry {
                                        @let days = ((expiry - now) / 86_400.0).floor();
                                        @let class = if days <= 7.0 { "bad" } else if days <= 30.0 { "amber" } else { "" };
                                        (rfc3339(expiry)[..10]) " "
                                        span class=(class) {
                                            @if expiry <= now { "(expired)" } @else { "(" (days as i64) " days left)" }
                                        }
                                    } @else {
                                        span.bad { (c.problem.as_deref().unwrap_or("unknown")) }
                                    }
                                }
                            }
                        }
                    }
                }
                @if certificates.is_empty() { p.muted { "Genesys Cloud lists no mTLS client certificate." } }
            }
            (canaries(&views.canaries_of(&report.org), now))
        }
    }
}

/// One integration's executions in the read's window, by outcome, and the disagreement with
/// credwatch's check, if any.
fn executions(report: &ViewReport, integration: &GenesysIntegration) -> Markup {
    let counts = report
        .executions
        .iter()
        .flatten()
        .find(|e| e.integration_id == integration.id);
    let compared: Option<&Comparison> = report
        .compared
        .iter()
        .flatten()
        .find(|c| integration.kind == Some(c.kind) && c.integration == integration.name);
    html! {
        @match counts {
            Some(counts) => {
                @for (n, (outcome, count)) in counts.outcomes.iter().enumerate() {
                    @if n > 0 { ", " }
                    (count) " " (outcome.as_str())
                }
            }
            None => @if report.window.is_some() { span.muted { "none" } },
        }
        @if let Some(direction) = compared.and_then(|c| c.direction) {
            br; (super::page::disagreement(direction))
            br; small { (direction.advice()) }
        }
    }
}

/// The canary actions Genesys ran for an org: their last runs.
fn canaries(reports: &[Arc<CanaryReport>], now: f64) -> Markup {
    html! {
        @if !reports.is_empty() {
            table {
                thead { tr { th { "Canary action (run by Genesys)" } th { "Speaks for" } th { "Result" } th { "Failing step" } th { "Message" } th { "Last run" } } }
                tbody {
                    @for c in reports {
                        tr {
                            td.name { (c.action) }
                            td { (c.integration) }
                            td {
                                @match &c.outcome {
                                    Ok(()) => span.success { "success" },
                                    Err(failure) => span.bad { (failure.reason.as_str()) },
                                }
                            }
                            td { (c.step.as_deref().unwrap_or("")) }
                            td.message {
                                (c.outcome.as_ref().err().map_or("", |f| f.message.as_str()))
                                @if let Some(at) = c.held_until {
                                    br;
                                    span.bad { "Held by the lockout guard until " (rfc3339(unix_seconds(at))) ": each run logs in with the credential Genesys holds." }
                                }
                            }
                            td.nowrap { (super::page::ago(Some(unix_seconds(c.finished)), now)) }
                        }
                    }
                }
            }
        }
    }
}
