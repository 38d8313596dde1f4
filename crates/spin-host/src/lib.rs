//! Runs Spin HTTP components in wasmtime, routing their outbound calls.
//!
//! One [`Host`] owns the wasmtime [`Engine`] (pooling allocator, on-disk cache of compiled code),
//! the embedder's [`OutboundHandler`] and the clock shown to guests. [`Host::load`] compiles a
//! component once and pre-instantiates it; [`LoadedComponent::handle`] serves one request in a
//! fresh store, as Spin does.
//!
//! The component sees WASI 0.2 (`wasi:cli`, `wasi:clocks`, `wasi:random`, ... with its own
//! `environment`, no preopened files, no sockets), `wasi:http/outgoing-handler` (every request goes
//! through the `allowed_outbound_hosts` check and then [`OutboundHandler::handle`]) and
//! `fermyon:spin/variables@2.0.0`.

pub mod allowed_hosts;
pub mod apps;
mod clock;
mod logs;
pub mod manifest;
mod outbound;
pub mod trace;
pub mod variables;

pub use allowed_hosts::AllowedHosts;
pub use apps::{Apps, AppsChannel};
pub use clock::SharedClock;
pub use logs::{ECHO_GUEST_LOGS_ENV, LogLine, LogSink, LogSource};
pub use manifest::{Manifest, Router, VariableResolver};
pub use outbound::DEFAULT_OUTBOUND_TIMEOUT;
pub use wasmtime_wasi::HostWallClock;

use anyhow::{Context as _, bail};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};
use wasmtime::component::{Component, Linker, ResourceTable};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, Store};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::p2::bindings::ProxyPre;
use wasmtime_wasi_http::p2::bindings::http::types::Scheme;
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

/// Where a component's allowed outbound requests go (e.g. the embedded Dapr sidecar, in process).
pub trait OutboundHandler: Send + Sync + 'static {
    /// Handle one outbound request of component `app_id` (its Spin component id = Dapr app-id).
    /// The request URI is absolute (`http://127.0.0.1:3500/v1.0/...`) and the body complete.
    fn handle(
        &self,
        app_id: &str,
        req: http::Request<Bytes>,
    ) -> Pin<Box<dyn Future<Output = anyhow::Result<http::Response<Bytes>>> + Send + '_>>;
}

/// One component of the app, as in a `[component.<id>]` table of spin.toml.
#[derive(Debug, Clone, Default)]
pub struct ComponentConfig {
    /// Spin component id = Dapr app-id.
    pub id: String,
    pub wasm_path: PathBuf,
    /// Spin syntax, e.g. `"http://127.0.0.1:3500"`, `"https://*.example.com"`, `"*://*:*"`.
    pub allowed_outbound_hosts: Vec<String>,
    /// Already resolved values for `fermyon:spin/variables` `get()`.
    pub variables: HashMap<String, String>,
    pub environment: HashMap<String, String>,
}

/// Engine-wide settings.
#[derive(Clone)]
pub struct HostOptions {
    /// The wall clock guests see (`wasi:clocks/wall-clock`); `None` = the system clock. Tests
    /// inject a movable clock here and in the sidecar to move time for both.
    pub wall_clock: Option<Arc<dyn HostWallClock + Send + Sync>>,
    /// Use wasmtime's pooling instance allocator (fast instantiation; reserves virtual memory
    /// for [`HostOptions::max_concurrent_instances`] instances up front).
    pub pooling: bool,
    /// Pool size: how many instances may be alive at once (all components of this host).
    pub max_concurrent_instances: u32,
    /// Keep compiled code on disk, keyed by a hash of the wasm and of the engine's compilation
    /// settings and wasmtime version (wasmtime's own cache).
    pub disk_cache: bool,
    /// Directory of that cache; `None` = `<temp dir>/spin-host-cwasm-cache`. Must be absolute.
    pub cache_dir: Option<PathBuf>,
    /// Receives each complete line of guest stdout/stderr (and host lines about a component)
    /// as it is written, tagged with the component id. Called with the component's log lock
    /// held: it must not call back into the component. The lines are captured either way
    /// ([`LoadedComponent::logs`]).
    pub log_sink: Option<LogSink>,
}

