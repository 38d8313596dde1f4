//! notification-service's service: a fired reminder reaches its owner, exactly once as they see
//! it, however often Dapr delivers it.
//!
//! chat-api publishes `reminder.triggered` on topic `reminders`; Dapr delivers it to
//! `POST /notifications/reminders` (declarative subscription
//! `dapr/subscriptions/notification-service.yaml`, dead letters to `reminders-dlq`). A delivery:
//!
//! 1. [`Subscriber::admit`](component_kit::subscriber::Subscriber::admit) with the dedupe key
//!    `data.reminder_id` ([`reminder::dedupe_key`]): a known `schema_version`, not seen before
//!    (`processed:{reminder_id}`), else DROP / SUCCESS;
//! 2. the event's `data` parsed into a [`Reminder`] (else DROP);
//! 3. the owner's inbox gets the entry, keyed by `reminder_id`, so a redelivery after a failed
//!    webhook finds it there and adds nothing ([`store::InboxStore::add`]);
//! 4. the operator's webhook, when configured, gets the signed body ([`webhook`]): 2xx SUCCESS,
//!    5xx / timeout / no connection RETRY, another answer DROP (loudly);
//! 5. one structured log line says what happened; the kit records `processed:` only now, after
//!    full success, so a RETRY sends the webhook again but never adds a second inbox entry.
//!
//! Users read their inbox with `GET /notifications/inbox` and mark an entry read with
//! `POST /notifications/inbox/{id}/read` (JWT as for chat-api). Routes are in `http`.
mod http;
pub mod inbox;
pub mod reminder;
pub mod store;
pub mod webhook;

pub use component_kit::{ApiError, Runtime};
pub use inbox::{InboxEntry, InboxPage, InboxQuery};
pub use reminder::Reminder;

pub const APP_ID: &str = "notification-service";

/// Settings, read from Spin variables by the component.
#[derive(Debug, Clone)]
pub struct Config {
    /// HS256 key shared with the web front end that issues user tokens (as chat-api's).
    pub jwt_secret: Vec<u8>,
    /// Deliveries must carry it as `dapr-api-token`; while it is unset every delivery is refused
    /// (the kit's check fails closed).
    pub app_api_token: Option<String>,
    /// `notification_webhook_url` as given; `None`/empty: no webhook.
    pub webhook_url: Option<String>,
    /// `notification_webhook_secret` as given; required when a URL is set.
    pub webhook_secret: Option<String>,
    /// `notification_webhook_timeout_ms` as given (`None`/empty: the default, 5 s).
    pub webhook_timeout_ms: Option<String>,
    pub state_store: String,
}

impl Config {
    pub fn new(jwt_secret: impl Into<Vec<u8>>) -> Self {
        Self {
            jwt_secret: jwt_secret.into(),
            app_api_token: None,
            webhook_url: None,
            webhook_secret: None,
            webhook_timeout_ms: None,
            state_store: "statestore".to_owned(),
        }
    }
}

/// notification-service (see [`component_kit::Service`]); its routes are in `http`.
pub type App<R> = component_kit::Service<R, Config>;

/// The inboxes in `app`'s state store.
pub fn store<R: Runtime>(app: &App<R>) -> store::InboxStore<'_, R> {
    store::InboxStore {
        dapr: &app.dapr,
        state_store: &app.config.state_store,
    }
}

#[cfg(test)]
mod tests;
