//! How the sidecar calls into apps (as daprd calls its app on the app port): subscription
//! discovery, message delivery, job triggers and service invocation all go through here. The host
//! implements it by routing the request to the component whose id is `app_id`, and only to that
//! component's routes, as on SpinKube where each component is its own pod with its own sidecar.
use bytes::Bytes;
use std::future::Future;
use std::pin::Pin;

/// The app could not be reached or did not answer (daprd: connection refused, timeout).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("app {app_id} unreachable: {message}")]
pub struct AppCallError {
    pub app_id: String,
    pub message: String,
}

pub type AppCallFuture<'a> =
    Pin<Box<dyn Future<Output = Result<http::Response<Bytes>, AppCallError>> + Send + 'a>>;

pub trait AppChannel: Send + Sync + 'static {
    /// Send `request` (path and query only, e.g. `/job/reminder-1`) to app `app_id`. The sidecar
    /// has already added Dapr's headers (`dapr-api-token` when configured, `traceparent`, …).
    fn call(&self, app_id: &str, request: http::Request<Bytes>) -> AppCallFuture<'_>;
}

/// A channel with no apps behind it: every call fails as "unreachable".
#[derive(Debug, Default, Clone, Copy)]
pub struct NoApps;

impl AppChannel for NoApps {
    fn call(&self, app_id: &str, _request: http::Request<Bytes>) -> AppCallFuture<'_> {
        let error = AppCallError {
            app_id: app_id.to_owned(),
            message: "no app channel configured".to_owned(),
        };
        Box::pin(async move { Err(error) })
    }
}