impl Default for HostOptions {
    fn default() -> Self {
        Self {
            wall_clock: None,
            pooling: true,
            max_concurrent_instances: 128,
            disk_cache: true,
            cache_dir: None,
            log_sink: None,
        }
    }
}

impl std::fmt::Debug for HostOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HostOptions")
            .field("wall_clock", &self.wall_clock.as_ref().map(|_| "custom"))
            .field("pooling", &self.pooling)
            .field("max_concurrent_instances", &self.max_concurrent_instances)
            .field("disk_cache", &self.disk_cache)
            .field("cache_dir", &self.cache_dir)
            .field("log_sink", &self.log_sink.as_ref().map(|_| "custom"))
            .finish()
    }
}

/// Owns the wasmtime engine, the linker and the outbound handler; loads components.
pub struct Host {
    engine: Engine,
    linker: Linker<StoreState>,
    outbound: Arc<dyn OutboundHandler>,
    wall_clock: Option<Arc<dyn HostWallClock + Send + Sync>>,
    cache: Option<wasmtime::Cache>,
    log_sink: Option<LogSink>,
}

/// Convert wasmtime's error type into anyhow's, keeping the chain.
fn ah<T>(r: wasmtime::Result<T>) -> anyhow::Result<T> {
    r.map_err(anyhow::Error::from)
}

impl Host {
    pub fn new(outbound: Arc<dyn OutboundHandler>, options: HostOptions) -> anyhow::Result<Self> {
        let mut config = Config::new();
        config.wasm_component_model(true);
        if options.pooling {
            let n = options.max_concurrent_instances.max(1);
            let mut pool = PoolingAllocationConfig::default();
            // A wasm32-wasip2 Rust component instantiates a handful of core modules (the program
            // plus adapter shims), each with at most one memory and one table.
            pool.total_component_instances(n)
                .total_core_instances(n.saturating_mul(8))
                .total_memories(n.saturating_mul(2))
                .total_tables(n.saturating_mul(4))
                .total_stacks(n)
                .total_gc_heaps(n)
                .max_memory_size(1 << 30);
            config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        }
        let cache = if options.disk_cache {
            let dir = match options.cache_dir {
                Some(dir) => dir,
                None => std::env::temp_dir().join("spin-host-cwasm-cache"),
            };
            let mut cache_config = wasmtime::CacheConfig::new();
            cache_config.with_directory(&dir);
            let cache = ah(wasmtime::Cache::new(cache_config)).with_context(|| {
                format!(
                    "failed to set up the compiled-code cache in {}",
                    dir.display()
                )
            })?;
            config.cache(Some(cache.clone()));
            Some(cache)
        } else {
            None
        };
        let engine = ah(Engine::new(&config)).context("failed to create the wasmtime engine")?;

        let mut linker = Linker::<StoreState>::new(&engine);
        ah(wasmtime_wasi::p2::add_to_linker_async(&mut linker))
            .context("failed to add WASI to the linker")?;
        ah(wasmtime_wasi_http::p2::add_only_http_to_linker_async(
            &mut linker,
        ))
        .context("failed to add wasi:http to the linker")?;
        ah(variables::add_to_linker(&mut linker, |s| &mut s.variables))
            .context("failed to add fermyon:spin/variables to the linker")?;

        Ok(Self {
            engine,
            linker,
            outbound,
            wall_clock: options.wall_clock,
            cache,
            log_sink: options.log_sink,
        })
    }

