//! The task operations, as plain functions of parsed domain values: every entry point (REST,
//! chat, the internal occurrence route, job callbacks) calls these, so a change is validated,
//! versioned, evented and stored the same way whatever asked for it. Each write goes through the
//! one retry loop [`Store::write`]; each answer says which events went out with it.
use crate::events::envelope;
use crate::idempotency::Idempotency;
use crate::reminders::{Fired, JobCommand, JobData};
use crate::store::{LoadedBucket, Store, Written, bucket_of};
use crate::{ApiError, Runtime};
use chrono::{DateTime, Utc};
use dapr_client::{CloudEvent, DaprClient};
use todo_domain::event::EVENT_SOURCE;
use todo_domain::reminder::{self, REMINDER_TRIGGERED, ReminderEventData};
use todo_domain::series::OccurrenceRequest;
use todo_domain::{
    FieldError, ListQuery, Page, Status, Task, TaskDraft, TaskEventType, TaskPatch, task_event,
};
use uuid::Uuid;

const TOO_MANY_WRITES: &str = "too many concurrent writes; retry the request";
const TOO_MANY_WRITES_TO_TASK: &str = "too many concurrent writes to this task; retry the request";

/// The change a write makes to an existing task.
#[derive(Debug, Clone)]
pub enum Change {
    /// Set the fields the patch names (`PATCH`).
    Patch(TaskPatch),
    /// Replace every writable field (`PUT`).
    Replace(TaskDraft),
}

impl Change {
    /// Only the status changes (`/complete`, `/reopen`).
    pub fn status(status: Status) -> Self {
        Self::Patch(TaskPatch {
            status: Some(status),
            ..TaskPatch::default()
        })
    }
}

/// A create's answer: the task, and whether it existed already (the replay of an earlier
/// identical request, or an occurrence created before).
#[derive(Debug)]
pub struct Created {
    pub task: Task,
    pub replayed: bool,
}

/// chat-api's tasks in the state store, one user at a time.
pub struct Tasks<'a, R: Runtime> {
    store: Store<'a, R>,
}

impl<'a, R: Runtime> Tasks<'a, R> {
    pub fn new(dapr: &'a DaprClient<R>, state_store: &'a str, pubsub: &'a str) -> Self {
        Self {
            store: Store {
                dapr,
                state_store,
                pubsub,
            },
        }
    }

