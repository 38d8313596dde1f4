//! Compiling the components in a child process (`todo-dev compile`, hidden), so that the
//! long-lived `todo-dev up` only reads wasmtime's compiled-code cache.
//!
//! Why a process: compiling leaves the compiler's memory with the process that compiled.
//! Cranelift keeps its compile contexts for its engine's life, glibc keeps the tops of the compile
//! threads' arenas (`malloc_trim` does not release them), and Cranelift's own code stays paged in
//! from this binary: a `todo-dev up` that compiled (every first run after a build) held 73–79 MiB
//! when ready against 30 for one that found the cache warm (docs/benchmarks.md, "Fourth pass"). A
//! child that compiles and exits takes all of it with it; when the cache is warm it only reads
//! it, a few tens of milliseconds.

use crate::CompileArgs;
use anyhow::anyhow;
use bytes::Bytes;
use spin_host::{ComponentConfig, Host, HostOptions, OutboundHandler};
use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::process::{Command, Stdio};
use std::sync::Arc;

/// The engine settings of `todo-dev up`: the child must make the same cache keys as the parent.
pub(crate) fn host_options(no_pooling: bool) -> HostOptions {
    HostOptions {
        pooling: !no_pooling,
        ..HostOptions::default()
    }
}

/// `todo-dev compile [--no-pooling] <wasm>...`: load each component once (compiling it into the
/// cache when it is not there) and exit.
pub fn run(args: CompileArgs) -> anyhow::Result<()> {
    let host = Host::new(Arc::new(NoCalls), host_options(args.no_pooling))?;
    for wasm_path in args.wasm {
        host.load(ComponentConfig {
            id: component_name(&wasm_path),
            wasm_path,
            ..ComponentConfig::default()
        })?;
    }
    Ok(())
}

/// Runs `todo-dev compile` for `configs` and waits. A failure is logged, not fatal: the parent
/// then compiles what is missing itself.
pub(crate) fn in_child(configs: &[ComponentConfig], no_pooling: bool) {
    let exe = match std::env::current_exe() {
        Ok(exe) => exe,
        Err(err) => {
            tracing::warn!("cannot find this executable to compile in a child process: {err}");
            return;
        }
    };
    let mut command = Command::new(exe);
    command.arg("compile");
    if no_pooling {
        command.arg("--no-pooling");
    }
    command
        .args(configs.iter().map(|c| &c.wasm_path))
        .stdin(Stdio::null())
        .stdout(Stdio::null());
    let started = std::time::Instant::now();
    match command.status() {
        Ok(status) if status.success() => tracing::info!(
            ms = started.elapsed().as_millis() as u64,
            "components compiled (or found in the cache) by a child process"
        ),
        Ok(status) => {
            tracing::warn!("compiling in a child process failed ({status}); compiling here")
        }
        Err(err) => {
            tracing::warn!("cannot start a child process to compile ({err}); compiling here")
        }
    }
}

fn component_name(wasm_path: &Path) -> String {
    wasm_path.file_stem().map_or_else(
        || "component".to_owned(),
        |s| s.to_string_lossy().into_owned(),
    )
}

/// The child only compiles: nothing runs, so nothing calls out.
struct NoCalls;

impl OutboundHandler for NoCalls {
    fn handle(
        &self,
        app_id: &str,
        _req: http::Request<Bytes>,
    ) -> Pin<Box<dyn Future<Output = anyhow::Result<http::Response<Bytes>>> + Send + '_>> {
        let error = anyhow!("component {app_id} made a call while only being compiled");
        Box::pin(async move { Err(error) })
    }
}
