//! State kept in a SQLite file (`<data_dir>/state.db`), with the same semantics as
//! [`InMemoryStateStore`](super::InMemoryStateStore): numeric etags that are never reused, TTLs
//! judged against the injected clock, and all-or-nothing [`StateStore::apply`] (one SQLite
//! transaction per call).
//!
//! Durability (`crate::durable`): WAL with `synchronous=NORMAL`, the WAL fsynced in the background
//! at most once a second. An acknowledged write survives `kill -9` of the process at once and a
//! power loss once the next background fsync has run (within about a second), as Redis's
//! `appendfsync everysec`.
//!
//! Several stores share one file: rows are keyed by `(store, key)`.

use crate::durable::CachedSql;
use std::collections::BTreeMap;
use std::path::Path;

use bytes::Bytes;
use chrono::{DateTime, Duration, Utc};
use rusqlite::{Connection, OptionalExtension, params};

use super::{StateStore, StoredItem, WriteOp, check_write};
use crate::durable::Db;
use crate::error::StoreError;

/// One state store component persisted in a SQLite database.
pub struct SqliteStateStore {
    store: String,
    db: Db,
}

impl std::fmt::Debug for SqliteStateStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStateStore")
            .field("store", &self.store)
            .finish_non_exhaustive()
    }
}

fn to_nanos(at: DateTime<Utc>) -> i64 {
    at.timestamp_nanos_opt().unwrap_or(i64::MAX)
}

fn from_nanos(nanos: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_nanos(nanos)
}

fn db_error(err: rusqlite::Error) -> StoreError {
    StoreError::Other(format!("sqlite: {err}"))
}

