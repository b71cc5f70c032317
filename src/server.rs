//! The HTTP endpoints: `/metrics` for Prometheus, `/healthz` (the process serves) and `/readyz`
//! (every active integration has been checked at least once, so the metrics mean something).

use std::sync::Arc;

use axum::Router;
use axum::extract::State as AxumState;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::config::Integration;
use crate::metrics::Metrics;
use crate::state::State;

/// What the handlers read.
#[derive(Clone)]
pub struct AppState {
    pub metrics: Arc<Metrics>,
    pub state: Arc<State>,
    pub integrations: Arc<Vec<Arc<Integration>>>,
}

/// The routes.
pub fn router(app: AppState) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .with_state(app)
}

/// Serves until `shutdown` is cancelled.
pub async fn serve(
    listener: TcpListener,
    app: AppState,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    axum::serve(listener, router(app))
        .with_graceful_shutdown(async move { shutdown.cancelled().await })
        .await
}

async fn metrics(AxumState(app): AxumState<AppState>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        app.metrics.render(),
    )
}

async fn readyz(AxumState(app): AxumState<AppState>) -> impl IntoResponse {
    let active: Vec<_> = app.integrations.iter().filter(|i| i.active).collect();
    let checked = active
        .iter()
        .filter(|i| app.state.last_report(&i.name).is_some())
        .count();
    if checked == active.len() {
        (
            StatusCode::OK,
            format!("ready: {checked} active integrations checked\n"),
        )
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "not ready: {checked} of {} active integrations checked\n",
                active.len()
            ),
        )
    }
}
