//! chat-api through the host against the same handlers compiled natively, over real HTTP:
//!
//!     cargo bench -p todo-tests --bench host_vs_native
//!     TODO_BENCH_REQUESTS=5000 TODO_BENCH_CONNECTIONS=16 cargo bench -p todo-tests --bench host_vs_native
//!
//! Builds `todo-dev` first (a nested `cargo build -p todo-dev` in this bench's own target dir and
//! profile: `todo-dev` is another package's binary, so cargo does not build it for this one).
//! Starts, one after another, (a) `todo-dev up --ephemeral --no-build` (wasmtime's pooling
//! allocator on), (b) the same with `--no-pooling`, (c) `chat-api-native` (the same `task_api::App`
//! compiled natively behind a minimal hyper server, the same sidecar in process), each on free
//! ports with the same JWT secret. Against each: C keep-alive connections (default 8) send a
//! warm-up, then N requests (default 2000) of `POST /api/tasks`, then a warm-up and N of
//! `GET /api/tasks?limit=50`, all as one user. Prints one table: requests/s, p50 and p99 per target
//! and operation, and the wasm/native ratio (pooling on). The load generator runs in this process
//! on one thread, on the same machine: it competes with the server for CPU, equally for all three.
//!
//! Run without `--bench` (as `cargo test --benches` does) it only smoke-tests itself (N = 20).
use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper_util::rt::TokioIo;
use std::io::{BufRead as _, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

const SECRET: &str = "host-vs-native-bench-secret";
const USER: &str = "bench-user";
const STARTUP_TIMEOUT: Duration = Duration::from_secs(180);

/// A child process that is killed when this is dropped (also when the bench panics). Its
/// stderr log is removed then, unless the bench is panicking.
struct ChildGuard {
    child: Child,
    log: PathBuf,
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!(
                "host_vs_native: the child's log is in {}",
                self.log.display()
            );
        } else {
            let _ = std::fs::remove_file(&self.log);
        }
    }
}

impl ChildGuard {
    /// Spawn `command` (stdout piped, stderr to a log file) and wait for the stdout line that
    /// starts with `prefix`, followed by the bound address.
    fn spawn(name: &'static str, mut command: Command, prefix: &'static str) -> (Self, SocketAddr) {
        let log = std::env::temp_dir().join(format!(
            "host_vs_native-{}-{}.log",
            name.replace([' ', '+', ','], "_"),
            std::process::id()
        ));
        let log_file = std::fs::File::create(&log).expect("create the child's log file");
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(log_file)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        let stdout = child.stdout.take().expect("piped stdout");
        let mut guard = ChildGuard { child, log };
        let (tx, rx) = std::sync::mpsc::channel();
        // Read until the listening line, then keep draining so the child never blocks on a
        // full pipe (chat-api-native writes one log line per request there).
        std::thread::spawn(move || {
            let mut tx = Some(tx);
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(rest) = line.strip_prefix(prefix)
                    && let Some(tx) = tx.take()
                {
                    let _ = tx.send(rest.trim().to_owned());
                }
            }
        });
        match rx.recv_timeout(STARTUP_TIMEOUT) {
            Ok(addr) => {
                let addr = addr
                    .parse()
                    .unwrap_or_else(|e| panic!("{name}: bad address {addr:?}: {e}"));
                (guard, addr)
            }
            Err(e) => {
                let status = guard.child.try_wait().ok().flatten();
                panic!(
                    "{name} did not print {prefix:?} ({e}; exit status {status:?}); its log:\n{}",
                    guard.log_tail()
                )
            }
        }
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }
}

/// The measured part of one phase against one target.
struct Phase {
    latencies: Vec<Duration>,
    elapsed: Duration,
    errors: usize,
}

impl Phase {
    fn requests_per_s(&self) -> f64 {
        self.latencies.len() as f64 / self.elapsed.as_secs_f64()
    }

    fn percentile_ms(&self, p: f64) -> f64 {
        let mut sorted = self.latencies.clone();
        sorted.sort();
        sorted[((sorted.len() - 1) as f64 * p).round() as usize].as_secs_f64() * 1e3
    }
}

#[derive(Clone, Copy)]
enum Op {
    Create,
    List,
}

impl Op {
    fn label(self) -> &'static str {
        match self {
            Op::Create => "POST /api/tasks",
            Op::List => "GET /api/tasks?limit=50",
        }
    }

    fn expected_status(self) -> u16 {
        match self {
            Op::Create => 201,
            Op::List => 200,
        }
    }

    fn request(self, addr: SocketAddr, token: &str, n: usize) -> http::Request<Full<Bytes>> {
        let builder = http::Request::builder()
            .header(http::header::HOST, addr.to_string())
            .header(http::header::AUTHORIZATION, format!("Bearer {token}"));
        match self {
            Op::Create => builder
                .method("POST")
                .uri("/api/tasks")
                .header(http::header::CONTENT_TYPE, "application/json")
                .body(Full::new(Bytes::from(format!(
                    r#"{{"title":"Bench task {n}","priority":"medium","tags":["bench"]}}"#
                )))),
            Op::List => builder
                .method("GET")
                .uri("/api/tasks?limit=50")
                .body(Full::new(Bytes::new())),
        }
        .expect("valid request")
    }
}

