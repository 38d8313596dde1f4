//! audit-service's `GET /audit/log` with 1,000 and with 100,000 stored events of one user, through
//! the wasm harness (the release component in wasmtime, its Dapr calls answered by the in-process
//! sidecar):
//!
//!     cargo bench -p todo-tests --bench audit_log
//!     TODO_BENCH_AUDIT_SIZES=1000,10000 cargo bench -p todo-tests --bench audit_log
//!
//! The stored events are written straight into the sidecar's state store, in the documents
//! `audit_log::layout` defines (the ones deliveries write), to keep the setup to seconds: one
//! event every 5 minutes ending now (12 per hour: 1,000 events span 3.5 days, 100,000 span
//! 11.5 months), 10 per task (created, then updated, completed, reopened, … : the same mix at
//! every point in time). Both sizes are set up first and every row is measured on them in turn,
//! run by run, so load on a shared machine hits both alike. Rows: the newest page, a filtered
//! page, a one-day window half the span back, one task's whole history, and storing one more
//! event through a delivery. Run without `--bench` (as `cargo test --benches` does) it only
//! smoke-tests itself with small sizes.
use audit_log::Entry;
use audit_log::entry::RawJson;
use audit_log::layout::{CHUNK_CAPACITY, EntriesDoc, Hour, IndexDoc, Keys, Month, MonthDoc};
use bytes::Bytes;
use chrono::{DateTime, TimeDelta, Utc};
use dapr_sidecar::{Sidecar, SidecarConfig};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use todo_domain::{Task, TaskDraft, TaskEventType};
use uuid::Uuid;

const SECRET: &str = "bench-secret";
const APP_TOKEN: &str = "bench-app-token";
const USER: &str = "bench-user";
const EVENTS_PER_TASK: u64 = 10;
const SPACING_MINUTES: i64 = 5;

/// The stored log of one user: event `n` (0 = oldest) of `events`.
struct Log {
    events: u64,
    tasks: u64,
    first: DateTime<Utc>,
    snapshot: Value,
}

impl Log {
    fn new(events: u64, now: DateTime<Utc>) -> Self {
        let draft = TaskDraft::from_json(&json!({
            "title": "Quarterly report for the finance team",
            "description": "Collect the numbers from every department, check them against last quarter and send the summary.",
            "priority": "high", "tags": ["work", "finance", "reports"],
            "due_date": "2026-12-01T09:00:00Z", "reminder_offset_minutes": 60,
        }))
        .unwrap();
        let snapshot = serde_json::to_value(Task::create(Uuid::nil(), USER, draft, now)).unwrap();
        let first = now - TimeDelta::minutes(SPACING_MINUTES * events as i64);
        Log {
            events,
            tasks: events.div_ceil(EVENTS_PER_TASK),
            first,
            snapshot,
        }
    }

    fn time(&self, n: u64) -> DateTime<Utc> {
        self.first + TimeDelta::minutes(SPACING_MINUTES * n as i64)
    }

    fn task_of(&self, n: u64) -> u64 {
        n / EVENTS_PER_TASK
    }

    fn task_id(task: u64) -> Uuid {
        Uuid::from_u128(0x7a5c_0000_0000_0000_0000_0000_0000_0000 + u128::from(task))
    }

    fn entry(&self, n: u64) -> Entry {
        let task = self.task_of(n);
        // Created, then updates, completions and reopenings: the same mix at every point in time.
        let (event_type, changed) = match n % EVENTS_PER_TASK {
            0 => (
                TaskEventType::Created,
                vec!["id", "user_id", "title", "status", "priority", "time_zone"],
            ),
            3 | 6 | 9 => (TaskEventType::Completed, vec!["status", "completed_at"]),
            4 | 7 => (TaskEventType::Reopened, vec!["status", "completed_at"]),
            _ => (TaskEventType::Updated, vec!["title"]),
        };
        let mut task_json = self.snapshot.clone();
        task_json["id"] = json!(Self::task_id(task));
        task_json["title"] = json!(format!("Quarterly report {task}"));
        let time = self.time(n);
        Entry {
            event_id: Uuid::from_u128(0xe000_0000_0000_0000_0000_0000_0000_0000 + u128::from(n)),
            event_type,
            user_id: USER.to_owned(),
            task_id: Self::task_id(task),
            time,
            recorded_at: time + TimeDelta::milliseconds(40),
            changed_fields: changed.into_iter().map(str::to_owned).collect(),
            task: RawJson::of(&task_json),
        }
    }

