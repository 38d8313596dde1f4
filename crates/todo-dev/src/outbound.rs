//! The components' outbound HTTP (already checked against `allowed_outbound_hosts` by
//! spin-host): calls to the Dapr address go to the embedded sidecar in process, as the calling
//! component's app-id (through [`spin_host::send_to_sidecar`], so the sidecar sees the path and
//! query, as daprd does); every other host gets a real HTTP/HTTPS client.

use bytes::Bytes;
use dapr_sidecar::Sidecar;
use http_body_util::{BodyExt as _, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use spin_host::OutboundHandler;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};

/// `host:port` pairs that mean "the sidecar". Loopback names are interchangeable.
#[derive(Debug, Clone, Default)]
pub struct DaprAddresses {
    entries: Vec<(String, u16)>,
}

fn default_port(scheme: Option<&str>) -> u16 {
    match scheme {
        Some("https") => 443,
        _ => 80,
    }
}

fn is_loopback(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

impl DaprAddresses {
    /// Add the authority of a URL such as `http://127.0.0.1:3500` (the `dapr_url` variable).
    pub fn add_url(&mut self, url: &str) -> anyhow::Result<()> {
        let uri: http::Uri = url
            .parse()
            .map_err(|e| anyhow::anyhow!("invalid dapr_url {url:?}: {e}"))?;
        let host = uri
            .host()
            .ok_or_else(|| anyhow::anyhow!("dapr_url {url:?} has no host"))?;
        let port = uri
            .port_u16()
            .unwrap_or_else(|| default_port(uri.scheme_str()));
        self.add(host, port);
        Ok(())
    }

    pub fn add(&mut self, host: &str, port: u16) {
        let entry = (host.to_ascii_lowercase(), port);
        if !self.entries.contains(&entry) {
            self.entries.push(entry);
        }
    }

    /// Whether `uri` addresses the sidecar.
    pub fn matches(&self, uri: &http::Uri) -> bool {
        let Some(host) = uri.host() else {
            return false;
        };
        let host = host.to_ascii_lowercase();
        let port = uri
            .port_u16()
            .unwrap_or_else(|| default_port(uri.scheme_str()));
        self.entries
            .iter()
            .any(|(h, p)| *p == port && (*h == host || (is_loopback(h) && is_loopback(&host))))
    }

    pub fn describe(&self) -> String {
        self.entries
            .iter()
            .map(|(h, p)| format!("{h}:{p}"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

type HttpsClient = Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>;

/// The host's one [`OutboundHandler`].
pub struct DevOutbound {
    /// Set once the sidecar exists (the sidecar needs the loaded components, which need this).
    pub sidecar: OnceLock<Sidecar>,
    pub dapr: DaprAddresses,
    client: HttpsClient,
}

impl DevOutbound {
    pub fn new(dapr: DaprAddresses) -> Arc<Self> {
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_connect_timeout(Some(std::time::Duration::from_secs(10)));
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_webpki_roots()
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        let client = Client::builder(TokioExecutor::new()).build(https);
        Arc::new(Self {
            sidecar: OnceLock::new(),
            dapr,
            client,
        })
    }

    async fn call(
        &self,
        app_id: &str,
        req: http::Request<Bytes>,
    ) -> anyhow::Result<http::Response<Bytes>> {
        if self.dapr.matches(req.uri()) {
            let sidecar = self
                .sidecar
                .get()
                .ok_or_else(|| anyhow::anyhow!("the Dapr sidecar is not started yet"))?;
            let started = std::time::Instant::now();
            let method = req.method().clone();
            let path = req.uri().path().to_string();
            let response = spin_host::send_to_sidecar(sidecar, app_id, req).await;
            tracing::debug!(
                target: "todo_dev::dapr",
                app_id,
                %method,
                path,
                status = response.status().as_u16(),
                duration_ms = started.elapsed().as_secs_f64() * 1000.0,
                "dapr api call"
            );
            return Ok(response);
        }
        let uri = req.uri().clone();
        let (parts, body) = req.into_parts();
        let response = self
            .client
            .request(http::Request::from_parts(parts, Full::new(body)))
            .await
            .map_err(|e| anyhow::anyhow!("{uri}: {e}"))?;
        let (parts, body) = response.into_parts();
        let body = body
            .collect()
            .await
            .map_err(|e| anyhow::anyhow!("{uri}: reading the response body: {e}"))?
            .to_bytes();
        Ok(http::Response::from_parts(parts, body))
    }
}

impl OutboundHandler for DevOutbound {
    fn handle(
        &self,
        app_id: &str,
        req: http::Request<Bytes>,
    ) -> Pin<Box<dyn Future<Output = anyhow::Result<http::Response<Bytes>>> + Send + '_>> {
        let app_id = app_id.to_string();
        Box::pin(async move { self.call(&app_id, req).await })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dapr_addresses_match_loopback_aliases_on_the_same_port() {
        let mut dapr = DaprAddresses::default();
        dapr.add_url("http://127.0.0.1:3500").unwrap();
        for yes in [
            "http://127.0.0.1:3500/v1.0/state/s",
            "http://localhost:3500/v1.0/publish/p/t",
            "http://[::1]:3500/x",
        ] {
            assert!(dapr.matches(&yes.parse().unwrap()), "{yes}");
        }
        for no in [
            "http://127.0.0.1:3501/x",
            "http://example.com:3500/x",
            "http://127.0.0.1/x",
            "/relative",
        ] {
            assert!(!dapr.matches(&no.parse().unwrap()), "{no}");
        }
        let mut remote = DaprAddresses::default();
        remote.add_url("http://dapr.internal").unwrap();
        assert!(remote.matches(&"http://dapr.internal/v1.0/healthz".parse().unwrap()));
        assert!(!remote.matches(&"http://localhost/v1.0/healthz".parse().unwrap()));
        assert!(DaprAddresses::default().add_url("not a url").is_err());
    }

    #[tokio::test]
    async fn dapr_calls_reach_the_sidecar_as_the_calling_app() {
        let mut dapr = DaprAddresses::default();
        dapr.add_url("http://127.0.0.1:3500").unwrap();
        let outbound = DevOutbound::new(dapr);
        let sidecar = Sidecar::new(dapr_sidecar::SidecarConfig::default());
        outbound.sidecar.set(sidecar.clone()).unwrap();
        let save = http::Request::post("http://localhost:3500/v1.0/state/statestore")
            .body(Bytes::from_static(br#"[{"key":"k","value":1}]"#))
            .unwrap();
        let response = outbound.handle("audit-service", save).await.unwrap();
        assert_eq!(response.status(), 204);
        let keys: Vec<String> = sidecar.state_snapshot("statestore").into_keys().collect();
        assert_eq!(keys, vec!["audit-service||k".to_string()]);
    }

    #[tokio::test]
    async fn other_hosts_get_a_real_http_client() {
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let (mut stream, _) = listener.accept().await.unwrap();
            let mut buf = vec![0u8; 4096];
            let n = stream.read(&mut buf).await.unwrap();
            let head = String::from_utf8_lossy(&buf[..n]).to_string();
            stream
                .write_all(b"HTTP/1.1 201 Created\r\ncontent-length: 5\r\nx-echo: yes\r\n\r\nhello")
                .await
                .unwrap();
            head
        });
        let mut dapr = DaprAddresses::default();
        dapr.add_url("http://127.0.0.1:3500").unwrap();
        let outbound = DevOutbound::new(dapr);
        let req = http::Request::post(format!("http://{addr}/hook?x=1"))
            .header("x-from", "guest")
            .body(Bytes::from_static(b"ping"))
            .unwrap();
        let response = outbound.handle("chat-api", req).await.unwrap();
        assert_eq!(response.status(), 201);
        assert_eq!(response.headers()["x-echo"], "yes");
        assert_eq!(response.body().as_ref(), b"hello");
        let head = server.await.unwrap();
        assert!(head.starts_with("POST /hook?x=1 HTTP/1.1"), "{head}");
        assert!(head.contains("x-from: guest"), "{head}");

        // Nothing listening: an error, not a hang.
        let closed = http::Request::get("http://127.0.0.1:1/")
            .body(Bytes::new())
            .unwrap();
        assert!(outbound.handle("chat-api", closed).await.is_err());
    }
}
