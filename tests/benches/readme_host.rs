//! A load test against the host the README runs: `todo-dev up` as `cargo run --profile fast -p
//! todo-dev -- up` builds it, with every component of spin.toml and persistent data (SQLite in a
//! fresh data dir), over real HTTP:
//!
//!     cargo bench -p todo-tests --bench readme_host
//!     TODO_BENCH_REQUESTS=5000 cargo bench -p todo-tests --bench readme_host
//!     # side by side with other builds of todo-dev (each `label=path`, comma-separated):
//!     TODO_BENCH_ALSO='debug=target/debug/todo-dev' cargo bench -p todo-tests --bench readme_host
//!
//! Builds `todo-dev` with `--profile fast` (a nested `cargo build` into this bench's target dir;
//! `TODO_BENCH_TODO_DEV=<path>` uses a given binary instead) and the components (`todo-dev
//! build`; skipped with `TODO_BENCH_NO_BUILD=1`), then for each binary starts `todo-dev up --no-build` on free ports and a fresh data
//! dir, and measures, in this order, with N requests each (`TODO_BENCH_REQUESTS`, default 2000):
//!
//! 1. resident memory (`VmRSS` of `/proc/<pid>/status`) once it is ready, idle;
//! 2. a warm-up of N/10 creates, then N × `POST /api/tasks` over 16 keep-alive connections spread
//!    over 64 users (connection c sends as user c, c + 16, c + 32, c + 48 in turn);
//! 3. N creates over 16 connections as one user (they contend for that user's 64 buckets);
//! 4. N creates over 1 connection (a third user: latency without queueing);
//! 5. N/4 × `GET /api/tasks?limit=50` of the one-user scenario's user (N tasks) over 16 connections,
//!    then N/4 over 1 connection;
//! 6. resident memory again (and its peak, `VmHWM`).
//!
//! The load generator runs in this process on one thread (tokio current-thread, hyper's HTTP/1
//! client, TCP_NODELAY), sharing the machine with the server; latency is from before the send to
//! the last body byte, req/s = N / wall time. Every answer must be 201 / 200 (at most 1% other,
//! reported). Other components run too, as under the README's command: audit-service and
//! recurring-task-service receive every task event in the background.
//!
//! Run without `--bench` (as `cargo test --benches` does) it only smoke-tests itself (N = 20,
//! `todo-dev` built in the test profile).
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

const SECRET: &str = "readme-host-bench-secret";
const STARTUP_TIMEOUT: Duration = Duration::from_secs(300);
const CONNECTIONS: usize = 16;
const USERS: usize = 64;

/// `todo-dev up` (killed on drop, also when the bench panics); its stderr log and data dir are
/// removed then, unless the bench is panicking.
struct Server {
    child: Child,
    log: PathBuf,
    data_dir: PathBuf,
    addr: SocketAddr,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("readme_host: the server's log is in {}", self.log.display());
        } else {
            let _ = std::fs::remove_file(&self.log);
            let _ = std::fs::remove_dir_all(&self.data_dir);
        }
    }
}

impl Server {
    fn start(label: &str, todo_dev: &Path, root: &Path, ephemeral: bool) -> Server {
        let id = format!(
            "readme_host-{}-{}",
            label.replace(|c: char| !c.is_ascii_alphanumeric(), "_"),
            std::process::id()
        );
        let log = std::env::temp_dir().join(format!("{id}.log"));
        let data_dir = std::env::temp_dir().join(format!("{id}-data"));
        let _ = std::fs::remove_dir_all(&data_dir);
        let mut command = Command::new(todo_dev);
        command
            .args(["up", "--no-build"])
            .args(["--listen", "127.0.0.1:0", "--dapr-listen", "127.0.0.1:0"])
            .args(["--admin-listen", "127.0.0.1:0"])
            .arg("--data-dir")
            .arg(&data_dir)
            .args(ephemeral.then_some("--ephemeral"))
            .current_dir(root)
            .env("SPIN_VARIABLE_JWT_SECRET", SECRET)
            .env_remove("RUST_LOG");
        let log_file = std::fs::File::create(&log).expect("create the server's log file");
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(log_file)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", todo_dev.display()));
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        // Forward the startup lines, then keep draining so the child never blocks on the pipe.
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let _ = tx.send(line);
            }
        });
        let mut server = Server {
            child,
            log,
            data_dir,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        };
        let deadline = Instant::now() + STARTUP_TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = rx.recv_timeout(left).unwrap_or_else(|e| {
                let status = server.child.try_wait().ok().flatten();
                panic!(
                    "{label}: todo-dev up did not get ready ({e}; exit status {status:?}); its log:\n{}",
                    server.log_tail()
                )
            });
            if let Some(addr) = line.strip_prefix("todo-dev: app listening on http://") {
                server.addr = addr.trim().parse().expect("the app address");
            }
            if line.starts_with("todo-dev: ready in") {
                return server;
            }
        }
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }

    /// `VmRSS` and `VmHWM` of the process in MiB (`None` without `/proc`).
    fn memory_mib(&self) -> Option<(f64, f64)> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).ok()?;
        let field = |name: &str| -> Option<f64> {
            let line = status.lines().find(|l| l.starts_with(name))?;
            let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
            Some(kib / 1024.0)
        };
        Some((field("VmRSS:")?, field("VmHWM:")?))
    }
}

