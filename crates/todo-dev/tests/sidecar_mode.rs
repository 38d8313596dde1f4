//! `todo-dev sidecar` with every call crossing real HTTP, as under `spin up`: the sidecar's pieces
//! (`todo_dev::external`: one Dapr port per app-id, the app channel over HTTP) against chat-api,
//! audit-service and recurring-task-service each served on its own port by our own host — the
//! stand-in for `spin up --component-id <id> --listen 127.0.0.1:<port>` with
//! `SPIN_VARIABLE_DAPR_URL` = its own Dapr port (no `spin` binary here; see
//! docs/running-locally.md for the same with real Spin). Each component's outbound calls go over
//! real HTTP too, checked against spin.toml's `allowed_outbound_hosts`: its Dapr port is
//! ephemeral here, so only the `{{ dapr_url }}` entry lets it reach its sidecar.
//!
//! Guests and sidecar share one movable clock; nothing sleeps: a test waits for the request it
//! expects to arrive at a stand-in (bounded by [`HANG`] against a hang only).

use bytes::Bytes;
use dapr_sidecar::{Sidecar, SidecarConfig};
use http_body_util::{BodyExt as _, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::{Value, json};
use spin_host::apps::Apps;
use spin_host::{Host, HostOptions, Manifest, RequestContext, SharedClock, VariableResolver};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use todo_dev::external::{self, ExternalApp};
use todo_dev::outbound::{DaprAddresses, DevOutbound};
use todo_dev::server::{ResponseFuture, Service, serve};
use tokio::net::TcpListener;
use tokio::sync::watch;

const JWT_SECRET: &str = "sidecar-mode-test-secret";
const APP_TOKEN: &str = "sidecar-mode-app-token";
const APPS: [&str; 3] = ["chat-api", "audit-service", "recurring-task-service"];
/// Bounds a hang only: every wait ends as soon as what it waits for has happened.
const HANG: Duration = Duration::from_secs(60);

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

fn manifest() -> Manifest {
    static BUILD: std::sync::Once = std::sync::Once::new();
    BUILD.call_once(|| {
        let mut build = std::process::Command::new(env!("CARGO_BIN_EXE_todo-dev"));
        build.arg("build").current_dir(workspace());
        for id in APPS {
            build.args(["--component-id", id]);
        }
        assert!(build.status().unwrap().success(), "todo-dev build failed");
    });
    Manifest::load(&workspace().join("spin.toml")).unwrap()
}

/// One request a stand-in answered.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    path: String,
    status: u16,
    headers: BTreeMap<String, String>,
}

/// `spin up` of one component: its routes on its own port, Spin's 404 elsewhere; remembers
/// every request it answered.
struct StandIn {
    apps: Arc<Apps>,
    authority: String,
    seen: watch::Sender<Vec<Seen>>,
}

impl Service for StandIn {
    fn call(&self, req: http::Request<Bytes>, peer: SocketAddr) -> ResponseFuture<'_> {
        Box::pin(async move {
            let method = req.method().to_string();
            let path = req.uri().path().to_owned();
            let headers = req
                .headers()
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_owned()))
                .collect();
            let response = match self.apps.route(&path) {
                None => {
                    let mut r = http::Response::new(Bytes::new());
                    *r.status_mut() = http::StatusCode::NOT_FOUND;
                    r
                }
                Some(matched) => {
                    let ctx = RequestContext {
                        route: matched.route.clone(),
                        base_path: "/".into(),
                        client_addr: peer,
                        default_authority: self.authority.clone(),
                    };
                    matched
                        .component
                        .handle_with_context(req, &ctx)
                        .await
                        .unwrap_or_else(|e| panic!("{path}: {e:#}"))
                }
            };
            let status = response.status().as_u16();
            self.seen.send_modify(|seen| {
                seen.push(Seen {
                    method,
                    path,
                    status,
                    headers,
                })
            });
            response
        })
    }
}

struct Setup {
    /// App-id → where its stand-in listens.
    app_addrs: BTreeMap<String, SocketAddr>,
    /// App-id → what its stand-in answered.
    seen: BTreeMap<String, watch::Receiver<Vec<Seen>>>,
    sidecar: Sidecar,
    clock: SharedClock,
    client: Client<HttpConnector, Full<Bytes>>,
    _stop: watch::Sender<bool>,
}

