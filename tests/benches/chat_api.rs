//! chat-api at 10,000 tasks for one user, through the wasm harness (the release component in
//! wasmtime, its Dapr calls answered by the in-process sidecar):
//!
//!     cargo bench -p todo-tests --bench chat_api            # 10,000 tasks
//!     TODO_BENCH_TASKS=2000 cargo bench -p todo-tests --bench chat_api
//!
//! Prints one table. Run without `--bench` (as `cargo test --benches` does) it only smoke-tests
//! itself with a few tasks.
use bytes::Bytes;
use dapr_sidecar::{Sidecar, SidecarConfig};
use std::sync::Arc;
use std::time::{Duration, Instant};

const SECRET: &str = "bench-secret";

struct Bench {
    component: todo_tests::TestComponent,
    token: String,
}

impl Bench {
    async fn call(&self, method: &str, path: &str, body: Option<String>) -> (u16, Bytes, Duration) {
        let mut request = http::Request::builder()
            .method(method)
            .uri(path)
            .header("authorization", format!("Bearer {}", self.token));
        if body.is_some() {
            request = request.header("content-type", "application/json");
        }
        let request = request
            .body(body.map(Bytes::from).unwrap_or_default())
            .unwrap();
        let started = Instant::now();
        let response = self.component.send(request).await;
        let elapsed = started.elapsed();
        (response.status().as_u16(), response.into_body(), elapsed)
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn row(name: &str, mut samples: Vec<Duration>) {
    samples.sort();
    let mean = samples.iter().sum::<Duration>() / samples.len() as u32;
    println!(
        "| {name:<44} | {:>5} | {:>9.2} | {:>9.2} | {:>9.2} |",
        samples.len(),
        percentile(&samples, 0.5).as_secs_f64() * 1e3,
        percentile(&samples, 0.99).as_secs_f64() * 1e3,
        mean.as_secs_f64() * 1e3
    );
}

fn task_body(n: usize) -> String {
    let priority = ["low", "medium", "high"][n % 3];
    let status = if n.is_multiple_of(4) {
        "completed"
    } else {
        "pending"
    };
    format!(
        r#"{{"title":"Task {n} about report {}","description":"Benchmark task number {n} with a description of typical length.","priority":"{priority}","status":"{status}","tags":["bench","t{}"],"due_date":"2027-{:02}-{:02}T09:00:00Z"}}"#,
        n % 97,
        n % 10,
        n % 12 + 1,
        n % 28 + 1
    )
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let tasks: usize = std::env::var("TODO_BENCH_TASKS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if full { 10_000 } else { 64 });
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async move {
        let sidecar = Sidecar::new(SidecarConfig::default());
        let component = todo_tests::component_with("chat-api", Arc::new(todo_tests::SidecarOutbound(sidecar)), &[("jwt_secret", SECRET)]);
        let now = chrono::Utc::now().timestamp() as u64;
        let bench = Bench { component, token: todo_domain::auth::issue_token(SECRET.as_bytes(), "bench-user", now, 86_400) };

        let seeding = Instant::now();
        let mut creates_at_size = Vec::new();
        let mut last_id = String::new();
        for n in 0..tasks {
            let (status, body, elapsed) = bench.call("POST", "/api/tasks", Some(task_body(n))).await;
            assert_eq!(status, 201, "{}", String::from_utf8_lossy(&body));
            if n + 200 >= tasks {
                creates_at_size.push(elapsed);
                last_id = serde_json::from_slice::<serde_json::Value>(&body).unwrap()["id"].as_str().unwrap().to_owned();
            }
        }
        let seeded_in = seeding.elapsed();

        let runs = if full { 30 } else { 3 };
        let mut results = Vec::new();
        for (name, path) in [
            ("list: default page (50, newest first)", "/api/tasks".to_owned()),
            ("list: status=active&priority=high&sort=due_date", "/api/tasks?status=active&priority=high&sort=due_date".to_owned()),
            ("list: search=report 42&tags=bench", "/api/tasks?search=report%2042&tags=bench".to_owned()),
            ("list: overdue=false&sort=title&limit=500", "/api/tasks?overdue=false&sort=title&limit=500".to_owned()),
        ] {
            let mut samples = Vec::new();
            for _ in 0..runs {
                let (status, body, elapsed) = bench.call("GET", &path, None).await;
                assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
                samples.push(elapsed);
            }
            results.push((name, samples));
        }
        let mut gets = Vec::new();
        let mut patches = Vec::new();
        for n in 0..(runs * 10) {
            gets.push(bench.call("GET", &format!("/api/tasks/{last_id}"), None).await.2);
            let (status, _, elapsed) = bench.call("PATCH", &format!("/api/tasks/{last_id}"), Some(format!(r#"{{"title":"renamed {n}"}}"#))).await;
            assert_eq!(status, 200);
            patches.push(elapsed);
        }

        println!("\nchat-api through the wasm harness, one user with {tasks} tasks (seeded in {:.1} s)\n", seeded_in.as_secs_f64());
        println!("| {:<44} | {:>5} | {:>9} | {:>9} | {:>9} |", "operation", "n", "p50 ms", "p99 ms", "mean ms");
        println!("|{:-<46}|{:-<7}|{:-<11}|{:-<11}|{:-<11}|", "", "", "", "", "");
        row(&format!("create (last {} of {tasks})", creates_at_size.len()), creates_at_size);
        row("get by id", gets);
        row("patch title", patches);
        for (name, samples) in results {
            row(name, samples);
        }
    });
}
