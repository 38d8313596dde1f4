//! A small HTTP/1 server (hyper 1) with graceful shutdown: stop accepting, let in-flight
//! requests finish, close idle keep-alive connections.

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;

/// Largest request body accepted (the components limit theirs further).
const MAX_BODY: usize = 16 * 1024 * 1024;

/// How long in-flight requests get after a shutdown signal.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

pub type ResponseFuture<'a> = Pin<Box<dyn Future<Output = http::Response<Bytes>> + Send + 'a>>;

/// Serves one complete request.
pub trait Service: Send + Sync + 'static {
    fn call(&self, req: http::Request<Bytes>, peer: SocketAddr) -> ResponseFuture<'_>;
}

pub fn text_response(status: u16, body: impl Into<Bytes>) -> http::Response<Bytes> {
    let mut response = http::Response::new(body.into());
    *response.status_mut() =
        http::StatusCode::from_u16(status).unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR);
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

/// Accept connections on `listener` until `shutdown` turns true, then drain.
pub async fn serve(
    name: &'static str,
    listener: TcpListener,
    service: Arc<dyn Service>,
    mut shutdown: watch::Receiver<bool>,
) {
    let graceful = GracefulShutdown::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(conn) => conn,
                    Err(e) => {
                        tracing::warn!(server = name, "accept failed: {e}");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                // Answers go out as soon as they are written: without this, Nagle's algorithm
                // holds a second small write until the client's (delayed, up to 40 ms) ACK.
                if let Err(e) = stream.set_nodelay(true) {
                    tracing::debug!(server = name, %peer, "cannot set TCP_NODELAY: {e}");
                }
                let service = service.clone();
                let svc = hyper::service::service_fn(move |req: http::Request<Incoming>| {
                    let service = service.clone();
                    async move {
                        Ok::<_, std::convert::Infallible>(handle(service, req, peer).await)
                    }
                });
                let conn = http1::Builder::new()
                    .timer(TokioTimer::new())
                    .header_read_timeout(Duration::from_secs(30))
                    .serve_connection(TokioIo::new(stream), svc);
                let conn = graceful.watch(conn);
                tokio::spawn(async move {
                    if let Err(e) = conn.await {
                        tracing::debug!(server = name, %peer, "connection error: {e}");
                    }
                });
            }
            changed = shutdown.changed() => {
                if changed.is_err() || *shutdown.borrow() {
                    break;
                }
            }
        }
    }
    drop(listener);
    tokio::select! {
        _ = graceful.shutdown() => {}
        _ = tokio::time::sleep(DRAIN_TIMEOUT) => {
            tracing::warn!(server = name, "requests still running after {DRAIN_TIMEOUT:?}; closing them");
        }
    }
}

async fn handle(
    service: Arc<dyn Service>,
    req: http::Request<Incoming>,
    peer: SocketAddr,
) -> http::Response<Full<Bytes>> {
    let (parts, body) = req.into_parts();
    let body = match Limited::new(body, MAX_BODY).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(e) => {
            let too_large = e
                .downcast_ref::<http_body_util::LengthLimitError>()
                .is_some();
            let response = if too_large {
                text_response(413, "request body too large\n")
            } else {
                text_response(400, format!("cannot read the request body: {e}\n"))
            };
            return response.map(Full::new);
        }
    };
    service
        .call(http::Request::from_parts(parts, body), peer)
        .await
        .map(Full::new)
}
