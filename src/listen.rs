//! Accepting connections, plain or over TLS, so that a slow or hostile client cannot hold the
//! server: at most [`MAX_CONNECTIONS`] at once, a bound on the TLS handshake and on reading a
//! request's headers, a keep-alive connection closed after [`KEEP_ALIVE_IDLE`] without a request,
//! a bound on a connection's whole life, HTTP/1.1 only. When every slot is taken, a new
//! connection takes the slot of an idle keep-alive one, or else of the oldest that has not sent
//! a whole request yet: idle sockets or keep-alive holders cannot starve a scrape; only requests
//! in flight keep their slots. On shutdown, idle connections close and requests in flight get a
//! few seconds to finish.
//!
//! The server listens through it, and so does the demo's simulator (each provider with the
//! keep-alive a real one has).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tokio::time::Instant;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// The local address a connection arrived on, put on each of its requests by the listener (for
/// the server's host allowlist: an IP literal of its own cannot be rebound).
#[derive(Debug, Clone, Copy)]
pub struct Arrived(pub SocketAddr);

/// Connections served at once; a new one beyond takes an idle one's slot (see the module doc).
pub const MAX_CONNECTIONS: usize = 256;
/// Time for a TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Time for a request's headers to arrive once a connection is open.
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a keep-alive connection may wait for its next request: far below the header
/// timeout, so that connections held open for later cost the server little.
pub const KEEP_ALIVE_IDLE: Duration = Duration::from_secs(2);
/// The longest a connection lives, however busy.
const MAX_CONNECTION_LIFE: Duration = Duration::from_secs(300);
/// Time requests in flight get at shutdown, and an evicted connection's request (if one began
/// as it was chosen) to finish.
const DRAIN: Duration = Duration::from_secs(5);

/// Where a connection is in its life, for choosing which one gives up its slot.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Phase {
    /// Open, no whole request received yet (or its TLS handshake is running).
    Fresh,
    /// This many requests are being answered.
    Busy(u32),
    /// Between requests (keep-alive), since the last answer.
    Idle(Instant),
}

/// One connection's slot.
struct Conn {
    phase: Mutex<Phase>,
    /// Told when the connection turns idle (its idle time starts again).
    idle: Notify,
    /// Cancelled when another connection takes this one's slot.
    evicted: CancellationToken,
}

impl Conn {
    fn phase(&self) -> std::sync::MutexGuard<'_, Phase> {
        self.phase.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A request arrived.
    fn begin(&self) {
        let mut phase = self.phase();
        *phase = match *phase {
            Phase::Busy(n) => Phase::Busy(n + 1),
            Phase::Fresh | Phase::Idle(_) => Phase::Busy(1),
        };
    }

    /// A request was answered.
    fn end(&self) {
        let mut phase = self.phase();
        if let Phase::Busy(n) = *phase {
            *phase = if n > 1 {
                Phase::Busy(n - 1)
            } else {
                Phase::Idle(Instant::now())
            };
        }
        drop(phase);
        self.idle.notify_one();
    }
}

/// The connection slots.
#[derive(Default)]
struct Slots {
    /// Open connections by number: a lower number is an older connection.
    open: Mutex<BTreeMap<u64, Arc<Conn>>>,
    next: std::sync::atomic::AtomicU64,
    /// Told when a connection ends.
    freed: Notify,
}

impl Slots {
    fn open(&self) -> std::sync::MutexGuard<'_, BTreeMap<u64, Arc<Conn>>> {
        self.open.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A slot for a new connection, taking an idle or fresh connection's if all are taken;
    /// `None` while every connection is answering a request.
    fn admit(self: &Arc<Self>) -> Option<Ticket> {
        let mut open = self.open();
        if open.len() >= MAX_CONNECTIONS {
            let idle = open
                .iter()
                .find(|(_, c)| matches!(*c.phase(), Phase::Idle(_)));
            let fresh = || open.iter().find(|(_, c)| *c.phase() == Phase::Fresh);
            let victim = idle.or_else(fresh).map(|(number, _)| *number)?;
            if let Some(conn) = open.remove(&victim) {
                conn.evicted.cancel();
            }
        }
        let number = self.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let conn = Arc::new(Conn {
            phase: Mutex::new(Phase::Fresh),
            idle: Notify::new(),
            evicted: CancellationToken::new(),
        });
        open.insert(number, conn.clone());
        Some(Ticket {
            slots: self.clone(),
            number,
            conn,
        })
    }
}

/// A connection's hold on its slot, given back when dropped.
struct Ticket {
    slots: Arc<Slots>,
    number: u64,
    conn: Arc<Conn>,
}

impl Drop for Ticket {
    fn drop(&mut self) {
        self.slots.open().remove(&self.number);
        self.slots.freed.notify_one();
    }
}

