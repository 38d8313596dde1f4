//! audit-service's service: every task event kept as an audit log entry, and `GET /audit/log` to
//! read it back. Generic over the [`Runtime`] (HTTP to Dapr, a clock), so it runs in the Spin
//! component and natively alike.
//!
//! - [`entry`]: an entry, and how a delivered task event becomes one;
//! - [`query`]: the query string, filters, ordering and cursor of `GET /audit/log`;
//! - [`layout`]: key names, time buckets, documents and the retention rule;
//! - [`write`]: the transaction that stores one entry (idempotent merges);
//! - [`store`]: the reads and writes against the Dapr state API, with the retry loop;
//! - `http`: the routes (`/audit/healthz`, `/audit/task-events`, `/audit/log`).
//!
//! `App::handle` takes one HTTP request and returns one response; the Spin component is a thin
//! adapter around it.
pub mod entry;
mod http;
pub mod layout;
pub mod query;
pub mod store;
pub mod write;

pub use component_kit::{ApiError, Runtime};
pub use entry::Entry;
pub use query::{AuditPage, AuditQuery};

pub const APP_ID: &str = "audit-service";

/// Settings, read from Spin variables by the component.
#[derive(Debug, Clone)]
pub struct Config {
    /// HS256 key shared with the web front end that issues user tokens (as chat-api's).
    pub jwt_secret: Vec<u8>,
    /// Deliveries must carry it as `dapr-api-token`; while it is unset every delivery is refused
    /// (the kit's check fails closed).
    pub app_api_token: Option<String>,
    /// The `audit_retention_days` variable as given (`None`/empty: keep forever); checked on
    /// every request, so a bad value answers 500 (RETRY for deliveries) with the reason logged.
    pub retention_days: Option<String>,
    pub state_store: String,
}

impl Config {
    pub fn new(jwt_secret: impl Into<Vec<u8>>) -> Self {
        Self {
            jwt_secret: jwt_secret.into(),
            app_api_token: None,
            retention_days: None,
            state_store: "statestore".to_owned(),
        }
    }
}

/// audit-service (see [`component_kit::Service`]); its routes are in `http`.
pub type App<R> = component_kit::Service<R, Config>;

/// The audit log in `app`'s state store, with the configured retention.
pub fn store<R: Runtime>(app: &App<R>) -> Result<store::AuditStore<'_, R>, ApiError> {
    let retention = layout::Retention::parse(app.config.retention_days.as_deref())
        .map_err(ApiError::Internal)?;
    Ok(store::AuditStore {
        dapr: &app.dapr,
        state_store: &app.config.state_store,
        retention,
    })
}
