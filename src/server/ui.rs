//! The handlers of the status page: the overview, one integration's page, and its "Check now"
//! button (a form POST answered with a redirect back, so the page needs no script).

use axum::extract::{Path, Query, State as AxumState};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};

use super::AppState;
use super::page::{self, Filters};
use super::view;

/// `GET /`.
pub(super) async fn overview(
    AxumState(app): AxumState<AppState>,
    Query(filters): Query<Filters>,
) -> Response {
    page_response(page::overview_page(
        app.views(),
        &filters,
        &app.genesys.all(),
    ))
}

/// `GET /integrations/{name}`.
pub(super) async fn detail(
    AxumState(app): AxumState<AppState>,
    Path(name): Path<String>,
) -> Response {
    match app.find(&name) {
        Ok(integration) => {
            let view = view::integration(&app.state, &integration, true);
            page_response(page::detail_page(
                &view,
                super::posts_refused(app.bound, &app.users).is_none(),
            ))
        }
        Err(why) => (StatusCode::NOT_FOUND, format!("{why}\n")).into_response(),
    }
}

/// `POST /integrations/{name}/check`: checks, then shows the page again.
pub(super) async fn check(
    AxumState(app): AxumState<AppState>,
    Path(name): Path<String>,
) -> Response {
    let integration = match app.find(&name) {
        Ok(integration) => integration,
        Err(why) => return (StatusCode::NOT_FOUND, format!("{why}\n")).into_response(),
    };
    if integration.active {
        app.checker.check(&integration, true).await;
    }
    Redirect::to(&format!("/integrations/{}", page::segment(&integration.id))).into_response()
}

fn page_response(html: String) -> Response {
    (
        [
            (header::CACHE_CONTROL, "no-store"),
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'",
            ),
        ],
        Html(html),
    )
        .into_response()
}
