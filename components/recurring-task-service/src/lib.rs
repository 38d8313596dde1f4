//! The recurring-task-service Spin component: a thin adapter from Spin's HTTP types and variables
//! to `recurring`.
// `#[http_component]` expands to the unsafe canonical-ABI export glue; our own code has none.
#![allow(unsafe_code)]
use component_kit::spin::{SpinRuntime, dapr_url, variable};
use recurring::{App, Config};
use spin_sdk::http_component;

#[http_component]
async fn handle(request: http::Request<Vec<u8>>) -> http::Response<Vec<u8>> {
    let config = Config {
        app_api_token: variable("app_api_token"),
        ..Config::default()
    };
    App::new(&dapr_url(), SpinRuntime, config)
        .handle(request)
        .await
}
