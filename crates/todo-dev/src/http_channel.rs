//! Dapr's app channel over HTTP, as daprd calls its app: every delivery, job trigger,
//! invocation and `GET /dapr/subscribe` for app X is an HTTP request to
//! `http://127.0.0.1:<X's appPort><path>` — the app being `spin up --listen 127.0.0.1:<appPort>`
//! (or anything else serving the component's routes there). `todo-dev up` routes these calls to
//! its own components in process instead (`spin_host::AppsChannel`).

use bytes::Bytes;
use dapr_sidecar::{AppCallError, AppCallFuture, AppChannel};
use http_body_util::{BodyExt as _, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// Headers of one hop only: never copied onto the next (the client and server set their own).
const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "host",
    "content-length",
];

/// Calls into apps listening on loopback ports.
pub struct HttpAppChannel {
    apps: BTreeMap<String, SocketAddr>,
    client: Client<HttpConnector, Full<Bytes>>,
}

impl HttpAppChannel {
    /// `apps`: app-id → the address its app listens on.
    pub fn new(apps: impl IntoIterator<Item = (String, SocketAddr)>) -> Self {
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(Duration::from_secs(5)));
        connector.set_nodelay(true);
        Self {
            apps: apps.into_iter().collect(),
            client: Client::builder(TokioExecutor::new()).build(connector),
        }
    }

    async fn send(
        &self,
        addr: SocketAddr,
        request: http::Request<Bytes>,
    ) -> Result<http::Response<Bytes>, String> {
        let (mut parts, body) = request.into_parts();
        let path_and_query = parts
            .uri
            .path_and_query()
            .map_or("/", http::uri::PathAndQuery::as_str);
        let url = format!("http://{addr}{path_and_query}");
        parts.uri = url.parse().map_err(|e| format!("{url}: {e}"))?;
        for name in HOP_BY_HOP {
            parts.headers.remove(*name);
        }
        let response = self
            .client
            .request(http::Request::from_parts(parts, Full::new(body)))
            .await
            .map_err(|e| {
                format!(
                    "{url}: {}; is its app (`spin up`) running?",
                    with_causes(&e)
                )
            })?;
        let (mut parts, body) = response.into_parts();
        let body = body
            .collect()
            .await
            .map_err(|e| format!("{url}: reading the response body: {e}"))?
            .to_bytes();
        for name in HOP_BY_HOP {
            parts.headers.remove(*name);
        }
        Ok(http::Response::from_parts(parts, body))
    }
}

/// `error: cause: cause…` (hyper's own message alone is only "client error (Connect)").
fn with_causes(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    text
}

impl AppChannel for HttpAppChannel {
    fn call(&self, app_id: &str, request: http::Request<Bytes>) -> AppCallFuture<'_> {
        let app_id = app_id.to_owned();
        Box::pin(async move {
            let Some(&addr) = self.apps.get(&app_id) else {
                return Err(AppCallError {
                    message: format!(
                        "no app {app_id:?} in the run file (apps: {})",
                        self.apps.keys().cloned().collect::<Vec<_>>().join(", ")
                    ),
                    app_id,
                });
            };
            let started = Instant::now();
            let method = request.method().clone();
            let path = request.uri().path().to_owned();
            let result = self.send(addr, request).await;
            let duration_ms = started.elapsed().as_secs_f64() * 1000.0;
            match &result {
                Ok(response) => tracing::info!(
                    target: "todo_dev::app_channel",
                    app_id, %method, path, %addr, status = response.status().as_u16(), duration_ms,
                    "dapr → app"
                ),
                Err(error) => tracing::warn!(
                    target: "todo_dev::app_channel",
                    app_id, %method, path, %addr, duration_ms, "dapr → app call failed: {error}"
                ),
            }
            result.map_err(|message| AppCallError { app_id, message })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    #[tokio::test]
    async fn a_call_is_an_http_request_to_the_apps_port() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let (mut stream, _) = listener.accept().await.unwrap();
            let mut seen = Vec::new();
            let mut buf = [0u8; 4096];
            while !String::from_utf8_lossy(&seen).contains("{\"n\":1}") {
                let n = stream.read(&mut buf).await.unwrap();
                assert!(n > 0, "closed early: {}", String::from_utf8_lossy(&seen));
                seen.extend_from_slice(&buf[..n]);
            }
            // A chunked answer, as Spin sends them.
            stream
                .write_all(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\nx-app: yes\r\n\r\n4\r\ndone\r\n0\r\n\r\n")
                .await
                .unwrap();
            String::from_utf8_lossy(&seen).into_owned()
        });
        let channel = HttpAppChannel::new([("audit-service".to_owned(), addr)]);
        let request = http::Request::post("/audit/task-events?x=1")
            .header("dapr-api-token", "t0k")
            .header("host", "127.0.0.1:3500")
            .header("content-type", "application/cloudevents+json")
            .body(Bytes::from_static(br#"{"n":1}"#))
            .unwrap();
        let response = channel.call("audit-service", request).await.unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(response.body().as_ref(), b"done");
        assert_eq!(response.headers()["x-app"], "yes");
        assert!(response.headers().get("transfer-encoding").is_none());
        let head = server.await.unwrap().to_ascii_lowercase();
        assert!(
            head.starts_with("post /audit/task-events?x=1 http/1.1\r\n"),
            "{head}"
        );
        assert!(head.contains("dapr-api-token: t0k\r\n"), "{head}");
        assert!(head.contains(&format!("host: {addr}\r\n")), "{head}");
        assert!(!head.contains("host: 127.0.0.1:3500"), "{head}");

        let unknown = http::Request::get("/x").body(Bytes::new()).unwrap();
        let err = channel.call("chat-api", unknown).await.unwrap_err();
        assert_eq!(err.app_id, "chat-api");
        assert!(
            err.message.contains("apps: audit-service"),
            "{}",
            err.message
        );
    }

    #[tokio::test]
    async fn an_app_that_is_not_listening_is_unreachable() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        let channel = HttpAppChannel::new([("chat-api".to_owned(), addr)]);
        let request = http::Request::post("/job/j").body(Bytes::new()).unwrap();
        let err = channel.call("chat-api", request).await.unwrap_err();
        assert_eq!(err.app_id, "chat-api");
        assert!(err.message.contains(&addr.to_string()), "{}", err.message);
        assert!(
            err.message.to_lowercase().contains("refused"),
            "{}",
            err.message
        );
    }
}
