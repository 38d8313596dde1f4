//! Where the audit log lives in the state store (docs/storage.md "audit-service", key names in
//! docs/contracts.md "Stored documents"): key names, the time buckets (UTC hours and months), the
//! documents, and the retention rule with the TTLs it implies. Pure: no I/O.
//!
//! Per user (all keys carry the user in a Redis Cluster hash tag `{…}`, so one user's documents
//! share a slot and one transaction may write them):
//!
//! | key | document |
//! |---|---|
//! | `audit:{U}:index` | [`IndexDoc`]: the months that hold entries |
//! | `audit:{U}:month:YYYY-MM` | [`MonthDoc`]: how many entries each hour of that month holds, and how many a chunk holds |
//! | `audit:{U}:log:YYYY-MM-DDTHH:N` | [`EntriesDoc`]: chunk N of that hour's entries (at most the month's `chunk_size`) |
//! | `audit:{U}:task:<task_id>` | [`EntriesDoc`]: every entry of that task |
use crate::entry::Entry;
use chrono::{DateTime, Datelike, NaiveDate, TimeDelta, TimeZone, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::fmt;
use uuid::Uuid;

/// Version of every audit document's shape.
pub const SCHEMA_VERSION: u32 = 1;

/// Entries per hour chunk of a month document written now: a write rewrites one chunk, so this
/// bounds its cost (≈ 1 KB per entry) however busy the hour, while a page reads more, smaller
/// chunks in the same bulk get. (100 until a month document said its own `chunk_size`: every
/// write then rewrote ~50 KB on average, the largest cost of a task change in the whole system;
/// then 20, ~10 KB rewritten per event under load: 8 took ~7% off the CPU of a create with
/// audit-service running, docs/benchmarks.md.)
pub const CHUNK_CAPACITY: usize = 8;

/// The chunk size of month documents written before they carried one.
pub const LEGACY_CHUNK_CAPACITY: usize = 100;

/// The earliest and latest event `time` the log accepts (bucket labels are `YYYY-…`).
pub const EARLIEST_YEAR: i32 = 1970;
pub const LATEST_YEAR: i32 = 9999;

/// One UTC hour, the time bucket of entries: hours since the Unix epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Hour(i64);

impl Hour {
    pub fn of(time: DateTime<Utc>) -> Self {
        Hour(time.timestamp().div_euclid(3600))
    }

    pub fn start(self) -> DateTime<Utc> {
        DateTime::from_timestamp(self.0.saturating_mul(3600), 0).unwrap_or(DateTime::<Utc>::MAX_UTC)
    }

    /// The first instant after the hour.
    pub fn end(self) -> DateTime<Utc> {
        Hour(self.0.saturating_add(1)).start()
    }

    pub fn month(self) -> Month {
        Month::of(self.start())
    }

    /// `YYYY-MM-DDTHH`, as in keys and month documents.
    pub fn label(self) -> String {
        self.start().format("%Y-%m-%dT%H").to_string()
    }

    /// Parse a label (by hand: month documents hold hundreds, parsed on every read).
    pub fn parse(label: &str) -> Option<Self> {
        let b = label.as_bytes();
        if b.len() != 13 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' {
            return None;
        }
        let year = digits(&b[0..4])?;
        let date = NaiveDate::from_ymd_opt(year as i32, digits(&b[5..7])?, digits(&b[8..10])?)?;
        let start = date.and_hms_opt(digits(&b[11..13])?, 0, 0)?.and_utc();
        Some(Hour::of(start))
    }
}

/// The value of ASCII decimal digits.
fn digits(bytes: &[u8]) -> Option<u32> {
    bytes.iter().try_fold(0u32, |value, byte| {
        byte.is_ascii_digit()
            .then(|| value * 10 + u32::from(byte - b'0'))
    })
}

impl fmt::Display for Hour {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.label())
    }
}

impl From<Hour> for String {
    fn from(hour: Hour) -> String {
        hour.label()
    }
}

impl TryFrom<String> for Hour {
    type Error = String;
    fn try_from(label: String) -> Result<Self, String> {
        Hour::parse(&label).ok_or_else(|| format!("{label:?} is not an hour label YYYY-MM-DDTHH"))
    }
}

