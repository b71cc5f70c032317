//! The HTTP client every verifier uses: rustls, pooled connections, a per-request timeout, a
//! response-size cap, `User-Agent: credwatch/VERSION`, and redirects never followed (a token
//! endpoint that redirects is answering something we did not ask, and credentials must never be
//! replayed to another host). Transport failures come back already classified.
//!
//! A pooled connection may be closed by the server just as a request is sent on it (servers
//! close idle connections after 5 to 120 s, and checks minutes apart reuse them near that
//! moment). Such a request never reached the server's application, and failing the check for it
//! would be a false alarm: a request whose connection closes before any answer arrives is sent
//! once more, on a new connection ([`closed_before_answer`]).

use std::error::Error as _;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, SystemTime};

use reqwest::header::{HeaderMap, RETRY_AFTER};
use reqwest::{Method, RequestBuilder, StatusCode};
use serde::de::DeserializeOwned;
use url::Url;

use crate::outcome::{Failure, FailureReason};

/// Largest response body credwatch reads; a larger one is a `protocol_error`.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// Sent with every request.
pub const USER_AGENT: &str = concat!("credwatch/", env!("CARGO_PKG_VERSION"));

/// A pooled client plus the timeout every request through it gets.
#[derive(Clone, Debug)]
pub struct HttpClient {
    client: reqwest::Client,
    /// The same client without a pool, made when first needed: where a request the pooled
    /// connection lost is sent again.
    unpooled: Arc<Unpooled>,
    timeout: Duration,
    /// The soonest `notAfter` of the server leaf certificates seen through this handle.
    server_certs: Arc<Mutex<Option<SystemTime>>>,
}

/// What builds a client: its TLS identity and extra roots.
#[derive(Clone, Debug, Default)]
struct Settings {
    identity: Option<reqwest::Identity>,
    roots: Vec<reqwest::Certificate>,
}

impl Settings {
    fn builder(&self) -> reqwest::ClientBuilder {
        let mut builder = reqwest::Client::builder()
            .use_rustls_tls()
            .user_agent(USER_AGENT)
            .redirect(reqwest::redirect::Policy::none())
            .tls_info(true)
            .pool_idle_timeout(Duration::from_secs(90));
        if let Some(identity) = &self.identity {
            builder = builder.identity(identity.clone());
        }
        for cert in &self.roots {
            builder = builder.add_root_certificate(cert.clone());
        }
        builder
    }
}

/// A client that opens a new connection for every request, built on first use.
#[derive(Debug)]
struct Unpooled {
    settings: Settings,
    client: OnceLock<Option<reqwest::Client>>,
}

impl Unpooled {
    fn get(&self) -> Option<&reqwest::Client> {
        self.client
            .get_or_init(|| {
                self.settings
                    .builder()
                    .pool_max_idle_per_host(0)
                    .build()
                    .ok()
            })
            .as_ref()
    }
}

/// The client could not be built (bad extra trusted roots).
#[derive(Debug, thiserror::Error)]
pub enum HttpSetupError {
    #[error("no PEM certificate could be read: {0}")]
    BadPem(String),
    #[error("the client certificate and key cannot be used: {0}")]
    BadIdentity(String),
    #[error("cannot build the HTTP client: {0}")]
    Build(String),
}

/// A failed exchange, already given its failure reason.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct TransportError {
    pub reason: FailureReason,
    pub message: String,
}

impl From<TransportError> for Failure {
    fn from(e: TransportError) -> Self {
        Failure::new(e.reason, e.message)
    }
}

/// A whole response, its body read up to [`MAX_BODY_BYTES`].
#[derive(Debug)]
pub struct Response {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl HttpClient {
    /// A client trusting the system's and the webpki roots, plus `extra_roots_pem` if given.
    pub fn new(extra_roots_pem: Option<&[u8]>) -> Result<Self, HttpSetupError> {
        Self::with_identity(extra_roots_pem, None)
    }

