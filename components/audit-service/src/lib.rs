//! The audit-service Spin component: a thin adapter from Spin's HTTP types and variables to
//! `audit_log`.
// `#[http_component]` expands to the unsafe canonical-ABI export glue; our own code has none.
#![allow(unsafe_code)]
use audit_log::{App, Config};
use component_kit::spin::{SpinRuntime, dapr_url, variable};
use spin_sdk::http_component;

#[http_component]
async fn handle(request: http::Request<Vec<u8>>) -> http::Response<Vec<u8>> {
    let mut config = Config::new(variable("jwt_secret").unwrap_or_default());
    config.app_api_token = variable("app_api_token");
    config.retention_days = variable("audit_retention_days");
    App::new(&dapr_url(), SpinRuntime, config)
        .handle(request)
        .await
}
