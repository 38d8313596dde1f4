//! The outbox sweep: a repeating Dapr job that publishes events left in outboxes (a failed publish,
//! a process that died between commit and publish) and applies reminder job commands left in
//! buckets (a failed schedule or delete), for users who make no further request.
//!
//! The state API cannot list keys, so writers register their user in one of 16 registry shards
//! `outbox-users:{shard}` **in the same transaction** as their change — but only when the user is
//! missing there or was last registered more than `REFRESH_AFTER` ago, so the registry is written
//! about once per active user per 10 minutes, not on every write. The sweep forgets a user only when
//! all their outboxes are empty and the registration is older than `FORGET_AFTER`: a writer that
//! skipped the registry (fresh entry) can therefore never lose its entry before the sweep has seen
//! its event.
use crate::store::{Store, bucket_key, unreadable};
use crate::{ApiError, Runtime};
use chrono::{DateTime, TimeDelta, Utc};
use component_kit::log::warn;
use dapr_client::{StateItem, TransactionOp};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

pub const REGISTRY_SHARDS: u8 = 16;
pub const REGISTRY_SCHEMA_VERSION: u32 = 1;
pub const REFRESH_AFTER: TimeDelta = TimeDelta::minutes(10);
pub const FORGET_AFTER: TimeDelta = TimeDelta::minutes(20);
pub const SWEEP_JOB: &str = "outbox-sweep";
pub const SWEEP_SCHEDULE: &str = "@every 1m";

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegistryShard {
    pub schema_version: u32,
    /// User id → when a writer last registered them.
    pub users: BTreeMap<String, DateTime<Utc>>,
}

pub fn registry_key(shard: u8) -> String {
    format!("outbox-users:{shard:02x}")
}

pub fn shard_of(user: &str) -> u8 {
    Sha256::digest(user.as_bytes())[0] % REGISTRY_SHARDS
}

/// What one sweep did.
#[derive(Debug, Default, Serialize)]
pub struct SweepReport {
    pub users_swept: usize,
    pub events_published: usize,
    pub jobs_applied: usize,
    pub users_forgotten: usize,
}

impl<R: Runtime> Store<'_, R> {
    /// Shard `shard` of a user registry (`key_of` names its keys: the outbox's
    /// [`registry_key`] or the reminders' `reminders::registry_key`), and its ETag.
    pub(crate) async fn load_registry_shard(
        &self,
        key_of: fn(u8) -> String,
        shard: u8,
    ) -> Result<(RegistryShard, Option<String>), ApiError> {
        let key = key_of(shard);
        match self
            .dapr
            .get_state::<RegistryShard>(self.state_store, &key)
            .await
        {
            Ok(None) => Ok((
                RegistryShard {
                    schema_version: REGISTRY_SCHEMA_VERSION,
                    ..Default::default()
                },
                None,
            )),
            Ok(Some(entry)) => Ok((entry.value, entry.etag)),
            Err(dapr_client::DaprError::Decode(e)) => Err(unreadable(&key, &e)),
            Err(e) => Err(e.into()),
        }
    }

    /// The write that registers `user` in the registry `key_of` names, when their entry is
    /// missing or older than `REFRESH_AFTER`; `None` when the registry already covers this write.
    pub(crate) async fn register_user(
        &self,
        key_of: fn(u8) -> String,
        user: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<TransactionOp>, ApiError> {
        let shard = shard_of(user);
        let (mut registry, etag) = self.load_registry_shard(key_of, shard).await?;
        if registry
            .users
            .get(user)
            .is_some_and(|registered| now - *registered < REFRESH_AFTER)
        {
            return Ok(None);
        }
        registry.users.insert(user.to_owned(), now);
        let value = serde_json::to_value(&registry).expect("serialisable");
        Ok(Some(TransactionOp::Upsert(
            StateItem::new(key_of(shard), value).expecting(etag),
        )))
    }

    /// The outbox-registry write a writer adds to its transaction, when the user's entry is
    /// missing or stale; `None` when the registry already covers this write.
    pub async fn registry_write(
        &self,
        user: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<TransactionOp>, ApiError> {
        self.register_user(registry_key, user, now).await
    }

    /// Make sure the sweep job exists. Scheduled without overwrite, so an existing job keeps its
    /// timing; failures are logged, not fatal: the read-path sweeps still run.
    pub async fn ensure_sweep_job(&self) {
        let job = serde_json::json!({ "schedule": SWEEP_SCHEDULE, "data": {}, "overwrite": false });
        if let Err(error) = self.dapr.schedule_job(SWEEP_JOB, &job).await {
            warn(
                "could not schedule the outbox sweep job",
                &error.to_string(),
            );
        }
    }

    /// Publish every outbox entry and apply every job command of every registered user; forget
    /// users that are clean and idle.
    pub async fn sweep(&self, now: DateTime<Utc>) -> Result<SweepReport, ApiError> {
        let mut report = SweepReport::default();
        for shard in 0..REGISTRY_SHARDS {
            let (mut registry, etag) = self.load_registry_shard(registry_key, shard).await?;
            let mut forget = Vec::new();
            for (user, registered) in &registry.users {
                report.users_swept += 1;
                let mut clean = true;
                for (index, loaded) in self.load_all(user).await?.iter().enumerate() {
                    if loaded.bucket.is_settled() {
                        continue;
                    }
                    debug_assert_eq!(loaded.key, bucket_key(user, index as u8));
                    let settled = self
                        .settle(
                            user,
                            index as u8,
                            &loaded.bucket.outbox,
                            &loaded.bucket.jobs,
                        )
                        .await;
                    report.events_published += settled.published.len();
                    report.jobs_applied += settled.jobs_applied;
                    clean &= settled.published.len() == loaded.bucket.outbox.len()
                        && settled.jobs_failed == 0;
                }
                if clean && now - *registered > FORGET_AFTER {
                    forget.push(user.clone());
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
            // Losing this race only means the users are forgotten on a later sweep.
            if self.commit(&[write]).await.is_ok() {
                report.users_forgotten += forget.len();
            }
        }
        Ok(report)
    }
}
