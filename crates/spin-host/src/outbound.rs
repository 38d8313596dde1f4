//! The component's outbound HTTP: policy check, then the embedder's [`OutboundHandler`].

use crate::allowed_hosts::AllowedHosts;
use crate::logs::LogBuffer;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;
use wasmtime_wasi_http::{Error, RequestOptions, WasiBody, WasiHttpHooks};

/// Per-call timeout when the guest sets none.
pub const DEFAULT_OUTBOUND_TIMEOUT: Duration = Duration::from_secs(30);

/// Where a component's allowed outbound requests go (e.g. the embedded Dapr sidecar, in process:
/// [`crate::SidecarOutbound`]).
pub trait OutboundHandler: Send + Sync + 'static {
    /// Handle one outbound request of component `app_id` (its Spin component id = Dapr app-id).
    /// The request URI is absolute (`http://127.0.0.1:3500/v1.0/...`) and the body complete.
    fn handle(
        &self,
        app_id: &str,
        req: http::Request<Bytes>,
    ) -> Pin<Box<dyn Future<Output = anyhow::Result<http::Response<Bytes>>> + Send + '_>>;
}

type IoFuture = Box<dyn Future<Output = Result<(), Error>> + Send>;

/// The `WasiHttpHooks` of one store: THE place where outbound policy is enforced.
pub(crate) struct OutboundHooks {
    pub(crate) component_id: Arc<str>,
    pub(crate) allowed: Arc<AllowedHosts>,
    pub(crate) handler: Arc<dyn OutboundHandler>,
    pub(crate) logs: LogBuffer,
    /// The incoming request's `traceparent`: outbound calls without their own carry a child
    /// span of it (a guest's own `traceparent` is kept as is).
    pub(crate) traceparent: Option<String>,
}

impl WasiHttpHooks for OutboundHooks {
    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        _fut: IoFuture,
    ) -> Box<dyn Future<Output = Result<(http::Response<WasiBody>, IoFuture), Error>> + Send> {
        let id = self.component_id.clone();
        let handler = self.handler.clone();
        let logs = self.logs.clone();
        let uri = request.uri().clone();
        let allowed = self.allowed.allows_uri(&uri);
        let mut request = request;
        if let Some(parent) = &self.traceparent
            && !request.headers().contains_key(crate::trace::TRACEPARENT)
            && let Ok(value) = http::HeaderValue::try_from(crate::trace::child_of(parent))
        {
            request
                .headers_mut()
                .insert(crate::trace::TRACEPARENT, value);
        }
        Box::new(async move {
            if !allowed {
                logs.host_line(&format!(
                    "component {id}: outbound request to {uri} denied: not in allowed_outbound_hosts"
                ));
                return Err(Error::HttpRequestDenied);
            }
            let timeout = call_timeout(options);
            let call = async {
                let (parts, body) = request.into_parts();
                let body = body.collect().await?.to_bytes();
                let request = http::Request::from_parts(parts, body);
                handler.handle(&id, request).await.map_err(|e| {
                    logs.host_line(&format!(
                        "component {id}: outbound request to {uri} failed: {e:#}"
                    ));
                    Error::InternalError(Some(format!("{e:#}")))
                })
            };
            let response = match tokio::time::timeout(timeout, call).await {
                Ok(result) => result?,
                Err(_) => {
                    logs.host_line(&format!(
                        "component {id}: outbound request to {uri} timed out after {timeout:?}"
                    ));
                    return Err(Error::HttpResponseTimeout);
                }
            };
            let response = response.map(|body| {
                Full::new(body)
                    .map_err(|never| match never {})
                    .boxed_unsync()
            });
            Ok((response, Box::new(async { Ok(()) }) as IoFuture))
        })
    }
}

/// Loosely honour the guest's timeouts: connect + first-byte bound the whole in-process call
/// (the body is buffered, so between-bytes does not apply).
fn call_timeout(options: Option<RequestOptions>) -> Duration {
    let Some(o) = options else {
        return DEFAULT_OUTBOUND_TIMEOUT;
    };
    match (o.connect_timeout, o.first_byte_timeout) {
        (None, None) => DEFAULT_OUTBOUND_TIMEOUT,
        (connect, first_byte) => {
            connect.unwrap_or_default() + first_byte.unwrap_or(DEFAULT_OUTBOUND_TIMEOUT)
        }
    }
}

#[cfg(test)]
mod tests;
