//! IANA time zones for chrono: every zone and link of the tz database with its full history,
//! from a compact table (about 30 KB of a wasm component, where chrono-tz takes some 900 KB).
//!
//! [`Tz`] implements [`chrono::TimeZone`], so `DateTime::with_timezone` and
//! `TimeZone::from_local_datetime` work as with `chrono_tz::Tz`, and give the same answers:
//! `table.bin` is generated from chrono-tz (`tests/zone_table.rs`), and `tests.rs` checks it
//! against chrono-tz at every transition and at random instants. Only the UTC offset of each
//! span is kept (no abbreviations; an offset displays as `+01:00`). Like chrono-tz's data, the
//! table has transitions from 1800 through 2099; the offset in force after the last one holds
//! after it.
use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;
use std::sync::OnceLock;

use chrono::{FixedOffset, MappedLocalTime, NaiveDate, NaiveDateTime, NaiveTime, Offset, TimeZone};

mod table;
#[cfg(test)]
mod tests;

/// The version of the tz database the table was built from.
pub const TZDB_VERSION: &str = table::TZDB_VERSION;

/// 1800-01-01T00:00:00Z: the table's transition times count from here.
const TABLE_EPOCH: i64 = -5_364_662_400;

/// The most distinct offsets one zone has had (checked over the whole table by a test).
const MAX_PALETTE: usize = 24;

/// `table.bin`, inflated on first use: build.rs deflates it to less than half its size.
fn table() -> &'static [u8] {
    static TABLE: OnceLock<Vec<u8>> = OnceLock::new();
    TABLE.get_or_init(|| {
        let deflated = include_bytes!(concat!(env!("OUT_DIR"), "/table.bin.deflate"));
        miniz_oxide::inflate::decompress_to_vec(deflated).expect("build.rs deflated the table")
    })
}

/// An IANA time zone (or link) name of the tz database.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Tz(u16);

/// A name that is not in the tz database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownZone;

impl fmt::Display for UnknownZone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("not an IANA time zone name")
    }
}

impl std::error::Error for UnknownZone {}

impl Tz {
    pub const UTC: Tz = Tz(table::UTC);

    /// The zone with exactly this name (case-sensitive).
    #[must_use]
    pub const fn named(name: &str) -> Option<Tz> {
        let (mut low, mut high) = (0, NAME_COUNT);
        while low < high {
            let middle = low + (high - low) / 2;
            match compare(name_bytes(middle), name.as_bytes()) {
                Ordering::Less => low = middle + 1,
                Ordering::Greater => high = middle,
                #[allow(clippy::cast_possible_truncation)] // fewer than 2^16 names
                Ordering::Equal => return Some(Tz(middle as u16)),
            }
        }
        None
    }

    /// The zone with this name, for constants: `const BERLIN: Tz = Tz::known("Europe/Berlin")`
    /// fails to compile for a name that is not in the table.
    ///
    /// # Panics
    ///
    /// If no zone has this name.
    #[must_use]
    pub const fn known(name: &str) -> Tz {
        match Self::named(name) {
            Some(zone) => zone,
            None => panic!("not a time zone name"),
        }
    }

