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

/// A channel that counts every answered call in daprd's HTTP client metrics.
pub(crate) struct Metered {
    pub inner: std::sync::Arc<dyn AppChannel>,
    pub metrics: std::sync::Arc<crate::Metrics>,
}

impl AppChannel for Metered {
    fn call(&self, app_id: &str, request: http::Request<Bytes>) -> AppCallFuture<'_> {
        let app_id = app_id.to_owned();
        let method = request.method().clone();
        Box::pin(async move {
            let started = std::time::Instant::now();
            let result = self.inner.call(&app_id, request).await;
            if let Ok(response) = &result {
                self.metrics.record_app_call(
                    &app_id,
                    method.as_str(),
                    response.status().as_u16(),
                    started.elapsed().as_secs_f64() * 1000.0,
                );
            }
            result
        })
    }
}
