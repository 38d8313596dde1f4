//! The admin port (`--admin-listen`): `GET /metrics`, `GET /healthz`, dead letters and their
//! replay.

use crate::server::{ResponseFuture, Service, text_response};
use bytes::Bytes;
use dapr_sidecar::Sidecar;
use std::net::SocketAddr;

/// Metrics, health and dead letters.
pub(crate) struct AdminService {
    pub(crate) sidecar: Sidecar,
}

impl Service for AdminService {
    fn call(&self, req: http::Request<Bytes>, _peer: SocketAddr) -> ResponseFuture<'_> {
        Box::pin(async move {
            let path = req.uri().path().trim_end_matches('/').to_string();
            let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
            match (req.method().as_str(), segments.as_slice()) {
                ("GET", ["metrics"]) => {
                    let mut response = text_response(200, self.sidecar.metrics().render());
                    response.headers_mut().insert(
                        http::header::CONTENT_TYPE,
                        http::HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
                    );
                    response
                }
                ("GET", ["healthz"]) => json_response(200, &serde_json::json!({"status": "ok"})),
                ("GET", ["dead-letters"]) => {
                    let letters: Vec<serde_json::Value> = self
                        .sidecar
                        .dead_letters()
                        .into_iter()
                        .map(|d| {
                            serde_json::json!({
                                "id": d.id,
                                "pubsub": d.pubsub,
                                "topic": d.topic,
                                "original_topic": d.original_topic,
                                "app_id": d.app_id,
                                "reason": d.reason,
                                "time": d.time.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true),
                                "event": d.event,
                            })
                        })
                        .collect();
                    json_response(200, &serde_json::Value::Array(letters))
                }
                ("POST", ["dead-letters", id, "replay"]) => {
                    let Ok(id) = id.parse::<u64>() else {
                        return json_response(
                            400,
                            &serde_json::json!({"error": format!("invalid dead letter id {id:?}")}),
                        );
                    };
                    match self.sidecar.replay_dead_letter(id) {
                        Ok(()) => {
                            tracing::info!(id, "dead letter replayed");
                            json_response(200, &serde_json::json!({"replayed": id}))
                        }
                        Err(e @ dapr_sidecar::ReplayError::NotFound(_)) => {
                            json_response(404, &serde_json::json!({"error": e.to_string()}))
                        }
                        Err(e) => json_response(500, &serde_json::json!({"error": e.to_string()})),
                    }
                }
                (_, ["metrics" | "healthz" | "dead-letters", ..]) => {
                    text_response(405, "Method Not Allowed\n")
                }
                _ => text_response(404, "Not Found\n"),
            }
        })
    }
}

fn json_response(status: u16, value: &serde_json::Value) -> http::Response<Bytes> {
    let mut response = text_response(status, format!("{value}\n"));
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    response
}