    #[must_use]
    pub fn name(self) -> &'static str {
        let index = usize::from(self.0);
        &table::NAMES
            [usize::from(table::NAME_STARTS[index])..usize::from(table::NAME_STARTS[index + 1])]
    }

    /// Every name, sorted.
    pub fn all() -> impl Iterator<Item = Tz> {
        (0..NAME_COUNT).filter_map(|i| u16::try_from(i).ok().map(Tz))
    }

    fn spans(self) -> Spans {
        let zone = usize::from(table::ZONE_OF_NAME[usize::from(self.0)]);
        let bytes = &table()
            [usize::from(table::ZONE_STARTS[zone])..usize::from(table::ZONE_STARTS[zone + 1])];
        let mut pos = 0;
        let palette_len = read_varint(bytes, &mut pos) as usize;
        let mut palette = [0i32; MAX_PALETTE];
        for slot in palette.iter_mut().take(palette_len) {
            *slot = unzigzag(read_varint(bytes, &mut pos));
        }
        let first = palette[usize::from(bytes[pos])];
        pos += 1;
        let remaining = read_varint(bytes, &mut pos) as usize;
        Spans {
            palette,
            bytes: &bytes[pos..],
            pos: 0,
            remaining,
            start: None,
            offset: first,
            earlier: [(TABLE_EPOCH, first); 2],
            repeats: 0,
        }
    }

    /// The zone's spans, decoded once per zone and kept (a few KB) so that lookups are binary
    /// searches.
    fn decoded(self) -> &'static [Span] {
        static DECODED: [OnceLock<Box<[Span]>>; table::ZONE_STARTS.len() - 1] =
            [const { OnceLock::new() }; table::ZONE_STARTS.len() - 1];
        let zone = usize::from(table::ZONE_OF_NAME[usize::from(self.0)]);
        DECODED[zone].get_or_init(|| self.spans().collect())
    }

    /// The index of the span in force at `utc` (seconds since the Unix epoch).
    fn span_index_at(spans: &[Span], utc: i64) -> usize {
        // Span 0 has no start and is always "started".
        spans
            .partition_point(|span| span.start.is_none_or(|start| start <= utc))
            .saturating_sub(1)
    }

    /// The UTC offset in force at `utc` (seconds since the Unix epoch).
    fn offset_at(self, utc: i64) -> i32 {
        let spans = self.decoded();
        spans[Self::span_index_at(spans, utc)].offset
    }

    /// The offsets of the (at most two, earlier first) spans whose wall clock shows `local`.
    fn offsets_showing(self, local: i64) -> MappedLocalTime<i32> {
        // Offsets are under a day, so only spans in force within two days of `local` read as
        // UTC can show it.
        const NEAR: i64 = 2 * 86_400;
        let spans = self.decoded();
        let first = Self::span_index_at(spans, local.saturating_sub(NEAR));
        let mut found: Option<i32> = None;
        for span in &spans[first..] {
            if span
                .start
                .is_some_and(|start| start > local.saturating_add(NEAR))
            {
                break;
            }
            let offset = i64::from(span.offset);
            let shows_from = span.start.map_or(i64::MIN, |start| start + offset);
            let shows_until = span.end.map_or(i64::MAX, |end| end + offset);
            if shows_from <= local && local < shows_until {
                match found {
                    None => found = Some(span.offset),
                    Some(earlier) => return MappedLocalTime::Ambiguous(earlier, span.offset),
                }
            }
        }
        match found {
            Some(offset) => MappedLocalTime::Single(offset),
            None => MappedLocalTime::None,
        }
    }

    fn fixed(self, offset: i32) -> TzOffset {
        TzOffset {
            zone: self,
            fixed: FixedOffset::east_opt(offset)
                .unwrap_or(FixedOffset::east_opt(0).unwrap_or_else(|| unreachable!())),
        }
    }
}

impl Default for Tz {
    fn default() -> Self {
        Self::UTC
    }
}

impl fmt::Debug for Tz {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl fmt::Display for Tz {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Tz {
    type Err = UnknownZone;

    fn from_str(name: &str) -> Result<Self, UnknownZone> {
        Self::named(name).ok_or(UnknownZone)
    }
}

/// A zone's UTC offset at some instant.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct TzOffset {
    zone: Tz,
    fixed: FixedOffset,
}

impl Offset for TzOffset {
    fn fix(&self) -> FixedOffset {
        self.fixed
    }
}

impl fmt::Debug for TzOffset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.fixed, f)
    }
}

impl fmt::Display for TzOffset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.fixed, f)
    }
}

impl TimeZone for Tz {
    type Offset = TzOffset;

    fn from_offset(offset: &TzOffset) -> Self {
        offset.zone
    }

    /// As chrono-tz: one offset in force on that day, preferring one without ambiguity.
    #[allow(deprecated)]
    fn offset_from_local_date(&self, local: &NaiveDate) -> MappedLocalTime<TzOffset> {
        use chrono::LocalResult::{Ambiguous, None, Single};
        let earliest = self.offset_from_local_datetime(&local.and_time(NaiveTime::MIN));
        let latest =
            self.offset_from_local_datetime(&local.and_hms_opt(23, 59, 59).unwrap_or_default());
        match (earliest, latest) {
            (result @ Single(_), _) | (_, result @ Single(_)) => result,
            (Ambiguous(offset, _), _) | (_, Ambiguous(offset, _)) => Single(offset),
            (None, None) => None,
        }
    }

    fn offset_from_local_datetime(&self, local: &NaiveDateTime) -> MappedLocalTime<TzOffset> {
        self.offsets_showing(local.and_utc().timestamp())
            .map(|offset| self.fixed(offset))
    }

    fn offset_from_utc_date(&self, utc: &NaiveDate) -> TzOffset {
        self.offset_from_utc_datetime(&utc.and_time(NaiveTime::MIN))
    }

    fn offset_from_utc_datetime(&self, utc: &NaiveDateTime) -> TzOffset {
        self.fixed(self.offset_at(utc.and_utc().timestamp()))
    }
}

