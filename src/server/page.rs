//! The status page at `/` and each integration's page at `/integrations/{name}`: server-rendered
//! HTML from maud (checked at compile time, every spliced value escaped), with its CSS inline, no
//! script and no external asset, refreshing itself. Failures first, a summary line, filters by
//! type and by result through query parameters.

use std::collections::BTreeMap;
use std::time::SystemTime;

use maud::{DOCTYPE, Markup, PreEscaped, html};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde::Deserialize;

use super::model::{IntegrationModel, Status, Summary};
use crate::clock::unix_seconds;
use crate::forecast::Forecast;
use crate::orgview::Direction;
use crate::verify::TYPES;

/// Seconds between the page's own refreshes.
const REFRESH_SECONDS: u32 = 15;

/// Characters left as they are in a path segment.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

const CSS: &str = r#"
:root { color-scheme: light dark; --ok: #1a7f37; --bad: #cf222e; --warn: #9a6700; --muted: #6e7781; }
body { font: 13px/1.4 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 1.5rem; }
h1 { font-size: 1.3rem; margin: 0 0 .3rem; } h2 { font-size: 1.1rem; margin-top: 1.5rem; }
.summary span { margin-right: 1rem; font-weight: 600; }
table { border-collapse: collapse; width: 100%; margin-top: .8rem; }
th, td { text-align: left; padding: .35rem .5rem; border-bottom: 1px solid #8884; vertical-align: top; }
th { font-size: .8rem; text-transform: uppercase; letter-spacing: .03em; color: var(--muted); }
td.message { min-width: 22rem; max-width: 40rem; overflow-wrap: anywhere; }
td.name { min-width: 9rem; } td.nowrap { white-space: nowrap; } td.notes { max-width: 18rem; }
small { color: var(--muted); }
details summary { cursor: pointer; }
.healthy, .success { color: var(--ok); font-weight: 600; }
.failing, .bad { color: var(--bad); font-weight: 600; }
.guarded, .amber { color: var(--warn); font-weight: 600; }
.inactive, .pending, .muted { color: var(--muted); }
form.filters { margin-top: .8rem; } form.filters select { margin-right: .5rem; }
dl { display: grid; grid-template-columns: max-content auto; gap: .25rem 1rem; } dt { color: var(--muted); }
"#;

/// `?type=...&result=...`: `result` is a status (`failing`, `guarded`, ...), `success` or a
/// failure reason.
#[derive(Debug, Default, Deserialize)]
pub struct Filters {
    pub org: Option<String>,
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub result: Option<String>,
}

impl Filters {
    fn keeps(&self, model: &IntegrationModel) -> bool {
        let org = self
            .org
            .as_deref()
            .filter(|o| !o.is_empty())
            .is_none_or(|o| o == model.org);
        let kind = self
            .kind
            .as_deref()
            .filter(|k| !k.is_empty())
            .is_none_or(|k| k == model.kind);
        let result = self
            .result
            .as_deref()
            .filter(|r| !r.is_empty())
            .is_none_or(|r| r == model.status.as_str() || model.result.as_deref() == Some(r));
        org && kind && result
    }
}

fn layout(title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta http-equiv="refresh" content=(REFRESH_SECONDS);
                title { (title) }
                style { (PreEscaped(CSS)) }
            }
            body { (body) }
        }
    }
}

