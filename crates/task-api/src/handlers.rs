//! Routing and the task endpoints.
use crate::error::ApiError;
use crate::log::RequestLog;
use crate::request::{etag, header, idempotency_key, if_match, json_body, query_pairs};
use crate::store::{
    BUCKET_SCHEMA_VERSION, Commit, IDEMPOTENCY_TTL_SECONDS, IdempotencyRecord, MAX_WRITE_ATTEMPTS,
    Store, backoff, bucket_of, idempotency_key as idempotency_state_key,
};
use crate::{App, Runtime};
use dapr_client::{StateItem, TransactionOp};
use http::Method;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use todo_domain::auth::{AuthError, authenticate};
use todo_domain::{ListQuery, Status, Task, TaskDraft, TaskEventType, TaskPatch, task_event};
use uuid::Uuid;

const OPENAPI: &str = include_str!("../../../api/openapi.json");

type Response = http::Response<Vec<u8>>;

pub async fn route<R: Runtime>(
    app: &App<R>,
    request: &http::Request<Vec<u8>>,
    log: &mut RequestLog,
) -> Result<Response, ApiError> {
    let path = request.uri().path().trim_end_matches('/');
    let segments: Vec<&str> = path.split('/').skip(1).collect();
    let method = request.method();
    match segments.as_slice() {
        ["api", "healthz"] => {
            log.route = "/api/healthz";
            only(method, &[Method::GET, Method::HEAD], "GET, HEAD")?;
            Ok(json_response(
                200,
                &json!({ "status": "ok", "app_id": "chat-api" }),
            ))
        }
        ["api", "openapi.json"] => {
            log.route = "/api/openapi.json";
            only(method, &[Method::GET], "GET")?;
            Ok(http::Response::builder()
                .status(200)
                .header("content-type", "application/json")
                .body(OPENAPI.as_bytes().to_vec())
                .expect("valid response"))
        }
        ["api", "tasks"] => {
            log.route = "/api/tasks";
            only(method, &[Method::GET, Method::POST], "GET, POST")?;
            let user = app.authenticate(request, log)?;
            if method == Method::POST {
                app.create(request, &user, log).await
            } else {
                app.list(request, &user, log).await
            }
        }
        ["api", "tasks", id] => {
            log.route = "/api/tasks/{id}";
            only(
                method,
                &[Method::GET, Method::PATCH, Method::PUT, Method::DELETE],
                "GET, PATCH, PUT, DELETE",
            )?;
            let user = app.authenticate(request, log)?;
            let id = parse_id(id)?;
            match *method {
                Method::GET => app.get(&user, id, log).await,
                Method::DELETE => app.delete(request, &user, id, log).await,
                Method::PATCH => {
                    let patch = TaskPatch::from_json(&json_body(request)?)?;
                    app.update(request, &user, id, Change::Patch(patch), log)
                        .await
                }
                _ => {
                    let draft = TaskDraft::from_json(&json_body(request)?)?;
                    app.update(request, &user, id, Change::Replace(draft), log)
                        .await
                }
            }
        }
        ["api", "tasks", id, action @ ("complete" | "reopen")] => {
            log.route = if *action == "complete" {
                "/api/tasks/{id}/complete"
            } else {
                "/api/tasks/{id}/reopen"
            };
            only(method, &[Method::POST], "POST")?;
            let user = app.authenticate(request, log)?;
            let id = parse_id(id)?;
            let status = if *action == "complete" {
                Status::Completed
            } else {
                Status::Pending
            };
            let patch = TaskPatch {
                status: Some(status),
                ..TaskPatch::default()
            };
            app.update(request, &user, id, Change::Patch(patch), log)
                .await
        }
        ["job", name] => {
            log.route = "/job/{name}";
            only(method, &[Method::POST], "POST")?;
            app.check_app_token(request)?;
            if *name == crate::sweep::SWEEP_JOB {
                let report = app.store().sweep(app.runtime().now()).await?;
                return Ok(json_response(
                    200,
                    &serde_json::to_value(&report).expect("serialisable"),
                ));
            }
            // An unknown job: 404 tells Dapr the trigger is done and not to retry.
            Err(ApiError::NotFound)
        }
        _ => {
            log.route = "unmatched";
            Err(ApiError::NotFound)
        }
    }
}

/// The change a write makes to an existing task.
enum Change {
    Patch(TaskPatch),
    Replace(TaskDraft),
}

