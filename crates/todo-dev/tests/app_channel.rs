//! The host pieces `todo-dev up` wires together, with the real chat-api component: per-app
//! routing of the sidecar's calls, one clock for guest and sidecar, trace context on outbound
//! calls.

use bytes::Bytes;
use dapr_sidecar::{AppChannel, Sidecar, SidecarConfig};
use spin_host::apps::{Apps, AppsChannel};
use spin_host::{Host, HostOptions, Manifest, OutboundHandler, SharedClock, VariableResolver};
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, Mutex, OnceLock};

const JWT_SECRET: &str = "app-channel-test-secret";

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

fn manifest() -> Manifest {
    static BUILD: std::sync::Once = std::sync::Once::new();
    BUILD.call_once(|| {
        let status = std::process::Command::new(env!("CARGO_BIN_EXE_todo-dev"))
            .args(["build", "--component-id", "chat-api"])
            .current_dir(workspace())
            .status()
            .unwrap();
        assert!(status.success());
    });
    Manifest::load(&workspace().join("spin.toml")).unwrap()
}

/// A user token signed with [`JWT_SECRET`], as `todo-dev token` makes them.
fn token(user: &str, now_unix: u64, ttl_seconds: u64) -> String {
    let claims = serde_json::json!({"sub": user, "iat": now_unix, "exp": now_unix + ttl_seconds});
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(JWT_SECRET.as_bytes()),
    )
    .unwrap()
}

/// Forwards to a sidecar as the calling app ([`spin_host::send_to_sidecar`], as `todo-dev`
/// does), recording each call's traceparent.
#[derive(Default)]
struct ToSidecar {
    sidecar: OnceLock<Sidecar>,
    traceparents: Mutex<Vec<Option<String>>>,
}

impl OutboundHandler for ToSidecar {
    fn handle(
        &self,
        app_id: &str,
        req: http::Request<Bytes>,
    ) -> Pin<Box<dyn Future<Output = anyhow::Result<http::Response<Bytes>>> + Send + '_>> {
        let app_id = app_id.to_string();
        Box::pin(async move {
            self.traceparents.lock().unwrap().push(
                req.headers()
                    .get("traceparent")
                    .map(|v| v.to_str().unwrap().to_string()),
            );
            let sidecar = self.sidecar.get().expect("the sidecar is set in setup()");
            Ok(spin_host::send_to_sidecar(sidecar, &app_id, req).await)
        })
    }
}

struct Setup {
    apps: Arc<Apps>,
    sidecar: Sidecar,
    outbound: Arc<ToSidecar>,
    clock: SharedClock,
}