/// The measured part of one scenario.
#[derive(Default)]
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

#[derive(Clone, Copy, PartialEq)]
enum Op {
    Create,
    List,
}

fn request(op: Op, addr: SocketAddr, token: &str, n: usize) -> http::Request<Full<Bytes>> {
    let builder = http::Request::builder()
        .header(http::header::HOST, addr.to_string())
        .header(http::header::AUTHORIZATION, format!("Bearer {token}"));
    match op {
        Op::Create => builder
            .method("POST")
            .uri("/api/tasks")
            .header(http::header::CONTENT_TYPE, "application/json")
            .body(Full::new(Bytes::from(format!(
                r#"{{"title":"Load task {n}","priority":"medium","tags":["load"]}}"#
            )))),
        Op::List => builder
            .method("GET")
            .uri("/api/tasks?limit=50")
            .body(Full::new(Bytes::new())),
    }
    .expect("valid request")
}

/// `total` requests of `op` over `connections` keep-alive connections, each sending its next
/// request when the previous answer has been read; request n is sent as `tokens[n % len]`.
async fn run(
    addr: SocketAddr,
    tokens: Arc<Vec<String>>,
    op: Op,
    connections: usize,
    total: usize,
) -> Phase {
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..connections {
        let (next, tokens) = (next.clone(), tokens.clone());
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
                let request = request(op, addr, &tokens[n % tokens.len()], n);
                let sent = Instant::now();
                sender.ready().await.expect("connection ready");
                let response = sender
                    .send_request(request)
                    .await
                    .unwrap_or_else(|e| panic!("request to {addr}: {e}"));
                let status = response.status().as_u16();
                let body = response
                    .into_body()
                    .collect()
                    .await
                    .expect("response body")
                    .to_bytes();
                latencies.push(sent.elapsed());
                let expected = if op == Op::Create { 201 } else { 200 };
                if status != expected {
                    errors.push(format!("{status} {}", String::from_utf8_lossy(&body)));
                }
            }
            (latencies, errors)
        });
    }
    let mut phase = Phase::default();
    let mut errors = Vec::new();
    while let Some(done) = workers.join_next().await {
        let (l, e) = done.unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()));
        phase.latencies.extend(l);
        errors.extend(e);
    }
    phase.elapsed = started.elapsed();
    phase.errors = errors.len();
    if let Some(first) = errors.first() {
        eprintln!(
            "readme_host: {} of {total} requests answered unexpectedly, e.g. {first}",
            errors.len()
        );
    }
    assert!(errors.len() * 100 <= total, "more than 1% failed");
    phase
}

