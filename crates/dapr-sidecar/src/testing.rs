//! Fakes and helpers for tests that run a [`Sidecar`]: a sidecar on a [`ManualClock`], an app
//! channel that records every call and answers from a script ([`FakeApps`]), fresh data and
//! resources directories, terse requests and assertions on daprd's answers, and waits bounded
//! by real time. Behind the `testing` cargo feature; the sidecar's own tests enable it through a
//! dev-dependency on the crate itself, other crates can do the same:
//!
//! ```toml
//! [dev-dependencies]
//! dapr-sidecar = { workspace = true, features = ["testing"] }
//! ```
//!
//! Nothing here sleeps. Tests move the [`ManualClock`] for the sidecar's notion of "now" (TTLs,
//! job due times, message expiry), and tokio's paused time (`#[tokio::test(start_paused =
//! true)]`) for the delivery workers' back-offs and the job scheduler's ticks; they wait for
//! events ([`FakeApps::wait_until`]) with a real-time limit ([`HANG_LIMIT`]) that only turns a
//! hang into a failure.

pub mod crd;

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use http::{Request, Response};
use serde_json::Value;
use tokio::sync::watch;

use crate::{AppCallError, AppCallFuture, AppChannel, ManualClock, Sidecar, SidecarConfig};

/// The start of test time, 2026-01-01T00:00:00Z, as Unix seconds.
pub const START: i64 = 1_767_225_600;

/// How long (real time) a wait may take before it fails the test: long enough never to fail a
/// slow machine, short enough that a hang does not stall the run.
pub const HANG_LIMIT: Duration = Duration::from_secs(30);

/// [`START`] as an instant.
pub fn start_time() -> DateTime<Utc> {
    DateTime::from_timestamp(START, 0).expect("valid time")
}

/// A clock standing still at [`START`].
pub fn start_clock() -> ManualClock {
    ManualClock::fixed_at(start_time())
}

/// A default sidecar (store `statestore`, pub/sub `pubsub`, in memory) on a clock standing
/// still at [`START`].
pub fn sidecar() -> (Sidecar, ManualClock) {
    let clock = start_clock();
    let config = SidecarConfig {
        clock: Arc::new(clock.clone()),
        ..SidecarConfig::default()
    };
    (Sidecar::new(config), clock)
}

// ---- directories --------------------------------------------------------------------------

/// A fresh, empty directory (for a `data_dir`, a resources folder, a secrets file). It is not
/// removed, so a test can restart a sidecar on it: run by a cargo test binary
/// (`target/<profile>/deps/…`) it is under the target directory's `tmp/` (what Cargo calls
/// `CARGO_TARGET_TMPDIR`, cleared by `cargo clean`), else under the system temp dir.
pub fn data_dir() -> PathBuf {
    let base = target_tmp_dir().unwrap_or_else(std::env::temp_dir);
    let dir = base
        .join("dapr-sidecar")
        .join(uuid::Uuid::new_v4().to_string());
    std::fs::create_dir_all(&dir).expect("create temp dir");
    dir
}

fn target_tmp_dir() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let deps = exe.parent()?;
    if deps.file_name()? != "deps" {
        return None;
    }
    Some(deps.parent()?.parent()?.join("tmp"))
}

/// A fresh directory holding `files` (name, content): a resources folder.
pub fn resources_dir(files: &[(&str, &str)]) -> PathBuf {
    let dir = data_dir();
    for (name, content) in files {
        std::fs::write(dir.join(name), content).expect("write resource");
    }
    dir
}

// ---- requests and answers -----------------------------------------------------------------

pub fn request(method: &str, uri: &str, body: &str) -> Request<Bytes> {
    request_with(method, uri, &[], body.as_bytes())
}

pub fn request_with(
    method: &str,
    uri: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Request<Bytes> {
    let mut builder = Request::builder().method(method).uri(uri);
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    builder
        .body(Bytes::copy_from_slice(body))
        .expect("valid request")
}

/// Sends `method uri` with `body` to the sidecar's API as app `app_id`.
pub async fn send(
    sidecar: &Sidecar,
    app_id: &str,
    method: &str,
    uri: &str,
    body: &str,
) -> Response<Bytes> {
    sidecar.handle(app_id, request(method, uri, body)).await
}

pub fn text(response: &Response<Bytes>) -> &str {
    std::str::from_utf8(response.body()).expect("utf-8 body")
}

pub fn json(response: &Response<Bytes>) -> Value {
    serde_json::from_slice(response.body()).expect("JSON body")
}

pub fn header<'a>(response: &'a Response<Bytes>, name: &str) -> Option<&'a str> {
    response.headers().get(name).and_then(|v| v.to_str().ok())
}