/// One span of a zone's history: from `start` (inclusive; `None` = the beginning of time) to
/// `end` (exclusive; `None` = forever), UTC seconds, with `offset`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Span {
    start: Option<i64>,
    end: Option<i64>,
    offset: i32,
}

/// Decodes a zone's entry: see `tests/zone_table.rs` for the format.
struct Spans {
    palette: [i32; MAX_PALETTE],
    bytes: &'static [u8],
    pos: usize,
    remaining: usize,
    /// The start of the next span to yield and its offset.
    start: Option<i64>,
    offset: i32,
    /// The two transitions read last, earlier first (the table's epoch before the first).
    earlier: [(i64, i32); 2],
    /// The packed repeats not yet read: one bit each above the lowest, then a 1 (or 0 or 1 when
    /// none is left).
    repeats: u8,
}

impl Spans {
    fn next_transition(&mut self) -> Option<(i64, i32)> {
        if self.remaining == 0 {
            return None;
        }
        self.remaining -= 1;
        if self.repeats <= 1 {
            let tag = self.bytes[self.pos];
            match tag & 0b11 {
                0b00 => {
                    self.pos += 1;
                    return Some(self.repeat(tag >> 2));
                }
                0b10 => {
                    self.pos += 1;
                    self.repeats = tag >> 2;
                }
                _ => {
                    let code = read_varint(self.bytes, &mut self.pos) >> 1;
                    let step = if code & 1 == 0 {
                        (code >> 1) * 60
                    } else {
                        code >> 1
                    };
                    let at = self.earlier[1]
                        .0
                        .saturating_add(i64::try_from(step).unwrap_or(i64::MAX / 2));
                    let offset = self.palette[usize::from(self.bytes[self.pos])];
                    self.pos += 1;
                    return Some(self.record(at, offset));
                }
            }
        }
        let days = 7 * (self.repeats & 1);
        self.repeats >>= 1;
        Some(self.repeat(days))
    }

    /// Transition `i - 2`'s offset again, `364 + days` days after it.
    fn repeat(&mut self, days: u8) -> (i64, i32) {
        let (at, offset) = self.earlier[0];
        self.record(at + (364 + i64::from(days)) * 86_400, offset)
    }

    fn record(&mut self, at: i64, offset: i32) -> (i64, i32) {
        self.earlier = [self.earlier[1], (at, offset)];
        (at, offset)
    }
}

impl Iterator for Spans {
    type Item = Span;

    fn next(&mut self) -> Option<Span> {
        if self.offset == i32::MIN {
            return None;
        }
        let start = self.start;
        let offset = self.offset;
        match self.next_transition() {
            Some((at, next_offset)) => {
                self.start = Some(at);
                self.offset = next_offset;
                Some(Span {
                    start,
                    end: Some(at),
                    offset,
                })
            }
            None => {
                self.offset = i32::MIN;
                Some(Span {
                    start,
                    end: None,
                    offset,
                })
            }
        }
    }
}

/// How many names the table has.
const NAME_COUNT: usize = table::NAME_STARTS.len() - 1;

/// The name at `index`, as bytes, in a `const fn`.
const fn name_bytes(index: usize) -> &'static [u8] {
    let start = table::NAME_STARTS[index] as usize;
    let (_, rest) = table::NAMES.as_bytes().split_at(start);
    let (name, _) = rest.split_at(table::NAME_STARTS[index + 1] as usize - start);
    name
}

/// `a.cmp(b)` as a `const fn`: bytewise, as `str` orders.
const fn compare(a: &[u8], b: &[u8]) -> Ordering {
    let mut i = 0;
    while i < a.len() && i < b.len() {
        if a[i] != b[i] {
            return if a[i] < b[i] {
                Ordering::Less
            } else {
                Ordering::Greater
            };
        }
        i += 1;
    }
    if a.len() < b.len() {
        Ordering::Less
    } else if a.len() > b.len() {
        Ordering::Greater
    } else {
        Ordering::Equal
    }
}

fn read_varint(bytes: &[u8], pos: &mut usize) -> u64 {
    let mut value = 0u64;
    let mut shift = 0;
    while let Some(&byte) = bytes.get(*pos) {
        *pos += 1;
        value |= u64::from(byte & 0x7f) << shift;
        if byte < 0x80 {
            break;
        }
        shift += 7;
    }
    value
}

fn unzigzag(value: u64) -> i32 {
    let magnitude = i32::try_from(value >> 1).unwrap_or(i32::MAX);
    if value & 1 == 0 {
        magnitude
    } else {
        -magnitude - 1
    }
}
