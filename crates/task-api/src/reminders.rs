//! Reminder jobs (docs/contracts.md "Reminders"; docs/storage.md "Reminders").
//!
//! chat-api is the only owner of reminder jobs. A task whose reminder is ahead has one Dapr job
//! `reminder-<task_id>` with `dueTime` = `remind_at` and `data` = [`JobData`]. Every write decides
//! with [`todo_domain::reminder::plan`] whether to (re)schedule or cancel it, and then, in the
//! same state transaction as the task change:
//!
//! - the **job command** (schedule or delete) goes into the bucket's `jobs` map, keyed by task, so
//!   the latest command per task wins; it is applied after the commit, like the outbox's events,
//!   and a failed one stays for the next writer of the bucket or the `outbox-sweep` job;
//! - the **pending-reminder index** `reminders:{user}:{bucket}` (one per task bucket, so it adds no
//!   write conflict the bucket does not already have) records the reminder (`reminder_id`,
//!   `remind_at`); the trigger removes it when the reminder fires, in the same transaction that
//!   puts the `reminder.triggered` event in the outbox;
//! - the user is registered in `reminder-users:{shard}` so the `reminders-reconcile` job finds
//!   them (refreshed like the outbox registry: when missing or older than 10 minutes).
//!
//! The reconcile job walks only that registry and those index documents, so its cost grows with
//! the pending reminders, not with tasks.
use crate::store::{BUCKETS, LoadedBucket, Store, bucket_of, escape_user, unreadable};
use crate::sweep::FORGET_AFTER;
use crate::{ApiError, Runtime};
use chrono::{DateTime, SecondsFormat, TimeDelta, Utc};
use component_kit::log::warn;
use dapr_client::{DaprError, StateItem, TransactionOp};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use todo_domain::reminder::{PendingReminder, ReminderPlan, job_name};
use uuid::Uuid;

/// The repeating job that re-creates lost reminder jobs. Not `reminder-…`, so it can never be
/// mistaken for a task's job.
pub const RECONCILE_JOB: &str = "reminders-reconcile";
pub const RECONCILE_SCHEDULE: &str = "@every 5m";
/// Failure policy of reminder jobs: a failed trigger (chat-api down, restarting, its store
/// unreachable) is retried every 5 s for 10 minutes (120 retries), enough to ride out a restart
/// or a rollout; past that the reconcile job re-creates the job of any reminder still pending.
pub const RETRY_INTERVAL: &str = "5s";
pub const RETRY_MAX: u32 = 120;
/// The index of a user's pending reminders is split like the tasks, one document per bucket: every
/// write of an index part also writes its bucket, so the index adds no conflicts (a user's
/// reminders firing together contend no more than their tasks do).
pub const INDEX_PARTS: u8 = BUCKETS;
pub const INDEX_SCHEMA_VERSION: u32 = 1;
/// The reconcile job checks the jobs of reminders due before now + this (three runs ahead), so a
/// job lost long before its time is re-created in time, and far-future reminders cost no job
/// lookup on every run.
pub const RECONCILE_HORIZON: TimeDelta = TimeDelta::minutes(15);
/// A reminder still pending this long after its time whose job still exists is stalled
/// (dapr/dapr#10337): the reconcile job schedules it again.
pub const STALL_AFTER: TimeDelta = TimeDelta::minutes(1);

/// What must happen to a task's reminder job, kept in the bucket until done.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case", deny_unknown_fields)]
pub enum JobCommand {
    Schedule {
        reminder_id: String,
        remind_at: DateTime<Utc>,
    },
    /// Cancel the job of this (pending) reminder.
    Delete { reminder_id: String },
}

/// The job's `data`, which Dapr sends back as the trigger's body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobData {
    pub user_id: String,
    pub task_id: Uuid,
    pub reminder_id: String,
}

/// The body of `POST /v1.0-alpha1/jobs/reminder-<task_id>`. A reminder whose time has passed
/// (scheduled late by the sweep or the reconcile job) is due at once: `"0s"`, not an instant in
/// the past, whose handling the Jobs API does not document.
pub fn job_request(
    user: &str,
    task_id: Uuid,
    reminder: &PendingReminder,
    now: DateTime<Utc>,
) -> Value {
    let due_time = if reminder.remind_at > now {
        reminder
            .remind_at
            .to_rfc3339_opts(SecondsFormat::AutoSi, true)
    } else {
        "0s".to_owned()
    };
    json!({
        "dueTime": due_time,
        "data": JobData {
            user_id: user.to_owned(),
            task_id,
            reminder_id: reminder.reminder_id.clone(),
        },
        "overwrite": true,
        "failurePolicy": {"constant": {"interval": RETRY_INTERVAL, "maxRetries": RETRY_MAX}},
    })
}

