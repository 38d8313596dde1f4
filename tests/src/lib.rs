//! End-to-end and component tests; see the files under tests/tests/.
//!
//! This library is the shared harness. It names no component: whatever spin.toml declares is
//! testable by its id.
//! - build.rs builds every component of spin.toml that has a build command, and lists them all
//!   ([`built_components`]);
//! - one [`Host`] per test binary ([`host`]): pooling allocator sized for 128 concurrent
//!   instances, compiled code cached on disk under `target/wasm/.cwasm-cache`;
//! - each component is compiled lazily, once per id per test binary, the first time a test asks
//!   for it; every test gets its own instance of it with its own outbound handler (sidecar),
//!   variables, clock and captured guest output: [`component`], [`component_with`],
//!   [`component_overrides`];
//! - a component's test variables are its spin.toml variables, expanded over the application
//!   variables' defaults (by `VariableResolver`, without `SPIN_VARIABLE_*` from the environment)
//!   with `jwt_secret` = [`TEST_JWT_SECRET`]; a test overrides any of them by name.
//!
//! [`App::load`] does the same for another manifest (its components are built on demand by
//! [`App::build`], with the same build code as `todo-dev`).

use anyhow::Context as _;
use bytes::Bytes;
use spin_host::{
    ComponentConfig, Host, HostOptions, LoadedComponent, Manifest, OutboundHandler, Overrides,
    VariableResolver,
};
use spin_manifest::build::Built;
use std::collections::HashMap;
use std::future::Future;
use std::ops::Deref;
use std::path::Path;
use std::pin::Pin;
use std::sync::{Arc, LazyLock, Mutex, OnceLock};
use std::time::Duration;

pub mod k8s;
pub mod load;
pub mod skip;
pub mod webhook;
pub use spin_host;

/// The value of application variable `jwt_secret` in tests (tokens are signed with it).
pub const TEST_JWT_SECRET: &str = "test-jwt-secret";

/// A component of the workspace's spin.toml, as build.rs found it (and built it, when it has a
/// build command).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BuiltComponent {
    pub id: &'static str,
    /// Absolute path of its `source` .wasm.
    pub wasm: &'static str,
    /// As written in spin.toml (templates not expanded).
    pub allowed_outbound_hosts: &'static [&'static str],
    /// Its `[[trigger.http]]` routes, as written in spin.toml.
    pub routes: &'static [&'static str],
}

/// `$OUT_DIR/components.rs`, written by build.rs: `MANIFEST`, `CWASM_CACHE_DIR`, `COMPONENTS`.
mod generated {
    use super::BuiltComponent;
    include!(concat!(env!("OUT_DIR"), "/components.rs"));
}

/// Every component of the workspace's spin.toml, in id order.
pub fn built_components() -> &'static [BuiltComponent] {
    generated::COMPONENTS
}

/// The component `id` of the workspace's spin.toml; panics naming the ids there are.
pub fn built(id: &str) -> &'static BuiltComponent {
    generated::COMPONENTS
        .iter()
        .find(|c| c.id == id)
        .unwrap_or_else(|| {
            let ids: Vec<_> = generated::COMPONENTS.iter().map(|c| c.id).collect();
            panic!("spin.toml has no component {id:?} (components: {ids:?})")
        })
}

/// The workspace's spin.toml (absolute).
pub fn manifest_path() -> &'static Path {
    Path::new(generated::MANIFEST)
}

/// Outbound handler of the shared compilation: every call fails (tests bring their own).
struct NoOutbound;

impl OutboundHandler for NoOutbound {
    fn handle(
        &self,
        app_id: &str,
        req: http::Request<Bytes>,
    ) -> Pin<Box<dyn Future<Output = anyhow::Result<http::Response<Bytes>>> + Send + '_>> {
        let msg = format!(
            "component {app_id} called {} {} but this test set no outbound handler",
            req.method(),
            req.uri()
        );
        Box::pin(async move { Err(anyhow::anyhow!(msg)) })
    }
}

