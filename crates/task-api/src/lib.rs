//! chat-api's task service, generic over the Dapr transport so it runs natively and in wasm.
//!
//! - [`operations`]: the task operations (create, get, list, update, complete, reopen, delete) as
//!   plain functions of parsed domain values. Every entry point calls them: the REST routes, the
//!   chat assistant, the internal occurrence route, job callbacks.
//! - [`http`]: the REST edge: routing, parsing requests into domain values, shaping responses.
//! - [`idempotency`]: `Idempotency-Key` (key, stored record, fingerprint, replay).
//! - [`chat`]: `POST /api/chat` and `GET /api/chat/{conversation_id}`: the offline assistant (or an
//!   optional LLM) turning messages into calls of the same task operations; conversations.
//! - [`jobs`]: the `/job/{name}` callbacks Dapr's scheduler makes; [`reminders`]: reminder jobs
//!   (scheduling through the outbox, the pending-reminder index, reconciliation).
//! - [`store`]: how tasks and their outbox live in the state store, and the one retry loop every
//!   write goes through; [`sweep`]: the outbox sweep; [`events`]: task events as CloudEvents.
//!
//! `App::handle` takes one HTTP request and returns one response; the Spin component is a thin
//! adapter around it, and native benchmarks drive the same code against the embedded sidecar.
pub mod chat;
mod embedded;
pub mod events;
mod http;
pub mod idempotency;
pub mod jobs;
pub mod operations;
pub mod reminders;
pub mod store;
pub mod sweep;

pub use component_kit::{ApiError, Runtime};
pub use operations::Tasks;

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
    /// The optional LLM assistant of `POST /api/chat` (off unless configured).
    pub llm: chat::llm::LlmSettings,
}

impl Config {
    pub fn new(jwt_secret: impl Into<Vec<u8>>) -> Self {
        Self {
            jwt_secret: jwt_secret.into(),
            app_api_token: None,
            state_store: "statestore".to_owned(),
            pubsub: "pubsub".to_owned(),
            llm: chat::llm::LlmSettings::default(),
        }
    }
}

/// chat-api: the task service (see [`component_kit::Service`]); its routes are in `http`.
pub type App<R> = component_kit::Service<R, Config>;

/// The task operations of `app`, for entry points other than the REST routes.
pub fn tasks<R: Runtime>(app: &App<R>) -> Tasks<'_, R> {
    Tasks::new(&app.dapr, &app.config.state_store, &app.config.pubsub)
}

#[cfg(test)]
mod tests {
    use super::*;
    use dapr_client::{Transport, TransportError};

    /// A runtime that is `Send + Sync`, as native hosts' are.
    struct SendRuntime;

    impl Transport for SendRuntime {
        async fn send(
            &self,
            _: ::http::Request<Vec<u8>>,
        ) -> Result<::http::Response<Vec<u8>>, TransportError> {
            Err(TransportError("no sidecar in this test".to_owned()))
        }
    }

    impl Runtime for SendRuntime {
        fn now(&self) -> chrono::DateTime<chrono::Utc> {
            chrono::Utc::now()
        }
        async fn sleep(&self, _: std::time::Duration) {}
    }

    fn assert_send<T: Send>(_: &T) {}

    /// Native hosts (the benchmark's server, tests) spawn `handle` on a multi-threaded runtime:
    /// its future must stay `Send` (async closures with borrowed arguments broke this once).
    #[test]
    fn handling_a_request_is_a_send_future() {
        let app = App::new("http://127.0.0.1:3500", SendRuntime, Config::new("k"));
        let request = ::http::Request::get("/api/healthz")
            .body(Vec::new())
            .unwrap();
        let future = app.handle(request);
        assert_send(&future);
    }
}