impl<R: Runtime> App<R> {
    fn store(&self) -> Store<'_, R> {
        Store {
            dapr: &self.dapr,
            state_store: &self.config.state_store,
            pubsub: &self.config.pubsub,
        }
    }

    fn authenticate(
        &self,
        request: &http::Request<Vec<u8>>,
        log: &mut RequestLog,
    ) -> Result<String, ApiError> {
        let now = self.runtime().now().timestamp().max(0) as u64;
        match authenticate(
            header(request, "authorization"),
            &self.config.jwt_secret,
            now,
        ) {
            Ok(user) => {
                log.user = Some(user.clone());
                Ok(user)
            }
            Err(AuthError::NoSecret) => Err(ApiError::Internal(
                "the jwt_secret variable is empty".to_owned(),
            )),
            Err(error) => Err(ApiError::Unauthorized(error.to_string())),
        }
    }

    fn check_app_token(&self, request: &http::Request<Vec<u8>>) -> Result<(), ApiError> {
        match self.config.app_api_token.as_deref() {
            Some(token)
                if !token.is_empty() && header(request, "dapr-api-token") != Some(token) =>
            {
                Err(ApiError::Unauthorized(
                    "missing or wrong dapr-api-token".to_owned(),
                ))
            }
            _ => Ok(()),
        }
    }

    async fn create(
        &self,
        request: &http::Request<Vec<u8>>,
        user: &str,
        log: &mut RequestLog,
    ) -> Result<Response, ApiError> {
        let body = json_body(request)?;
        let draft = TaskDraft::from_json(&body)?;
        let store = self.store();
        let idempotency = match idempotency_key(request)? {
            Some(key) => {
                let state_key = idempotency_state_key(user, &key);
                let fingerprint = fingerprint(&body);
                if let Some(record) = store.read_idempotency(&state_key).await? {
                    return replay(&record, &fingerprint);
                }
                Some((state_key, fingerprint))
            }
            None => None,
        };
        for attempt in 0..MAX_WRITE_ATTEMPTS {
            let now = self.runtime().now();
            let task = Task::create(Uuid::new_v4(), user, draft.clone(), now);
            let bucket = bucket_of(task.id);
            let mut loaded = store.load_bucket(user, bucket).await?;
            let event = task_event(
                TaskEventType::Created,
                Uuid::new_v4(),
                now,
                &task,
                &task.set_fields_list(),
            );
            loaded.bucket.tasks.insert(task.id, task.clone());
            loaded.bucket.outbox.push(event.clone());
            let task_json = serde_json::to_value(&task).expect("serialisable");
            let mut extra = Vec::new();
            if let Some((state_key, fingerprint)) = &idempotency {
                let record = IdempotencyRecord {
                    schema_version: BUCKET_SCHEMA_VERSION,
                    fingerprint: fingerprint.clone(),
                    status: 201,
                    body: task_json.clone(),
                    created_at: now,
                };
                let item = StateItem::new(
                    state_key.clone(),
                    serde_json::to_value(&record).expect("serialisable"),
                )
                .expecting(None)
                .with_ttl_seconds(IDEMPOTENCY_TTL_SECONDS);
                extra.push(TransactionOp::Upsert(item));
            }
            match store
                .commit_change(user, bucket, &loaded, &event.id, extra, now)
                .await?
            {
                Commit::Done { published } => {
                    log.event_ids.extend(published);
                    return Ok(task_response(201, &task));
                }
                Commit::LostRace => {
                    // A concurrent retry of the same create may have won: answer as it did.
                    if let Some((state_key, fingerprint)) = &idempotency
                        && let Some(record) = store.read_idempotency(state_key).await?
                    {
                        return replay(&record, fingerprint);
                    }
                    backoff(self.runtime(), attempt).await;
                }
            }
        }
        Err(ApiError::Conflict(
            "too many concurrent writes; retry the request".to_owned(),
        ))
    }

    async fn get(&self, user: &str, id: Uuid, log: &mut RequestLog) -> Result<Response, ApiError> {
        let store = self.store();
        let bucket = bucket_of(id);
        let loaded = store.load_bucket(user, bucket).await?;
        if !loaded.bucket.outbox.is_empty() {
            log.event_ids.extend(
                store
                    .publish_and_clear(user, bucket, &loaded.bucket.outbox)
                    .await,
            );
        }
        let task = loaded.bucket.tasks.get(&id).ok_or(ApiError::NotFound)?;
        Ok(task_response(200, task))
    }

    async fn list(
        &self,
        request: &http::Request<Vec<u8>>,
        user: &str,
        log: &mut RequestLog,
    ) -> Result<Response, ApiError> {
        let pairs = query_pairs(request);
        let query = ListQuery::parse(
            pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())),
            self.runtime().now(),
        )?;
        let store = self.store();
        let buckets = store.load_all(user).await?;
        // Listing reads every bucket anyway, so it also sweeps outboxes left by failed publishes.
        for (index, loaded) in buckets.iter().enumerate() {
            if !loaded.bucket.outbox.is_empty() {
                log.event_ids.extend(
                    store
                        .publish_and_clear(user, index as u8, &loaded.bucket.outbox)
                        .await,
                );
            }
        }
        let page = query.run(buckets.iter().flat_map(|b| b.bucket.tasks.values()));
        Ok(json_response(
            200,
            &serde_json::to_value(&page).expect("serialisable"),
        ))
    }

    async fn update(
        &self,
        request: &http::Request<Vec<u8>>,
        user: &str,
        id: Uuid,
        change: Change,
        log: &mut RequestLog,
    ) -> Result<Response, ApiError> {
        let expected_version = if_match(request)?;
        let store = self.store();
        let bucket = bucket_of(id);
        for attempt in 0..MAX_WRITE_ATTEMPTS {
            let mut loaded = store.load_bucket(user, bucket).await?;
            let current = loaded.bucket.tasks.get(&id).ok_or(ApiError::NotFound)?;
            if expected_version.is_some_and(|v| v != current.version) {
                return Err(ApiError::PreconditionFailed);
            }
            let draft = match &change {
                Change::Patch(patch) => patch.apply_to(current)?,
                Change::Replace(draft) => draft.clone(),
            };
            let now = self.runtime().now();
            let mut updated = current.clone();
            let changed = updated.apply(draft, now);
            if changed.is_empty() {
                return Ok(task_response(200, current));
            }
            let event_type = TaskEventType::for_update(current, &updated);
            let event = task_event(event_type, Uuid::new_v4(), now, &updated, &changed);
            loaded.bucket.tasks.insert(id, updated.clone());
            loaded.bucket.outbox.push(event.clone());
            match store
                .commit_change(user, bucket, &loaded, &event.id, Vec::new(), now)
                .await?
            {
                Commit::Done { published } => {
                    log.event_ids.extend(published);
                    return Ok(task_response(200, &updated));
                }
                Commit::LostRace => backoff(self.runtime(), attempt).await,
            }
        }
        Err(ApiError::Conflict(
            "too many concurrent writes to this task; retry the request".to_owned(),
        ))
    }

    async fn delete(
        &self,
        request: &http::Request<Vec<u8>>,
        user: &str,
        id: Uuid,
        log: &mut RequestLog,
    ) -> Result<Response, ApiError> {
        let expected_version = if_match(request)?;
        let store = self.store();
        let bucket = bucket_of(id);
        for attempt in 0..MAX_WRITE_ATTEMPTS {
            let mut loaded = store.load_bucket(user, bucket).await?;
            let current = loaded.bucket.tasks.remove(&id).ok_or(ApiError::NotFound)?;
            if expected_version.is_some_and(|v| v != current.version) {
                return Err(ApiError::PreconditionFailed);
            }
            let now = self.runtime().now();
            let event = task_event(TaskEventType::Deleted, Uuid::new_v4(), now, &current, &[]);
            loaded.bucket.outbox.push(event.clone());
            match store
                .commit_change(user, bucket, &loaded, &event.id, Vec::new(), now)
                .await?
            {
                Commit::Done { published } => {
                    log.event_ids.extend(published);
                    return Ok(http::Response::builder()
                        .status(204)
                        .body(Vec::new())
                        .expect("valid response"));
                }
                Commit::LostRace => backoff(self.runtime(), attempt).await,
            }
        }
        Err(ApiError::Conflict(
            "too many concurrent writes to this task; retry the request".to_owned(),
        ))
    }
}

