//! A simulator of the seven providers for `credwatch demo` (and benchmarks): each file is the
//! mirror image of its verifier in `src/verify/`, answering the requests a real provider gets
//! as that provider does (RS256 assertions verified with the service account's public key, STS's
//! query API with a SigV4 check and XML answers, RFC 6749 forms, mTLS with certificates made at
//! start). Every provider runs on a loopback port of its own; the accounts in [`accounts`] decide
//! who succeeds and how the others fail.

pub mod accounts;
mod aws_lambda;
mod dynamics365;
mod genesys_cloud;
mod google;
mod material;
mod salesforce;
mod web_service;
mod zendesk;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::http::{HeaderMap, header};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub use material::Material;

/// Where each simulated provider listens (base URLs, no trailing slash).
#[derive(Debug, Clone, serde::Serialize)]
pub struct Endpoints {
    pub aws_sts: String,
    pub genesys: String,
    pub google: String,
    pub entra: String,
    pub dynamics: String,
    pub salesforce: String,
    pub web: String,
    /// HTTPS, requiring a client certificate from the demo's client CA.
    pub web_mtls: String,
    pub zendesk: String,
}

/// How long the simulated providers keep an idle connection open, as real ones do (5 to 120 s):
/// the demo checks every 10 to 15 s, so credwatch's pooled connections are reused near the
/// moment the provider closes them, the case that must not make a false failure.
const PROVIDER_KEEP_ALIVE: std::time::Duration = std::time::Duration::from_secs(10);

/// The running simulator; dropping it stops every provider.
pub struct Simulator {
    pub endpoints: Endpoints,
    pub material: Material,
    stop: CancellationToken,
}

impl Drop for Simulator {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// The ports the demo prefers (so that `--print-config` shows the URLs it runs), in the order
/// of [`Endpoints`]' fields; a busy one is replaced by any free port.
pub const PREFERRED_PORTS: [u16; 9] = [9471, 9472, 9473, 9474, 9475, 9476, 9477, 9478, 9479];

impl Simulator {
    /// Makes keys and certificates in `dir` and starts every provider on loopback.
    pub async fn start(dir: &Path) -> Result<Simulator, String> {
        let material = Material::create(dir)?;
        let stop = CancellationToken::new();
        let mut listeners = Vec::new();
        for port in PREFERRED_PORTS {
            let listener = match TcpListener::bind(("127.0.0.1", port)).await {
                Ok(listener) => listener,
                Err(_) => TcpListener::bind(("127.0.0.1", 0))
                    .await
                    .map_err(|e| format!("cannot bind a loopback port: {e}"))?,
            };
            listeners.push(listener);
        }
        let addrs: Vec<SocketAddr> = listeners
            .iter()
            .map(|l| l.local_addr().expect("a bound listener has an address"))
            .collect();
        let http = |i: usize| format!("http://{}", addrs[i]);
        let endpoints = Endpoints {
            aws_sts: http(0),
            genesys: http(1),
            google: http(2),
            entra: http(3),
            dynamics: http(4),
            salesforce: http(5),
            web: http(6),
            web_mtls: format!("https://localhost:{}", addrs[7].port()),
            zendesk: http(8),
        };
        let entra_tokens = Tokens::default();
        let routers: Vec<Router> = vec![
            aws_lambda::router(),
            genesys_cloud::router(&material),
            google::router(&material),
            dynamics365::entra_router(entra_tokens.clone()),
            dynamics365::dynamics_router(entra_tokens),
            salesforce::router(&endpoints.salesforce),
            web_service::router(),
            web_service::mtls_router(),
            zendesk::router(),
        ];
        let mtls = web_service::mtls_acceptor(&material)?;
        for (index, (listener, router)) in listeners.into_iter().zip(routers).enumerate() {
            let tls = (index == 7).then(|| mtls.clone());
            tokio::spawn(crate::server::listen::serve(
                listener,
                router,
                tls,
                stop.clone(),
                PROVIDER_KEEP_ALIVE,
            ));
        }
        Ok(Simulator {
            endpoints,
            material,
            stop,
        })
    }
}

/// A random token of `len` bytes, hex.
pub(crate) fn random_hex(len: usize) -> String {
    let mut bytes = vec![0u8; len];
    // aws-lc's generator only fails when the system has no randomness at all.
    let _ = aws_lc_rs::rand::fill(&mut bytes);
    crate::hex(&bytes)
}

/// What a provider issued (tokens, sessions), with what it knows of each.
#[derive(Clone)]
pub(crate) struct Issued<T>(Arc<Mutex<Generations<T>>>);

/// The newest issues and the generation before them.
struct Generations<T> {
    current: HashMap<String, T>,
    previous: HashMap<String, T>,
}

impl<T> Default for Issued<T> {
    fn default() -> Self {
        Self(Arc::new(Mutex::new(Generations {
            current: HashMap::new(),
            previous: HashMap::new(),
        })))
    }
}

impl<T: Clone> Issued<T> {
    /// Remembers `key`. A demo runs for hours and a benchmark issues hundreds a second: past
    /// 10,000 the current generation becomes the previous one and the one before is forgotten,
    /// so the newest 10,000 (the ones asked about) are always known.
    pub(crate) fn insert(&self, key: String, value: T) {
        let mut issued = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if issued.current.len() >= 10_000 {
            issued.previous = std::mem::take(&mut issued.current);
        }
        issued.current.insert(key, value);
    }