fn setup() -> Setup {
    let manifest = manifest();
    let clock = SharedClock::fixed_at("2030-03-01T12:00:00Z".parse().unwrap());
    let outbound = Arc::new(ToSidecar::default());
    let host = Host::new(
        outbound.clone(),
        HostOptions {
            wall_clock: Some(clock.wall_clock()),
            ..HostOptions::default()
        },
    )
    .unwrap();
    let mut resolver = VariableResolver::with_env(&manifest, |_| None);
    resolver.set_fallback("jwt_secret", JWT_SECRET);
    let config =
        spin_host::ComponentConfig::from_manifest(&manifest, "chat-api", &resolver).unwrap();
    let chat_api = host.load(config).unwrap();
    let apps = Arc::new(Apps::new(&manifest, vec![chat_api]));
    let sidecar = Sidecar::new(SidecarConfig {
        clock: clock.sidecar_clock(),
        app_channel: Arc::new(AppsChannel::new(apps.clone(), "127.0.0.1:3000")),
        apps: apps.ids(),
        ..SidecarConfig::default()
    });
    outbound.sidecar.set(sidecar.clone()).unwrap();
    Setup {
        apps,
        sidecar,
        outbound,
        clock,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_into_an_app_reach_only_its_own_routes() {
    let s = setup();
    let channel = AppsChannel::new(s.apps.clone(), "127.0.0.1:3000");
    let get = |path: &str| http::Request::get(path).body(Bytes::new()).unwrap();

    let r = channel.call("chat-api", get("/api/healthz")).await.unwrap();
    assert_eq!(r.status(), 200);
    // Declarative subscriptions only: /dapr/subscribe is no route of chat-api.
    let r = channel
        .call("chat-api", get("/dapr/subscribe"))
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    // An app that is not running is unreachable, not routed to another component.
    let err = channel
        .call("audit-service", get("/api/healthz"))
        .await
        .unwrap_err();
    assert_eq!(err.app_id, "audit-service");
    assert!(
        s.apps
            .route_in_app("audit-service", "/api/healthz")
            .is_none()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guest_and_sidecar_share_one_clock_and_the_trace_flows_outbound() {
    let s = setup();
    let now = 1_898_078_400; // 2030-02-23T12:00Z: a week before the fixed clock
    let token = token("alice", now, 30 * 86_400);
    let tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let chat_api = s.apps.component("chat-api").unwrap().clone();
    let m = s.apps.route("/api/tasks").unwrap();
    let create = http::Request::post("/api/tasks")
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", "application/json")
        .header("traceparent", tp)
        .body(Bytes::from_static(br#"{"title":"Clock check"}"#))
        .unwrap();
    let r = chat_api.handle_route(create, &m.route).await.unwrap();
    assert_eq!(r.status(), 201, "{}", String::from_utf8_lossy(r.body()));
    let task: serde_json::Value = serde_json::from_slice(r.body()).unwrap();
    assert!(
        task["created_at"]
            .as_str()
            .unwrap()
            .starts_with("2030-03-01T12:00:00"),
        "{task}"
    );
    // The guest stamped its task.created event with the shared clock's (fixed, not now) instant.
    let fixed = s.clock.now_utc();
    assert_eq!(fixed.to_rfc3339(), "2030-03-01T12:00:00+00:00");
    let created = event_times(&s.sidecar, "task.created");
    assert_eq!(created, vec![fixed], "{:?}", s.sidecar.published());
    // And the sidecar stamps what it wraps itself with the same instant.
    assert_eq!(sidecar_stamp(&s.sidecar).await, fixed);

    // Every outbound call of that request carried the request's trace id.
    let traceparents = s.outbound.traceparents.lock().unwrap().clone();
    assert!(!traceparents.is_empty());
    for sent in &traceparents {
        let sent = sent.as_deref().expect("traceparent on every outbound call");
        assert_eq!(
            spin_host::trace::trace_id(sent).as_deref(),
            Some("4bf92f3577b34da6a3ce929d0e0e4736"),
            "{sent}"
        );
    }

    // Moving the shared clock moves both.
    s.clock.advance(std::time::Duration::from_secs(86_400));
    let moved = s.clock.now_utc();
    assert_eq!(moved.to_rfc3339(), "2030-03-02T12:00:00+00:00");
    let create = http::Request::post("/api/tasks")
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", "application/json")
        .body(Bytes::from_static(br#"{"title":"A day later"}"#))
        .unwrap();
    let r = chat_api.handle_route(create, &m.route).await.unwrap();
    assert_eq!(r.status(), 201, "{}", String::from_utf8_lossy(r.body()));
    assert_eq!(
        event_times(&s.sidecar, "task.created"),
        vec![fixed, moved],
        "{:?}",
        s.sidecar.published()
    );
    assert_eq!(sidecar_stamp(&s.sidecar).await, moved);
}

/// The `time` of every CloudEvent of type `event_type` published (once per event id: delivery
/// is at least once), in publish order.
fn event_times(sidecar: &Sidecar, event_type: &str) -> Vec<chrono::DateTime<chrono::Utc>> {
    let mut ids = std::collections::HashSet::new();
    sidecar
        .published()
        .iter()
        .filter_map(|m| m.event.as_ref())
        .filter(|e| e["type"] == event_type && ids.insert(e["id"].to_string()))
        .map(|e| {
            let time = e["time"].as_str().unwrap_or_else(|| panic!("no time: {e}"));
            chrono::DateTime::parse_from_rfc3339(time)
                .unwrap_or_else(|err| panic!("{time}: {err}"))
                .to_utc()
        })
        .collect()
}

/// Publish a plain JSON payload as chat-api: the sidecar wraps it in a CloudEvent of its own,
/// whose `time` comes from the sidecar's clock. Returns that time.
async fn sidecar_stamp(sidecar: &Sidecar) -> chrono::DateTime<chrono::Utc> {
    let publish = http::Request::post("http://127.0.0.1:3500/v1.0/publish/pubsub/clock-probe")
        .header("content-type", "application/json")
        .body(Bytes::from_static(br#"{"probe":true}"#))
        .unwrap();
    let r = spin_host::send_to_sidecar(sidecar, "chat-api", publish).await;
    assert_eq!(r.status(), 204, "{}", String::from_utf8_lossy(r.body()));
    let published = sidecar.published();
    let event = published
        .iter()
        .rev()
        .find(|m| m.topic == "clock-probe")
        .and_then(|m| m.event.as_ref())
        .expect("the probe was published as a CloudEvent");
    chrono::DateTime::parse_from_rfc3339(event["time"].as_str().unwrap())
        .unwrap()
        .to_utc()
}
