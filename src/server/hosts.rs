//! Which `Host` a request may name, against DNS rebinding: a page on `attacker.test` whose name
//! is made to resolve to credwatch's address is same-origin with credwatch in the browser, and
//! could otherwise read the API and force checks. credwatch answers only to the names it is
//! known by: the listen address, the loopback names, `[server] names`, and the address the
//! connection arrived on (an address cannot be rebound: a page served from it is credwatch's).
//! Everything else gets 421 before any handler runs.

use std::net::{IpAddr, SocketAddr};
use std::sync::RwLock;

use axum::extract::{Request, State as AxumState};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::AppState;
use crate::listen::Arrived;

/// The names credwatch answers to.
pub struct Hosts {
    /// The listen address.
    listen: SocketAddr,
    /// `[server] names`, lowercase; replaced on reload.
    names: RwLock<Vec<String>>,
}

impl Hosts {
    pub fn new(listen: SocketAddr, names: Vec<String>) -> Self {
        Self {
            listen,
            names: RwLock::new(names),
        }
    }

    /// The names of a reloaded config.
    pub fn replace(&self, names: Vec<String>) {
        *self.names.write().unwrap_or_else(|p| p.into_inner()) = names;
    }

    /// Whether a request naming `host` (a `Host` header's value) that arrived on `arrived` is
    /// for credwatch. The port is not compared: the connection reached the listener already.
    pub fn allows(&self, host: &str, arrived: Option<SocketAddr>) -> bool {
        let Some(name) = host_name(host) else {
            return false;
        };
        let listed = || {
            self.names
                .read()
                .unwrap_or_else(|p| p.into_inner())
                .contains(&name)
        };
        if let Ok(ip) = name.parse::<IpAddr>() {
            return ip.is_loopback()
                || ip == self.listen.ip()
                || arrived.is_some_and(|a| a.ip() == ip)
                || listed();
        }
        name == "localhost" || listed()
    }
}

/// The host part of a `Host` value, lowercase, without port, brackets or a trailing dot.
fn host_name(host: &str) -> Option<String> {
    let host = host.trim();
    let name = if let Some(rest) = host.strip_prefix('[') {
        // `[::1]:9464`
        rest.split_once(']')?.0
    } else {
        match host.rsplit_once(':') {
            Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
            _ => host,
        }
    };
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    (!name.is_empty()).then_some(name)
}

/// Middleware: 421 for a request whose `Host` is not one of credwatch's names. A request
/// without `Host` (HTTP/1.0, not a browser) passes.
pub(super) async fn require_own_host(
    AxumState(app): AxumState<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let arrived = request.extensions().get::<Arrived>().map(|a| a.0);
    let host = match request.headers().get(header::HOST) {
        None => return next.run(request).await,
        Some(host) => host.to_str().unwrap_or(""),
    };
    if app.hosts.allows(host, arrived) {
        return next.run(request).await;
    }
    (
        StatusCode::MISDIRECTED_REQUEST,
        "this host name is not one of credwatch's: add it to [server] names if operators use it\n",
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_names_pass_and_others_do_not() {
        let hosts = Hosts::new(
            "0.0.0.0:9464".parse().unwrap(),
            vec!["credwatch.example.com".into()],
        );
        let arrived = Some("10.0.0.5:9464".parse().unwrap());
        for host in [
            "localhost:9464",
            "LOCALHOST",
            "127.0.0.1:9464",
            "127.0.0.2",
            "[::1]:9464",
            "credwatch.example.com",
            "Credwatch.Example.Com.:443",
            "10.0.0.5:9464",
        ] {
            assert!(hosts.allows(host, arrived), "{host}");
        }
        for host in [
            "rebind.attacker.test:9464",
            "credwatch.example.com.attacker.test",
            "10.0.0.6:9464",
            "",
            "[::1",
            "localhost.attacker.test",
        ] {
            assert!(!hosts.allows(host, arrived), "{host}");
        }
        hosts.replace(vec![]);
        assert!(!hosts.allows("credwatch.example.com", arrived));
    }

    #[test]
    fn the_listen_address_passes() {
        let hosts = Hosts::new("192.0.2.7:9464".parse().unwrap(), vec![]);
        assert!(hosts.allows("192.0.2.7:9464", None));
        assert!(!hosts.allows("192.0.2.8:9464", None));
    }
}
