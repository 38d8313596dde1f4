//! Where accepted messages, pending deliveries and dead letters live: in memory, or in SQLite
//! (`<data_dir>/pubsub.db`) so that unacknowledged messages survive a restart.
//!
//! Model: an append-only log of messages (`seq`), and per consumer (app id, pub/sub, topic) a
//! queue of pending deliveries that point into the log. A publish appends the message and one
//! delivery per subscribed consumer in one transaction; an acknowledgement deletes the delivery.
//! Until the subscriptions are known (`Sidecar::start()` has asked every app), messages are kept
//! "undistributed" and fanned out when they are.
//!
//! SQLite runs in WAL mode with `synchronous=FULL`: each commit (one per publish, one per
//! acknowledgement) is fsynced before the call returns, so a 204 to a publisher means the message
//! is on disk even if the machine loses power right after. `NORMAL` would only survive a process
//! crash; the cost of FULL is one fsync per publish, which a development machine does not notice.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Mutex, MutexGuard, PoisonError};

use bytes::Bytes;
use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, params};
use serde_json::Value;

use super::PublishedMessage;

/// One subscriber of one topic: the unit of ordering and of delivery state.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct ConsumerKey {
    pub app_id: String,
    pub pubsub: String,
    pub topic: String,
}

/// The delivery at the head of a consumer's queue.
#[derive(Debug, Clone)]
pub(crate) struct Pending {
    pub id: i64,
    pub seq: i64,
    /// Attempts already made (kept across restarts).
    pub attempts: u32,
    pub message: PublishedMessage,
}

/// What is recorded about a dead-lettered delivery.
#[derive(Debug, Clone)]
pub(crate) struct DeadRecord {
    pub app_id: String,
    pub pubsub: String,
    pub dead_letter_topic: String,
    pub original_topic: String,
    pub reason: String,
    pub at: DateTime<Utc>,
}

/// A stored dead letter with its message.
#[derive(Debug, Clone)]
pub(crate) struct StoredDeadLetter {
    pub id: i64,
    pub record: DeadRecord,
    pub message: PublishedMessage,
}

pub(crate) type StoreResult<T> = Result<T, String>;

pub(crate) enum Store {
    Memory(Mutex<MemoryStore>),
    Sqlite(Mutex<Connection>),
}

