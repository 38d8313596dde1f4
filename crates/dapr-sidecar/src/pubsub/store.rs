//! Where accepted messages, pending deliveries and dead letters live: in memory, or in SQLite
//! (`<data_dir>/pubsub.db`) so that unacknowledged messages survive a restart.
//!
//! Model: a log of messages (`seq`), and per consumer (app id, pub/sub, topic) a queue of
//! pending deliveries that point into the log. A publish appends the message and one delivery per
//! subscribed consumer in one transaction; an acknowledgement deletes the delivery. Until the
//! subscriptions are known (`Sidecar::start()` has asked every app), messages are kept
//! "undistributed" and fanned out when they are.
//!
//! The log is trimmed: a message is deleted, in the same transaction as the acknowledgement (or
//! drop, or dead-lettering) that settles its last delivery, once every consumer group (every
//! subscribed app id) is done with it and no dead letter refers to it. A dead letter keeps its
//! message until it is replayed and acknowledged, or expires (its CloudEvent `expiration`,
//! [`Store::expire_dead_letters`]). So the log holds only what is still owed to
//! somebody. Besides, the last [`PUBLISHED_HISTORY`] messages accepted are kept in memory for
//! inspection (`Sidecar::published`).
//!
//! Durability (`crate::durable`): WAL with `synchronous=NORMAL`, the WAL fsynced in the background
//! at most once a second. A 204 to a publisher means the message survives `kill -9` of the
//! process at once, and a power loss once the next background fsync has run (within about a
//! second; Redis's `appendfsync everysec`).
//!
//! Acknowledgements are written in batches: an acknowledged delivery is skipped at once, and
//! deleted with the others of its batch when [`ACK_BATCH`] have gathered, the oldest has waited
//! [`ACK_DELAY`], or its consumer has nothing left to do (whichever comes first; the store also
//! writes them before any count and when it is dropped). Under load that is one commit for many
//! acknowledgements instead of one each. A `kill -9` in between loses no message: the deliveries
//! whose acknowledgements were not yet written are delivered again after the restart, as a broker
//! redelivers what a consumer had not yet committed (at least once; consumers deduplicate).

use crate::durable::CachedSql;
use std::collections::{BTreeMap, VecDeque};
use std::path::Path;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use bytes::Bytes;
use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, params};
use serde_json::Value;

use super::PublishedMessage;
use crate::durable::Db;

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

/// How many of the most recently accepted messages [`Store::messages`] returns.
pub(crate) const PUBLISHED_HISTORY: usize = 10_000;

/// At most this many acknowledgements wait to be written (SQLite).
pub(crate) const ACK_BATCH: usize = 32;
/// The oldest waiting acknowledgement is written by the next one after this long (SQLite).
pub(crate) const ACK_DELAY: Duration = Duration::from_millis(20);

pub(crate) struct Store {
    backend: Backend,
    /// The last [`PUBLISHED_HISTORY`] messages accepted (publishes and dead-letter
    /// republishes), oldest first; seeded from the log when it is opened.
    history: Mutex<VecDeque<Remembered>>,
    /// Acknowledged deliveries not yet deleted from SQLite (see the module docs). Held while
    /// they are written, so that a reader always finds each one either still listed here (and
    /// skips it) or deleted.
    acks: Mutex<WaitingAcks>,
}

#[derive(Default)]
struct WaitingAcks {
    ids: Vec<i64>,
    oldest: Option<Instant>,
}

/// A message of the history with its envelope kept as JSON text: a parsed `serde_json::Value`
/// takes several times the bytes of its text, and 10,000 of them were most of a busy
/// `todo-dev`'s resident memory. [`Store::messages`] parses them again.
struct Remembered {
    message: PublishedMessage,
    event: Option<Box<str>>,
}

impl Remembered {
    fn new(message: &PublishedMessage) -> Self {
        Remembered {
            message: PublishedMessage {
                pubsub: message.pubsub.clone(),
                topic: message.topic.clone(),
                content_type: message.content_type.clone(),
                body: message.body.clone(),
                event: None,
                metadata: message.metadata.clone(),
            },
            event: message
                .event
                .as_ref()
                .map(|event| event.to_string().into_boxed_str()),
        }
    }

    fn message(&self) -> PublishedMessage {
        PublishedMessage {
            event: self
                .event
                .as_deref()
                .and_then(|text| serde_json::from_str(text).ok()),
            ..self.message.clone()
        }
    }
}

