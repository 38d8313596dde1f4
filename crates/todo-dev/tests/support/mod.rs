//! `todo-dev up` driven as a process over real HTTP, for the end-to-end tests of this directory
//! (`mod support;` in each): start it on free ports with JSON logs, read its guests' log lines,
//! stop or `kill -9` it, call its ports, act as a user with a dev token.
#![allow(dead_code)] // each test file uses its own part.

use serde_json::Value;
use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Condvar, Mutex, Once, mpsc};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_todo-dev");
/// Bounds a hang only: every wait ends as soon as what it waits for is there.
pub const HANG: Duration = Duration::from_secs(60);
/// The app API token of every run (`SPIN_VARIABLE_APP_API_TOKEN`), so a test can call a
/// Dapr-only route directly, as the sidecar does.
pub const APP_TOKEN: &str = "e2e-app-token";
/// The components these tests run (built once per test binary).
const BUILT: [&str; 6] = [
    "--component-id",
    "chat-api",
    "--component-id",
    "recurring-task-service",
    "--component-id",
    "notification-service",
];

pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

pub fn ensure_built() {
    static BUILD: Once = Once::new();
    BUILD.call_once(|| {
        let status = Command::new(BIN)
            .arg("build")
            .args(BUILT)
            .current_dir(workspace())
            .status()
            .expect("run todo-dev build");
        assert!(status.success(), "todo-dev build failed: {status}");
    });
}

pub fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("todo-dev-e2e-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The lines of a child's stderr so far; waiters are woken on every new line.
#[derive(Default)]
struct Lines {
    lines: Mutex<Vec<String>>,
    added: Condvar,
}

/// A running `todo-dev up` (killed on drop).
pub struct Dev {
    child: Option<Child>,
    pub app: SocketAddr,
    pub dapr: SocketAddr,
    pub admin: SocketAddr,
    pub data: PathBuf,
    stderr: Arc<Lines>,
}

impl Dev {
    /// `todo-dev up` on free ports with JSON logs, keeping its data in `data`.
    pub fn start(data: &Path, extra: &[&str]) -> Dev {
        Self::start_with_env(data, extra, &[])
    }

    /// [`Dev::start`] with these environment variables (e.g. `SPIN_VARIABLE_*`).
    pub fn start_with_env(data: &Path, extra: &[&str], env: &[(&str, &str)]) -> Dev {
        ensure_built();
        let mut child = Command::new(BIN)
            .args(["up", "--no-build", "--log-format", "json", "--data-dir"])
            .arg(data)
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
            .env("SPIN_VARIABLE_APP_API_TOKEN", APP_TOKEN)
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
        let (err, sink) = (child.stderr.take().unwrap(), stderr.clone());
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                sink.lines.lock().unwrap().push(line);
                sink.added.notify_all();
            }
        });
        let mut dev = Dev {
            child: Some(child),
            app: "0.0.0.0:0".parse().unwrap(),
            dapr: "0.0.0.0:0".parse().unwrap(),
            admin: "0.0.0.0:0".parse().unwrap(),
            data: data.to_path_buf(),
            stderr,
        };
        let deadline = Instant::now() + Duration::from_secs(180);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let Ok(line) = stdout.recv_timeout(left) else {
                panic!("todo-dev up did not become ready:\n{}", dev.logs());
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
            } else if line.starts_with("todo-dev: ready in ") {
                break;
            }
        }
        dev
    }

    pub fn logs(&self) -> String {
        self.stderr.lines.lock().unwrap().join("\n")
    }

    /// The first line of a guest's own output (a JSON log line of the component) matching
    /// `pred`, waiting for it at most [`HANG`].
    pub fn wait_for_guest_line(&self, what: &str, pred: impl Fn(&str, &Value) -> bool) -> Value {
        let deadline = Instant::now() + HANG;
        let mut lines = self.stderr.lines.lock().unwrap();
        loop {
            let found = lines.iter().find_map(|line| {
                let host: Value = serde_json::from_str(line).ok()?;
                let component = host["component"].as_str()?;
                let guest: Value = serde_json::from_str(host["message"].as_str()?).ok()?;
                pred(component, &guest).then_some(guest)
            });
            if let Some(guest) = found {
                return guest;
            }
            let Some(left) = deadline.checked_duration_since(Instant::now()) else {
                drop(lines);
                panic!("no {what} within {HANG:?}:\n{}", self.logs());
            };
            lines = self.stderr.added.wait_timeout(lines, left).unwrap().0;
        }
    }

    /// SIGKILL (`kill -9`), then wait for the exit.
    pub fn kill_9(mut self) {
        let mut child = self.child.take().unwrap();
        child.kill().unwrap();
        child.wait().unwrap();
    }

    /// SIGTERM, then wait for the exit.
    pub fn stop(mut self) {
        let mut child = self.child.take().unwrap();
        let pid = child.id().to_string();
        let status = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        assert!(status.success());
        let (tx, exited) = mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(child.wait());
        });
        if exited.recv_timeout(HANG).is_err() {
            let _ = Command::new("kill").args(["-KILL", &pid]).status();
            panic!("todo-dev did not stop:\n{}", self.logs());
        }
    }

    pub fn token(&self, user: &str) -> String {
        let output = Command::new(BIN)
            .args(["token", "--user", user, "--ttl", "1h", "--data-dir"])
            .arg(&self.data)
            .current_dir(workspace())
            .env_remove("SPIN_VARIABLE_JWT_SECRET")
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap().trim().to_string()
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

/// One HTTP/1.1 request on its own connection: status and body (JSON, or a string).
pub fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&Value>,
) -> (u16, Value) {
    let body = body.map(Value::to_string).unwrap_or_default();
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(HANG)).unwrap();
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\ncontent-length: {}\r\n",
        body.len()
    );
    if !body.is_empty() {
        let content_type = headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("content-type"))
            .map_or("application/json", |(_, v)| v);
        head.push_str(&format!("content-type: {content_type}\r\n"));
    }
    for (k, v) in headers
        .iter()
        .filter(|(k, _)| !k.eq_ignore_ascii_case("content-type"))
    {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(body.as_bytes()).unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).unwrap();
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").expect("response head");
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    let body = serde_json::from_str(body).unwrap_or_else(|_| Value::String(body.to_owned()));
    (status, body)
}