/// One Host per test binary; compiled code is cached under target/wasm/.cwasm-cache.
static HOST: LazyLock<Host> = LazyLock::new(|| {
    Host::new(
        Arc::new(NoOutbound),
        HostOptions {
            cache_dir: Some(generated::CWASM_CACHE_DIR.into()),
            max_concurrent_instances: 128,
            ..HostOptions::default()
        },
    )
    .expect("failed to create the wasmtime host")
});

/// The host shared by this test binary (e.g. to load other wasm files in tests).
pub fn host() -> &'static Host {
    &HOST
}

/// A component compiled for the whole test binary, and its test variables.
#[derive(Clone)]
struct Compiled {
    component: LoadedComponent,
    variables: HashMap<String, String>,
}

/// One compilation per component id (or its error), shared by every test of the binary.
type Cell = Arc<OnceLock<Result<Compiled, String>>>;

/// The components of one manifest, compiled on the shared [`host`] lazily, once per id.
pub struct App {
    manifest: Manifest,
    compiled: Mutex<HashMap<String, Cell>>,
}

impl App {
    /// Read the manifest at `path` (nothing is built or compiled yet).
    pub fn load(path: &Path) -> anyhow::Result<App> {
        Ok(App {
            manifest: Manifest::load(path)?,
            compiled: Mutex::new(HashMap::new()),
        })
    }

    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// Run the build commands of the components `ids` whose sources are stale (as `todo-dev
    /// build` does); returns what was built. The workspace's components are built by build.rs.
    pub fn build(&self, ids: &[&str]) -> anyhow::Result<Vec<Built>> {
        let ids: Vec<String> = ids.iter().map(|id| id.to_string()).collect();
        spin_manifest::build::build_stale(&self.manifest, &ids, "todo-tests")
    }

    /// Component `id`'s configuration with the test variables (see the crate docs).
    pub fn config(&self, id: &str) -> anyhow::Result<ComponentConfig> {
        self.config_with(id, &[])
    }

    /// Component `id`'s configuration with the test variables and these application variables
    /// (name, value) set, as `SPIN_VARIABLE_*` would: they also expand in its
    /// `allowed_outbound_hosts`.
    pub fn config_with(
        &self,
        id: &str,
        app_variables: &[(&str, &str)],
    ) -> anyhow::Result<ComponentConfig> {
        let mut resolver = VariableResolver::with_env(&self.manifest, |_| None);
        resolver.set_override("jwt_secret", TEST_JWT_SECRET);
        for (name, value) in app_variables {
            resolver.set_override(name, *value);
        }
        ComponentConfig::from_manifest(&self.manifest, id, &resolver)
    }

    /// Component `id` loaded with [`App::config_with`]`(id, app_variables)` (not shared with
    /// other tests; the compiled code comes from the disk cache); its variables too.
    pub fn load_with(
        &self,
        id: &str,
        app_variables: &[(&str, &str)],
    ) -> anyhow::Result<(LoadedComponent, HashMap<String, String>)> {
        let config = self.config_with(id, app_variables)?;
        let variables = config.variables.clone();
        let component = host()
            .load(config)
            .with_context(|| format!("cannot load component {id}"))?;
        Ok((component, variables))
    }

    /// Component `id`, compiled once per test binary with its test variables and an outbound
    /// handler that fails every call. Panics with the error when it cannot be loaded.
    pub fn compiled(&self, id: &str) -> LoadedComponent {
        self.compiled_with_variables(id).component
    }

    fn compiled_with_variables(&self, id: &str) -> Compiled {
        let cell = self
            .compiled
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(id.to_string())
            .or_default()
            .clone();
        // Compiling outside the map's lock: other ids compile meanwhile.
        let compiled = cell.get_or_init(|| {
            let load = || {
                let config = self.config(id)?;
                let variables = config.variables.clone();
                let component = host().load(config)?;
                anyhow::Ok(Compiled {
                    component,
                    variables,
                })
            };
            let compiled = load()
                .with_context(|| format!("cannot load component {id}"))
                .map_err(|e| format!("{e:#}"))?;
            if std::env::var_os("TODO_TESTS_REPORT_COMPILE").is_some() {
                eprintln!(
                    "{id}: compiled in {:?} (from disk cache: {})",
                    compiled.component.compile_time(),
                    compiled.component.loaded_from_cache()
                );
            }
            Ok(compiled)
        });
        match compiled {
            Ok(compiled) => compiled.clone(),
            Err(e) => panic!("{e}"),
        }
    }

