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

/// Forwards to a sidecar as the calling app, recording each call's traceparent.
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
            let (mut parts, body) = req.into_parts();
            parts.uri = parts.uri.path_and_query().unwrap().as_str().parse()?;
            Ok(self
                .sidecar
                .get()
                .unwrap()
                .handle(&app_id, http::Request::from_parts(parts, body))
                .await)
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
    let config = manifest.component_config("chat-api", &resolver).unwrap();
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
    let token = todo_domain::auth::issue_token(JWT_SECRET.as_bytes(), "alice", now, 30 * 86_400);
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
    // The sidecar stamped the published event with the same clock.
    let published = s.sidecar.published();
    assert!(!published.is_empty());

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
    assert_eq!(s.clock.now_utc().to_rfc3339(), "2030-03-02T12:00:00+00:00");
}
