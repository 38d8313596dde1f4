//! The REST edge: routing, parsing each request into domain values, calling the task operations,
//! and shaping their answers (status, `ETag`, `Location`, `Idempotency-Replayed`).
use crate::idempotency::{Idempotency, IdempotencyKey};
use crate::operations::Change;
use crate::store::Written;
use crate::{APP_ID, ApiError, App, Config, Runtime, chat, jobs, tasks};
use component_kit::auth::{authenticate_user, check_app_token};
use component_kit::health::health;
use component_kit::log::RequestLog;
use component_kit::request::{etag, if_match, json_body, path_segments, query_pairs};
use component_kit::{Request, Response, Routes, json_response, only};
use http::Method;
use todo_domain::series::OccurrenceRequest;
use todo_domain::{FieldError, ListQuery, Task, TaskDraft, TaskPatch};
use uuid::Uuid;

impl<R: Runtime> Routes<R> for Config {
    async fn route(
        app: &App<R>,
        request: &Request,
        log: &mut RequestLog,
    ) -> Result<Response, ApiError> {
        let method = request.method();
        match path_segments(request).as_slice() {
            ["api", "healthz"] => {
                log.route = "/api/healthz";
                health(method, APP_ID)
            }
            ["api", "openapi.json"] => {
                log.route = "/api/openapi.json";
                only(method, &[Method::GET], "GET")?;
                Ok(http::Response::builder()
                    .status(200)
                    .header("content-type", "application/json")
                    .body(crate::embedded::openapi_json())
                    .expect("valid response"))
            }
            ["api", "tasks"] => {
                log.route = "/api/tasks";
                only(method, &[Method::GET, Method::POST], "GET, POST")?;
                let user = authenticate(app, request, log)?;
                let tasks = tasks(app);
                if method == Method::POST {
                    let body = json_body(request)?;
                    let draft = TaskDraft::from_json(&body)?;
                    let idempotency =
                        idempotency_key(request)?.map(|key| Idempotency::new(key, &body));
                    let created = logged(log, tasks.create(&user, draft, idempotency).await?);
                    let mut response = task_response(201, &created.task);
                    if created.replayed {
                        response.headers_mut().insert(
                            "idempotency-replayed",
                            http::HeaderValue::from_static("true"),
                        );
                    }
                    Ok(response)
                } else {
                    let pairs = query_pairs(request);
                    let query = ListQuery::parse(
                        pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())),
                        app.runtime().now(),
                    )?;
                    let page = logged(log, tasks.list(&user, &query).await?);
                    Ok(json_response(200, &page))
                }
            }
            ["api", "tasks", id] => {
                log.route = "/api/tasks/{id}";
                only(
                    method,
                    &[Method::GET, Method::PATCH, Method::PUT, Method::DELETE],
                    "GET, PATCH, PUT, DELETE",
                )?;
                let user = authenticate(app, request, log)?;
                let id = parse_id(id)?;
                let tasks = tasks(app);
                let task = match *method {
                    Method::GET => tasks.get(&user, id).await?,
                    Method::DELETE => {
                        logged(log, tasks.delete(&user, id, if_match(request)?).await?);
                        return Ok(http::Response::builder()
                            .status(204)
                            .body(Vec::new())
                            .expect("valid response"));
                    }
                    Method::PATCH => {
                        let change = Change::Patch(TaskPatch::from_json(&json_body(request)?)?);
                        tasks.update(&user, id, change, if_match(request)?).await?
                    }
                    _ => {
                        let change = Change::Replace(TaskDraft::from_json(&json_body(request)?)?);
                        tasks.update(&user, id, change, if_match(request)?).await?
                    }
                };
                Ok(task_response(200, &logged(log, task)))
            }
            ["api", "tasks", id, action @ ("complete" | "reopen")] => {
                let complete = *action == "complete";
                log.route = if complete {
                    "/api/tasks/{id}/complete"
                } else {
                    "/api/tasks/{id}/reopen"
                };
                only(method, &[Method::POST], "POST")?;
                let user = authenticate(app, request, log)?;
                let id = parse_id(id)?;
                let expected = if_match(request)?;
                let tasks = tasks(app);
                let task = if complete {
                    tasks.complete(&user, id, expected).await?
                } else {
                    tasks.reopen(&user, id, expected).await?
                };
                Ok(task_response(200, &logged(log, task)))
            }
            ["api", "internal", "occurrences"] => {
                log.route = "/api/internal/occurrences";
                only(method, &[Method::POST], "POST")?;
                // Only Dapr (invocation from recurring-task-service, per dapr/config.yaml) calls this:
                // without a configured token nobody may.
                check_app_token(request, app.config.app_api_token.as_deref())?;
                let body = json_body(request)?;
                let occurrence: OccurrenceRequest = serde_json::from_value(body)
                    .map_err(|e| FieldError::general(format!("not an occurrence request: {e}")))?;
                log.user = Some(occurrence.user_id.clone());
                let created = logged(log, tasks(app).create_occurrence(&occurrence).await?);
                let status = if created.replayed { 200 } else { 201 };
                Ok(task_response(status, &created.task))
            }
            ["api", "chat"] => {
                log.route = "/api/chat";
                only(method, &[Method::POST], "POST")?;
                let user = authenticate(app, request, log)?;
                chat::post(app, &user, request, log).await
            }
            ["api", "chat", id] => {
                log.route = "/api/chat/{conversation_id}";
                only(method, &[Method::GET], "GET")?;
                let user = authenticate(app, request, log)?;
                chat::get(app, &user, id).await
            }
            ["job", name] => {
                log.route = "/job/{name}";
                only(method, &[Method::POST], "POST")?;
                jobs::trigger(app, name, request).await
            }
            _ => {
                log.route = "unmatched";
                Err(ApiError::NotFound)
            }
        }
    }
}