    /// The wasmtime engine (e.g. to share with other embedder code).
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Compile (or fetch from the disk cache) and pre-instantiate a component.
    pub fn load(&self, config: ComponentConfig) -> anyhow::Result<LoadedComponent> {
        let id = config.id.clone();
        let path = config.wasm_path.display().to_string();
        let allowed = AllowedHosts::parse(&config.allowed_outbound_hosts)
            .with_context(|| format!("component {id}: invalid allowed_outbound_hosts"))?;
        let wasm = std::fs::read(&config.wasm_path)
            .with_context(|| format!("failed to read component {id} from {path}"))?;

        let hits_before = self.cache.as_ref().map(|c| c.cache_hits());
        let started = Instant::now();
        let component = ah(Component::new(&self.engine, &wasm))
            .with_context(|| format!("failed to compile component {id} from {path}"))?;
        let compile_time = started.elapsed();
        let from_cache = match (&self.cache, hits_before) {
            (Some(cache), Some(before)) => cache.cache_hits() > before,
            _ => false,
        };

        let instance_pre = ah(self.linker.instantiate_pre(&component)).with_context(|| {
            format!("failed to link component {id} from {path} (unsupported imports?)")
        })?;
        let pre = ah(ProxyPre::new(instance_pre)).with_context(|| {
            format!("component {id} from {path} does not export wasi:http/incoming-handler")
        })?;

        let environment = config
            .environment
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        Ok(LoadedComponent {
            inner: Arc::new(Inner {
                logs: logs::LogBuffer::new(&id, self.log_sink.clone()),
                id: Arc::from(id.as_str()),
                wasm_path: config.wasm_path,
                pre,
                allowed: Arc::new(allowed),
                variables: Arc::new(config.variables),
                environment,
                outbound: self.outbound.clone(),
                wall_clock: self.wall_clock.clone(),
                log_sink: self.log_sink.clone(),
                compile_time,
                from_cache,
            }),
        })
    }
}

/// Settings of a [`LoadedComponent`] that [`LoadedComponent::with_overrides`] can replace.
#[derive(Clone, Default)]
pub struct Overrides {
    pub outbound: Option<Arc<dyn OutboundHandler>>,
    /// Replaces all variables.
    pub variables: Option<HashMap<String, String>>,
    /// Replaces the whole environment.
    pub environment: Option<HashMap<String, String>>,
    pub wall_clock: Option<Arc<dyn HostWallClock + Send + Sync>>,
}

/// The per-request facts Spin passes to a component in `spin-*` headers.
#[derive(Debug, Clone)]
pub struct RequestContext {
    /// The `[[trigger.http]]` route that matched, as written in spin.toml (`/api/...`).
    pub route: String,
    /// The app's base path (`/` unless the trigger sets `base`).
    pub base_path: String,
    /// The client's address (`spin-client-addr`).
    pub client_addr: SocketAddr,
    /// Scheme and authority of `spin-full-url` when the request URI is relative.
    pub default_authority: String,
}

impl Default for RequestContext {
    fn default() -> Self {
        Self {
            route: "/...".into(),
            base_path: "/".into(),
            client_addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            default_authority: "localhost:3000".into(),
        }
    }
}

impl RequestContext {
    /// Context for a request matched by `route` (e.g. `"/api/..."`).
    pub fn for_route(route: impl Into<String>) -> Self {
        Self {
            route: route.into(),
            ..Self::default()
        }
    }
}

/// A compiled, pre-instantiated component. Cheap to clone; serves requests concurrently.
#[derive(Clone)]
pub struct LoadedComponent {
    inner: Arc<Inner>,
}

struct Inner {
    id: Arc<str>,
    wasm_path: PathBuf,
    pre: ProxyPre<StoreState>,
    allowed: Arc<AllowedHosts>,
    variables: Arc<HashMap<String, String>>,
    environment: Vec<(String, String)>,
    outbound: Arc<dyn OutboundHandler>,
    wall_clock: Option<Arc<dyn HostWallClock + Send + Sync>>,
    logs: logs::LogBuffer,
    log_sink: Option<LogSink>,
    compile_time: Duration,
    from_cache: bool,
}

struct StoreState {
    table: ResourceTable,
    wasi: WasiCtx,
    http: WasiHttpCtx,
    hooks: outbound::OutboundHooks,
    variables: variables::Variables,
}

impl WasiView for StoreState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for StoreState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.hooks,
        }
    }
}

/// Lets a shared clock be handed to each store's `WasiCtx`.
struct StoreClock(Arc<dyn HostWallClock + Send + Sync>);

impl HostWallClock for StoreClock {
    fn resolution(&self) -> Duration {
        self.0.resolution()
    }
    fn now(&self) -> Duration {
        self.0.now()
    }
}