    /// A client as [`HttpClient::new`] that also presents a client certificate (mTLS):
    /// `identity_pem` holds the certificate chain and its private key.
    pub fn with_identity(
        extra_roots_pem: Option<&[u8]>,
        identity_pem: Option<&[u8]>,
    ) -> Result<Self, HttpSetupError> {
        let mut settings = Settings::default();
        if let Some(pem) = identity_pem {
            let identity = reqwest::Identity::from_pem(pem)
                .map_err(|e| HttpSetupError::BadIdentity(e.without_url().to_string()))?;
            settings.identity = Some(identity);
        }
        if let Some(pem) = extra_roots_pem {
            let certs = reqwest::Certificate::from_pem_bundle(pem)
                .map_err(|e| HttpSetupError::BadPem(e.without_url().to_string()))?;
            if certs.is_empty() {
                return Err(HttpSetupError::BadPem(
                    "the file holds no certificate".into(),
                ));
            }
            settings.roots = certs;
        }
        let client = settings
            .builder()
            .build()
            .map_err(|e| HttpSetupError::Build(error_chain(&e)))?;
        Ok(Self {
            client,
            unpooled: Arc::new(Unpooled {
                settings,
                client: OnceLock::new(),
            }),
            timeout: Duration::from_secs(15),
            server_certs: Arc::default(),
        })
    }

    /// The same pooled client with another per-request timeout, recording the server
    /// certificates it is shown afresh (one handle per check).
    pub fn with_timeout(&self, timeout: Duration) -> Self {
        Self {
            client: self.client.clone(),
            unpooled: self.unpooled.clone(),
            timeout,
            server_certs: Arc::default(),
        }
    }

    /// This client's connections (its TLS identity and roots) with `check`'s timeout, recording
    /// server certificates where `check` does.
    pub fn in_check_of(&self, check: &HttpClient) -> Self {
        Self {
            client: self.client.clone(),
            unpooled: self.unpooled.clone(),
            timeout: check.timeout,
            server_certs: check.server_certs.clone(),
        }
    }

    /// The soonest-expiring server leaf certificate any HTTPS answer through this handle
    /// (and its clones) came with.
    pub fn server_cert_expiry(&self) -> Option<SystemTime> {
        *self.server_certs.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn saw_server_cert(&self, response: &reqwest::Response) {
        let Some(not_after) = response
            .extensions()
            .get::<reqwest::tls::TlsInfo>()
            .and_then(|info| info.peer_certificate())
            .and_then(crate::certs::not_after)
        else {
            return;
        };
        let mut soonest = self.server_certs.lock().unwrap_or_else(|p| p.into_inner());
        if soonest.is_none_or(|t| not_after < t) {
            *soonest = Some(not_after);
        }
    }

    /// Starts a request.
    pub fn request(&self, method: Method, url: Url) -> RequestBuilder {
        self.client.request(method, url).timeout(self.timeout)
    }

    /// Starts a GET.
    pub fn get(&self, url: Url) -> RequestBuilder {
        self.request(Method::GET, url)
    }

    /// Sends a request and reads the whole (capped) answer. A request whose connection closed
    /// before any answer is sent once more on a new connection (see the module doc).
    pub async fn send(&self, request: RequestBuilder) -> Result<Response, TransportError> {
        let request = request.build().map_err(|e| classify(&e, self.timeout))?;
        let again = request.try_clone();
        let sent = match self.client.execute(request).await {
            Err(error) if closed_before_answer(&error) => match (again, self.unpooled.get()) {
                (Some(again), Some(unpooled)) => {
                    tracing::debug!(
                        "the connection closed before an answer came; sending the request again on a new connection"
                    );
                    unpooled.execute(again).await
                }
                _ => Err(error),
            },
            sent => sent,
        };
        let mut response = sent.map_err(|e| classify(&e, self.timeout))?;
        self.saw_server_cert(&response);
        let declared = response.content_length().unwrap_or(0);
        if declared > MAX_BODY_BYTES as u64 {
            return Err(too_large(response.url()));
        }
        let status = response.status();
        let headers = std::mem::take(response.headers_mut());
        // The declared length is within the cap: read into one allocation.
        let mut body = Vec::with_capacity(declared as usize);
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| classify(&e, self.timeout))?
        {
            if body.len() + chunk.len() > MAX_BODY_BYTES {
                return Err(too_large(response.url()));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Response {
            status,
            headers,
            body,
        })
    }

    /// Sends a request built by the `oauth2` crate through this client.
    pub async fn send_oauth(
        &self,
        request: oauth2::HttpRequest,
    ) -> Result<oauth2::HttpResponse, TransportError> {
        let (parts, body) = request.into_parts();
        let url = Url::parse(&parts.uri.to_string()).map_err(|e| TransportError {
            reason: FailureReason::ConfigError,
            message: format!("token URL is not valid: {e}"),
        })?;
        let builder = self
            .request(parts.method, url)
            .headers(parts.headers)
            .body(body);
        let response = self.send(builder).await?;
        let mut out = oauth2::HttpResponse::new(response.body);
        *out.status_mut() = response.status;
        *out.headers_mut() = response.headers;
        Ok(out)
    }
}

impl Response {
    /// The body as JSON of the expected shape; anything else is a `protocol_error`. The message
    /// says where parsing failed, never what the body said.
    pub fn json<T: DeserializeOwned>(&self, what: &str) -> Result<T, Failure> {
        serde_json::from_slice(&self.body).map_err(|e| {
            let problem = json_problem(&e);
            Failure::new(
                FailureReason::ProtocolError,
                format!(
                    "{what} answered HTTP {} with {problem} (line {}, column {})",
                    self.status.as_u16(),
                    e.line(),
                    e.column()
                ),
            )
        })
    }

