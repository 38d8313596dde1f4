//! How chat-api keeps tasks in the Dapr state store (layout documented in docs/contracts.md and
//! docs/storage.md).
//!
//! A user's tasks are spread over 64 bucket documents `tasks:{user}:{bucket}` by task id. A write
//! touches one bucket (optimistic concurrency on its ETag); a list reads all 64 in one bulk get.
//! The bucket also holds the outbox: the events of committed changes not yet known to be
//! published, and the reminder job commands not yet applied (`jobs`, see [`crate::reminders`]).
//! Task, event and job command therefore commit in one write, so none can be lost.
use crate::events::topic_of;
use crate::reminders::JobCommand;
use crate::{ApiError, Runtime};
use chrono::{DateTime, Utc};
use component_kit::log::warn;
pub(crate) use component_kit::state::{backoff, unreadable};
use dapr_client::{CloudEvent, DaprClient, DaprError, StateItem, TransactionOp};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use todo_domain::Task;
use uuid::Uuid;

pub const BUCKETS: u8 = 64;
pub const BUCKET_SCHEMA_VERSION: u32 = 1;
/// Attempts at an optimistic write before answering 409.
pub const MAX_WRITE_ATTEMPTS: u32 = 12;
/// How long a committed event is left to the writer that committed it before others publish it.
pub const OUTBOX_GRACE: chrono::TimeDelta = chrono::TimeDelta::seconds(30);

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Bucket {
    pub schema_version: u32,
    pub tasks: BTreeMap<Uuid, Task>,
    pub outbox: Vec<CloudEvent>,
    /// Reminder job commands still to apply, the latest per task (absent in older documents).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub jobs: BTreeMap<Uuid, JobCommand>,
}

impl Bucket {
    /// Nothing left to publish or apply.
    pub fn is_settled(&self) -> bool {
        self.outbox.is_empty() && self.jobs.is_empty()
    }
}

/// What [`Store::settle`] did.
#[derive(Debug, Default)]
pub struct Settled {
    /// Ids of the events published.
    pub published: Vec<String>,
    pub jobs_applied: usize,
    pub jobs_failed: usize,
}

/// A bucket as read, with the ETag a write must match (`None`: the key does not exist yet).
#[derive(Debug, Clone)]
pub struct LoadedBucket {
    pub key: String,
    pub bucket: Bucket,
    pub etag: Option<String>,
}

/// The outcome of [`Store::commit_change`].
#[derive(Debug)]
pub enum Commit {
    /// Committed; these event ids went out.
    Done { published: Vec<String> },
    /// A concurrent writer changed the bucket first: read again and retry.
    LostRace,
}

/// The answer of a write and the event ids that went out with it.
#[derive(Debug)]
pub struct Written<T> {
    pub answer: T,
    pub published: Vec<String>,
}

impl<T> Written<T> {
    /// An answer that wrote (and published) nothing.
    pub fn unchanged(answer: T) -> Self {
        Self {
            answer,
            published: Vec::new(),
        }
    }
}

/// The one read → change → commit → retry loop of every write to a bucket:
///
/// ```text
/// let mut attempts = store.attempts(user, bucket, "…conflict message…");
/// loop {
///     let (mut loaded, now) = attempts.next().await?;   // 409 once attempts run out
///     … change loaded.bucket, push the change's event to its outbox …
///     if let Some(published) = attempts.commit(&loaded, &event_id, extra, now).await? {
///         return …;                                      // committed and published
///     }                                                  // lost a race: read again
/// }
/// ```
///
/// A commit that loses an optimistic-concurrency race is retried from the read, after a backoff
/// with full jitter, at most [`MAX_WRITE_ATTEMPTS`] times.
pub struct Attempts<'s, 'a, R: Runtime> {
    store: &'s Store<'a, R>,
    user: &'s str,
    bucket: u8,
    conflict: &'static str,
    made: u32,
}

impl<R: Runtime> Attempts<'_, '_, R> {
    /// Read the bucket for the next attempt (backing off first after a lost race), with the time
    /// of the attempt; `409 conflict` when every attempt lost.
    pub async fn next(&mut self) -> Result<(LoadedBucket, DateTime<Utc>), ApiError> {
        if self.made >= MAX_WRITE_ATTEMPTS {
            return Err(ApiError::Conflict(self.conflict.to_owned()));
        }
        if self.made > 0 {
            backoff(self.store.dapr.transport(), self.made - 1).await;
        }
        self.made += 1;
        let loaded = self.store.load_bucket(self.user, self.bucket).await?;
        Ok((loaded, self.store.dapr.transport().now()))
    }

    /// Whether this is a retry after a lost race.
    pub fn retrying(&self) -> bool {
        self.made > 1
    }

