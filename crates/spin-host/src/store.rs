//! Per-request store state: what one instance of a component sees (WASI with its environment and
//! captured stdout/stderr, `wasi:http` with the outbound policy hooks, Spin variables, the host's
//! wall clock). A fresh store is built for every request.

use crate::component::Inner;
use crate::outbound::OutboundHooks;
use crate::{HostWallClock, logs, variables};
use std::sync::Arc;
use std::time::Duration;
use wasmtime::Store;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

pub(crate) struct StoreState {
    table: ResourceTable,
    wasi: WasiCtx,
    http: WasiHttpCtx,
    hooks: OutboundHooks,
    pub(crate) variables: variables::Variables,
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

/// The store of one request to `component`; `traceparent` is the incoming request's (outbound
/// calls without their own get a child span of it).
pub(crate) fn new_store(component: &Inner, traceparent: Option<String>) -> Store<StoreState> {
    let mut wasi = WasiCtx::builder();
    wasi.envs(&component.environment)
        .stdout(component.logs.stream(logs::Source::Stdout))
        .stderr(component.logs.stream(logs::Source::Stderr));
    if let Some(clock) = &component.wall_clock {
        wasi.wall_clock(StoreClock(clock.clone()));
    }
    let state = StoreState {
        table: ResourceTable::new(),
        wasi: wasi.build(),
        http: WasiHttpCtx::new(),
        hooks: OutboundHooks {
            component_id: component.id.clone(),
            allowed: component.allowed.clone(),
            handler: component.outbound.clone(),
            logs: component.logs.clone(),
            traceparent,
        },
        variables: variables::Variables {
            values: component.variables.clone(),
        },
    };
    Store::new(component.pre.engine(), state)
}
