//! The Spin side of a component: outbound HTTP through `spin_sdk::http::send` (checked by the host
//! against `allowed_outbound_hosts`), the WASI clocks, and Spin variables.
use crate::{DEFAULT_DAPR_URL, Runtime};
use dapr_client::{Transport, TransportError};
use std::time::Duration;

/// The [`Runtime`] of a Spin component.
pub struct SpinRuntime;

impl Transport for SpinRuntime {
    async fn send(
        &self,
        request: http::Request<Vec<u8>>,
    ) -> Result<http::Response<Vec<u8>>, TransportError> {
        let uri = request.uri().to_string();
        spin_sdk::http::send::<_, http::Response<Vec<u8>>>(request)
            .await
            .map_err(|e| TransportError(format!("{uri}: {e}")))
    }
}

impl Runtime for SpinRuntime {
    fn now(&self) -> chrono::DateTime<chrono::Utc> {
        chrono::Utc::now()
    }

    async fn sleep(&self, duration: Duration) {
        // One request per instance: blocking the instance is waiting, nothing else is starved.
        std::thread::sleep(duration);
    }
}

/// A Spin variable's value; `None` when unset or empty.
pub fn variable(name: &str) -> Option<String> {
    spin_sdk::variables::get(name)
        .ok()
        .filter(|v| !v.is_empty())
}

/// The sidecar's address: the `dapr_url` variable, else Dapr's default port on loopback.
pub fn dapr_url() -> String {
    variable("dapr_url").unwrap_or_else(|| DEFAULT_DAPR_URL.to_owned())
}