enum Backend {
    Memory(Mutex<MemoryStore>),
    Sqlite(Db),
}

#[derive(Default)]
pub(crate) struct MemoryStore {
    /// The log by `seq`.
    messages: BTreeMap<i64, PublishedMessage>,
    next_seq: i64,
    /// Deliveries and dead letters referring to each message of the log.
    references: BTreeMap<i64, usize>,
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
CREATE INDEX IF NOT EXISTS deliveries_by_seq ON deliveries(seq);
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
CREATE INDEX IF NOT EXISTS dead_letters_by_seq ON dead_letters(seq);
";

/// Deletes message `?1` once it is distributed and nothing refers to it any more.
const TRIM_ONE: &str = "DELETE FROM messages WHERE seq = ?1 AND distributed = 1
    AND NOT EXISTS (SELECT 1 FROM deliveries WHERE seq = ?1)
    AND NOT EXISTS (SELECT 1 FROM dead_letters WHERE seq = ?1)";

/// Deletes every distributed message nothing refers to (a log written before trimming existed,
/// or messages nobody subscribed to).
const TRIM_ALL: &str = "DELETE FROM messages WHERE distributed = 1
    AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.seq = messages.seq)
    AND NOT EXISTS (SELECT 1 FROM dead_letters l WHERE l.seq = messages.seq)";

impl Store {
    /// In memory when `data_dir` is `None`, else `<data_dir>/pubsub.db` (created if needed).
    pub fn open(data_dir: Option<&Path>) -> StoreResult<Self> {
        let Some(dir) = data_dir else {
            return Ok(Store::with(Backend::Memory(Mutex::new(
                MemoryStore::default(),
            ))));
        };
        std::fs::create_dir_all(dir).map_err(|err| format!("{}: {err}", dir.display()))?;
        let path = dir.join("pubsub.db");
        let db = Db::open(&path).map_err(|err| format!("{}: {err}", path.display()))?;
        db.write()
            .execute_batch(SCHEMA)
            .map_err(|err| format!("{}: {err}", path.display()))?;
        let store = Store::with(Backend::Sqlite(db));
        let stored = store.stored_messages()?;
        let skip = stored.len().saturating_sub(PUBLISHED_HISTORY);
        lock(&store.history).extend(stored.iter().skip(skip).map(Remembered::new));
        Ok(store)
    }

    fn with(backend: Backend) -> Self {
        Store {
            backend,
            history: Mutex::new(VecDeque::new()),
            acks: Mutex::new(WaitingAcks::default()),
        }
    }

    /// Writes the acknowledgements that wait (SQLite; a no-op in memory).
    pub fn flush_acks(&self) -> StoreResult<()> {
        let Backend::Sqlite(db) = &self.backend else {
            return Ok(());
        };
        write_acks(db, &mut lock(&self.acks))
    }

    fn remember(&self, message: &PublishedMessage) {
        let mut history = lock(&self.history);
        if history.len() == PUBLISHED_HISTORY {
            history.pop_front();
        }
        history.push_back(Remembered::new(message));
    }

    /// Appends `message`; with `consumers`, also queues a delivery for each (else the message
    /// waits for [`Store::distribute`]). Returns the message's `seq`.
    pub fn append(
        &self,
        message: &PublishedMessage,
        consumers: Option<&[ConsumerKey]>,
    ) -> StoreResult<i64> {
        let seq = match &self.backend {
            Backend::Memory(mem) => lock(mem).append(message.clone(), consumers),
            Backend::Sqlite(conn) => {
                let mut conn = conn.write();
                let tx = conn.transaction().map_err(sql_err)?;
                let seq = sql_append(&tx, message, consumers)?;
                tx.commit().map_err(sql_err)?;
                seq
            }
        };
        self.remember(message);
        Ok(seq)
    }

