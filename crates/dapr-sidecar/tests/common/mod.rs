//! Helpers shared by the contract tests: a sidecar with a controllable clock and terse ways to
//! send requests and read answers.
#![allow(dead_code)]

use std::sync::{Arc, Mutex};

use bytes::Bytes;
use chrono::{DateTime, Duration, TimeZone, Utc};
use dapr_sidecar::{Clock, Sidecar, SidecarConfig};
use http::{Request, Response};
use serde_json::Value;

/// A clock that only moves when told to.
#[derive(Debug)]
pub struct ManualClock(Mutex<DateTime<Utc>>);

impl ManualClock {
    pub fn advance(&self, by: Duration) {
        let mut now = self.0.lock().expect("clock lock");
        *now += by;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().expect("clock lock")
    }
}

pub const START: i64 = 1_767_225_600; // 2026-01-01T00:00:00Z

/// A default sidecar (store `statestore`, pub/sub `pubsub`) on a manual clock.
pub fn sidecar() -> (Sidecar, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock(Mutex::new(
        Utc.timestamp_opt(START, 0).single().expect("valid time"),
    )));
    let config = SidecarConfig {
        clock: clock.clone(),
        ..SidecarConfig::default()
    };
    (Sidecar::new(config), clock)
}

pub fn request(method: &str, uri: &str, body: &str) -> Request<Bytes> {
    Request::builder()
        .method(method)
        .uri(uri)
        .body(Bytes::copy_from_slice(body.as_bytes()))
        .expect("valid request")
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

pub fn header<'a>(response: &'a Response<Bytes>, name: &str) -> Option<&'a str> {
    response.headers().get(name).and_then(|v| v.to_str().ok())
}
