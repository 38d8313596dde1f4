//! chat-api's task service, generic over the Dapr transport so it runs natively and in wasm.
//!
//! - [`operations`]: the task operations (create, get, list, update, complete, reopen, delete) as
//!   plain functions of parsed domain values. Every entry point calls them: the REST routes, the
//!   chat assistant, the internal occurrence route, job callbacks.
//! - [`http`]: the REST edge: routing, parsing requests into domain values, shaping responses.
//! - [`idempotency`]: `Idempotency-Key` (key, stored record, fingerprint, replay).
//! - [`jobs`]: the `/job/{name}` callbacks Dapr's scheduler makes.
//! - [`store`]: how tasks and their outbox live in the state store, and the one retry loop every
//!   write goes through; [`sweep`]: the outbox sweep; [`events`]: task events as CloudEvents.
//!
//! `App::handle` takes one HTTP request and returns one response; the Spin component is a thin
//! adapter around it, and native benchmarks drive the same code against the embedded sidecar.
pub mod events;
mod http;
pub mod idempotency;
pub mod jobs;
pub mod operations;
pub mod store;
pub mod sweep;

pub use component_kit::{ApiError, Runtime};
pub use operations::Tasks;

use dapr_client::DaprClient;

pub const APP_ID: &str = "chat-api";

/// Settings, read from Spin variables by the component.
#[derive(Debug, Clone)]
pub struct Config {
    /// HS256 key shared with the web front end that issues user tokens.
    pub jwt_secret: Vec<u8>,
    /// When set, calls Dapr makes into the app (job triggers) must carry it as `dapr-api-token`.
    pub app_api_token: Option<String>,
    pub state_store: String,
    pub pubsub: String,
}

impl Config {
    pub fn new(jwt_secret: impl Into<Vec<u8>>) -> Self {
        Self {
            jwt_secret: jwt_secret.into(),
            app_api_token: None,
            state_store: "statestore".to_owned(),
            pubsub: "pubsub".to_owned(),
        }
    }
}

pub struct App<R> {
    dapr: DaprClient<R>,
    config: Config,
}

impl<R: Runtime> App<R> {
    pub fn new(dapr_url: &str, runtime: R, config: Config) -> Self {
        Self {
            dapr: DaprClient::new(dapr_url, runtime),
            config,
        }
    }

    /// Serve one request and write its log line.
    pub async fn handle(&self, request: ::http::Request<Vec<u8>>) -> ::http::Response<Vec<u8>> {
        component_kit::serve(request, async |request, log| {
            http::route(self, &request, log).await
        })
        .await
    }

    /// The task operations, for entry points other than the REST routes.
    pub fn tasks(&self) -> Tasks<'_, R> {
        Tasks::new(&self.dapr, &self.config.state_store, &self.config.pubsub)
    }

    fn runtime(&self) -> &R {
        self.dapr.transport()
    }
}