    /// Fans out every undistributed message to `consumers_of(pubsub, topic)`, in order.
    pub fn distribute(
        &self,
        consumers_of: impl Fn(&str, &str) -> Vec<ConsumerKey>,
    ) -> StoreResult<usize> {
        match &self.backend {
            Backend::Memory(mem) => {
                let mut mem = lock(mem);
                let pending = std::mem::take(&mut mem.undistributed);
                for seq in &pending {
                    let Some(message) = mem.messages.get(seq) else {
                        continue;
                    };
                    let consumers = consumers_of(&message.pubsub, &message.topic);
                    mem.enqueue(*seq, &consumers);
                    mem.trim(*seq);
                }
                Ok(pending.len())
            }
            Backend::Sqlite(conn) => {
                self.flush_acks()?;
                let mut conn = conn.write();
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
                tx.execute_cached(
                    "UPDATE messages SET distributed = 1 WHERE distributed = 0",
                    [],
                )
                .map_err(sql_err)?;
                tx.execute_cached(TRIM_ALL, []).map_err(sql_err)?;
                tx.commit().map_err(sql_err)?;
                Ok(rows.len())
            }
        }
    }

    /// The oldest pending delivery of `consumer`.
    pub fn head(&self, consumer: &ConsumerKey) -> StoreResult<Option<Pending>> {
        match &self.backend {
            Backend::Memory(mem) => {
                let mem = lock(mem);
                Ok(mem
                    .queues
                    .get(consumer)
                    .and_then(|queue| queue.iter().next())
                    .and_then(|(id, (seq, attempts))| {
                        Some(Pending {
                            id: *id,
                            seq: *seq,
                            attempts: *attempts,
                            message: mem.messages.get(seq)?.clone(),
                        })
                    }))
            }
            Backend::Sqlite(conn) => {
                // Acknowledged deliveries may still be stored: read past them.
                let acked = lock(&self.acks).ids.clone();
                let conn = conn.read();
                let row = conn
                    .prepare_cached(
                        "SELECT id, seq, attempts FROM deliveries
                         WHERE app_id = ?1 AND pubsub = ?2 AND topic = ?3 ORDER BY id LIMIT ?4",
                    )
                    .and_then(|mut stmt| {
                        let rows = stmt.query_map(
                            params![
                                consumer.app_id,
                                consumer.pubsub,
                                consumer.topic,
                                acked.len() + 1
                            ],
                            |r| {
                                Ok((
                                    r.get::<_, i64>(0)?,
                                    r.get::<_, i64>(1)?,
                                    r.get::<_, u32>(2)?,
                                ))
                            },
                        )?;
                        for row in rows {
                            let row = row?;
                            if !acked.contains(&row.0) {
                                return Ok(Some(row));
                            }
                        }
                        Ok(None)
                    })
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
        match &self.backend {
            Backend::Memory(mem) => Ok(lock(mem)
                .queues
                .iter()
                .filter(|(_, q)| !q.is_empty())
                .map(|(k, _)| k.clone())
                .collect()),
            Backend::Sqlite(conn) => {
                self.flush_acks()?;
                let conn = conn.read();
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
        match &self.backend {
            Backend::Memory(mem) => {
                let mem = lock(mem);
                let queued: usize = mem.queues.values().map(BTreeMap::len).sum();
                Ok(queued + mem.undistributed.len())
            }
            Backend::Sqlite(conn) => {
                self.flush_acks()?;
                let count: i64 = conn
                    .read()
                    .query_row_cached(
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
        match &self.backend {
            Backend::Memory(mem) => {
                for queue in lock(mem).queues.values_mut() {
                    if let Some(entry) = queue.get_mut(&id) {
                        entry.1 = attempts;
                    }
                }
                Ok(())
            }
            Backend::Sqlite(conn) => conn
                .write()
                .execute_cached(
                    "UPDATE deliveries SET attempts = ?2 WHERE id = ?1",
                    params![id, attempts],
                )
                .map(drop)
                .map_err(sql_err),
        }
    }

    /// The delivery is done (acknowledged, or dropped); its message leaves the log when nothing
    /// else refers to it.
    pub fn ack(&self, id: i64) -> StoreResult<()> {
        match &self.backend {
            Backend::Memory(mem) => {
                lock(mem).settle(id);
                Ok(())
            }
            Backend::Sqlite(db) => {
                let mut acks = lock(&self.acks);
                acks.ids.push(id);
                let oldest = *acks.oldest.get_or_insert_with(Instant::now);
                if acks.ids.len() >= ACK_BATCH || oldest.elapsed() >= ACK_DELAY {
                    write_acks(db, &mut acks)
                } else {
                    Ok(())
                }
            }
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
        match &self.backend {
            Backend::Memory(mem) => {
                let dead_id = {
                    let mut mem = lock(mem);
                    // The dead letter refers to the message before its delivery lets go of it.
                    *mem.references.entry(seq).or_default() += 1;
                    mem.settle(id);
                    mem.append(republished.clone(), Some(dlq_consumers));
                    mem.next_dead += 1;
                    let dead_id = mem.next_dead;
                    mem.dead.insert(dead_id, (seq, record));
                    dead_id
                };
                self.remember(republished);
                Ok(dead_id)
            }
            Backend::Sqlite(conn) => {
                let mut conn = conn.write();
                let tx = conn.transaction().map_err(sql_err)?;
                tx.execute_cached("DELETE FROM deliveries WHERE id = ?1", [id])
                    .map_err(sql_err)?;
                let republished_seq = sql_append(&tx, republished, Some(dlq_consumers))?;
                tx.execute_cached(TRIM_ONE, [republished_seq])
                    .map_err(sql_err)?;
                tx.execute_cached(
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
                drop(conn);
                self.remember(republished);
                Ok(dead_id)
            }
        }
    }

    pub fn dead_letters(&self) -> StoreResult<Vec<StoredDeadLetter>> {
        match &self.backend {
            Backend::Memory(mem) => {
                let mem = lock(mem);
                Ok(mem
                    .dead
                    .iter()
                    .filter_map(|(id, (seq, record))| {
                        Some(StoredDeadLetter {
                            id: *id,
                            record: record.clone(),
                            message: mem.messages.get(seq)?.clone(),
                        })
                    })
                    .collect())
            }
            Backend::Sqlite(conn) => {
                let conn = conn.read();
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

    /// Removes the dead letters whose message `expired`, and those messages unless something
    /// else still refers to them. Returns how many were removed.
    pub fn expire_dead_letters(
        &self,
        expired: impl Fn(&PublishedMessage) -> bool,
    ) -> StoreResult<usize> {
        match &self.backend {
            Backend::Memory(mem) => {
                let mut mem = lock(mem);
                let gone: Vec<(i64, i64)> = mem
                    .dead
                    .iter()
                    .filter(|(_, (seq, _))| mem.messages.get(seq).is_some_and(&expired))
                    .map(|(id, (seq, _))| (*id, *seq))
                    .collect();
                for (id, seq) in &gone {
                    mem.dead.remove(id);
                    mem.release(*seq);
                }
                Ok(gone.len())
            }
            Backend::Sqlite(conn) => {
                let mut conn = conn.write();
                let tx = conn.transaction().map_err(sql_err)?;
                let rows: Vec<(i64, i64)> = {
                    let mut stmt = tx
                        .prepare("SELECT id, seq FROM dead_letters ORDER BY id")
                        .map_err(sql_err)?;
                    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
                        .and_then(Iterator::collect)
                        .map_err(sql_err)?
                };
                let mut removed = 0;
                for (id, seq) in rows {
                    if !expired(&sql_message(&tx, seq)?) {
                        continue;
                    }
                    tx.execute_cached("DELETE FROM dead_letters WHERE id = ?1", [id])
                        .map_err(sql_err)?;
                    tx.execute_cached(TRIM_ONE, [seq]).map_err(sql_err)?;
                    removed += 1;
                }
                if removed > 0 {
                    tx.commit().map_err(sql_err)?;
                }
                Ok(removed)
            }
        }
    }

    /// Removes dead letter `id` and queues its message again for the original subscription.
    /// `None` when there is no such dead letter.
    pub fn replay(&self, dead_id: i64) -> StoreResult<Option<ConsumerKey>> {
        match &self.backend {
            Backend::Memory(mem) => {
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
                mem.release(seq);
                Ok(Some(key))
            }
            Backend::Sqlite(conn) => {
                let mut conn = conn.write();
                let tx = conn.transaction().map_err(sql_err)?;
                let row = tx
                    .query_row_cached(
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
                tx.execute_cached("DELETE FROM dead_letters WHERE id = ?1", [dead_id])
                    .map_err(sql_err)?;
                sql_enqueue(&tx, seq, std::slice::from_ref(&key))?;
                tx.commit().map_err(sql_err)?;
                Ok(Some(key))
            }
        }
    }

    /// The last [`PUBLISHED_HISTORY`] messages accepted, in order.
    pub fn messages(&self) -> Vec<PublishedMessage> {
        lock(&self.history)
            .iter()
            .map(Remembered::message)
            .collect()
    }

    /// How many messages the log holds.
    pub fn log_len(&self) -> StoreResult<usize> {
        match &self.backend {
            Backend::Memory(mem) => Ok(lock(mem).messages.len()),
            Backend::Sqlite(conn) => {
                self.flush_acks()?;
                conn.read()
                    .query_row_cached("SELECT COUNT(*) FROM messages", [], |r| r.get::<_, i64>(0))
                    .map(|n| usize::try_from(n).unwrap_or_default())
                    .map_err(sql_err)
            }
        }
    }

    /// The messages of the log, in order.
    fn stored_messages(&self) -> StoreResult<Vec<PublishedMessage>> {
        match &self.backend {
            Backend::Memory(mem) => Ok(lock(mem).messages.values().cloned().collect()),
            Backend::Sqlite(conn) => {
                let conn = conn.read();
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
        self.next_seq += 1;
        let seq = self.next_seq;
        self.messages.insert(seq, message);
        match consumers {
            Some(consumers) => {
                self.enqueue(seq, consumers);
                self.trim(seq);
            }
            None => self.undistributed.push(seq),
        }
        seq
    }

    /// Removes delivery `id` and lets go of its message.
    fn settle(&mut self, id: i64) {
        let seq = self
            .queues
            .values_mut()
            .find_map(|queue| queue.remove(&id))
            .map(|(seq, _)| seq);
        if let Some(seq) = seq {
            self.release(seq);
        }
    }

    /// One reference (a delivery or a dead letter) to `seq` fewer.
    fn release(&mut self, seq: i64) {
        if let Some(count) = self.references.get_mut(&seq) {
            *count = count.saturating_sub(1);
        }
        self.trim(seq);
    }

    /// Deletes message `seq` when nothing refers to it any more.
    fn trim(&mut self, seq: i64) {
        if self.references.get(&seq).copied().unwrap_or_default() == 0 {
            self.references.remove(&seq);
            self.messages.remove(&seq);
        }
    }

    fn enqueue(&mut self, seq: i64, consumers: &[ConsumerKey]) {
        *self.references.entry(seq).or_default() += consumers.len();
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
    tx.execute_cached(
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
        if consumers.is_empty() {
            tx.execute_cached(TRIM_ONE, [seq]).map_err(sql_err)?;
        }
    }
    Ok(seq)
}

impl Drop for Store {
    fn drop(&mut self) {
        if let Err(err) = self.flush_acks() {
            tracing::error!(
                "acknowledgements not written, their messages will be redelivered: {err}"
            );
        }
    }
}

/// Deletes the waiting acknowledged deliveries in one transaction. On failure they are
/// forgotten, so their deliveries are made again (at least once) rather than skipped forever.
fn write_acks(db: &Db, acks: &mut WaitingAcks) -> StoreResult<()> {
    if acks.ids.is_empty() {
        return Ok(());
    }
    let ids = std::mem::take(&mut acks.ids);
    acks.oldest = None;
    let mut conn = db.write();
    let tx = conn.transaction().map_err(sql_err)?;
    for id in ids {
        sql_settle(&tx, id)?;
    }
    tx.commit().map_err(sql_err)
}

/// Deletes delivery `id`, and its message when nothing else refers to it.
fn sql_settle(tx: &rusqlite::Transaction<'_>, id: i64) -> StoreResult<()> {
    let seq: Option<i64> = tx
        .query_row_cached("SELECT seq FROM deliveries WHERE id = ?1", [id], |r| {
            r.get(0)
        })
        .optional()
        .map_err(sql_err)?;
    tx.execute_cached("DELETE FROM deliveries WHERE id = ?1", [id])
        .map_err(sql_err)?;
    if let Some(seq) = seq {
        tx.execute_cached(TRIM_ONE, [seq]).map_err(sql_err)?;
    }
    Ok(())
}

fn sql_enqueue(
    tx: &rusqlite::Transaction<'_>,
    seq: i64,
    consumers: &[ConsumerKey],
) -> StoreResult<()> {
    for consumer in consumers {
        tx.execute_cached(
            "INSERT INTO deliveries (seq, app_id, pubsub, topic) VALUES (?1, ?2, ?3, ?4)",
            params![seq, consumer.app_id, consumer.pubsub, consumer.topic],
        )
        .map_err(sql_err)?;
    }
    Ok(())
}

fn sql_message(conn: &Connection, seq: i64) -> StoreResult<PublishedMessage> {
    conn.query_row_cached(
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
        assert_eq!(store.messages().len(), 3, "the history keeps them all");
        assert_eq!(store.log_len(), Ok(2), "the acknowledged one is trimmed");
        assert_eq!(store.consumers_with_pending().expect("consumers").len(), 2);
        assert_eq!(store.pending().expect("pending"), 2);
    }

    /// Many publishes to two consumer groups, acknowledged as they go, with one dead letter on
    /// the way: the log holds only what is still owed, however long the run.
    fn stays_bounded(store: &Store, rounds: usize) {
        let (a, b) = (key("a", "t"), key("b", "t"));
        let mut max_len = 0;
        for n in 0..rounds {
            store
                .append(&message("t"), Some(&[a.clone(), b.clone()]))
                .expect("append");
            // Nobody subscribes to this topic: nothing is owed.
            store.append(&message("nobody"), Some(&[])).expect("append");
            let head_a = store.head(&a).expect("head").expect("a");
            store.ack(head_a.id).expect("ack a");
            max_len = max_len.max(store.log_len().expect("len"));
            let head_b = store.head(&b).expect("head").expect("b");
            if n == 7 {
                let record = DeadRecord {
                    app_id: "b".into(),
                    pubsub: "pubsub".into(),
                    dead_letter_topic: "dlq".into(),
                    original_topic: "t".into(),
                    reason: "r".into(),
                    at: DateTime::UNIX_EPOCH,
                };
                store
                    .dead_letter(head_b.id, head_b.seq, record, &message("dlq"), &[])
                    .expect("dead letter");
            } else {
                store.ack(head_b.id).expect("ack b");
            }
        }
        assert!(
            max_len <= 2,
            "a: at most b's pending copy and the dead letter's: {max_len}"
        );
        assert_eq!(
            store.log_len(),
            Ok(1),
            "only the dead letter's message is kept"
        );
        let letters = store.dead_letters().expect("list");
        assert_eq!(letters.len(), 1);
        store.replay(letters[0].id).expect("replay");
        assert_eq!(store.log_len(), Ok(1), "replayed, not yet acknowledged");
        let replayed = store.head(&b).expect("head").expect("replayed");
        store.ack(replayed.id).expect("ack");
        assert_eq!(store.log_len(), Ok(0));
        assert_eq!(store.pending(), Ok(0));
        assert_eq!(
            store.messages().len(),
            2 * rounds + 1,
            "the history has them all"
        );
    }

    /// A dead letter is kept until its message expires.
    fn expires_dead_letters(store: &Store) {
        let a = key("a", "t");
        for id in ["old", "new"] {
            let mut message = message("t");
            message.event = Some(serde_json::json!({"id": id}));
            store
                .append(&message, Some(std::slice::from_ref(&a)))
                .expect("append");
            let head = store.head(&a).expect("head").expect("pending");
            let record = DeadRecord {
                app_id: "a".into(),
                pubsub: "pubsub".into(),
                dead_letter_topic: "dlq".into(),
                original_topic: "t".into(),
                reason: "r".into(),
                at: DateTime::UNIX_EPOCH,
            };
            store
                .dead_letter(head.id, head.seq, record, &message, &[])
                .expect("dead letter");
        }
        assert_eq!(store.log_len(), Ok(2));
        let is_old = |m: &PublishedMessage| m.event.as_ref().is_some_and(|e| e["id"] == "old");
        assert_eq!(store.expire_dead_letters(is_old), Ok(1));
        let left = store.dead_letters().expect("list");
        assert_eq!(left.len(), 1);
        assert_eq!(left[0].message.event.as_ref().expect("event")["id"], "new");
        assert_eq!(
            store.log_len(),
            Ok(1),
            "the expired one's message is gone too"
        );
        assert_eq!(store.expire_dead_letters(is_old), Ok(0));
    }

    #[test]
    fn expired_dead_letters_are_forgotten_in_memory_and_in_sqlite() {
        expires_dead_letters(&Store::open(None).expect("memory"));
        let dir = std::env::temp_dir().join(format!("pubsub-expire-{}", uuid::Uuid::new_v4()));
        expires_dead_letters(&Store::open(Some(&dir)).expect("sqlite"));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn the_memory_log_is_trimmed_once_every_consumer_group_is_done() {
        let store = Store::open(None).expect("memory");
        stays_bounded(&store, 2_000);
        for _ in 0..PUBLISHED_HISTORY {
            store.append(&message("nobody"), Some(&[])).expect("append");
        }
        assert_eq!(
            store.messages().len(),
            PUBLISHED_HISTORY,
            "the history is bounded too"
        );
        assert_eq!(store.log_len(), Ok(0));
    }

    #[test]
    fn the_sqlite_log_is_trimmed_once_every_consumer_group_is_done() {
        let dir = std::env::temp_dir().join(format!("pubsub-trim-{}", uuid::Uuid::new_v4()));
        let store = Store::open(Some(&dir)).expect("sqlite");
        stays_bounded(&store, 300);
        drop(store);
        let reopened = Store::open(Some(&dir)).expect("reopen");
        assert_eq!(reopened.log_len(), Ok(0));
        assert!(
            reopened.messages().is_empty(),
            "nothing left to seed the history"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn the_memory_store_queues_acks_and_dead_letters() {
        exercise(&Store::open(None).expect("memory"));
    }

    #[test]
    fn acknowledgements_are_written_in_batches_and_never_lost_or_redelivered_early() {
        let dir = std::env::temp_dir().join(format!("pubsub-store-{}", uuid::Uuid::new_v4()));
        let store = Store::open(Some(&dir)).expect("sqlite");
        let (a, b) = (key("a", "t"), key("b", "t"));
        let total = ACK_BATCH + 3;
        for _ in 0..total {
            store
                .append(&message("t"), Some(&[a.clone(), b.clone()]))
                .expect("append");
        }
        // Another connection to the same file, as after a crash: what is written.
        let on_disk = |consumer: &ConsumerKey| -> i64 {
            let conn = Connection::open(dir.join("pubsub.db")).expect("open");
            conn.query_row(
                "SELECT COUNT(*) FROM deliveries WHERE app_id = ?1",
                [&consumer.app_id],
                |r| r.get(0),
            )
            .expect("count")
        };
        // "a" acknowledges everything but the last two: the store never hands an acknowledged
        // delivery out again, written or not, and keeps order.
        let mut seqs = Vec::new();
        for _ in 0..total - 2 {
            let head = store.head(&a).expect("head").expect("pending");
            seqs.push(head.seq);
            store.ack(head.id).expect("ack");
        }
        assert!(seqs.windows(2).all(|w| w[0] < w[1]), "in order: {seqs:?}");
        let next = store.head(&a).expect("head").expect("the two left");
        assert!(next.seq > *seqs.last().expect("acked"));
        // One batch was written when it filled; the acknowledgements after it wait, at most a
        // batch of them.
        let waiting = on_disk(&a) - 2;
        assert!(
            (1..ACK_BATCH as i64).contains(&waiting),
            "{waiting} acknowledgements waiting"
        );
        assert_eq!(on_disk(&b), total as i64, "b acknowledged nothing");
        // A crash now (the store is never dropped, so nothing more is written): the waiting
        // acknowledgements are lost, so their deliveries come again: at least once, nothing lost.
        std::mem::forget(store);
        let reopened = Store::open(Some(&dir)).expect("reopen");
        let again = reopened.head(&a).expect("head").expect("redelivered");
        assert_eq!(again.seq, seqs[seqs.len() - waiting as usize]);
        // Counting writes what waits; so does dropping the store.
        let acked = reopened.head(&a).expect("head").expect("pending");
        reopened.ack(acked.id).expect("ack");
        assert_eq!(reopened.pending(), Ok(waiting as usize - 1 + 2 + total));
        let next = reopened.head(&a).expect("head").expect("pending");
        reopened.ack(next.id).expect("ack");
        drop(reopened);
        assert_eq!(on_disk(&a), waiting - 2 + 2);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn the_sqlite_store_queues_acks_dead_letters_and_persists() {
        let dir = std::env::temp_dir().join(format!("pubsub-store-{}", uuid::Uuid::new_v4()));
        exercise(&Store::open(Some(&dir)).expect("sqlite"));
        let reopened = Store::open(Some(&dir)).expect("reopen");
        // The acknowledged first message was trimmed; the replayed one and the dead letter's
        // republished copy are still owed.
        assert_eq!(reopened.log_len(), Ok(2));
        assert_eq!(reopened.messages().len(), 2);
        assert_eq!(reopened.messages()[0], message("t"));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