    /// How long the provider asked us to wait, from `Retry-After`.
    pub fn retry_after(&self) -> Option<Duration> {
        retry_after(&self.headers)
    }
}

/// What is wrong with a document serde_json refused, without quoting it.
pub fn json_problem(error: &serde_json::Error) -> &'static str {
    match error.classify() {
        serde_json::error::Category::Data => "JSON of an unexpected shape",
        _ => "not valid JSON",
    }
}

/// An error and its sources, joined with `: `.
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(inner) = cause {
        let more = inner.to_string();
        if !text.ends_with(&more) {
            text = format!("{text}: {more}");
        }
        cause = inner.source();
    }
    text
}

/// Parses `Retry-After` as delay-seconds or an HTTP date.
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    retry_after_value(headers.get(RETRY_AFTER)?.to_str().ok()?)
}

/// A `Retry-After` value: seconds, or an HTTP date.
pub fn retry_after_value(value: &str) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let when = httpdate::parse_http_date(value).ok()?;
    Some(when.duration_since(SystemTime::now()).unwrap_or_default())
}

fn host_of(url: &Url) -> String {
    match (url.host_str(), url.port()) {
        (Some(host), Some(port)) => format!("{host}:{port}"),
        (Some(host), None) => host.to_string(),
        _ => "the provider".to_string(),
    }
}

fn too_large(url: &Url) -> TransportError {
    let host = host_of(url);
    TransportError {
        reason: FailureReason::ProtocolError,
        message: format!(
            "{host} sent an answer larger than {} KiB; credwatch stops reading there",
            MAX_BODY_BYTES / 1024
        ),
    }
}

