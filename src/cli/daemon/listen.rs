//! `[daemon] listen`: a tiny HTTP/1.1 server (hyper 1) with two read-only routes, `GET /metrics`
//! (OpenMetrics text) and `GET /healthz` (200, or 503 naming the stale job × destination pairs).
//! Anything else is 404 (unknown path) or 405 (another method); nothing here can start work.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use cloudmirror::Error;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{HeaderValue, ALLOW, CONTENT_TYPE};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

use super::metrics::Metrics;

/// The OpenMetrics content type `prometheus-client`'s text is served as (OpenMetrics 1.0,
/// "Overall Structure": <https://github.com/OpenObservability/OpenMetrics/blob/main/specification/OpenMetrics.md#overall-structure>;
/// its text ends with `# EOF`). Prometheus asks for it in its scrape `Accept` header.
const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Binds the listener before the first run, so a taken port is a startup error.
pub(super) async fn bind(addr: SocketAddr) -> Result<TcpListener, Error> {
    TcpListener::bind(addr).await.map_err(|e| {
        Error::Config(format!(
            "daemon.listen: cannot listen on {addr}: {}",
            os_message(&e)
        ))
    })
}

/// The OS's words for a bind failure (e.g. "Address already in use").
fn os_message(e: &std::io::Error) -> String {
    let text = e.to_string();
    // `std` appends " (os error 98)"; the words are enough.
    match text.find(" (os error") {
        Some(i) => text[..i].to_owned(),
        None => text,
    }
}

/// Serves connections until the daemon's runtime ends.
pub(super) fn serve(listener: TcpListener, metrics: Arc<Metrics>) {
    tokio::spawn(async move {
        loop {
            let (stream, _) = match listener.accept().await {
                Ok(conn) => conn,
                Err(e) => {
                    tracing::warn!("metrics listener: accept failed: {e}");
                    continue;
                }
            };
            let metrics = metrics.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req: Request<Incoming>| {
                    let metrics = metrics.clone();
                    async move { Ok::<_, std::convert::Infallible>(respond(&req, &metrics)) }
                });
                if let Err(e) = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await
                {
                    tracing::debug!("metrics listener: connection: {e}");
                }
            });
        }
    });
}

/// The answer to one request.
fn respond<B>(req: &Request<B>, metrics: &Metrics) -> Response<Full<Bytes>> {
    let path = req.uri().path();
    if path != "/metrics" && path != "/healthz" {
        return plain(
            StatusCode::NOT_FOUND,
            "not found: only /metrics and /healthz\n",
        );
    }
    if req.method() != Method::GET {
        let mut r = plain(
            StatusCode::METHOD_NOT_ALLOWED,
            "method not allowed: use GET\n",
        );
        r.headers_mut()
            .insert(ALLOW, HeaderValue::from_static("GET"));
        return r;
    }
    if path == "/metrics" {
        let mut r = Response::new(Full::new(Bytes::from(metrics.exposition())));
        r.headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static(OPENMETRICS));
        return r;
    }
    let stale = metrics.stale();
    let body = serde_json::json!({ "ok": stale.is_empty(), "stale": stale });
    let mut r = Response::new(Full::new(Bytes::from(format!("{body}\n"))));
    *r.status_mut() = if stale.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r
}

fn plain(status: StatusCode, text: &'static str) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from_static(text.as_bytes())));
    *r.status_mut() = status;
    r.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}