/// One UTC calendar month, the bucket of the second index level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Month {
    year: i32,
    month: u32,
}

impl Month {
    pub fn of(time: DateTime<Utc>) -> Self {
        Month {
            year: time.year(),
            month: time.month(),
        }
    }

    pub fn start(self) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(self.year, self.month, 1, 0, 0, 0)
            .single()
            .unwrap_or(DateTime::<Utc>::MAX_UTC)
    }

    /// The first instant after the month.
    pub fn end(self) -> DateTime<Utc> {
        self.next().start()
    }

    pub fn next(self) -> Self {
        if self.month == 12 {
            Month {
                year: self.year + 1,
                month: 1,
            }
        } else {
            Month {
                year: self.year,
                month: self.month + 1,
            }
        }
    }

    /// `YYYY-MM`.
    pub fn label(self) -> String {
        format!("{:04}-{:02}", self.year, self.month)
    }

    pub fn parse(label: &str) -> Option<Self> {
        let (year, month) = label.split_once('-')?;
        if year.len() != 4 || month.len() != 2 {
            return None;
        }
        let month = Month {
            year: digits(year.as_bytes())? as i32,
            month: digits(month.as_bytes()).filter(|m| (1..=12).contains(m))?,
        };
        Some(month)
    }
}

impl fmt::Display for Month {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.label())
    }
}

impl From<Month> for String {
    fn from(month: Month) -> String {
        month.label()
    }
}

impl TryFrom<String> for Month {
    type Error = String;
    fn try_from(label: String) -> Result<Self, String> {
        Month::parse(&label).ok_or_else(|| format!("{label:?} is not a month label YYYY-MM"))
    }
}

/// How long entries are kept: the `audit_retention_days` variable. No retention = forever.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    days: u32,
}

impl Retention {
    /// A hundred years: longer is "forever" (leave the variable empty).
    pub const MAX_DAYS: u32 = 36_500;

    pub fn days(days: u32) -> Option<Self> {
        (1..=Self::MAX_DAYS)
            .contains(&days)
            .then_some(Retention { days })
    }

    /// The variable's value: empty or unset = keep forever; else a whole number of days,
    /// 1–36500.
    pub fn parse(raw: Option<&str>) -> Result<Option<Self>, String> {
        let Some(raw) = raw.map(str::trim).filter(|r| !r.is_empty()) else {
            return Ok(None);
        };
        raw.parse::<u32>()
            .ok()
            .and_then(Retention::days)
            .map(Some)
            .ok_or_else(|| {
                format!(
                    "audit_retention_days is {raw:?}; it must be empty (keep forever) or a whole number of days from 1 to {}",
                    Self::MAX_DAYS
                )
            })
    }

    pub fn period(self) -> TimeDelta {
        TimeDelta::days(i64::from(self.days))
    }

    /// Entries whose `time` is before this are gone: neither returned nor stored.
    pub fn cutoff(self, now: DateTime<Utc>) -> DateTime<Utc> {
        now.checked_sub_signed(self.period())
            .unwrap_or(DateTime::<Utc>::MIN_UTC)
    }

    /// When a document whose entries are all older than `latest` may disappear.
    pub fn expiry(self, latest: DateTime<Utc>) -> DateTime<Utc> {
        latest
            .checked_add_signed(self.period())
            .unwrap_or(DateTime::<Utc>::MAX_UTC)
    }
}

/// The cutoff of an optional retention (`None`: everything is kept).
pub fn cutoff(retention: Option<Retention>, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    retention.map(|r| r.cutoff(now))
}

/// Whether an entry at `time` is past the retention window.
pub fn is_expired(time: DateTime<Utc>, cutoff: Option<DateTime<Utc>>) -> bool {
    cutoff.is_some_and(|c| time < c)
}

/// The `ttlInSeconds` of a document written now: forever (`-1`, which also clears a TTL an
/// earlier retention setting left) or until `expiry`, at least one second.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ttl {
    Forever,
    Seconds(u64),
}