fn authenticate<R: Runtime>(
    app: &App<R>,
    request: &Request,
    log: &mut RequestLog,
) -> Result<String, ApiError> {
    authenticate_user(request, &app.config.jwt_secret, app.runtime().now(), log)
}

/// Record the events an operation published in the request log; answer what it answered.
fn logged<T>(log: &mut RequestLog, written: Written<T>) -> T {
    log.event_ids.extend(written.published);
    written.answer
}

/// Task ids are UUIDs; anything else cannot name a task.
fn parse_id(raw: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(raw).map_err(|_| ApiError::NotFound)
}

/// The `Idempotency-Key` header, when present.
pub(crate) fn idempotency_key(request: &Request) -> Result<Option<IdempotencyKey>, ApiError> {
    let Some(raw) = request.headers().get("idempotency-key") else {
        return Ok(None);
    };
    let key = raw.to_str().map_err(|_| {
        FieldError::new(
            "Idempotency-Key",
            "must be 1–255 visible ASCII characters other than |",
        )
    })?;
    Ok(Some(IdempotencyKey::parse(key)?))
}

fn task_response(status: u16, task: &Task) -> Response {
    let mut response = json_response(status, task);
    let headers = response.headers_mut();
    headers.insert("etag", etag(task.version).parse().expect("valid header"));
    if status == 201 {
        headers.insert(
            "location",
            format!("/api/tasks/{}", task.id)
                .parse()
                .expect("valid header"),
        );
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn idempotency_keys_come_from_the_header() {
        let request = |value: &[u8]| {
            http::Request::post("/api/tasks")
                .header(
                    "idempotency-key",
                    http::HeaderValue::from_bytes(value).unwrap(),
                )
                .body(Vec::new())
                .unwrap()
        };
        assert_eq!(
            idempotency_key(&request(b"k-1")).unwrap().unwrap().as_str(),
            "k-1"
        );
        assert_eq!(idempotency_key(&request(b"a|b")).unwrap_err().status(), 400);
        assert_eq!(
            idempotency_key(&request(&[0xC3, 0xA9]))
                .unwrap_err()
                .status(),
            400
        );
        let none = http::Request::get("/").body(Vec::new()).unwrap();
        assert!(idempotency_key(&none).unwrap().is_none());
    }
}