/// A user of a running `todo-dev`, with a dev token.
pub struct User<'a> {
    pub dev: &'a Dev,
    auth: String,
}

impl<'a> User<'a> {
    pub fn new(dev: &'a Dev, name: &str) -> Self {
        User {
            dev,
            auth: format!("Bearer {}", dev.token(name)),
        }
    }

    pub fn call(&self, method: &str, path: &str, body: Option<&Value>) -> (u16, Value) {
        request(
            self.dev.app,
            method,
            path,
            &[("authorization", &self.auth)],
            body,
        )
    }

    pub fn create(&self, body: Value) -> Value {
        let (status, task) = self.call("POST", "/api/tasks", Some(&body));
        assert_eq!(status, 201, "{task}");
        task
    }

    /// `POST /complete` (or `/reopen`): the snapshot.
    pub fn set_done(&self, task: &Value, done: bool) -> Value {
        let action = if done { "complete" } else { "reopen" };
        let path = format!("/api/tasks/{}/{action}", task["id"].as_str().unwrap());
        let (status, snapshot) = self.call("POST", &path, None);
        assert_eq!(status, 200, "{snapshot}");
        snapshot
    }

    /// Every task, earliest due first.
    pub fn tasks(&self) -> Vec<Value> {
        let (status, page) = self.call("GET", "/api/tasks?sort=due_date&limit=500", None);
        assert_eq!(status, 200, "{page}");
        page["items"].as_array().unwrap().clone()
    }

    /// Poll `GET /api/tasks` until a task follows `predecessor`; that task.
    pub fn successor_of(&self, predecessor: &Value) -> Value {
        let deadline = Instant::now() + HANG;
        loop {
            let tasks = self.tasks();
            let mut found = tasks
                .iter()
                .filter(|t| t["predecessor_id"] == predecessor["id"]);
            if let Some(successor) = found.next() {
                assert!(found.next().is_none(), "two successors: {tasks:#?}");
                return successor.clone();
            }
            assert!(
                Instant::now() < deadline,
                "no successor of {} within {HANG:?}: {tasks:#?}\n{}",
                predecessor["id"],
                self.dev.logs()
            );
        }
    }

    /// Complete `task` and return the task that follows it.
    pub fn complete_and_follow(&self, task: &Value) -> Value {
        self.set_done(task, true);
        self.successor_of(task)
    }

    /// The tasks of `task`'s series.
    pub fn series(&self, task: &Value) -> Vec<Value> {
        self.tasks()
            .into_iter()
            .filter(|t| t["series_id"] == task["series_id"])
            .collect()
    }
}