/// `total` requests of `op` over `connections` keep-alive connections, each connection sending
/// its next request when the previous answer has been read.
async fn run(addr: SocketAddr, token: &str, op: Op, connections: usize, total: usize) -> Phase {
    let next = Arc::new(AtomicUsize::new(0));
    let token: Arc<str> = Arc::from(token);
    let started = Instant::now();
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..connections {
        let (next, token) = (next.clone(), token.clone());
        workers.spawn(async move {
            let stream = tokio::net::TcpStream::connect(addr)
                .await
                .unwrap_or_else(|e| panic!("connect {addr}: {e}"));
            stream.set_nodelay(true).expect("TCP_NODELAY");
            let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
                .await
                .expect("HTTP/1 handshake");
            tokio::spawn(conn);
            let mut latencies = Vec::new();
            let mut errors = Vec::new();
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= total {
                    break;
                }
                let request = op.request(addr, &token, n);
                let sent = Instant::now();
                sender.ready().await.expect("connection ready");
                let response = sender
                    .send_request(request)
                    .await
                    .unwrap_or_else(|e| panic!("{} to {addr}: {e}", op.label()));
                let status = response.status().as_u16();
                let body = response
                    .into_body()
                    .collect()
                    .await
                    .expect("response body")
                    .to_bytes();
                latencies.push(sent.elapsed());
                if status != op.expected_status() {
                    errors.push(format!("{status} {}", String::from_utf8_lossy(&body)));
                }
            }
            (latencies, errors)
        });
    }
    let mut latencies = Vec::with_capacity(total);
    let mut errors = Vec::new();
    while let Some(done) = workers.join_next().await {
        let (l, e) = done.unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()));
        latencies.extend(l);
        errors.extend(e);
    }
    let elapsed = started.elapsed();
    if let Some(first) = errors.first() {
        eprintln!(
            "host_vs_native: {} of {total} {} answered unexpectedly, e.g. {first}",
            errors.len(),
            op.label()
        );
    }
    assert!(
        errors.len() * 100 <= total,
        "more than 1% of {} failed",
        op.label()
    );
    Phase {
        latencies,
        elapsed,
        errors: errors.len(),
    }
}

struct Target {
    name: &'static str,
    create: Phase,
    list: Phase,
}

struct Settings {
    requests: usize,
    warmup: usize,
    connections: usize,
}

