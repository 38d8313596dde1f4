//! End to end: the real `todo-dev` binary, started on free ports, driven over real HTTP.
//!
//! The components' .wasm files are built (if stale) once per test binary with `todo-dev build`
//! (spin.toml's build commands, target dir `target/wasm`, so no lock is shared with the outer
//! cargo); every `up` then runs with `--no-build`.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex, Once};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_todo-dev");

/// How long a test waits for something `todo-dev` is about to do (a log line, an exit): long
/// enough for a loaded machine, so it only bounds a hang.
const HANG: Duration = Duration::from_secs(30);

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

fn ensure_built() {
    static BUILD: Once = Once::new();
    BUILD.call_once(|| {
        let status = Command::new(BIN)
            .args(["build", "--component-id", "chat-api"])
            .current_dir(workspace())
            .status()
            .expect("run todo-dev build");
        assert!(status.success(), "todo-dev build failed: {status}");
    });
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("todo-dev-e2e-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A running `todo-dev up`.
struct Dev {
    child: Option<Child>,
    app: SocketAddr,
    dapr: SocketAddr,
    admin: SocketAddr,
    startup: Duration,
    stdout: mpsc::Receiver<String>,
    stderr: Arc<Lines>,
}

/// The lines of a child's stream so far; waiters are woken on every new line.
#[derive(Default)]
struct Lines {
    lines: Mutex<Vec<String>>,
    added: Condvar,
}

impl Lines {
    fn push(&self, line: String) {
        self.lines.lock().unwrap().push(line);
        self.added.notify_all();
    }

    fn joined(&self) -> String {
        self.lines.lock().unwrap().join("\n")
    }

    /// The first line matching `pred`, waiting for it at most `limit`.
    fn wait_for(&self, limit: Duration, pred: impl Fn(&str) -> bool) -> Option<String> {
        let deadline = Instant::now() + limit;
        let mut lines = self.lines.lock().unwrap();
        loop {
            if let Some(line) = lines.iter().find(|l| pred(l)) {
                return Some(line.clone());
            }
            let left = deadline.checked_duration_since(Instant::now())?;
            lines = self.added.wait_timeout(lines, left).unwrap().0;
        }
    }
}

impl Dev {
    fn start(data_dir: &Path, extra: &[&str]) -> Dev {
        Dev::start_with_env(data_dir, extra, &[])
    }

    /// [`Dev::start`] with more environment variables.
    fn start_with_env(data_dir: &Path, extra: &[&str], env: &[(&str, &Path)]) -> Dev {
        ensure_built();
        let mut child = Command::new(BIN)
            .args(["up", "--no-build", "--data-dir"])
            .arg(data_dir)
            .args([
                "--listen",
                "127.0.0.1:0",
                "--dapr-listen",
                "127.0.0.1:0",
                "--admin-listen",
                "127.0.0.1:0",
            ])
            .args(extra)
            .current_dir(workspace())
            .env("RUST_LOG", "info")
            .env_remove("SPIN_VARIABLE_JWT_SECRET")
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn todo-dev up");
        let (tx, stdout) = mpsc::channel();
        let out = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let stderr = Arc::new(Lines::default());
        let err = child.stderr.take().unwrap();
        let sink = stderr.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                sink.push(line);
            }
        });
        let mut dev = Dev {
            child: Some(child),
            app: "0.0.0.0:0".parse().unwrap(),
            dapr: "0.0.0.0:0".parse().unwrap(),
            admin: "0.0.0.0:0".parse().unwrap(),
            startup: Duration::ZERO,
            stdout,
            stderr,
        };
        let deadline = Instant::now() + Duration::from_secs(180);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = match dev.stdout.recv_timeout(left) {
                Ok(line) => line,
                Err(_) => panic!("todo-dev up did not become ready:\n{}", dev.logs()),
            };
            let addr = |l: &str| -> SocketAddr {
                let rest = &l[l.find("http://").unwrap() + 7..];
                rest.split_whitespace().next().unwrap().parse().unwrap()
            };
            if line.contains("app listening on http://") {
                dev.app = addr(&line);
            } else if line.contains("dapr listening on http://") {
                dev.dapr = addr(&line);
            } else if line.contains("admin listening on http://") {
                dev.admin = addr(&line);
            } else if let Some(secs) = line.strip_prefix("todo-dev: ready in ") {
                dev.startup = Duration::from_secs_f64(secs.trim_end_matches('s').parse().unwrap());
                break;
            }
        }
        eprintln!(
            "todo-dev up: app {} dapr {} admin {}, ready in {:?}",
            dev.app, dev.dapr, dev.admin, dev.startup
        );
        dev
    }

    fn pid(&self) -> u32 {
        self.child.as_ref().unwrap().id()
    }

    /// SIGTERM, then wait (at most `limit`) for the exit status.
    fn terminate(&mut self, limit: Duration) -> std::process::ExitStatus {
        let pid = self.pid().to_string();
        let status = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        assert!(status.success());
        let mut child = self.child.take().unwrap();
        let (tx, exited) = mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(child.wait());
        });
        match exited.recv_timeout(limit) {
            Ok(status) => status.unwrap(),
            Err(_) => {
                // Still not reaped by the waiting thread, so the pid is still this process.
                let _ = Command::new("kill").args(["-KILL", &pid]).status();
                panic!(
                    "todo-dev did not exit within {limit:?} of SIGTERM:\n{}",
                    self.logs()
                );
            }
        }
    }

    /// SIGKILL: no chance to flush anything.
    fn kill_9(&mut self) {
        let mut child = self.child.take().unwrap();
        child.kill().unwrap();
        child.wait().unwrap();
    }

    fn logs(&self) -> String {
        self.stderr.joined()
    }

    /// The first stderr line matching `pred`, waiting for it (at most [`HANG`]).
    fn wait_for_log(&self, what: &str, pred: impl Fn(&str) -> bool) -> String {
        self.stderr
            .wait_for(HANG, pred)
            .unwrap_or_else(|| panic!("no {what} within {HANG:?}:\n{}", self.logs()))
    }
}