    pub fn store(&self) -> &Store<'a, R> {
        &self.store
    }

    /// Create a task from `draft`. With `idempotency`, a retry of the same request answers the
    /// first result and writes nothing; the same key with another request is 422.
    pub async fn create(
        &self,
        user: &str,
        draft: TaskDraft,
        idempotency: Option<Idempotency>,
    ) -> Result<Written<Created>, ApiError> {
        let store = &self.store;
        if let Some(task) = self.replay(user, idempotency.as_ref()).await? {
            return Ok(replayed(task));
        }
        let id = Uuid::new_v4();
        let mut attempts = store.attempts(user, bucket_of(id), TOO_MANY_WRITES);
        loop {
            let (mut loaded, now) = attempts.next().await?;
            // A concurrent retry of the same create may have won the last race.
            if attempts.retrying()
                && let Some(task) = self.replay(user, idempotency.as_ref()).await?
            {
                return Ok(replayed(task));
            }
            let task = Task::create(id, user, draft.clone(), now);
            let plan = reminder::plan(None, Some(&task), now, true)?;
            let event_id = stage(&mut loaded, TaskEventType::Created, &task, now);
            let staged = store
                .stage_reminder(&mut loaded, user, id, plan, now)
                .await?;
            let mut extra: Vec<_> = idempotency
                .iter()
                .map(|i| i.record_write(user, 201, &task, now))
                .collect();
            extra.extend(staged.operations);
            if let Some(published) = attempts.commit(&loaded, &event_id, extra, now).await? {
                ensure_reconcile(store, staged.registered).await;
                let answer = Created {
                    task,
                    replayed: false,
                };
                return Ok(Written { answer, published });
            }
        }
    }

    async fn replay(
        &self,
        user: &str,
        idempotency: Option<&Idempotency>,
    ) -> Result<Option<Task>, ApiError> {
        match idempotency {
            Some(idempotency) => {
                idempotency
                    .replay(self.store.dapr, self.store.state_store, user)
                    .await
            }
            None => Ok(None),
        }
    }

    /// Create the occurrence of a recurring series that follows `request.predecessor_id`, with
    /// the id [`OccurrenceRequest::successor_id`] fixes: created if absent (`task.created`),
    /// else the existing task is answered and nothing is written or published. However often
    /// and however concurrently a completion is handled, one successor exists.
    pub async fn create_occurrence(
        &self,
        request: &OccurrenceRequest,
    ) -> Result<Written<Created>, ApiError> {
        let user = request.user_id.as_str();
        if user.trim().is_empty() {
            return Err(FieldError::new("user_id", "must not be blank").into());
        }
        let draft = TaskDraft::from_json(&request.task).map_err(|e| FieldError {
            field: Some(format!("task.{}", e.field.as_deref().unwrap_or(""))),
            message: e.message,
        })?;
        let id = request.successor_id();
        let mut attempts = self.store.attempts(user, bucket_of(id), TOO_MANY_WRITES);
        loop {
            let (mut loaded, now) = attempts.next().await?;
            if let Some(existing) = loaded.bucket.tasks.get(&id) {
                return Ok(Written::unchanged(Created {
                    task: existing.clone(),
                    replayed: true,
                }));
            }
            let mut task = Task::create(id, user, draft.clone(), now);
            request.place(&mut task);
            // An occurrence whose reminder time has already passed is created without it armed.
            let plan = reminder::plan(None, Some(&task), now, false)?;
            let event_id = stage(&mut loaded, TaskEventType::Created, &task, now);
            let staged = self
                .store
                .stage_reminder(&mut loaded, user, id, plan, now)
                .await?;
            if let Some(published) = attempts
                .commit(&loaded, &event_id, staged.operations, now)
                .await?
            {
                ensure_reconcile(&self.store, staged.registered).await;
                let answer = Created {
                    task,
                    replayed: false,
                };
                return Ok(Written { answer, published });
            }
        }
    }

    /// One task; its bucket's leftover outbox entries are published on the way.
    pub async fn get(&self, user: &str, id: Uuid) -> Result<Written<Task>, ApiError> {
        let bucket = bucket_of(id);
        let loaded = self.store.load_bucket(user, bucket).await?;
        let published = if loaded.bucket.is_settled() {
            Vec::new()
        } else {
            self.store
                .settle(user, bucket, &loaded.bucket.outbox, &loaded.bucket.jobs)
                .await
                .published
        };
        let task = loaded
            .bucket
            .tasks
            .get(&id)
            .cloned()
            .ok_or(ApiError::NotFound)?;
        Ok(Written {
            answer: task,
            published,
        })
    }

    /// One page of the user's tasks. Listing reads every bucket anyway, so it also publishes
    /// outbox entries left by failed publishes.
    pub async fn list(&self, user: &str, query: &ListQuery) -> Result<Written<Page>, ApiError> {
        let buckets = self.store.load_all(user).await?;
        let mut published = Vec::new();
        for (index, loaded) in buckets.iter().enumerate() {
            if !loaded.bucket.is_settled() {
                published.extend(
                    self.store
                        .settle(
                            user,
                            index as u8,
                            &loaded.bucket.outbox,
                            &loaded.bucket.jobs,
                        )
                        .await
                        .published,
                );
            }
        }
        let page = query.run(buckets.iter().flat_map(|b| b.bucket.tasks.values()));
        Ok(Written {
            answer: page,
            published,
        })
    }

    /// Change a task. `expected_version` (from `If-Match`) must match the task's version, else
    /// 412. A change that changes nothing answers the task as it is, writes nothing and emits no
    /// event; setting `status` emits `task.completed` / `task.reopened` like `/complete` does.
    pub async fn update(
        &self,
        user: &str,
        id: Uuid,
        change: Change,
        expected_version: Option<u64>,
    ) -> Result<Written<Task>, ApiError> {
        let mut attempts = self
            .store
            .attempts(user, bucket_of(id), TOO_MANY_WRITES_TO_TASK);
        loop {
            let (mut loaded, now) = attempts.next().await?;
            let current = loaded.bucket.tasks.get(&id).ok_or(ApiError::NotFound)?;
            check_version(current, expected_version)?;
            let draft = match &change {
                Change::Patch(patch) => patch.apply_to(current)?,
                Change::Replace(draft) => draft.clone(),
            };
            let mut updated = current.clone();
            let changed = updated.apply(draft, now);
            if changed.is_empty() {
                return Ok(Written::unchanged(updated));
            }
            let event_type = TaskEventType::for_update(current, &updated);
            let plan = reminder::plan(Some(current), Some(&updated), now, true)?;
            let event_id = stage_change(&mut loaded, event_type, &updated, &changed, now);
            let staged = self
                .store
                .stage_reminder(&mut loaded, user, id, plan, now)
                .await?;
            if let Some(published) = attempts
                .commit(&loaded, &event_id, staged.operations, now)
                .await?
            {
                ensure_reconcile(&self.store, staged.registered).await;
                return Ok(Written {
                    answer: updated,
                    published,
                });
            }
        }
    }

    /// Mark a task completed; already completed → unchanged, no event.
    pub async fn complete(
        &self,
        user: &str,
        id: Uuid,
        expected_version: Option<u64>,
    ) -> Result<Written<Task>, ApiError> {
        self.update(
            user,
            id,
            Change::status(Status::Completed),
            expected_version,
        )
        .await
    }

    /// Reopen a completed task (`pending`, `completed_at` cleared); not completed → unchanged.
    pub async fn reopen(
        &self,
        user: &str,
        id: Uuid,
        expected_version: Option<u64>,
    ) -> Result<Written<Task>, ApiError> {
        self.update(user, id, Change::status(Status::Pending), expected_version)
            .await
    }

    /// Delete a task; its last snapshot goes out as `task.deleted`.
    pub async fn delete(
        &self,
        user: &str,
        id: Uuid,
        expected_version: Option<u64>,
    ) -> Result<Written<()>, ApiError> {
        let mut attempts = self
            .store
            .attempts(user, bucket_of(id), TOO_MANY_WRITES_TO_TASK);
        loop {
            let (mut loaded, now) = attempts.next().await?;
            let current = loaded.bucket.tasks.remove(&id).ok_or(ApiError::NotFound)?;
            check_version(&current, expected_version)?;
            let plan = reminder::plan(Some(&current), None, now, true)?;
            let event_id = stage_change(&mut loaded, TaskEventType::Deleted, &current, &[], now);
            let staged = self
                .store
                .stage_reminder(&mut loaded, user, id, plan, now)
                .await?;
            if let Some(published) = attempts
                .commit(&loaded, &event_id, staged.operations, now)
                .await?
            {
                return Ok(Written {
                    answer: (),
                    published,
                });
            }
        }
    }
}