    /// Every document of the log, as (key, value), in batches handed to `put`.
    async fn write(&self, sidecar: &Sidecar) -> usize {
        let keys = Keys::new(USER);
        let mut batch = Vec::new();
        let mut written = 0;
        let mut months: BTreeMap<Month, MonthDoc> = BTreeMap::new();
        // Hour chunks, oldest first.
        let mut n = 0;
        while n < self.events {
            let hour = Hour::of(self.time(n));
            let mut entries = Vec::new();
            while n < self.events && Hour::of(self.time(n)) == hour {
                entries.push(self.entry(n));
                n += 1;
            }
            for (chunk, part) in entries.chunks(CHUNK_CAPACITY).enumerate() {
                let doc = EntriesDoc {
                    entries: part.to_vec(),
                    ..EntriesDoc::default()
                };
                months.entry(hour.month()).or_default().set_count(
                    hour.month(),
                    hour,
                    chunk,
                    part.len(),
                );
                batch.push((keys.chunk(hour, chunk), serde_json::to_value(doc).unwrap()));
            }
            written += flush_if_full(sidecar, &mut batch).await;
        }
        // Each task's history: its 10 consecutive events.
        for task in 0..self.tasks {
            let entries = (task * EVENTS_PER_TASK..((task + 1) * EVENTS_PER_TASK).min(self.events))
                .map(|n| self.entry(n))
                .collect();
            let doc = EntriesDoc {
                entries,
                ..EntriesDoc::default()
            };
            batch.push((
                keys.task(Self::task_id(task)),
                serde_json::to_value(doc).unwrap(),
            ));
            written += flush_if_full(sidecar, &mut batch).await;
        }
        let mut index = IndexDoc::default();
        for (month, doc) in months {
            index.months.insert(month);
            batch.push((keys.month(month), serde_json::to_value(doc).unwrap()));
        }
        batch.push((keys.index(), serde_json::to_value(index).unwrap()));
        written + flush(sidecar, &mut batch).await
    }
}

async fn flush_if_full(sidecar: &Sidecar, batch: &mut Vec<(String, Value)>) -> usize {
    if batch.len() >= 500 {
        flush(sidecar, batch).await
    } else {
        0
    }
}

/// Save `batch` through the sidecar's state API as audit-service.
async fn flush(sidecar: &Sidecar, batch: &mut Vec<(String, Value)>) -> usize {
    let items: Vec<Value> = batch
        .drain(..)
        .map(|(key, value)| json!({"key": key, "value": value}))
        .collect();
    let request = http::Request::post("/v1.0/state/statestore")
        .header("content-type", "application/json")
        .body(Bytes::from(serde_json::to_vec(&items).unwrap()))
        .unwrap();
    let response = sidecar.handle("audit-service", request).await;
    assert_eq!(response.status(), 204, "{:?}", response.body());
    items.len()
}

struct Bench {
    component: todo_tests::TestComponent,
    token: String,
}

impl Bench {
    async fn get(&self, path: &str) -> (Value, Duration) {
        let request = http::Request::get(path)
            .header("authorization", format!("Bearer {}", self.token))
            .body(Bytes::new())
            .unwrap();
        let started = Instant::now();
        let response = self.component.send(request).await;
        let elapsed = started.elapsed();
        assert_eq!(
            response.status(),
            200,
            "{path}: {}",
            String::from_utf8_lossy(response.body())
        );
        (serde_json::from_slice(response.body()).unwrap(), elapsed)
    }

