//! Runs Spin HTTP components in wasmtime, routing their outbound calls.
//!
//! One [`Host`] owns the wasmtime [`Engine`](wasmtime::Engine) (pooling allocator, on-disk cache
//! of compiled code), the embedder's [`OutboundHandler`] and the clock shown to guests.
//! [`Host::load`] compiles a component once and pre-instantiates it; [`LoadedComponent::handle`]
//! serves one request in a fresh store, as Spin does.
//!
//! The component sees WASI 0.2 (`wasi:cli`, `wasi:clocks`, `wasi:random`, ... with its own
//! `environment`, no preopened files, no sockets), `wasi:http/outgoing-handler` (every request goes
//! through the `allowed_outbound_hosts` check and then [`OutboundHandler::handle`]) and
//! `fermyon:spin/variables@2.0.0`.
//!
//! Modules: `host` (the engine and loading: [`Host`], [`HostOptions`], [`ComponentConfig`]),
//! `component` (a [`LoadedComponent`] and the guest task serving one request), `store`
//! (per-request store state: WASI, `wasi:http`, variables, the wall clock), `spin_request`
//! (Spin's `spin-*` request headers, [`RequestContext`]), `outbound` (the outbound policy hooks
//! and [`OutboundHandler`]), [`sidecar`] (outbound calls handed to the embedded Dapr sidecar as
//! `daprd` sees them), [`apps`] (routing and Dapr's app channel).

pub mod allowed_hosts;
pub mod apps;
mod clock;
mod component;
mod host;
mod logs;
pub mod manifest;
mod outbound;
pub mod sidecar;
mod spin_request;
mod store;
pub mod trace;
pub mod variables;

pub use allowed_hosts::AllowedHosts;
pub use apps::{Apps, AppsChannel};
pub use clock::SharedClock;
pub use component::{LoadedComponent, Overrides};
pub use host::{ComponentConfig, Host, HostOptions};
pub use logs::{ECHO_GUEST_LOGS_ENV, LogLine, LogSink, LogSource};
pub use manifest::{Manifest, Router, VariableResolver};
pub use outbound::{DEFAULT_OUTBOUND_TIMEOUT, OutboundHandler};
pub use sidecar::{SidecarOutbound, send_to_sidecar};
pub use spin_request::RequestContext;
pub use wasmtime_wasi::HostWallClock;
