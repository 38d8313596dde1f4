//! The Jobs API and the scheduler behind it: what daprd plus the Dapr Scheduler service do
//! together, in process.
//!
//! - `api`: the HTTP handlers (daprd `pkg/api/http/jobs.go`, `pkg/api/universal/jobs.go`).
//! - `schedule`: schedule, due time and TTL formats (dapr/kit `cron`, go-etcd-cron).
//! - this module: the job table (in memory, written through to `<data_dir>/jobs.db` when
//!   persistent) and one scheduler pass ([`Trigger::run_due`]): every job whose next attempt is
//!   due at the injected clock's "now" gets `POST /job/{name}` on the app that scheduled it.
//!
//! Trigger semantics follow go-etcd-cron (`internal/scheduler/{builder,repeats,oneshot}.go`):
//! `now` is truncated to the second when a job is created; a job with only `dueTime` fires once;
//! with a `schedule` the first trigger is at `dueTime` (when given) or the first activation after
//! creation, later ones at the activation after the previous *scheduled* trigger (so ticks missed
//! while the sidecar was down are caught up one by one); `repeats` and `ttl` end the job, which
//! is then deleted. A failed trigger (app unreachable or a status other than 2xx/404) is retried
//! per the failure policy (default: constant 1 s, 3 retries); when retries run out the tick
//! counts as done. A 404 answer counts as done (daprd: the app has no handler, nothing to retry).
//!
//! The scheduler task started by [`crate::Sidecar::start`] runs a pass every 50 ms of real time,
//! reading the injected clock each time, so a test that moves a manual clock sees the trigger
//! within ~50 ms, and again whenever a trigger finishes; [`crate::Sidecar::run_due_jobs_now`]
//! triggers every job due now once and waits for them. At most
//! [`MAX_TRIGGERS_IN_FLIGHT_PER_APP`] triggers of one app run at once, the longest-due first: the
//! others wait for a free slot, not for a retry (10,000 reminders due in the same second would
//! otherwise start 10,000 instances of the app at once, and a host with a fixed pool of
//! instances fails the calls beyond it).

pub(crate) mod api;
pub(crate) mod schedule;

use crate::durable::CachedSql;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use bytes::Bytes;
use chrono::{DateTime, Duration, DurationRound, Utc};
use http::{HeaderValue, Method, Request};
use rusqlite::params;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::Clock;
use crate::app_channel::AppChannel;
use crate::metrics::Metrics;
use schedule::{Schedule, parse_point_in_time};

const CREATED: &str = "dapr_scheduler_jobs_created_total";
const TRIGGERED: &str = "dapr_scheduler_jobs_triggered_total";
const FAILED: &str = "dapr_scheduler_jobs_failed_total";
const LATENCY: &str = "dapr_scheduler_trigger_latency";
const JOB_SUCCESS: &str = "dapr_component_job_success_count";
const JOB_FAILURE: &str = "dapr_component_job_failure_count";

/// What happens after a failed trigger.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) enum FailurePolicy {
    /// No retry.
    Drop,
    /// Retry every `interval`, at most `max_retries` times (`None` = forever).
    Constant {
        interval_nanos: i64,
        max_retries: Option<u32>,
    },
}

impl Default for FailurePolicy {
    /// go-etcd-cron `Builder.Parse`: constant, 1 s, 3 retries.
    fn default() -> Self {
        FailurePolicy::Constant {
            interval_nanos: 1_000_000_000,
            max_retries: Some(3),
        }
    }
}

/// A job as the app asked for it (what `GET` returns).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct JobSpec {
    pub schedule: Option<String>,
    pub due_time: Option<String>,
    pub repeats: Option<u32>,
    pub ttl: Option<String>,
    pub data: Option<Value>,
    pub failure_policy: FailurePolicy,
}

