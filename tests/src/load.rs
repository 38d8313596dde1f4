//! The load driver of the HTTP benchmarks (`benches/host_vs_native.rs`, `benches/readme_host.rs`):
//! servers started as child processes, and C keep-alive HTTP/1 connections sending requests back
//! to back, with per-request latency measured in the client.

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

/// How long a server may take to print its ready line (a first start compiles the components).
pub const STARTUP_TIMEOUT: Duration = Duration::from_secs(300);

/// The measured part of one phase: every request's latency, the phase's wall time.
#[derive(Default)]
pub struct Phase {
    pub latencies: Vec<Duration>,
    pub elapsed: Duration,
    /// Answers with another status than the operation's.
    pub errors: usize,
}

impl Phase {
    pub fn requests_per_s(&self) -> f64 {
        self.latencies.len() as f64 / self.elapsed.as_secs_f64()
    }

    /// The `p` quantile (0..=1) of the latencies, in milliseconds (nearest rank).
    pub fn percentile_ms(&self, p: f64) -> f64 {
        let mut sorted = self.latencies.clone();
        sorted.sort();
        sorted[((sorted.len() - 1) as f64 * p).round() as usize].as_secs_f64() * 1e3
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Op {
    /// `POST /api/tasks` with a small valid body (title `Load task <n>`).
    Create,
    /// `GET /api/tasks?limit=50`.
    List,
}

impl Op {
    pub fn label(self) -> &'static str {
        match self {
            Op::Create => "POST /api/tasks",
            Op::List => "GET /api/tasks?limit=50",
        }
    }

    pub fn expected_status(self) -> u16 {
        match self {
            Op::Create => 201,
            Op::List => 200,
        }
    }

    /// Request number `n` of this operation, as the holder of `token`.
    pub fn request(self, addr: SocketAddr, token: &str, n: usize) -> http::Request<Full<Bytes>> {
        let builder = http::Request::builder()
            .header(http::header::HOST, addr.to_string())
            .header(http::header::AUTHORIZATION, format!("Bearer {token}"));
        match self {
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
}

/// `total` requests of `op` over `connections` keep-alive connections (TCP_NODELAY), each
/// sending its next request as soon as the previous answer has been read; request n is sent as
/// `tokens[n % tokens.len()]`. Latency is from before the send to the last body byte. Panics when
/// more than 1% answer with another status than `op`'s.
pub async fn run(
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
                let request = op.request(addr, &tokens[n % tokens.len()], n);
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
    let mut phase = Phase::default();
    let mut errors = Vec::new();
    while let Some(done) = workers.join_next().await {
        let (latencies, failed) =
            done.unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()));
        phase.latencies.extend(latencies);
        errors.extend(failed);
    }
    phase.elapsed = started.elapsed();
    phase.errors = errors.len();
    if let Some(first) = errors.first() {
        eprintln!(
            "{} of {total} {} answered unexpectedly, e.g. {first}",
            errors.len(),
            op.label()
        );
    }
    assert!(
        errors.len() * 100 <= total,
        "more than 1% of {} failed",
        op.label()
    );
    phase
}

/// A server under test: a child process with its stdout read for lines and its stderr in a log
/// file. Killed when dropped (also when the bench panics); the log (and `cleanup`, e.g. a data
/// dir) are removed then, unless the bench is panicking.
pub struct Server {
    pub child: Child,
    pub log: PathBuf,
    pub cleanup: Option<PathBuf>,
    lines: std::sync::mpsc::Receiver<String>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("the server's log is in {}", self.log.display());
        } else {
            let _ = std::fs::remove_file(&self.log);
            if let Some(dir) = &self.cleanup {
                let _ = std::fs::remove_dir_all(dir);
            }
        }
    }
}

