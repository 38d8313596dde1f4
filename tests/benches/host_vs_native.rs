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
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Instant;
use todo_tests::load::{self, Op, Phase, Server};

const SECRET: &str = "host-vs-native-bench-secret";
const USER: &str = "bench-user";

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

fn measure(name: &'static str, command: Command, prefix: &str, settings: &Settings) -> Target {
    let started = Instant::now();
    let mut server = Server::spawn(&format!("host_vs_native-{name}"), command);
    let addr = server.wait_ready(&[prefix], prefix)[0];
    eprintln!(
        "host_vs_native: {name} listening on {addr} (up in {:.2}s)",
        started.elapsed().as_secs_f64()
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let now = chrono::Utc::now().timestamp() as u64;
    let token = Arc::new(vec![todo_domain::auth::issue_token(
        SECRET.as_bytes(),
        USER,
        now,
        3600,
    )]);
    let Settings {
        requests,
        warmup,
        connections,
    } = *settings;
    let target = runtime.block_on(async {
        load::run(addr, token.clone(), Op::Create, connections, warmup).await;
        let create = load::run(addr, token.clone(), Op::Create, connections, requests).await;
        load::run(addr, token.clone(), Op::List, connections, warmup).await;
        let list = load::run(addr, token, Op::List, connections, requests).await;
        Target { name, create, list }
    });
    server.assert_running(name);
    drop(server);
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
    let root = load::repo_root();
    let todo_dev = load::build_todo_dev(None);
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
            .args([
                "up",
                "--ephemeral",
                "--no-build",
                "--component-id",
                "chat-api",
            ])
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
