//! The HTTP endpoints: `/metrics` for Prometheus, `/healthz` (the process serves), `/readyz`
//! (every active integration has been checked at least once, so the metrics mean something),
//! the JSON API under `/api/v1` (in `api.rs`) and `POST /-/reload` (reload the config, as SIGHUP
//! does). Handlers only read and ask; what a check does lives in [`crate::checker`].

mod api;
pub mod view;

use std::sync::{Arc, RwLock};

use axum::Router;
use axum::extract::{Request, State as AxumState};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use crate::checker::Checker;
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
    /// Runs the checks the API asks for.
    pub checker: Arc<Checker>,
    /// The running config's integrations; replaced on reload.
    pub integrations: Arc<RwLock<Vec<Arc<Integration>>>>,
    /// Where `POST /-/reload` sends its request.
    pub reload: mpsc::Sender<ReloadRequest>,
    /// Why POST requests are refused, when they are: a listener others can reach, with no
    /// users to tell an operator from anyone else.
    pub posts_refused: Option<Arc<str>>,
}

/// The routes.
pub fn router(app: AppState) -> Router {
    let posts = Router::new()
        .route("/-/reload", post(reload))
        .route("/api/v1/integrations/{name}/check", post(api::check))
        .route_layer(middleware::from_fn_with_state(app.clone(), refuse_posts));
    Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/api/v1/integrations", get(api::list))
        .route("/api/v1/integrations/{name}", get(api::detail))
        .merge(posts)
        .with_state(app)
}

/// Answers 403 to POST requests when [`AppState::posts_refused`] says why.
async fn refuse_posts(
    AxumState(app): AxumState<AppState>,
    request: Request,
    next: Next,
) -> axum::response::Response {
    match &app.posts_refused {
        Some(why) => (StatusCode::FORBIDDEN, format!("{why}\n")).into_response(),
        None => next.run(request).await,
    }
}

/// Why POST requests must be refused on `addr`, if they must.
pub fn posts_refused(addr: std::net::SocketAddr) -> Option<Arc<str>> {
    if addr.ip().is_loopback() {
        return None;
    }
    Some(
        format!(
            "POST refused: credwatch listens on {addr}, which is not a loopback address, and no [server.basic_auth_users] are configured, so anyone who reaches it could trigger checks and reloads; configure users or listen on 127.0.0.1"
        )
        .into(),
    )
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
        let checked = active.clone().filter(|i| app.state.seen(&i.name)).count();
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