    /// Commit the changed bucket (its outbox ends with `event_id`) and `extra`, then publish:
    /// `Some(published ids)`, or `None` when a concurrent writer won and the caller must read
    /// again with [`Attempts::next`].
    pub async fn commit(
        &mut self,
        loaded: &LoadedBucket,
        event_id: &str,
        extra: Vec<TransactionOp>,
        now: DateTime<Utc>,
    ) -> Result<Option<Vec<String>>, ApiError> {
        match self
            .store
            .commit_change(self.user, self.bucket, loaded, event_id, extra, now)
            .await?
        {
            Commit::Done { published } => Ok(Some(published)),
            Commit::LostRace => Ok(None),
        }
    }
}

pub struct Store<'a, R: Runtime> {
    pub dapr: &'a DaprClient<R>,
    pub state_store: &'a str,
    pub pubsub: &'a str,
}

pub fn bucket_of(id: Uuid) -> u8 {
    (id.as_u128() % u128::from(BUCKETS)) as u8
}

pub fn bucket_key(user: &str, bucket: u8) -> String {
    format!("tasks:{}:{bucket:02x}", escape_user(user))
}

/// User ids come from tokens: keep keys printable and free of Dapr's `||` separator.
pub(crate) use component_kit::state::escape_key_part as escape_user;

