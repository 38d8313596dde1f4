//! The inboxes in the Dapr state store: one document per user (`inbox:{U}`, see [`inbox_key`]),
//! every change an ETag-guarded save retried on a lost race. Layout and costs: docs/storage.md
//! "notification-service".
use crate::inbox::{InboxDoc, InboxEntry, InboxPage, InboxQuery, Inserted, inbox_key};
use crate::{ApiError, Runtime};
use chrono::{DateTime, Utc};
use component_kit::state::{backoff, unreadable};
use dapr_client::{DaprClient, DaprError, StateItem};

/// Attempts at a change before giving up (a delivery is then retried by Dapr).
pub const MAX_WRITE_ATTEMPTS: u32 = 12;

pub struct InboxStore<'a, R> {
    pub dapr: &'a DaprClient<R>,
    pub state_store: &'a str,
}

impl<R: Runtime> InboxStore<'_, R> {
    async fn read(&self, key: &str) -> Result<(InboxDoc, Option<String>), ApiError> {
        let stored = self
            .dapr
            .get_state::<serde_json::Value>(self.state_store, key)
            .await?;
        match stored {
            None => Ok((InboxDoc::default(), None)),
            Some(entry) => {
                let doc: InboxDoc = serde_json::from_value(entry.value)
                    .map_err(|e| unreadable(key, &e.to_string()))?;
                Ok((doc, entry.etag))
            }
        }
    }

    /// Read, change, save with the ETag read (or first-write for a new inbox); again on a lost
    /// race. `change` answers what to return and whether to save.
    async fn update<T>(
        &self,
        user: &str,
        mut change: impl FnMut(&mut InboxDoc) -> (T, bool),
    ) -> Result<T, ApiError> {
        let key = inbox_key(user);
        for attempt in 0..MAX_WRITE_ATTEMPTS {
            if attempt > 0 {
                backoff(self.dapr.transport(), attempt - 1).await;
            }
            let (mut doc, etag) = self.read(&key).await?;
            let (answer, save) = change(&mut doc);
            if !save {
                return Ok(answer);
            }
            let value = serde_json::to_value(&doc).expect("serialisable");
            let item = StateItem::new(key.clone(), value).expecting(etag);
            match self.dapr.save_state(self.state_store, &[item]).await {
                Ok(()) => return Ok(answer),
                Err(error) if is_lost_race(&error) => continue,
                Err(error) => return Err(error.into()),
            }
        }
        Err(ApiError::Conflict(format!(
            "inbox of {user}: concurrent writes won {MAX_WRITE_ATTEMPTS} times"
        )))
    }

    /// Put `entry` into `user`'s inbox once: the entry as stored (the earlier one on a
    /// redelivery, so its `delivered_at` stays) and what happened.
    pub async fn add(
        &self,
        user: &str,
        entry: InboxEntry,
    ) -> Result<(InboxEntry, Inserted), ApiError> {
        self.update(user, |doc| {
            if let Some(existing) = doc.entries.iter().find(|e| e.id == entry.id) {
                return ((existing.clone(), Inserted::AlreadyThere), false);
            }
            let inserted = doc.insert(entry.clone());
            ((entry.clone(), inserted), inserted == Inserted::Added)
        })
        .await
    }

    pub async fn page(&self, user: &str, query: &InboxQuery) -> Result<InboxPage, ApiError> {
        let (doc, _) = self.read(&inbox_key(user)).await?;
        Ok(query.page(&doc))
    }

    /// Mark `user`'s entry `id` read; `NotFound` when they have none such.
    pub async fn mark_read(
        &self,
        user: &str,
        id: &str,
        now: DateTime<Utc>,
    ) -> Result<InboxEntry, ApiError> {
        self.update(user, |doc| match doc.mark_read(id, now) {
            Some((entry, changed)) => (Some(entry), changed),
            None => (None, false),
        })
        .await?
        .ok_or(ApiError::NotFound)
    }
}

/// A save refused because the document changed since it was read (409), or a first write that
/// found it created meanwhile.
fn is_lost_race(error: &DaprError) -> bool {
    error.is_conflict()
}
