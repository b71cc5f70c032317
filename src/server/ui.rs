//! The handlers of the status page: the overview, one integration's page, and its "Check now"
//! button (a form POST answered with a redirect back, so the page needs no script).

use axum::Extension;
use axum::extract::{Path, Query, State as AxumState};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};

use super::AppState;
use super::model;
use super::page::{self, Filters};
use crate::config::Role;

/// `GET /`.
pub(super) async fn overview(
    AxumState(app): AxumState<AppState>,
    Query(filters): Query<Filters>,
) -> Response {
    page_response(page::overview_page(app.models(), &filters, &app.genesys))
}

/// `GET /integrations/{name}`: the "Check now" button only for a user who may press it.
pub(super) async fn detail(
    AxumState(app): AxumState<AppState>,
    role: Option<Extension<Role>>,
    Path(name): Path<String>,
) -> Response {
    match app.find(&name) {
        Ok(integration) => {
            let model = model::integration(&app.state, &integration, true);
            let may_check = role.is_some_and(|r| r.0 == Role::Operate)
                && super::posts_refused(app.bound, &app.users).is_none();
            page_response(page::detail_page(&model, may_check))
        }
        Err(why) => (StatusCode::NOT_FOUND, format!("{why}\n")).into_response(),
    }
}

/// `POST /integrations/{name}/check`: checks, then shows the page again; 429 while the force
/// cooldown lasts.
pub(super) async fn check(
    AxumState(app): AxumState<AppState>,
    Path(name): Path<String>,
) -> Response {
    let integration = match app.find(&name) {
        Ok(integration) => integration,
        Err(why) => return (StatusCode::NOT_FOUND, format!("{why}\n")).into_response(),
    };
    if integration.active
        && let Err(cooldown) = app.checker.force(&integration).await
    {
        let seconds = super::retry_after_seconds(cooldown);
        return (
            StatusCode::TOO_MANY_REQUESTS,
            [(header::RETRY_AFTER, seconds.clone())],
            format!(
                "{:?} was checked on request moments ago; the next forced check is allowed in {seconds} s (the lockout guard's force cooldown)\n",
                integration.id
            ),
        )
            .into_response();
    }
    Redirect::to(&format!("/integrations/{}", page::segment(&integration.id))).into_response()
}

fn page_response(html: String) -> Response {
    (
        [
            (header::CACHE_CONTROL, "no-store"),
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'",
            ),
        ],
        Html(html),
    )
        .into_response()
}
