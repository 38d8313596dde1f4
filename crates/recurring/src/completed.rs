//! One `task.completed` event: compute the next occurrence and have chat-api create it.
use crate::Runtime;
use component_kit::log::RequestLog;
use component_kit::subscriber::Rejection;
use dapr_client::{CloudEvent, DaprClient, DaprError};
use http::Method;
use todo_domain::series::{OccurrenceRequest, next_occurrence};
use todo_domain::{TaskEventData, TaskEventType};

/// chat-api's internal route that creates an occurrence (docs/contracts.md).
pub const OCCURRENCES_METHOD: &str = "api/internal/occurrences";

/// What handling a completion did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Handled {
    /// Not a completion of a recurring task with a next occurrence: nothing to do.
    NothingFollows,
    /// chat-api created the successor now (`201`) or had it already (`200`).
    Successor { status: u16 },
}

/// Handle one admitted event delivered to `/recurring/task-completed`.
pub async fn handle<R: Runtime>(
    dapr: &DaprClient<R>,
    chat_api: &str,
    event: &CloudEvent,
    log: &mut RequestLog,
) -> Result<Handled, Rejection> {
    if event.event_type != TaskEventType::Completed.as_str() {
        // Routed here by mistake: not ours to handle, and harmless to acknowledge.
        return Ok(Handled::NothingFollows);
    }
    let Some(request) = occurrence_request(event, log)? else {
        return Ok(Handled::NothingFollows);
    };
    let body = serde_json::to_value(&request).expect("serialisable");
    let answer = dapr
        .invoke(chat_api, Method::POST, OCCURRENCES_METHOD, Some(&body))
        .await;
    let context = format!(
        "occurrence {} of series {} (task {})",
        request.occurrence_index,
        request.series_id,
        request.successor_id()
    );
    classify(answer, &context).map(|status| Handled::Successor { status })
}

/// The request for the successor of the completed task in `event`; `None` when nothing follows.
/// Data that cannot be a completed task (wrong shape, a rule that no longer parses, a snapshot
/// that is not completed) is dropped.
pub fn occurrence_request(
    event: &CloudEvent,
    log: &mut RequestLog,
) -> Result<Option<OccurrenceRequest>, Rejection> {
    let data: TaskEventData = serde_json::from_value(event.data.clone())
        .map_err(|e| Rejection::Drop(format!("data is not a task event: {e}")))?;
    log.user = Some(data.user_id.clone());
    let task = &data.task;
    if task.user_id != data.user_id {
        return Err(Rejection::Drop(format!(
            "data.user_id {:?} is not the task's owner {:?}",
            data.user_id, task.user_id
        )));
    }
    let completed_at = match task.completed_at {
        Some(at) if task.is_completed() => at,
        _ => {
            return Err(Rejection::Drop(format!(
                "task {} in a task.completed event is not completed",
                task.id
            )));
        }
    };
    next_occurrence(task, completed_at)
        .map_err(|e| Rejection::Drop(format!("task {}: {e}", task.id)))
}

/// What chat-api's answer (or Dapr's refusal) means for the delivery:
///
/// | answer | delivery |
/// |---|---|
/// | `2xx` (`201` created, `200` it existed) | SUCCESS |
/// | `400`, `404`, `422` and any other 4xx not below | DROP: this request can never succeed |
/// | `401`/`403` from chat-api, `403` from Dapr (access control) | DROP, logged as a configuration error |
/// | `408`, `409`, `425`, `429`, `5xx`, Dapr's `500 ERR_DIRECT_INVOKE`, no connection | RETRY |
///
/// A configuration error is not retried: it does not heal within the delivery retry policy's
/// half minute, and retrying would hold up every later event of the topic for this app meanwhile
/// (one delivery at a time per app and topic). Dropped, it waits in `task-events-dlq` for a replay
/// after the fix, which the successor id makes safe.
pub fn classify(
    answer: Result<http::Response<Vec<u8>>, DaprError>,
    context: &str,
) -> Result<u16, Rejection> {
    let response = match answer {
        Ok(response) => response,
        Err(DaprError::Api {
            status: 403,
            code,
            message,
        }) => {
            return Err(configuration_error(
                context,
                &format!("Dapr access control refused the invocation ({code}): {message}"),
            ));
        }
        Err(error) => {
            return Err(Rejection::Retry(format!(
                "{context}: chat-api unreachable: {error}"
            )));
        }
    };
    let status = response.status().as_u16();
    let body = excerpt(response.body());
    match status {
        200..=299 => Ok(status),
        401 | 403 => Err(configuration_error(
            context,
            &format!("chat-api refused our dapr-api-token: {status} {body}"),
        )),
        408 | 409 | 425 | 429 => Err(Rejection::Retry(format!(
            "{context}: chat-api answered {status} {body}"
        ))),
        400..=499 => Err(Rejection::Drop(format!(
            "{context}: chat-api cannot accept it: {status} {body}"
        ))),
        _ => Err(Rejection::Retry(format!(
            "{context}: chat-api answered {status} {body}"
        ))),
    }
}

/// A refusal that only a fix of the deployment cures: an `error` line (on top of the drop's own
/// warning), then DROP.
fn configuration_error(context: &str, cause: &str) -> Rejection {
    let message = format!(
        "{context}: configuration error (app_api_token / dapr/config.yaml access control); \
         the event goes to task-events-dlq: replay it once fixed"
    );
    eprintln!(
        "{}",
        serde_json::json!({ "level": "error", "msg": message, "cause": cause })
    );
    Rejection::Drop(format!("{message}: {cause}"))
}

/// The start of a response body, for a log line.
fn excerpt(body: &[u8]) -> String {
    const MAX: usize = 300;
    let text = String::from_utf8_lossy(body);
    match text.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.into_owned(),
    }
}
