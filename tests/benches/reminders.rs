//! 10,000 reminders of 100 users due within the same minute, on `todo-dev`'s stack in process
//! (tests/tests/recurring/stack.rs): chat-api and notification-service (the release `.wasm`
//! files in wasmtime), the embedded sidecar with the repository's `dapr/` (its job scheduler,
//! the declarative subscription of `reminders`, resiliency), `spin_host::apps` as the app channel
//! — the code `todo-dev up` runs, without its HTTP listeners and with in-memory state.
//!
//!     cargo bench -p todo-tests --bench reminders        # 10,000 reminders, 100 users, 60 s
//!     TODO_BENCH_REMINDERS=2000 TODO_BENCH_USERS=20 TODO_BENCH_SPREAD_SECS=0 \
//!         cargo bench -p todo-tests --bench reminders    # all due at the same second
//!
//! 1. Scheduling: every user creates their tasks with `remind_at` one after the other
//!    (`POST /api/tasks`: commit, then the Dapr job), 4 users at a time; creates per second.
//! 2. Firing: the reminders are due at the seconds of one minute M (spread evenly; `SPREAD_SECS`
//!    = 0 puts them all at M). The clock is the system clock moved forward to just before M, so
//!    the minute then passes in real time and the scheduler (a pass every 50 ms) fires each job
//!    when the clock reaches its time. Lateness is real time from the instant the clock reached
//!    `remind_at` to the sidecar's call of `POST /job/reminder-<id>` (trigger), and to the
//!    sidecar's answer to notification-service's save of the inbox document containing the
//!    entry (end to end: trigger, outbox, publish, delivery, inbox write), both seen on the
//!    stack's hooks (app channel, Dapr calls). No webhook is configured.
//!
//! Prints one table; without `--bench` (as `cargo test --benches` runs it) it only smoke-tests
//! itself with 200 reminders of 10 users over 3 s.
#[allow(dead_code)]
#[path = "../tests/recurring/stack.rs"]
mod stack;

use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use futures::StreamExt as _;
use serde::Deserialize;
use serde_json::json;
use spin_host::SharedClock;
use stack::{CHAT_API, NOTIFICATIONS, Stack};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const TARGET_P99: Duration = Duration::from_secs(1);
const CONCURRENT_USERS: usize = 4;

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// One table row: p50, p99, max; the p99.
fn row(name: &str, mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    let p99 = percentile(&samples, 0.99);
    println!(
        "| {name:<44} | {:>6} | {:>8.1} | {:>8.1} | {:>8.1} |",
        samples.len(),
        ms(percentile(&samples, 0.5)),
        ms(p99),
        ms(*samples.last().unwrap())
    );
    p99
}

/// Just the entry ids of a saved inbox document.
#[derive(Deserialize)]
struct SavedItem {
    key: String,
    value: Option<SavedInbox>,
}

#[derive(Deserialize)]
struct SavedInbox {
    entries: Vec<SavedEntry>,
}

#[derive(Deserialize)]
struct SavedEntry {
    id: String,
}

