//! A typed client for the Dapr HTTP API, independent of how requests are sent: the Spin component
//! sends them with `spin_sdk::http::send`, native tests and benchmarks hand them to the embedded
//! sidecar in process. Status codes are read as daprd answers them (see
//! docs/contracts.md and the Dapr HTTP contract).
pub mod cloudevent;
pub mod delivery;

pub use cloudevent::{CLOUDEVENTS_CONTENT_TYPE, CloudEvent};
pub use delivery::DeliveryStatus;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::future::Future;

/// Sends one HTTP request to the sidecar.
pub trait Transport {
    fn send(
        &self,
        request: http::Request<Vec<u8>>,
    ) -> impl Future<Output = Result<http::Response<Vec<u8>>, TransportError>>;
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("could not reach the Dapr sidecar: {0}")]
pub struct TransportError(pub String);

/// What went wrong talking to Dapr.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DaprError {
    /// A save or delete carried an ETag that no longer matches (409).
    #[error("etag mismatch: the state changed since it was read")]
    EtagMismatch,
    /// A transaction failed as a whole; on an ETag mismatch inside it daprd answers 500
    /// `ERR_STATE_TRANSACTION`, indistinguishable from other causes, so callers retry a bounded
    /// number of times.
    #[error("state transaction failed: {0}")]
    TransactionFailed(String),
    #[error("dapr answered {status} {code}: {message}")]
    Api {
        status: u16,
        code: String,
        message: String,
    },
    #[error(transparent)]
    Transport(#[from] TransportError),
    #[error("unexpected answer from dapr: {0}")]
    Decode(String),
}

impl DaprError {
    /// Worth retrying after re-reading state: a lost optimistic-concurrency race.
    pub fn is_conflict(&self) -> bool {
        matches!(self, Self::EtagMismatch | Self::TransactionFailed(_))
    }
}

/// A value read from a state store with its ETag.
#[derive(Debug, Clone, PartialEq)]
pub struct StateEntry<T = Value> {
    pub value: T,
    pub etag: Option<String>,
}

/// One item of a save request or of a transaction's upsert. `V` is how the value is held: a
/// `Value`, or anything else that serialises as the JSON to store (e.g. a document serialised
/// once into a `Box<RawValue>`, not first built as a `Value` tree).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct StateItem<V = Value> {
    pub key: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<V>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub etag: Option<String>,
    #[serde(skip_serializing_if = "serde_json::Map::is_empty")]
    pub metadata: serde_json::Map<String, Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub options: Option<StateOptions>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StateOptions {
    pub concurrency: Concurrency,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Concurrency {
    FirstWrite,
    LastWrite,
}

impl<V> StateItem<V> {
    pub fn new(key: impl Into<String>, value: V) -> Self {
        Self {
            key: key.into(),
            value: Some(value),
            etag: None,
            metadata: serde_json::Map::new(),
            options: None,
        }
    }

    /// Write only if the stored ETag still matches; `None` means the key must not exist yet.
    pub fn expecting(mut self, etag: Option<String>) -> Self {
        match etag {
            Some(etag) => self.etag = Some(etag),
            None => {
                self.options = Some(StateOptions {
                    concurrency: Concurrency::FirstWrite,
                })
            }
        }
        self
    }

    pub fn with_ttl_seconds(mut self, seconds: u64) -> Self {
        self.metadata.insert(
            "ttlInSeconds".to_owned(),
            Value::String(seconds.to_string()),
        );
        self
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "operation", content = "request", rename_all = "lowercase")]
pub enum TransactionOp<V = Value> {
    Upsert(StateItem<V>),
    Delete(StateItem<V>),
}

/// One key of a bulk get; `data` is parsed straight into `T` (no intermediate `Value`), and is
/// `None` for a missing key.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct BulkItem<T = Value> {
    pub key: String,
    #[serde(default = "Option::default")]
    pub data: Option<T>,
    #[serde(default)]
    pub etag: Option<String>,
}

#[derive(Deserialize)]
struct ErrorBody {
    #[serde(rename = "errorCode", default)]
    error_code: String,
    #[serde(default)]
    message: String,
}

pub struct DaprClient<T> {
    base_url: String,
    transport: T,
}

impl<T: Transport> DaprClient<T> {
    /// `base_url` like `http://127.0.0.1:3500`.
    pub fn new(base_url: impl Into<String>, transport: T) -> Self {
        let mut base_url = base_url.into();
        while base_url.ends_with('/') {
            base_url.pop();
        }
        Self {
            base_url,
            transport,
        }
    }

    pub fn transport(&self) -> &T {
        &self.transport
    }