impl LoadedComponent {
    /// Serve one request matched by the catch-all route `/...`.
    pub async fn handle(&self, req: http::Request<Bytes>) -> anyhow::Result<http::Response<Bytes>> {
        self.handle_with_context(req, &RequestContext::default())
            .await
    }

    /// Serve one request matched by `route` (e.g. `"/api/..."`).
    pub async fn handle_route(
        &self,
        req: http::Request<Bytes>,
        route: &str,
    ) -> anyhow::Result<http::Response<Bytes>> {
        self.handle_with_context(req, &RequestContext::for_route(route))
            .await
    }

    /// Serve one request: fresh store and instance, Spin's `spin-*` request headers added, the
    /// whole response body collected.
    pub async fn handle_with_context(
        &self,
        req: http::Request<Bytes>,
        ctx: &RequestContext,
    ) -> anyhow::Result<http::Response<Bytes>> {
        let id = self.inner.id.clone();
        let req = spin_request(req, ctx)?;
        let traceparent = req
            .headers()
            .get(trace::TRACEPARENT)
            .and_then(|v| v.to_str().ok())
            .filter(|v| trace::parse(v).is_some())
            .map(str::to_string);
        let mut store = self.new_store(traceparent);

        let (tx, rx) = tokio::sync::oneshot::channel();
        let req = ah(store
            .data_mut()
            .http()
            .new_incoming_request(Scheme::Http, req.map(Full::new)))
        .with_context(|| format!("component {id}: invalid request"))?;
        let out = ah(store.data_mut().http().new_response_outparam(tx))?;
        let pre = self.inner.pre.clone();

        // The guest runs in its own task so it can keep streaming the body after `set`.
        let task = tokio::spawn(async move {
            let proxy = pre.instantiate_async(&mut store).await?;
            proxy
                .wasi_http_incoming_handler()
                .call_handle(&mut store, req, out)
                .await
        });

        match rx.await {
            Ok(Ok(response)) => {
                let (parts, body) = response.into_parts();
                let body = body.collect().await;
                let guest = task.await;
                let body = body
                    .map_err(|e| anyhow::anyhow!("{e}"))
                    .with_context(|| format!("component {id}: failed to read the response body"))?
                    .to_bytes();
                match guest {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => {
                        return Err(anyhow::Error::from(e)).with_context(|| {
                            format!("component {id} trapped after sending its response")
                        });
                    }
                    Err(e) => bail!("component {id}: guest task failed: {e}"),
                }
                Ok(http::Response::from_parts(parts, body))
            }
            Ok(Err(code)) => {
                let _ = task.await;
                bail!("component {id} answered with wasi:http error {code:?}")
            }
            Err(_) => match task.await {
                Ok(Ok(())) => bail!("component {id} never called response-outparam::set"),
                Ok(Err(e)) => Err(anyhow::Error::from(e))
                    .with_context(|| format!("component {id} failed before sending a response")),
                Err(e) => bail!("component {id}: guest task failed: {e}"),
            },
        }
    }

    fn new_store(&self, traceparent: Option<String>) -> Store<StoreState> {
        let inner = &self.inner;
        let mut wasi = WasiCtx::builder();
        wasi.envs(&inner.environment)
            .stdout(inner.logs.stream(logs::Source::Stdout))
            .stderr(inner.logs.stream(logs::Source::Stderr));
        if let Some(clock) = &inner.wall_clock {
            wasi.wall_clock(StoreClock(clock.clone()));
        }
        let state = StoreState {
            table: ResourceTable::new(),
            wasi: wasi.build(),
            http: WasiHttpCtx::new(),
            hooks: outbound::OutboundHooks {
                component_id: inner.id.clone(),
                allowed: inner.allowed.clone(),
                handler: inner.outbound.clone(),
                logs: inner.logs.clone(),
                traceparent,
            },
            variables: variables::Variables {
                values: inner.variables.clone(),
            },
        };
        Store::new(inner.pre.engine(), state)
    }

