//! The app's port (`--listen`): every `[[trigger.http]]` route of the running components, with
//! W3C trace context, one log line and the host's request metrics per request.

use crate::server::{ResponseFuture, Service};
use bytes::Bytes;
use dapr_sidecar::Metrics;
use spin_host::apps::Apps;
use spin_host::{RequestContext, trace};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

// The host's own measurement of the app port, under our own names: daprd's
// `dapr_http_server_*` mean requests to the Dapr API, which the sidecar counts itself.
const REQUEST_COUNT: &str = "todo_dev_app_http_request_count";
const REQUEST_COUNT_HELP: &str =
    "Number of HTTP requests on the app port, by component (app_id), method, route and status";
const LATENCY: &str = "todo_dev_app_http_latency";
const LATENCY_HELP: &str =
    "App-port request latency in ms, by component (app_id), method, route and status";

/// The metrics the host adds to the sidecar's (`dapr_sidecar::metrics::METRIC_NAMES`), with their
/// Prometheus types; `docs/running-locally.md` documents each (a test checks).
#[cfg_attr(not(test), allow(dead_code))]
pub(crate) const APP_METRIC_NAMES: &[(&str, &str)] =
    &[(REQUEST_COUNT, "counter"), (LATENCY, "histogram")];

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
                // Spin's own answer to a path no route matches: 404, empty body, no content type.
                return empty_response(404);
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
                    // As Spin answers a component that fails: 500, empty body.
                    empty_response(500)
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

fn empty_response(status: u16) -> http::Response<Bytes> {
    let mut response = http::Response::new(Bytes::new());
    *response.status_mut() =
        http::StatusCode::from_u16(status).unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR);
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use spin_host::Manifest;

    #[tokio::test]
    async fn an_unmatched_path_gets_spins_empty_404() {
        let manifest = Manifest::parse(
            "spin_manifest_version = 2\n[application]\nname = \"app\"\n",
            std::path::Path::new("."),
        )
        .unwrap();
        let service = AppService {
            apps: Arc::new(Apps::new(&manifest, Vec::new())),
            metrics: Arc::new(Metrics::default()),
            authority: "127.0.0.1:3000".into(),
        };
        for path in ["/nowhere", "//", "/dapr/subscribe"] {
            let request = http::Request::get(path).body(Bytes::new()).unwrap();
            let response = service.call(request, "127.0.0.1:1".parse().unwrap()).await;
            assert_eq!(response.status(), 404, "{path}");
            assert!(response.body().is_empty(), "{path}");
            assert!(response.headers().get("content-type").is_none(), "{path}");
        }
    }

    #[test]
    fn the_app_port_metrics_are_documented_in_running_locally() {
        let doc = include_str!("../../../../docs/running-locally.md");
        for (name, kind) in APP_METRIC_NAMES {
            assert!(
                doc.contains(&format!("| `{name}` | {kind} |")),
                "docs/running-locally.md has no row for {name}"
            );
        }
    }
}