/// The overview: summary, filters, one row per integration, failures first.
pub fn overview(
    mut models: Vec<IntegrationModel>,
    filters: &Filters,
    disagreements: &BTreeMap<String, Direction>,
) -> Markup {
    let summary = Summary::of(&models);
    let orgs: std::collections::BTreeSet<String> = models.iter().map(|v| v.org.clone()).collect();
    let many_orgs = orgs.len() > 1;
    models.retain(|v| filters.keeps(v));
    // Stable: within a status, config order.
    models.sort_by_key(|v| v.status);
    let now = unix_seconds(SystemTime::now());
    let ending = ending_soon(&models, now);
    let results = [
        "failing", "guarded", "healthy", "inactive", "pending", "success",
    ];
    html! {
        h1 { "credwatch" }
        p.summary {
            span.healthy { (summary.healthy) " healthy" }
            span.failing { (summary.failing) " failing" }
            span.guarded { (summary.guarded) " guarded" }
            span.inactive { (summary.inactive) " inactive" }
            @if summary.pending > 0 { span.pending { (summary.pending) " not checked yet" } }
        }
        (ending_table(&ending, now))
        form.filters method="get" action="/" {
            @if many_orgs {
                label { "Org " select name="org" {
                    option value="" { "all" }
                    @for org in &orgs {
                        option value=(org) selected[filters.org.as_deref() == Some(org.as_str())] { (org) }
                    }
                } }
            }
            label { "Type " select name="type" {
                option value="" { "all" }
                @for kind in TYPES {
                    option value=(kind.key) selected[filters.kind.as_deref() == Some(kind.key)] { (kind.key) }
                }
            } }
            label { "Result " select name="result" {
                option value="" { "all" }
                @for result in results {
                    option value=(result) selected[filters.result.as_deref() == Some(result)] { (result) }
                }
                @for reason in crate::outcome::FailureReason::ALL {
                    option value=(reason.as_str()) selected[filters.result.as_deref() == Some(reason.as_str())] { (reason.as_str()) }
                }
            } }
            button type="submit" { "Filter" }
        }
        table {
            thead { tr {
                @if many_orgs { th { "Org" } }
                th { "Name" } th { "Type / credential" } th { "Active" } th { "Result" }
                th { "Message" } th { "Last success" } th { "Expires" } th { "Token expiry" }
                th { "Certificates" } th { "Guard" } th { "Notes" }
            } }
            tbody {
                @for model in &models {
                    (row(model, many_orgs, disagreements.get(&model.id).copied(), now))
                }
            }
        }
        @if models.is_empty() { p.muted { "No integration matches." } }
    }
}

/// One integration's row of the overview; `disagreement` marks it.
fn row(
    model: &IntegrationModel,
    many_orgs: bool,
    disagreement: Option<Direction>,
    now: f64,
) -> Markup {
    html! {
        tr {
            @if many_orgs { td { (model.org) } }
            td.name { a href={ "/integrations/" (segment(&model.id)) } { (model.name) } }
            td { (model.kind) br; small { (model.credential_type) } }
            td { @if model.active { "yes" } @else { span.muted { "no" } } }
            td.nowrap {
                (result(model))
                @if let Some(direction) = disagreement { br; (self::disagreement(direction)) }
            }
            td.message { (message(model.message.as_deref())) }
            td.nowrap { (ago(model.seconds.last_success, now)) }
            td.nowrap { (expires(model.seconds.expiries.first(), now)) }
            td.nowrap { (until(model.seconds.token_expiry, now)) }
            td { (certificates(model, now)) }
            td.nowrap { (guard(model, now)) }
            td.notes { (model.notes.as_deref().unwrap_or("")) }
        }
    }
}

/// The mark of a row where Genesys's executions and credwatch's check disagree.
pub(super) fn disagreement(direction: Direction) -> Markup {
    let text = match direction {
        Direction::GenesysFails => "Genesys's actions refused (401/403)",
        Direction::CredwatchFails => "Genesys's actions succeed",
    };
    html! { span.bad.disagreement title=(direction.advice()) { "⚠ " (text) } }
}

/// The page of the whole status, with the org views (`[genesys]`) after the integrations.
pub fn overview_page(
    models: Vec<IntegrationModel>,
    filters: &Filters,
    views: &crate::orgview::Views,
) -> String {
    let org = filters.org.as_deref().filter(|o| !o.is_empty());
    let genesys: Vec<_> = views
        .all()
        .into_iter()
        .filter(|report| org.is_none_or(|org| *report.org == *org))
        .collect();
    let section = super::genesys::section(&genesys, views);
    let disagreements = super::genesys::disagreements(&genesys);
    let body = html! { (overview(models, filters, &disagreements)) (section) };
    layout("credwatch", body).into_string()
}

