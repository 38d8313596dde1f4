//! The audit log in the Dapr state store: storing an entry (one bulk read, one ETag-guarded
//! transaction, retried on conflicts) and reading a page (the index, the months in range, then
//! only as many hour chunks as the page needs). Layout and costs: docs/storage.md "audit-service".
use crate::entry::Entry;
use crate::layout::{
    AnyDoc, EntriesDoc, Hour, IndexDoc, Keys, Month, MonthDoc, Retention, Ttl, cutoff,
};
use crate::query::{AuditPage, AuditQuery, Window};
use crate::write::{self, Loaded, Outcome, Plan, Read};
use crate::{ApiError, Runtime};
use chrono::{DateTime, Utc};
use component_kit::log::warn;
use component_kit::state::{backoff, unreadable};
use dapr_client::{BulkItem, DaprClient, DaprError};
use serde::de::DeserializeOwned;
use std::collections::VecDeque;
use uuid::Uuid;

/// Attempts at storing an entry before giving up (the delivery is then retried by Dapr).
pub const MAX_WRITE_ATTEMPTS: u32 = 12;

/// Month documents read in the first batch of a page (the newest page usually needs only the
/// newest month); each further batch doubles.
const FIRST_MONTH_BATCH: usize = 1;

pub struct AuditStore<'a, R> {
    pub dapr: &'a DaprClient<R>,
    pub state_store: &'a str,
    pub retention: Option<Retention>,
}