    /// `Ok(None)` when the key does not exist (daprd answers 204).
    /// Read one key, parsing its value straight into `T`.
    pub async fn get_state<V: DeserializeOwned>(
        &self,
        store: &str,
        key: &str,
    ) -> Result<Option<StateEntry<V>>, DaprError> {
        let url = format!(
            "{}/v1.0/state/{}/{}",
            self.base_url,
            encode(store),
            encode(key)
        );
        let response = self.send(http::Method::GET, &url, None, Vec::new()).await?;
        match response.status().as_u16() {
            204 => Ok(None),
            200 if response.body().is_empty() => Ok(None),
            200 => {
                let etag = header(&response, "etag");
                let value = serde_json::from_slice(response.body()).map_err(|e| {
                    DaprError::Decode(format!("state value of {key} does not parse: {e}"))
                })?;
                Ok(Some(StateEntry { value, etag }))
            }
            _ => Err(api_error(&response)),
        }
    }

    /// Read many keys in one call; missing keys come back without `data`.
    pub async fn bulk_get<V: DeserializeOwned>(
        &self,
        store: &str,
        keys: &[String],
    ) -> Result<Vec<BulkItem<V>>, DaprError> {
        let url = format!("{}/v1.0/state/{}/bulk", self.base_url, encode(store));
        let body = serde_json::to_vec(&serde_json::json!({ "keys": keys, "parallelism": 16 }))
            .expect("serialisable");
        let response = self
            .send(http::Method::POST, &url, Some("application/json"), body)
            .await?;
        if response.status() != http::StatusCode::OK {
            return Err(api_error(&response));
        }
        serde_json::from_slice(response.body())
            .map_err(|e| DaprError::Decode(format!("bulk get: {e}")))
    }

    pub async fn save_state(&self, store: &str, items: &[StateItem]) -> Result<(), DaprError> {
        let url = format!("{}/v1.0/state/{}", self.base_url, encode(store));
        self.post_json(&url, &items).await
    }

