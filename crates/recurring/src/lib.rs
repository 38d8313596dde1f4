//! recurring-task-service: when a recurring task is completed, create its next occurrence.
//!
//! Dapr delivers every `task-events` event to this app (declarative subscription
//! `dapr/subscriptions/recurring-task-service.yaml`): `task.completed` to
//! `POST /recurring/task-completed`, everything else to `POST /recurring/ignored`, which only
//! acknowledges (since daprd 1.13 an event matching no rule would be dead-lettered). A completion
//! is handled in [`completed`]:
//!
//! 1. [`Subscriber::admit`](component_kit::subscriber::Subscriber::admit): a CloudEvent with a
//!    known `data.schema_version`, not seen before (`processed:{event id}`), else DROP / SUCCESS;
//! 2. the event's `data` must be a task event whose snapshot is completed (else DROP);
//! 3. [`todo_domain::series::next_occurrence`] computes the successor from the event alone
//!    (nothing follows: SUCCESS, nothing done);
//! 4. chat-api creates it: `POST /api/internal/occurrences` by Dapr service invocation, with the
//!    id `successor_id(series, predecessor index)` if absent — so every delivery of the event,
//!    and every later completion of the same occurrence, ends with one successor. Its answer
//!    decides the delivery's status ([`completed::classify`], docs/contracts.md "Next
//!    occurrence"): 2xx SUCCESS, unusable request DROP, configuration error DROP (loudly),
//!    anything transient RETRY.
//!
//! Both delivery routes accept only calls through Dapr (`dapr-api-token`) and refuse everyone
//! when no `app_api_token` is configured. `App::handle` takes one request and returns one
//! response; the Spin component is a thin adapter, and tests drive the same code natively.
pub mod completed;

pub use component_kit::{ApiError, Runtime};

use component_kit::auth::check_app_token;
use component_kit::health::health;
use component_kit::log::RequestLog;
use component_kit::request::path_segments;
use component_kit::subscriber::{Admission, Subscriber, event_id};
use component_kit::{Request, Response, only};
use dapr_client::DeliveryStatus;
use http::Method;
use todo_domain::event::EVENT_SCHEMA_VERSION;

pub const APP_ID: &str = "recurring-task-service";

/// Settings, read from Spin variables by the component.
#[derive(Debug, Clone)]
pub struct Config {
    /// What Dapr sends as `dapr-api-token`; without one the delivery routes refuse every call.
    pub app_api_token: Option<String>,
    /// Where the `processed:{event id}` records are kept (in this app's own key space).
    pub state_store: String,
    /// The app-id that creates occurrences.
    pub chat_api: String,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            app_api_token: None,
            state_store: "statestore".to_owned(),
            chat_api: "chat-api".to_owned(),
        }
    }
}

/// recurring-task-service (see [`component_kit::Service`]).
pub type App<R> = component_kit::Service<R, Config>;

impl<R: Runtime> component_kit::Routes<R> for Config {
    async fn route(
        app: &App<R>,
        request: &Request,
        log: &mut RequestLog,
    ) -> Result<Response, ApiError> {
        let method = request.method();
        match path_segments(request).as_slice() {
            ["recurring", "healthz"] => {
                log.route = "/recurring/healthz";
                health(method, APP_ID)
            }
            ["recurring", "task-completed"] => {
                log.route = "/recurring/task-completed";
                only(method, &[Method::POST], "POST")?;
                check_app_token(request, app.config.app_api_token.as_deref())?;
                Ok(deliver_completed(app, request, log).await.into_response())
            }
            ["recurring", "ignored"] => {
                log.route = "/recurring/ignored";
                only(method, &[Method::POST], "POST")?;
                check_app_token(request, app.config.app_api_token.as_deref())?;
                Ok(DeliveryStatus::Success.into_response())
            }
            _ => {
                log.route = "unmatched";
                Err(ApiError::NotFound)
            }
        }
    }
}

async fn deliver_completed<R: Runtime>(
    app: &App<R>,
    request: &Request,
    log: &mut RequestLog,
) -> DeliveryStatus {
    let subscriber = Subscriber {
        dapr: &app.dapr,
        state_store: &app.config.state_store,
        known_schema_versions: &[EVENT_SCHEMA_VERSION],
    };
    match subscriber.admit(request, event_id, log).await {
        Admission::Answer(status) => status,
        Admission::Handle(accepted) => {
            let outcome = completed::handle(&app.dapr, &app.config.chat_api, &accepted.event, log)
                .await
                .map(drop);
            subscriber.settle(accepted, outcome, log).await
        }
    }
}

#[cfg(test)]
mod tests;
