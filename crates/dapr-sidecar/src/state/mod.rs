//! The State API: configuration, key prefixing, the storage trait and its in-memory and SQLite
//! implementations. `api` holds the HTTP handlers.
//!
//! Storage sits behind [`StateStore`], so the persistent (SQLite) store and the in-memory one
//! serve the same HTTP layer: the HTTP layer does everything daprd does itself (key
//! prefixing, request validation, error mapping) and hands the store only prefixed keys and
//! already-serialized values, as daprd hands them to a components-contrib store.

pub(crate) mod api;
mod memory;
mod sqlite;

use std::collections::BTreeMap;
use std::fmt;

use bytes::Bytes;
use chrono::{DateTime, Utc};

pub use memory::InMemoryStateStore;
pub use sqlite::SqliteStateStore;

use crate::error::{ApiError, StoreError};

/// How keys are prefixed in the store (the component's `keyPrefix` metadata).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum KeyPrefix {
    /// `appid||key` (daprd's default): each app sees only its own keys.
    #[default]
    AppId,
    /// `storename||key`: every app using the store shares its keys.
    Name,
    /// `namespace.appid||key`: app ids isolated per namespace.
    Namespace(String),
    /// The key as given: shared by every app.
    None,
}

/// One configured state store component.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateStoreConfig {
    /// Component name, the `{store}` of `/v1.0/state/{store}`.
    pub name: String,
    pub key_prefix: KeyPrefix,
}

impl StateStoreConfig {
    /// A store with daprd's default key prefix (the app id).
    pub fn new(name: impl Into<String>) -> Self {
        StateStoreConfig {
            name: name.into(),
            key_prefix: KeyPrefix::AppId,
        }
    }
}

/// The key the store sees for `key` written by `app_id` (daprd `GetModifiedStateKey`).
///
/// A key containing `||` is refused because it would let an app forge another prefix.
pub(crate) fn storage_key(
    config: &StateStoreConfig,
    app_id: &str,
    key: &str,
) -> Result<String, ApiError> {
    if key.contains("||") {
        return Err(ApiError::invalid_key(&config.name, key));
    }
    Ok(match &config.key_prefix {
        KeyPrefix::AppId if app_id.is_empty() => key.to_owned(),
        KeyPrefix::AppId => format!("{app_id}||{key}"),
        KeyPrefix::Name => format!("{}||{key}", config.name),
        KeyPrefix::Namespace(ns) if ns.is_empty() => format!("{app_id}||{key}"),
        KeyPrefix::Namespace(ns) => format!("{ns}.{app_id}||{key}"),
        KeyPrefix::None => key.to_owned(),
    })
}

/// `options.concurrency` of a write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Concurrency {
    /// A write without an etag to an existing key fails.
    FirstWrite,
    /// A write without an etag always wins (daprd's default).
    #[default]
    LastWrite,
}

/// A stored value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredItem {
    /// The value's JSON, as daprd serialized it.
    pub value: Bytes,
    /// Opaque to apps; here a decimal version number, new on every write.
    pub etag: String,
    /// When the value stops being visible (`metadata.ttlInSeconds`).
    pub expires_at: Option<DateTime<Utc>>,
}

impl StoredItem {
    /// Whether the item still exists at `now` (expired items are invisible everywhere).
    pub fn is_live(&self, now: DateTime<Utc>) -> bool {
        self.expires_at.is_none_or(|at| now <= at)
    }
}

/// One write, with the key already prefixed and the value already serialized.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteOp {
    Upsert {
        key: String,
        value: Bytes,
        /// `None` or `Some("")`: no etag check.
        etag: Option<String>,
        concurrency: Concurrency,
        /// Seconds to live; `None` = forever.
        ttl_seconds: Option<u64>,
    },
    Delete {
        key: String,
        etag: Option<String>,
        concurrency: Concurrency,
    },
}

impl WriteOp {
    /// The key and the concurrency guard of this write.
    pub fn guard(&self) -> (&str, Option<&str>, Concurrency) {
        match self {
            WriteOp::Upsert {
                key,
                etag,
                concurrency,
                ..
            }
            | WriteOp::Delete {
                key,
                etag,
                concurrency,
            } => (key, etag.as_deref(), *concurrency),
        }
    }
}

/// Daprd's optimistic-concurrency rule for one write (components-contrib in-memory
/// `doValidateEtag`, with the etag format check first), the same for every store: an empty etag is
/// no etag; first-write without an etag fails on an existing key; an etag must be one this store
/// issued (a version number) and must match the live item.
pub fn check_write(
    key: &str,
    etag: Option<&str>,
    concurrency: Concurrency,
    current: Option<&StoredItem>,
) -> Result<(), StoreError> {
    let etag = etag.filter(|e| !e.is_empty());
    if let Some(expected) = etag
        && expected.parse::<u64>().is_err()
    {
        return Err(StoreError::ETagInvalid(format!(
            "etag {expected:?} is not one this store issued"
        )));
    }
    match (etag, current) {
        (None, Some(_)) if concurrency == Concurrency::FirstWrite => Err(StoreError::ETagMismatch(
            "item already exists and no etag was passed".into(),
        )),
        (None, _) => Ok(()),
        (Some(_), None) => Err(StoreError::ETagMismatch(format!(
            "state not exist or expired for key={key}"
        ))),
        (Some(expected), Some(item)) if item.etag != expected => {
            Err(StoreError::ETagMismatch(format!(
                "state etag not match for key={key}: current={}, expect={expected}",
                item.etag
            )))
        }
        (Some(_), Some(_)) => Ok(()),
    }
}

/// Storage for one state store component.
pub trait StateStore: Send + Sync + fmt::Debug {
    /// The live item at `key`, if any.
    fn get(&self, key: &str, now: DateTime<Utc>) -> Result<Option<StoredItem>, StoreError>;

    /// Applies `ops` all or nothing: every etag/concurrency check is made against the state
    /// before the first op, then all ops are applied (components-contrib in-memory `Multi`).
    fn apply(&self, ops: &[WriteOp], now: DateTime<Utc>) -> Result<(), StoreError>;

    /// Every live item by stored (prefixed) key, for tests and inspection.
    fn snapshot(&self, now: DateTime<Utc>) -> BTreeMap<String, StoredItem>;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(prefix: KeyPrefix) -> StateStoreConfig {
        StateStoreConfig {
            name: "store".into(),
            key_prefix: prefix,
        }
    }

    #[test]
    fn prefixes_keys_per_strategy() {
        let key = |p| storage_key(&config(p), "app", "k").expect("valid key");
        assert_eq!(key(KeyPrefix::AppId), "app||k");
        assert_eq!(key(KeyPrefix::Name), "store||k");
        assert_eq!(key(KeyPrefix::Namespace("ns".into())), "ns.app||k");
        assert_eq!(key(KeyPrefix::None), "k");
    }

    #[test]
    fn refuses_keys_with_the_separator() {
        assert!(storage_key(&config(KeyPrefix::None), "app", "a||b").is_err());
    }
}