    /// All operations commit together or none does.
    pub async fn transact<V: Serialize>(
        &self,
        store: &str,
        operations: &[TransactionOp<V>],
    ) -> Result<(), DaprError> {
        #[derive(Serialize)]
        struct Transaction<'a, V> {
            operations: &'a [TransactionOp<V>],
        }
        let url = format!("{}/v1.0/state/{}/transaction", self.base_url, encode(store));
        // Serialised straight to bytes: no `Value` copy of the operations on the way.
        self.post_json(&url, &Transaction { operations }).await
    }

    pub async fn delete_state(
        &self,
        store: &str,
        key: &str,
        etag: Option<&str>,
    ) -> Result<(), DaprError> {
        let url = format!(
            "{}/v1.0/state/{}/{}",
            self.base_url,
            encode(store),
            encode(key)
        );
        let mut request = http::Request::builder()
            .method(http::Method::DELETE)
            .uri(url);
        if let Some(etag) = etag {
            request = request.header("if-match", etag);
        }
        let request = request
            .body(Vec::new())
            .map_err(|e| DaprError::Decode(e.to_string()))?;
        let response = self.transport.send(request).await?;
        expect_no_content(&response)
    }

    /// Publish a CloudEvent that we built ourselves, so Dapr keeps its `id`, `type` and `source`.
    pub async fn publish_cloudevent(
        &self,
        pubsub: &str,
        topic: &str,
        event: &CloudEvent,
    ) -> Result<(), DaprError> {
        let url = format!(
            "{}/v1.0/publish/{}/{}",
            self.base_url,
            encode(pubsub),
            encode_path(topic)
        );
        let body = serde_json::to_vec(event).expect("serialisable");
        let response = self
            .send(
                http::Method::POST,
                &url,
                Some(CLOUDEVENTS_CONTENT_TYPE),
                body,
            )
            .await?;
        expect_no_content(&response)
    }

    /// Service invocation: `{method} /v1.0/invoke/{app_id}/method/{path}` (`path` may hold `/`
    /// and a `?query`, forwarded as is). The callee's answer comes back whatever its status —
    /// a 4xx of the callee is its answer, not a failure of the call. Dapr's own refusals are
    /// errors: `403` (access control) as [`DaprError::Api`], and `500 ERR_DIRECT_INVOKE` (the
    /// callee unreachable) too, so callers can tell "the app said no" from "nobody answered".
    pub async fn invoke(
        &self,
        app_id: &str,
        method: http::Method,
        path: &str,
        json_body: Option<&Value>,
    ) -> Result<http::Response<Vec<u8>>, DaprError> {
        let (path, query) = match path.split_once('?') {
            Some((path, query)) => (path, Some(query)),
            None => (path, None),
        };
        let mut url = format!(
            "{}/v1.0/invoke/{}/method/{}",
            self.base_url,
            encode(app_id),
            encode_path(path.trim_start_matches('/'))
        );
        if let Some(query) = query {
            url.push('?');
            url.push_str(query);
        }
        let (content_type, body) = match json_body {
            Some(body) => (
                Some("application/json"),
                serde_json::to_vec(body).expect("serialisable"),
            ),
            None => (None, Vec::new()),
        };
        let response = self.send(method, &url, content_type, body).await?;
        if is_dapr_refusal(&response) {
            return Err(api_error(&response));
        }
        Ok(response)
    }

    /// Schedule a Dapr job (alpha API). An existing job with `"overwrite": false` answers 409,
    /// which here means "already scheduled" and is not an error.
    pub async fn schedule_job(&self, name: &str, job: &Value) -> Result<(), DaprError> {
        let url = format!("{}/v1.0-alpha1/jobs/{}", self.base_url, encode(name));
        let body = serde_json::to_vec(job).expect("serialisable");
        let response = self
            .send(http::Method::POST, &url, Some("application/json"), body)
            .await?;
        if response.status() == http::StatusCode::CONFLICT {
            return Ok(());
        }
        expect_no_content(&response)
    }

    /// Read a job (alpha API): `Ok(None)` when there is no such job. daprd answers a missing
    /// job with `500 DAPR_SCHEDULER_GET_JOB` ("… NotFound desc = job not found …"), not 404
    /// (the Dapr docs say 404; both are read as "missing").
    pub async fn get_job(&self, name: &str) -> Result<Option<Value>, DaprError> {
        let url = format!("{}/v1.0-alpha1/jobs/{}", self.base_url, encode(name));
        let response = self.send(http::Method::GET, &url, None, Vec::new()).await?;
        match response.status().as_u16() {
            200 => serde_json::from_slice(response.body())
                .map(Some)
                .map_err(|e| DaprError::Decode(format!("job {name}: {e}"))),
            404 => Ok(None),
            _ => match api_error(&response) {
                DaprError::Api { message, .. }
                    if message.to_ascii_lowercase().contains("not found") =>
                {
                    Ok(None)
                }
                error => Err(error),
            },
        }
    }

    /// Delete a job (alpha API); deleting a job that does not exist succeeds (daprd: 204).
    pub async fn delete_job(&self, name: &str) -> Result<(), DaprError> {
        let url = format!("{}/v1.0-alpha1/jobs/{}", self.base_url, encode(name));
        let response = self
            .send(http::Method::DELETE, &url, None, Vec::new())
            .await?;
        expect_no_content(&response)
    }

    /// POST a JSON body; any 2xx is success.
    async fn post_json(&self, url: &str, body: &impl Serialize) -> Result<(), DaprError> {
        let body = serde_json::to_vec(body).expect("serialisable");
        let response = self
            .send(http::Method::POST, url, Some("application/json"), body)
            .await?;
        expect_no_content(&response)
    }

    async fn send(
        &self,
        method: http::Method,
        url: &str,
        content_type: Option<&str>,
        body: Vec<u8>,
    ) -> Result<http::Response<Vec<u8>>, DaprError> {
        let mut request = http::Request::builder().method(method).uri(url);
        if let Some(content_type) = content_type {
            request = request.header(http::header::CONTENT_TYPE, content_type);
        }
        let request = request
            .body(body)
            .map_err(|e| DaprError::Decode(format!("bad request {url}: {e}")))?;
        Ok(self.transport.send(request).await?)
    }
}