impl Ttl {
    pub fn until(retention: Option<Retention>, latest: DateTime<Utc>, now: DateTime<Utc>) -> Self {
        match retention {
            None => Ttl::Forever,
            Some(retention) => {
                let left = retention.expiry(latest) - now;
                let millis = left.num_milliseconds().max(1);
                Ttl::Seconds(((millis + 999) / 1000) as u64)
            }
        }
    }

    /// The metadata value.
    pub fn metadata(self) -> String {
        match self {
            Ttl::Forever => "-1".to_owned(),
            Ttl::Seconds(seconds) => seconds.to_string(),
        }
    }
}

/// The state keys of one user's audit log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Keys {
    /// `{<escaped user>}`: a Redis Cluster hash tag.
    tag: String,
}

impl Keys {
    pub fn new(user_id: &str) -> Self {
        Keys {
            tag: format!("{{{}}}", escape_user(user_id)),
        }
    }

    pub fn index(&self) -> String {
        format!("audit:{}:index", self.tag)
    }

    pub fn month(&self, month: Month) -> String {
        format!("audit:{}:month:{month}", self.tag)
    }

    pub fn chunk(&self, hour: Hour, chunk: usize) -> String {
        format!("audit:{}:log:{hour}:{chunk}", self.tag)
    }

    pub fn task(&self, task_id: Uuid) -> String {
        format!("audit:{}:task:{task_id}", self.tag)
    }
}

/// User ids in keys: printable, free of `{`, `}`, `:` and Dapr's `||` (the kit's rule, shared
/// with chat-api).
pub use component_kit::state::escape_key_part as escape_user;

/// `audit:{U}:index`: the months that hold (unexpired) entries.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IndexDoc {
    pub schema_version: u32,
    pub months: BTreeSet<Month>,
}

impl Default for IndexDoc {
    fn default() -> Self {
        IndexDoc {
            schema_version: SCHEMA_VERSION,
            months: BTreeSet::new(),
        }
    }
}

impl IndexDoc {
    /// Forget months whose every entry is past `cutoff`; whether any was forgotten.
    pub fn prune(&mut self, cutoff: Option<DateTime<Utc>>) -> bool {
        let Some(cutoff) = cutoff else { return false };
        let before = self.months.len();
        self.months.retain(|m| m.end() > cutoff);
        self.months.len() != before
    }

    /// The newest month's end: the index is needed until that month's entries expire.
    pub fn latest(&self) -> Option<DateTime<Utc>> {
        self.months.last().map(|m| m.end())
    }
}

/// `audit:{U}:month:YYYY-MM`: how many entries each hour of the month holds, `counts[i]` for the
/// hour `i` hours after the month's start (trailing empty hours left out). One number per hour,
/// not a map: the document stays a few KB and parses in one allocation, read by every query.
///
/// An hour's entries fill chunk 0 to `chunk_size`, then chunk 1, …, so the count also says which
/// chunks exist: `count.div_ceil(chunk_size)` of them. The size is the month's own, fixed when
/// its document is created ([`CHUNK_CAPACITY`]; [`LEGACY_CHUNK_CAPACITY`] for documents without
/// one), so a change of the constant never misreads the chunks already written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MonthDoc {
    pub schema_version: u32,
    pub counts: Vec<u32>,
    #[serde(default = "legacy_chunk_size")]
    pub chunk_size: u32,
}

fn legacy_chunk_size() -> u32 {
    LEGACY_CHUNK_CAPACITY as u32
}

impl Default for MonthDoc {
    fn default() -> Self {
        MonthDoc {
            schema_version: SCHEMA_VERSION,
            counts: Vec::new(),
            chunk_size: CHUNK_CAPACITY as u32,
        }
    }
}

impl MonthDoc {
    /// Entries per chunk of this month's hours (at least 1, whatever the document says).
    pub fn chunk_capacity(&self) -> usize {
        (self.chunk_size as usize).max(1)
    }

    /// The chunks an hour of this month holding `count` entries has.
    pub fn chunks(&self, count: u32) -> usize {
        (count as usize).div_ceil(self.chunk_capacity())
    }