fn only(method: &Method, allowed: &[Method], allow: &'static str) -> Result<(), ApiError> {
    if allowed.contains(method) {
        Ok(())
    } else {
        Err(ApiError::MethodNotAllowed { allow })
    }
}

/// Task ids are UUIDs; anything else cannot name a task.
fn parse_id(raw: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(raw).map_err(|_| ApiError::NotFound)
}

/// A stable digest of a request body: serde_json's maps are ordered, so equal JSON hashes equal.
fn fingerprint(body: &Value) -> String {
    let digest = Sha256::digest(body.to_string().as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

fn replay(record: &IdempotencyRecord, fingerprint: &str) -> Result<Response, ApiError> {
    if record.fingerprint != fingerprint {
        return Err(ApiError::IdempotencyKeyReused);
    }
    let task: Task = serde_json::from_value(record.body.clone())
        .map_err(|e| ApiError::Internal(format!("idempotency record holds no task: {e}")))?;
    let mut response = task_response(record.status, &task);
    response.headers_mut().insert(
        "idempotency-replayed",
        http::HeaderValue::from_static("true"),
    );
    Ok(response)
}

fn json_response(status: u16, body: &Value) -> Response {
    http::Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(serde_json::to_vec(body).expect("serialisable"))
        .expect("valid response")
}

fn task_response(status: u16, task: &Task) -> Response {
    let mut response = json_response(status, &serde_json::to_value(task).expect("serialisable"));
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
