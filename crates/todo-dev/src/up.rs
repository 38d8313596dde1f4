//! `todo-dev up`: build, load, wire the sidecar, serve, shut down cleanly.

use crate::outbound::{DaprAddresses, DevOutbound};
use crate::secrets::{self, APP_API_TOKEN_VAR, JwtSecretSource};
use crate::server::{self, ResponseFuture, Service, text_response};
use crate::{LogFormat, UpArgs, builder};
use anyhow::{Context as _, anyhow, bail};
use bytes::Bytes;
use dapr_sidecar::{Metrics, Sidecar, SidecarConfig};
use spin_host::apps::{AppCall, Apps, AppsChannel};
use spin_host::{
    Host, HostOptions, LogLine, LogSink, LogSource, Manifest, RequestContext, VariableResolver,
    trace,
};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;
use tokio::net::TcpListener;
use tokio::sync::watch;

const REQUEST_COUNT: &str = "dapr_http_server_request_count";
const REQUEST_COUNT_HELP: &str =
    "Number of HTTP requests served by the host, by component (app_id), method, route and status";
const LATENCY: &str = "dapr_http_server_latency";
const LATENCY_HELP: &str =
    "HTTP request latency in ms, by component (app_id), method, route and status";

pub fn run(args: UpArgs) -> anyhow::Result<()> {
    let started = Instant::now();
    init_tracing(args.log_format);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("todo-dev")
        .build()
        .context("cannot start the tokio runtime")?;
    runtime.block_on(up(args, started))
}

fn init_tracing(format: LogFormat) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,wasmtime=warn,cranelift=warn,hyper=warn"));
    use std::io::IsTerminal as _;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    let result = match format {
        LogFormat::Human => builder.with_target(false).try_init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .try_init(),
    };
    let _ = result;
}

fn guest_log_sink() -> LogSink {
    Arc::new(|line: &LogLine<'_>| {
        let stream = match line.source {
            LogSource::Stdout => "stdout",
            LogSource::Stderr => "stderr",
            LogSource::Host => "host",
        };
        tracing::info!(target: "guest", component = line.component, stream, "{}", line.line);
    })
}

async fn bind(what: &str, addr: SocketAddr) -> anyhow::Result<TcpListener> {
    TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr} ({what}); pick another with --{what}"))
}

