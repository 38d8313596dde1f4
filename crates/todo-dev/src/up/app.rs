//! The app's port (`--listen`): every `[[trigger.http]]` route of the running components, with
//! W3C trace context, one log line and the host's request metrics per request.

use crate::server::{ResponseFuture, Service, text_response};
use bytes::Bytes;
use dapr_sidecar::Metrics;
use spin_host::apps::Apps;
use spin_host::{RequestContext, trace};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

const REQUEST_COUNT: &str = "dapr_http_server_request_count";
const REQUEST_COUNT_HELP: &str =
    "Number of HTTP requests served by the host, by component (app_id), method, route and status";
const LATENCY: &str = "dapr_http_server_latency";
const LATENCY_HELP: &str =
    "HTTP request latency in ms, by component (app_id), method, route and status";

/// The app's port: route → component.
pub(crate) struct AppService {
    pub(crate) apps: Arc<Apps>,
    pub(crate) metrics: Arc<Metrics>,
    /// `spin-full-url` authority of requests without a `Host` header (the bound address).
    pub(crate) authority: String,
}

impl Service for AppService {
    fn call(&self, mut req: http::Request<Bytes>, peer: SocketAddr) -> ResponseFuture<'_> {
        Box::pin(async move {
            let started = Instant::now();
            let method = req.method().clone();
            let path = req.uri().path().to_string();
            // W3C trace context: keep a valid incoming traceparent, else start a trace.
            let incoming = req
                .headers()
                .get(trace::TRACEPARENT)
                .and_then(|v| v.to_str().ok())
                .filter(|v| trace::parse(v).is_some())
                .map(str::to_string);
            let traceparent = incoming.unwrap_or_else(trace::new_traceparent);
            if let Ok(value) = http::HeaderValue::try_from(traceparent.as_str()) {
                req.headers_mut().insert(trace::TRACEPARENT, value);
            }
            let trace_id = trace::trace_id(&traceparent).unwrap_or_default();

            let Some(matched) = self.apps.route(&path) else {
                tracing::info!(
                    component = "-", %method, path, route = "-", status = 404,
                    duration_ms = started.elapsed().as_secs_f64() * 1000.0, trace_id,
                    "no route"
                );
                return text_response(404, "Not Found\n");
            };
            let ctx = RequestContext {
                route: matched.route.clone(),
                base_path: "/".into(),
                client_addr: peer,
                default_authority: self.authority.clone(),
            };
            let component = matched.component.id().to_string();
            let response = match matched.component.handle_with_context(req, &ctx).await {
                Ok(response) => response,
                Err(e) => {
                    tracing::error!(component, %method, path, "component failed: {e:#}");
                    text_response(500, "Internal Server Error\n")
                }
            };
            let status = response.status().as_u16();
            let elapsed_ms = started.elapsed().as_secs_f64() * 1000.0;
            let status_text = status.to_string();
            let labels = [
                ("app_id", component.as_str()),
                ("method", method.as_str()),
                ("path", matched.route.as_str()),
                ("status", status_text.as_str()),
            ];
            self.metrics.inc(REQUEST_COUNT, REQUEST_COUNT_HELP, &labels);
            self.metrics
                .observe_ms(LATENCY, LATENCY_HELP, &labels, elapsed_ms);
            tracing::info!(
                component, %method, path, route = matched.route, status,
                duration_ms = elapsed_ms, trace_id, "request"
            );
            response
        })
    }
}
