//! A loaded component and the guest task that serves one request: a fresh store and instance
//! per request, as Spin does, the response collected while the guest may still be running.

use crate::host::ah;
use crate::spin_request::{RequestContext, spin_request};
use crate::store::new_store;
use crate::{AllowedHosts, HostWallClock, LogSink, OutboundHandler, logs, trace};
use anyhow::{Context as _, bail};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use wasmtime_wasi_http::WasiHttpView;
use wasmtime_wasi_http::p2::bindings::ProxyPre;
use wasmtime_wasi_http::p2::bindings::http::types::Scheme;

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

/// A compiled, pre-instantiated component. Cheap to clone; serves requests concurrently.
#[derive(Clone)]
pub struct LoadedComponent {
    inner: Arc<Inner>,
}

/// What [`crate::Host::load`] made of a component; each request's store is built from it
/// ([`crate::store::new_store`]).
pub(crate) struct Inner {
    pub(crate) id: Arc<str>,
    pub(crate) wasm_path: PathBuf,
    pub(crate) pre: ProxyPre<crate::store::StoreState>,
    pub(crate) allowed: Arc<AllowedHosts>,
    pub(crate) variables: Arc<HashMap<String, String>>,
    pub(crate) environment: Vec<(String, String)>,
    pub(crate) outbound: Arc<dyn OutboundHandler>,
    pub(crate) wall_clock: Option<Arc<dyn HostWallClock + Send + Sync>>,
    pub(crate) logs: logs::LogBuffer,
    pub(crate) log_sink: Option<LogSink>,
    pub(crate) compile_time: Duration,
    pub(crate) from_cache: bool,
}

impl LoadedComponent {
    pub(crate) fn from_inner(inner: Inner) -> Self {
        Self {
            inner: Arc::new(inner),
        }
    }

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
        let mut store = new_store(&self.inner, traceparent);

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

    /// The same compiled component with some settings replaced (no recompilation; the log
    /// capture starts empty). Lets tests share one compilation while each test brings its own
    /// sidecar, variables and clock.
    pub fn with_overrides(&self, overrides: Overrides) -> LoadedComponent {
        let inner = &self.inner;
        let environment = match overrides.environment {
            Some(env) => env.into_iter().collect(),
            None => inner.environment.clone(),
        };
        LoadedComponent::from_inner(Inner {
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
        })
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

    /// How long [`crate::Host::load`] spent compiling (or loading from the disk cache).
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