    /// The same compiled component with some settings replaced (no recompilation; the log
    /// capture starts empty). Lets tests share one compilation while each test brings its own
    /// sidecar, variables and clock.
    pub fn with_overrides(&self, overrides: Overrides) -> LoadedComponent {
        let inner = &self.inner;
        let environment = match overrides.environment {
            Some(env) => env.into_iter().collect(),
            None => inner.environment.clone(),
        };
        LoadedComponent {
            inner: Arc::new(Inner {
                id: inner.id.clone(),
                wasm_path: inner.wasm_path.clone(),
                pre: inner.pre.clone(),
                allowed: inner.allowed.clone(),
                variables: overrides
                    .variables
                    .map(Arc::new)
                    .unwrap_or_else(|| inner.variables.clone()),
                environment,
                outbound: overrides.outbound.unwrap_or_else(|| inner.outbound.clone()),
                wall_clock: overrides.wall_clock.or_else(|| inner.wall_clock.clone()),
                logs: logs::LogBuffer::new(&inner.id, inner.log_sink.clone()),
                log_sink: inner.log_sink.clone(),
                compile_time: inner.compile_time,
                from_cache: inner.from_cache,
            }),
        }
    }

    /// The Spin component id (= Dapr app-id).
    pub fn id(&self) -> &str {
        &self.inner.id
    }

    pub fn wasm_path(&self) -> &Path {
        &self.inner.wasm_path
    }

    /// Captured guest stdout + stderr (and host lines about this component) so far.
    pub fn logs(&self) -> String {
        self.inner.logs.contents()
    }

    /// How long [`Host::load`] spent compiling (or loading from the disk cache).
    pub fn compile_time(&self) -> Duration {
        self.inner.compile_time
    }

    /// Whether the compiled code came from the disk cache.
    pub fn loaded_from_cache(&self) -> bool {
        self.inner.from_cache
    }

    /// Whether this component may call `uri` (its `allowed_outbound_hosts`).
    pub fn allows_outbound(&self, uri: &http::Uri) -> bool {
        self.inner.allowed.allows_uri(uri)
    }
}

/// Make the URI absolute and add the headers Spin's HTTP trigger adds.
fn spin_request(
    req: http::Request<Bytes>,
    ctx: &RequestContext,
) -> anyhow::Result<http::Request<Bytes>> {
    let (mut parts, body) = req.into_parts();
    let authority = match parts.uri.authority() {
        Some(a) => a.to_string(),
        None => match parts.headers.get(http::header::HOST) {
            Some(h) => h.to_str().context("invalid Host header")?.to_string(),
            None => ctx.default_authority.clone(),
        },
    };
    let scheme = parts.uri.scheme_str().unwrap_or("http").to_string();
    let path_and_query = parts
        .uri
        .path_and_query()
        .map(|pq| pq.as_str().to_string())
        .unwrap_or_else(|| "/".into());
    let full_url = format!("{scheme}://{authority}{path_and_query}");
    parts.uri = full_url
        .parse()
        .with_context(|| format!("invalid request URL {full_url}"))?;
    if !parts.headers.contains_key(http::header::HOST) {
        parts.headers.insert(
            http::header::HOST,
            authority.parse().context("invalid authority")?,
        );
    }

    let path = parts.uri.path().to_string();
    let component_route = ctx
        .route
        .strip_suffix("/...")
        .or_else(|| ctx.route.strip_suffix("..."))
        .unwrap_or(&ctx.route);
    let path_info = if ctx.route.ends_with("...") {
        path.strip_prefix(component_route).unwrap_or("").to_string()
    } else {
        String::new()
    };
    let headers = [
        ("spin-full-url", full_url),
        ("spin-path-info", path_info),
        ("spin-matched-route", ctx.route.clone()),
        ("spin-base-path", ctx.base_path.clone()),
        ("spin-raw-component-route", ctx.route.clone()),
        ("spin-component-route", component_route.to_string()),
        ("spin-client-addr", ctx.client_addr.to_string()),
    ];
    for (name, value) in headers {
        parts.headers.insert(
            http::HeaderName::from_static(name),
            http::HeaderValue::try_from(value)
                .with_context(|| format!("invalid value for header {name}"))?,
        );
    }
    Ok(http::Request::from_parts(parts, body))
}

#[cfg(test)]
mod tests;