fn measure(
    name: &'static str,
    command: Command,
    prefix: &'static str,
    settings: &Settings,
) -> Target {
    let started = Instant::now();
    let (mut guard, addr) = ChildGuard::spawn(name, command, prefix);
    eprintln!(
        "host_vs_native: {name} listening on {addr} (up in {:.2}s)",
        started.elapsed().as_secs_f64()
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let now = chrono::Utc::now().timestamp() as u64;
    let token = todo_domain::auth::issue_token(SECRET.as_bytes(), USER, now, 3600);
    let Settings {
        requests,
        warmup,
        connections,
    } = *settings;
    let target = runtime.block_on(async {
        run(addr, &token, Op::Create, connections, warmup).await;
        let create = run(addr, &token, Op::Create, connections, requests).await;
        run(addr, &token, Op::List, connections, warmup).await;
        let list = run(addr, &token, Op::List, connections, requests).await;
        Target { name, create, list }
    });
    if let Ok(Some(status)) = guard.child.try_wait() {
        panic!(
            "{name} exited during the run ({status}):\n{}",
            guard.log_tail()
        );
    }
    drop(guard);
    eprintln!(
        "host_vs_native: {name} done in {:.1}s",
        started.elapsed().as_secs_f64()
    );
    target
}

/// One line of the table; `ratio` adds wasm (pooling on) / native.
fn table_row(op: Op, metric: &str, [a, b, c]: [f64; 3], digits: usize, ratio: bool) {
    let ratio = if ratio {
        format!("{:.2}×", a / c)
    } else {
        String::new()
    };
    println!(
        "| {:<23} | {metric:<6} | {a:>14.digits$} | {b:>16.digits$} | {c:>9.digits$} | {ratio:>19} |",
        op.label()
    );
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .canonicalize()
        .expect("the repository root")
}

/// Build the `todo-dev` binary with this bench's profile into this bench's target dir (cargo
/// holds no lock while it runs a bench) and return its path. `cargo bench` builds this bench
/// with the `bench` profile (into `<target>/release`), `cargo test --benches` with `dev` (into
/// `<target>/debug`); a custom profile's directory is named after it.
fn build_todo_dev(root: &Path) -> PathBuf {
    let exe = std::env::current_exe().expect("the bench's own path");
    // <target>/<profile dir>/deps/host_vs_native-<hash>
    let profile_dir = exe.parent().and_then(Path::parent).expect("a profile dir");
    let target_dir = profile_dir.parent().expect("a target dir");
    let profile = match profile_dir.file_name().and_then(|n| n.to_str()) {
        Some("debug") => "dev",
        Some("release") => "bench",
        Some(other) => other,
        None => panic!("unexpected bench path {}", exe.display()),
    };
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| env!("CARGO").into());
    let output = Command::new(cargo)
        .args([
            "build",
            "-p",
            "todo-dev",
            "--bin",
            "todo-dev",
            "--profile",
            profile,
        ])
        .arg("--target-dir")
        .arg(target_dir)
        .arg("--message-format=json-render-diagnostics")
        .current_dir(root)
        .stderr(Stdio::inherit())
        .output()
        .expect("run cargo build -p todo-dev");
    assert!(
        output.status.success(),
        "cargo build -p todo-dev --profile {profile} failed: {}",
        output.status
    );
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|m| m["reason"] == "compiler-artifact" && m["target"]["name"] == "todo-dev")
        .find_map(|m| m["executable"].as_str().map(PathBuf::from))
        .expect("cargo build reported the todo-dev executable")
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let env = |name: &str| std::env::var(name).ok().and_then(|v| v.parse().ok());
    let requests: usize = env("TODO_BENCH_REQUESTS").unwrap_or(if full { 2000 } else { 20 });
    let connections: usize = env("TODO_BENCH_CONNECTIONS").unwrap_or(8).max(1);
    let settings = Settings {
        requests,
        warmup: (requests / 10).max(connections * 2),
        connections,
    };
    let root = repo_root();
    let todo_dev = build_todo_dev(&root);
    let native = env!("CARGO_BIN_EXE_chat-api-native");

    // The component must be built from the same sources as the native binary: `todo-dev build`
    // rebuilds it only when it is missing or older than its sources.
    let status = Command::new(&todo_dev)
        .args(["build", "--component-id", "chat-api"])
        .current_dir(&root)
        .stdout(Stdio::from(std::io::stderr()))
        .status()
        .expect("run todo-dev build");
    assert!(status.success(), "todo-dev build failed: {status}");

    let up = |pooling: bool| {
        let mut command = Command::new(&todo_dev);
        command
            .args(["up", "--ephemeral", "--no-build"])
            .args(["--listen", "127.0.0.1:0", "--dapr-listen", "127.0.0.1:0"])
            .args(["--admin-listen", "127.0.0.1:0"])
            .args((!pooling).then_some("--no-pooling"))
            .current_dir(&root)
            .env("SPIN_VARIABLE_JWT_SECRET", SECRET)
            .env_remove("RUST_LOG");
        command
    };
    let mut native_command = Command::new(native);
    native_command
        .args(["--listen", "127.0.0.1:0", "--jwt-secret", SECRET])
        .current_dir(&root);

    let started = Instant::now();
    let pooled = measure(
        "wasm + pooling",
        up(true),
        "todo-dev: app listening on http://",
        &settings,
    );
    let unpooled = measure(
        "wasm, no pooling",
        up(false),
        "todo-dev: app listening on http://",
        &settings,
    );
    let native = measure(
        "native",
        native_command,
        "chat-api-native: listening on http://",
        &settings,
    );
    let total = started.elapsed();

    println!(
        "\nchat-api over HTTP/1 on 127.0.0.1: {requests} measured requests per row after {} warm-up, \
         {connections} keep-alive connections, one user (ran in {:.0} s)\n",
        settings.warmup,
        total.as_secs_f64()
    );
    let targets = [&pooled, &unpooled, &native];
    println!(
        "| {:<23} | {:<6} | {:>14} | {:>16} | {:>9} | {:>19} |",
        "operation", "", targets[0].name, targets[1].name, targets[2].name, "wasm/native (pool)"
    );
    println!(
        "|{:-<25}|{:-<8}|{:->16}|{:->18}|{:->11}|{:->21}|",
        "", "", ":", ":", ":", ":"
    );
    for (op, [a, b, c]) in [
        (Op::Create, targets.map(|t| &t.create)),
        (Op::List, targets.map(|t| &t.list)),
    ] {
        let rps = [a, b, c].map(Phase::requests_per_s);
        let p50 = [a, b, c].map(|p| p.percentile_ms(0.5));
        let p99 = [a, b, c].map(|p| p.percentile_ms(0.99));
        table_row(op, "req/s", rps, 0, true);
        table_row(op, "p50 ms", p50, 2, true);
        table_row(op, "p99 ms", p99, 2, false);
    }
    let errors: usize = targets
        .iter()
        .map(|t| t.create.errors + t.list.errors)
        .sum();
    if errors > 0 {
        println!("\n{errors} requests answered with an unexpected status (see stderr)");
    }
}