#[derive(Default)]
pub(crate) struct MemoryStore {
    /// `seq` = index + 1.
    messages: Vec<PublishedMessage>,
    undistributed: Vec<i64>,
    queues: BTreeMap<ConsumerKey, BTreeMap<i64, (i64, u32)>>,
    next_delivery: i64,
    dead: BTreeMap<i64, (i64, DeadRecord)>,
    next_dead: i64,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

fn sql_err(err: rusqlite::Error) -> String {
    format!("pubsub store: {err}")
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS messages (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    pubsub TEXT NOT NULL,
    topic TEXT NOT NULL,
    content_type TEXT NOT NULL,
    body BLOB NOT NULL,
    event TEXT,
    metadata TEXT NOT NULL,
    distributed INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS deliveries (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    seq INTEGER NOT NULL REFERENCES messages(seq),
    app_id TEXT NOT NULL,
    pubsub TEXT NOT NULL,
    topic TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS deliveries_by_consumer ON deliveries(app_id, pubsub, topic, id);
CREATE TABLE IF NOT EXISTS dead_letters (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    seq INTEGER NOT NULL REFERENCES messages(seq),
    app_id TEXT NOT NULL,
    pubsub TEXT NOT NULL,
    topic TEXT NOT NULL,
    original_topic TEXT NOT NULL,
    reason TEXT NOT NULL,
    at TEXT NOT NULL
);
";

impl Store {
    /// In memory when `data_dir` is `None`, else `<data_dir>/pubsub.db` (created if needed).
    pub fn open(data_dir: Option<&Path>) -> StoreResult<Self> {
        let Some(dir) = data_dir else {
            return Ok(Store::Memory(Mutex::new(MemoryStore::default())));
        };
        std::fs::create_dir_all(dir).map_err(|err| format!("{}: {err}", dir.display()))?;
        let path = dir.join("pubsub.db");
        let conn = Connection::open(&path).map_err(|err| format!("{}: {err}", path.display()))?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .and_then(|()| conn.pragma_update(None, "synchronous", "FULL"))
            .and_then(|()| conn.busy_timeout(std::time::Duration::from_secs(5)))
            .and_then(|()| conn.execute_batch(SCHEMA))
            .map_err(|err| format!("{}: {err}", path.display()))?;
        Ok(Store::Sqlite(Mutex::new(conn)))
    }

    /// Appends `message`; with `consumers`, also queues a delivery for each (else the message
    /// waits for [`Store::distribute`]). Returns the message's `seq`.
    pub fn append(
        &self,
        message: &PublishedMessage,
        consumers: Option<&[ConsumerKey]>,
    ) -> StoreResult<i64> {
        match self {
            Store::Memory(mem) => Ok(lock(mem).append(message.clone(), consumers)),
            Store::Sqlite(conn) => {
                let mut conn = lock(conn);
                let tx = conn.transaction().map_err(sql_err)?;
                let seq = sql_append(&tx, message, consumers)?;
                tx.commit().map_err(sql_err)?;
                Ok(seq)
            }
        }
    }

    /// Fans out every undistributed message to `consumers_of(pubsub, topic)`, in order.
    pub fn distribute(
        &self,
        consumers_of: impl Fn(&str, &str) -> Vec<ConsumerKey>,
    ) -> StoreResult<usize> {
        match self {
            Store::Memory(mem) => {
                let mut mem = lock(mem);
                let pending = std::mem::take(&mut mem.undistributed);
                for seq in &pending {
                    let message = &mem.messages[(*seq - 1) as usize];
                    let consumers = consumers_of(&message.pubsub, &message.topic);
                    mem.enqueue(*seq, &consumers);
                }
                Ok(pending.len())
            }
            Store::Sqlite(conn) => {
                let mut conn = lock(conn);
                let tx = conn.transaction().map_err(sql_err)?;
                let rows: Vec<(i64, String, String)> = {
                    let mut stmt = tx
                        .prepare(
                            "SELECT seq, pubsub, topic FROM messages WHERE distributed = 0 ORDER BY seq",
                        )
                        .map_err(sql_err)?;
                    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                        .and_then(Iterator::collect)
                        .map_err(sql_err)?
                };
                for (seq, pubsub, topic) in &rows {
                    sql_enqueue(&tx, *seq, &consumers_of(pubsub, topic))?;
                }
                tx.execute(
                    "UPDATE messages SET distributed = 1 WHERE distributed = 0",
                    [],
                )
                .map_err(sql_err)?;
                tx.commit().map_err(sql_err)?;
                Ok(rows.len())
            }
        }
    }

    /// The oldest pending delivery of `consumer`.
    pub fn head(&self, consumer: &ConsumerKey) -> StoreResult<Option<Pending>> {
        match self {
            Store::Memory(mem) => {
                let mem = lock(mem);
                Ok(mem
                    .queues
                    .get(consumer)
                    .and_then(|queue| queue.iter().next())
                    .map(|(id, (seq, attempts))| Pending {
                        id: *id,
                        seq: *seq,
                        attempts: *attempts,
                        message: mem.messages[(*seq - 1) as usize].clone(),
                    }))
            }
            Store::Sqlite(conn) => {
                let conn = lock(conn);
                let row = conn
                    .query_row(
                        "SELECT id, seq, attempts FROM deliveries
                         WHERE app_id = ?1 AND pubsub = ?2 AND topic = ?3 ORDER BY id LIMIT 1",
                        params![consumer.app_id, consumer.pubsub, consumer.topic],
                        |r| {
                            Ok((
                                r.get::<_, i64>(0)?,
                                r.get::<_, i64>(1)?,
                                r.get::<_, u32>(2)?,
                            ))
                        },
                    )
                    .optional()
                    .map_err(sql_err)?;
                let Some((id, seq, attempts)) = row else {
                    return Ok(None);
                };
                let message = sql_message(&conn, seq)?;
                Ok(Some(Pending {
                    id,
                    seq,
                    attempts,
                    message,
                }))
            }
        }
    }

    /// Every consumer with pending deliveries.
    pub fn consumers_with_pending(&self) -> StoreResult<Vec<ConsumerKey>> {
        match self {
            Store::Memory(mem) => Ok(lock(mem)
                .queues
                .iter()
                .filter(|(_, q)| !q.is_empty())
                .map(|(k, _)| k.clone())
                .collect()),
            Store::Sqlite(conn) => {
                let conn = lock(conn);
                let mut stmt = conn
                    .prepare("SELECT DISTINCT app_id, pubsub, topic FROM deliveries")
                    .map_err(sql_err)?;
                stmt.query_map([], |r| {
                    Ok(ConsumerKey {
                        app_id: r.get(0)?,
                        pubsub: r.get(1)?,
                        topic: r.get(2)?,
                    })
                })
                .and_then(Iterator::collect)
                .map_err(sql_err)
            }
        }
    }

    /// Deliveries not yet settled (acknowledged, dropped or dead-lettered), plus messages not yet
    /// fanned out to their subscribers.
    pub fn pending(&self) -> StoreResult<usize> {
        match self {
            Store::Memory(mem) => {
                let mem = lock(mem);
                let queued: usize = mem.queues.values().map(BTreeMap::len).sum();
                Ok(queued + mem.undistributed.len())
            }
            Store::Sqlite(conn) => {
                let count: i64 = lock(conn)
                    .query_row(
                        "SELECT (SELECT COUNT(*) FROM deliveries)
                              + (SELECT COUNT(*) FROM messages WHERE distributed = 0)",
                        [],
                        |r| r.get(0),
                    )
                    .map_err(sql_err)?;
                Ok(usize::try_from(count).unwrap_or_default())
            }
        }
    }

    pub fn set_attempts(&self, id: i64, attempts: u32) -> StoreResult<()> {
        match self {
            Store::Memory(mem) => {
                for queue in lock(mem).queues.values_mut() {
                    if let Some(entry) = queue.get_mut(&id) {
                        entry.1 = attempts;
                    }
                }
                Ok(())
            }
            Store::Sqlite(conn) => lock(conn)
                .execute(
                    "UPDATE deliveries SET attempts = ?2 WHERE id = ?1",
                    params![id, attempts],
                )
                .map(drop)
                .map_err(sql_err),
        }
    }

    /// The delivery is done (acknowledged, or dropped).
    pub fn ack(&self, id: i64) -> StoreResult<()> {
        match self {
            Store::Memory(mem) => {
                for queue in lock(mem).queues.values_mut() {
                    queue.remove(&id);
                }
                Ok(())
            }
            Store::Sqlite(conn) => lock(conn)
                .execute("DELETE FROM deliveries WHERE id = ?1", [id])
                .map(drop)
                .map_err(sql_err),
        }
    }

    /// In one transaction: the delivery is done, a dead letter is recorded, and the message is
    /// republished on the dead-letter topic for `dlq_consumers`. Returns the dead letter's id.
    pub fn dead_letter(
        &self,
        id: i64,
        seq: i64,
        record: DeadRecord,
        republished: &PublishedMessage,
        dlq_consumers: &[ConsumerKey],
    ) -> StoreResult<i64> {
        match self {
            Store::Memory(mem) => {
                let mut mem = lock(mem);
                for queue in mem.queues.values_mut() {
                    queue.remove(&id);
                }
                mem.append(republished.clone(), Some(dlq_consumers));
                mem.next_dead += 1;
                let dead_id = mem.next_dead;
                mem.dead.insert(dead_id, (seq, record));
                Ok(dead_id)
            }
            Store::Sqlite(conn) => {
                let mut conn = lock(conn);
                let tx = conn.transaction().map_err(sql_err)?;
                tx.execute("DELETE FROM deliveries WHERE id = ?1", [id])
                    .map_err(sql_err)?;
                sql_append(&tx, republished, Some(dlq_consumers))?;
                tx.execute(
                    "INSERT INTO dead_letters (seq, app_id, pubsub, topic, original_topic, reason, at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                    params![
                        seq,
                        record.app_id,
                        record.pubsub,
                        record.dead_letter_topic,
                        record.original_topic,
                        record.reason,
                        record.at.to_rfc3339(),
                    ],
                )
                .map_err(sql_err)?;
                let dead_id = tx.last_insert_rowid();
                tx.commit().map_err(sql_err)?;
                Ok(dead_id)
            }
        }
    }

    pub fn dead_letters(&self) -> StoreResult<Vec<StoredDeadLetter>> {
        match self {
            Store::Memory(mem) => {
                let mem = lock(mem);
                Ok(mem
                    .dead
                    .iter()
                    .map(|(id, (seq, record))| StoredDeadLetter {
                        id: *id,
                        record: record.clone(),
                        message: mem.messages[(*seq - 1) as usize].clone(),
                    })
                    .collect())
            }
            Store::Sqlite(conn) => {
                let conn = lock(conn);
                let rows: Vec<(i64, i64, DeadRecord)> = {
                    let mut stmt = conn
                        .prepare(
                            "SELECT id, seq, app_id, pubsub, topic, original_topic, reason, at
                             FROM dead_letters ORDER BY id",
                        )
                        .map_err(sql_err)?;
                    stmt.query_map([], |r| {
                        let at: String = r.get(7)?;
                        Ok((
                            r.get(0)?,
                            r.get(1)?,
                            DeadRecord {
                                app_id: r.get(2)?,
                                pubsub: r.get(3)?,
                                dead_letter_topic: r.get(4)?,
                                original_topic: r.get(5)?,
                                reason: r.get(6)?,
                                at: DateTime::parse_from_rfc3339(&at)
                                    .map(|t| t.with_timezone(&Utc))
                                    .unwrap_or_default(),
                            },
                        ))
                    })
                    .and_then(Iterator::collect)
                    .map_err(sql_err)?
                };
                rows.into_iter()
                    .map(|(id, seq, record)| {
                        Ok(StoredDeadLetter {
                            id,
                            record,
                            message: sql_message(&conn, seq)?,
                        })
                    })
                    .collect()
            }
        }
    }

    /// Removes dead letter `id` and queues its message again for the original subscription.
    /// `None` when there is no such dead letter.
    pub fn replay(&self, dead_id: i64) -> StoreResult<Option<ConsumerKey>> {
        match self {
            Store::Memory(mem) => {
                let mut mem = lock(mem);
                let Some((seq, record)) = mem.dead.remove(&dead_id) else {
                    return Ok(None);
                };
                let key = ConsumerKey {
                    app_id: record.app_id,
                    pubsub: record.pubsub,
                    topic: record.original_topic,
                };
                mem.enqueue(seq, std::slice::from_ref(&key));
                Ok(Some(key))
            }
            Store::Sqlite(conn) => {
                let mut conn = lock(conn);
                let tx = conn.transaction().map_err(sql_err)?;
                let row = tx
                    .query_row(
                        "SELECT seq, app_id, pubsub, original_topic FROM dead_letters WHERE id = ?1",
                        [dead_id],
                        |r| Ok((r.get::<_, i64>(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
                    )
                    .optional()
                    .map_err(sql_err)?;
                let Some((seq, app_id, pubsub, topic)) = row else {
                    return Ok(None);
                };
                let key = ConsumerKey {
                    app_id,
                    pubsub,
                    topic,
                };
                tx.execute("DELETE FROM dead_letters WHERE id = ?1", [dead_id])
                    .map_err(sql_err)?;
                sql_enqueue(&tx, seq, std::slice::from_ref(&key))?;
                tx.commit().map_err(sql_err)?;
                Ok(Some(key))
            }
        }
    }

    /// Every message ever accepted, in order.
    pub fn messages(&self) -> StoreResult<Vec<PublishedMessage>> {
        match self {
            Store::Memory(mem) => Ok(lock(mem).messages.clone()),
            Store::Sqlite(conn) => {
                let conn = lock(conn);
                let mut stmt = conn
                    .prepare(
                        "SELECT pubsub, topic, content_type, body, event, metadata FROM messages ORDER BY seq",
                    )
                    .map_err(sql_err)?;
                stmt.query_map([], message_from_row)
                    .and_then(Iterator::collect)
                    .map_err(sql_err)
            }
        }
    }
}

impl MemoryStore {
    fn append(&mut self, message: PublishedMessage, consumers: Option<&[ConsumerKey]>) -> i64 {
        self.messages.push(message);
        let seq = self.messages.len() as i64;
        match consumers {
            Some(consumers) => self.enqueue(seq, consumers),
            None => self.undistributed.push(seq),
        }
        seq
    }

    fn enqueue(&mut self, seq: i64, consumers: &[ConsumerKey]) {
        for consumer in consumers {
            self.next_delivery += 1;
            let id = self.next_delivery;
            self.queues
                .entry(consumer.clone())
                .or_default()
                .insert(id, (seq, 0));
        }
    }
}

fn sql_append(
    tx: &rusqlite::Transaction<'_>,
    message: &PublishedMessage,
    consumers: Option<&[ConsumerKey]>,
) -> StoreResult<i64> {
    let event = message
        .event
        .as_ref()
        .map(|e| serde_json::to_string(e).unwrap_or_default());
    let metadata = serde_json::to_string(&message.metadata).unwrap_or_else(|_| "{}".into());
    tx.execute(
        "INSERT INTO messages (pubsub, topic, content_type, body, event, metadata, distributed)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![
            message.pubsub,
            message.topic,
            message.content_type,
            message.body.as_ref(),
            event,
            metadata,
            consumers.is_some(),
        ],
    )
    .map_err(sql_err)?;
    let seq = tx.last_insert_rowid();
    if let Some(consumers) = consumers {
        sql_enqueue(tx, seq, consumers)?;
    }
    Ok(seq)
}

fn sql_enqueue(
    tx: &rusqlite::Transaction<'_>,
    seq: i64,
    consumers: &[ConsumerKey],
) -> StoreResult<()> {
    for consumer in consumers {
        tx.execute(
            "INSERT INTO deliveries (seq, app_id, pubsub, topic) VALUES (?1, ?2, ?3, ?4)",
            params![seq, consumer.app_id, consumer.pubsub, consumer.topic],
        )
        .map_err(sql_err)?;
    }
    Ok(())
}

fn sql_message(conn: &Connection, seq: i64) -> StoreResult<PublishedMessage> {
    conn.query_row(
        "SELECT pubsub, topic, content_type, body, event, metadata FROM messages WHERE seq = ?1",
        [seq],
        message_from_row,
    )
    .map_err(sql_err)
}

fn message_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<PublishedMessage> {
    let body: Vec<u8> = row.get(3)?;
    let event: Option<String> = row.get(4)?;
    let metadata: String = row.get(5)?;
    Ok(PublishedMessage {
        pubsub: row.get(0)?,
        topic: row.get(1)?,
        content_type: row.get(2)?,
        body: Bytes::from(body),
        event: event.and_then(|e| serde_json::from_str::<Value>(&e).ok()),
        metadata: serde_json::from_str(&metadata).unwrap_or_default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(topic: &str) -> PublishedMessage {
        PublishedMessage {
            pubsub: "pubsub".into(),
            topic: topic.into(),
            content_type: "application/cloudevents+json".into(),
            body: Bytes::from_static(b"{\"id\":\"1\"}"),
            event: Some(serde_json::json!({"id": "1"})),
            metadata: BTreeMap::from([("k".to_owned(), "v".to_owned())]),
        }
    }

    fn key(app: &str, topic: &str) -> ConsumerKey {
        ConsumerKey {
            app_id: app.into(),
            pubsub: "pubsub".into(),
            topic: topic.into(),
        }
    }

    fn exercise(store: &Store) {
        let a = key("a", "t");
        assert_eq!(store.pending().expect("pending"), 0);
        store.append(&message("t"), None).expect("append");
        assert!(
            store.head(&a).expect("head").is_none(),
            "not distributed yet"
        );
        assert_eq!(
            store.pending().expect("pending"),
            1,
            "waiting to be fanned out"
        );
        assert_eq!(
            store
                .distribute(|_, _| vec![a.clone()])
                .expect("distribute"),
            1
        );
        store
            .append(&message("t"), Some(std::slice::from_ref(&a)))
            .expect("append");
        let first = store.head(&a).expect("head").expect("pending");
        assert_eq!(first.seq, 1);
        assert_eq!(store.pending().expect("pending"), 2);
        store.set_attempts(first.id, 3).expect("attempts");
        assert_eq!(store.head(&a).expect("head").expect("pending").attempts, 3);
        store.ack(first.id).expect("ack");
        let second = store.head(&a).expect("head").expect("pending");
        assert_eq!(second.seq, 2);
        let record = DeadRecord {
            app_id: "a".into(),
            pubsub: "pubsub".into(),
            dead_letter_topic: "dlq".into(),
            original_topic: "t".into(),
            reason: "r".into(),
            at: DateTime::UNIX_EPOCH,
        };
        let dead = store
            .dead_letter(
                second.id,
                second.seq,
                record,
                &message("dlq"),
                &[key("b", "dlq")],
            )
            .expect("dead letter");
        assert!(store.head(&a).expect("head").is_none());
        assert_eq!(
            store.pending().expect("pending"),
            1,
            "the dead letter's delivery to b"
        );
        assert_eq!(
            store
                .head(&key("b", "dlq"))
                .expect("head")
                .expect("dlq")
                .seq,
            3
        );
        let letters = store.dead_letters().expect("list");
        assert_eq!(letters.len(), 1);
        assert_eq!(letters[0].message, message("t"));
        assert_eq!(store.replay(dead).expect("replay"), Some(a.clone()));
        assert_eq!(store.replay(dead).expect("replay"), None);
        assert_eq!(store.head(&a).expect("head").expect("replayed").seq, 2);
        assert_eq!(store.messages().expect("messages").len(), 3);
        assert_eq!(store.consumers_with_pending().expect("consumers").len(), 2);
        assert_eq!(store.pending().expect("pending"), 2);
    }

    #[test]
    fn the_memory_store_queues_acks_and_dead_letters() {
        exercise(&Store::open(None).expect("memory"));
    }

    #[test]
    fn the_sqlite_store_queues_acks_dead_letters_and_persists() {
        let dir = std::env::temp_dir().join(format!("pubsub-store-{}", uuid::Uuid::new_v4()));
        exercise(&Store::open(Some(&dir)).expect("sqlite"));
        let reopened = Store::open(Some(&dir)).expect("reopen");
        assert_eq!(reopened.messages().expect("messages").len(), 3);
        assert_eq!(reopened.messages().expect("messages")[0], message("t"));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