/// A stored job: the spec plus where it stands.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Job {
    pub app_id: String,
    pub name: String,
    pub spec: JobSpec,
    /// Bumped on every (re)creation, so the outcome of a trigger of a replaced job is ignored.
    pub generation: String,
    /// With a `dueTime`: the first trigger. Without: the schedule starts counting from here
    /// (creation time truncated to the second); that instant itself does not trigger.
    pub begin: DateTime<Utc>,
    pub begin_is_due_time: bool,
    pub expiration: Option<DateTime<Utc>>,
    /// Ticks done (succeeded, 404, or failed with retries exhausted).
    pub count: u32,
    /// The scheduled time of the last tick done.
    pub last: Option<DateTime<Utc>>,
    /// The scheduled time of the current tick; `None` = the job is finished.
    pub tick: Option<DateTime<Utc>>,
    /// When to attempt the current tick next (the tick itself, or a retry time).
    pub attempt_at: Option<DateTime<Utc>>,
    /// Failed attempts of the current tick.
    pub failures: u32,
}

impl Job {
    /// go-etcd-cron `Builder.Parse` + the first `Next`.
    pub(crate) fn new(
        app_id: &str,
        name: &str,
        spec: JobSpec,
        now: DateTime<Utc>,
    ) -> Result<Job, String> {
        if spec.due_time.is_none() && spec.schedule.is_none() {
            return Err("job must have either a due time or a schedule".to_owned());
        }
        if spec.schedule.is_none() && spec.repeats.unwrap_or(0) > 1 {
            return Err("job must have a schedule to repeat".to_owned());
        }
        if spec.repeats == Some(0) {
            return Err("defined repeats must be greater than 0".to_owned());
        }
        if spec.schedule.is_none() && spec.ttl.is_some() {
            return Err("job must have a schedule to have a ttl".to_owned());
        }
        if let Some(schedule) = &spec.schedule {
            Schedule::parse(schedule)?;
        }
        let now = now.duration_trunc(Duration::seconds(1)).unwrap_or(now);
        let (begin, begin_is_due_time) = match &spec.due_time {
            Some(due) => (parse_point_in_time(due, now)?, true),
            None => (now, false),
        };
        let expiration = match &spec.ttl {
            Some(ttl) => {
                let expiration = parse_point_in_time(ttl, begin)
                    .map_err(|_| "ttl format not recognized".to_owned())?;
                if begin_is_due_time && begin > expiration {
                    return Err("ttl must be greater than due time".to_owned());
                }
                Some(expiration)
            }
            None => None,
        };
        let mut job = Job {
            app_id: app_id.to_owned(),
            name: name.to_owned(),
            spec,
            generation: uuid::Uuid::new_v4().to_string(),
            begin,
            begin_is_due_time,
            expiration,
            count: 0,
            last: None,
            tick: None,
            attempt_at: None,
            failures: 0,
        };
        job.tick = job.next_tick();
        job.attempt_at = job.tick;
        Ok(job)
    }

    /// go-etcd-cron `oneshot.Next` / `repeats.Next`.
    fn next_tick(&self) -> Option<DateTime<Utc>> {
        let Some(schedule) = &self.spec.schedule else {
            return (self.count == 0).then_some(self.begin);
        };
        if self.spec.repeats.is_some_and(|total| self.count >= total) {
            return None;
        }
        let schedule = Schedule::parse(schedule).ok()?;
        let next = match self.last {
            None if self.begin_is_due_time => self.begin,
            None => schedule.next(self.begin)?,
            Some(last) => schedule.next(last)?,
        };
        if self.expiration.is_some_and(|exp| next > exp) {
            return None;
        }
        Some(next)
    }

    /// Records the end of the current tick (done or given up) and moves to the next one.
    fn finish_tick(&mut self) {
        self.count += 1;
        self.last = self.tick;
        self.failures = 0;
        self.tick = self.next_tick();
        self.attempt_at = self.tick;
    }
}

/// How a trigger went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Success,
    Failure,
}

/// The job table.
pub(crate) struct Jobs {
    jobs: Mutex<BTreeMap<(String, String), Job>>,
    db: Option<crate::durable::Db>,
    /// Jobs whose trigger is in flight, by (app, name).
    in_flight: Mutex<BTreeSet<(String, String)>>,
    /// Signalled when a trigger's outcome has been recorded (a slot is free again).
    attempt_done: tokio::sync::Notify,
}

