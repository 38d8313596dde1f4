//! Structured logs: one JSON line per request on stdout, warnings and errors on stderr.
use serde_json::json;

/// What one request did, written as a single JSON line when it ends.
#[derive(Debug, Default)]
pub struct RequestLog {
    /// When the request arrived (`None` in a log made by hand: no duration then).
    pub started: Option<std::time::Instant>,
    pub method: String,
    pub route: &'static str,
    pub status: u16,
    pub user: Option<String>,
    pub event_ids: Vec<String>,
    pub error: Option<String>,
}

impl RequestLog {
    /// The log of a request that starts now.
    pub fn start(request: &http::Request<Vec<u8>>) -> Self {
        Self {
            started: Some(std::time::Instant::now()),
            method: request.method().to_string(),
            ..Self::default()
        }
    }

    pub fn line(&self) -> String {
        let duration = self.started.map(|t| t.elapsed()).unwrap_or_default();
        let mut line = json!({
            "level": if self.status >= 500 { "error" } else { "info" },
            "msg": "request",
            "method": self.method,
            "route": self.route,
            "status": self.status,
            "duration_ms": (duration.as_secs_f64() * 1000.0 * 1000.0).round() / 1000.0,
        });
        if let Some(user) = &self.user {
            line["user"] = json!(user);
        }
        if !self.event_ids.is_empty() {
            line["event_ids"] = json!(self.event_ids);
        }
        if let Some(error) = &self.error {
            line["error"] = json!(error);
        }
        line.to_string()
    }
}

pub fn warn(message: &str, cause: &str) {
    eprintln!(
        "{}",
        json!({ "level": "warn", "msg": message, "cause": cause })
    );
}