async fn setup() -> Setup {
    let manifest = manifest();
    let clock = SharedClock::fixed_at("2030-03-01T12:00:00Z".parse().unwrap());
    let (stop, shutdown) = watch::channel(false);
    // Every outbound call of every component over real HTTP: no in-process sidecar.
    let host = Host::new(
        DevOutbound::new(DaprAddresses::default()),
        HostOptions {
            wall_clock: Some(clock.wall_clock()),
            ..HostOptions::default()
        },
    )
    .unwrap();
    let mut externals = Vec::new();
    let mut app_addrs = BTreeMap::new();
    let mut seen = BTreeMap::new();
    for id in APPS {
        let app_listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let dapr_listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let app_addr = app_listener.local_addr().unwrap();
        let dapr_url = format!("http://{}", dapr_listener.local_addr().unwrap());
        let env = BTreeMap::from([
            ("SPIN_VARIABLE_DAPR_URL".to_owned(), dapr_url),
            ("SPIN_VARIABLE_JWT_SECRET".to_owned(), JWT_SECRET.to_owned()),
            (
                "SPIN_VARIABLE_APP_API_TOKEN".to_owned(),
                APP_TOKEN.to_owned(),
            ),
        ]);
        let resolver = VariableResolver::with_env(&manifest, move |key| env.get(key).cloned());
        let config = spin_host::ComponentConfig::from_manifest(&manifest, id, &resolver).unwrap();
        let component = tokio::task::block_in_place(|| host.load(config)).unwrap();
        let (tx, rx) = watch::channel(Vec::new());
        let stand_in = StandIn {
            apps: Arc::new(Apps::new(&manifest, vec![component])),
            authority: app_addr.to_string(),
            seen: tx,
        };
        tokio::spawn(serve(
            "app",
            app_listener,
            Arc::new(stand_in),
            shutdown.clone(),
        ));
        externals.push(ExternalApp {
            app_id: id.to_owned(),
            app_addr,
            dapr_listener,
        });
        app_addrs.insert(id.to_owned(), app_addr);
        seen.insert(id.to_owned(), rx);
    }
    let running = external::start(
        externals,
        SidecarConfig {
            clock: clock.sidecar_clock(),
            resources_dir: Some(workspace().join("dapr")),
            app_api_token: Some(APP_TOKEN.to_owned()),
            ..SidecarConfig::default()
        },
        shutdown,
    )
    .unwrap();
    Setup {
        app_addrs,
        seen,
        sidecar: running.sidecar,
        clock,
        client: Client::builder(TokioExecutor::new()).build(HttpConnector::new()),
        _stop: stop,
    }
}

impl Setup {
    fn token(&self, user: &str) -> String {
        let now = self.clock.since_epoch().as_secs();
        let claims = json!({"sub": user, "iat": now, "exp": now + 30 * 86_400});
        jsonwebtoken::encode(
            &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
            &claims,
            &jsonwebtoken::EncodingKey::from_secret(JWT_SECRET.as_bytes()),
        )
        .unwrap()
    }

    /// A request to app `app_id`'s own port, as `alice`.
    async fn call(
        &self,
        app_id: &str,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let url = format!("http://{}{path}", self.app_addrs[app_id]);
        let request = http::Request::builder()
            .method(method)
            .uri(url)
            .header("authorization", format!("Bearer {}", self.token("alice")))
            .header("content-type", "application/json")
            .body(Full::new(
                body.map_or_else(Bytes::new, |b| Bytes::from(b.to_string())),
            ))
            .unwrap();
        let response = self.client.request(request).await.unwrap();
        let status = response.status().as_u16();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        let value = serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
        (status, value)
    }

    /// The first request app `app_id` answered that `pred` accepts, once it has arrived.
    async fn arrival(&self, app_id: &str, pred: impl Fn(&Seen) -> bool) -> Seen {
        let mut rx = self.seen[app_id].clone();
        let waited = tokio::time::timeout(HANG, rx.wait_for(|seen| seen.iter().any(&pred))).await;
        match waited {
            Ok(Ok(seen)) => seen.iter().find(|s| pred(s)).unwrap().clone(),
            _ => panic!(
                "nothing expected reached {app_id} within {HANG:?}; it answered {:#?}",
                self.seen[app_id].borrow()
            ),
        }
    }

    async fn create(&self, body: Value) -> Value {
        let (status, task) = self
            .call("chat-api", "POST", "/api/tasks", Some(body))
            .await;
        assert_eq!(status, 201, "{task}");
        task
    }
}

