//! A Dapr API port: every request acts as one app-id, as if it came from that app's own sidecar
//! client. `todo-dev up --dapr-listen` has one (for curl and tools, `--as-app-id`);
//! `todo-dev sidecar` has one per app of the run file (each `spin up` calls its own).

use crate::server::{ResponseFuture, Service};
use bytes::Bytes;
use dapr_sidecar::Sidecar;
use std::net::SocketAddr;
use std::time::Instant;

/// The Dapr API as app `app_id`.
pub struct DaprService {
    pub sidecar: Sidecar,
    pub app_id: String,
}

impl Service for DaprService {
    fn call(&self, req: http::Request<Bytes>, _peer: SocketAddr) -> ResponseFuture<'_> {
        Box::pin(async move {
            let started = Instant::now();
            let method = req.method().clone();
            let path = req.uri().path().to_string();
            let response = spin_host::send_to_sidecar(&self.sidecar, &self.app_id, req).await;
            tracing::info!(
                target: "todo_dev::dapr",
                app_id = self.app_id, %method, path, status = response.status().as_u16(),
                duration_ms = started.elapsed().as_secs_f64() * 1000.0, "dapr api"
            );
            response
        })
    }
}