async fn up(args: UpArgs, started: Instant) -> anyhow::Result<()> {
    let manifest_path = &args.common.manifest;
    let manifest = Manifest::load(manifest_path)?;
    let selected = manifest.select_components(&args.component_ids)?;
    if selected.is_empty() {
        bail!("the manifest has no components");
    }
    if !args.no_build {
        let (m, s) = (manifest.clone(), selected.clone());
        tokio::task::spawn_blocking(move || builder::build_stale(&m, &s))
            .await
            .context("build task failed")??;
    }

    // Variables: SPIN_VARIABLE_* > per-run app API token > defaults > dev JWT secret.
    let data_dir = &args.common.data_dir;
    let mut resolver = VariableResolver::new(&manifest);
    let jwt_source = secrets::provide_dev_jwt_secret(&manifest, &mut resolver, data_dir)?;
    let app_api_token = if manifest.variables.contains_key(APP_API_TOKEN_VAR) {
        resolver.set_override(APP_API_TOKEN_VAR, secrets::random_hex(24));
        Some(resolver.get(APP_API_TOKEN_VAR)?).filter(|t| !t.is_empty())
    } else {
        None
    };
    let configs = selected
        .iter()
        .map(|id| manifest.component_config(id, &resolver))
        .collect::<anyhow::Result<Vec<_>>>()?;

    // Listen first: a busy port fails before the slow part.
    let app_listener = bind("listen", args.listen).await?;
    let dapr_listener = bind("dapr-listen", args.dapr_listen).await?;
    let admin_listener = bind("admin-listen", args.admin_listen).await?;
    let app_addr = app_listener.local_addr()?;
    let dapr_addr = dapr_listener.local_addr()?;
    let admin_addr = admin_listener.local_addr()?;

    let mut dapr = DaprAddresses::default();
    if manifest.variables.contains_key("dapr_url") {
        dapr.add_url(&resolver.get("dapr_url")?)?;
    }
    dapr.add(&dapr_addr.ip().to_string(), dapr_addr.port());
    let outbound = DevOutbound::new(dapr);

    let host = Host::new(
        outbound.clone(),
        HostOptions {
            log_sink: Some(guest_log_sink()),
            pooling: !args.no_pooling,
            ..HostOptions::default()
        },
    )?;
    let mut components = Vec::new();
    for config in configs {
        let id = config.id.clone();
        let loaded = tokio::task::block_in_place(|| host.load(config))?;
        tracing::info!(
            component = %id,
            compile_ms = loaded.compile_time().as_millis() as u64,
            cached = loaded.loaded_from_cache(),
            "loaded {id}"
        );
        components.push(loaded);
    }
    let apps = Arc::new(Apps::new(&manifest, components));

    let resources_dir = manifest.dir.join("dapr");
    let channel = AppsChannel::new(apps.clone(), app_addr.to_string()).with_observer(Arc::new(
        |call: &AppCall<'_>| {
            let route = call.route.unwrap_or("(no route)");
            let ms = call.duration.as_secs_f64() * 1000.0;
            match &call.error {
                Some(error) => tracing::error!(
                    target: "todo_dev::app_channel",
                    app_id = call.app_id, method = %call.method, path = call.path, route,
                    status = call.status, duration_ms = ms, "dapr → app call failed: {error}"
                ),
                None => tracing::info!(
                    target: "todo_dev::app_channel",
                    app_id = call.app_id, method = %call.method, path = call.path, route,
                    status = call.status, duration_ms = ms, "dapr → app"
                ),
            }
        },
    ));
    let sidecar = Sidecar::try_new(SidecarConfig {
        app_channel: Arc::new(channel),
        apps: apps.ids(),
        data_dir: (!args.ephemeral).then(|| data_dir.clone()),
        resources_dir: resources_dir.is_dir().then_some(resources_dir),
        app_api_token: app_api_token.clone(),
        ..SidecarConfig::default()
    })
    .map_err(|e| anyhow!("cannot start the Dapr sidecar: {e}"))?;
    outbound
        .sidecar
        .set(sidecar.clone())
        .map_err(|_| anyhow!("sidecar set twice"))?;
    sidecar.start();

    let as_app_id = args
        .as_app_id
        .clone()
        .unwrap_or_else(|| selected[0].clone());
    if !selected.contains(&as_app_id) {
        tracing::warn!("--as-app-id {as_app_id} is not one of the running components");
    }

    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let app_service = Arc::new(AppService {
        apps: apps.clone(),
        metrics: sidecar.metrics().clone(),
        authority: app_addr.to_string(),
    });
    let dapr_service = Arc::new(DaprService {
        sidecar: sidecar.clone(),
        app_id: as_app_id.clone(),
    });
    let admin_service = Arc::new(AdminService {
        sidecar: sidecar.clone(),
    });
    let servers = [
        tokio::spawn(server::serve(
            "app",
            app_listener,
            app_service,
            shutdown_rx.clone(),
        )),
        tokio::spawn(server::serve(
            "dapr",
            dapr_listener,
            dapr_service,
            shutdown_rx.clone(),
        )),
        tokio::spawn(server::serve(
            "admin",
            admin_listener,
            admin_service,
            shutdown_rx,
        )),
    ];

    // Parseable lines on stdout (tests and scripts read the bound ports from here).
    println!("todo-dev: app listening on http://{app_addr}");
    println!("todo-dev: dapr listening on http://{dapr_addr} (as app-id {as_app_id})");
    println!("todo-dev: admin listening on http://{admin_addr}");
    match &jwt_source {
        JwtSecretSource::DevFile(path) => tracing::info!(
            "jwt_secret: development secret from {} (mint a token: todo-dev token --user alice)",
            path.display()
        ),
        JwtSecretSource::Configured => tracing::info!("jwt_secret: configured"),
        JwtSecretSource::NotDeclared => {}
    }
    tracing::info!(
        components = %selected.join(","),
        data = %if args.ephemeral { "in memory (--ephemeral)".to_string() } else { data_dir.display().to_string() },
        app_api_token = app_api_token.is_some(),
        pooling = !args.no_pooling,
        dapr_in_process = %outbound.dapr.describe(),
        "ready"
    );
    println!("todo-dev: ready in {:.2}s", started.elapsed().as_secs_f64());

    wait_for_signal().await;
    tracing::info!("shutting down: draining in-flight requests");
    let _ = shutdown_tx.send(true);
    for server in servers {
        let _ = server.await;
    }
    tracing::info!("stopped");
    println!("todo-dev: stopped");
    Ok(())
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = match signal(SignalKind::terminate()) {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!("cannot listen for SIGTERM: {e}");
                let _ = tokio::signal::ctrl_c().await;
                return;
            }
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// The app's port: route → component.
struct AppService {
    apps: Arc<Apps>,
    metrics: Arc<Metrics>,
    authority: String,
}

