//! In-memory state storage, behaving as components-contrib `state/in-memory` does, except that
//! etags are version numbers (as Redis's are), so an etag that is not a number is "invalid"
//! (400) rather than merely "mismatched" (409): that is how daprd answers for stores whose
//! etags have a format (`pkg/api/http/http.go` maps the store's `state.ETagInvalid` to 400 and
//! `state.ETagMismatch` to 409, see `crate::StoreError`).

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

use chrono::{DateTime, Duration, Utc};

use super::{StateStore, StoredItem, WriteOp, check_write};
use crate::error::StoreError;

/// Items plus the last etag handed out (etags are never reused, even after a delete).
#[derive(Debug, Default)]
struct Inner {
    items: BTreeMap<String, StoredItem>,
    last_etag: u64,
}

impl Inner {
    fn live(&self, key: &str, now: DateTime<Utc>) -> Option<&StoredItem> {
        self.items.get(key).filter(|item| item.is_live(now))
    }
}

/// State kept in process memory; lost when the sidecar is dropped.
#[derive(Debug, Default)]
pub struct InMemoryStateStore {
    inner: Mutex<Inner>,
}

impl InMemoryStateStore {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl StateStore for InMemoryStateStore {
    fn get(&self, key: &str, now: DateTime<Utc>) -> Result<Option<StoredItem>, StoreError> {
        Ok(self.lock().live(key, now).cloned())
    }

    fn apply(&self, ops: &[WriteOp], now: DateTime<Utc>) -> Result<(), StoreError> {
        let mut inner = self.lock();
        for op in ops {
            let (key, etag, concurrency) = op.guard();
            check_write(key, etag, concurrency, inner.live(key, now))?;
        }
        for op in ops {
            match op {
                WriteOp::Upsert {
                    key,
                    value,
                    ttl_seconds,
                    ..
                } => {
                    inner.last_etag += 1;
                    let expires_at = ttl_seconds
                        .and_then(|s| i64::try_from(s).ok())
                        .and_then(Duration::try_seconds)
                        .and_then(|ttl| now.checked_add_signed(ttl));
                    let item = StoredItem {
                        value: value.clone(),
                        etag: inner.last_etag.to_string(),
                        expires_at,
                    };
                    inner.items.insert(key.clone(), item);
                }
                WriteOp::Delete { key, .. } => {
                    inner.items.remove(key);
                }
            }
        }
        Ok(())
    }

    fn snapshot(&self, now: DateTime<Utc>) -> BTreeMap<String, StoredItem> {
        self.lock()
            .items
            .iter()
            .filter(|(_, item)| item.is_live(now))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::Concurrency;
    use bytes::Bytes;

    fn upsert(key: &str, etag: Option<&str>) -> WriteOp {
        WriteOp::Upsert {
            key: key.into(),
            value: Bytes::from_static(b"1"),
            etag: etag.map(Into::into),
            concurrency: Concurrency::LastWrite,
            ttl_seconds: None,
        }
    }

    #[test]
    fn a_failed_check_applies_nothing() {
        let store = InMemoryStateStore::new();
        let now = Utc::now();
        let err = store
            .apply(&[upsert("a", None), upsert("b", Some("7"))], now)
            .expect_err("b does not exist");
        assert!(matches!(err, StoreError::ETagMismatch(_)));
        assert!(store.snapshot(now).is_empty());
    }

    #[test]
    fn etags_change_on_every_write_and_are_never_reused() {
        let store = InMemoryStateStore::new();
        let now = Utc::now();
        store.apply(&[upsert("a", None)], now).expect("write");
        let first = store.get("a", now).expect("get").expect("item").etag;
        store
            .apply(
                &[WriteOp::Delete {
                    key: "a".into(),
                    etag: None,
                    concurrency: Concurrency::LastWrite,
                }],
                now,
            )
            .expect("delete");
        store.apply(&[upsert("a", None)], now).expect("write");
        let second = store.get("a", now).expect("get").expect("item").etag;
        assert_ne!(first, second);
    }
}
