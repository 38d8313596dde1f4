//! A small metrics registry rendered as Prometheus text, and the catalogue of what the sidecar
//! exports ([`METRIC_NAMES`]).
//!
//! A metric named like one of daprd's means what daprd's means, so a dashboard built for Dapr
//! reads true here: `dapr_http_server_*` count requests to the Dapr API (the app calling its
//! sidecar), `dapr_http_client_*` the sidecar's calls into the app (deliveries, job triggers,
//! invocations, `/dapr/subscribe`), `dapr_component_pubsub_*` publishes and deliveries,
//! `dapr_scheduler_*` / `dapr_component_job_*` jobs. Like daprd with its default low-cardinality
//! HTTP metrics (`metrics.http.increasedCardinality: false`), the HTTP ones have no `path`
//! label. Measurements daprd has no name for are `todo_…` (the host's own app-port metrics are
//! `todo_dev_app_http_*`, in `todo-dev`).
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;

/// `dapr_http_server_request_count{app_id, method}`: requests to the Dapr API.
pub const HTTP_SERVER_REQUEST_COUNT: &str = "dapr_http_server_request_count";
/// `dapr_http_server_response_count{app_id, method, status}`: answers of the Dapr API.
pub const HTTP_SERVER_RESPONSE_COUNT: &str = "dapr_http_server_response_count";
/// `dapr_http_server_latency{app_id, method, status}` (ms): Dapr API request latency.
pub const HTTP_SERVER_LATENCY: &str = "dapr_http_server_latency";
/// `dapr_http_client_completed_count{app_id, method, status}`: calls into the app answered.
pub const HTTP_CLIENT_COMPLETED_COUNT: &str = "dapr_http_client_completed_count";
/// `dapr_http_client_roundtrip_latency{app_id, method, status}` (ms): calls into the app.
pub const HTTP_CLIENT_ROUNDTRIP_LATENCY: &str = "dapr_http_client_roundtrip_latency";

/// Every metric the sidecar exports, with its Prometheus type. `docs/running-locally.md`
/// documents each (a test checks), so a dashboard can be checked against this list.
pub const METRIC_NAMES: &[(&str, &str)] = &[
    (HTTP_SERVER_REQUEST_COUNT, "counter"),
    (HTTP_SERVER_RESPONSE_COUNT, "counter"),
    (HTTP_SERVER_LATENCY, "histogram"),
    (HTTP_CLIENT_COMPLETED_COUNT, "counter"),
    (HTTP_CLIENT_ROUNDTRIP_LATENCY, "histogram"),
    ("dapr_component_pubsub_egress_count", "counter"),
    ("dapr_component_pubsub_egress_latencies", "histogram"),
    ("dapr_component_pubsub_ingress_count", "counter"),
    ("dapr_component_pubsub_ingress_latencies", "histogram"),
    ("dapr_scheduler_jobs_created_total", "counter"),
    ("dapr_scheduler_jobs_triggered_total", "counter"),
    ("dapr_scheduler_jobs_failed_total", "counter"),
    ("dapr_scheduler_trigger_latency", "histogram"),
    ("dapr_component_job_success_count", "counter"),
    ("dapr_component_job_failure_count", "counter"),
    ("todo_pubsub_dead_lettered_total", "counter"),
];

/// Histogram buckets in milliseconds (daprd's latency buckets are in ms too).
const BUCKETS_MS: &[f64] = &[
    1.0, 2.0, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 2500.0, 5000.0, 10000.0,
];

type Labels = Vec<(String, String)>;

#[derive(Default)]
pub struct Metrics {
    inner: Mutex<Registry>,
}

#[derive(Default)]
struct Registry {
    help: BTreeMap<String, (&'static str, &'static str)>,
    counters: BTreeMap<String, BTreeMap<Labels, f64>>,
    histograms: BTreeMap<String, BTreeMap<Labels, Histogram>>,
}

#[derive(Default, Clone)]
struct Histogram {
    buckets: Vec<u64>,
    sum: f64,
    count: u64,
}

