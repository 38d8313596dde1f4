//! The chat-api request handlers, generic over the Dapr transport so they run natively and in wasm.
//!
//! `App::handle` takes one HTTP request and returns one response; the Spin component is a thin
//! adapter around it, and native benchmarks drive the same code against the embedded sidecar.
mod error;
mod handlers;
pub mod log;
mod request;
pub mod store;
pub mod sweep;

use chrono::{DateTime, Utc};
use dapr_client::{DaprClient, Transport};
use std::future::Future;
use std::time::Duration;

pub use error::ApiError;

/// What the handlers need from their host besides HTTP to Dapr: time and a way to wait.
pub trait Runtime: Transport {
    fn now(&self) -> DateTime<Utc>;
    fn sleep(&self, duration: Duration) -> impl Future<Output = ()>;
}

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
    pub async fn handle(&self, request: http::Request<Vec<u8>>) -> http::Response<Vec<u8>> {
        let started = std::time::Instant::now();
        let mut log = log::RequestLog {
            method: request.method().to_string(),
            ..Default::default()
        };
        let response = match handlers::route(self, &request, &mut log).await {
            Ok(response) => response,
            Err(error) => {
                if error.status() >= 500 {
                    log.error = Some(error.to_string());
                }
                error.into_response()
            }
        };
        log.status = response.status().as_u16();
        println!("{}", log.line(started.elapsed()));
        response
    }

    fn runtime(&self) -> &R {
        self.dapr.transport()
    }
}
