//! The chat-api Spin component: a thin adapter from Spin's HTTP types and variables to `task_api`.
// `#[http_component]` expands to the unsafe canonical-ABI export glue; our own code has none.
#![allow(unsafe_code)]
use component_kit::spin::{SpinRuntime, dapr_url, variable};
use spin_sdk::http_component;
use task_api::{App, Config};

#[http_component]
async fn handle(request: http::Request<Vec<u8>>) -> http::Response<Vec<u8>> {
    let mut config = Config::new(variable("jwt_secret").unwrap_or_default());
    config.app_api_token = variable("app_api_token");
    config.llm.base_url = variable("llm_base_url");
    config.llm.model = variable("llm_model");
    config.llm.api_key = variable("llm_api_key");
    config.llm.timeout_ms = variable("llm_timeout_ms");
    App::new(&dapr_url(), SpinRuntime, config)
        .handle(request)
        .await
}
