//! A simulator of the seven providers for `credwatch demo` (and benchmarks): each file is the
//! mirror image of its verifier in `src/verify/`, answering the requests a real provider gets
//! as that provider does (RS256 assertions verified with the service account's public key, STS's
//! query API with a SigV4 check and XML answers, RFC 6749 forms, mTLS with certificates made at
//! start). Every service runs on a loopback port of its own; the accounts in [`accounts`] decide
//! who succeeds and how the others fail.
//!
//! Each type's file declares a [`Provider`] — its services, their routers, the demo's
//! integrations of that type and the secret files they read — and [`PROVIDERS`] lists them:
//! the simulator, the demo and the tests iterate it, and know no type by name.

pub mod accounts;
mod aws_lambda;
mod dynamics365;
mod genesys_cloud;
mod google;
mod material;
mod salesforce;
mod web_service;
mod zendesk;

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::http::{HeaderMap, header};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub use genesys_cloud::{CANARY_OK, CANARY_REFUSED};
pub use material::Material;

/// One service of a simulated provider: its name (its key in [`Endpoints`]) and whether it is
/// HTTPS requiring a client certificate from the demo's client CA rather than plain HTTP.
pub(crate) struct Service {
    pub(crate) name: &'static str,
    pub(crate) mtls: bool,
}

impl Service {
    pub(crate) const fn http(name: &'static str) -> Self {
        Self { name, mtls: false }
    }

    pub(crate) const fn mtls(name: &'static str) -> Self {
        Self { name, mtls: true }
    }
}

/// What one integration type's simulator brings.
pub(crate) struct Provider {
    /// The integration type it stands in for (a key of `verify::TYPES`).
    pub(crate) kind: &'static str,
    /// The services it listens as.
    pub(crate) services: &'static [Service],
    /// The services' routers, in the order of `services`, knowing where every service listens.
    pub(crate) routers: fn(&Material, &Endpoints) -> Vec<Router>,
    /// The demo's integrations of this type: `[[integration]]` tables pointed at the services.
    pub(crate) demo: fn(&Site) -> String,
    /// The secret files the demo's integrations read: name and content.
    pub(crate) secrets: &'static [(&'static str, &'static str)],
}

/// Every simulated provider, in the order of `verify::TYPES`.
pub(crate) static PROVIDERS: &[Provider] = &[
    aws_lambda::PROVIDER,
    genesys_cloud::PROVIDER,
    google::PROVIDER,
    dynamics365::PROVIDER,
    salesforce::PROVIDER,
    web_service::PROVIDER,
    zendesk::PROVIDER,
];

/// The integration types the simulator stands in for.
pub fn simulated_types() -> impl Iterator<Item = &'static str> {
    PROVIDERS.iter().map(|p| p.kind)
}

/// Where each simulated service listens (base URLs, no trailing slash), by service name.
#[derive(Debug, Clone, Default, serde::Serialize)]
#[serde(transparent)]
pub struct Endpoints(BTreeMap<&'static str, String>);

impl Endpoints {
    /// The base URL of the service `name`.
    pub fn get(&self, name: &str) -> &str {
        self.0
            .get(name)
            .map(String::as_str)
            .unwrap_or_else(|| panic!("no simulated service {name:?}"))
    }
}

/// What a provider's demo integrations are written with: where the services listen, the keys
/// and certificates, and the directory of the secret files.
pub(crate) struct Site<'a> {
    pub(crate) endpoints: &'a Endpoints,
    pub(crate) material: &'a Material,
    pub(crate) secrets: &'a Path,
}

impl Site<'_> {
    /// The base URL of the service `name`.
    pub(crate) fn url(&self, name: &str) -> &str {
        self.endpoints.get(name)
    }

    /// A reference to the demo's secret file `name`, as the config writes it.
    pub(crate) fn secret(&self, name: &str) -> String {
        format!("{{ file = \"{}\" }}", self.secrets.join(name).display())
    }
}

/// A path as the config writes it.
pub(crate) fn shown(path: &Path) -> String {
    path.display().to_string()
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

/// The first of the ports the demo prefers, one per service in the order of [`PROVIDERS`] (so
/// that `--print-config` shows the URLs it runs); a busy one is replaced by any free port.
const FIRST_PREFERRED_PORT: u16 = 9471;

impl Simulator {
    /// Makes keys and certificates in `dir` and starts every provider's services on loopback.
    pub async fn start(dir: &Path) -> Result<Simulator, String> {
        let material = Material::create(dir)?;
        let stop = CancellationToken::new();
        let services = PROVIDERS.iter().flat_map(|p| p.services);
        let mut listeners = Vec::new();
        let mut endpoints = Endpoints::default();
        for (service, port) in services.zip(FIRST_PREFERRED_PORT..) {
            let listener = match TcpListener::bind(("127.0.0.1", port)).await {
                Ok(listener) => listener,
                Err(_) => TcpListener::bind(("127.0.0.1", 0))
                    .await
                    .map_err(|e| format!("cannot bind a loopback port: {e}"))?,
            };
            let addr: SocketAddr = listener.local_addr().map_err(|e| e.to_string())?;
            let url = if service.mtls {
                format!("https://localhost:{}", addr.port())
            } else {
                format!("http://{addr}")
            };
            endpoints.0.insert(service.name, url);
            listeners.push((service, listener));
        }
        let mtls = material.mtls_acceptor()?;
        let mut listeners = listeners.into_iter();
        for provider in PROVIDERS {
            let routers = (provider.routers)(&material, &endpoints);
            assert_eq!(routers.len(), provider.services.len(), "{}", provider.kind);
            // The routers first: zip stops at their end without taking the next listener.
            for (router, (service, listener)) in routers.into_iter().zip(listeners.by_ref()) {
                tokio::spawn(crate::listen::serve(
                    listener,
                    router,
                    service.mtls.then(|| mtls.clone()),
                    stop.clone(),
                    PROVIDER_KEEP_ALIVE,
                ));
            }
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
    let (user, password) = crate::basic_auth::credentials(headers.get(header::AUTHORIZATION)?)?;
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
