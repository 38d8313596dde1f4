//! What every todo-chatbot Spin component shares, so a component's `src/lib.rs` stays a thin
//! adapter: the Spin runtime adapter and variable reading ([`spin`], wasm only), the JSON error of
//! docs/contracts.md ([`ApiError`]), request helpers ([`request`]), the one-line JSON request log
//! ([`log`], [`finish`]), the `dapr-api-token` and JWT checks ([`auth`]), the health answer
//! ([`health`]) and the pub/sub [`subscriber`].
//!
//! Everything here is generic over [`Runtime`] (HTTP to Dapr, a clock, a way to wait), so the same
//! code runs in a component and natively in tests and benchmarks.
pub mod auth;
mod error;
pub mod health;
pub mod log;
pub mod request;
#[cfg(target_arch = "wasm32")]
pub mod spin;
pub mod state;
pub mod subscriber;

pub use error::ApiError;

use chrono::{DateTime, Utc};
use dapr_client::{DaprClient, Transport, TransportError};
use std::future::Future;
use std::time::Duration;

/// The address of the Dapr sidecar when the `dapr_url` variable is not set.
pub const DEFAULT_DAPR_URL: &str = "http://127.0.0.1:3500";

pub type Request = http::Request<Vec<u8>>;
pub type Response = http::Response<Vec<u8>>;

/// What a component needs from its host besides HTTP to Dapr: time and a way to wait.
pub trait Runtime: Transport {
    fn now(&self) -> DateTime<Utc>;
    fn sleep(&self, duration: Duration) -> impl Future<Output = ()>;

    /// [`Transport::send`] to a host that must answer within `timeout` (connect and first
    /// byte), e.g. an operator's webhook; a late answer is a [`TransportError`]. Runtimes
    /// without per-request timeouts send as usual (their host's own timeout applies).
    fn send_within(
        &self,
        request: http::Request<Vec<u8>>,
        timeout: Duration,
    ) -> impl Future<Output = Result<http::Response<Vec<u8>>, TransportError>> {
        let _ = timeout;
        self.send(request)
    }
}

/// A component's service: its Dapr client and its settings. What it answers is the [`Routes`] of
/// its settings type, so every service is `Service<R, ItsConfig>` with one `handle`.
pub struct Service<R, C> {
    pub dapr: DaprClient<R>,
    pub config: C,
}

impl<R: Runtime, C> Service<R, C> {
    /// `dapr_url` like `http://127.0.0.1:3500`.
    pub fn new(dapr_url: &str, runtime: R, config: C) -> Self {
        Self {
            dapr: DaprClient::new(dapr_url, runtime),
            config,
        }
    }

    /// The host's side: outbound HTTP, the clock, waiting.
    pub fn runtime(&self) -> &R {
        self.dapr.transport()
    }
}

/// The routes of a service, implemented on its settings type (see [`Service`]).
pub trait Routes<R: Runtime>: Sized {
    /// Answer one request, recording what it did in `log`.
    fn route(
        service: &Service<R, Self>,
        request: &Request,
        log: &mut log::RequestLog,
    ) -> impl Future<Output = Result<Response, ApiError>>;
}

impl<R: Runtime, C: Routes<R>> Service<R, C> {
    /// Serve one request and write its log line.
    pub async fn handle(&self, request: Request) -> Response {
        let mut log = log::RequestLog::start(&request);
        let result = C::route(self, &request, &mut log).await;
        finish(log, result)
    }
}

/// Answer a request from its handler's result: an error becomes its JSON response (its cause
/// logged for a 5xx), and the request's log line is written.
///
/// ```text
/// let mut log = RequestLog::start(&request);
/// let result = route(&request, &mut log).await;
/// finish(log, result)
/// ```
pub fn finish(mut log: log::RequestLog, result: Result<Response, ApiError>) -> Response {
    let response = match result {
        Ok(response) => response,
        Err(error) => {
            if error.status() >= 500 {
                log.error = Some(error.to_string());
            }
            error.into_response()
        }
    };
    log.status = response.status().as_u16();
    println!("{}", log.line());
    response
}

/// A JSON response.
pub fn json_response(status: u16, body: &impl serde::Serialize) -> Response {
    http::Response::builder()
        .status(status)
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(serde_json::to_vec(body).expect("serialisable"))
        .expect("valid response")
}

/// `Err(405)` unless `method` is one of `allowed` (`allow` is the `Allow` header's value).
pub fn only(
    method: &http::Method,
    allowed: &[http::Method],
    allow: &'static str,
) -> Result<(), ApiError> {
    if allowed.contains(method) {
        Ok(())
    } else {
        Err(ApiError::MethodNotAllowed { allow })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finish_turns_errors_into_their_json_and_records_the_status() {
        let request = http::Request::post("/x").body(Vec::new()).unwrap();
        let log = log::RequestLog::start(&request);
        let response = finish(log, Err(ApiError::NotFound));
        assert_eq!(response.status(), 404);
        assert_eq!(
            response.body(),
            br#"{"error":{"code":"not_found","message":"not found"}}"#
        );
    }

    #[test]
    fn json_responses_and_method_checks() {
        let response = json_response(201, &serde_json::json!({"a": 1}));
        assert_eq!(response.status(), 201);
        assert_eq!(response.headers()["content-type"], "application/json");
        assert_eq!(response.body(), br#"{"a":1}"#);
        assert!(only(&http::Method::GET, &[http::Method::GET], "GET").is_ok());
        let err = only(&http::Method::PUT, &[http::Method::GET], "GET").unwrap_err();
        let response = err.into_response();
        assert_eq!(response.status(), 405);
        assert_eq!(response.headers()["allow"], "GET");
    }
}