/// Asserts a daprd JSON error answer: status and `errorCode`; returns the message.
pub fn assert_error(response: &Response<Bytes>, status: u16, code: &str) -> String {
    assert_eq!(
        response.status().as_u16(),
        status,
        "body: {}",
        text(response)
    );
    assert_eq!(
        response.headers()["content-type"],
        "application/json",
        "errors are JSON"
    );
    let body = json(response);
    assert_eq!(body["errorCode"], code, "body: {body}");
    body["message"].as_str().expect("message").to_owned()
}

// ---- waiting ------------------------------------------------------------------------------

/// Runs `future` to completion, or gives up after `limit` of real time (`None`). The limit is
/// kept by a thread, not a tokio timer, so it holds under paused time too, where tokio's clock
/// jumps ahead whenever the runtime is idle (a tokio timeout would fire at once there).
pub async fn within<F: Future>(limit: Duration, future: F) -> Option<F::Output> {
    let (done, done_rx) = std::sync::mpsc::channel::<()>();
    let (expired_tx, expired) = tokio::sync::oneshot::channel::<()>();
    std::thread::spawn(move || {
        if let Err(std::sync::mpsc::RecvTimeoutError::Timeout) = done_rx.recv_timeout(limit) {
            let _ = expired_tx.send(());
        }
    });
    let output = tokio::select! {
        biased;
        output = future => Some(output),
        _ = expired => None,
    };
    drop(done);
    output
}

// ---- the fake apps --------------------------------------------------------------------------

/// One call the sidecar made into an app.
#[derive(Debug, Clone)]
pub struct RecordedCall {
    pub app_id: String,
    pub method: String,
    /// Path and query, e.g. `/job/reminder?x=1`.
    pub uri: String,
    pub headers: http::HeaderMap,
    pub body: Bytes,
}

impl RecordedCall {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The path, without the query.
    pub fn path(&self) -> &str {
        self.uri.split_once('?').map_or(&self.uri, |(path, _)| path)
    }

    /// The body as JSON (a delivered CloudEvent, a job's data).
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("the body is JSON")
    }

    fn is_subscribe(&self) -> bool {
        self.path() == SUBSCRIBE
    }
}

/// What a fake app answers.
#[derive(Debug, Clone)]
pub enum Reply {
    /// This status, no body.
    Status(u16),
    Full {
        status: u16,
        headers: Vec<(String, String)>,
        body: Bytes,
    },
    /// Connection refused.
    Unreachable,
    /// Never answers.
    Hang,
}

impl Reply {
    /// This status with this body and no headers.
    pub fn body(status: u16, body: impl Into<Bytes>) -> Reply {
        Reply::Full {
            status,
            headers: Vec::new(),
            body: body.into(),
        }
    }
}

const SUBSCRIBE: &str = "/dapr/subscribe";

/// An app channel with fake apps behind it. It records every call; `GET /dapr/subscribe` gets
/// the app's [`FakeApps::subscribe_reply`] (else 404: no programmatic subscriptions, as a Spin
/// component without that route answers), every other call the first of: the app's script
/// ([`FakeApps::script`]), the shared script ([`FakeApps::reply_next`]), the app's default
/// ([`FakeApps::default_reply`]), the shared default ([`FakeApps::reply_always`]), 204. Apps
/// outside [`FakeApps::only`]'s list are unreachable.
#[derive(Debug)]
pub struct FakeApps {
    state: Mutex<Script>,
    /// The number of calls so far, for waits.
    calls_made: watch::Sender<usize>,
}

#[derive(Debug, Default)]
struct Script {
    calls: Vec<RecordedCall>,
    known: Option<Vec<String>>,
    per_app: HashMap<String, VecDeque<Reply>>,
    shared: VecDeque<Reply>,
    app_defaults: HashMap<String, Reply>,
    default: Option<Reply>,
    subscribe: HashMap<String, Reply>,
}

impl FakeApps {
    /// Every app id answers.
    pub fn new() -> Arc<Self> {
        Arc::new(FakeApps {
            state: Mutex::new(Script::default()),
            calls_made: watch::Sender::new(0),
        })
    }