impl SqliteStateStore {
    /// Opens store `store` in the database file at `path`.
    pub fn open(path: &Path, store: &str) -> Result<Self, StoreError> {
        let db = Db::open(path).map_err(db_error)?;
        db.write()
            .execute_batch(
                "CREATE TABLE IF NOT EXISTS state_items (
                 store TEXT NOT NULL,
                 key TEXT NOT NULL,
                 value BLOB NOT NULL,
                 etag TEXT NOT NULL,
                 expires_at INTEGER,
                 PRIMARY KEY (store, key)
             );
             -- The expired-row sweep of every `apply` reads only rows with a TTL, in order.
             CREATE INDEX IF NOT EXISTS state_items_expiry ON state_items (store, expires_at)
                 WHERE expires_at IS NOT NULL;
             CREATE TABLE IF NOT EXISTS state_etags (
                 store TEXT PRIMARY KEY,
                 last_etag INTEGER NOT NULL
             );",
            )
            .map_err(db_error)?;
        Ok(SqliteStateStore {
            store: store.to_owned(),
            db,
        })
    }

    /// The item at `key` unless expired.
    fn live(
        &self,
        tx: &Connection,
        key: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<StoredItem>, StoreError> {
        self.live_row(tx, LIVE_ITEM, key, now)
    }

    /// [`Self::live`] without the value (empty): what an ETag check needs, without reading a
    /// document of up to ~100 KB from its overflow pages.
    fn live_version(
        &self,
        tx: &Connection,
        key: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<StoredItem>, StoreError> {
        self.live_row(tx, LIVE_VERSION, key, now)
    }

    fn live_row(
        &self,
        tx: &Connection,
        sql: &str,
        key: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<StoredItem>, StoreError> {
        let row = tx
            .query_row_cached(sql, params![self.store, key], |row| {
                Ok(StoredItem {
                    value: Bytes::from(row.get::<_, Vec<u8>>(0)?),
                    etag: row.get(1)?,
                    expires_at: row.get::<_, Option<i64>>(2)?.map(from_nanos),
                })
            })
            .optional()
            .map_err(db_error)?;
        Ok(row.filter(|item| item.is_live(now)))
    }
}

const LIVE_ITEM: &str =
    "SELECT value, etag, expires_at FROM state_items WHERE store = ?1 AND key = ?2";
const LIVE_VERSION: &str =
    "SELECT x'', etag, expires_at FROM state_items WHERE store = ?1 AND key = ?2";

impl StateStore for SqliteStateStore {
    fn get(&self, key: &str, now: DateTime<Utc>) -> Result<Option<StoredItem>, StoreError> {
        let conn = self.db.read();
        self.live(&conn, key, now)
    }

    fn apply(&self, ops: &[WriteOp], now: DateTime<Utc>) -> Result<(), StoreError> {
        let mut conn = self.db.write();
        let tx = conn.transaction().map_err(db_error)?;
        for op in ops {
            let (key, etag, concurrency) = op.guard();
            let current = self.live_version(&tx, key, now)?;
            check_write(key, etag, concurrency, current.as_ref())?;
        }
        let mut last_etag: i64 = tx
            .query_row_cached(
                "SELECT last_etag FROM state_etags WHERE store = ?1",
                params![self.store],
                |row| row.get(0),
            )
            .optional()
            .map_err(db_error)?
            .unwrap_or(0);
        for op in ops {
            match op {
                WriteOp::Upsert {
                    key,
                    value,
                    ttl_seconds,
                    ..
                } => {
                    last_etag += 1;
                    let expires_at = ttl_seconds
                        .and_then(|s| i64::try_from(s).ok())
                        .and_then(Duration::try_seconds)
                        .and_then(|ttl| now.checked_add_signed(ttl))
                        .map(to_nanos);
                    // An upsert, not `INSERT OR REPLACE`: REPLACE deletes the row and inserts
                    // it again under a new rowid, which rewrites its old page, the table's last
                    // page and the key index (~8 WAL pages for one key, against ~2.5).
                    tx.execute_cached(
                        "INSERT INTO state_items (store, key, value, etag, expires_at)
                         VALUES (?1, ?2, ?3, ?4, ?5)
                         ON CONFLICT (store, key) DO UPDATE SET value = excluded.value,
                             etag = excluded.etag, expires_at = excluded.expires_at",
                        params![
                            self.store,
                            key,
                            value.as_ref(),
                            last_etag.to_string(),
                            expires_at
                        ],
                    )
                    .map_err(db_error)?;
                }
                WriteOp::Delete { key, .. } => {
                    tx.execute_cached(
                        "DELETE FROM state_items WHERE store = ?1 AND key = ?2",
                        params![self.store, key],
                    )
                    .map_err(db_error)?;
                }
            }
        }
        tx.execute_cached(
            "INSERT INTO state_etags (store, last_etag) VALUES (?1, ?2)
             ON CONFLICT (store) DO UPDATE SET last_etag = excluded.last_etag",
            params![self.store, last_etag],
        )
        .map_err(db_error)?;
        // Expired rows are invisible already; drop them while we hold the write lock.
        tx.execute_cached(
            "DELETE FROM state_items WHERE store = ?1 AND expires_at IS NOT NULL AND expires_at < ?2",
            params![self.store, to_nanos(now)],
        )
        .map_err(db_error)?;
        tx.commit().map_err(db_error)
    }

    fn snapshot(&self, now: DateTime<Utc>) -> BTreeMap<String, StoredItem> {
        let conn = self.db.read();
        let Ok(mut statement) =
            conn.prepare("SELECT key, value, etag, expires_at FROM state_items WHERE store = ?1")
        else {
            return BTreeMap::new();
        };
        let rows = statement.query_map(params![self.store], |row| {
            Ok((
                row.get::<_, String>(0)?,
                StoredItem {
                    value: Bytes::from(row.get::<_, Vec<u8>>(1)?),
                    etag: row.get(2)?,
                    expires_at: row.get::<_, Option<i64>>(3)?.map(from_nanos),
                },
            ))
        });
        let Ok(rows) = rows else {
            return BTreeMap::new();
        };
        rows.filter_map(Result::ok)
            .filter(|(_, item)| item.is_live(now))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::Concurrency;

    fn temp_db() -> (std::path::PathBuf, std::path::PathBuf) {
        let dir =
            std::env::temp_dir().join(format!("dapr-sidecar-sqlite-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        (dir.join("state.db"), dir)
    }

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
    fn a_failed_check_applies_nothing_and_etags_survive_reopening() {
        let (path, dir) = temp_db();
        let now = Utc::now();
        {
            let store = SqliteStateStore::open(&path, "s").expect("open");
            let err = store
                .apply(&[upsert("a", None), upsert("b", Some("7"))], now)
                .expect_err("b does not exist");
            assert!(matches!(err, StoreError::ETagMismatch(_)));
            assert!(store.snapshot(now).is_empty());
            store.apply(&[upsert("a", None)], now).expect("write");
        }
        let store = SqliteStateStore::open(&path, "s").expect("reopen");
        let first = store.get("a", now).expect("get").expect("item").etag;
        store.apply(&[upsert("a", None)], now).expect("write");
        let second = store.get("a", now).expect("get").expect("item").etag;
        assert_ne!(first, second, "etags are never reused across restarts");
        assert!(
            SqliteStateStore::open(&path, "other")
                .expect("other store")
                .snapshot(now)
                .is_empty(),
            "stores in one file do not see each other's keys"
        );
        let _ = std::fs::remove_dir_all(dir);
    }
}
