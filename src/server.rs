//! The HTTP endpoints: `/metrics` for Prometheus, `/healthz` (the process serves), `/readyz`
//! (every active integration has been checked at least once, so the metrics mean something) and
//! `POST /-/reload` (reload the config, as SIGHUP does).

use std::sync::{Arc, RwLock};

use axum::Router;
use axum::extract::State as AxumState;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use crate::config::Integration;
use crate::metrics::Metrics;
use crate::state::State;

/// A reload asked for over HTTP, answered with the reload's error if it failed.
pub type ReloadRequest = oneshot::Sender<Result<(), String>>;

/// What the handlers read.
#[derive(Clone)]
pub struct AppState {
    pub metrics: Arc<Metrics>,
    pub state: Arc<State>,
    /// The running config's integrations; replaced on reload.
    pub integrations: Arc<RwLock<Vec<Arc<Integration>>>>,
    /// Where `POST /-/reload` sends its request.
    pub reload: mpsc::Sender<ReloadRequest>,
}

/// The routes.
pub fn router(app: AppState) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/-/reload", post(reload))
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
    let (active, checked) = {
        let integrations = app.integrations.read().unwrap_or_else(|p| p.into_inner());
        let active = integrations.iter().filter(|i| i.active);
        let checked = active
            .clone()
            .filter(|i| app.state.last_report(&i.name).is_some())
            .count();
        (active.count(), checked)
    };
    if checked == active {
        (
            StatusCode::OK,
            format!("ready: {checked} active integrations checked\n"),
        )
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not ready: {checked} of {active} active integrations checked\n"),
        )
    }
}

async fn reload(AxumState(app): AxumState<AppState>) -> impl IntoResponse {
    let (answer, result) = oneshot::channel();
    if app.reload.send(answer).await.is_err() {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "shutting down\n".to_string(),
        );
    }
    match result.await {
        Ok(Ok(())) => (StatusCode::OK, "reloaded\n".to_string()),
        Ok(Err(e)) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("reload failed, running config kept: {e}\n"),
        ),
        Err(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            "shutting down\n".to_string(),
        ),
    }
}
