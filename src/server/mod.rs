//! The HTTP endpoints: `/metrics` for Prometheus, `/healthz` (the process serves), `/readyz`
//! (every active integration has been checked at least once, so the metrics mean something),
//! the status page (`ui.rs`, `page.rs`), the JSON API under `/api/v1` (`api.rs`) and
//! `POST /-/reload` (reload the config, as SIGHUP does); the host names served (`hosts.rs`), the
//! users who may use them and their roles (`auth.rs`), the guards on POSTs and the headers that
//! keep browsers from framing, sniffing or caching; the TLS acceptor of `[server.tls]`. The
//! listener is [`crate::listen`], shared with the demo's simulator. Handlers only
//! read and ask: what a check does lives in [`crate::checker`].

mod api;
mod auth;
mod genesys;
mod hosts;
pub mod model;
mod page;
mod scrape;
mod ui;

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
use crate::config::Role;
use crate::integration::Integration;
use crate::metrics::Metrics;
use crate::state::State;
pub use auth::Users;
pub use hosts::Hosts;

/// A reload asked for over HTTP, answered with the reload's error if it failed.
pub type ReloadRequest = oneshot::Sender<Result<(), String>>;

/// What the handlers read.
#[derive(Clone)]
pub struct AppState {
    pub metrics: Arc<Metrics>,
    /// The org views' last reports (`[genesys]`).
    pub genesys: Arc<crate::orgview::Views>,
    pub state: Arc<State>,
    /// Runs the checks the API asks for.
    pub checker: Arc<Checker>,
    /// The running config's integrations; replaced on reload.
    pub integrations: Arc<RwLock<Vec<Arc<Integration>>>>,
    /// Where `POST /-/reload` sends its request.
    pub reload: mpsc::Sender<ReloadRequest>,
    /// `[server.basic_auth_users]`.
    pub users: Arc<Users>,
    /// The names requests may give as `Host`.
    pub hosts: Arc<Hosts>,
    /// The address served on: POSTs on a non-loopback one need users.
    pub bound: std::net::SocketAddr,
}