fn labels(pairs: &[(&str, &str)]) -> Labels {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

impl Metrics {
    /// Add `by` to counter `name{labels}`.
    pub fn add(&self, name: &'static str, help: &'static str, pairs: &[(&str, &str)], by: f64) {
        let mut registry = self.inner.lock().expect("metrics lock");
        registry
            .help
            .entry(name.to_owned())
            .or_insert((help, "counter"));
        *registry
            .counters
            .entry(name.to_owned())
            .or_default()
            .entry(labels(pairs))
            .or_default() += by;
    }

    pub fn inc(&self, name: &'static str, help: &'static str, pairs: &[(&str, &str)]) {
        self.add(name, help, pairs, 1.0);
    }

    /// Record one observation (milliseconds) in histogram `name{labels}`.
    pub fn observe_ms(
        &self,
        name: &'static str,
        help: &'static str,
        pairs: &[(&str, &str)],
        value_ms: f64,
    ) {
        let mut registry = self.inner.lock().expect("metrics lock");
        registry
            .help
            .entry(name.to_owned())
            .or_insert((help, "histogram"));
        let histogram = registry
            .histograms
            .entry(name.to_owned())
            .or_default()
            .entry(labels(pairs))
            .or_default();
        if histogram.buckets.is_empty() {
            histogram.buckets = vec![0; BUCKETS_MS.len()];
        }
        for (bucket, bound) in histogram.buckets.iter_mut().zip(BUCKETS_MS) {
            if value_ms <= *bound {
                *bucket += 1;
            }
        }
        histogram.sum += value_ms;
        histogram.count += 1;
    }

    /// Counts one request to the Dapr API (daprd's HTTP server metrics).
    pub(crate) fn record_api_request(&self, app_id: &str, method: &str, status: u16, ms: f64) {
        let status = status.to_string();
        self.inc(
            HTTP_SERVER_REQUEST_COUNT,
            "Number of HTTP requests to the Dapr API",
            &[("app_id", app_id), ("method", method)],
        );
        let labels = [("app_id", app_id), ("method", method), ("status", &status)];
        self.inc(
            HTTP_SERVER_RESPONSE_COUNT,
            "Number of HTTP responses of the Dapr API",
            &labels,
        );
        self.observe_ms(
            HTTP_SERVER_LATENCY,
            "Dapr API request latency in ms",
            &labels,
            ms,
        );
    }

    /// Counts one call into an app that got an answer (daprd's HTTP client metrics).
    pub(crate) fn record_app_call(&self, app_id: &str, method: &str, status: u16, ms: f64) {
        let status = status.to_string();
        let labels = [("app_id", app_id), ("method", method), ("status", &status)];
        self.inc(
            HTTP_CLIENT_COMPLETED_COUNT,
            "Number of completed calls into the app",
            &labels,
        );
        self.observe_ms(
            HTTP_CLIENT_ROUNDTRIP_LATENCY,
            "Latency of calls into the app in ms",
            &labels,
            ms,
        );
    }

    /// Current value of a counter (tests).
    pub fn counter(&self, name: &str, pairs: &[(&str, &str)]) -> f64 {
        let registry = self.inner.lock().expect("metrics lock");
        registry
            .counters
            .get(name)
            .and_then(|series| series.get(&labels(pairs)))
            .copied()
            .unwrap_or(0.0)
    }

    /// Prometheus text exposition format 0.0.4.
    pub fn render(&self) -> String {
        let registry = self.inner.lock().expect("metrics lock");
        let mut out = String::new();
        for (name, series) in &registry.counters {
            write_header(&mut out, name, registry.help.get(name));
            for (labels, value) in series {
                let _ = writeln!(out, "{name}{} {value}", render_labels(labels, None));
            }
        }
        for (name, series) in &registry.histograms {
            write_header(&mut out, name, registry.help.get(name));
            for (labels, histogram) in series {
                for (count, bound) in histogram.buckets.iter().zip(BUCKETS_MS) {
                    let _ = writeln!(
                        out,
                        "{name}_bucket{} {count}",
                        render_labels(labels, Some(&bound.to_string()))
                    );
                }
                let _ = writeln!(
                    out,
                    "{name}_bucket{} {}",
                    render_labels(labels, Some("+Inf")),
                    histogram.count
                );
                let _ = writeln!(
                    out,
                    "{name}_sum{} {}",
                    render_labels(labels, None),
                    histogram.sum
                );
                let _ = writeln!(
                    out,
                    "{name}_count{} {}",
                    render_labels(labels, None),
                    histogram.count
                );
            }
        }
        out
    }
}

fn write_header(out: &mut String, name: &str, help: Option<&(&'static str, &'static str)>) {
    if let Some((help, kind)) = help {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
    }
}

fn render_labels(labels: &Labels, le: Option<&str>) -> String {
    let mut parts: Vec<String> = labels
        .iter()
        .map(|(k, v)| {
            format!(
                "{k}=\"{}\"",
                v.replace('\\', "\\\\")
                    .replace('"', "\\\"")
                    .replace('\n', "\\n")
            )
        })
        .collect();
    if let Some(le) = le {
        parts.push(format!("le=\"{le}\""));
    }
    if parts.is_empty() {
        String::new()
    } else {
        format!("{{{}}}", parts.join(","))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_exported_metric_is_documented_in_running_locally() {
        let doc = include_str!("../../../docs/running-locally.md");
        for (name, kind) in METRIC_NAMES {
            assert!(
                doc.contains(&format!("| `{name}` | {kind} |")),
                "docs/running-locally.md has no row for {name} ({kind})"
            );
        }
    }

    #[test]
    fn renders_counters_and_histograms_in_prometheus_text() {
        let metrics = Metrics::default();
        metrics.inc(
            "dapr_component_pubsub_egress_count",
            "Published messages",
            &[("app_id", "chat-api"), ("topic", "task-events")],
        );
        metrics.observe_ms(
            "dapr_http_server_latency",
            "Request latency",
            &[("app_id", "a")],
            3.0,
        );
        let text = metrics.render();
        assert!(text.contains("# TYPE dapr_component_pubsub_egress_count counter"));
        assert!(text.contains(
            "dapr_component_pubsub_egress_count{app_id=\"chat-api\",topic=\"task-events\"} 1"
        ));
        assert!(text.contains("dapr_http_server_latency_bucket{app_id=\"a\",le=\"2\"} 0"));
        assert!(text.contains("dapr_http_server_latency_bucket{app_id=\"a\",le=\"5\"} 1"));
        assert!(text.contains("dapr_http_server_latency_count{app_id=\"a\"} 1"));
        assert_eq!(
            metrics.counter(
                "dapr_component_pubsub_egress_count",
                &[("app_id", "chat-api"), ("topic", "task-events")]
            ),
            1.0
        );
    }
}
