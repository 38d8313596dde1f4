//! Fakes for the tests of jobs, invocation, secrets and persistence: a clock tests move by
//! hand, an app channel that records every call and answers from a script, and throwaway data
//! directories.
#![allow(dead_code)]

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration as StdDuration;

use bytes::Bytes;
use chrono::{DateTime, Duration, TimeZone, Utc};
use dapr_sidecar::{AppCallError, AppCallFuture, AppChannel, Clock};
use http::{Request, Response};

/// 2026-01-01T00:00:00Z.
pub const START: i64 = 1_767_225_600;

pub fn start_time() -> DateTime<Utc> {
    Utc.timestamp_opt(START, 0).single().expect("valid time")
}

/// A clock that only moves when told to.
#[derive(Debug)]
pub struct TestClock(Mutex<DateTime<Utc>>);

impl TestClock {
    pub fn new() -> Arc<Self> {
        Arc::new(TestClock(Mutex::new(start_time())))
    }

    pub fn advance(&self, by: Duration) {
        *self.0.lock().expect("clock lock") += by;
    }

    pub fn set(&self, to: DateTime<Utc>) {
        *self.0.lock().expect("clock lock") = to;
    }
}

impl Clock for TestClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().expect("clock lock")
    }
}

/// A fresh directory under Cargo's per-target temp dir (left for `cargo clean`).
pub fn data_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("dapr-sidecar")
        .join(uuid::Uuid::new_v4().to_string());
    std::fs::create_dir_all(&dir).expect("create temp dir");
    dir
}

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
}

/// What the fake app answers.
#[derive(Debug, Clone)]
pub enum Reply {
    Status(u16),
    Full {
        status: u16,
        headers: Vec<(String, String)>,
        body: Bytes,
    },
    Unreachable,
}

/// An app channel that records calls; it answers from a queue of scripted replies, then with
/// the default reply (204). Apps not in `known` are unreachable.
#[derive(Debug, Default)]
pub struct RecordingApps {
    calls: Mutex<Vec<RecordedCall>>,
    replies: Mutex<VecDeque<Reply>>,
    default_reply: Mutex<Option<Reply>>,
    known: Mutex<Option<Vec<String>>>,
}

impl RecordingApps {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// Only these app ids answer; others are unreachable.
    pub fn only(apps: &[&str]) -> Arc<Self> {
        let channel = Self::default();
        *channel.known.lock().expect("lock") = Some(apps.iter().map(|a| (*a).to_owned()).collect());
        Arc::new(channel)
    }

    pub fn reply_next(&self, reply: Reply) {
        self.replies.lock().expect("lock").push_back(reply);
    }

    pub fn reply_always(&self, reply: Reply) {
        *self.default_reply.lock().expect("lock") = Some(reply);
    }

    pub fn calls(&self) -> Vec<RecordedCall> {
        self.calls.lock().expect("lock").clone()
    }

    /// Waits (real time, up to 5 s) until at least `n` calls were made; returns them.
    pub async fn wait_for_calls(&self, n: usize) -> Vec<RecordedCall> {
        for _ in 0..500 {
            let calls = self.calls();
            if calls.len() >= n {
                return calls;
            }
            tokio::time::sleep(StdDuration::from_millis(10)).await;
        }
        panic!("expected {n} calls, got {:?}", self.calls());
    }
}

impl AppChannel for RecordingApps {
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
        self.calls.lock().expect("lock").push(call);
        let known = self
            .known
            .lock()
            .expect("lock")
            .as_ref()
            .is_none_or(|apps| apps.iter().any(|a| a == app_id));
        let reply = if known {
            self.replies
                .lock()
                .expect("lock")
                .pop_front()
                .or_else(|| self.default_reply.lock().expect("lock").clone())
                .unwrap_or(Reply::Status(204))
        } else {
            Reply::Unreachable
        };
        let app_id = app_id.to_owned();
        Box::pin(async move {
            match reply {
                Reply::Unreachable => Err(AppCallError {
                    app_id,
                    message: "connection refused".to_owned(),
                }),
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