/// One integration with its last results.
pub fn detail_page(model: &IntegrationModel, checks_allowed: bool) -> String {
    let now = unix_seconds(SystemTime::now());
    let body = html! {
        p { a href="/" { "← all integrations" } }
        h1 { (model.name) }
        dl {
            dt { "Org" } dd { (model.org) }
            dt { "Type" } dd { (model.kind) " (" (model.credential_type) ")" }
            dt { "Active" } dd { @if model.active { "yes" } @else { "no" } }
            dt { "Result" } dd { (result(model)) }
            dt { "Message" } dd { (model.message.as_deref().unwrap_or("")) }
            dt { "Last check" } dd { (ago(model.seconds.last_check, now)) }
            dt { "Last success" } dd { (ago(model.seconds.last_success, now)) }
            dt { "Token expiry" } dd { (until(model.seconds.token_expiry, now)) }
            dt { "Certificates" } dd { (certificates(model, now)) }
            dt { "Expires" } dd {
                @for forecast in &model.seconds.expiries { div { (expires(Some(forecast), now)) } }
                @if model.seconds.expiries.is_empty() { "–" }
            }
            dt { "Lockout guard" } dd { (guard(model, now)) }
            dt { "Notes" } dd { (model.notes.as_deref().unwrap_or("")) }
        }
        @if model.active && checks_allowed {
            form method="post" action={ "/integrations/" (segment(&model.id)) "/check" } {
                button type="submit" { "Check now" }
                " (bypasses the lockout guard for one attempt)"
            }
        }
        h2 { "Last results" }
        table {
            thead { tr { th { "Ended" } th { "Took" } th { "Result" } th { "Message" } } }
            tbody {
                @for entry in model.history.iter().flatten() {
                    tr {
                        td { (crate::clock::rfc3339(entry.time)) " (" (ago(Some(entry.time), now)) ")" }
                        td { (format!("{:.3} s", entry.duration_seconds)) }
                        td { span class=(if entry.result == "success" { "success" } else { "bad" }) { (entry.result) } }
                        td.message { (entry.message.as_deref().unwrap_or("")) }
                    }
                }
            }
        }
    };
    layout(&format!("{} · credwatch", model.name), body).into_string()
}

/// Messages longer than this show their start, and open to the rest.
const SHORT_MESSAGE: usize = 140;

/// A message; a long one folded into a `<details>` so that one row does not fill the screen.
fn message(text: Option<&str>) -> Markup {
    let text = text.unwrap_or("");
    if text.chars().count() <= SHORT_MESSAGE {
        return html! { (text) };
    }
    let start: String = text.chars().take(SHORT_MESSAGE).collect();
    html! { details { summary { (start) "…" } (text) } }
}

fn result(model: &IntegrationModel) -> Markup {
    let class = model.status.as_str();
    html! {
        span class=(class) {
            @match (model.status, model.result.as_deref()) {
                (Status::Inactive, _) => "inactive",
                (_, None) => "not checked yet",
                (Status::Guarded, Some(reason)) => { "guarded: " (reason) },
                (_, Some(result)) => (result),
            }
        }
    }
}

fn guard(model: &IntegrationModel, now: f64) -> Markup {
    html! {
        @if !model.guard.enabled { span.muted { "off" } }
        @else if model.guard.engaged {
            span.guarded { "engaged" }
            @if let Some(at) = model.seconds.guard_retry {
                br; small { "retry " (until(Some(at), now)) }
            }
        }
        @else { "on" }
    }
}

fn certificates(model: &IntegrationModel, now: f64) -> Markup {
    html! {
        @for (label, expiry) in [("client", model.seconds.client_certificate), ("server", model.seconds.server_certificate)] {
            @if let Some(expiry) = expiry {
                div { (label) ": " (date_left(expiry, now)) }
            }
        }
    }
}

/// What the alerts call soon: the page lists what ends within this many days.
const SOON_DAYS: u32 = 30;