    async fn deliver(&self, event: &Value) -> Duration {
        let request = http::Request::post("/audit/task-events")
            .header("content-type", "application/cloudevents+json")
            .header("dapr-api-token", APP_TOKEN)
            .body(Bytes::from(event.to_string()))
            .unwrap();
        let started = Instant::now();
        let response = self.component.send(request).await;
        let elapsed = started.elapsed();
        assert_eq!(response.body().as_ref(), br#"{"status":"SUCCESS"}"#);
        elapsed
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn row_line(name: &str, events: u64, mut samples: Vec<Duration>) {
    samples.sort();
    let mean = samples.iter().sum::<Duration>() / samples.len() as u32;
    println!(
        "| {name:<46} | {events:>7} | {:>7.2} | {:>7.2} | {:>7.2} |",
        percentile(&samples, 0.5).as_secs_f64() * 1e3,
        percentile(&samples, 0.99).as_secs_f64() * 1e3,
        mean.as_secs_f64() * 1e3
    );
}

/// A delivery of a new event of `task` at `time`, as chat-api publishes it.
fn new_event(n: u64, task: Uuid, time: DateTime<Utc>) -> Value {
    let draft = TaskDraft::from_json(&json!({"title": "Fresh event"})).unwrap();
    let snapshot = Task::create(task, USER, draft, time);
    let id = Uuid::from_u128(0xd000_0000_0000_0000_0000_0000_0000_0000 + u128::from(n));
    let event = todo_domain::task_event(TaskEventType::Updated, id, time, &snapshot, &["title"]);
    serde_json::to_value(task_api::events::envelope(&event)).unwrap()
}

/// One size: its log, stored in its own sidecar, and audit-service in front of it.
struct Scenario {
    events: u64,
    log: Log,
    bench: Bench,
    now: DateTime<Utc>,
    task: Uuid,
    queries: Vec<(&'static str, String)>,
}

async fn scenario(events: u64) -> Scenario {
    let now = Utc::now();
    let log = Log::new(events, now);
    let sidecar = Sidecar::new(SidecarConfig::default());
    let seeding = Instant::now();
    let documents = log.write(&sidecar).await;
    println!(
        "{events} events of one user: {} tasks of {EVENTS_PER_TASK} events, one every \
         {SPACING_MINUTES} min over {:.1} days, {documents} documents, seeded in {:.1} s",
        log.tasks,
        (now - log.first).num_minutes() as f64 / 1440.0,
        seeding.elapsed().as_secs_f64()
    );
    let component = todo_tests::component_with(
        "audit-service",
        Arc::new(todo_tests::SidecarOutbound(sidecar)),
        &[("jwt_secret", SECRET), ("app_api_token", APP_TOKEN)],
    );
    let token =
        todo_domain::auth::issue_token(SECRET.as_bytes(), USER, now.timestamp() as u64, 86_400);
    let bench = Bench { component, token };

    // Correctness first: the newest page is the newest 100 events; a task's history is whole.
    let (page, _) = bench.get("/audit/log").await;
    let newest = log.entry(events - 1).event_id.to_string();
    assert_eq!(page["items"][0]["event_id"], newest);
    assert_eq!(
        page["items"].as_array().unwrap().len(),
        100.min(events as usize)
    );
    let task = Log::task_id(log.task_of(events / 2));
    let (history, _) = bench.get(&format!("/audit/log?task_id={task}")).await;
    assert_eq!(
        history["items"].as_array().unwrap().len(),
        EVENTS_PER_TASK as usize
    );
    let (completed, _) = bench.get("/audit/log?event_type=task.completed").await;
    let completed = completed["items"].as_array().unwrap();
    assert_eq!(completed.len(), 100.min(events as usize * 3 / 10));
    assert!(
        completed
            .iter()
            .all(|e| e["event_type"] == "task.completed")
    );
    let day = log.time(events / 2);
    let window = format!(
        "/audit/log?from={}&to={}",
        day.format("%Y-%m-%dT%H:%M:%SZ"),
        (day + TimeDelta::days(1)).format("%Y-%m-%dT%H:%M:%SZ")
    );
    let queries = vec![
        ("newest page (limit 100)", "/audit/log".to_owned()),
        (
            "newest page, event_type=task.completed",
            "/audit/log?event_type=task.completed".to_owned(),
        ),
        ("one day, half the span back (from/to)", window),
        (
            "one task's history (task_id)",
            format!("/audit/log?task_id={task}"),
        ),
    ];
    Scenario {
        events,
        log,
        bench,
        now,
        task,
        queries,
    }
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let sizes: Vec<u64> = std::env::var("TODO_BENCH_AUDIT_SIZES")
        .ok()
        .map(|v| v.split(',').map(|s| s.trim().parse().unwrap()).collect())
        .unwrap_or_else(|| {
            if full {
                vec![1_000, 100_000]
            } else {
                vec![200, 2_000]
            }
        });
    let runs = if full { 300 } else { 3 };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async move {
        println!("\naudit-service through the wasm harness (release component in wasmtime, in-process sidecar)");
        let mut scenarios = Vec::new();
        for events in sizes {
            scenarios.push(scenario(events).await);
        }
        // Every row measured on all sizes in turn, run by run, so load on the machine hits all
        // sizes alike.
        let rows = scenarios[0].queries.len();
        let mut samples: Vec<Vec<Vec<Duration>>> = vec![vec![Vec::new(); scenarios.len()]; rows + 1];
        for (row, per_size) in samples.iter_mut().take(rows).enumerate() {
            for _ in 0..runs {
                for (scenario, samples) in scenarios.iter().zip(per_size.iter_mut()) {
                    let path = &scenario.queries[row].1;
                    samples.push(scenario.bench.get(path).await.1);
                }
            }
        }
        for n in 0..runs as u64 {
            for (s, scenario) in scenarios.iter().enumerate() {
                let time = scenario.now - TimeDelta::seconds(30) + TimeDelta::milliseconds(n as i64);
                // A task of its own per event: the task's history stays small, as most are.
                let task = Log::task_id(1_000_000 + n);
                let event = new_event(n, task, time);
                samples[rows][s].push(scenario.bench.deliver(&event).await);
            }
        }
        for scenario in &scenarios {
            let (page, _) = scenario.bench.get("/audit/log?limit=1").await;
            let last = new_event(runs as u64 - 1, scenario.task, scenario.now);
            assert_eq!(page["items"][0]["event_id"], last["id"]);
            assert!(scenario.log.events == scenario.events);
        }

        println!("\n({runs} runs per row and size, interleaved)\n");
        println!(
            "| {:<46} | {:>7} | {:>7} | {:>7} | {:>7} |",
            "request", "events", "p50 ms", "p99 ms", "mean ms"
        );
        println!("|{:-<48}|{:-<9}|{:-<9}|{:-<9}|{:-<9}|", "", "", "", "", "");
        for (row, per_size) in samples.into_iter().enumerate() {
            let name = scenarios[0]
                .queries
                .get(row)
                .map_or("store one event (a delivery)", |q| q.0);
            for (s, samples) in per_size.into_iter().enumerate() {
                row_line(name, scenarios[s].events, samples);
            }
        }
    });
}