impl<'a, R: Runtime> Store<'a, R> {
    /// The retry loop of a write to `bucket` (see [`Attempts`]).
    pub fn attempts<'s>(
        &'s self,
        user: &'s str,
        bucket: u8,
        conflict: &'static str,
    ) -> Attempts<'s, 'a, R> {
        Attempts {
            store: self,
            user,
            bucket,
            conflict,
            made: 0,
        }
    }

    pub async fn load_bucket(&self, user: &str, bucket: u8) -> Result<LoadedBucket, ApiError> {
        let key = bucket_key(user, bucket);
        match self.dapr.get_state::<Bucket>(self.state_store, &key).await {
            Ok(None) => Ok(LoadedBucket {
                key,
                bucket: empty_bucket(),
                etag: None,
            }),
            Ok(Some(entry)) => Ok(LoadedBucket {
                bucket: entry.value,
                key,
                etag: entry.etag,
            }),
            Err(DaprError::Decode(e)) => Err(unreadable(&key, &e)),
            Err(e) => Err(e.into()),
        }
    }

    /// All of a user's buckets in one bulk read.
    pub async fn load_all(&self, user: &str) -> Result<Vec<LoadedBucket>, ApiError> {
        let keys: Vec<String> = (0..BUCKETS).map(|b| bucket_key(user, b)).collect();
        let items = match self.dapr.bulk_get::<Bucket>(self.state_store, &keys).await {
            Ok(items) => items,
            Err(DaprError::Decode(e)) => return Err(unreadable(&format!("tasks:{user}:*"), &e)),
            Err(e) => return Err(e.into()),
        };
        Ok(items
            .into_iter()
            .map(|item| match item.data {
                None => LoadedBucket {
                    key: item.key,
                    bucket: empty_bucket(),
                    etag: None,
                },
                Some(bucket) => LoadedBucket {
                    bucket,
                    key: item.key,
                    etag: item.etag,
                },
            })
            .collect())
    }

    /// The write of one bucket, guarded by the ETag it was read with.
    pub fn bucket_write(&self, loaded: &LoadedBucket) -> TransactionOp {
        let value = serde_json::to_value(&loaded.bucket).expect("serialisable");
        TransactionOp::Upsert(
            StateItem::new(loaded.key.clone(), value).expecting(loaded.etag.clone()),
        )
    }

    pub async fn commit(&self, operations: &[TransactionOp]) -> Result<(), DaprError> {
        self.dapr.transact(self.state_store, operations).await
    }

    /// Commit a bucket whose outbox now ends with the change's event `event_id`, together with
    /// `extra` operations and, when due, the user's sweep registration; then publish. The same
    /// sequence for every write, so no entry point can forget a step.
    pub async fn commit_change(
        &self,
        user: &str,
        bucket: u8,
        loaded: &LoadedBucket,
        event_id: &str,
        extra: Vec<TransactionOp>,
        now: DateTime<Utc>,
    ) -> Result<Commit, ApiError> {
        let registry = self.registry_write(user, now).await?;
        let registered = registry.is_some();
        let mut operations = vec![self.bucket_write(loaded)];
        operations.extend(registry);
        operations.extend(extra);
        match self.commit(&operations).await {
            Ok(()) => {
                let due = due_after_commit(&loaded.bucket.outbox, event_id, now);
                // Job commands are applied whoever staged them: the map holds the latest per
                // task as of this commit, and applying one twice is harmless.
                let published = self
                    .settle(user, bucket, &due, &loaded.bucket.jobs)
                    .await
                    .published;
                if registered {
                    self.ensure_sweep_job().await;
                }
                Ok(Commit::Done { published })
            }
            Err(error) if error.is_conflict() => Ok(Commit::LostRace),
            Err(error) => Err(error.into()),
        }
    }

    /// Publish `events` (in outbox order, stopping at the first failure so later events wait for
    /// earlier ones), then remove what went out from the bucket's outbox. A failed publish leaves
    /// the event for the next sweep; a failed removal only means the event is published again
    /// later with the same id, which consumers dedupe. Returns the ids published.
    pub async fn publish_and_clear(
        &self,
        user: &str,
        bucket: u8,
        events: &[CloudEvent],
    ) -> Vec<String> {
        self.settle(user, bucket, events, &BTreeMap::new())
            .await
            .published
    }

    /// Publish `events` as [`Store::publish_and_clear`] does and apply the job commands `jobs`
    /// (each on its own: a failed one stays for later), then remove from the bucket what went
    /// out, in one cleanup write. A command is removed only if still the same: a newer one
    /// staged meanwhile stays for its writer.
    pub async fn settle(
        &self,
        user: &str,
        bucket: u8,
        events: &[CloudEvent],
        jobs: &BTreeMap<Uuid, JobCommand>,
    ) -> Settled {
        let published = self.publish(events).await;
        let mut applied = Vec::new();
        let mut jobs_failed = 0;
        for (task_id, command) in jobs {
            match self.apply_job(user, *task_id, command).await {
                Ok(()) => applied.push((*task_id, command.clone())),
                Err(error) => {
                    jobs_failed += 1;
                    warn(
                        &format!(
                            "job command for task {task_id} failed; kept in the bucket: {command:?}"
                        ),
                        &error.to_string(),
                    );
                }
            }
        }
        if !published.is_empty() || !applied.is_empty() {
            let superseded = self.clear_outbox(user, bucket, &published, &applied).await;
            for (task_id, newer) in superseded {
                self.reassert_job(user, task_id, &applied, newer).await;
            }
        }
        Settled {
            jobs_applied: applied.len(),
            jobs_failed,
            published,
        }
    }

    async fn publish(&self, events: &[CloudEvent]) -> Vec<String> {
        let mut published = Vec::new();
        for event in events {
            match self
                .dapr
                .publish_cloudevent(self.pubsub, topic_of(event), event)
                .await
            {
                Ok(()) => published.push(event.id.clone()),
                Err(error) => {
                    warn(
                        &format!("publish of event {} failed; kept in the outbox", event.id),
                        &error.to_string(),
                    );
                    break;
                }
            }
        }
        published
    }

    /// Remove what went out; returns the applied commands found superseded (see
    /// [`crate::reminders::superseded`]).
    async fn clear_outbox(
        &self,
        user: &str,
        bucket: u8,
        published: &[String],
        applied: &[(Uuid, JobCommand)],
    ) -> Vec<(Uuid, Option<JobCommand>)> {
        for attempt in 0..MAX_WRITE_ATTEMPTS {
            let mut loaded = match self.load_bucket(user, bucket).await {
                Ok(loaded) => loaded,
                Err(error) => {
                    warn("outbox cleanup read failed", &error.to_string());
                    return Vec::new();
                }
            };
            let superseded = crate::reminders::superseded(applied, &loaded.bucket.jobs);
            let before = (loaded.bucket.outbox.len(), loaded.bucket.jobs.len());
            loaded
                .bucket
                .outbox
                .retain(|event| !published.contains(&event.id));
            for (task_id, command) in applied {
                if loaded.bucket.jobs.get(task_id) == Some(command) {
                    loaded.bucket.jobs.remove(task_id);
                }
            }
            if (loaded.bucket.outbox.len(), loaded.bucket.jobs.len()) == before {
                return superseded; // someone else already cleared them
            }
            match self.commit(&[self.bucket_write(&loaded)]).await {
                Ok(()) => return superseded,
                Err(error) if error.is_conflict() => backoff(self.dapr.transport(), attempt).await,
                Err(error) => {
                    warn("outbox cleanup failed", &error.to_string());
                    return Vec::new();
                }
            }
        }
        Vec::new()
    }
}

/// Events in an outbox a writer should publish after its commit: its own event, plus leftovers old
/// enough that the writer that committed them has surely given up. Younger leftovers belong to
/// writers still in flight; publishing them too would multiply duplicates under contention.
pub fn due_after_commit(
    outbox: &[CloudEvent],
    own_event: &str,
    now: DateTime<Utc>,
) -> Vec<CloudEvent> {
    outbox
        .iter()
        .filter(|event| event.id == own_event || event.time.is_none_or(|t| now - t > OUTBOX_GRACE))
        .cloned()
        .collect()
}

fn empty_bucket() -> Bucket {
    Bucket {
        schema_version: BUCKET_SCHEMA_VERSION,
        ..Bucket::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_escape_separators_and_spread_over_buckets() {
        assert_eq!(bucket_key("alice", 5), "tasks:alice:05");
        assert_eq!(bucket_key("a||b c", 63), "tasks:a%7C%7Cb%20c:3f");
        let used: std::collections::HashSet<u8> =
            (0..1000).map(|_| bucket_of(Uuid::new_v4())).collect();
        assert!(used.len() > 50 && used.iter().all(|b| *b < BUCKETS));
    }
}
