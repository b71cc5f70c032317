//! The org view on the status page and in the API (`[genesys]`): per org, the last read of
//! Genesys Cloud's integrations and mTLS client certificates, and which data-action
//! integrations credwatch does not check.

use std::sync::Arc;
use std::time::SystemTime;

use axum::Json;
use axum::extract::State as AxumState;
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};
use serde_json::{Value, json};

use super::AppState;
use crate::clock::{rfc3339, unix_seconds};
use crate::orgview::{GenesysIntegration, ViewReport};

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
            let failure = report.outcome.as_ref().err();
            json!({
                "org": &*report.org,
                "integration": report.integration,
                "result": failure.map_or("success", |f| f.reason.as_str()),
                "message": failure.map(|f| f.message.clone()),
                "finished": rfc3339(unix_seconds(report.finished)),
                "duration_seconds": (report.duration.as_secs_f64() * 1000.0).round() / 1000.0,
                "token_revoked": report.revoked,
                "integrations": report.integrations,
                "certificates": certificates,
            })
        })
        .collect();
    Json(json!({ "orgs": orgs })).into_response()
}

/// The status page's section: one block per org with a view.
pub(super) fn section(reports: &[Arc<ViewReport>]) -> Markup {
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
                table {
                    thead { tr { th { "Name" } th { "Type" } th { "Intended" } th { "Reported" } th { "Checked by credwatch" } } }
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
        }
    }
}