impl Drop for Dev {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if std::thread::panicking() {
            eprintln!("----- todo-dev stderr -----\n{}\n-----", self.logs());
        }
    }
}

struct Response {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Response {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.body))
    }
}

/// A minimal blocking HTTP/1.1 client (one request per connection).
fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Response {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\ncontent-length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(body.as_bytes()).unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).unwrap();
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").expect("response head");
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    Response {
        status,
        headers,
        body: body.to_string(),
    }
}

fn token(data_dir: &Path, user: &str) -> String {
    let output = Command::new(BIN)
        .args(["token", "--user", user, "--ttl", "1h", "--data-dir"])
        .arg(data_dir)
        .current_dir(workspace())
        .env_remove("SPIN_VARIABLE_JWT_SECRET")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let token = String::from_utf8(output.stdout).unwrap().trim().to_string();
    assert_eq!(token.split('.').count(), 3, "{token}");
    token
}

fn create_task(dev: &Dev, token: &str, title: &str) -> serde_json::Value {
    let auth = format!("Bearer {token}");
    let r = request(
        dev.app,
        "POST",
        "/api/tasks",
        &[
            ("authorization", &auth),
            ("content-type", "application/json"),
        ],
        &format!(r#"{{"title":"{title}"}}"#),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    r.json()
}

#[test]
fn up_serves_the_app_the_dapr_api_and_metrics_then_stops_on_sigterm() {
    let data = temp_dir("up");
    // The Dapr port checks below are chat-api's (spin.toml has more components than chat-api).
    let mut dev = Dev::start(&data, &["--ephemeral", "--as-app-id", "chat-api"]);
    assert!(
        dev.startup < Duration::from_secs(60),
        "startup {:?}",
        dev.startup
    );

    let r = request(dev.app, "GET", "/api/healthz", &[], "");
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["app_id"], "chat-api");
    // The page's catch-all (`/...`) answers unknown paths; a path Spin's router normalises
    // (`//api/tasks`) still reaches chat-api, which answers its own JSON 404.
    assert_eq!(request(dev.app, "GET", "/nowhere", &[], "").status, 404);
    let doubled = request(dev.app, "GET", "//api/tasks", &[], "");
    assert_eq!(doubled.status, 404, "{}", doubled.body);
    assert_eq!(doubled.json()["error"]["code"], "not_found");
    // Dapr's callbacks on an app with declarative subscriptions: unmatched = 404.
    assert_eq!(
        request(dev.app, "GET", "/dapr/subscribe", &[], "").status,
        404
    );

    // A dev token signed with the secret the host generated in the data dir.
    let token = token(&data, "alice");
    assert!(data.join("jwt_secret").is_file());
    let task = create_task(&dev, &token, "Pay rent");
    let auth = format!("Bearer {token}");
    let list = request(
        dev.app,
        "GET",
        "/api/tasks",
        &[("authorization", &auth)],
        "",
    );
    assert_eq!(list.status, 200, "{}", list.body);
    let items = list.json()["items"].as_array().unwrap().clone();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["id"], task["id"]);
    assert_eq!(
        request(dev.app, "GET", "/api/tasks", &[], "").status,
        401,
        "no token"
    );

    // The Dapr port acts as chat-api: its state is chat-api's.
    assert_eq!(
        request(dev.dapr, "GET", "/v1.0/healthz", &[], "").status,
        204
    );
    let saved = request(
        dev.dapr,
        "POST",
        "/v1.0/state/statestore",
        &[("content-type", "application/json")],
        r#"[{"key":"probe","value":{"n":1}}]"#,
    );
    assert_eq!(saved.status, 204, "{}", saved.body);
    let got = request(dev.dapr, "GET", "/v1.0/state/statestore/probe", &[], "");
    assert_eq!(got.status, 200);
    assert_eq!(got.json()["n"], 1);

    // Host metrics under daprd's names, per component and route.
    let metrics = request(dev.admin, "GET", "/metrics", &[], "");
    assert_eq!(metrics.status, 200);
    assert!(
        metrics
            .header("content-type")
            .is_some_and(|t| t.starts_with("text/plain; version=0.0.4")),
        "{:?}",
        metrics.headers
    );
    // The app port is the host's own measurement; daprd's `dapr_http_server_*` names count
    // requests to the Dapr API (here chat-api's state and publish calls to its sidecar).
    assert!(
        metrics.body.contains(
            r#"todo_dev_app_http_request_count{app_id="chat-api",method="POST",path="/api/...",status="201"} 1"#
        ),
        "{}",
        metrics.body
    );
    assert!(
        metrics
            .body
            .contains("# TYPE todo_dev_app_http_latency histogram"),
        "{}",
        metrics.body
    );
    assert!(
        metrics
            .body
            .contains(r#"dapr_http_server_request_count{app_id="chat-api",method="POST"} "#),
        "{}",
        metrics.body
    );
    assert!(
        !metrics
            .body
            .contains(r#"dapr_http_server_request_count{app_id="chat-api",method="POST",path="#),
        "the Dapr API's metrics have no path label"
    );
    // chat-api published task.created (its outbox): the sidecar counted it.
    assert!(
        metrics
            .body
            .lines()
            .any(|l| l.starts_with("dapr_component_pubsub_egress_count{")
                && l.contains(r#"app_id="chat-api""#)
                && l.contains("task-events")),
        "{}",
        metrics.body
    );
    let health = request(dev.admin, "GET", "/healthz", &[], "");
    assert_eq!(health.status, 200);
    let dead = request(dev.admin, "GET", "/dead-letters", &[], "");
    assert_eq!(dead.status, 200, "{}", dead.body);
    assert_eq!(dead.json(), serde_json::json!([]));
    let replay = request(dev.admin, "POST", "/dead-letters/999/replay", &[], "");
    assert_eq!(replay.status, 404, "{}", replay.body);

    // The Dapr port's metadata: the app-id it acts as and the sidecar's components.
    let metadata = request(dev.dapr, "GET", "/v1.0/metadata", &[], "");
    assert_eq!(metadata.status, 200, "{}", metadata.body);
    let metadata = metadata.json();
    assert_eq!(metadata["id"], "chat-api");
    let components = metadata["components"].as_array().unwrap();
    assert!(
        components.iter().any(|c| c["name"] == "pubsub"),
        "{metadata}"
    );
    assert!(
        components.iter().any(|c| c["name"] == "statestore"),
        "{metadata}"
    );

    // One log line per request, with component, route and status.
    let logs = dev.logs();
    assert!(
        logs.lines().any(|l| l.contains("request")
            && l.contains("chat-api")
            && l.contains("/api/...")
            && l.contains("201")),
        "{logs}"
    );

    let started = Instant::now();
    let status = dev.terminate(Duration::from_secs(15));
    assert!(status.success(), "exit status {status}");
    eprintln!("stopped {:?} after SIGTERM", started.elapsed());
    let _ = std::fs::remove_dir_all(&data);
}

#[test]
fn a_path_no_route_matches_gets_spins_empty_404() {
    // Without the page's catch-all, as under `spin up --component-id chat-api`.
    let data = temp_dir("no-route");
    let dev = Dev::start(&data, &["--ephemeral", "--component-id", "chat-api"]);
    for path in ["/nowhere", "/dapr/subscribe", "/apix"] {
        let r = request(dev.app, "GET", path, &[], "");
        assert_eq!(r.status, 404, "{path}");
        assert_eq!(r.body, "", "{path}");
        assert_eq!(r.header("content-type"), None, "{path}");
    }
}

#[test]
fn acknowledged_task_survives_kill_9() {
    let data = temp_dir("durable");
    let mut dev = Dev::start(&data, &[]);
    let token = token(&data, "bob");
    let task = create_task(&dev, &token, "Survive a crash");
    let id = task["id"].as_str().unwrap().to_string();
    dev.kill_9();

    let dev = Dev::start(&data, &[]);
    let auth = format!("Bearer {token}");
    let r = request(
        dev.app,
        "GET",
        &format!("/api/tasks/{id}"),
        &[("authorization", &auth)],
        "",
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["title"], "Survive a crash");
    drop(dev);
    let _ = std::fs::remove_dir_all(&data);
}

#[test]
fn json_logs_carry_the_incoming_trace_id() {
    let data = temp_dir("trace");
    let dev = Dev::start(&data, &["--ephemeral", "--log-format", "json"]);
    let tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let r = request(dev.app, "GET", "/api/healthz", &[("traceparent", tp)], "");
    assert_eq!(r.status, 200);
    let is_request_line = |l: &str| {
        serde_json::from_str::<serde_json::Value>(l).is_ok_and(|v| v["route"] == "/api/...")
    };
    let line = dev.wait_for_log("JSON request line", is_request_line);
    let line: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(line["trace_id"], "4bf92f3577b34da6a3ce929d0e0e4736");
    assert_eq!(line["component"], "chat-api");
    assert_eq!(line["status"], 200);
    drop(dev);
    let _ = std::fs::remove_dir_all(&data);
}

#[test]
fn up_compiles_in_a_child_process_and_only_reads_the_cache_itself() {
    // An empty compiled-code cache (it lives in the temp dir): what up loads must come from the
    // cache all the same, compiled by `todo-dev compile`, so the compiler's memory is not up's.
    let data = temp_dir("cold-cache");
    let tmp = temp_dir("cold-cache-tmp");
    let dev = Dev::start_with_env(
        &data,
        &["--ephemeral", "--component-id", "chat-api"],
        &[("TMPDIR", &tmp)],
    );
    let loaded = dev.wait_for_log("chat-api loaded", |l| l.contains("loaded chat-api"));
    assert!(loaded.contains("cached=true"), "{loaded}");
    assert!(
        tmp.join("spin-host-cwasm-cache").is_dir(),
        "the child compiled into the cache under TMPDIR"
    );
    let r = request(dev.app, "GET", "/api/healthz", &[], "");
    assert_eq!(r.status, 200);
    drop(dev);
    let _ = std::fs::remove_dir_all(&data);
    let _ = std::fs::remove_dir_all(&tmp);
}

#[test]
fn unknown_component_id_is_a_clear_error() {
    ensure_built();
    let output = Command::new(BIN)
        .args(["up", "--no-build", "--component-id", "nope", "--ephemeral"])
        .current_dir(workspace())
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("no component \"nope\""), "{stderr}");
}

#[test]
fn acknowledged_job_survives_kill_9_and_fires_after_restart() {
    let data = temp_dir("durable-job");
    let mut dev = Dev::start(&data, &["--as-app-id", "chat-api"]);
    // The Dapr port acts as chat-api: the job is chat-api's.
    let scheduled = request(
        dev.dapr,
        "POST",
        "/v1.0-alpha1/jobs/e2e-after-crash",
        &[("content-type", "application/json")],
        r#"{"dueTime":"2s","data":{"note":"fire after a crash"}}"#,
    );
    assert_eq!(scheduled.status, 204, "{}", scheduled.body);
    dev.kill_9();

    let dev = Dev::start(&data, &["--as-app-id", "chat-api"]);
    // The sidecar logs its call into the app (`dapr → app`) when the job fires.
    let call = dev.wait_for_log("job trigger into chat-api after the restart", |l| {
        l.contains("dapr → app")
            && l.contains(r#"app_id="chat-api""#)
            && l.contains("/job/e2e-after-crash")
    });
    let status: u16 = call
        .split("status=")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status in {call}"));
    // As in daprd, a 2xx or a 404 from the app (chat-api has no job of that name) is a success.
    assert!((200..300).contains(&status) || status == 404, "{call}");
    // The trigger is counted right after the call returns (a moment after its log line).
    let deadline = Instant::now() + HANG;
    let fired = loop {
        let metrics = request(dev.admin, "GET", "/metrics", &[], "").body;
        let fired = metrics.lines().any(|line| {
            line.starts_with("dapr_component_job_success_count{")
                && line.contains("app_id=\"chat-api\"")
                && !line.ends_with(" 0")
        });
        if fired || Instant::now() > deadline {
            break fired;
        }
    };
    assert!(
        fired,
        "the job scheduled before kill -9 fired after the restart\n{}",
        dev.logs()
    );
    // A one-shot job is gone once it has fired (daprd answers 500 for a missing job).
    let after = request(
        dev.dapr,
        "GET",
        "/v1.0-alpha1/jobs/e2e-after-crash",
        &[],
        "",
    );
    assert_eq!(after.status, 500, "{}", after.body);
    drop(dev);
    let _ = std::fs::remove_dir_all(&data);
}

fn chat(dev: &Dev, token: &str, body: serde_json::Value) -> serde_json::Value {
    let auth = format!("Bearer {token}");
    let r = request(
        dev.app,
        "POST",
        "/api/chat",
        &[
            ("authorization", &auth),
            ("content-type", "application/json"),
        ],
        &body.to_string(),
    );
    assert_eq!(r.status, 200, "{body} → {}", r.body);
    r.json()
}

#[test]
fn a_chat_conversation_survives_a_restart() {
    let data = temp_dir("chat");
    let mut dev = Dev::start(&data, &[]);
    let token = token(&data, "carol");
    let added = chat(&dev, &token, serde_json::json!({"message": "add buy milk"}));
    let conversation = added["conversation_id"].as_str().unwrap().to_string();
    let task_id = added["tool_calls"][0]["result"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let listed = chat(
        &dev,
        &token,
        serde_json::json!({"conversation_id": conversation, "message": "show my tasks"}),
    );
    assert_eq!(listed["tool_calls"][0]["name"], "list_tasks", "{listed}");
    let status = dev.terminate(HANG);
    assert!(status.success(), "{status}");

    let dev = Dev::start(&data, &[]);
    let auth = format!("Bearer {token}");
    let history = request(
        dev.app,
        "GET",
        &format!("/api/chat/{conversation}"),
        &[("authorization", &auth)],
        "",
    );
    assert_eq!(history.status, 200, "{}", history.body);
    let messages = history.json()["messages"].as_array().unwrap().clone();
    let contents: Vec<&str> = messages
        .iter()
        .map(|m| m["content"].as_str().unwrap())
        .collect();
    assert_eq!(contents.len(), 4, "{contents:?}");
    assert_eq!(contents[0], "add buy milk");
    assert_eq!(contents[2], "show my tasks");
    // The assistant's memory (the list it showed) survived too: "1" is still buy milk.
    let done = chat(
        &dev,
        &token,
        serde_json::json!({"conversation_id": conversation, "message": "done with 1"}),
    );
    assert_eq!(done["tool_calls"][0]["name"], "complete_task", "{done}");
    assert_eq!(done["tool_calls"][0]["result"]["id"], task_id.as_str());
    assert_eq!(done["tool_calls"][0]["result"]["status"], "completed");
    drop(dev);
    let _ = std::fs::remove_dir_all(&data);
}