/// Records, per reminder id, the first instant a save of an inbox containing it succeeded.
fn record_inbox_writes(s: &Stack) -> Arc<Mutex<HashMap<String, Instant>>> {
    let written = Arc::new(Mutex::new(HashMap::new()));
    let sink = written.clone();
    s.observe_dapr_calls(Arc::new(move |app_id, request, response| {
        let saved_at = Instant::now();
        if app_id != NOTIFICATIONS
            || request.method() != http::Method::POST
            || !request.uri().path().starts_with("/v1.0/state/")
            || !response.status().is_success()
        {
            return;
        }
        let Ok(items) = serde_json::from_slice::<Vec<SavedItem>>(request.body()) else {
            return;
        };
        let mut written = sink.lock().unwrap();
        for item in items.iter().filter(|i| i.key.contains("inbox:")) {
            for entry in item.value.iter().flat_map(|v| &v.entries) {
                written.entry(entry.id.clone()).or_insert(saved_at);
            }
        }
    }));
    written
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let total = env_or("TODO_BENCH_REMINDERS", if full { 10_000 } else { 200 });
    let users = env_or("TODO_BENCH_USERS", if full { 100 } else { 10 });
    let spread = env_or("TODO_BENCH_SPREAD_SECS", if full { 60 } else { 3 });
    let per_user = total.div_ceil(users);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async move {
        let clock = SharedClock::system();
        let s = Stack::start_with(clock.clone(), &[CHAT_API, NOTIFICATIONS]);
        // The minute M: an hour ahead, so every reminder is still ahead while scheduling.
        let minute = (clock.now_utc() + TimeDelta::hours(1))
            .duration_trunc(TimeDelta::minutes(1))
            .unwrap();
        let due_of = |i: usize| -> DateTime<Utc> {
            let offset = if spread == 0 {
                0
            } else {
                (i * spread / total) as i64
            };
            minute + TimeDelta::seconds(offset)
        };
        let at = |t: DateTime<Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);

        // 1. Scheduling.
        let remind_at: Arc<Mutex<HashMap<String, DateTime<Utc>>>> = Arc::default();
        let create_times: Arc<Mutex<Vec<Duration>>> = Arc::default();
        let started = Instant::now();
        futures::stream::iter(0..users)
            .for_each_concurrent(CONCURRENT_USERS, |u| {
                let (s, remind_at, create_times) = (&s, remind_at.clone(), create_times.clone());
                async move {
                    let user = format!("bench-{u}");
                    for k in 0..per_user {
                        let i = k * users + u;
                        if i >= total {
                            break;
                        }
                        let due = due_of(i);
                        let sent = Instant::now();
                        let task = s
                            .create(
                                &user,
                                json!({"title": format!("Reminder {i}"),
                                       "due_date": at(due + TimeDelta::minutes(30)),
                                       "remind_at": at(due)}),
                            )
                            .await;
                        create_times.lock().unwrap().push(sent.elapsed());
                        remind_at
                            .lock()
                            .unwrap()
                            .insert(task["id"].as_str().unwrap().to_owned(), due);
                    }
                }
            })
            .await;
        let scheduling = started.elapsed();
        let remind_at = remind_at.lock().unwrap().clone();
        assert_eq!(remind_at.len(), total);
        let jobs = s
            .sidecar
            .job_names()
            .into_iter()
            .filter(|(app, name)| app == CHAT_API && name.starts_with("reminder-"))
            .count();
        assert_eq!(jobs, total, "one job per reminder");

        // 2. Firing: move the clock to 2 s before M; from then on it runs in real time.
        let written = record_inbox_writes(&s);
        let calls_before = s.call_count();
        let lead = TimeDelta::seconds(2);
        clock.advance((minute - lead - clock.now_utc()).to_std().unwrap());
        let (anchor_real, anchor_clock) = (Instant::now(), clock.now_utc());
        let reached =
            |due: DateTime<Utc>| anchor_real + (due - anchor_clock).to_std().unwrap_or_default();
        let limit = Duration::from_secs(spread as u64 + 120);
        let all_written = tokio::time::timeout(limit, async {
            let mut changed = tokio::time::interval(Duration::from_millis(100));
            loop {
                changed.tick().await;
                if written.lock().unwrap().len() >= total {
                    break;
                }
            }
        })
        .await;
        assert!(
            all_written.is_ok(),
            "only {} of {total} inbox entries within {limit:?}",
            written.lock().unwrap().len()
        );

        let calls = s.calls();
        let mut trigger_seen: HashMap<&str, Instant> = HashMap::new();
        for call in &calls[calls_before..] {
            if call.app_id == CHAT_API
                && let Some(task) = call.path.strip_prefix("/job/reminder-")
            {
                trigger_seen.entry(task).or_insert(call.sent);
            }
        }
        let late = |seen: Instant, due: DateTime<Utc>| seen.saturating_duration_since(reached(due));
        let trigger: Vec<Duration> = remind_at
            .iter()
            .map(|(task, due)| {
                let seen = trigger_seen
                    .get(task.as_str())
                    .unwrap_or_else(|| panic!("reminder of {task} never triggered"));
                late(*seen, *due)
            })
            .collect();
        let end_to_end: Vec<Duration> = written
            .lock()
            .unwrap()
            .iter()
            .map(|(reminder_id, seen)| {
                let task = reminder_id.split(':').next().unwrap();
                late(*seen, remind_at[task])
            })
            .collect();
        let mut failures: HashMap<String, usize> = HashMap::new();
        for c in calls[calls_before..]
            .iter()
            .filter(|c| c.app_id == CHAT_API && c.path.starts_with("/job/") && c.status != 200)
        {
            let reason = c.answer["error"]["message"].as_str().unwrap_or_default();
            let reason: String = reason.chars().take(100).collect();
            *failures
                .entry(format!("{} {reason}", c.status))
                .or_default() += 1;
        }
        let failed: usize = failures.values().sum();
        for (reason, n) in &failures {
            println!("trigger answered {reason}: {n}");
        }
        let mut errors: HashMap<String, usize> = HashMap::new();
        for error in s.app_errors() {
            // Without the path: the job name differs per task.
            let error = error
                .split_once(": ")
                .map_or(error.clone(), |(_, e)| e.to_owned());
            *errors.entry(error).or_default() += 1;
        }
        for (error, n) in &errors {
            println!("host error ×{n}: {error}");
        }
        let retried = calls[calls_before..]
            .iter()
            .filter(|c| c.app_id == NOTIFICATIONS && c.delivery_status() != "SUCCESS")
            .count();

        println!(
            "\nreminders: {total} reminders of {users} users due within one minute \
             ({}), on todo-dev's stack in process\n",
            if spread == 0 {
                "all at the same second".to_owned()
            } else {
                format!("spread over {spread} s")
            }
        );
        println!(
            "scheduling: {total} creates with a reminder in {:.1} s = {:.0} creates/s \
             ({CONCURRENT_USERS} users at a time)\n",
            scheduling.as_secs_f64(),
            total as f64 / scheduling.as_secs_f64()
        );
        println!(
            "| {:<44} | {:>6} | {:>8} | {:>8} | {:>8} |",
            "", "n", "p50 ms", "p99 ms", "max ms"
        );
        println!(
            "|{:-<46}|{:-<8}|{:-<10}|{:-<10}|{:-<10}|",
            "", "", "", "", ""
        );
        row(
            "POST /api/tasks with remind_at (answer)",
            create_times.lock().unwrap().clone(),
        );
        row("trigger lateness: due → POST /job called", trigger);
        let p99 = row("end to end: due → inbox entry written", end_to_end);
        println!(
            "\ntriggers not answered 200: {failed}; deliveries not SUCCESS (retried): {retried}"
        );
        println!(
            "end-to-end p99 {:.1} ms: {} the {} ms target",
            ms(p99),
            if p99 < TARGET_P99 { "within" } else { "ABOVE" },
            TARGET_P99.as_millis()
        );
    });
}
