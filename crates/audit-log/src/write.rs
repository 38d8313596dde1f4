//! Storing one entry: what the writer read, and the one state transaction that stores it (pure;
//! [`crate::store`] does the reading, committing and retrying).
//!
//! Every operation is a merge that is a no-op when repeated: the entry is added to its hour chunk
//! and to its task's history only if absent there, the hour's count in the month is set from the
//! chunk's number and length (not incremented), the month is added to the index set. So a
//! redelivered event changes nothing, and a retry after a partly applied transaction (Redis does
//! not roll back a MULTI whose ETag check failed half way) completes the write instead of
//! duplicating it.
use crate::entry::{Entry, RawJson};
use crate::layout::{
    CHUNK_CAPACITY, EntriesDoc, Hour, IndexDoc, Keys, MonthDoc, Retention, Ttl, cutoff, is_expired,
};
use chrono::{DateTime, Utc};
use dapr_client::{StateItem, TransactionOp};
use serde::Serialize;

/// A document as read, with the ETag its write must match (`None`: it did not exist).
#[derive(Debug, Clone, PartialEq)]
pub struct Loaded<T> {
    pub key: String,
    pub doc: Option<T>,
    pub etag: Option<String>,
}

impl<T: Default> Loaded<T> {
    pub fn missing(key: String) -> Self {
        Loaded {
            key,
            doc: None,
            etag: None,
        }
    }

    /// The document, or a new empty one.
    fn take(&mut self) -> T {
        self.doc.take().unwrap_or_default()
    }
}

/// What the writer read for one entry: the user's index, the month of the entry's hour, the
/// hour's last chunk (number `chunk`) and the task's history.
#[derive(Debug, Clone)]
pub struct Read {
    pub index: Loaded<IndexDoc>,
    pub month: Loaded<MonthDoc>,
    pub chunk: usize,
    pub last_chunk: Loaded<EntriesDoc>,
    /// Whether an earlier chunk of the hour holds the entry (only looked up when the task's
    /// history holds it and the last chunk does not).
    pub in_earlier_chunk: bool,
    pub task: Loaded<EntriesDoc>,
}

/// What storing an entry came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Written now.
    Stored,
    /// It was there already (a redelivery): nothing written.
    AlreadyStored,
    /// Its `time` is past the retention window: not kept at all.
    Expired,
}

/// The decision for one entry: nothing to write, or the transaction to commit.
#[derive(Debug, Clone, PartialEq)]
pub enum Plan {
    Nothing(Outcome),
    Commit(Vec<TransactionOp<RawJson>>),
}

/// The key of the last chunk of `hour` a writer must read, from the month document.
pub fn last_chunk(month: Option<&MonthDoc>, hour: Hour) -> usize {
    month.map_or(0, |m| m.last_chunk(hour.month(), hour))
}