/// What a call from the sidecar carries: the app API token, as daprd sends `APP_API_TOKEN`.
fn from_the_sidecar(seen: &Seen) -> bool {
    seen.headers.get("dapr-api-token").map(String::as_str) == Some(APP_TOKEN)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_created_task_is_delivered_to_audit_service_over_http() {
    let s = setup().await;
    let task = s.create(json!({"title": "Audit me"})).await;
    let delivery = s
        .arrival("audit-service", |r| r.path == "/audit/task-events")
        .await;
    assert_eq!((delivery.method.as_str(), delivery.status), ("POST", 200));
    assert!(from_the_sidecar(&delivery), "{delivery:?}");
    assert_eq!(
        delivery.headers.get("content-type").map(String::as_str),
        Some("application/cloudevents+json")
    );

    let path = format!("/audit/log?task_id={}", task["id"].as_str().unwrap());
    let (status, log) = s.call("audit-service", "GET", &path, None).await;
    assert_eq!(status, 200, "{log}");
    let entries = log["items"].as_array().unwrap();
    assert_eq!(entries.len(), 1, "{log}");
    assert_eq!(entries[0]["event_type"], "task.created");
    assert_eq!(entries[0]["task"]["title"], "Audit me");

    // Each component wrote through its own Dapr port, so as its own app-id.
    let keys: Vec<String> = s.sidecar.state_snapshot("statestore").into_keys().collect();
    for app in ["chat-api", "audit-service"] {
        let prefix = format!("{app}||");
        assert!(
            keys.iter().any(|k| k.starts_with(&prefix)),
            "no {prefix} in {keys:?}"
        );
    }
    let event = s
        .sidecar
        .published()
        .into_iter()
        .find_map(|m| m.event.filter(|e| e["type"] == "task.created"))
        .unwrap();
    assert_eq!(event["source"], "chat-api", "{event}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_outbox_sweep_job_triggers_chat_api_over_http() {
    let s = setup().await;
    s.create(json!({"title": "Registers the user for the sweep"}))
        .await;
    assert!(
        s.sidecar
            .job_names()
            .contains(&("chat-api".to_owned(), "outbox-sweep".to_owned())),
        "{:?}",
        s.sidecar.job_names()
    );
    assert!(
        s.seen["chat-api"]
            .borrow()
            .iter()
            .all(|r| !r.path.starts_with("/job/")),
        "triggered before it was due"
    );
    // `@every 1m`: due one minute after it was scheduled, on the shared clock.
    s.clock.advance(Duration::from_secs(61));
    let trigger = s
        .arrival("chat-api", |r| r.path == "/job/outbox-sweep")
        .await;
    assert_eq!((trigger.method.as_str(), trigger.status), ("POST", 200));
    assert!(from_the_sidecar(&trigger), "{trigger:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn recurring_task_service_invokes_chat_api_over_http() {
    let s = setup().await;
    let task = s
        .create(
            json!({"title": "Water plants", "due_date": "2030-03-02T09:00:00Z",
                       "recurrence_rule": "daily"}),
        )
        .await;
    let id = task["id"].as_str().unwrap();
    let (status, done) = s
        .call(
            "chat-api",
            "POST",
            &format!("/api/tasks/{id}/complete"),
            None,
        )
        .await;
    assert_eq!(status, 200, "{done}");

    let completed = s
        .arrival("recurring-task-service", |r| {
            r.path == "/recurring/task-completed"
        })
        .await;
    assert!(from_the_sidecar(&completed), "{completed:?}");
    let invocation = s
        .arrival("chat-api", |r| r.path == "/api/internal/occurrences")
        .await;
    assert_eq!(invocation.method, "POST");
    assert!((200..300).contains(&invocation.status), "{invocation:?}");
    assert!(from_the_sidecar(&invocation), "{invocation:?}");
    assert_eq!(
        invocation
            .headers
            .get("dapr-caller-app-id")
            .map(String::as_str),
        Some("recurring-task-service"),
        "the invocation came in on recurring-task-service's Dapr port"
    );

    let (status, page) = s
        .call("chat-api", "GET", "/api/tasks?limit=100", None)
        .await;
    assert_eq!(status, 200, "{page}");
    let next: Vec<&Value> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["predecessor_id"] == task["id"])
        .collect();
    assert_eq!(next.len(), 1, "{page}");
    assert_eq!(next[0]["due_date"], "2030-03-03T09:00:00Z", "{page}");
}