    /// `hour`'s position in `month`'s counts (`None`: not in that month).
    fn slot(month: Month, hour: Hour) -> Option<usize> {
        let first = Hour::of(month.start());
        (hour.month() == month).then(|| (hour.0 - first.0) as usize)
    }

    pub fn count(&self, month: Month, hour: Hour) -> u32 {
        Self::slot(month, hour)
            .and_then(|i| self.counts.get(i).copied())
            .unwrap_or(0)
    }

    /// The chunk new entries of `hour` go to (0 when the hour has none yet).
    pub fn last_chunk(&self, month: Month, hour: Hour) -> usize {
        self.chunks(self.count(month, hour)).saturating_sub(1)
    }

    /// Record that chunk `chunk` of `hour`, its last, holds `len` entries (the ones before it
    /// are full).
    pub fn set_count(&mut self, month: Month, hour: Hour, chunk: usize, len: usize) {
        let Some(i) = Self::slot(month, hour) else {
            return;
        };
        if self.counts.len() <= i {
            self.counts.resize(i + 1, 0);
        }
        let total = chunk * self.chunk_capacity() + len;
        self.counts[i] = u32::try_from(total).unwrap_or(u32::MAX);
    }

    /// The hours holding entries, oldest first, with their counts.
    pub fn hours(&self, month: Month) -> impl DoubleEndedIterator<Item = (Hour, u32)> + '_ {
        let first = Hour::of(month.start());
        self.counts
            .iter()
            .enumerate()
            .filter(|(_, count)| **count > 0)
            .map(move |(i, count)| (Hour(first.0 + i as i64), *count))
    }

    /// Forget hours whose every entry is past `cutoff`.
    pub fn prune(&mut self, month: Month, cutoff: Option<DateTime<Utc>>) {
        let Some(cutoff) = cutoff else { return };
        let first = Hour::of(month.start());
        for (i, count) in self.counts.iter_mut().enumerate() {
            if Hour(first.0 + i as i64).end() <= cutoff {
                *count = 0;
            }
        }
        while self.counts.last() == Some(&0) {
            self.counts.pop();
        }
    }
}

/// An hour chunk `audit:{U}:log:…` or a task's history `audit:{U}:task:…`: entries, the task's
/// sorted by (`time`, `event_id`), a chunk's in arrival order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EntriesDoc {
    pub schema_version: u32,
    pub entries: Vec<Entry>,
}

impl Default for EntriesDoc {
    fn default() -> Self {
        EntriesDoc {
            schema_version: SCHEMA_VERSION,
            entries: Vec::new(),
        }
    }
}

impl EntriesDoc {
    pub fn contains(&self, event_id: Uuid) -> bool {
        self.entries.iter().any(|e| e.event_id == event_id)
    }

    /// The latest `time` of its entries.
    pub fn latest(&self) -> Option<DateTime<Utc>> {
        self.entries.iter().map(|e| e.time).max()
    }
}

/// Any audit document, for a bulk read of keys of different kinds (the write's first read): the
/// one field present says which it is.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnyDoc {
    pub schema_version: u32,
    #[serde(default)]
    pub months: Option<BTreeSet<Month>>,
    #[serde(default)]
    pub counts: Option<Vec<u32>>,
    #[serde(default)]
    pub entries: Option<Vec<Entry>>,
    #[serde(default)]
    pub chunk_size: Option<u32>,
}

impl AnyDoc {
    pub fn into_index(self) -> Option<IndexDoc> {
        Some(IndexDoc {
            schema_version: self.schema_version,
            months: self.months?,
        })
    }

    pub fn into_month(self) -> Option<MonthDoc> {
        Some(MonthDoc {
            schema_version: self.schema_version,
            counts: self.counts?,
            chunk_size: self.chunk_size.unwrap_or_else(legacy_chunk_size),
        })
    }