/// Plan storing `entry` over what was `read` at `now`.
pub fn plan(
    entry: &Entry,
    mut read: Read,
    keys: &Keys,
    now: DateTime<Utc>,
    retention: Option<Retention>,
) -> Plan {
    let cutoff = cutoff(retention, now);
    if is_expired(entry.time, cutoff) {
        return Plan::Nothing(Outcome::Expired);
    }
    let hour = Hour::of(entry.time);
    let month_of_hour = hour.month();
    let mut operations = Vec::new();

    // The hour chunk: a full chunk (by the month's own chunk size) is followed by a new one.
    let capacity = read
        .month
        .doc
        .as_ref()
        .map_or(CHUNK_CAPACITY, MonthDoc::chunk_capacity);
    let mut chunk_no = read.chunk;
    let mut chunk = read.last_chunk.take();
    let mut chunk_loaded = read.last_chunk;
    let in_chunk = read.in_earlier_chunk || chunk.contains(entry.event_id);
    if !in_chunk && chunk.entries.len() >= capacity {
        chunk_no += 1;
        chunk = EntriesDoc::default();
        chunk_loaded = Loaded::missing(keys.chunk(hour, chunk_no));
    }
    if !in_chunk {
        chunk.entries.push(entry.clone());
        operations.push(upsert(
            &chunk_loaded,
            &chunk,
            Ttl::until(retention, hour.end(), now),
        ));
    }

    // The task's history, sorted, expired entries dropped.
    let mut task = read.task.take();
    let in_task = task.contains(entry.event_id);
    let before = task.entries.len();
    task.entries.retain(|e| !is_expired(e.time, cutoff));
    if !in_task {
        let at = task
            .entries
            .partition_point(|e| e.position() < entry.position());
        task.entries.insert(at, entry.clone());
    }
    if !in_task || task.entries.len() != before {
        let latest = task.latest().unwrap_or(entry.time);
        operations.push(upsert(
            &read.task,
            &task,
            Ttl::until(retention, latest, now),
        ));
    }

    // The hour's count in the month, from the chunk itself.
    let mut month = read.month.take();
    let original_month = month.clone();
    month.prune(month_of_hour, cutoff);
    month.set_count(month_of_hour, hour, chunk_no, chunk.entries.len());
    if month != original_month || read.month.etag.is_none() {
        operations.push(upsert(
            &read.month,
            &month,
            Ttl::until(retention, month_of_hour.end(), now),
        ));
    }

    // The index of months.
    let mut index = read.index.take();
    let pruned = index.prune(cutoff);
    let added = index.months.insert(month_of_hour);
    if pruned || added || read.index.etag.is_none() {
        let latest = index.latest().unwrap_or(month_of_hour.end());
        operations.push(upsert(
            &read.index,
            &index,
            Ttl::until(retention, latest, now),
        ));
    }

    if in_chunk && in_task {
        // Stored before: at most bookkeeping a partial write left undone.
        return if operations.is_empty() {
            Plan::Nothing(Outcome::AlreadyStored)
        } else {
            Plan::Commit(operations)
        };
    }
    Plan::Commit(operations)
}