impl<R: Runtime> AuditStore<'_, R> {
    /// Store `entry` once: read its four documents, plan, commit; on a lost race read again.
    pub async fn append(&self, entry: &Entry) -> Result<Outcome, ApiError> {
        let keys = Keys::new(&entry.user_id);
        for attempt in 0..MAX_WRITE_ATTEMPTS {
            if attempt > 0 {
                backoff(self.dapr.transport(), attempt - 1).await;
            }
            let read = self.read_for_write(&keys, entry).await?;
            let now = self.dapr.transport().now();
            let operations = match write::plan(entry, read, &keys, now, self.retention) {
                Plan::Nothing(outcome) => return Ok(outcome),
                Plan::Commit(operations) => operations,
            };
            match self.dapr.transact(self.state_store, &operations).await {
                Ok(()) => return Ok(Outcome::Stored),
                Err(error) if error.is_conflict() => continue,
                Err(error) => return Err(error.into()),
            }
        }
        Err(ApiError::Conflict(format!(
            "event {}: concurrent writes won {MAX_WRITE_ATTEMPTS} times",
            entry.event_id
        )))
    }

    /// One bulk read of the index, the month, the hour's first chunk and the task's history;
    /// plus the hour's last chunk when the hour has more than one.
    async fn read_for_write(&self, keys: &Keys, entry: &Entry) -> Result<Read, ApiError> {
        let hour = Hour::of(entry.time);
        let wanted = [
            keys.index(),
            keys.month(hour.month()),
            keys.chunk(hour, 0),
            keys.task(entry.task_id),
        ];
        let mut items = self.bulk::<AnyDoc>(&wanted).await?;
        // Dapr answers in request order; matching by key does not depend on it.
        let mut take = |key: &String| match items.iter().position(|item| &item.key == key) {
            Some(at) => items.swap_remove(at),
            None => BulkItem {
                key: key.clone(),
                data: None,
                etag: None,
            },
        };
        let [index, month, first_chunk, task] = wanted.each_ref().map(&mut take);
        let index = typed(index, AnyDoc::into_index)?;
        let month = typed(month, AnyDoc::into_month)?;
        let task = typed(task, AnyDoc::into_entries)?;
        let chunk = write::last_chunk(month.doc.as_ref(), hour);
        let last_chunk = if chunk == 0 {
            typed(first_chunk, AnyDoc::into_entries)?
        } else {
            self.get(keys.chunk(hour, chunk)).await?
        };
        // Stored before, in an earlier chunk of its hour? Only asked when the task's history has
        // it but the last chunk has not (a redelivery after the chunk filled up): rare.
        let in_history = task
            .doc
            .as_ref()
            .is_some_and(|d| d.contains(entry.event_id));
        let in_last = last_chunk
            .doc
            .as_ref()
            .is_some_and(|d| d.contains(entry.event_id));
        let mut in_earlier_chunk = false;
        if in_history && !in_last && chunk > 0 {
            let earlier: Vec<String> = (0..chunk).map(|n| keys.chunk(hour, n)).collect();
            in_earlier_chunk = self
                .bulk::<EntriesDoc>(&earlier)
                .await?
                .into_iter()
                .any(|item| item.data.is_some_and(|d| d.contains(entry.event_id)));
        }
        Ok(Read {
            index,
            month,
            chunk,
            last_chunk,
            in_earlier_chunk,
            task,
        })
    }

    /// The page of `user`'s log that `query` asks for.
    pub async fn page(&self, user: &str, query: &AuditQuery) -> Result<AuditPage, ApiError> {
        if query.is_for_other_user(user) {
            return Ok(AuditPage::empty());
        }
        let now = self.dapr.transport().now();
        let cutoff = cutoff(self.retention, now);
        let keys = Keys::new(user);
        if let Some(task_id) = query.task_id {
            return self.task_page(&keys, task_id, query, cutoff).await;
        }
        let window = query.window(cutoff);
        if window.is_empty() {
            return Ok(AuditPage::empty());
        }
        let index = self.get::<IndexDoc>(keys.index()).await?;
        let months: Vec<Month> = match &index.doc {
            None => return Ok(AuditPage::empty()),
            Some(doc) => doc
                .months
                .iter()
                .rev()
                .filter(|m| window.overlaps(m.start(), m.end()))
                .copied()
                .collect(),
        };
        self.prune_index(index, now).await;
        self.collect(&keys, months, window, query, cutoff).await
    }

    /// A task's history: one key.
    async fn task_page(
        &self,
        keys: &Keys,
        task_id: Uuid,
        query: &AuditQuery,
        cutoff: Option<DateTime<Utc>>,
    ) -> Result<AuditPage, ApiError> {
        let history = self.get::<EntriesDoc>(keys.task(task_id)).await?;
        let entries = history.doc.map(|doc| doc.entries).unwrap_or_default();
        Ok(query.page(entries.into_iter().filter(|e| query.matches(e, cutoff))))
    }

    /// Walk the hours of `months` (newest first) and read their chunks in batches sized by the
    /// counts the month documents keep, until the page is full: every hour read is read whole,
    /// and older hours hold only older entries, so the first `limit` collected are the page.
    async fn collect(
        &self,
        keys: &Keys,
        months: Vec<Month>,
        window: Window,
        query: &AuditQuery,
        cutoff: Option<DateTime<Utc>>,
    ) -> Result<AuditPage, ApiError> {
        let wanted = query.limit + 1;
        let mut months = months.into_iter();
        let mut month_batch = FIRST_MONTH_BATCH;
        // (hour, entries, chunks): the chunks by the hour's month's own chunk size.
        let mut hours: VecDeque<(Hour, u32, usize)> = VecDeque::new();
        let mut collected: Vec<Entry> = Vec::new();
        let mut pending: Vec<String> = Vec::new();
        let mut pending_count: u64 = 0;
        // Read ahead for sparse filters: each batch that leaves the page short doubles this.
        let mut read_ahead: u64 = 1;
        loop {
            while hours.is_empty() {
                let batch: Vec<Month> = months.by_ref().take(month_batch).collect();
                if batch.is_empty() {
                    break;
                }
                month_batch *= 2;
                let month_keys: Vec<String> = batch.iter().map(|m| keys.month(*m)).collect();
                let mut found: Vec<(Hour, u32, usize)> = Vec::new();
                for item in self.bulk::<MonthDoc>(&month_keys).await? {
                    let Some(doc) = item.data else { continue };
                    let Some(at) = month_keys.iter().position(|k| *k == item.key) else {
                        continue;
                    };
                    found.extend(
                        doc.hours(batch[at])
                            .filter(|(hour, _)| window.overlaps(hour.start(), hour.end()))
                            .map(|(hour, count)| (hour, count, doc.chunks(count))),
                    );
                }
                found.sort_unstable_by_key(|(hour, _, _)| std::cmp::Reverse(*hour));
                hours.extend(found);
            }
            let next = hours.pop_front();
            if let Some((hour, count, chunks)) = next {
                pending.extend((0..chunks).map(|chunk| keys.chunk(hour, chunk)));
                pending_count += u64::from(count);
            }
            let short = wanted.saturating_sub(collected.len()) as u64;
            if !pending.is_empty() && (next.is_none() || pending_count >= short * read_ahead) {
                for item in self.bulk::<EntriesDoc>(&pending).await? {
                    if let Some(doc) = item.data {
                        collected
                            .extend(doc.entries.into_iter().filter(|e| query.matches(e, cutoff)));
                    }
                }
                pending.clear();
                pending_count = 0;
                if collected.len() >= wanted {
                    break;
                }
                read_ahead = (read_ahead * 2).min(64);
            }
            if next.is_none() {
                break;
            }
        }
        Ok(query.page(collected))
    }

    /// Forget the index's months whose entries have all expired (lazily, on read: the documents
    /// themselves expire by TTL). Best effort: a concurrent writer's change wins.
    async fn prune_index(&self, mut index: Loaded<IndexDoc>, now: DateTime<Utc>) {
        let cutoff = cutoff(self.retention, now);
        let Some(mut doc) = index.doc.take() else {
            return;
        };
        if !doc.prune(cutoff) {
            return;
        }
        let latest = doc.latest().unwrap_or(now);
        let operation = write::upsert(&index, &doc, Ttl::until(self.retention, latest, now));
        if let Err(error) = self.dapr.transact(self.state_store, &[operation]).await
            && !error.is_conflict()
        {
            warn("audit index pruning failed", &error.to_string());
        }
    }

    async fn get<T: DeserializeOwned + Default>(&self, key: String) -> Result<Loaded<T>, ApiError> {
        match self.dapr.get_state::<T>(self.state_store, &key).await {
            Ok(None) => Ok(Loaded::missing(key)),
            Ok(Some(entry)) => Ok(Loaded {
                key,
                doc: Some(entry.value),
                etag: entry.etag,
            }),
            Err(DaprError::Decode(e)) => Err(unreadable(&key, &e)),
            Err(e) => Err(e.into()),
        }
    }

    async fn bulk<T: DeserializeOwned>(
        &self,
        keys: &[String],
    ) -> Result<Vec<BulkItem<T>>, ApiError> {
        match self.dapr.bulk_get::<T>(self.state_store, keys).await {
            Ok(items) => Ok(items),
            Err(DaprError::Decode(e)) => Err(unreadable(&keys.join(", "), &e)),
            Err(e) => Err(e.into()),
        }
    }
}