    pub fn into_entries(self) -> Option<EntriesDoc> {
        Some(EntriesDoc {
            schema_version: self.schema_version,
            entries: self.entries?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn hours_and_months_bucket_utc_time() {
        let hour = Hour::of(t("2026-03-01T08:59:59.999Z"));
        assert_eq!(hour.label(), "2026-03-01T08");
        assert_eq!(hour.start(), t("2026-03-01T08:00:00Z"));
        assert_eq!(hour.end(), t("2026-03-01T09:00:00Z"));
        assert_eq!(
            Hour::of(t("2026-03-01T09:00:00Z")),
            Hour::parse("2026-03-01T09").unwrap()
        );
        assert!(Hour::of(t("2026-03-01T08:00:00Z")) < Hour::of(t("2026-03-01T09:00:00Z")));
        assert_eq!(hour.month().label(), "2026-03");
        let dec = Month::parse("2025-12").unwrap();
        assert_eq!(dec.start(), t("2025-12-01T00:00:00Z"));
        assert_eq!(dec.end(), t("2026-01-01T00:00:00Z"));
        assert_eq!(
            Month::of(t("2024-02-29T23:59:59Z")).end(),
            t("2024-03-01T00:00:00Z")
        );
        assert!(Month::parse("2025-12").unwrap() < Month::parse("2026-01").unwrap());
        for bad in ["2026-3", "2026-13", "26-03", "2026-03-01", ""] {
            assert_eq!(Month::parse(bad), None, "{bad}");
        }
        for bad in [
            "2026-03-01T24",
            "2026-03-01T8",
            "2026-02-30T08",
            "2026-03-01",
        ] {
            assert_eq!(Hour::parse(bad), None, "{bad}");
        }
        // Labels round trip through serde.
        let json = serde_json::to_string(&IndexDoc {
            schema_version: 1,
            months: [dec, hour.month()].into(),
        })
        .unwrap();
        assert_eq!(
            json,
            r#"{"schema_version":1,"months":["2025-12","2026-03"]}"#
        );
        assert_eq!(Hour::try_from("2026-03-01T08".to_owned()), Ok(hour));
    }

    #[test]
    fn keys_hash_tag_the_escaped_user() {
        let keys = Keys::new("alice");
        assert_eq!(keys.index(), "audit:{alice}:index");
        let hour = Hour::parse("2026-03-01T08").unwrap();
        assert_eq!(keys.month(hour.month()), "audit:{alice}:month:2026-03");
        assert_eq!(keys.chunk(hour, 2), "audit:{alice}:log:2026-03-01T08:2");
        assert_eq!(
            keys.task(Uuid::nil()),
            "audit:{alice}:task:00000000-0000-0000-0000-000000000000"
        );
        assert_eq!(
            Keys::new("a{b}||c d").index(),
            "audit:{a%7Bb%7D%7C%7Cc%20d}:index"
        );
    }

    #[test]
    fn retention_is_optional_and_bounded() {
        assert_eq!(Retention::parse(None), Ok(None));
        assert_eq!(Retention::parse(Some("")), Ok(None));
        assert_eq!(Retention::parse(Some(" 30 ")), Ok(Retention::days(30)));
        for bad in ["0", "-1", "1.5", "forever", "36501"] {
            assert!(Retention::parse(Some(bad)).is_err(), "{bad}");
        }
        let now = t("2026-03-31T12:00:00Z");
        let r = Retention::days(30).unwrap();
        assert_eq!(r.cutoff(now), t("2026-03-01T12:00:00Z"));
        assert!(is_expired(t("2026-03-01T11:59:59Z"), Some(r.cutoff(now))));
        assert!(!is_expired(t("2026-03-01T12:00:00Z"), Some(r.cutoff(now))));
        assert!(!is_expired(t("1990-01-01T00:00:00Z"), None));
    }

    #[test]
    fn ttls_run_to_the_bucket_end_plus_retention() {
        let now = t("2026-03-31T12:00:00Z");
        let r = Retention::days(1);
        assert_eq!(Ttl::until(None, now, now), Ttl::Forever);
        assert_eq!(Ttl::Forever.metadata(), "-1");
        // An hour ending at 13:00 today with one day's retention: 25 hours from now.
        let hour_end = t("2026-03-31T13:00:00Z");
        assert_eq!(Ttl::until(r, hour_end, now), Ttl::Seconds(25 * 3600));
        // Rounded up, and never zero.
        assert_eq!(
            Ttl::until(r, t("2026-03-30T12:00:00.001Z"), now),
            Ttl::Seconds(1)
        );
        assert_eq!(
            Ttl::until(r, t("2026-03-01T00:00:00Z"), now),
            Ttl::Seconds(1)
        );
    }

    #[test]
    fn pruning_forgets_buckets_whose_entries_all_expired() {
        let mut index = IndexDoc::default();
        for m in ["2026-01", "2026-02", "2026-03"] {
            index.months.insert(Month::parse(m).unwrap());
        }
        assert!(!index.prune(None));
        assert!(!index.prune(Some(t("2026-01-31T23:59:59Z"))));
        assert!(index.prune(Some(t("2026-02-01T00:00:00Z"))));
        assert_eq!(index.months.len(), 2);
        assert_eq!(index.latest(), Some(t("2026-04-01T00:00:00Z")));
        let march = Month::parse("2026-03").unwrap();
        let h = |label: &str| Hour::parse(label).unwrap();
        let mut month = MonthDoc::default();
        month.set_count(march, h("2026-03-01T08"), 0, 3);
        month.set_count(march, h("2026-03-01T09"), 0, 3);
        month.prune(march, Some(t("2026-03-01T09:00:00Z")));
        assert_eq!(month.hours(march).count(), 1);
        assert_eq!(month.last_chunk(march, h("2026-03-01T09")), 0);
        month.prune(march, Some(t("2026-03-01T10:00:00Z")));
        assert_eq!(
            month.counts,
            Vec::<u32>::new(),
            "trailing empty hours are left out"
        );
    }

    #[test]
    fn month_documents_count_entries_per_hour_and_imply_the_chunks() {
        let march = Month::parse("2026-03").unwrap();
        let h = |label: &str| Hour::parse(label).unwrap();
        // A month of chunks of 20 (as written before the size was 8): the size is the month's.
        let mut month = MonthDoc {
            chunk_size: 20,
            ..MonthDoc::default()
        };
        month.set_count(march, h("2026-03-01T02"), 0, 7);
        month.set_count(march, h("2026-03-02T00"), 2, 1);
        // Not an hour of March: ignored.
        month.set_count(march, h("2026-04-01T00"), 0, 1);
        let json = serde_json::to_string(&month).unwrap();
        let expected = format!(
            r#"{{"schema_version":1,"counts":[0,0,7{},41],"chunk_size":20}}"#,
            ",0".repeat(21)
        );
        assert_eq!(json, expected);
        assert_eq!(serde_json::from_str::<MonthDoc>(&json).unwrap(), month);
        assert_eq!(month.count(march, h("2026-03-02T00")), 41);
        assert_eq!(month.last_chunk(march, h("2026-03-02T00")), 2);
        assert_eq!(month.last_chunk(march, h("2026-03-01T02")), 0);
        assert_eq!(month.last_chunk(march, h("2026-03-05T00")), 0);
        let hours: Vec<(String, u32)> = month
            .hours(march)
            .rev()
            .map(|(hour, n)| (hour.label(), n))
            .collect();
        assert_eq!(
            hours,
            [
                ("2026-03-02T00".to_owned(), 41),
                ("2026-03-01T02".to_owned(), 7)
            ]
        );
        assert_eq!(
            (
                month.chunks(0),
                month.chunks(1),
                month.chunks(20),
                month.chunks(21)
            ),
            (0, 1, 1, 2)
        );
    }

    #[test]
    fn a_month_document_without_a_chunk_size_keeps_chunks_of_100() {
        let march = Month::parse("2026-03").unwrap();
        let hour = Hour::parse("2026-03-02T00").unwrap();
        let old: MonthDoc =
            serde_json::from_str(r#"{"schema_version":1,"counts":[0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,101]}"#)
                .unwrap();
        assert_eq!(old.chunk_size, 100);
        assert_eq!((old.chunks(100), old.chunks(101)), (1, 2));
        assert_eq!(old.last_chunk(march, hour), 1);
        let mut written = old;
        written.set_count(march, hour, 1, 2);
        assert_eq!(written.count(march, hour), 102);
        let json = serde_json::to_value(&written).unwrap();
        assert_eq!(
            json["chunk_size"], 100,
            "kept when the document is rewritten"
        );
    }
}