/// `reminders:{user}:{bucket}`: a user's pending reminders of the tasks in that bucket.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReminderIndex {
    pub schema_version: u32,
    pub reminders: BTreeMap<Uuid, PendingReminder>,
}

pub fn part_of(task_id: Uuid) -> u8 {
    bucket_of(task_id)
}

/// Like the bucket key: two lowercase hex digits.
pub fn index_key(user: &str, part: u8) -> String {
    format!("reminders:{}:{part:02x}", escape_user(user))
}

pub fn registry_key(shard: u8) -> String {
    format!("reminder-users:{shard:02x}")
}

#[derive(Debug, Clone)]
pub struct LoadedIndex {
    pub key: String,
    pub index: ReminderIndex,
    pub etag: Option<String>,
}

/// The state operations a write adds to its transaction for its reminder.
#[derive(Debug, Default)]
pub struct StagedReminder {
    pub operations: Vec<TransactionOp>,
    /// The user was (re-)registered for the reconcile job: make sure the job exists.
    pub registered: bool,
}

/// How a trigger went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fired {
    /// The `reminder.triggered` event was committed (and published unless the broker refused:
    /// then the outbox keeps it).
    Published { event_id: String },
    /// The trigger is not (or no longer) the task's pending reminder: nothing done.
    Stale,
}

/// What one reconcile run did.
#[derive(Debug, Default, Serialize)]
pub struct ReconcileReport {
    pub users: usize,
    pub reminders_pending: usize,
    pub jobs_checked: usize,
    pub jobs_recreated: usize,
    pub users_forgotten: usize,
    pub errors: usize,
}

fn empty_index() -> ReminderIndex {
    ReminderIndex {
        schema_version: INDEX_SCHEMA_VERSION,
        ..ReminderIndex::default()
    }
}