/// A bulk item of the write's read, as the document it must be.
fn typed<T>(item: BulkItem<AnyDoc>, into: fn(AnyDoc) -> Option<T>) -> Result<Loaded<T>, ApiError> {
    let doc = match item.data {
        None => None,
        Some(doc) => {
            Some(into(doc).ok_or_else(|| unreadable(&item.key, "not this kind of document"))?)
        }
    };
    Ok(Loaded {
        key: item.key,
        doc,
        etag: item.etag,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entry::tests::{entry, t};
    use crate::query::AuditQuery;
    use dapr_client::{Transport, TransportError};
    use serde_json::Value;
    use std::cell::{Cell, RefCell};
    use std::collections::BTreeMap;
    use todo_domain::TaskEventType::{self, Completed, Created, Updated};

    /// The Dapr state API over a map, with daprd's ETag rules (a version per write; first-write
    /// without an ETag fails on an existing key; a transaction commits all or nothing). TTLs are
    /// recorded, not applied. Counts the calls.
    /// A stored value, its version (the ETag) and its `ttlInSeconds`.
    type Stored = (Value, u64, Option<String>);

    #[derive(Default)]
    struct FakeDapr {
        state: RefCell<BTreeMap<String, Stored>>,
        version: Cell<u64>,
        calls: RefCell<Vec<String>>,
        now: Cell<Option<DateTime<Utc>>>,
    }

    impl FakeDapr {
        fn respond(status: u16, body: Vec<u8>, etag: Option<u64>) -> http::Response<Vec<u8>> {
            let mut response = http::Response::builder().status(status);
            if let Some(etag) = etag {
                response = response.header("etag", etag.to_string());
            }
            response.body(body).unwrap()
        }

        fn transaction(&self, body: &Value) -> http::Response<Vec<u8>> {
            let mut state = self.state.borrow_mut();
            let ops = body["operations"].as_array().unwrap();
            for op in ops {
                let request = &op["request"];
                let key = request["key"].as_str().unwrap();
                let current = state.get(key).map(|(_, version, _)| *version);
                let ok = match (request["etag"].as_str(), current) {
                    (None, Some(_)) => request["options"]["concurrency"] != "first-write",
                    (None, None) => true,
                    (Some(etag), Some(version)) => etag == version.to_string(),
                    (Some(_), None) => false,
                };
                if !ok {
                    let body = br#"{"errorCode":"ERR_STATE_TRANSACTION","message":"etag"}"#;
                    return Self::respond(500, body.to_vec(), None);
                }
            }
            for op in ops {
                let request = &op["request"];
                self.version.set(self.version.get() + 1);
                let ttl = request["metadata"]["ttlInSeconds"]
                    .as_str()
                    .map(str::to_owned);
                state.insert(
                    request["key"].as_str().unwrap().to_owned(),
                    (request["value"].clone(), self.version.get(), ttl),
                );
            }
            Self::respond(204, Vec::new(), None)
        }

        fn calls(&self) -> Vec<String> {
            self.calls.borrow().clone()
        }
    }

    impl Transport for FakeDapr {
        async fn send(
            &self,
            request: http::Request<Vec<u8>>,
        ) -> Result<http::Response<Vec<u8>>, TransportError> {
            let path = request
                .uri()
                .path()
                .trim_start_matches("/v1.0/state/statestore");
            let body: Value = serde_json::from_slice(request.body()).unwrap_or(Value::Null);
            let response = match (request.method().as_str(), path) {
                ("POST", "/bulk") => {
                    self.calls
                        .borrow_mut()
                        .push(format!("bulk {}", body["keys"]));
                    let state = self.state.borrow();
                    let items: Vec<Value> = body["keys"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|key| match state.get(key.as_str().unwrap()) {
                            Some((value, version, _)) => serde_json::json!(
                                {"key": key, "data": value, "etag": version.to_string()}),
                            None => serde_json::json!({"key": key}),
                        })
                        .collect();
                    Self::respond(200, serde_json::to_vec(&items).unwrap(), None)
                }
                ("POST", "/transaction") => {
                    self.calls.borrow_mut().push("transaction".to_owned());
                    self.transaction(&body)
                }
                ("GET", key) => {
                    let key = key
                        .trim_start_matches('/')
                        .replace("%7B", "{")
                        .replace("%7D", "}");
                    self.calls.borrow_mut().push(format!("get {key}"));
                    match self.state.borrow().get(&key) {
                        Some((value, version, _)) => {
                            Self::respond(200, serde_json::to_vec(value).unwrap(), Some(*version))
                        }
                        None => Self::respond(204, Vec::new(), None),
                    }
                }
                other => panic!("unexpected call {other:?}"),
            };
            Ok(response)
        }
    }

    impl Runtime for FakeDapr {
        fn now(&self) -> DateTime<Utc> {
            self.now.get().unwrap_or_else(|| t("2026-06-01T00:00:00Z"))
        }
        async fn sleep(&self, _: std::time::Duration) {}
    }

    fn block_on<F: std::future::Future>(future: F) -> F::Output {
        // The fake never suspends, so one poll completes the future.
        let mut future = std::pin::pin!(future);
        let waker = std::task::Waker::noop();
        match future
            .as_mut()
            .poll(&mut std::task::Context::from_waker(waker))
        {
            std::task::Poll::Ready(output) => output,
            std::task::Poll::Pending => panic!("fake suspended"),
        }
    }

    fn client() -> DaprClient<FakeDapr> {
        DaprClient::new("http://127.0.0.1:3500", FakeDapr::default())
    }

    fn store(
        dapr: &DaprClient<FakeDapr>,
        retention: Option<Retention>,
    ) -> AuditStore<'_, FakeDapr> {
        AuditStore {
            dapr,
            state_store: "statestore",
            retention,
        }
    }

    fn query(text: &str) -> AuditQuery {
        let pairs: Vec<(String, String)> = text
            .split('&')
            .filter(|s| !s.is_empty())
            .map(|kv| {
                let (k, v) = kv.split_once('=').unwrap();
                (k.to_owned(), v.to_owned())
            })
            .collect();
        AuditQuery::parse(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str()))).unwrap()
    }

    /// Every page of `text` (a query without cursor), following the cursors.
    fn walk(store: &AuditStore<'_, FakeDapr>, user: &str, text: &str) -> Vec<u128> {
        let mut ids = Vec::new();
        let mut q = query(text);
        loop {
            let page = block_on(store.page(user, &q)).unwrap();
            ids.extend(page.items.iter().map(|e| e.event_id.as_u128()));
            let Some(cursor) = page.next_cursor else {
                return ids;
            };
            let sep = if text.is_empty() { "" } else { "&" };
            q = query(&format!("{text}{sep}cursor={cursor}"));
        }
    }

    /// `n` events of alice, one every 7 hours from 2026-01-01 (crossing months), over tasks
    /// 1–5, types cycling; id = position + 1.
    fn seed(store: &AuditStore<'_, FakeDapr>, n: u128) -> Vec<Entry> {
        let start = t("2026-01-01T00:00:00Z");
        (0..n)
            .map(|i| {
                let time = start + chrono::TimeDelta::hours(7 * i as i64);
                let kind: TaskEventType = [Created, Updated, Completed][i as usize % 3];
                let e = entry(i + 1, kind, "alice", 1 + i % 5, &time.to_rfc3339());
                assert_eq!(block_on(store.append(&e)).unwrap(), Outcome::Stored);
                e
            })
            .collect()
    }

    #[test]
    fn pages_walk_the_whole_log_across_hours_and_months_newest_first() {
        let dapr = client();
        let store = store(&dapr, None);
        let entries = seed(&store, 400);
        assert_eq!(
            walk(&store, "alice", "limit=7"),
            (1..=400).rev().collect::<Vec<_>>()
        );
        let completed: Vec<u128> = entries
            .iter()
            .rev()
            .filter(|e| e.event_type == Completed)
            .map(|e| e.event_id.as_u128())
            .collect();
        assert_eq!(
            walk(&store, "alice", "limit=9&event_type=task.completed"),
            completed
        );
        let task_3: Vec<u128> = entries
            .iter()
            .rev()
            .filter(|e| e.task_id.as_u128() == 3)
            .map(|e| e.event_id.as_u128())
            .collect();
        assert_eq!(
            walk(
                &store,
                "alice",
                "limit=11&task_id=00000000-0000-0000-0000-000000000003"
            ),
            task_3
        );
        let in_february: Vec<u128> = entries
            .iter()
            .rev()
            .filter(|e| e.time >= t("2026-02-01T00:00:00Z") && e.time < t("2026-03-01T00:00:00Z"))
            .map(|e| e.event_id.as_u128())
            .collect();
        assert_eq!(in_february.len(), 96);
        assert_eq!(
            walk(
                &store,
                "alice",
                "limit=50&from=2026-02-01T00:00:00Z&to=2026-03-01T00:00:00Z"
            ),
            in_february
        );
        assert!(walk(&store, "bob", "").is_empty());
        assert!(walk(&store, "alice", "user_id=bob").is_empty());
    }

    #[test]
    fn the_newest_page_costs_three_reads_and_a_write_one_bulk_read_and_a_transaction() {
        let dapr = client();
        let store = store(&dapr, None);
        seed(&store, 400);
        dapr.transport().calls.borrow_mut().clear();
        let page = block_on(store.page("alice", &query("limit=10"))).unwrap();
        assert_eq!(page.items.len(), 10);
        let calls = dapr.transport().calls();
        assert_eq!(calls.len(), 3, "{calls:#?}");
        assert_eq!(calls[0], "get audit:{alice}:index");
        assert_eq!(calls[1], "bulk [\"audit:{alice}:month:2026-04\"]");
        // 10 events at 7-hour spacing: 11 hours' chunks (the page and one to know there is more).
        assert_eq!(calls[2].matches(":log:").count(), 11, "{}", calls[2]);
        // A task's history: one key.
        dapr.transport().calls.borrow_mut().clear();
        block_on(store.page(
            "alice",
            &query("task_id=00000000-0000-0000-0000-000000000002"),
        ))
        .unwrap();
        assert_eq!(
            dapr.transport().calls(),
            ["get audit:{alice}:task:00000000-0000-0000-0000-000000000002"]
        );
        // Storing: one bulk read, one transaction.
        dapr.transport().calls.borrow_mut().clear();
        let e = entry(9999, Created, "alice", 1, "2026-05-31T23:00:00Z");
        assert_eq!(block_on(store.append(&e)).unwrap(), Outcome::Stored);
        assert_eq!(dapr.transport().calls().len(), 2);
        assert_eq!(block_on(store.append(&e)).unwrap(), Outcome::AlreadyStored);
        assert_eq!(
            dapr.transport().calls().len(),
            3,
            "a repeat reads and writes nothing"
        );
    }

    #[test]
    fn a_month_written_with_chunks_of_100_is_read_and_extended_as_written() {
        let dapr = client();
        let store = store(&dapr, None);
        let start = t("2026-03-01T08:00:00Z");
        let at = |i: u128| (start + chrono::TimeDelta::seconds(i as i64 * 7)).to_rfc3339();
        for i in 0..150u128 {
            block_on(store.append(&entry(i + 1, Created, "alice", 1 + i % 50, &at(i)))).unwrap();
        }
        // Rewrite the hour as the old layout stored it: chunks of 100, no chunk_size.
        {
            let mut state = dapr.transport().state.borrow_mut();
            let prefix = "audit:{alice}:log:2026-03-01T08:";
            let chunk_keys: Vec<String> = state
                .keys()
                .filter(|k| k.starts_with(prefix))
                .cloned()
                .collect();
            let mut chunks: Vec<(usize, Vec<Value>)> = chunk_keys
                .iter()
                .map(|k| {
                    let (doc, _, _) = state.remove(k).unwrap();
                    let n = k[prefix.len()..].parse().unwrap();
                    (n, doc["entries"].as_array().unwrap().clone())
                })
                .collect();
            chunks.sort_by_key(|(n, _)| *n);
            let entries: Vec<Value> = chunks.into_iter().flat_map(|(_, e)| e).collect();
            assert_eq!(entries.len(), 150);
            for (n, part) in entries.chunks(100).enumerate() {
                let doc = serde_json::json!({"schema_version": 1, "entries": part});
                state.insert(format!("{prefix}{n}"), (doc, 1000 + n as u64, None));
            }
            let month = &mut state.get_mut("audit:{alice}:month:2026-03").unwrap().0;
            assert_eq!(month["chunk_size"], crate::layout::CHUNK_CAPACITY);
            month.as_object_mut().unwrap().remove("chunk_size");
        }
        assert_eq!(
            walk(&store, "alice", "limit=30"),
            (1..=150).rev().collect::<Vec<_>>()
        );
        // A new entry of that hour goes to the old layout's last chunk, which has room.
        block_on(store.append(&entry(151, Created, "alice", 1, &at(150)))).unwrap();
        let state = dapr.transport().state.borrow();
        let chunk = |n: usize| {
            state
                .get(&format!("audit:{{alice}}:log:2026-03-01T08:{n}"))
                .map_or(0, |(doc, _, _)| doc["entries"].as_array().unwrap().len())
        };
        assert_eq!((chunk(0), chunk(1), chunk(2)), (100, 51, 0));
        let month = &state["audit:{alice}:month:2026-03"].0;
        assert_eq!(
            (&month["counts"][8], &month["chunk_size"]),
            (&serde_json::json!(151), &serde_json::json!(100))
        );
        drop(state);
        assert_eq!(
            walk(&store, "alice", "limit=40"),
            (1..=151).rev().collect::<Vec<_>>()
        );
    }

    #[test]
    fn a_busy_hour_spills_into_chunks_and_still_pages_in_order() {
        let dapr = client();
        let store = store(&dapr, None);
        let start = t("2026-03-01T08:00:00Z");
        for i in 0..250u128 {
            let time = start + chrono::TimeDelta::seconds(i as i64 * 7);
            let e = entry(i + 1, Created, "alice", 1 + i % 50, &time.to_rfc3339());
            block_on(store.append(&e)).unwrap();
        }
        let state = dapr.transport().state.borrow();
        let month = &state["audit:{alice}:month:2026-03"].0;
        assert_eq!(month["counts"][8], 250);
        assert!(state.contains_key("audit:{alice}:log:2026-03-01T08:2"));
        drop(state);
        assert_eq!(
            walk(&store, "alice", "limit=30"),
            (1..=250).rev().collect::<Vec<_>>()
        );
        // An event after a chunk rolled over is still found as stored.
        let e = entry(
            120,
            Created,
            "alice",
            1 + 119 % 50,
            &(start + chrono::TimeDelta::seconds(119 * 7)).to_rfc3339(),
        );
        assert_eq!(block_on(store.append(&e)).unwrap(), Outcome::AlreadyStored);
    }

    #[test]
    fn retention_hides_expired_entries_and_the_index_forgets_their_months_on_read() {
        let dapr = client();
        let store = store(&dapr, Retention::days(30));
        dapr.transport().now.set(Some(t("2026-01-01T00:00:00Z")));
        let old = entry(1, Created, "alice", 1, "2025-12-31T12:00:00Z");
        assert_eq!(block_on(store.append(&old)).unwrap(), Outcome::Stored);
        dapr.transport().now.set(Some(t("2026-01-20T00:00:00Z")));
        let new = entry(2, Updated, "alice", 1, "2026-01-19T12:00:00Z");
        assert_eq!(block_on(store.append(&new)).unwrap(), Outcome::Stored);
        assert_eq!(walk(&store, "alice", ""), [2, 1]);
        // Exactly 30 days after the old entry it is still there; a moment later it is gone, from
        // both the log and the task's history.
        dapr.transport().now.set(Some(t("2026-01-30T12:00:00Z")));
        assert_eq!(walk(&store, "alice", ""), [2, 1]);
        dapr.transport()
            .now
            .set(Some(t("2026-01-30T12:00:00.001Z")));
        assert_eq!(walk(&store, "alice", ""), [2]);
        assert_eq!(
            walk(
                &store,
                "alice",
                "task_id=00000000-0000-0000-0000-000000000001"
            ),
            [2]
        );
        let index = dapr.transport().state.borrow()["audit:{alice}:index"].clone();
        assert_eq!(index.0["months"], serde_json::json!(["2025-12", "2026-01"]));
        // Everything of December expired 30 days after December ended: the read pruned the index.
        dapr.transport().now.set(Some(t("2026-01-31T00:00:00Z")));
        assert_eq!(walk(&store, "alice", ""), [2]);
        let index = dapr.transport().state.borrow()["audit:{alice}:index"].clone();
        assert_eq!(index.0["months"], serde_json::json!(["2026-01"]));
        assert!(index.2.is_some(), "the index has a TTL");
        // Too old to store at all.
        let ancient = entry(3, Created, "alice", 1, "2025-12-01T00:00:00Z");
        assert_eq!(block_on(store.append(&ancient)).unwrap(), Outcome::Expired);
    }
}