    /// Only these app ids answer; calls to others fail as unreachable (and are recorded).
    pub fn only(apps: &[&str]) -> Arc<Self> {
        let channel = Self::new();
        channel.lock().known = Some(apps.iter().map(|a| (*a).to_owned()).collect());
        channel
    }

    fn lock(&self) -> MutexGuard<'_, Script> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// App `app_id` answers its next calls with `replies`, in order.
    pub fn script(&self, app_id: &str, replies: &[Reply]) {
        self.lock()
            .per_app
            .entry(app_id.to_owned())
            .or_default()
            .extend(replies.iter().cloned());
    }

    /// The next call to any app (without a script of its own) gets `reply`.
    pub fn reply_next(&self, reply: Reply) {
        self.lock().shared.push_back(reply);
    }

    /// App `app_id` answers `reply` once its script is used up.
    pub fn default_reply(&self, app_id: &str, reply: Reply) {
        self.lock().app_defaults.insert(app_id.to_owned(), reply);
    }

    /// Every app without a script or default of its own answers `reply`.
    pub fn reply_always(&self, reply: Reply) {
        self.lock().default = Some(reply);
    }

    /// App `app_id` answers `GET /dapr/subscribe` with `reply`.
    pub fn subscribe_reply(&self, app_id: &str, reply: Reply) {
        self.lock().subscribe.insert(app_id.to_owned(), reply);
    }

    /// Every call so far, in order.
    pub fn calls(&self) -> Vec<RecordedCall> {
        self.lock().calls.clone()
    }

    /// Every call but `GET /dapr/subscribe`: deliveries, job triggers, invocations.
    pub fn deliveries(&self) -> Vec<RecordedCall> {
        self.calls()
            .into_iter()
            .filter(|c| !c.is_subscribe())
            .collect()
    }

    /// [`FakeApps::deliveries`] to app `app_id`.
    pub fn deliveries_to(&self, app_id: &str) -> Vec<RecordedCall> {
        self.deliveries()
            .into_iter()
            .filter(|c| c.app_id == app_id)
            .collect()
    }

    /// The `GET /dapr/subscribe` calls.
    pub fn subscribe_calls(&self) -> Vec<RecordedCall> {
        self.calls()
            .into_iter()
            .filter(RecordedCall::is_subscribe)
            .collect()
    }

    /// Waits until `condition` holds for the calls made so far (checked again on every new
    /// call) and returns them; fails the test after [`HANG_LIMIT`] of real time.
    pub async fn wait_until(
        &self,
        what: &str,
        mut condition: impl FnMut(&[RecordedCall]) -> bool,
    ) -> Vec<RecordedCall> {
        let mut changes = self.calls_made.subscribe();
        let waited = within(HANG_LIMIT, async {
            loop {
                let calls = self.calls();
                if condition(&calls) {
                    return calls;
                }
                // The sender lives in `self`: `changed` cannot fail while we borrow it.
                let _ = changes.changed().await;
            }
        })
        .await;
        waited.unwrap_or_else(|| {
            panic!(
                "waited {HANG_LIMIT:?} for {what}; calls so far: {:#?}",
                self.calls()
            )
        })
    }

    /// Waits until at least `n` calls were made (see [`FakeApps::wait_until`]); returns them.
    pub async fn wait_for_calls(&self, n: usize) -> Vec<RecordedCall> {
        self.wait_until(&format!("{n} call(s)"), |calls| calls.len() >= n)
            .await
    }

    fn reply_to(&self, call: &RecordedCall) -> Reply {
        let mut script = self.lock();
        let known = script
            .known
            .as_ref()
            .is_none_or(|apps| apps.contains(&call.app_id));
        let reply = if !known {
            Reply::Unreachable
        } else if call.is_subscribe() {
            script
                .subscribe
                .get(&call.app_id)
                .cloned()
                .unwrap_or(Reply::Status(404))
        } else {
            let own = script
                .per_app
                .get_mut(&call.app_id)
                .and_then(VecDeque::pop_front);
            own.or_else(|| script.shared.pop_front())
                .or_else(|| script.app_defaults.get(&call.app_id).cloned())
                .or_else(|| script.default.clone())
                .unwrap_or(Reply::Status(204))
        };
        script.calls.push(call.clone());
        let count = script.calls.len();
        drop(script);
        self.calls_made.send_replace(count);
        reply
    }
}