impl<R: Runtime> Tasks<'_, R> {
    /// A reminder job's trigger: if `job` is still the task's pending reminder, commit its
    /// `reminder.triggered` event (id derived from `reminder_id`) to the outbox and remove the
    /// reminder from the index, in one transaction, then publish. Anything else (task gone or
    /// completed, reminder moved, cleared or already fired) is [`Fired::Stale`] and writes
    /// nothing; so a trigger delivered twice publishes one event.
    pub async fn fire_reminder(&self, job: &JobData) -> Result<Written<Fired>, ApiError> {
        let user = job.user_id.as_str();
        let id = job.task_id;
        let mut attempts = self
            .store
            .attempts(user, bucket_of(id), TOO_MANY_WRITES_TO_TASK);
        loop {
            let (mut loaded, now) = attempts.next().await?;
            let Some((pending, unindex)) =
                self.store.unindex_fired(user, id, &job.reminder_id).await?
            else {
                return Ok(Written::unchanged(Fired::Stale));
            };
            let data = loaded
                .bucket
                .tasks
                .get(&id)
                .filter(|task| !task.is_completed())
                .and_then(|task| ReminderEventData::new(task, &pending));
            let mut event_id = String::new();
            // An index entry without its live task (cannot happen through these operations;
            // a store that applied half a transaction) is dropped, nothing fired.
            if let Some(data) = &data {
                event_id = reminder::event_id(&job.reminder_id).to_string();
                let event = CloudEvent::new(
                    event_id.clone(),
                    EVENT_SOURCE,
                    REMINDER_TRIGGERED,
                    serde_json::to_value(data).expect("serialisable"),
                )
                .with_subject(id.to_string())
                .with_time(now);
                loaded.bucket.outbox.push(event);
                if matches!(loaded.bucket.jobs.get(&id),
                    Some(JobCommand::Schedule { reminder_id, .. }) if *reminder_id == job.reminder_id)
                {
                    // Its schedule was never confirmed applied: nothing is left to schedule.
                    loaded.bucket.jobs.remove(&id);
                }
            }
            if let Some(published) = attempts
                .commit(&loaded, &event_id, vec![unindex], now)
                .await?
            {
                let answer = match data {
                    Some(_) => Fired::Published { event_id },
                    None => Fired::Stale,
                };
                return Ok(Written { answer, published });
            }
        }
    }
}

async fn ensure_reconcile<R: Runtime>(store: &Store<'_, R>, registered: bool) {
    if registered {
        store.ensure_reconcile_job().await;
    }
}

/// Put a new task in the bucket with its `task.created` event (listing the fields it sets).
fn stage(
    loaded: &mut LoadedBucket,
    event_type: TaskEventType,
    task: &Task,
    now: DateTime<Utc>,
) -> String {
    stage_change(loaded, event_type, task, &task.set_fields_list(), now)
}

/// Put a change in the bucket: the task's snapshot after it (removed for `task.deleted`, whose
/// event carries the last one) and its event at the end of the outbox. Returns the event id the
/// commit publishes.
fn stage_change(
    loaded: &mut LoadedBucket,
    event_type: TaskEventType,
    task: &Task,
    changed: &[&str],
    now: DateTime<Utc>,
) -> String {
    let event = task_event(event_type, Uuid::new_v4(), now, task, changed);
    if event_type == TaskEventType::Deleted {
        loaded.bucket.tasks.remove(&task.id);
    } else {
        loaded.bucket.tasks.insert(task.id, task.clone());
    }
    loaded.bucket.outbox.push(envelope(&event));
    event.id.to_string()
}

/// `If-Match`: the task must still be at the version the client saw.
fn check_version(current: &Task, expected_version: Option<u64>) -> Result<(), ApiError> {
    match expected_version {
        Some(version) if version != current.version => Err(ApiError::PreconditionFailed),
        _ => Ok(()),
    }
}

fn replayed(task: Task) -> Written<Created> {
    Written::unchanged(Created {
        task,
        replayed: true,
    })
}
