//! `GET /metrics`: the scrape is written on the blocking pool (at tens of thousands of
//! integrations it is tens of megabytes of text) and streamed to the scraper in chunks, gzipped
//! when the scraper asks, so that neither checks nor memory wait on the whole of it.

use std::io::{self, Write};
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use flate2::Compression;
use flate2::write::GzEncoder;
use tokio::sync::mpsc;

use crate::metrics::Metrics;

/// Bytes handed to the connection at a time.
const CHUNK: usize = 64 * 1024;

/// The whole scrape, gzipped if `request` accepts it.
pub(super) fn respond(metrics: Arc<Metrics>, request: &HeaderMap) -> Response {
    let gzip = accepts_gzip(request);
    let (tx, rx) = mpsc::channel::<io::Result<Bytes>>(4);
    tokio::task::spawn_blocking(move || {
        let mut sink = Chunks {
            tx: tx.clone(),
            buffer: Vec::with_capacity(CHUNK),
        };
        let written = if gzip {
            let mut encoder = GzEncoder::new(&mut sink, Compression::fast());
            metrics
                .write(&mut encoder)
                .and_then(|()| encoder.finish().map(drop))
        } else {
            metrics.write(&mut sink)
        };
        if let Err(e) = written.and_then(|()| sink.flush()) {
            // The scraper hung up (nothing to tell), or the scrape broke off: end the body
            // with an error rather than let it look complete.
            let _ = tx.blocking_send(Err(e));
        }
    });
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|chunk| (chunk, rx))
    });
    let mut response = Body::from_stream(stream).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    headers.insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
    if gzip {
        headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    }
    response
}

/// Whether `Accept-Encoding` lists gzip with a weight above zero.
fn accepts_gzip(request: &HeaderMap) -> bool {
    request
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .any(|coding| {
            let mut parts = coding.split(';').map(str::trim);
            let name = parts.next().unwrap_or_default();
            let weight = parts
                .find_map(|p| {
                    p.strip_prefix("q=")
                        .and_then(|q| q.trim().parse::<f32>().ok())
                })
                .unwrap_or(1.0);
            name.eq_ignore_ascii_case("gzip") && weight > 0.0
        })
}

/// Gathers written bytes into chunks for the response body.
struct Chunks {
    tx: mpsc::Sender<io::Result<Bytes>>,
    buffer: Vec<u8>,
}

impl Chunks {
    fn send(&mut self) -> io::Result<()> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        let chunk = std::mem::replace(&mut self.buffer, Vec::with_capacity(CHUNK));
        self.tx
            .blocking_send(Ok(Bytes::from(chunk)))
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "the scraper went away"))
    }
}

impl Write for Chunks {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.buffer.extend_from_slice(bytes);
        if self.buffer.len() >= CHUNK {
            self.send()?;
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.send()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accept(value: &str) -> bool {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::ACCEPT_ENCODING,
            HeaderValue::from_str(value).unwrap(),
        );
        accepts_gzip(&headers)
    }

    #[test]
    fn gzip_is_used_when_asked_with_a_weight() {
        assert!(accept("gzip"));
        assert!(accept("identity, GZIP;q=0.5"));
        assert!(accept("deflate, gzip"));
        assert!(!accept("gzip;q=0"));
        assert!(!accept("br, deflate"));
        assert!(!accepts_gzip(&HeaderMap::new()));
    }
}
