//! The notification-service Spin component: a thin adapter from Spin's HTTP types and variables
//! to `notifications`.
// `#[http_component]` expands to the unsafe canonical-ABI export glue; our own code has none.
#![allow(unsafe_code)]
use component_kit::spin::{SpinRuntime, dapr_url, variable};
use notifications::{App, Config};
use spin_sdk::http_component;

#[http_component]
async fn handle(request: http::Request<Vec<u8>>) -> http::Response<Vec<u8>> {
    let mut config = Config::new(variable("jwt_secret").unwrap_or_default());
    config.app_api_token = variable("app_api_token");
    config.webhook_url = variable("notification_webhook_url");
    config.webhook_secret = variable("notification_webhook_secret");
    config.webhook_timeout_ms = variable("notification_webhook_timeout_ms");
    App::new(&dapr_url(), SpinRuntime, config)
        .handle(request)
        .await
}