impl AppState {
    /// The running config's integrations.
    pub fn integrations(&self) -> Vec<Arc<Integration>> {
        self.integrations
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The model of every configured integration, in config order.
    pub fn models(&self) -> Vec<model::IntegrationModel> {
        model::all(&self.state, &self.integrations())
    }

    /// The integration `address` names: `ORG/NAME`, or a `NAME` only one org has.
    pub fn find(&self, address: &str) -> Result<Arc<Integration>, String> {
        let integrations = self.integrations.read().unwrap_or_else(|p| p.into_inner());
        crate::integration::find(&integrations, address).cloned()
    }
}

/// The routes: `/healthz` and `/readyz` open to all (probes), everything else behind the
/// configured users, POSTs also behind [`refuse_posts`]; every request for one of credwatch's
/// host names, and every answer with [`security_headers`].
pub fn router(app: AppState) -> Router {
    let posts = Router::new()
        .route("/-/reload", post(reload))
        .route("/api/v1/integrations/{name}/check", post(api::check))
        .route("/integrations/{name}/check", post(ui::check))
        .route_layer(middleware::from_fn_with_state(app.clone(), refuse_posts));
    let protected = Router::new()
        .route("/", get(ui::overview))
        .route("/integrations/{name}", get(ui::detail))
        .route("/metrics", get(metrics))
        .route("/api/v1/integrations", get(api::list))
        .route("/api/v1/integrations/{name}", get(api::detail))
        .route("/api/v1/genesys", get(genesys::api))
        .merge(posts)
        .route_layer(middleware::from_fn_with_state(
            app.clone(),
            auth::require_user,
        ));
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .merge(protected)
        .fallback(|| async { (StatusCode::NOT_FOUND, "not found\n") })
        .layer(middleware::from_fn(refuse_large_bodies))
        .layer(middleware::from_fn_with_state(
            app.clone(),
            hosts::require_own_host,
        ))
        .layer(middleware::from_fn(security_headers))
        .with_state(app)
}

/// Headers on every answer: no page of credwatch's may be framed by another (clickjacking a
/// "Check now" button), no answer sniffed as another type, cached, or named in a referrer.
async fn security_headers(request: Request, next: Next) -> axum::response::Response {
    use axum::http::HeaderValue;
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers
        .entry(header::CONTENT_SECURITY_POLICY)
        .or_insert(HeaderValue::from_static(
            "default-src 'none'; frame-ancestors 'none'",
        ));
    headers
        .entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    response
}

/// No endpoint reads a request body; anything larger than this is refused unread.
const BODY_LIMIT: u64 = 16 * 1024;

/// 413 for a request that announces a body over [`BODY_LIMIT`] (a chunked one is never read).
async fn refuse_large_bodies(request: Request, next: Next) -> axum::response::Response {
    let length = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if length.is_some_and(|length| length > BODY_LIMIT) {
        return (
            StatusCode::PAYLOAD_TOO_LARGE,
            "credwatch reads no request bodies\n",
        )
            .into_response();
    }
    next.run(request).await
}

/// Answers 403 to POST requests when [`posts_refused`] says why.
async fn refuse_posts(
    AxumState(app): AxumState<AppState>,
    request: Request,
    next: Next,
) -> axum::response::Response {
    if let Some(why) = posts_refused(app.bound, &app.users) {
        return (StatusCode::FORBIDDEN, format!("{why}\n")).into_response();
    }
    if request.extensions().get::<Role>() != Some(&Role::Operate) {
        return (
            StatusCode::FORBIDDEN,
            "POST refused: this user has role \"read\"; forced checks and reloads need role \"operate\"\n",
        )
            .into_response();
    }
    if cross_site(request.headers()) {
        return (
            StatusCode::FORBIDDEN,
            "POST refused: the request comes from another site's page; each check on demand bypasses the lockout guard, so only credwatch's own page and clients without a browser may ask\n",
        )
            .into_response();
    }
    next.run(request).await
}

/// Whether a browser sent this request from another site's page (a forged form POST): by
/// `Sec-Fetch-Site` and by an `Origin` that is not this server, each checked when present.
/// Clients that are not browsers send neither.
fn cross_site(headers: &axum::http::HeaderMap) -> bool {
    if let Some(site) = headers.get("sec-fetch-site")
        && !matches!(site.as_bytes(), b"same-origin" | b"none")
    {
        return true;
    }
    let Some(origin) = headers.get(header::ORIGIN) else {
        return false;
    };
    let Ok(origin) = origin.to_str() else {
        return true;
    };
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    let origin_host = origin.split_once("://").map(|(_, rest)| rest);
    origin_host.is_none() || origin_host != host
}

/// A cooldown's wait as a `Retry-After` value: whole seconds, rounded up.
fn retry_after_seconds(cooldown: crate::checker::Cooldown) -> String {
    cooldown
        .retry_after
        .as_secs_f64()
        .ceil()
        .max(1.0)
        .to_string()
}

/// Why POST requests must be refused on `addr`, if they must: a listener others can reach,
/// with no users to tell an operator from anyone else.
pub fn posts_refused(addr: std::net::SocketAddr, users: &Users) -> Option<String> {
    if addr.ip().is_loopback() || users.any() {
        return None;
    }
    Some(format!(
        "POST refused: credwatch listens on {addr}, which is not a loopback address, and no [server.basic_auth_users] are configured, so anyone who reaches it could trigger checks and reloads; configure users or listen on 127.0.0.1"
    ))
}

/// Serves until `shutdown` is cancelled, over TLS when `tls` is given.
pub async fn serve(
    listener: TcpListener,
    app: AppState,
    tls: Option<tokio_rustls::TlsAcceptor>,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    crate::listen::serve(
        listener,
        router(app),
        tls,
        shutdown,
        crate::listen::KEEP_ALIVE_IDLE,
    )
    .await
}

async fn metrics(
    AxumState(app): AxumState<AppState>,
    headers: axum::http::HeaderMap,
) -> impl IntoResponse {
    scrape::respond(app.metrics.clone(), &headers)
}

async fn readyz(AxumState(app): AxumState<AppState>) -> impl IntoResponse {
    let (active, checked) = {
        let integrations = app.integrations.read().unwrap_or_else(|p| p.into_inner());
        let active = integrations.iter().filter(|i| i.active);
        let checked = active.clone().filter(|i| app.state.seen(&i.id)).count();
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

/// The TLS acceptor for `[server.tls]`: the certificate chain from its file, the key from its
/// secret reference.
pub fn acceptor(tls: &crate::config::ServerTls) -> Result<tokio_rustls::TlsAcceptor, String> {
    let certs = std::fs::read(&tls.cert_file)
        .map_err(|e| format!("server.tls.cert_file {}: {e}", tls.cert_file.display()))?;
    let key = tls
        .key
        .source
        .resolve()
        .map_err(|e| format!("server.tls.key_file: {e}"))?;
    crate::listen::tls_acceptor(&certs, key.expose().as_bytes(), None)
        .map_err(|e| format!("server.tls: {e}"))
}