/// A job's key in the table: (app id, job name).
type JobKey = (String, String);

/// Triggers of one app that may be in flight at once (daprd leaves this to the Scheduler's
/// stream and `--app-max-concurrency`); well under the host's 128 instances, so HTTP requests and
/// deliveries still find one.
pub(crate) const MAX_TRIGGERS_IN_FLIGHT_PER_APP: usize = 32;

impl std::fmt::Debug for Jobs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Jobs").finish_non_exhaustive()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Jobs {
    pub(crate) fn in_memory() -> Jobs {
        Jobs {
            jobs: Mutex::new(BTreeMap::new()),
            db: None,
            in_flight: Mutex::default(),
            attempt_done: tokio::sync::Notify::new(),
        }
    }

    /// Jobs persisted in the SQLite file `path` (loaded now, written through on every change).
    pub(crate) fn open(path: &Path) -> Result<Jobs, String> {
        let db = crate::durable::Db::open(path).map_err(|e| e.to_string())?;
        db.write()
            .execute_batch(
                "CREATE TABLE IF NOT EXISTS jobs (
                 app_id TEXT NOT NULL,
                 name TEXT NOT NULL,
                 job TEXT NOT NULL,
                 PRIMARY KEY (app_id, name)
             );",
            )
            .map_err(|e| e.to_string())?;
        let mut jobs = BTreeMap::new();
        {
            let conn = db.read();
            let mut statement = conn
                .prepare("SELECT job FROM jobs")
                .map_err(|e| e.to_string())?;
            let rows = statement
                .query_map([], |row| row.get::<_, String>(0))
                .map_err(|e| e.to_string())?;
            for row in rows {
                let text = row.map_err(|e| e.to_string())?;
                let job: Job = serde_json::from_str(&text).map_err(|e| e.to_string())?;
                jobs.insert((job.app_id.clone(), job.name.clone()), job);
            }
        }
        Ok(Jobs {
            jobs: Mutex::new(jobs),
            db: Some(db),
            in_flight: Mutex::default(),
            attempt_done: tokio::sync::Notify::new(),
        })
    }

    fn persist(&self, job: &Job) -> Result<(), String> {
        let Some(db) = &self.db else {
            return Ok(());
        };
        let text = serde_json::to_string(job).map_err(|e| e.to_string())?;
        db.write()
            .execute_cached(
                // In place (an upsert), not REPLACE's delete and insert: see state::sqlite.
                "INSERT INTO jobs (app_id, name, job) VALUES (?1, ?2, ?3)
                 ON CONFLICT (app_id, name) DO UPDATE SET job = excluded.job",
                params![job.app_id, job.name, text],
            )
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    fn unpersist(&self, app_id: &str, name: &str) -> Result<(), String> {
        let Some(db) = &self.db else {
            return Ok(());
        };
        db.write()
            .execute_cached(
                "DELETE FROM jobs WHERE app_id = ?1 AND name = ?2",
                params![app_id, name],
            )
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    /// Stores `job`; `Err(None)` when it exists and `overwrite` is false.
    pub(crate) fn create(&self, job: Job, overwrite: bool) -> Result<(), Option<String>> {
        let mut jobs = lock(&self.jobs);
        let key = (job.app_id.clone(), job.name.clone());
        if !overwrite && jobs.contains_key(&key) {
            return Err(None);
        }
        self.persist(&job).map_err(Some)?;
        jobs.insert(key, job);
        Ok(())
    }

    pub(crate) fn get(&self, app_id: &str, name: &str) -> Option<Job> {
        lock(&self.jobs)
            .get(&(app_id.to_owned(), name.to_owned()))
            .cloned()
    }

    pub(crate) fn delete(&self, app_id: &str, name: &str) -> Result<(), String> {
        let mut jobs = lock(&self.jobs);
        self.unpersist(app_id, name)?;
        jobs.remove(&(app_id.to_owned(), name.to_owned()));
        Ok(())
    }

    /// Every job, for inspection.
    pub(crate) fn all(&self) -> Vec<Job> {
        lock(&self.jobs).values().cloned().collect()
    }

    /// Claims the jobs whose next attempt is due at `now`, are not in flight and not in `skip`,
    /// longest-due first, up to [`MAX_TRIGGERS_IN_FLIGHT_PER_APP`] in flight per app.
    fn claim_due(&self, now: DateTime<Utc>, skip: &BTreeSet<(String, String)>) -> Vec<Job> {
        let jobs = lock(&self.jobs);
        let mut in_flight = lock(&self.in_flight);
        // Runs after every finished trigger, over every job: no allocation per job, and no full
        // sort when thousands are due (only the ones that get a slot are ordered).
        let mut due: HashMap<&str, Vec<(&JobKey, &Job)>> = HashMap::new();
        for (key, job) in jobs.iter() {
            if job.attempt_at.is_some_and(|at| at <= now)
                && !in_flight.contains(key)
                && !skip.contains(key)
            {
                due.entry(key.0.as_str()).or_default().push((key, job));
            }
        }
        let mut claimed = Vec::new();
        for (app, mut candidates) in due {
            let running = in_flight.iter().filter(|(a, _)| a == app).count();
            let free = MAX_TRIGGERS_IN_FLIGHT_PER_APP.saturating_sub(running);
            if candidates.len() > free {
                if free == 0 {
                    continue;
                }
                candidates.select_nth_unstable_by_key(free - 1, |(_, job)| job.attempt_at);
                candidates.truncate(free);
            }
            candidates.sort_by_key(|(_, job)| job.attempt_at);
            for (key, job) in candidates {
                in_flight.insert(key.clone());
                claimed.push(job.clone());
            }
        }
        claimed
    }

    /// Applies the outcome of one attempt of `attempted`, begun at `now` (unless the job was
    /// replaced or deleted meanwhile).
    fn record(&self, attempted: &Job, outcome: Outcome, now: DateTime<Utc>) {
        let key = (attempted.app_id.clone(), attempted.name.clone());
        let mut jobs = lock(&self.jobs);
        lock(&self.in_flight).remove(&key);
        self.attempt_done.notify_one();
        let Some(job) = jobs.get_mut(&key) else {
            return;
        };
        if job.generation != attempted.generation || job.tick != attempted.tick {
            return;
        }
        match outcome {
            Outcome::Success => job.finish_tick(),
            Outcome::Failure => {
                job.failures += 1;
                match job.spec.failure_policy {
                    FailurePolicy::Constant {
                        interval_nanos,
                        max_retries,
                    } if max_retries.is_none_or(|max| job.failures <= max) => {
                        job.attempt_at = Some(now + Duration::nanoseconds(interval_nanos));
                    }
                    _ => job.finish_tick(),
                }
            }
        }
        let result = if job.tick.is_none() {
            jobs.remove(&key);
            self.unpersist(&key.0, &key.1)
        } else {
            self.persist(job)
        };
        if let Err(err) = result {
            eprintln!(
                "dapr-sidecar: jobs: cannot persist {}/{}: {err}",
                key.0, key.1
            );
        }
    }
}

/// What a scheduler pass needs from the sidecar.
#[derive(Clone)]
pub(crate) struct Trigger {
    pub jobs: Arc<Jobs>,
    pub clock: Arc<dyn Clock>,
    pub channel: Arc<dyn AppChannel>,
    pub metrics: Arc<Metrics>,
    pub app_api_token: Option<String>,
}

/// Percent-encodes a job name for the trigger path (`url.PathEscape`-like).
fn escape_path_segment(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for byte in name.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@".contains(&byte) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

impl Trigger {
    /// Starts a trigger task for the jobs due now that may start (see [`Jobs::claim_due`]).
    fn dispatch_due(
        &self,
        skip: &BTreeSet<(String, String)>,
    ) -> Vec<(Job, tokio::task::JoinHandle<()>)> {
        let now = self.clock.now();
        self.jobs
            .claim_due(now, skip)
            .into_iter()
            .map(|job| {
                let this = self.clone();
                let attempted = job.clone();
                (
                    job,
                    tokio::spawn(async move { this.attempt(attempted).await }),
                )
            })
            .collect()
    }

    /// One scheduler pass: triggers every job due now once (concurrently, as many at a time as
    /// [`MAX_TRIGGERS_IN_FLIGHT_PER_APP`] allows) and waits for all of them.
    pub(crate) async fn run_due(&self) {
        let mut attempted = BTreeSet::new();
        loop {
            let started = self.dispatch_due(&attempted);
            if started.is_empty() {
                return;
            }
            for (job, handle) in started {
                let _ = handle.await;
                attempted.insert((job.app_id, job.name));
            }
        }
    }

    async fn attempt(&self, job: Job) {
        let app = job.app_id.as_str();
        let now = self.clock.now();
        if job.failures == 0
            && let Some(tick) = job.tick
        {
            let late_ms = (now - tick).num_microseconds().unwrap_or(i64::MAX) as f64 / 1000.0;
            self.metrics.observe_ms(
                LATENCY,
                "How late job triggers were, in ms after their scheduled time",
                &[("app_id", app)],
                late_ms.max(0.0),
            );
        }
        self.metrics.inc(
            TRIGGERED,
            "Job triggers sent to apps (every attempt)",
            &[("app_id", app)],
        );
        let mut request = Request::new(match &job.spec.data {
            Some(data) => Bytes::from(crate::go_json::marshal(
                data,
                crate::go_json::Numbers::Float64,
            )),
            None => Bytes::new(),
        });
        *request.method_mut() = Method::POST;
        if let Ok(uri) = format!("/job/{}", escape_path_segment(&job.name)).parse() {
            *request.uri_mut() = uri;
        }
        let headers = request.headers_mut();
        headers.insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        if let Some(token) = &self.app_api_token
            && let Ok(value) = HeaderValue::from_str(token)
        {
            headers.insert("dapr-api-token", value);
        }
        let outcome = match self.channel.call(app, request).await {
            Ok(response) if response.status().is_success() => Outcome::Success,
            Ok(response) if response.status() == http::StatusCode::NOT_FOUND => Outcome::Success,
            _ => Outcome::Failure,
        };
        let labels = [
            ("app_id", app),
            ("namespace", ""),
            ("operation", "job_trigger_op"),
        ];
        match outcome {
            Outcome::Success => {
                self.metrics
                    .inc(JOB_SUCCESS, "Successful job triggers (daprd)", &labels);
            }
            Outcome::Failure => {
                self.metrics
                    .inc(JOB_FAILURE, "Failed job triggers (daprd)", &labels);
                self.metrics.inc(
                    FAILED,
                    "Job trigger attempts that failed (app unreachable or non-2xx/404)",
                    &[("app_id", app)],
                );
            }
        }
        // A retry is due one interval after the attempt began (not after the app answered), so
        // time moved on a manual clock while the app was failing cannot push it out.
        self.jobs.record(&job, outcome, now);
    }

    /// Runs passes every 50 ms (real time), and whenever a trigger finishes (a slot is free),
    /// until the task is aborted.
    pub(crate) async fn run_forever(self) {
        let mut interval = tokio::time::interval(std::time::Duration::from_millis(50));
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let nothing_skipped = BTreeSet::new();
        loop {
            tokio::select! {
                _ = interval.tick() => {}
                () = self.jobs.attempt_done.notified() => {}
            }
            // A slow app does not hold up other jobs: triggers run as their own tasks, and a job
            // in flight is not claimed again.
            drop(self.dispatch_due(&nothing_skipped));
        }
    }
}

/// Counts a created job.
pub(crate) fn count_created(metrics: &Metrics, app_id: &str) {
    metrics.inc(CREATED, "Jobs scheduled", &[("app_id", app_id)]);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(schedule: Option<&str>, due: Option<&str>, repeats: Option<u32>) -> JobSpec {
        JobSpec {
            schedule: schedule.map(Into::into),
            due_time: due.map(Into::into),
            repeats,
            ttl: None,
            data: None,
            failure_policy: FailurePolicy::default(),
        }
    }

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s)
            .expect("time")
            .with_timezone(&Utc)
    }

    #[test]
    fn at_most_so_many_triggers_of_one_app_are_in_flight_the_longest_due_first() {
        let jobs = Jobs::in_memory();
        let start = at("2026-01-01T00:00:00Z");
        let n = MAX_TRIGGERS_IN_FLIGHT_PER_APP + 8;
        for i in 0..n {
            // Job i is due at start + (n - i) s: the last created is the longest due.
            let due = format!("{}s", n - i);
            let job = Job::new(
                "a",
                &format!("j{i:03}"),
                spec(None, Some(&due), None),
                start,
            )
            .expect("job");
            jobs.create(job, false).expect("created");
        }
        let other = Job::new("b", "k", spec(None, Some("1s"), None), start).expect("job");
        jobs.create(other, false).expect("created");
        let now = start + Duration::seconds(n as i64 + 1);
        let none = BTreeSet::new();

        let claimed = jobs.claim_due(now, &none);
        let of_a: Vec<&Job> = claimed.iter().filter(|j| j.app_id == "a").collect();
        assert_eq!(of_a.len(), MAX_TRIGGERS_IN_FLIGHT_PER_APP);
        assert_eq!(of_a[0].name, format!("j{:03}", n - 1), "longest due first");
        assert_eq!(
            claimed.iter().filter(|j| j.app_id == "b").count(),
            1,
            "own limit"
        );
        assert!(
            jobs.claim_due(now, &none).is_empty(),
            "all slots of a taken"
        );

        jobs.record(of_a[0], Outcome::Success, now);
        let next = jobs.claim_due(now, &none);
        assert_eq!(next.len(), 1, "one slot freed");
        let skip = BTreeSet::from([(next[0].app_id.clone(), next[0].name.clone())]);
        jobs.record(&next[0], Outcome::Failure, now);
        assert!(
            jobs.claim_due(now, &skip)
                .iter()
                .all(|j| j.name != next[0].name),
            "skipped"
        );
    }

    #[test]
    fn a_due_time_only_job_ticks_once() {
        let mut job = Job::new(
            "a",
            "j",
            spec(None, Some("10s"), None),
            at("2026-01-01T00:00:00.700Z"),
        )
        .expect("job");
        assert_eq!(job.tick, Some(at("2026-01-01T00:00:10Z")), "now truncated");
        job.finish_tick();
        assert_eq!(job.tick, None);
    }

    #[test]
    fn a_schedule_starts_after_creation_or_at_the_due_time() {
        let mut job = Job::new(
            "a",
            "j",
            spec(Some("@every 1m"), None, Some(2)),
            at("2026-01-01T00:00:00Z"),
        )
        .expect("job");
        assert_eq!(job.tick, Some(at("2026-01-01T00:01:00Z")));
        job.finish_tick();
        assert_eq!(job.tick, Some(at("2026-01-01T00:02:00Z")));
        job.finish_tick();
        assert_eq!(job.tick, None, "repeats reached");
        let job = Job::new(
            "a",
            "j",
            spec(Some("@every 1m"), Some("5s"), None),
            at("2026-01-01T00:00:00Z"),
        )
        .expect("job");
        assert_eq!(job.tick, Some(at("2026-01-01T00:00:05Z")));
    }

    #[test]
    fn invalid_combinations_are_refused_like_go_etcd_cron() {
        let now = at("2026-01-01T00:00:00Z");
        assert!(Job::new("a", "j", spec(None, Some("1s"), Some(2)), now).is_err());
        assert!(Job::new("a", "j", spec(Some("@daily"), None, Some(0)), now).is_err());
        assert!(Job::new("a", "j", spec(Some("nope"), None, None), now).is_err());
        let mut with_ttl = spec(None, Some("1s"), None);
        with_ttl.ttl = Some("1h".into());
        assert!(Job::new("a", "j", with_ttl, now).is_err());
    }
}
