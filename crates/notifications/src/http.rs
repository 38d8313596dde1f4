//! The routes: health, the `reminders` delivery, the inbox and marking an entry read.
use crate::inbox::{InboxEntry, InboxQuery, Inserted};
use crate::reminder::{REMINDER_SCHEMA_VERSION, Reminder, dedupe_key};
use crate::webhook::{self, Webhook};
use crate::{APP_ID, ApiError, App, Config, Runtime};
use component_kit::auth::{authenticate_user, check_app_token};
use component_kit::health::health;
use component_kit::log::RequestLog;
use component_kit::request::{path_segments, query_pairs};
use component_kit::subscriber::{Admission, Rejection, Subscriber};
use component_kit::{Request, Response, Routes, json_response, only};
use dapr_client::CloudEvent;
use http::Method;

impl<R: Runtime> Routes<R> for Config {
    async fn route(
        app: &App<R>,
        request: &Request,
        log: &mut RequestLog,
    ) -> Result<Response, ApiError> {
        let method = request.method();
        match path_segments(request).as_slice() {
            ["notifications", "healthz"] => {
                log.route = "/notifications/healthz";
                health(method, APP_ID)
            }
            ["notifications", "reminders"] => {
                log.route = "/notifications/reminders";
                only(method, &[Method::POST], "POST")?;
                check_app_token(request, app.config.app_api_token.as_deref())?;
                Ok(deliver(app, request, log).await)
            }
            ["notifications", "inbox"] => {
                log.route = "/notifications/inbox";
                only(method, &[Method::GET], "GET")?;
                let user =
                    authenticate_user(request, &app.config.jwt_secret, app.runtime().now(), log)?;
                let pairs = query_pairs(request);
                let query = InboxQuery::parse(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())))?;
                let page = crate::store(app).page(&user, &query).await?;
                Ok(json_response(200, &page))
            }
            ["notifications", "inbox", id, "read"] => {
                log.route = "/notifications/inbox/{id}/read";
                only(method, &[Method::POST], "POST")?;
                let now = app.runtime().now();
                let user = authenticate_user(request, &app.config.jwt_secret, now, log)?;
                // `:` may arrive percent-encoded; an id holds nothing else that could.
                let id = id.replace("%3A", ":").replace("%3a", ":");
                let entry = crate::store(app).mark_read(&user, &id, now).await?;
                Ok(json_response(200, &entry))
            }
            _ => {
                log.route = "unmatched";
                Err(ApiError::NotFound)
            }
        }
    }
}

/// A `reminders` delivery: admitted by the kit's subscriber (envelope, `schema_version`, dedupe
/// on `data.reminder_id`), delivered, settled.
async fn deliver<R: Runtime>(app: &App<R>, request: &Request, log: &mut RequestLog) -> Response {
    let subscriber = Subscriber {
        dapr: &app.dapr,
        state_store: &app.config.state_store,
        known_schema_versions: &[REMINDER_SCHEMA_VERSION],
    };
    let status = match subscriber.admit(request, dedupe_key, log).await {
        Admission::Answer(status) => status,
        Admission::Handle(accepted) => {
            let outcome = handle(app, &accepted.event, log).await;
            subscriber.settle(accepted, outcome, log).await
        }
    };
    status.into_response()
}

/// Deliver one reminder on every channel: inbox first (once per `reminder_id`), then the
/// webhook; one log line says what each did.
async fn handle<R: Runtime>(
    app: &App<R>,
    event: &CloudEvent,
    log: &mut RequestLog,
) -> Result<(), Rejection> {
    let reminder = Reminder::from_event(event).map_err(Rejection::Drop)?;
    log.user = Some(reminder.user_id.clone());
    let now = app.runtime().now();
    let (entry, inserted) = crate::store(app)
        .add(&reminder.user_id, InboxEntry::new(&reminder, now))
        .await
        .map_err(|e| Rejection::Retry(format!("reminder {}: inbox: {e}", reminder.reminder_id)))?;
    let (webhook_outcome, result) = send_webhook(app, &reminder, &entry).await;
    println!(
        "{}",
        serde_json::json!({
            "level": if result.is_ok() { "info" } else { "warn" },
            "msg": "reminder",
            "reminder_id": reminder.reminder_id.to_string(),
            "user": reminder.user_id,
            "task_id": reminder.task_id,
            "remind_at": entry.remind_at,
            "lateness_ms": (now - reminder.remind_at).num_milliseconds(),
            "inbox": match inserted {
                Inserted::Added => "added",
                Inserted::AlreadyThere => "already there",
                Inserted::TooOld => "older than a full inbox: not kept",
            },
            "webhook": webhook_outcome,
        })
    );
    result
}

/// The webhook's part: what to log, and the delivery's outcome.
async fn send_webhook<R: Runtime>(
    app: &App<R>,
    reminder: &Reminder,
    entry: &InboxEntry,
) -> (String, Result<(), Rejection>) {
    let config = &app.config;
    let configured = Webhook::from_variables(
        config.webhook_url.as_deref(),
        config.webhook_secret.as_deref(),
    )
    .and_then(|webhook| {
        let timeout = webhook::timeout_from_variable(config.webhook_timeout_ms.as_deref())?;
        Ok(webhook.map(|webhook| (webhook, timeout)))
    });
    let (webhook, timeout) = match configured {
        Ok(Some(configured)) => configured,
        Ok(None) => return ("disabled".to_owned(), Ok(())),
        Err(reason) => {
            // A configuration error: retried until fixed (within the retry policy), then the
            // event waits in reminders-dlq; the inbox has it meanwhile.
            let message = format!("configuration error: {reason}");
            return (message.clone(), Err(Rejection::Retry(message)));
        }
    };
    let request = webhook.request(reminder, entry, app.runtime().now());
    let answer = app.runtime().send_within(request, timeout).await;
    let id = reminder.reminder_id.to_string();
    match webhook::classify(answer, &id) {
        Ok(status) => (format!("{status}"), Ok(())),
        Err(rejection) => {
            let what = match &rejection {
                Rejection::Retry(reason) | Rejection::Drop(reason) => reason.clone(),
            };
            (what, Err(rejection))
        }
    }
}