impl AppChannel for FakeApps {
    fn call(&self, app_id: &str, request: Request<Bytes>) -> AppCallFuture<'_> {
        let (parts, body) = request.into_parts();
        let call = RecordedCall {
            app_id: app_id.to_owned(),
            method: parts.method.to_string(),
            uri: parts
                .uri
                .path_and_query()
                .map(ToString::to_string)
                .unwrap_or_default(),
            headers: parts.headers,
            body,
        };
        let reply = self.reply_to(&call);
        let app_id = call.app_id;
        Box::pin(async move {
            match reply {
                Reply::Unreachable => Err(AppCallError {
                    app_id,
                    message: "connection refused".to_owned(),
                }),
                Reply::Hang => std::future::pending().await,
                Reply::Status(status) => Ok(Response::builder()
                    .status(status)
                    .body(Bytes::new())
                    .expect("response")),
                Reply::Full {
                    status,
                    headers,
                    body,
                } => {
                    let mut builder = Response::builder().status(status);
                    for (name, value) in headers {
                        builder = builder.header(name, value);
                    }
                    Ok(builder.body(body).expect("response"))
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get(path: &str) -> Request<Bytes> {
        Request::get(path).body(Bytes::new()).expect("request")
    }

    async fn status(apps: &FakeApps, app_id: &str, path: &str) -> Result<u16, AppCallError> {
        apps.call(app_id, get(path))
            .await
            .map(|r| r.status().as_u16())
    }

    #[tokio::test]
    async fn replies_come_from_the_apps_script_then_the_shared_one_then_the_defaults() {
        let apps = FakeApps::new();
        apps.script("a", &[Reply::Status(500)]);
        apps.reply_next(Reply::Status(503));
        apps.default_reply("a", Reply::Status(202));
        apps.subscribe_reply("a", Reply::body(200, "[]"));
        assert_eq!(status(&apps, "a", "/x").await, Ok(500));
        assert_eq!(status(&apps, "a", SUBSCRIBE).await, Ok(200), "not scripted");
        assert_eq!(status(&apps, "b", SUBSCRIBE).await, Ok(404));
        assert_eq!(status(&apps, "a", "/x").await, Ok(503));
        assert_eq!(status(&apps, "a", "/x").await, Ok(202));
        assert_eq!(status(&apps, "b", "/x").await, Ok(204));
        apps.reply_always(Reply::Status(418));
        assert_eq!(status(&apps, "b", "/x?q=1").await, Ok(418));
        assert_eq!(
            status(&apps, "a", "/x").await,
            Ok(202),
            "its own default first"
        );
        assert_eq!(apps.calls().len(), 8);
        assert_eq!(apps.subscribe_calls().len(), 2);
        let to_b = apps.deliveries_to("b");
        assert_eq!(to_b.len(), 2);
        assert_eq!((to_b[1].uri.as_str(), to_b[1].path()), ("/x?q=1", "/x"));
    }

    #[tokio::test]
    async fn apps_outside_the_known_list_are_unreachable() {
        let apps = FakeApps::only(&["a"]);
        assert_eq!(status(&apps, "a", "/x").await, Ok(204));
        let err = status(&apps, "b", "/x").await.expect_err("unreachable");
        assert_eq!(err.app_id, "b");
        assert_eq!(apps.calls().len(), 2, "recorded anyway");
    }

    #[tokio::test(start_paused = true)]
    async fn a_wait_ends_on_the_call_it_waits_for_even_in_paused_time() {
        let apps = FakeApps::new();
        let caller = apps.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            let _ = caller.call("a", get("/late")).await;
        });
        let started = tokio::time::Instant::now();
        let calls = apps.wait_for_calls(1).await;
        assert_eq!(calls[0].uri, "/late");
        assert_eq!(started.elapsed(), Duration::from_secs(3600), "virtual time");
    }

    #[tokio::test]
    async fn within_gives_up_after_its_real_time_limit() {
        let never = std::future::pending::<()>();
        assert_eq!(within(Duration::ZERO, never).await, None);
        assert_eq!(within(HANG_LIMIT, async { 7 }).await, Some(7));
    }

    #[test]
    fn data_dirs_are_fresh_and_resources_dirs_hold_their_files() {
        let (a, b) = (data_dir(), data_dir());
        assert_ne!(a, b);
        assert!(a.is_dir() && std::fs::read_dir(&a).expect("read").next().is_none());
        let dir = resources_dir(&[("x.yaml", "kind: X\n")]);
        assert_eq!(
            std::fs::read_to_string(dir.join("x.yaml")).expect("file"),
            "kind: X\n"
        );
    }
}