impl<R: Runtime> Store<'_, R> {
    pub async fn load_index(&self, user: &str, part: u8) -> Result<LoadedIndex, ApiError> {
        let key = index_key(user, part);
        match self
            .dapr
            .get_state::<ReminderIndex>(self.state_store, &key)
            .await
        {
            Ok(None) => Ok(LoadedIndex {
                key,
                index: empty_index(),
                etag: None,
            }),
            Ok(Some(entry)) => Ok(LoadedIndex {
                key,
                index: entry.value,
                etag: entry.etag,
            }),
            Err(DaprError::Decode(e)) => Err(unreadable(&key, &e)),
            Err(e) => Err(e.into()),
        }
    }

    fn index_write(&self, loaded: &LoadedIndex) -> TransactionOp {
        let value = serde_json::to_value(&loaded.index).expect("serialisable");
        TransactionOp::Upsert(
            StateItem::new(loaded.key.clone(), value).expecting(loaded.etag.clone()),
        )
    }

    /// Stage `plan` for `task_id` in `loaded` (its job command) and return the index (and
    /// registry) writes that go into the same transaction.
    pub async fn stage_reminder(
        &self,
        loaded: &mut LoadedBucket,
        user: &str,
        task_id: Uuid,
        plan: ReminderPlan,
        now: DateTime<Utc>,
    ) -> Result<StagedReminder, ApiError> {
        let mut staged = StagedReminder::default();
        match plan {
            ReminderPlan::Keep => {}
            ReminderPlan::Arm(reminder) => {
                let mut index = self.load_index(user, part_of(task_id)).await?;
                loaded.bucket.jobs.insert(
                    task_id,
                    JobCommand::Schedule {
                        reminder_id: reminder.reminder_id.clone(),
                        remind_at: reminder.remind_at,
                    },
                );
                index.index.reminders.insert(task_id, reminder);
                staged.operations.push(self.index_write(&index));
                if let Some(registry) = self.register_user(registry_key, user, now).await? {
                    staged.operations.push(registry);
                    staged.registered = true;
                }
            }
            ReminderPlan::Disarm => {
                let mut index = self.load_index(user, part_of(task_id)).await?;
                match index.index.reminders.remove(&task_id) {
                    Some(pending) => {
                        loaded.bucket.jobs.insert(
                            task_id,
                            JobCommand::Delete {
                                reminder_id: pending.reminder_id,
                            },
                        );
                        staged.operations.push(self.index_write(&index));
                    }
                    // Already fired: its one-shot job is gone. A schedule still waiting to be
                    // applied would only re-create a trigger that finds nothing to do.
                    None => {
                        if matches!(
                            loaded.bucket.jobs.get(&task_id),
                            Some(JobCommand::Schedule { .. })
                        ) {
                            loaded.bucket.jobs.remove(&task_id);
                        }
                    }
                }
            }
        }
        Ok(staged)
    }

    /// When `reminder_id` is `task_id`'s pending reminder: it, and the index write that removes
    /// it (the transaction that fires the reminder carries it); `None` when it is not pending.
    pub async fn unindex_fired(
        &self,
        user: &str,
        task_id: Uuid,
        reminder_id: &str,
    ) -> Result<Option<(PendingReminder, TransactionOp)>, ApiError> {
        let mut index = self.load_index(user, part_of(task_id)).await?;
        match index.index.reminders.remove(&task_id) {
            Some(pending) if pending.reminder_id == reminder_id => {
                let write = self.index_write(&index);
                Ok(Some((pending, write)))
            }
            _ => Ok(None),
        }
    }

    /// Apply a job command of `user`'s task.
    pub async fn apply_job(
        &self,
        user: &str,
        task_id: Uuid,
        command: &JobCommand,
    ) -> Result<(), DaprError> {
        match command {
            JobCommand::Schedule {
                reminder_id,
                remind_at,
            } => {
                let reminder = PendingReminder {
                    reminder_id: reminder_id.clone(),
                    remind_at: *remind_at,
                };
                self.dapr
                    .schedule_job(
                        &job_name(task_id),
                        &job_request(user, task_id, &reminder, self.dapr.transport().now()),
                    )
                    .await
            }
            JobCommand::Delete { .. } => self.dapr.delete_job(&job_name(task_id)).await,
        }
    }

    /// Make sure the reconcile job exists (without overwrite, so it keeps its timing).
    pub async fn ensure_reconcile_job(&self) {
        let job = json!({ "schedule": RECONCILE_SCHEDULE, "data": {}, "overwrite": false });
        if let Err(error) = self.dapr.schedule_job(RECONCILE_JOB, &job).await {
            warn(
                "could not schedule the reminders reconcile job",
                &error.to_string(),
            );
        }
    }

    /// Compare the pending reminders due before `now + RECONCILE_HORIZON` with the scheduled
    /// jobs; schedule again what is missing, belongs to another reminder, or is stalled. Forget
    /// users with no pending reminder whose registration is older than 20 minutes.
    pub async fn reconcile(&self, now: DateTime<Utc>) -> Result<ReconcileReport, ApiError> {
        let mut report = ReconcileReport::default();
        for shard in 0..crate::sweep::REGISTRY_SHARDS {
            let (mut registry, etag) = self.load_registry_shard(registry_key, shard).await?;
            let mut forget = Vec::new();
            for (user, registered) in &registry.users {
                report.users += 1;
                let keys: Vec<String> = (0..INDEX_PARTS).map(|p| index_key(user, p)).collect();
                let parts = match self
                    .dapr
                    .bulk_get::<ReminderIndex>(self.state_store, &keys)
                    .await
                {
                    Ok(parts) => parts,
                    Err(DaprError::Decode(e)) => {
                        return Err(unreadable(&format!("reminders:{user}:*"), &e));
                    }
                    Err(e) => return Err(e.into()),
                };
                let pending: Vec<(Uuid, PendingReminder)> = parts
                    .into_iter()
                    .filter_map(|item| item.data)
                    .flat_map(|index| index.reminders)
                    .collect();
                report.reminders_pending += pending.len();
                if pending.is_empty() && now - *registered > FORGET_AFTER {
                    forget.push(user.clone());
                }
                for (task_id, reminder) in pending {
                    if reminder.remind_at > now + RECONCILE_HORIZON {
                        continue;
                    }
                    report.jobs_checked += 1;
                    match self
                        .ensure_reminder_job(user, task_id, &reminder, now)
                        .await
                    {
                        Ok(true) => report.jobs_recreated += 1,
                        Ok(false) => {}
                        Err(error) => {
                            report.errors += 1;
                            warn(
                                &format!("reconcile of job {} failed", job_name(task_id)),
                                &error.to_string(),
                            );
                        }
                    }
                }
            }
            if forget.is_empty() {
                continue;
            }
            for user in &forget {
                registry.users.remove(user);
            }
            let value = serde_json::to_value(&registry).expect("serialisable");
            let write =
                TransactionOp::Upsert(StateItem::new(registry_key(shard), value).expecting(etag));
            // Losing this race only means the users are forgotten on a later run.
            if self.commit(&[write]).await.is_ok() {
                report.users_forgotten += forget.len();
            }
        }
        Ok(report)
    }

    /// Schedule `reminder`'s job again unless it exists, carries this reminder and is not
    /// stalled. `Ok(true)` when scheduled.
    async fn ensure_reminder_job(
        &self,
        user: &str,
        task_id: Uuid,
        reminder: &PendingReminder,
        now: DateTime<Utc>,
    ) -> Result<bool, DaprError> {
        let name = job_name(task_id);
        let healthy = match self.dapr.get_job(&name).await? {
            None => false,
            Some(job) => {
                job_reminder_id(&job) == Some(reminder.reminder_id.as_str())
                    && now - reminder.remind_at <= STALL_AFTER
            }
        };
        if healthy {
            return Ok(false);
        }
        self.dapr
            .schedule_job(&name, &job_request(user, task_id, reminder, now))
            .await?;
        Ok(true)
    }
}

