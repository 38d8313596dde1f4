//! End-to-end and component tests; see the files under tests/tests/.
//!
//! This library is the shared harness: the built component paths (from build.rs), one
//! compilation of each component per test binary, and per-test instances of it with their own
//! outbound handler (sidecar), variables and clock.

use bytes::Bytes;
use spin_host::{ComponentConfig, Host, HostOptions, LoadedComponent, OutboundHandler, Overrides};
use std::collections::HashMap;
use std::future::Future;
use std::ops::Deref;
use std::path::Path;
use std::pin::Pin;
use std::sync::{Arc, LazyLock};
use std::time::Duration;

pub use spin_host;

/// The chat-api component built by build.rs (spin.toml's `source` for `[component.chat-api]`).
pub fn chat_api_wasm() -> &'static Path {
    Path::new(env!("CHAT_API_WASM"))
}

/// chat-api's `allowed_outbound_hosts` from spin.toml.
pub fn chat_api_allowed_outbound_hosts() -> Vec<String> {
    env!("CHAT_API_ALLOWED_OUTBOUND_HOSTS")
        .split(',')
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

/// Values for chat-api's Spin variables that make it runnable in tests (spin.toml's defaults
/// plus a test JWT secret). Per-test values are merged over these by [`chat_api`].
pub fn default_chat_api_variables() -> HashMap<String, String> {
    HashMap::from([
        ("dapr_url".into(), "http://127.0.0.1:3500".into()),
        ("jwt_secret".into(), "test-jwt-secret".into()),
        ("app_api_token".into(), String::new()),
    ])
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

struct Shared {
    host: Host,
    chat_api: LoadedComponent,
}

/// One Host (pooling allocator sized for 128 concurrent instances) and one compilation of
/// chat-api per test binary; the compiled code is cached under target/wasm/.cwasm-cache.
static SHARED: LazyLock<Shared> = LazyLock::new(|| {
    let cache_dir = chat_api_wasm()
        .ancestors()
        .nth(3) // .../target/wasm/wasm32-wasip2/release/chat_api.wasm -> .../target/wasm
        .expect("wasm path has a target dir")
        .join(".cwasm-cache");
    let host = Host::new(
        Arc::new(NoOutbound),
        HostOptions {
            cache_dir: Some(cache_dir),
            max_concurrent_instances: 128,
            ..HostOptions::default()
        },
    )
    .expect("failed to create the wasmtime host");
    let chat_api = host
        .load(ComponentConfig {
            id: "chat-api".into(),
            wasm_path: chat_api_wasm().to_path_buf(),
            allowed_outbound_hosts: chat_api_allowed_outbound_hosts(),
            variables: default_chat_api_variables(),
            environment: HashMap::new(),
        })
        .unwrap_or_else(|e| panic!("{e:#}"));
    if std::env::var_os("TODO_TESTS_REPORT_COMPILE").is_some() {
        eprintln!(
            "chat-api: compiled in {:?} (from disk cache: {})",
            chat_api.compile_time(),
            chat_api.loaded_from_cache()
        );
    }
    Shared { host, chat_api }
});

/// The host shared by this test binary (to load other wasm files in tests).
pub fn shared_host() -> &'static Host {
    &SHARED.host
}

/// A chat-api instance for one test: `outbound` receives its allowed outbound calls,
/// `variables` are merged over [`default_chat_api_variables`].
pub fn chat_api(outbound: Arc<dyn OutboundHandler>, variables: &[(&str, &str)]) -> TestComponent {
    let mut vars = default_chat_api_variables();
    vars.extend(
        variables
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string())),
    );
    chat_api_with(Overrides {
        outbound: Some(outbound),
        variables: Some(vars),
        ..Overrides::default()
    })
}

/// Like [`chat_api`] with full control (e.g. an injected wall clock).
pub fn chat_api_with(overrides: Overrides) -> TestComponent {
    TestComponent {
        component: SHARED.chat_api.with_overrides(overrides),
    }
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

/// Sends a component's outbound calls to an in-process embedded sidecar, as the calling app.
pub struct SidecarOutbound(pub dapr_sidecar::Sidecar);

impl OutboundHandler for SidecarOutbound {
    fn handle(
        &self,
        app_id: &str,
        req: http::Request<Bytes>,
    ) -> Pin<Box<dyn Future<Output = anyhow::Result<http::Response<Bytes>>> + Send + '_>> {
        let app_id = app_id.to_owned();
        Box::pin(async move { Ok(self.0.handle(&app_id, req).await) })
    }
}
