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
//! build`; skipped with `TODO_BENCH_NO_BUILD=1`), then for each binary starts `todo-dev up
//! --no-build` on free ports and a fresh data dir, and measures, in this order, with N requests each (`TODO_BENCH_REQUESTS`, default 2000):
//!
//! 1. resident memory (`VmRSS` of `/proc/<pid>/status`) once it is ready, idle;
//! 2. a warm-up of N/10 creates, then N × `POST /api/tasks` over 16 keep-alive connections spread
//!    over 64 users (request n as user n mod 64);
//! 3. N creates over 16 connections as one user (they contend for that user's 64 buckets);
//! 4. N creates over 1 connection (a third user: latency without queueing), right away, while
//!    the consumers still work through the events of 2 and 3 (and, after 6, N more as a fourth
//!    user once `todo-dev` is idle: under 5% of a core over 200 ms, at most 120 s);
//! 5. N/4 × `GET /api/tasks?limit=50` of the one-user scenario's user (N tasks) over 16 connections,
//!    then N/4 over 1 connection;
//! 6. resident memory again (and its peak, `VmHWM`);
//! 7. where a `spin` binary is on the PATH: chat-api under `todo-dev up` and under a real `spin
//!    up` of the same spin.toml and `.wasm`, both calling the same (in-memory) sidecar, N creates
//!    over 16 connections and 64 users and N over 1 connection against each (skipped, with a
//!    line saying so, without `spin`).
//!
//! The load generator runs in this process on one thread (tokio current-thread, hyper's HTTP/1
//! client, TCP_NODELAY), sharing the machine with the server; latency is from before the send to
//! the last body byte, req/s = N / wall time. Every answer must be 201 / 200 (at most 1% other,
//! reported). Other components run too, as under the README's command: audit-service and
//! recurring-task-service receive every task event in the background.
//!
//! Run without `--bench` (as `cargo test --benches` does) it only smoke-tests itself (N = 20,
//! `todo-dev` built in the test profile).
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Instant;
use todo_tests::load::{self, Op, Phase, Server};

const SECRET: &str = "readme-host-bench-secret";
const CONNECTIONS: usize = 16;
const USERS: usize = 64;
const APP_LINE: &str = "todo-dev: app listening on http://";
const DAPR_LINE: &str = "todo-dev: dapr listening on http://";
const READY_LINE: &str = "todo-dev: ready in";

/// `todo-dev up --no-build` on free ports with a fresh data dir (removed with the server).
fn start_todo_dev(
    label: &str,
    todo_dev: &Path,
    root: &Path,
    ephemeral: bool,
    components: &[&str],
) -> (Server, SocketAddr, SocketAddr) {
    let id = format!(
        "readme_host-{}-{}",
        label.replace(|c: char| !c.is_ascii_alphanumeric(), "_"),
        std::process::id()
    );
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
        .args(components.iter().flat_map(|c| ["--component-id", c]))
        .current_dir(root)
        .env("SPIN_VARIABLE_JWT_SECRET", SECRET)
        .env_remove("RUST_LOG");
    let mut server = Server::spawn(&id, command);
    server.cleanup = Some(data_dir);
    let addrs = server.wait_ready(&[APP_LINE, DAPR_LINE], READY_LINE);
    (server, addrs[0], addrs[1])
}

/// Tokens of `USERS` users named `<prefix>-<n>`, and of single users.
struct Tokens {
    now: u64,
}

