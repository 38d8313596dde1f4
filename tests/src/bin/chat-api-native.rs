//! `chat-api-native`: the chat-api handlers (`task_api::App`, the code the chat-api component
//! wraps) compiled natively, behind a minimal hyper 1 HTTP/1 server, their Dapr calls answered by
//! an in-process `dapr_sidecar::Sidecar` (in memory, `SidecarConfig::default()`) as app-id
//! `chat-api`.
//!
//! ```text
//! chat-api-native --jwt-secret SECRET [--listen 127.0.0.1:3001]
//! ```
//!
//! A measuring instrument, not a way to run the app: it is the native baseline that
//! `tests/benches/host_vs_native.rs` compares `todo-dev up` against. Everything that is not the
//! request path of chat-api is left out: no manifest, no other components, no `dapr/` resources,
//! no persistence, no app API token, no job triggers or deliveries into the app, no metrics, no
//! graceful shutdown. What it keeps is what a request costs: HTTP/1 parsing, the handler, the
//! sidecar, and the handler's one log line per request (on stdout, as the component writes it).
//! Prints `chat-api-native: listening on http://ADDR` on stdout once it accepts connections.

use bytes::Bytes;
use clap::Parser;
use dapr_client::{Transport, TransportError};
use dapr_sidecar::{Sidecar, SidecarConfig};
use http_body_util::{BodyExt as _, Full, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use std::io::Write as _;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use task_api::{App, Config, Runtime};
use tokio::net::TcpListener;

/// The app-id the handlers act as, the component id in spin.toml.
const APP_ID: &str = "chat-api";
/// The `dapr_url` the handlers are given; only the path and query reach the sidecar.
const DAPR_URL: &str = "http://127.0.0.1:3500";
/// As `todo-dev`'s server (crates/todo-dev/src/server.rs).
const MAX_BODY: usize = 16 * 1024 * 1024;

#[derive(Parser, Debug)]
#[command(
    name = "chat-api-native",
    about = "chat-api's handlers compiled natively behind a minimal HTTP/1 server, with an \
             in-memory Dapr sidecar in process (a benchmark baseline, not a way to run the app)"
)]
struct Args {
    /// The HTTP address. Port 0 picks a free port (the bound address is printed).
    #[arg(long, default_value = "127.0.0.1:3001")]
    listen: SocketAddr,
    /// HS256 key user tokens are checked with (the component's `jwt_secret` variable).
    #[arg(long)]
    jwt_secret: String,
}

/// The native counterpart of the component's `SpinRuntime`: Dapr calls go to the sidecar in
/// process through `spin_host::send_to_sidecar`, the adapter `todo-dev`'s outbound handler sends
/// a component's calls through; time is the system's.
struct NativeRuntime {
    sidecar: Sidecar,
}

impl Transport for NativeRuntime {
    async fn send(
        &self,
        request: http::Request<Vec<u8>>,
    ) -> Result<http::Response<Vec<u8>>, TransportError> {
        let response =
            spin_host::send_to_sidecar(&self.sidecar, APP_ID, request.map(Bytes::from)).await;
        Ok(response.map(Vec::from))
    }
}

impl Runtime for NativeRuntime {
    fn now(&self) -> chrono::DateTime<chrono::Utc> {
        chrono::Utc::now()
    }

    async fn sleep(&self, duration: Duration) {
        tokio::time::sleep(duration).await;
    }
}

type NativeApp = App<NativeRuntime>;

async fn handle(app: Arc<NativeApp>, req: http::Request<Incoming>) -> http::Response<Full<Bytes>> {
    let (parts, body) = req.into_parts();
    let body = match Limited::new(body, MAX_BODY).collect().await {
        Ok(collected) => collected.to_bytes().to_vec(),
        Err(e) => {
            let mut response = http::Response::new(Full::new(Bytes::from(format!(
                "cannot read the request body: {e}\n"
            ))));
            *response.status_mut() = http::StatusCode::BAD_REQUEST;
            return response;
        }
    };
    app.handle(http::Request::from_parts(parts, body))
        .await
        .map(|body| Full::new(Bytes::from(body)))
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("chat-api-native")
        .build()?;
    runtime.block_on(serve(args))
}

async fn serve(args: Args) -> anyhow::Result<()> {
    let listener = TcpListener::bind(args.listen).await?;
    let sidecar = Sidecar::new(SidecarConfig::default());
    sidecar.start();
    let app = Arc::new(App::new(
        DAPR_URL,
        NativeRuntime { sidecar },
        Config::new(args.jwt_secret),
    ));
    let mut stdout = std::io::stdout();
    writeln!(
        stdout,
        "chat-api-native: listening on http://{}",
        listener.local_addr()?
    )?;
    stdout.flush()?;
    loop {
        let (stream, _peer) = match listener.accept().await {
            Ok(conn) => conn,
            Err(e) => {
                eprintln!("chat-api-native: accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let app = app.clone();
        let service = hyper::service::service_fn(move |req| {
            let app = app.clone();
            async move { Ok::<_, std::convert::Infallible>(handle(app, req).await) }
        });
        tokio::spawn(async move {
            // A client closing its keep-alive connection ends here too; nothing to report.
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}