fn header(response: &http::Response<Vec<u8>>, name: &str) -> Option<String> {
    response
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

fn expect_no_content(response: &http::Response<Vec<u8>>) -> Result<(), DaprError> {
    if response.status().is_success() {
        Ok(())
    } else {
        Err(api_error(response))
    }
}

/// Whether an invocation's answer came from daprd itself (not from the callee): access control
/// (`403 ERR_PERMISSION_DENIED`) or a failed call (`500 ERR_DIRECT_INVOKE`), both with daprd's
/// JSON error body.
fn is_dapr_refusal(response: &http::Response<Vec<u8>>) -> bool {
    let status = response.status().as_u16();
    if status != 403 && status != 500 {
        return false;
    }
    serde_json::from_slice::<ErrorBody>(response.body()).is_ok_and(|body| {
        matches!(
            body.error_code.as_str(),
            "ERR_DIRECT_INVOKE" | "ERR_PERMISSION_DENIED"
        )
    })
}

/// Map a daprd error answer to a `DaprError`.
fn api_error(response: &http::Response<Vec<u8>>) -> DaprError {
    let status = response.status().as_u16();
    let body: ErrorBody = serde_json::from_slice(response.body()).unwrap_or(ErrorBody {
        error_code: String::new(),
        message: String::from_utf8_lossy(response.body()).into_owned(),
    });
    match (status, body.error_code.as_str()) {
        (409, _) => DaprError::EtagMismatch,
        (500, "ERR_STATE_TRANSACTION") => DaprError::TransactionFailed(body.message),
        _ => DaprError::Api {
            status,
            code: body.error_code,
            message: body.message,
        },
    }
}

/// Percent-encode one path segment.
fn encode(segment: &str) -> String {
    let mut out = String::with_capacity(segment.len());
    for byte in segment.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b':' => {
                out.push(byte as char)
            }
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

/// Percent-encode a path that may itself contain `/` (topics may).
fn encode_path(path: &str) -> String {
    path.split('/').map(encode).collect::<Vec<_>>().join("/")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;

    /// Answers every request with a fixed response and remembers the request.
    struct Canned {
        status: u16,
        body: &'static str,
        seen: RefCell<Vec<http::Request<Vec<u8>>>>,
    }

    impl Transport for Canned {
        async fn send(
            &self,
            request: http::Request<Vec<u8>>,
        ) -> Result<http::Response<Vec<u8>>, TransportError> {
            self.seen.borrow_mut().push(request);
            Ok(http::Response::builder()
                .status(self.status)
                .header("etag", "7")
                .body(self.body.as_bytes().to_vec())
                .unwrap())
        }
    }

    fn client(status: u16, body: &'static str) -> DaprClient<Canned> {
        DaprClient::new(
            "http://127.0.0.1:3500/",
            Canned {
                status,
                body,
                seen: RefCell::new(Vec::new()),
            },
        )
    }

    fn block_on<F: Future>(future: F) -> F::Output {
        // The canned transport never suspends, so one poll completes the future.
        let mut future = std::pin::pin!(future);
        let waker = std::task::Waker::noop();
        match future
            .as_mut()
            .poll(&mut std::task::Context::from_waker(waker))
        {
            std::task::Poll::Ready(output) => output,
            std::task::Poll::Pending => panic!("canned transport suspended"),
        }
    }

    #[test]
    fn a_missing_key_is_none_and_a_present_one_carries_its_etag() {
        assert_eq!(
            block_on(client(204, "").get_state::<Value>("s", "k")).unwrap(),
            None
        );
        let entry = block_on(client(200, r#"{"a":1}"#).get_state::<Value>("s", "k"))
            .unwrap()
            .unwrap();
        assert_eq!(entry.value, serde_json::json!({"a": 1}));
        assert_eq!(entry.etag.as_deref(), Some("7"));
    }

    #[test]
    fn conflicts_are_recognised() {
        let err = block_on(
            client(409, r#"{"errorCode":"ERR_STATE_SAVE","message":"etag"}"#).save_state("s", &[]),
        )
        .unwrap_err();
        assert_eq!(err, DaprError::EtagMismatch);
        let err = block_on(
            client(
                500,
                r#"{"errorCode":"ERR_STATE_TRANSACTION","message":"x"}"#,
            )
            .transact::<Value>("s", &[]),
        )
        .unwrap_err();
        assert!(err.is_conflict());
        let err = block_on(
            client(
                500,
                r#"{"errorCode":"ERR_PUBSUB_PUBLISH_MESSAGE","message":"down"}"#,
            )
            .publish_cloudevent("p", "t", &CloudEvent::new("1", "s", "t", Value::Null)),
        )
        .unwrap_err();
        assert!(!err.is_conflict());
        assert!(matches!(err, DaprError::Api { status: 500, .. }));
    }

    #[test]
    fn requests_follow_the_dapr_http_api() {
        let c = client(204, "");
        let event = CloudEvent::new("1", "chat-api", "task.created", serde_json::json!({}));
        block_on(c.publish_cloudevent("pubsub", "task-events", &event)).unwrap();
        let item = StateItem::new("k", serde_json::json!(1))
            .expecting(None)
            .with_ttl_seconds(60);
        block_on(c.transact("statestore", &[TransactionOp::Upsert(item)])).unwrap();
        block_on(c.delete_state("statestore", "a b", Some("3"))).unwrap();
        let seen = c.transport().seen.borrow();
        assert_eq!(
            seen[0].uri(),
            "http://127.0.0.1:3500/v1.0/publish/pubsub/task-events"
        );
        assert_eq!(
            seen[0].headers()["content-type"],
            "application/cloudevents+json"
        );
        assert_eq!(
            seen[1].uri(),
            "http://127.0.0.1:3500/v1.0/state/statestore/transaction"
        );
        let body: Value = serde_json::from_slice(seen[1].body()).unwrap();
        assert_eq!(
            body,
            serde_json::json!({"operations": [{"operation": "upsert", "request": {
                "key": "k", "value": 1, "metadata": {"ttlInSeconds": "60"},
                "options": {"concurrency": "first-write"}}}]})
        );
        assert_eq!(
            seen[2].uri(),
            "http://127.0.0.1:3500/v1.0/state/statestore/a%20b"
        );
        assert_eq!(seen[2].headers()["if-match"], "3");
    }

    #[test]
    fn jobs_are_read_and_deleted_by_name_and_a_missing_job_is_none() {
        let c = client(
            200,
            r#"{"name":"reminder-1","dueTime":"2026-03-01T09:00:00Z","data":{"@type":"x","value":{"a":1}}}"#,
        );
        let job = block_on(c.get_job("reminder-1")).unwrap().unwrap();
        assert_eq!(job["dueTime"], "2026-03-01T09:00:00Z");
        assert_eq!(
            c.transport().seen.borrow()[0].uri(),
            "http://127.0.0.1:3500/v1.0-alpha1/jobs/reminder-1"
        );
        let missing = r#"{"errorCode":"DAPR_SCHEDULER_GET_JOB","message":"failed to get job due to: rpc error: code = NotFound desc = job not found: x"}"#;
        assert_eq!(block_on(client(500, missing).get_job("x")).unwrap(), None);
        assert_eq!(block_on(client(404, "").get_job("x")).unwrap(), None);
        // daprd 1.14: another error code, and the scheduler's error not yet a typed NotFound.
        let missing_1_14 = r#"{"errorCode":"SCHEDULER_GET_JOB","message":"failed to get job due to: rpc error: code = Unknown desc = job not found: x"}"#;
        assert_eq!(
            block_on(client(500, missing_1_14).get_job("x")).unwrap(),
            None
        );
        let down = r#"{"errorCode":"DAPR_SCHEDULER_GET_JOB","message":"scheduler unavailable"}"#;
        assert!(block_on(client(500, down).get_job("x")).is_err());
        let c = client(204, "");
        block_on(c.delete_job("a b")).unwrap();
        let seen = c.transport().seen.borrow();
        assert_eq!(seen[0].method(), http::Method::DELETE);
        assert_eq!(
            seen[0].uri(),
            "http://127.0.0.1:3500/v1.0-alpha1/jobs/a%20b"
        );
    }

    #[test]
    fn invocation_addresses_the_callee_and_passes_its_answer_through() {
        let c = client(404, r#"{"error":{"code":"not_found"}}"#);
        let body = serde_json::json!({"a": 1});
        let response = block_on(c.invoke(
            "chat-api",
            http::Method::POST,
            "/api/internal/occurrences/x y?dry=1",
            Some(&body),
        ))
        .unwrap();
        // The callee's own 404 is an answer, not a failure.
        assert_eq!(response.status(), 404);
        let seen = c.transport().seen.borrow();
        assert_eq!(
            seen[0].uri(),
            "http://127.0.0.1:3500/v1.0/invoke/chat-api/method/api/internal/occurrences/x%20y?dry=1"
        );
        assert_eq!(seen[0].method(), http::Method::POST);
        assert_eq!(seen[0].headers()["content-type"], "application/json");
        assert_eq!(seen[0].body(), br#"{"a":1}"#);
    }

    #[test]
    fn invocation_refused_or_failed_by_dapr_is_an_error() {
        for (status, code) in [(403, "ERR_PERMISSION_DENIED"), (500, "ERR_DIRECT_INVOKE")] {
            let body: &'static str = if status == 403 {
                r#"{"errorCode":"ERR_PERMISSION_DENIED","message":"denied"}"#
            } else {
                r#"{"errorCode":"ERR_DIRECT_INVOKE","message":"down"}"#
            };
            let err = block_on(client(status, body).invoke("a", http::Method::GET, "x", None))
                .unwrap_err();
            assert_eq!(
                err,
                DaprError::Api {
                    status,
                    code: code.to_owned(),
                    message: if status == 403 { "denied" } else { "down" }.to_owned()
                }
            );
        }
        // A callee's own 500 without daprd's error code is the callee's answer.
        let response =
            block_on(client(500, "boom").invoke("a", http::Method::GET, "x", None)).unwrap();
        assert_eq!(response.status(), 500);
    }
}
