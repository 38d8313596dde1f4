//! The chat-api Spin component: a thin adapter from Spin's HTTP types and variables to `task_api`.
// `#[http_component]` expands to the unsafe canonical-ABI export glue; our own code has none.
#![allow(unsafe_code)]
use dapr_client::{Transport, TransportError};
use spin_sdk::http_component;
use spin_sdk::variables;
use std::time::Duration;
use task_api::{App, Config, Runtime};

const DEFAULT_DAPR_URL: &str = "http://127.0.0.1:3500";

/// Spin's outbound HTTP (checked against `allowed_outbound_hosts`) and the WASI clocks.
struct SpinRuntime;

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

fn variable(name: &str) -> Option<String> {
    variables::get(name).ok().filter(|v| !v.is_empty())
}

#[http_component]
async fn handle(request: http::Request<Vec<u8>>) -> http::Response<Vec<u8>> {
    let dapr_url = variable("dapr_url").unwrap_or_else(|| DEFAULT_DAPR_URL.to_owned());
    let mut config = Config::new(variable("jwt_secret").unwrap_or_default());
    config.app_api_token = variable("app_api_token");
    App::new(&dapr_url, SpinRuntime, config)
        .handle(request)
        .await
}