impl Service for AppService {
    fn call(&self, mut req: http::Request<Bytes>, peer: SocketAddr) -> ResponseFuture<'_> {
        Box::pin(async move {
            let started = Instant::now();
            let method = req.method().clone();
            let path = req.uri().path().to_string();
            // W3C trace context: keep a valid incoming traceparent, else start a trace.
            let incoming = req
                .headers()
                .get(trace::TRACEPARENT)
                .and_then(|v| v.to_str().ok())
                .filter(|v| trace::parse(v).is_some())
                .map(str::to_string);
            let traceparent = incoming.unwrap_or_else(trace::new_traceparent);
            if let Ok(value) = http::HeaderValue::try_from(traceparent.as_str()) {
                req.headers_mut().insert(trace::TRACEPARENT, value);
            }
            let trace_id = trace::trace_id(&traceparent).unwrap_or_default();

            let Some(matched) = self.apps.route(&path) else {
                tracing::info!(
                    component = "-", %method, path, route = "-", status = 404,
                    duration_ms = started.elapsed().as_secs_f64() * 1000.0, trace_id,
                    "no route"
                );
                return text_response(404, "Not Found\n");
            };
            let ctx = RequestContext {
                route: matched.route.clone(),
                base_path: "/".into(),
                client_addr: peer,
                default_authority: self.authority.clone(),
            };
            let component = matched.component.id().to_string();
            let response = match matched.component.handle_with_context(req, &ctx).await {
                Ok(response) => response,
                Err(e) => {
                    tracing::error!(component, %method, path, "component failed: {e:#}");
                    text_response(500, "Internal Server Error\n")
                }
            };
            let status = response.status().as_u16();
            let elapsed_ms = started.elapsed().as_secs_f64() * 1000.0;
            let status_text = status.to_string();
            let labels = [
                ("app_id", component.as_str()),
                ("method", method.as_str()),
                ("path", matched.route.as_str()),
                ("status", status_text.as_str()),
            ];
            self.metrics.inc(REQUEST_COUNT, REQUEST_COUNT_HELP, &labels);
            self.metrics
                .observe_ms(LATENCY, LATENCY_HELP, &labels, elapsed_ms);
            tracing::info!(
                component, %method, path, route = matched.route, status,
                duration_ms = elapsed_ms, trace_id, "request"
            );
            response
        })
    }
}

/// The Dapr API port for tools: every request acts as one app-id.
struct DaprService {
    sidecar: Sidecar,
    app_id: String,
}

impl Service for DaprService {
    fn call(&self, req: http::Request<Bytes>, _peer: SocketAddr) -> ResponseFuture<'_> {
        Box::pin(async move {
            let started = Instant::now();
            let method = req.method().clone();
            let path = req.uri().path().to_string();
            let response = self.sidecar.handle(&self.app_id, req).await;
            tracing::info!(
                target: "todo_dev::dapr",
                app_id = self.app_id, %method, path, status = response.status().as_u16(),
                duration_ms = started.elapsed().as_secs_f64() * 1000.0, "dapr api (tool)"
            );
            response
        })
    }
}

/// Metrics, health and dead letters.
struct AdminService {
    sidecar: Sidecar,
}

impl Service for AdminService {
    fn call(&self, req: http::Request<Bytes>, _peer: SocketAddr) -> ResponseFuture<'_> {
        Box::pin(async move {
            let path = req.uri().path().trim_end_matches('/').to_string();
            let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
            match (req.method().as_str(), segments.as_slice()) {
                ("GET", ["metrics"]) => {
                    let mut response = text_response(200, self.sidecar.metrics().render());
                    response.headers_mut().insert(
                        http::header::CONTENT_TYPE,
                        http::HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
                    );
                    response
                }
                ("GET", ["healthz"]) => json_response(200, &serde_json::json!({"status": "ok"})),
                ("GET", ["dead-letters"]) => {
                    let letters: Vec<serde_json::Value> = self
                        .sidecar
                        .dead_letters()
                        .into_iter()
                        .map(|d| {
                            serde_json::json!({
                                "id": d.id,
                                "pubsub": d.pubsub,
                                "topic": d.topic,
                                "original_topic": d.original_topic,
                                "app_id": d.app_id,
                                "reason": d.reason,
                                "time": d.time.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true),
                                "event": d.event,
                            })
                        })
                        .collect();
                    json_response(200, &serde_json::Value::Array(letters))
                }
                ("POST", ["dead-letters", id, "replay"]) => {
                    let Ok(id) = id.parse::<u64>() else {
                        return json_response(
                            400,
                            &serde_json::json!({"error": format!("invalid dead letter id {id:?}")}),
                        );
                    };
                    match self.sidecar.replay_dead_letter(id) {
                        Ok(()) => {
                            tracing::info!(id, "dead letter replayed");
                            json_response(200, &serde_json::json!({"replayed": id}))
                        }
                        Err(e @ dapr_sidecar::ReplayError::NotFound(_)) => {
                            json_response(404, &serde_json::json!({"error": e.to_string()}))
                        }
                        Err(e) => json_response(500, &serde_json::json!({"error": e.to_string()})),
                    }
                }
                (_, ["metrics" | "healthz" | "dead-letters", ..]) => {
                    text_response(405, "Method Not Allowed\n")
                }
                _ => text_response(404, "Not Found\n"),
            }
        })
    }
}

fn json_response(status: u16, value: &serde_json::Value) -> http::Response<Bytes> {
    let mut response = text_response(status, format!("{value}\n"));
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    response
}