/// Everything measured against one server.
struct Measured {
    label: String,
    idle: Option<(f64, f64)>,
    after: Option<(f64, f64)>,
    phases: Vec<(&'static str, Phase)>,
}

fn measure(label: &str, todo_dev: &Path, root: &Path, ephemeral: bool, n: usize) -> Measured {
    let started = Instant::now();
    let server = Server::start(label, todo_dev, root, ephemeral);
    eprintln!(
        "readme_host: {label} ready on {} in {:.1}s",
        server.addr,
        started.elapsed().as_secs_f64()
    );
    // Idle: as it is once ready, before any request.
    let idle = server.memory_mib();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let now = chrono::Utc::now().timestamp() as u64;
    let token = |user: &str| todo_domain::auth::issue_token(SECRET.as_bytes(), user, now, 3600);
    let many: Arc<Vec<String>> = Arc::new(
        (0..USERS)
            .map(|u| token(&format!("load-user-{u}")))
            .collect(),
    );
    let one = Arc::new(vec![token("load-one-user")]);
    let single = Arc::new(vec![token("load-one-connection")]);
    let addr = server.addr;
    let phases = runtime.block_on(async {
        run(
            addr,
            many.clone(),
            Op::Create,
            CONNECTIONS,
            (n / 10).max(32),
        )
        .await;
        vec![
            (
                "create, 16 conns, 64 users",
                run(addr, many, Op::Create, CONNECTIONS, n).await,
            ),
            (
                "create, 16 conns, 1 user",
                run(addr, one.clone(), Op::Create, CONNECTIONS, n).await,
            ),
            ("create, 1 conn", run(addr, single, Op::Create, 1, n).await),
            (
                "list ?limit=50, 16 conns",
                run(addr, one.clone(), Op::List, CONNECTIONS, (n / 4).max(1)).await,
            ),
            (
                "list ?limit=50, 1 conn",
                run(addr, one, Op::List, 1, (n / 4).max(1)).await,
            ),
        ]
    });
    let after = server.memory_mib();
    let mut server = server;
    if let Ok(Some(status)) = server.child.try_wait() {
        panic!(
            "{label} exited during the run ({status}):\n{}",
            server.log_tail()
        );
    }
    drop(server);
    eprintln!(
        "readme_host: {label} done in {:.1}s",
        started.elapsed().as_secs_f64()
    );
    Measured {
        label: label.to_owned(),
        idle,
        after,
        phases,
    }
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .canonicalize()
        .expect("the repository root")
}

/// Build `todo-dev` into this bench's target dir and return its path: with `--profile fast`, as
/// the README's command does, when measuring; in this bench's own profile for the smoke test
/// (`cargo test --benches` must not start a second full build of wasmtime).
fn build_todo_dev(root: &Path, full: bool) -> PathBuf {
    let exe = std::env::current_exe().expect("the bench's own path");
    // <target>/<profile dir>/deps/readme_host-<hash>
    let profile_dir = exe.parent().and_then(Path::parent).expect("a profile dir");
    let target_dir = profile_dir.parent().expect("a target dir");
    let profile = match profile_dir.file_name().and_then(|n| n.to_str()) {
        _ if full => "fast",
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
        .arg("--message-format=json-render-diagnostics")
        .arg("--target-dir")
        .arg(target_dir)
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
    let n: usize = std::env::var("TODO_BENCH_REQUESTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if full { 2000 } else { 20 })
        .max(1);
    let root = repo_root();
    let todo_dev = match std::env::var_os("TODO_BENCH_TODO_DEV") {
        Some(path) => PathBuf::from(path),
        None => build_todo_dev(&root, full),
    };
    // TODO_BENCH_NO_BUILD=1: serve the .wasm files as they are (e.g. while a component's
    // sources do not build).
    if std::env::var_os("TODO_BENCH_NO_BUILD").is_none() {
        let status = Command::new(&todo_dev)
            .arg("build")
            .current_dir(&root)
            .stdout(Stdio::from(std::io::stderr()))
            .status()
            .expect("run todo-dev build");
        assert!(status.success(), "todo-dev build failed: {status}");
    }

    // (label, binary, ephemeral)
    let label = if full { "fast (README)" } else { "smoke test" };
    let mut targets = vec![(label.to_owned(), todo_dev.clone(), false)];
    if full {
        targets.push(("fast, --ephemeral".to_owned(), todo_dev, true));
    }
    if let Ok(also) = std::env::var("TODO_BENCH_ALSO") {
        for entry in also.split(',').filter(|e| !e.is_empty()) {
            let (label, path) = entry
                .rsplit_once('=')
                .expect("TODO_BENCH_ALSO entries are label=path");
            targets.push((label.to_owned(), root.join(path), false));
        }
    }
    let started = Instant::now();
    let results: Vec<Measured> = targets
        .iter()
        .map(|(label, path, ephemeral)| measure(label, path, &root, *ephemeral, n))
        .collect();

    println!(
        "\ntodo-dev up over HTTP/1 on 127.0.0.1, {n} requests per create row and {} per list row \
         (ran in {:.0} s)\n",
        (n / 4).max(1),
        started.elapsed().as_secs_f64()
    );
    print!("| scenario | |");
    for r in &results {
        print!(" {} |", r.label);
    }
    print!("\n|---|---|");
    for _ in &results {
        print!("--:|");
    }
    println!();
    for i in 0..results[0].phases.len() {
        let name = results[0].phases[i].0;
        for (metric, value) in [
            (
                "req/s",
                &(|p: &Phase| format!("{:.0}", p.requests_per_s())) as &dyn Fn(&Phase) -> String,
            ),
            ("p50 ms", &|p: &Phase| {
                format!("{:.2}", p.percentile_ms(0.5))
            }),
            ("p99 ms", &|p: &Phase| {
                format!("{:.2}", p.percentile_ms(0.99))
            }),
        ] {
            print!("| {name} | {metric} |");
            for r in &results {
                print!(" {} |", value(&r.phases[i].1));
            }
            println!();
        }
    }
    let mib = |m: Option<(f64, f64)>, peak: bool| match m {
        Some((rss, hwm)) => format!("{:.0}", if peak { hwm } else { rss }),
        None => "-".to_owned(),
    };
    for (metric, pick) in [
        (
            "RSS idle, MiB",
            &(|r: &Measured| mib(r.idle, false)) as &dyn Fn(&Measured) -> String,
        ),
        ("RSS after the load, MiB", &|r: &Measured| {
            mib(r.after, false)
        }),
        ("peak RSS (VmHWM), MiB", &|r: &Measured| mib(r.after, true)),
    ] {
        print!("| {metric} | |");
        for r in &results {
            print!(" {} |", pick(r));
        }
        println!();
    }
    let errors: usize = results
        .iter()
        .flat_map(|r| r.phases.iter().map(|(_, p)| p.errors))
        .sum();
    if errors > 0 {
        println!("\n{errors} requests answered with an unexpected status (see stderr)");
    }
    if which("spin").is_none() {
        println!("\n(no `spin` on the PATH: the comparison with a real `spin up` is skipped)");
    } else {
        println!("\n(`spin` is on the PATH, but this bench does not run it yet)");
    }
}

fn which(tool: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(tool))
            .find(|p| p.is_file())
    })
}
