//! The engine and loading: one [`Host`] per process (wasmtime [`Engine`], linker, disk cache of
//! compiled code) turns a [`ComponentConfig`] into a [`LoadedComponent`].

use crate::component::{Inner, LoadedComponent};
use crate::store::StoreState;
use crate::{AllowedHosts, HostWallClock, LogSink, OutboundHandler, logs, variables};
use anyhow::Context as _;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;
use wasmtime::component::{Component, Linker};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};
use wasmtime_wasi_http::p2::bindings::ProxyPre;

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

/// Per pooled slot, how much of a memory (and of a table) is reset in place for the next instance
/// instead of being decommitted.
const KEEP_RESIDENT_BYTES: usize = 512 << 10;

/// Slots that keep their memory while unused, beyond those in use (wasmtime's default is 100).
const WARM_SLOTS_UNUSED: u32 = 8;

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
pub(crate) fn ah<T>(r: wasmtime::Result<T>) -> anyhow::Result<T> {
    r.map_err(anyhow::Error::from)
}

impl Host {
    pub fn new(outbound: Arc<dyn OutboundHandler>, options: HostOptions) -> anyhow::Result<Self> {
        let mut config = Config::new();
        config.wasm_component_model(true);
        // Spin's components are WASI 0.2 (no component-model async): without the concurrency
        // state every host call skips its task bookkeeping, and dropping a store no longer builds
        // (and, with RUST_BACKTRACE set, captures a backtrace for) an error: ~6% of the host's
        // fixed cost per request, ~15% with RUST_BACKTRACE set.
        config.concurrency_support(false);
        // For profiling: `perf` names the compiled wasm functions from /tmp/perf-<pid>.map.
        if std::env::var_os("SPIN_HOST_PERFMAP").is_some() {
            config.profiler(wasmtime::ProfilingStrategy::PerfMap);
        }
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
            // A slot's memory is reset for the next instance by rewriting what the last one
            // dirtied (found with Linux's PAGEMAP_SCAN where the kernel has it, ≥ 6.7), not by
            // `madvise` dropping every page: that made each request fault its heap back in and
            // cost a TLB shootdown per teardown, ~16% of the CPU of a create under load.
            pool.linear_memory_keep_resident(KEEP_RESIDENT_BYTES)
                .table_keep_resident(KEEP_RESIDENT_BYTES)
                .pagemap_scan(wasmtime::Enabled::Auto)
                // Reuse the slots already warm rather than warming new ones: what stays resident
                // is then about the peak of concurrent instances, not the whole pool.
                .max_unused_warm_slots(WARM_SLOTS_UNUSED);
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
        Ok(LoadedComponent::from_inner(Inner {
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
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use std::pin::Pin;

    /// Loading makes no outbound calls.
    struct Unused;

    impl OutboundHandler for Unused {
        fn handle(
            &self,
            _: &str,
            _: http::Request<Bytes>,
        ) -> Pin<Box<dyn Future<Output = anyhow::Result<http::Response<Bytes>>> + Send + '_>>
        {
            unreachable!("no component runs in these tests")
        }
    }

    fn host() -> Host {
        Host::new(
            Arc::new(Unused),
            HostOptions {
                pooling: false,
                disk_cache: false,
                ..HostOptions::default()
            },
        )
        .unwrap()
    }

    #[test]
    fn bad_allowed_hosts_fail_load_with_component_id() {
        let host = host();
        // A component file that exists, so the only thing wrong is the allowed host: a read
        // error must not pass for the allowed-hosts error.
        let wasm = std::env::temp_dir().join(format!(
            "spin-host-bad-allowed-hosts-{}.wasm",
            std::process::id()
        ));
        std::fs::write(&wasm, b"\0asm not really").unwrap();
        let result = host.load(ComponentConfig {
            id: "chat-api".into(),
            wasm_path: wasm.clone(),
            allowed_outbound_hosts: vec!["127.0.0.1:3500".into()],
            ..ComponentConfig::default()
        });
        let _ = std::fs::remove_file(&wasm);
        let msg = format!("{:#}", result.err().unwrap());
        assert!(
            msg.starts_with("component chat-api: invalid allowed_outbound_hosts"),
            "{msg}"
        );
        assert!(msg.contains("127.0.0.1:3500"), "{msg}");

        let err = host
            .load(ComponentConfig {
                id: "chat-api".into(),
                wasm_path: "/nonexistent.wasm".into(),
                ..ComponentConfig::default()
            })
            .err()
            .unwrap();
        let msg = format!("{err:#}");
        assert!(
            msg.contains("failed to read component chat-api from /nonexistent.wasm"),
            "{msg}"
        );
    }
}