impl Server {
    /// Spawns `command` (stdout piped, stderr to `<temp>/<name>-<pid>.log`).
    pub fn spawn(name: &str, mut command: Command) -> Server {
        let log = std::env::temp_dir().join(format!(
            "{}-{}.log",
            name.replace(|c: char| !c.is_ascii_alphanumeric(), "_"),
            std::process::id()
        ));
        let log_file = std::fs::File::create(&log).expect("create the server's log file");
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(log_file)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, lines) = std::sync::mpsc::channel();
        // Forward the lines, and keep draining so the child never blocks on a full pipe.
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let _ = tx.send(line);
            }
        });
        Server {
            child,
            log,
            cleanup: None,
            lines,
        }
    }

    /// Reads stdout until a line starts with `ready` (that line included), and returns for each
    /// of `address_prefixes` the address (the first word) that followed it on some line.
    pub fn wait_ready(&mut self, address_prefixes: &[&str], ready: &str) -> Vec<SocketAddr> {
        let deadline = Instant::now() + STARTUP_TIMEOUT;
        let mut found: Vec<Option<SocketAddr>> = vec![None; address_prefixes.len()];
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = self.lines.recv_timeout(left).unwrap_or_else(|e| {
                let status = self.child.try_wait().ok().flatten();
                panic!(
                    "the server did not print {ready:?} ({e}; exit status {status:?}); its log:\n{}",
                    self.log_tail()
                )
            });
            for (prefix, slot) in address_prefixes.iter().zip(&mut found) {
                if let Some(rest) = line.strip_prefix(prefix) {
                    let rest = rest.split_whitespace().next().unwrap_or_default();
                    let addr = rest
                        .parse()
                        .unwrap_or_else(|e| panic!("bad address {rest:?}: {e}"));
                    *slot = Some(addr);
                }
            }
            if line.starts_with(ready) {
                return address_prefixes
                    .iter()
                    .zip(found)
                    .map(|(prefix, addr)| {
                        addr.unwrap_or_else(|| panic!("no {prefix:?} line before {ready:?}"))
                    })
                    .collect();
            }
        }
    }

    /// Panics with the log's tail if the process has exited.
    pub fn assert_running(&mut self, what: &str) {
        if let Ok(Some(status)) = self.child.try_wait() {
            panic!(
                "{what} exited during the run ({status}):\n{}",
                self.log_tail()
            );
        }
    }

    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }

    /// CPU time (user + system) the process has used, in seconds (`None` without `/proc`).
    pub fn cpu_seconds(&self) -> Option<f64> {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id())).ok()?;
        // Fields after the command name (which may hold spaces) in parentheses.
        let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
        let ticks = |i: usize| fields.get(i)?.parse::<f64>().ok();
        // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
        Some((ticks(11)? + ticks(12)?) / CLOCK_TICKS_PER_SECOND)
    }

    /// Waits (at most `limit`) until the process is idle: under 5% of one core over 200 ms, e.g.
    /// once the consumers have caught up with the events of a load phase. Returns how long it
    /// waited, or `None` where it cannot tell (no `/proc`) or it never went idle.
    pub fn wait_until_idle(&self, limit: std::time::Duration) -> Option<std::time::Duration> {
        const WINDOW: std::time::Duration = std::time::Duration::from_millis(200);
        let started = std::time::Instant::now();
        let mut before = self.cpu_seconds()?;
        while started.elapsed() < limit {
            std::thread::sleep(WINDOW);
            let now = self.cpu_seconds()?;
            if now - before < 0.05 * WINDOW.as_secs_f64() {
                return Some(started.elapsed());
            }
            before = now;
        }
        None
    }

    /// `VmRSS` and `VmHWM` of the process in MiB (`None` without `/proc`).
    pub fn memory_mib(&self) -> Option<(f64, f64)> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).ok()?;
        let field = |name: &str| -> Option<f64> {
            let line = status.lines().find(|l| l.starts_with(name))?;
            let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
            Some(kib / 1024.0)
        };
        Some((field("VmRSS:")?, field("VmHWM:")?))
    }
}

/// `sysconf(_SC_CLK_TCK)`, the unit of `/proc/<pid>/stat` times: 100 on every Linux that
/// `todo-dev` targets (the kernel's `USER_HZ`).
const CLOCK_TICKS_PER_SECOND: f64 = 100.0;

/// The repository root (this crate's parent directory).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .canonicalize()
        .expect("the repository root")
}

/// Builds the `todo-dev` binary into the running bench's own target dir and returns its path
/// (cargo holds no lock while it runs a bench). `profile` = `None`: the bench's own profile
/// (`cargo bench` builds benches with `bench`, into `<target>/release`; `cargo test --benches`
/// with `dev`, into `<target>/debug`; a custom profile's directory is named after it).
pub fn build_todo_dev(profile: Option<&str>) -> PathBuf {
    let exe = std::env::current_exe().expect("the bench's own path");
    // <target>/<profile dir>/deps/<bench>-<hash>
    let profile_dir = exe.parent().and_then(Path::parent).expect("a profile dir");
    let target_dir = profile_dir.parent().expect("a target dir");
    let profile = match (profile, profile_dir.file_name().and_then(|n| n.to_str())) {
        (Some(profile), _) => profile,
        (None, Some("debug")) => "dev",
        (None, Some("release")) => "bench",
        (None, Some(other)) => other,
        (None, None) => panic!("unexpected bench path {}", exe.display()),
    };
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| env!("CARGO").into());
    let output = Command::new(cargo)
        .args(["build", "-p", "todo-dev", "--bin", "todo-dev", "--profile"])
        .arg(profile)
        .arg("--message-format=json-render-diagnostics")
        .arg("--target-dir")
        .arg(target_dir)
        .current_dir(repo_root())
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

/// The first file named `tool` on the PATH.
pub fn which(tool: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(tool))
            .find(|p| p.is_file())
    })
}
