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

    async fn send_within(
        &self,
        request: http::Request<Vec<u8>>,
        timeout: Duration,
    ) -> Result<http::Response<Vec<u8>>, TransportError> {
        let uri = request.uri().to_string();
        send_with_options(request, timeout)
            .await
            .map_err(|e| TransportError(format!("{uri}: {e}")))
    }
}

/// `spin_sdk::http::send` with wasi:http request options (it passes none): the host gives up
/// after `timeout` to connect and `timeout` to the first byte.
async fn send_with_options(
    request: http::Request<Vec<u8>>,
    timeout: Duration,
) -> Result<http::Response<Vec<u8>>, String> {
    use futures::SinkExt as _;
    use spin_sdk::http::conversions::{TryFromIncomingResponse, TryIntoOutgoingRequest};
    use spin_sdk::wit::wasi::http0_2_0::{outgoing_handler, types};

    let (outgoing, body) = request
        .try_into_outgoing_request()
        .map_err(|e| format!("cannot build the request: {e}"))?;
    let options = types::RequestOptions::new();
    let nanos = u64::try_from(timeout.as_nanos()).unwrap_or(u64::MAX);
    // Hosts may not support every option; an unsupported one is no reason not to send.
    let _ = options.set_connect_timeout(Some(nanos));
    let _ = options.set_first_byte_timeout(Some(nanos));
    let mut body_sink = outgoing.take_body();
    let pending = outgoing_handler::handle(outgoing, Some(options)).map_err(|e| e.to_string())?;
    if let Some(body) = body {
        body_sink.send(body).await.map_err(|e| e.to_string())?;
    }
    drop(body_sink);
    // One request per instance: blocking it while the host waits starves nothing.
    pending.subscribe().block();
    let response = pending
        .get()
        .ok_or("the response never became ready")?
        .map_err(|()| "the response was already taken")?
        .map_err(|e| e.to_string())?;
    http::Response::<Vec<u8>>::try_from_incoming_response(response)
        .await
        .map_err(|e| format!("reading the response: {e}"))
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