/// Gives a reqwest error its failure reason and an operator's message without the URL (URLs of
/// web services may carry secrets).
fn classify(error: &reqwest::Error, timeout: Duration) -> TransportError {
    let host = error
        .url()
        .map(host_of)
        .unwrap_or_else(|| "the provider".into());
    let cause = root_causes(error);
    let (reason, message) = if error.is_timeout() {
        (
            FailureReason::Timeout,
            format!(
                "no answer from {host} within {}",
                humantime::format_duration(timeout)
            ),
        )
    } else if is_unparsable(error as &(dyn std::error::Error + 'static)) {
        (
            FailureReason::ProtocolError,
            format!("{host} answered something that is not HTTP: {cause}"),
        )
    } else if is_tls(error as &(dyn std::error::Error + 'static)) {
        (
            FailureReason::TlsError,
            format!("TLS with {host} failed: {cause}"),
        )
    } else if error.is_connect() {
        (
            FailureReason::NetworkError,
            format!("cannot connect to {host}: {cause}"),
        )
    } else if error.is_builder() {
        (
            FailureReason::ConfigError,
            format!("cannot build the request: {cause}"),
        )
    } else {
        (
            FailureReason::NetworkError,
            format!("exchange with {host} failed: {cause}"),
        )
    };
    TransportError { reason, message }
}

/// Whether a request failed because its connection closed (or was reset) before any answer
/// came: hyper's "connection closed before message completed", a reset, a broken pipe, or an
/// end of stream (TLS: no `close_notify`). Not a timeout, a refused connect or a TLS handshake
/// failure: those happen on a new connection too, and are what they say.
fn closed_before_answer(error: &reqwest::Error) -> bool {
    use std::io::ErrorKind;
    if error.is_timeout() || error.is_connect() || error.is_builder() {
        return false;
    }
    let error = error as &(dyn std::error::Error + 'static);
    if is_tls(error) || is_unparsable(error) {
        return false;
    }
    if find_source::<hyper::Error>(error).is_some_and(|e| e.is_incomplete_message()) {
        return true;
    }
    find_source::<std::io::Error>(error).is_some_and(|e| {
        matches!(
            e.kind(),
            ErrorKind::ConnectionReset
                | ErrorKind::ConnectionAborted
                | ErrorKind::BrokenPipe
                | ErrorKind::UnexpectedEof
        )
    })
}

/// Whether the answer could not be read as HTTP at all (hyper's parse errors): bytes the
/// protocol does not allow, not a failing network.
fn is_unparsable(error: &(dyn std::error::Error + 'static)) -> bool {
    find_source::<hyper::Error>(error)
        .is_some_and(|e| e.is_parse() || e.is_parse_status() || e.is_parse_too_large())
}

/// The first error of type `T` in `error`'s source chain: credwatch's classified
/// [`TransportError`] inside the AWS SDK's errors, hyper's inside reqwest's.
pub fn find_source<'a, T: std::error::Error + 'static>(
    error: &'a (dyn std::error::Error + 'static),
) -> Option<&'a T> {
    let mut current = Some(error);
    while let Some(e) = current {
        if let Some(found) = e.downcast_ref::<T>() {
            return Some(found);
        }
        current = e.source();
    }
    None
}

/// Whether a rustls error (handshake, certificate, alert) is anywhere in the chain. rustls
/// errors travel inside `io::Error`s, whose own `source()` skips what they wrap.
fn is_tls(error: &(dyn std::error::Error + 'static)) -> bool {
    if error.is::<rustls::Error>() {
        return true;
    }
    if let Some(inner) = error
        .downcast_ref::<std::io::Error>()
        .and_then(|io| io.get_ref())
    {
        return is_tls(inner);
    }
    error.source().is_some_and(is_tls)
}

/// The innermost, most specific causes of an error, joined (`io::Error`s keep theirs inside).
fn root_causes(error: &reqwest::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut current: Option<&(dyn std::error::Error + 'static)> = error.source();
    while let Some(e) = current {
        if let Some(io) = e.downcast_ref::<std::io::Error>()
            && let Some(inner) = io.get_ref()
        {
            parts.push(inner.to_string());
        } else {
            parts.push(e.to_string());
        }
        current = e.source();
    }
    parts.dedup();
    match parts.last() {
        Some(last) if parts.len() > 1 => format!("{}: {last}", parts[parts.len() - 2]),
        Some(last) => last.clone(),
        None => "no further detail".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_seconds_and_date() {
        let mut headers = HeaderMap::new();
        headers.insert(RETRY_AFTER, "30".parse().unwrap());
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(30)));
        let later = SystemTime::now() + Duration::from_secs(120);
        headers.insert(RETRY_AFTER, httpdate::fmt_http_date(later).parse().unwrap());
        let parsed = retry_after(&headers).unwrap();
        assert!(parsed > Duration::from_secs(100) && parsed <= Duration::from_secs(120));
        headers.insert(RETRY_AFTER, "soon".parse().unwrap());
        assert_eq!(retry_after(&headers), None);
    }
}