/// "2027-04-30 (151 days left)", amber within 30 days and red within 7.
fn date_left(at: f64, now: f64) -> Markup {
    let days = ((at - now) / 86_400.0).floor();
    let class = if days < 7.0 {
        "bad"
    } else if days < f64::from(SOON_DAYS) {
        "amber"
    } else {
        ""
    };
    html! {
        (crate::clock::rfc3339(at)[..10]) " "
        span class=(class) {
            @if at <= now { "(ended)" } @else { "(" (days as i64) " days left)" }
        }
    }
}

/// What ends within [`SOON_DAYS`]: nothing at all when nothing does.
fn ending_table(ending: &[(&IntegrationModel, String, &'static str, f64)], now: f64) -> Markup {
    html! {
        @if !ending.is_empty() {
            h2 { "Ending in the next " (SOON_DAYS) " days" }
            table.ending {
                thead { tr { th { "Integration" } th { "What ends" } th { "When" } th { "Says who" } } }
                tbody {
                    @for (model, what, source, at) in ending {
                        tr {
                            td.name { a href={ "/integrations/" (segment(&model.id)) } { (model.id) } }
                            td { (what) }
                            td.nowrap { (date_left(*at, now)) }
                            td { (source) }
                        }
                    }
                }
            }
        }
    }
}

/// A credential's forecast: what ends, when, and who says so.
fn expires(forecast: Option<&Forecast>, now: f64) -> Markup {
    match forecast {
        None => html! { "–" },
        Some(f) => html! {
            (date_left(f.at, now)) br;
            small { (f.credential.as_str()) ", " (f.source.as_str()) }
        },
    }
}

/// Everything of the active integrations that ends within [`SOON_DAYS`] (or has ended):
/// credentials and certificates, soonest first. Tokens are left out: checks mint them, and
/// they end by design.
fn ending_soon(
    models: &[IntegrationModel],
    now: f64,
) -> Vec<(&IntegrationModel, String, &'static str, f64)> {
    let horizon = now + f64::from(SOON_DAYS) * 86_400.0;
    let mut ending = Vec::new();
    for model in models.iter().filter(|m| m.active) {
        for f in &model.seconds.expiries {
            ending.push((
                model,
                f.credential.as_str().replace('_', " "),
                f.source.as_str(),
                f.at,
            ));
        }
        for (label, at) in [
            ("client certificate", model.seconds.client_certificate),
            ("server certificate", model.seconds.server_certificate),
        ] {
            if let Some(at) = at {
                ending.push((model, label.to_string(), "seen by the check", at));
            }
        }
    }
    ending.retain(|(_, _, _, at)| *at <= horizon);
    ending.sort_by(|a, b| a.3.total_cmp(&b.3));
    ending
}

/// "3 min ago".
pub(super) fn ago(seconds: Option<f64>, now: f64) -> String {
    match seconds {
        None => "never".to_string(),
        Some(t) => format!("{} ago", span(now - t)),
    }
}

/// "in 59 min", or "expired 2 h ago".
fn until(seconds: Option<f64>, now: f64) -> String {
    match seconds {
        None => "–".to_string(),
        Some(t) if t >= now => format!("in {}", span(t - now)),
        Some(t) => format!("expired {} ago", span(now - t)),
    }
}

fn span(seconds: f64) -> String {
    let s = seconds.max(0.0) as u64;
    match s {
        0..=59 => format!("{s} s"),
        60..=3599 => format!("{} min", s / 60),
        3600..=172_799 => format!("{} h", s / 3600),
        _ => format!("{} days", s / 86_400),
    }
}

/// A name as one path segment.
pub fn segment(name: &str) -> String {
    utf8_percent_encode(name, SEGMENT).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_read_well() {
        assert_eq!(span(42.0), "42 s");
        assert_eq!(span(180.0), "3 min");
        assert_eq!(span(7200.0), "2 h");
        assert_eq!(span(3.0 * 86_400.0), "3 days");
        assert_eq!(ago(None, 0.0), "never");
        assert_eq!(until(Some(100.0), 200.0), "expired 1 min ago");
    }

    #[test]
    fn names_become_one_segment() {
        assert_eq!(segment("Sales/force prod"), "Sales%2Fforce%20prod");
    }
}
