//! Completion → next occurrence visible in `GET /api/tasks`, on `todo-dev`'s stack in process:
//! chat-api and recurring-task-service (the release `.wasm` files in wasmtime, as the test
//! harness loads them), the embedded sidecar with the repository's `dapr/` (declarative
//! subscription, resiliency, access control, app API token), `spin_host::apps` as the app
//! channel. No HTTP listener: requests enter at the host's router, as `todo-dev`'s app port hands
//! them over.
//!
//!     cargo bench -p todo-tests --bench recurring              # 1,000 completions
//!     TODO_BENCH_COMPLETIONS=200 cargo bench -p todo-tests --bench recurring
//!
//! One completion at a time: `POST /api/tasks/{id}/complete` (chat-api commits, publishes
//! `task.completed`), the sidecar delivers it to `/recurring/task-completed`, the service invokes
//! chat-api's `POST /api/internal/occurrences`, which creates the successor; the clock stops at
//! the end of the first `GET /api/tasks` after chat-api's answer to that invocation (the
//! benchmark waits for it on the sidecar's app channel, without polling), which must list the
//! successor. Users of 10 completions each (a chain: each successor is completed next), so a
//! list reads at most 11 tasks. Prints one table; without `--bench` (as `cargo test --benches`
//! runs it) it only smoke-tests itself with 20 completions.
#[allow(dead_code)]
#[path = "../tests/recurring/stack.rs"]
mod stack;

use serde_json::{Value, json};
use spin_host::SharedClock;
use stack::{CHAT_API, Stack};
use std::time::{Duration, Instant};

const PER_USER: usize = 10;
const TARGET_P99: Duration = Duration::from_millis(50);

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn row(name: &str, mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    let mean = samples.iter().sum::<Duration>() / samples.len() as u32;
    let p99 = percentile(&samples, 0.99);
    println!(
        "| {name:<46} | {:>5} | {:>7.2} | {:>7.2} | {:>7.2} | {:>7.2} |",
        samples.len(),
        ms(percentile(&samples, 0.5)),
        ms(p99),
        ms(mean),
        ms(*samples.last().unwrap())
    );
    p99
}

/// The times of one completion: `POST /complete` answered, chat-api's answer to the
/// invocation seen, the successor listed.
struct Sample {
    complete: Duration,
    created: Duration,
    visible: Duration,
}

async fn complete_one(s: &Stack, user: &str, task: &Value) -> (Sample, Value) {
    let id = task["id"].as_str().unwrap();
    let path = format!("/api/tasks/{id}/complete");
    let from = s.call_count();
    let started = Instant::now();
    let (status, body) = s.call_as(user, "POST", &path, None).await;
    let complete = started.elapsed();
    assert_eq!(status, 200, "{body}");
    s.wait_for_call(from, |c| {
        c.app_id == CHAT_API
            && c.path == "/api/internal/occurrences"
            && c.answer["predecessor_id"] == id
    })
    .await;
    let created = started.elapsed();
    let successor = loop {
        let tasks = s.list(user).await;
        if let Some(next) = tasks.into_iter().find(|t| t["predecessor_id"] == id) {
            break next;
        }
        // Not reached: chat-api answered the invocation after committing the successor.
        assert!(
            started.elapsed() < stack::HANG,
            "the successor never showed"
        );
    };
    let sample = Sample {
        complete,
        created,
        visible: started.elapsed(),
    };
    (sample, successor)
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let completions: usize = std::env::var("TODO_BENCH_COMPLETIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if full { 1000 } else { 20 });
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async move {
        let s = Stack::start(SharedClock::system());
        let started = Instant::now();
        let warm_up = 2 * PER_USER;
        let mut samples = Vec::new();
        let users = (completions + warm_up).div_ceil(PER_USER);
        for u in 0..users {
            let user = format!("bench-{u}");
            let mut task = s
                .create(
                    &user,
                    json!({"title": format!("Chain {u}"), "due_date": "2030-01-01T09:00:00Z",
                                      "recurrence_rule": "daily", "reminder_offset_minutes": 15}),
                )
                .await;
            for _ in 0..PER_USER {
                let (sample, next) = complete_one(&s, &user, &task).await;
                samples.push(sample);
                task = next;
            }
        }
        let ran = started.elapsed();
        let samples: Vec<Sample> = samples
            .into_iter()
            .skip(warm_up)
            .take(completions)
            .collect();
        let n = samples.len();
        assert_eq!(
            s.occurrence_answers().iter().filter(|a| **a == 201).count(),
            users * PER_USER
        );

        println!(
            "\nrecurring: completion → next occurrence visible in GET /api/tasks, {n} completions \
             after {warm_up} warm-up, one at a time, {PER_USER} per user ({:.1} s in all)\n",
            ran.as_secs_f64()
        );
        println!(
            "| {:<46} | {:>5} | {:>7} | {:>7} | {:>7} | {:>7} |",
            "from sending POST /complete to", "n", "p50 ms", "p99 ms", "mean ms", "max ms"
        );
        println!(
            "|{:-<48}|{:-<7}|{:-<9}|{:-<9}|{:-<9}|{:-<9}|",
            "", "", "", "", "", ""
        );
        row(
            "its answer (commit + publish)",
            samples.iter().map(|s| s.complete).collect(),
        );
        row(
            "chat-api created the successor",
            samples.iter().map(|s| s.created).collect(),
        );
        let p99 = row(
            "the successor listed by GET /api/tasks",
            samples.iter().map(|s| s.visible).collect(),
        );
        println!(
            "\np99 {:.2} ms: {} the {} ms target",
            ms(p99),
            if p99 < TARGET_P99 { "within" } else { "ABOVE" },
            TARGET_P99.as_millis()
        );
    });
}
