//! The JSON API, `/api/v1`: the integrations with their state, one integration with its last 20
//! results, and a check on demand (an operator's request: it bypasses the lockout guard for
//! one attempt, at most once per force cooldown; a second request while one runs shares its
//! result).

use axum::Json;
use axum::extract::{Path, State as AxumState};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use super::AppState;
use super::model::{self, IntegrationModel, Summary};

/// `GET /api/v1/integrations`.
#[derive(Serialize)]
struct List {
    summary: Summary,
    integrations: Vec<IntegrationModel>,
}

/// An API error: `{"error": "..."}` with a status.
fn error(status: StatusCode, message: String) -> Response {
    (status, Json(serde_json::json!({ "error": message }))).into_response()
}

fn not_found(why: String) -> Response {
    error(StatusCode::NOT_FOUND, why)
}

/// Every configured integration, in config order.
pub(super) async fn list(AxumState(app): AxumState<AppState>) -> Response {
    let models = app.models();
    Json(List {
        summary: Summary::of(&models),
        integrations: models,
    })
    .into_response()
}

/// One integration with its last results.
pub(super) async fn detail(
    AxumState(app): AxumState<AppState>,
    Path(name): Path<String>,
) -> Response {
    match app.find(&name) {
        Ok(integration) => Json(model::integration(&app.state, &integration, true)).into_response(),
        Err(why) => not_found(why),
    }
}

/// Checks one integration now and answers with its model after the check; 429 with
/// `Retry-After` and the current model while the force cooldown lasts.
pub(super) async fn check(
    AxumState(app): AxumState<AppState>,
    Path(name): Path<String>,
) -> Response {
    let integration = match app.find(&name) {
        Ok(integration) => integration,
        Err(why) => return not_found(why),
    };
    if !integration.active {
        return error(
            StatusCode::CONFLICT,
            format!(
                "integration {:?} is inactive; inactive integrations are never exercised",
                integration.id
            ),
        );
    }
    match app.checker.force(&integration).await {
        Ok(_) => Json(model::integration(&app.state, &integration, true)).into_response(),
        Err(cooldown) => (
            StatusCode::TOO_MANY_REQUESTS,
            [(header::RETRY_AFTER, super::retry_after_seconds(cooldown))],
            Json(model::integration(&app.state, &integration, true)),
        )
            .into_response(),
    }
}