    /// An instance of component `id` for one test, with its test variables; its outbound calls
    /// fail.
    pub fn component(&self, id: &str) -> TestComponent {
        self.component_overrides(id, Overrides::default())
    }

    /// An instance of component `id` for one test: `outbound` receives its allowed outbound
    /// calls, `variables` (component variable name, value) are merged over its test variables.
    pub fn component_with(
        &self,
        id: &str,
        outbound: Arc<dyn OutboundHandler>,
        variables: &[(&str, &str)],
    ) -> TestComponent {
        let compiled = self.compiled_with_variables(id);
        let mut vars = compiled.variables;
        vars.extend(
            variables
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string())),
        );
        TestComponent {
            component: compiled.component.with_overrides(Overrides {
                outbound: Some(outbound),
                variables: Some(vars),
                ..Overrides::default()
            }),
        }
    }

    /// Like [`App::component_with`] with full control (e.g. an injected wall clock). What
    /// `overrides` leaves `None` keeps the test defaults; `variables: Some(..)` replaces all of
    /// them.
    pub fn component_overrides(&self, id: &str, overrides: Overrides) -> TestComponent {
        TestComponent {
            component: self.compiled(id).with_overrides(overrides),
        }
    }
}

static APP: LazyLock<App> =
    LazyLock::new(|| App::load(manifest_path()).unwrap_or_else(|e| panic!("{e:#}")));

/// The workspace's spin.toml, its components built by build.rs.
pub fn app() -> &'static App {
    &APP
}

/// An instance of the workspace's component `id` for one test (see [`App::component`]).
pub fn component(id: &str) -> TestComponent {
    APP.component(id)
}

/// See [`App::component_with`]: e.g. `component_with("chat-api", outbound, &[("jwt_secret", S)])`.
pub fn component_with(
    id: &str,
    outbound: Arc<dyn OutboundHandler>,
    variables: &[(&str, &str)],
) -> TestComponent {
    APP.component_with(id, outbound, variables)
}

/// See [`App::component_overrides`].
pub fn component_overrides(id: &str, overrides: Overrides) -> TestComponent {
    APP.component_overrides(id, overrides)
}

/// A loaded component that prints its captured guest output if the test panics.
pub struct TestComponent {
    component: LoadedComponent,
}

impl TestComponent {
    /// Send a request (relative URIs get `http://localhost:3000`, route `/...`); host-level
    /// errors and hangs (60 s) fail the test, printing the guest's output.
    pub async fn send(&self, req: http::Request<Bytes>) -> http::Response<Bytes> {
        const LIMIT: Duration = Duration::from_secs(60);
        match tokio::time::timeout(LIMIT, self.component.handle(req)).await {
            Ok(Ok(resp)) => resp,
            Ok(Err(e)) => panic!("{e:#}"),
            Err(_) => panic!("{} did not answer within {LIMIT:?}", self.component.id()),
        }
    }

    pub fn component(&self) -> &LoadedComponent {
        &self.component
    }
}

impl Deref for TestComponent {
    type Target = LoadedComponent;
    fn deref(&self) -> &LoadedComponent {
        &self.component
    }
}

impl Drop for TestComponent {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let logs = self.component.logs();
            eprintln!(
                "----- {} guest output -----\n{}\n----- end of {} guest output -----",
                self.component.id(),
                if logs.is_empty() { "(none)" } else { &logs },
                self.component.id()
            );
        }
    }
}

/// Sends a component's outbound calls to an in-process embedded sidecar, as the calling app, the
/// way `todo-dev` does (the sidecar sees the path and query, as daprd does).
pub use spin_host::SidecarOutbound;