    pub(crate) fn get(&self, key: &str) -> Option<T> {
        let issued = self.0.lock().unwrap_or_else(|p| p.into_inner());
        issued
            .current
            .get(key)
            .or_else(|| issued.previous.get(key))
            .cloned()
    }

    /// Forgets `key` (a revoked token); whether it was known.
    pub(crate) fn remove(&self, key: &str) -> bool {
        let mut issued = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let current = issued.current.remove(key).is_some();
        issued.previous.remove(key).is_some() || current
    }
}

/// The access tokens a provider issued, for its follow-up endpoint.
#[derive(Default, Clone)]
pub(crate) struct Tokens(Issued<()>);

impl Tokens {
    /// Issues a new token.
    pub(crate) fn issue(&self, prefix: &str) -> String {
        let token = format!("{prefix}{}", random_hex(24));
        self.0.insert(token.clone(), ());
        token
    }

    /// Whether the request's `Authorization: Bearer` carries a token issued here.
    pub(crate) fn bearer_ok(&self, headers: &HeaderMap) -> bool {
        bearer(headers).is_some_and(|token| self.0.get(token).is_some())
    }

    /// Revokes the request's bearer token; whether it was one issued here.
    pub(crate) fn revoke_bearer(&self, headers: &HeaderMap) -> bool {
        bearer(headers).is_some_and(|token| self.revoke(token))
    }

    /// Revokes `token`; whether it was one issued here.
    pub(crate) fn revoke(&self, token: &str) -> bool {
        self.0.remove(token)
    }
}

/// The token of an `Authorization: Bearer` header.
fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
}

/// An `application/x-www-form-urlencoded` body as pairs.
pub(crate) fn form(body: &[u8]) -> Vec<(String, String)> {
    url::form_urlencoded::parse(body).into_owned().collect()
}

/// The value of `name` in a form.
pub(crate) fn field<'a>(form: &'a [(String, String)], name: &str) -> Option<&'a str> {
    form.iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// HTTP Basic credentials, each half form-urldecoded when `decode` (RFC 6749 section 2.3.1).
pub(crate) fn basic(headers: &HeaderMap, decode: bool) -> Option<(String, String)> {
    let (user, password) = crate::server::basic_credentials(headers.get(header::AUTHORIZATION)?)?;
    if decode {
        let un = |s: &str| {
            url::form_urlencoded::parse(format!("x={s}").as_bytes())
                .next()
                .map(|(_, v)| v.into_owned())
                .unwrap_or_default()
        };
        Some((un(&user), un(&password)))
    } else {
        Some((user, password))
    }
}