impl Tokens {
    fn users(&self, prefix: &str, count: usize) -> Arc<Vec<String>> {
        Arc::new(
            (0..count)
                .map(|u| {
                    let user = if count == 1 {
                        prefix.to_owned()
                    } else {
                        format!("{prefix}-{u}")
                    };
                    todo_domain::auth::issue_token(SECRET.as_bytes(), &user, self.now, 3600)
                })
                .collect(),
        )
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// N/10 creates (at least 32) over 16 connections, not measured.
async fn warm_up(addr: SocketAddr, tokens: &Arc<Vec<String>>, n: usize) {
    load::run(
        addr,
        tokens.clone(),
        Op::Create,
        CONNECTIONS,
        (n / 10).max(32),
    )
    .await;
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
    let (mut server, addr, _) = start_todo_dev(label, todo_dev, root, ephemeral, &[]);
    eprintln!(
        "readme_host: {label} ready on {addr} in {:.1}s",
        started.elapsed().as_secs_f64()
    );
    // Idle: as it is once ready, before any request.
    let idle = server.memory_mib();
    let tokens = Tokens {
        now: chrono::Utc::now().timestamp() as u64,
    };
    let many = tokens.users("load-user", USERS);
    let one = tokens.users("load-one-user", 1);
    let single = tokens.users("load-one-connection", 1);
    let single_idle = tokens.users("load-one-connection-idle", 1);
    let mut phases = runtime().block_on(async {
        warm_up(addr, &many, n).await;
        vec![
            (
                "create, 16 conns, 64 users",
                load::run(addr, many, Op::Create, CONNECTIONS, n).await,
            ),
            (
                "create, 16 conns, 1 user",
                load::run(addr, one.clone(), Op::Create, CONNECTIONS, n).await,
            ),
            (
                "create, 1 conn",
                load::run(addr, single, Op::Create, 1, n).await,
            ),
            (
                "list ?limit=50, 16 conns",
                load::run(addr, one.clone(), Op::List, CONNECTIONS, (n / 4).max(1)).await,
            ),
            (
                "list ?limit=50, 1 conn",
                load::run(addr, one, Op::List, 1, (n / 4).max(1)).await,
            ),
        ]
    });
    let after = server.memory_mib();
    // The one-connection row above runs while audit-service and recurring-task-service still
    // work through the events of the rows before it; this one once they have caught up (after
    // the memory reading, so that the load the memory is measured after stays the same).
    match server.wait_until_idle(std::time::Duration::from_secs(120)) {
        Some(waited) => eprintln!(
            "readme_host: {label} idle after {:.1}s",
            waited.as_secs_f64()
        ),
        None => eprintln!("readme_host: {label} did not go idle within 120 s"),
    }
    let caught_up = runtime().block_on(load::run(addr, single_idle, Op::Create, 1, n));
    phases.insert(3, ("create, 1 conn, consumers caught up", caught_up));
    server.assert_running(label);
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

/// chat-api served by `todo-dev up` and by a real `spin up` (the same `.wasm` and spin.toml),
/// both calling the same sidecar: the Dapr port of that `todo-dev up --ephemeral --component-id
/// chat-api` (acting as app-id chat-api), given to Spin's chat-api as its `dapr_url` variable.
/// Creates over 16 connections and 64 users, then over 1 connection, against each in turn
/// (different users, so neither reads the other's tasks).
fn compare_with_spin(spin: &Path, todo_dev: &Path, root: &Path, n: usize) {
    let (mut host, host_addr, dapr) =
        start_todo_dev("spin-comparison", todo_dev, root, true, &["chat-api"]);
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let mut command = Command::new(spin);
    command
        .args(["up", "--from", "spin.toml", "--component-id", "chat-api"])
        .arg("--listen")
        .arg(format!("127.0.0.1:{port}"))
        .current_dir(root)
        .env("SPIN_VARIABLE_JWT_SECRET", SECRET)
        .env("SPIN_VARIABLE_DAPR_URL", format!("http://{dapr}"))
        .env_remove("RUST_LOG");
    let mut spin_up = Server::spawn("readme_host-spin-up", command);
    // Spin prints "Serving http://127.0.0.1:<port>", then the routes, once it listens.
    let spin_addr = spin_up.wait_ready(&["Serving http://"], "Available Routes")[0];
    let tokens = Tokens {
        now: chrono::Utc::now().timestamp() as u64,
    };
    let mut rows = Vec::new();
    for (who, addr) in [("todo-dev up", host_addr), ("spin up", spin_addr)] {
        let many = tokens.users(&format!("{who}-user"), USERS);
        let single = tokens.users(&format!("{who}-single"), 1);
        let phases = runtime().block_on(async {
            warm_up(addr, &many, n).await;
            [
                load::run(addr, many, Op::Create, CONNECTIONS, n).await,
                load::run(addr, single, Op::Create, 1, n).await,
            ]
        });
        rows.push((who, phases));
    }
    spin_up.assert_running("spin up");
    host.assert_running("todo-dev up");
    println!(
        "\nchat-api under todo-dev and under a real `spin up`, the same sidecar (todo-dev's, in \
         memory), {n} creates per row\n"
    );
    println!("| scenario | | todo-dev up | spin up | todo-dev ÷ spin |\n|---|---|--:|--:|--:|");
    for (i, scenario) in ["create, 16 conns, 64 users", "create, 1 conn"]
        .into_iter()
        .enumerate()
    {
        let (a, b) = (&rows[0].1[i], &rows[1].1[i]);
        println!(
            "| {scenario} | req/s | {:.0} | {:.0} | {:.2}× |",
            a.requests_per_s(),
            b.requests_per_s(),
            a.requests_per_s() / b.requests_per_s()
        );
        println!(
            "| {scenario} | p99 ms | {:.2} | {:.2} | |",
            a.percentile_ms(0.99),
            b.percentile_ms(0.99)
        );
    }
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let n: usize = std::env::var("TODO_BENCH_REQUESTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if full { 2000 } else { 20 })
        .max(1);
    let root = load::repo_root();
    // With `--profile fast`, as the README's command builds it, when measuring; in this bench's
    // own profile for the smoke test (`cargo test --benches` must not build wasmtime twice).
    let todo_dev = match std::env::var_os("TODO_BENCH_TODO_DEV") {
        Some(path) => PathBuf::from(path),
        None => load::build_todo_dev(full.then_some("fast")),
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
        targets.push(("fast, --ephemeral".to_owned(), todo_dev.clone(), true));
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
    match load::which("spin") {
        Some(spin) => compare_with_spin(&spin, &todo_dev, &root, n),
        None => {
            println!("\n(no `spin` on the PATH: the comparison with a real `spin up` is skipped)")
        }
    }
}
