//! `todo-dev up`: build, load, wire the sidecar, serve, shut down cleanly.
//!
//! This module is the startup (and shutdown); each of the three listeners is its own module:
//! [`app`] (the components' routes), [`todo_dev::dapr_api`] (the Dapr HTTP API as one app-id)
//! and [`admin`] (metrics, health, dead letters).

pub(crate) mod admin;
mod app;
pub(crate) mod compile;

use crate::outbound::{DaprAddresses, DevOutbound};
use crate::secrets::{self, APP_API_TOKEN_VAR, JwtSecretSource};
use crate::server;
use crate::{LogFormat, UpArgs, builder};
use admin::AdminService;
use anyhow::{Context as _, anyhow, bail};
use app::AppService;
use dapr_sidecar::{Sidecar, SidecarConfig};
use spin_host::apps::{AppCall, Apps, AppsChannel};
use spin_host::{Host, HostOptions, LogLine, LogSink, LogSource, Manifest, VariableResolver};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;
use todo_dev::dapr_api::DaprService;
use tokio::net::TcpListener;
use tokio::sync::watch;

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

pub(crate) fn init_tracing(format: LogFormat) {
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

pub(crate) async fn bind(what: &str, addr: SocketAddr) -> anyhow::Result<TcpListener> {
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
        .map(|id| spin_host::ComponentConfig::from_manifest(&manifest, id, &resolver))
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

    tokio::task::block_in_place(|| compile::in_child(&configs, args.no_pooling));
    let host = Host::new(
        outbound.clone(),
        HostOptions {
            log_sink: Some(guest_log_sink()),
            ..compile::host_options(args.no_pooling)
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
    release_freed_heap();
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

    // Default: the component of the first trigger in spin.toml that is running (the app's
    // front door, chat-api here), so adding a component does not change who the Dapr port is.
    let as_app_id = args.as_app_id.clone().unwrap_or_else(|| {
        manifest
            .triggers
            .iter()
            .map(|t| &t.component)
            .find(|c| selected.contains(c))
            .unwrap_or(&selected[0])
            .clone()
    });
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
    let shutdown = shutdown_signal();
    println!("todo-dev: ready in {:.2}s", started.elapsed().as_secs_f64());

    shutdown.await;
    tracing::info!("shutting down: draining in-flight requests");
    let _ = shutdown_tx.send(true);
    for server in servers {
        let _ = server.await;
    }
    tracing::info!("stopped");
    println!("todo-dev: stopped");
    Ok(())
}

/// SIGTERM or Ctrl-C. The handlers are installed when this is called, not when it is first
/// polled: call it before printing "ready", so that a signal sent as soon as that line appears
/// stops the process cleanly instead of killing it.
pub(crate) fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let term = signal(SignalKind::terminate());
        let interrupt = signal(SignalKind::interrupt());
        async move {
            match (term, interrupt) {
                (Ok(mut term), Ok(mut interrupt)) => {
                    tokio::select! {
                        _ = term.recv() => {}
                        _ = interrupt.recv() => {}
                    }
                }
                (term, interrupt) => {
                    let error = term.err().or(interrupt.err());
                    tracing::warn!("cannot listen for SIGTERM/SIGINT: {error:?}");
                    let _ = tokio::signal::ctrl_c().await;
                }
            }
        }
    }
    #[cfg(not(unix))]
    {
        async {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

/// Loading frees much of what it allocated (reading and decompressing the compiled-code cache),
/// and glibc keeps freed memory: hand it back to the OS once everything is loaded. RSS at
/// "ready": 38 → 30 MiB. (Compiling happens in a child process, [`compile`].)
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
fn release_freed_heap() {
    // SAFETY: `malloc_trim` only walks glibc's own arenas and has no preconditions.
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn release_freed_heap() {}
