//! `todo-dev sidecar`: the embedded Dapr sidecar alone, for components that real `spin up` runs
//! (one process per component, as `dapr run -f dapr/dapr.yaml` starts them) — for people who
//! have the Spin CLI but not Dapr's. Each app of the run file gets its own Dapr port
//! (`daprHTTPPort`), and deliveries, job triggers and invocations go to its `appPort` over HTTP
//! ([`todo_dev::external`]). Prints the `spin up` command of every component, with its env.

use crate::secrets::{self, JWT_SECRET_VAR};
use crate::up::{self, admin::AdminService};
use crate::{SidecarArgs, server};
use anyhow::{Context as _, anyhow, bail};
use dapr_sidecar::SidecarConfig;
use spin_host::Manifest;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;
use todo_dev::external::{self, ExternalApp};
use todo_dev::run_file::{DAPR_URL_ENV, RunFile, shell_word};
use tokio::net::TcpListener;
use tokio::sync::watch;

const JWT_SECRET_ENV: &str = "SPIN_VARIABLE_JWT_SECRET";
const APP_API_TOKEN_ENV: &str = "SPIN_VARIABLE_APP_API_TOKEN";
/// daprd's own name for the token it sends to its app (`dapr run -f` sets it from the run file).
const DAPRD_APP_API_TOKEN_ENV: &str = "APP_API_TOKEN";

pub fn run(args: SidecarArgs) -> anyhow::Result<()> {
    let started = Instant::now();
    up::init_tracing(args.log_format);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("todo-dev")
        .build()
        .context("cannot start the tokio runtime")?;
    runtime.block_on(serve(args, started))
}

async fn serve(args: SidecarArgs, started: Instant) -> anyhow::Result<()> {
    let manifest = Manifest::load(&args.common.manifest)?;
    let selected = manifest.select_components(&args.component_ids)?;
    if selected.is_empty() {
        bail!("the manifest has no components");
    }
    let run_file = RunFile::load(&args.run_file)?;
    for problem in run_file.problems(&manifest) {
        tracing::warn!("{}: {problem}", args.run_file.display());
    }
    let ports = run_file.ports_of(&selected)?;

    // The values `dapr run -f` gives daprd and the apps (the run file's env), unless this
    // process's env says otherwise.
    let lookup = |key: &str| {
        std::env::var(key)
            .ok()
            .or_else(|| run_file.common.env.get(key).cloned())
    };
    let app_api_token = [APP_API_TOKEN_ENV, DAPRD_APP_API_TOKEN_ENV]
        .into_iter()
        .find_map(|key| std::env::var(key).ok())
        .or_else(|| {
            [DAPRD_APP_API_TOKEN_ENV, APP_API_TOKEN_ENV]
                .into_iter()
                .find_map(|key| run_file.common.env.get(key).cloned())
        })
        .unwrap_or_else(|| secrets::random_hex(24));
    let jwt_secret = match lookup(JWT_SECRET_ENV) {
        Some(secret) => Some((secret, None)),
        None if manifest.variables.contains_key(JWT_SECRET_VAR) => {
            let (secret, path) = secrets::dev_jwt_secret(&args.common.data_dir)?;
            Some((secret, Some(path)))
        }
        None => None,
    };

    // Listen first: a busy port fails before anything starts.
    let mut apps = Vec::new();
    for app in &ports {
        let addr = SocketAddr::from(([127, 0, 0, 1], app.dapr_http_port));
        let listener = TcpListener::bind(addr).await.with_context(|| {
            format!(
                "cannot listen on {addr}, the daprHTTPPort of {} in {} (is daprd or another todo-dev running?)",
                app.app_id,
                args.run_file.display()
            )
        })?;
        apps.push(ExternalApp {
            app_id: app.app_id.clone(),
            app_addr: SocketAddr::from(([127, 0, 0, 1], app.app_port)),
            dapr_listener: listener,
        });
    }
    let admin_listener = up::bind("admin-listen", args.admin_listen).await?;
    let admin_addr = admin_listener.local_addr()?;

    let resources_dir = manifest.dir.join("dapr");
    let config = SidecarConfig {
        data_dir: (!args.ephemeral).then(|| args.common.data_dir.clone()),
        resources_dir: resources_dir.is_dir().then_some(resources_dir),
        app_api_token: Some(app_api_token.clone()).filter(|t| !t.is_empty()),
        ..SidecarConfig::default()
    };
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let running = external::start(apps, config, shutdown_rx.clone())
        .map_err(|e| anyhow!("cannot start the Dapr sidecar: {e}"))?;
    let admin = tokio::spawn(server::serve(
        "admin",
        admin_listener,
        Arc::new(AdminService {
            sidecar: running.sidecar.clone(),
        }),
        shutdown_rx,
    ));

    // Parseable lines on stdout (tests and scripts read the ports and commands from here).
    for app in &ports {
        println!(
            "todo-dev: dapr listening on http://{} as app-id {}, delivering to http://127.0.0.1:{}",
            running.dapr_addrs[&app.app_id], app.app_id, app.app_port
        );
    }
    println!("todo-dev: admin listening on http://{admin_addr}");
    println!("todo-dev: start each component with Spin (after `spin build`), one terminal each:");
    for app in &ports {
        let run_app = run_file.app(&app.app_id).context("checked by ports_of")?;
        let mut env: BTreeMap<String, String> = run_file
            .env_of(run_app)
            .into_iter()
            .filter(|(key, _)| key.starts_with("SPIN_VARIABLE_"))
            .collect();
        if let Some((secret, _)) = &jwt_secret {
            env.insert(JWT_SECRET_ENV.into(), secret.clone());
        }
        env.insert(APP_API_TOKEN_ENV.into(), app_api_token.clone());
        env.insert(
            DAPR_URL_ENV.into(),
            format!("http://{}", running.dapr_addrs[&app.app_id]),
        );
        let dir = run_file.app_dir(run_app);
        let dir = dir.canonicalize().unwrap_or(dir);
        let words: Vec<String> =
            std::iter::once(format!("cd {} &&", shell_word(&dir.display().to_string())))
                .chain(env.iter().map(|(k, v)| format!("{k}={}", shell_word(v))))
                .chain(run_app.command.iter().map(|w| shell_word(w)))
                .collect();
        println!("  {}", words.join(" "));
    }
    match &jwt_secret {
        Some((_, Some(path))) => println!(
            "todo-dev: mint a token: todo-dev token --user alice (jwt_secret from {})",
            path.display()
        ),
        Some((secret, None)) => println!(
            "todo-dev: mint a token: {JWT_SECRET_ENV}={} todo-dev token --user alice",
            shell_word(secret)
        ),
        None => {}
    }
    tracing::info!(
        apps = %selected.join(","),
        data = %if args.ephemeral { "in memory (--ephemeral)".to_string() } else { args.common.data_dir.display().to_string() },
        "ready: subscriptions are declarative (dapr/subscriptions), so the apps may start in any order"
    );
    let shutdown = up::shutdown_signal();
    println!("todo-dev: ready in {:.2}s", started.elapsed().as_secs_f64());

    shutdown.await;
    tracing::info!("shutting down: draining in-flight requests");
    let _ = shutdown_tx.send(true);
    running.stopped().await;
    let _ = admin.await;
    println!("todo-dev: stopped");
    Ok(())
}