/// Applied commands that a newer one may have overtaken, judged from the bucket's commands read
/// after applying them: `Some(newer)` when another command for the task is pending now (it was
/// committed after ours; its writer may have applied it before we applied ours), `None` when
/// none is (ours was cleared by someone who applied it too, or a newer one was committed,
/// applied and cleared already: the pending index tells which).
pub fn superseded(
    applied: &[(Uuid, JobCommand)],
    pending_now: &BTreeMap<Uuid, JobCommand>,
) -> Vec<(Uuid, Option<JobCommand>)> {
    applied
        .iter()
        .filter_map(|(task_id, command)| match pending_now.get(task_id) {
            Some(pending) if pending == command => None,
            other => Some((*task_id, other.cloned())),
        })
        .collect()
}

/// The command that brings the job in line with the pending index entry of its task.
pub fn desired(pending: Option<&PendingReminder>) -> JobCommand {
    match pending {
        Some(reminder) => JobCommand::Schedule {
            reminder_id: reminder.reminder_id.clone(),
            remind_at: reminder.remind_at,
        },
        None => JobCommand::Delete {
            reminder_id: String::new(),
        },
    }
}

/// Whether two commands leave the job in the same state.
fn same_effect(a: &JobCommand, b: &JobCommand) -> bool {
    match (a, b) {
        (JobCommand::Delete { .. }, JobCommand::Delete { .. }) => true,
        (JobCommand::Schedule { .. }, JobCommand::Schedule { .. }) => a == b,
        _ => false,
    }
}

impl<R: Runtime> Store<'_, R> {
    /// After applying `applied`, make sure a newer command for `task_id` was not overtaken (two
    /// writers of one task applying in the opposite order of their commits): apply the newer
    /// pending command again, or, when none is pending, what the pending index says, if it
    /// differs from what was applied. Failures are logged; the reconcile job is the backstop.
    pub(crate) async fn reassert_job(
        &self,
        user: &str,
        task_id: Uuid,
        applied: &[(Uuid, JobCommand)],
        newer: Option<JobCommand>,
    ) {
        let Some((_, ours)) = applied.iter().find(|(id, _)| *id == task_id) else {
            return;
        };
        let target = match newer {
            Some(newer) => newer,
            None => match self.load_index(user, part_of(task_id)).await {
                Ok(index) => desired(index.index.reminders.get(&task_id)),
                Err(error) => return warn("job re-check read failed", &error.to_string()),
            },
        };
        if same_effect(ours, &target) {
            return;
        }
        if let Err(error) = self.apply_job(user, task_id, &target).await {
            warn(
                &format!("re-applying the job command of task {task_id} failed"),
                &error.to_string(),
            );
        }
    }
}