/// Serves `router` on `listener` until `shutdown` is cancelled, closing a keep-alive connection
/// after `keep_alive_idle` without a request (credwatch: [`KEEP_ALIVE_IDLE`]).
pub async fn serve(
    listener: TcpListener,
    router: Router,
    tls: Option<TlsAcceptor>,
    shutdown: CancellationToken,
    keep_alive_idle: Duration,
) -> std::io::Result<()> {
    let slots = Arc::new(Slots::default());
    let tracker = TaskTracker::new();
    loop {
        let (stream, local) = tokio::select! {
            accepted = listener.accept() => match accepted.and_then(|(s, _)| Ok((s.local_addr()?, s))) {
                Ok((local, stream)) => (stream, local),
                Err(e) => {
                    // Out of file descriptors and the like: wait instead of spinning.
                    tracing::warn!("cannot accept a connection: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            _ = shutdown.cancelled() => break,
        };
        let ticket = loop {
            let freed = slots.freed.notified();
            if let Some(ticket) = slots.admit() {
                break Some(ticket);
            }
            tokio::select! {
                _ = freed => {}
                _ = shutdown.cancelled() => break None,
            }
        };
        let Some(ticket) = ticket else { break };
        let _ = stream.set_nodelay(true);
        let router = router.clone();
        let tls = tls.clone();
        let shutdown = shutdown.clone();
        tracker.spawn(async move {
            let stop = Stop {
                shutdown,
                evicted: ticket.conn.evicted.clone(),
                keep_alive_idle,
            };
            let conn = ticket.conn.clone();
            match tls {
                None => connection(stream, local, router, conn, stop).await,
                Some(acceptor) => {
                    let handshake =
                        tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream));
                    tokio::select! {
                        done = handshake => match done {
                            Ok(Ok(stream)) => connection(stream, local, router, conn, stop).await,
                            Ok(Err(e)) => tracing::debug!("TLS handshake failed: {e}"),
                            Err(_) => tracing::debug!("TLS handshake timed out"),
                        },
                        _ = stop.evicted.cancelled() => {}
                    }
                }
            }
            drop(ticket);
        });
    }
    tracker.close();
    let _ = tokio::time::timeout(DRAIN + Duration::from_secs(1), tracker.wait()).await;
    Ok(())
}

/// Why a connection stops early: the server stops, another connection took its slot, or it
/// was idle for `keep_alive_idle`.
struct Stop {
    shutdown: CancellationToken,
    evicted: CancellationToken,
    keep_alive_idle: Duration,
}

async fn connection<S>(stream: S, local: SocketAddr, router: Router, conn: Arc<Conn>, stop: Stop)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT)
        .max_buf_size(64 * 1024);
    let service = {
        let conn = conn.clone();
        hyper::service::service_fn(move |mut request: hyper::Request<hyper::body::Incoming>| {
            request.extensions_mut().insert(Arrived(local));
            conn.begin();
            let answered = tower_service::Service::call(&mut router.clone(), request);
            let conn = conn.clone();
            async move {
                let response = answered.await;
                conn.end();
                response
            }
        })
    };
    let served = builder.serve_connection(TokioIo::new(stream), service);
    let mut served = std::pin::pin!(served);
    let life = tokio::time::sleep(MAX_CONNECTION_LIFE);
    let mut life = std::pin::pin!(life);
    loop {
        let turned_idle = conn.idle.notified();
        let idle_since = match *conn.phase() {
            Phase::Idle(since) => Some(since),
            Phase::Fresh | Phase::Busy(_) => None,
        };
        let idle_ends = idle_since.map_or_else(Instant::now, |since| since + stop.keep_alive_idle);
        tokio::select! {
            _ = served.as_mut() => return,
            _ = life.as_mut() => break,
            _ = stop.shutdown.cancelled() => break,
            _ = stop.evicted.cancelled() => break,
            _ = turned_idle => {}
            // Still idle since that answer (no request began meanwhile): close.
            _ = tokio::time::sleep_until(idle_ends), if idle_since.is_some() => {
                if idle_since.map(Phase::Idle) == Some(*conn.phase()) {
                    break;
                }
            }
        }
    }
    served.as_mut().graceful_shutdown();
    let _ = tokio::time::timeout(DRAIN, served.as_mut()).await;
}

/// A TLS acceptor for a PEM certificate chain (leaf first) and its PEM private key. With
/// `client_ca` (PEM), every client must present a certificate that CA signed (mTLS).
pub fn tls_acceptor(
    cert_pem: &[u8],
    key_pem: &[u8],
    client_ca: Option<&[u8]>,
) -> Result<TlsAcceptor, String> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs = CertificateDer::pem_slice_iter(cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("certificate: {e}"))?;
    if certs.is_empty() {
        return Err("no certificate in the certificate file".to_string());
    }
    let key = PrivateKeyDer::from_pem_slice(key_pem)
        .map_err(|_| "no PEM private key in the key".to_string())?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?;
    let builder = match client_ca {
        None => builder.with_no_client_auth(),
        Some(pem) => {
            let mut roots = rustls::RootCertStore::empty();
            for cert in CertificateDer::pem_slice_iter(pem) {
                roots
                    .add(cert.map_err(|e| format!("client CA: {e}"))?)
                    .map_err(|e| format!("client CA: {e}"))?;
            }
            let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                Arc::new(roots),
                provider,
            )
            .build()
            .map_err(|e| format!("client CA: {e}"))?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let config = builder
        .with_single_cert(certs, key)
        .map_err(|e| e.to_string())?;
    Ok(TlsAcceptor::from(Arc::new(config)))
}
