//! The whole app as `todo-dev up` serves it, in process: every component of spin.toml (the
//! release `.wasm` files, the harness's compilations) behind spin.toml's router on one HTTP port
//! (127.0.0.1, an ephemeral port), one embedded sidecar with the repository's `dapr/`
//! resources, the same app API token on both sides, the system clock.
use bytes::Bytes;
use dapr_sidecar::{Sidecar, SidecarConfig};
use http_body_util::{BodyExt as _, Full};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use spin_host::apps::{Apps, AppsChannel};
use spin_host::{Overrides, RequestContext, SharedClock, SidecarOutbound};
use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use tokio::net::TcpListener;

pub const APP_TOKEN: &str = "browser-test-app-token";

pub struct Server {
    pub addr: SocketAddr,
    /// Runs the server and the sidecar; dropped with the server.
    _runtime: tokio::runtime::Runtime,
}

impl Server {
    pub fn start() -> Server {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let addr = runtime.block_on(serve());
        Server {
            addr,
            _runtime: runtime,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// One HTTP/1.1 request (`Connection: close`) as a client would send it; the answer's
    /// status, headers and JSON body (`Null` when empty).
    pub fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&Value>,
    ) -> (u16, http::HeaderMap, Value) {
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        let mut text = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nContent-Length: {}\r\n",
            self.addr,
            body.len()
        );
        if !body.is_empty() {
            text.push_str("Content-Type: application/json\r\n");
        }
        for (name, value) in headers {
            text.push_str(&format!("{name}: {value}\r\n"));
        }
        text.push_str("\r\n");
        text.push_str(&body);
        let mut stream = TcpStream::connect(self.addr).unwrap();
        stream.write_all(text.as_bytes()).unwrap();
        let mut answer = Vec::new();
        stream.read_to_end(&mut answer).unwrap();
        let answer = String::from_utf8(answer).unwrap();
        let (head, body) = answer.split_once("\r\n\r\n").unwrap();
        let mut lines = head.lines();
        let status = lines.next().unwrap().split(' ').nth(1).unwrap();
        let mut map = http::HeaderMap::new();
        for line in lines {
            let (name, value) = line.split_once(':').unwrap();
            map.append(
                http::HeaderName::try_from(name.trim()).unwrap(),
                value.trim().parse().unwrap(),
            );
        }
        let json = if body.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"))
        };
        (status.parse().unwrap(), map, json)
    }
}

/// Load every component, start the sidecar, listen; the bound address.
async fn serve() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let clock = SharedClock::system();
    let app = todo_tests::app();
    let outbound = Arc::new(LateSidecar::default());
    let components = todo_tests::built_components()
        .iter()
        .map(|c| {
            let mut variables = app
                .config(c.id)
                .unwrap_or_else(|e| panic!("{e:#}"))
                .variables;
            if variables.contains_key("app_api_token") {
                variables.insert("app_api_token".into(), APP_TOKEN.into());
            }
            app.component_overrides(
                c.id,
                Overrides {
                    outbound: Some(outbound.clone()),
                    variables: Some(variables),
                    wall_clock: Some(clock.wall_clock()),
                    ..Overrides::default()
                },
            )
            .component()
            .clone()
        })
        .collect();
    let apps = Arc::new(Apps::new(app.manifest(), components));
    let resources = todo_tests::manifest_path().parent().unwrap().join("dapr");
    let sidecar = Sidecar::new(SidecarConfig {
        clock: clock.sidecar_clock(),
        app_channel: Arc::new(AppsChannel::new(apps.clone(), addr.to_string())),
        apps: apps.ids(),
        resources_dir: Some(resources),
        app_api_token: Some(APP_TOKEN.into()),
        ..SidecarConfig::default()
    });
    outbound
        .0
        .set(SidecarOutbound(sidecar.clone()))
        .ok()
        .unwrap();
    sidecar.start();
    tokio::spawn(async move {
        loop {
            let Ok((stream, peer)) = listener.accept().await else {
                continue;
            };
            let apps = apps.clone();
            let authority = addr.to_string();
            let service = hyper::service::service_fn(move |req| {
                let apps = apps.clone();
                let authority = authority.clone();
                async move {
                    Ok::<_, std::convert::Infallible>(route(&apps, req, peer, authority).await)
                }
            });
            tokio::spawn(async move {
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    addr
}

/// As todo-dev's app port: the route's component, or Spin's empty 404.
async fn route(
    apps: &Apps,
    req: http::Request<hyper::body::Incoming>,
    peer: SocketAddr,
    authority: String,
) -> http::Response<Full<Bytes>> {
    let (parts, body) = req.into_parts();
    let body = body
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let req = http::Request::from_parts(parts, body);
    let response = match apps.route(req.uri().path()) {
        None => http::Response::builder()
            .status(404)
            .body(Bytes::new())
            .unwrap(),
        Some(matched) => {
            let ctx = RequestContext {
                route: matched.route.clone(),
                base_path: "/".into(),
                client_addr: peer,
                default_authority: authority,
            };
            matched
                .component
                .handle_with_context(req, &ctx)
                .await
                .unwrap_or_else(|e| panic!("{} failed: {e:#}", matched.component.id()))
        }
    };
    response.map(Full::new)
}

/// The components' outbound handler, pointing at the sidecar once it exists (the sidecar needs
/// the loaded components first).
#[derive(Default)]
struct LateSidecar(std::sync::OnceLock<SidecarOutbound>);

impl spin_host::OutboundHandler for LateSidecar {
    fn handle(
        &self,
        app_id: &str,
        req: http::Request<Bytes>,
    ) -> std::pin::Pin<
        Box<dyn std::future::Future<Output = anyhow::Result<http::Response<Bytes>>> + Send + '_>,
    > {
        let sidecar = self.0.get().expect("set before serving");
        sidecar.handle(app_id, req)
    }
}