/// The `reminder_id` in a job as `GET /v1.0-alpha1/jobs/{name}` returns it: daprd wraps `data`
/// as a protobuf `Any` (`{"@type": "…Value", "value": data}`); a bare `data` is read too.
fn job_reminder_id(job: &Value) -> Option<&str> {
    let data = &job["data"];
    data["value"]["reminder_id"]
        .as_str()
        .or_else(|| data["reminder_id"].as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reminder_job_fires_at_remind_at_with_a_retry_window_of_ten_minutes() {
        let task_id = Uuid::nil();
        let reminder = PendingReminder {
            reminder_id: format!("{task_id}:3"),
            remind_at: "2026-03-01T09:00:00Z".parse().unwrap(),
        };
        let before: DateTime<Utc> = "2026-03-01T08:00:00Z".parse().unwrap();
        let job = job_request("alice", task_id, &reminder, before);
        assert_eq!(
            job,
            json!({"dueTime": "2026-03-01T09:00:00Z",
                   "data": {"user_id": "alice", "task_id": task_id, "reminder_id": format!("{task_id}:3")},
                   "overwrite": true,
                   "failurePolicy": {"constant": {"interval": "5s", "maxRetries": 120}}})
        );
        assert_eq!(5 * RETRY_MAX, 600, "10 minutes of retries");
        let late = job_request("alice", task_id, &reminder, reminder.remind_at);
        assert_eq!(late["dueTime"], "0s", "passed: due at once");
        assert_eq!(late["data"], job["data"]);
    }

    #[test]
    fn job_commands_and_index_keys_have_their_documented_shapes() {
        let schedule = JobCommand::Schedule {
            reminder_id: "x:1".into(),
            remind_at: "2026-03-01T09:00:00Z".parse().unwrap(),
        };
        assert_eq!(
            serde_json::to_value(&schedule).unwrap(),
            json!({"action": "schedule", "reminder_id": "x:1", "remind_at": "2026-03-01T09:00:00Z"})
        );
        let delete = JobCommand::Delete {
            reminder_id: "x:1".into(),
        };
        assert_eq!(
            serde_json::to_value(&delete).unwrap(),
            json!({"action": "delete", "reminder_id": "x:1"})
        );
        assert_eq!(index_key("a b", 0x3f), "reminders:a%20b:3f");
        assert_eq!(registry_key(10), "reminder-users:0a");
        let id = Uuid::from_u128(0x45);
        assert_eq!(part_of(id), bucket_of(id));
    }

    #[test]
    fn an_applied_command_is_rechecked_only_when_the_bucket_holds_another_or_none() {
        let task = Uuid::from_u128(1);
        let schedule = |v: u32| JobCommand::Schedule {
            reminder_id: format!("{task}:{v}"),
            remind_at: "2026-03-01T09:00:00Z".parse().unwrap(),
        };
        let delete = JobCommand::Delete {
            reminder_id: format!("{task}:2"),
        };
        let applied = vec![(task, delete.clone())];
        let still_ours = BTreeMap::from([(task, delete.clone())]);
        assert!(superseded(&applied, &still_ours).is_empty());
        let newer = BTreeMap::from([(task, schedule(3))]);
        assert_eq!(
            superseded(&applied, &newer),
            vec![(task, Some(schedule(3)))]
        );
        assert_eq!(superseded(&applied, &BTreeMap::new()), vec![(task, None)]);
        // With nothing pending, the index decides.
        let pending = PendingReminder {
            reminder_id: format!("{task}:3"),
            remind_at: "2026-03-01T09:00:00Z".parse().unwrap(),
        };
        assert_eq!(desired(Some(&pending)), schedule(3));
        assert!(same_effect(&desired(None), &delete));
        assert!(!same_effect(&schedule(3), &schedule(1)));
        assert!(!same_effect(&schedule(3), &delete));
    }

    #[test]
    fn the_reminder_id_of_a_job_is_read_through_the_any_wrapper() {
        let wrapped = json!({"data": {"@type": "type.googleapis.com/google.protobuf.Value",
                                      "value": {"reminder_id": "t:2"}}});
        assert_eq!(job_reminder_id(&wrapped), Some("t:2"));
        assert_eq!(
            job_reminder_id(&json!({"data": {"reminder_id": "t:3"}})),
            Some("t:3")
        );
        assert_eq!(job_reminder_id(&json!({"name": "x"})), None);
    }
}