/// The upsert of `doc` at `loaded.key`, guarded by the ETag it was read with (a document that did
/// not exist must still not exist).
pub fn upsert<T, D: Serialize>(loaded: &Loaded<T>, doc: &D, ttl: Ttl) -> TransactionOp<RawJson> {
    let value = RawJson::of(doc);
    let mut item = StateItem::new(loaded.key.clone(), value).expecting(loaded.etag.clone());
    item.metadata.insert(
        "ttlInSeconds".to_owned(),
        serde_json::Value::String(ttl.metadata()),
    );
    TransactionOp::Upsert(item)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entry::tests::{entry, t};
    use serde_json::Value;
    use todo_domain::TaskEventType::{Created, Updated};

    fn keys() -> Keys {
        Keys::new("alice")
    }

    fn empty_read(e: &Entry) -> Read {
        let hour = Hour::of(e.time);
        Read {
            index: Loaded::missing(keys().index()),
            month: Loaded::missing(keys().month(hour.month())),
            chunk: 0,
            last_chunk: Loaded::missing(keys().chunk(hour, 0)),
            in_earlier_chunk: false,
            task: Loaded::missing(keys().task(e.task_id)),
        }
    }

    fn ops(plan: Plan) -> Vec<(String, Value, Option<String>, Value)> {
        let Plan::Commit(operations) = plan else {
            panic!("nothing to commit: {plan:?}")
        };
        operations
            .into_iter()
            .map(|op| {
                let TransactionOp::Upsert(item) = op else {
                    panic!("only upserts")
                };
                let json = serde_json::to_value(&item).unwrap();
                (
                    item.key,
                    item.value.unwrap().to_value(),
                    item.etag,
                    json["options"]["concurrency"].clone(),
                )
            })
            .collect()
    }

    /// `read` after committing `plan` with new etags "1".
    fn after(read: &Read, plan: Plan) -> Read {
        let mut next = read.clone();
        for (key, value, _, _) in ops(plan) {
            let etag = Some("1".to_owned());
            if key == next.index.key {
                next.index = Loaded {
                    key,
                    doc: serde_json::from_value(value).ok(),
                    etag,
                };
            } else if key == next.month.key {
                next.month = Loaded {
                    key,
                    doc: serde_json::from_value(value).ok(),
                    etag,
                };
            } else if key == next.task.key {
                next.task = Loaded {
                    key,
                    doc: serde_json::from_value(value).ok(),
                    etag,
                };
            } else {
                next.last_chunk = Loaded {
                    key,
                    doc: serde_json::from_value(value).ok(),
                    etag,
                };
            }
        }
        next
    }

    #[test]
    fn a_first_entry_creates_all_four_documents_that_must_not_exist_yet() {
        let now = t("2026-03-01T08:00:05Z");
        let e = entry(1, Created, "alice", 7, "2026-03-01T08:00:00Z");
        let written = ops(plan(&e, empty_read(&e), &keys(), now, None));
        let keys_written: Vec<&str> = written.iter().map(|w| w.0.as_str()).collect();
        assert_eq!(
            keys_written,
            [
                "audit:{alice}:log:2026-03-01T08:0",
                "audit:{alice}:task:00000000-0000-0000-0000-000000000007",
                "audit:{alice}:month:2026-03",
                "audit:{alice}:index",
            ]
        );
        for (key, _, etag, concurrency) in &written {
            assert_eq!(etag, &None, "{key}");
            assert_eq!(concurrency, "first-write", "{key}");
        }
        assert_eq!(
            written[0].1["entries"][0]["event_id"],
            e.event_id.to_string()
        );
        assert_eq!(written[2].1["counts"][8], 1);
        assert_eq!(written[3].1["months"], serde_json::json!(["2026-03"]));
    }

    #[test]
    fn storing_twice_is_a_no_op_and_later_entries_guard_on_etags() {
        let now = t("2026-03-01T08:00:05Z");
        let e1 = entry(1, Created, "alice", 7, "2026-03-01T08:00:00Z");
        let read = empty_read(&e1);
        let read = after(&read, plan(&e1, read.clone(), &keys(), now, None));
        assert_eq!(
            plan(&e1, read.clone(), &keys(), now, None),
            Plan::Nothing(Outcome::AlreadyStored)
        );
        // Another event of the task in the same hour: chunk, task and month change; the index
        // does not.
        let e2 = entry(2, Updated, "alice", 7, "2026-03-01T08:30:00Z");
        let written = ops(plan(&e2, read, &keys(), now, None));
        assert_eq!(written.len(), 3);
        assert!(written.iter().all(|w| w.2.as_deref() == Some("1")));
        assert_eq!(written[2].1["counts"][8], 2);
        let task_ids: Vec<&str> = written[1].1["entries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["event_id"].as_str().unwrap())
            .collect();
        assert_eq!(task_ids.len(), 2);
    }

    #[test]
    fn a_partly_applied_write_is_completed_without_duplicates() {
        let now = t("2026-03-01T08:00:05Z");
        let e = entry(1, Created, "alice", 7, "2026-03-01T08:00:00Z");
        let read = empty_read(&e);
        let full = after(&read, plan(&e, read.clone(), &keys(), now, None));
        // Only the chunk made it: the retry writes the rest and leaves the chunk alone.
        let mut partial = read;
        partial.last_chunk = full.last_chunk;
        let written = ops(plan(&e, partial, &keys(), now, None));
        let keys_written: Vec<&str> = written.iter().map(|w| w.0.as_str()).collect();
        assert_eq!(
            keys_written,
            [
                "audit:{alice}:task:00000000-0000-0000-0000-000000000007",
                "audit:{alice}:month:2026-03",
                "audit:{alice}:index",
            ]
        );
    }

    /// A read of hour 2026-03-01T08 whose chunk 0 holds `held` entries, in a month document
    /// with `month`'s chunk size.
    fn read_with_chunk_of(held: usize, mut month: MonthDoc) -> Read {
        let hour = Hour::parse("2026-03-01T08").unwrap();
        let mut read = empty_read(&entry(0, Created, "alice", 1, "2026-03-01T08:00:00Z"));
        let mut chunk = EntriesDoc::default();
        for n in 0..held as u128 {
            chunk
                .entries
                .push(entry(100 + n, Created, "alice", 1, "2026-03-01T08:00:00Z"));
        }
        month.set_count(hour.month(), hour, 0, held);
        read.month = Loaded {
            key: read.month.key,
            doc: Some(month),
            etag: Some("4".into()),
        };
        read.last_chunk.doc = Some(chunk);
        read.last_chunk.etag = Some("9".into());
        read
    }

    #[test]
    fn a_month_of_the_old_layout_keeps_filling_its_chunks_to_100() {
        let now = t("2026-03-01T09:00:00Z");
        let legacy: MonthDoc = serde_json::from_str(r#"{"schema_version":1,"counts":[]}"#).unwrap();
        let mut read = read_with_chunk_of(crate::layout::CHUNK_CAPACITY, legacy);
        let e = entry(1, Created, "alice", 2, "2026-03-01T08:59:00Z");
        read.task = Loaded::missing(keys().task(e.task_id));
        let written = ops(plan(&e, read, &keys(), now, None));
        assert_eq!(written[0].0, "audit:{alice}:log:2026-03-01T08:0");
        assert_eq!(
            written[0].1["entries"].as_array().unwrap().len(),
            crate::layout::CHUNK_CAPACITY + 1
        );
        let month = written.iter().find(|w| w.0.contains(":month:")).unwrap();
        assert_eq!(month.1["counts"][8], crate::layout::CHUNK_CAPACITY + 1);
        assert_eq!(month.1["chunk_size"], 100);
    }

    #[test]
    fn a_full_chunk_is_followed_by_a_new_one() {
        let now = t("2026-03-01T09:00:00Z");
        let mut read = read_with_chunk_of(crate::layout::CHUNK_CAPACITY, MonthDoc::default());
        let e = entry(1, Created, "alice", 2, "2026-03-01T08:59:00Z");
        read.task = Loaded::missing(keys().task(e.task_id));
        let written = ops(plan(&e, read, &keys(), now, None));
        assert_eq!(written[0].0, "audit:{alice}:log:2026-03-01T08:1");
        assert_eq!(written[0].2, None, "a new chunk must not exist yet");
        assert_eq!(written[0].1["entries"].as_array().unwrap().len(), 1);
        let month = written.iter().find(|w| w.0.contains(":month:")).unwrap();
        assert_eq!(month.1["counts"][8], crate::layout::CHUNK_CAPACITY + 1);
        assert_eq!(month.2.as_deref(), Some("4"));
    }

    #[test]
    fn retention_skips_expired_entries_prunes_and_sets_ttls() {
        let r = Retention::days(1);
        let now = t("2026-03-02T10:00:00Z");
        let old = entry(1, Created, "alice", 7, "2026-03-01T09:59:59Z");
        assert_eq!(
            plan(&old, empty_read(&old), &keys(), now, r),
            Plan::Nothing(Outcome::Expired)
        );
        let e = entry(2, Updated, "alice", 7, "2026-03-02T09:30:00Z");
        let mut read = empty_read(&e);
        let mut history = EntriesDoc::default();
        history
            .entries
            .push(entry(3, Created, "alice", 7, "2026-02-20T00:00:00Z"));
        read.task.doc = Some(history);
        read.task.etag = Some("2".into());
        let mut index = IndexDoc::default();
        index
            .months
            .insert(crate::layout::Month::parse("2026-01").unwrap());
        read.index.doc = Some(index);
        read.index.etag = Some("3".into());
        let Plan::Commit(operations) = plan(&e, read, &keys(), now, r) else {
            panic!()
        };
        let items: Vec<StateItem<RawJson>> = operations
            .into_iter()
            .map(|op| match op {
                TransactionOp::Upsert(item) => item,
                TransactionOp::Delete(_) => panic!(),
            })
            .collect();
        let ttl = |i: usize| {
            items[i].metadata["ttlInSeconds"]
                .as_str()
                .unwrap()
                .to_owned()
        };
        // chunk: the hour ends 10:00 today, + 1 day.
        assert_eq!(ttl(0), (24 * 3600).to_string());
        // task: its latest entry (09:30) + 1 day; the February entry is gone.
        assert_eq!(ttl(1), (23 * 3600 + 1800).to_string());
        assert_eq!(
            items[1].value.as_ref().unwrap().to_value()["entries"]
                .as_array()
                .unwrap()
                .len(),
            1
        );
        // month: March ends in 29 days and 14 hours, + 1 day.
        assert_eq!(ttl(2), ((30 * 24 + 14) * 3600).to_string());
        // index: January forgotten, March added.
        assert_eq!(
            items[3].value.as_ref().unwrap().to_value()["months"],
            serde_json::json!(["2026-03"])
        );
        // Without retention every document is kept forever (and a TTL left by an earlier
        // setting is cleared).
        let Plan::Commit(operations) = plan(&e, empty_read(&e), &keys(), now, None) else {
            panic!()
        };
        for op in operations {
            let TransactionOp::Upsert(item) = op else {
                panic!()
            };
            assert_eq!(item.metadata["ttlInSeconds"], "-1");
        }
    }
}
