//! A small metrics registry rendered as Prometheus text. Names follow daprd's own metrics where an
//! equivalent exists (`dapr_component_pubsub_ingress_count`, `dapr_http_server_request_count`, …),
//! so one dashboard serves the local host and a cluster.
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;

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
