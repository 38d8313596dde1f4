//! Recurrence rules for repeating tasks (pure, no I/O).
//!
//! A task's `recurrence_rule` string is parsed into a [`RecurrenceRule`], which can then
//! compute occurrence `n` of a series with [`RecurrenceRule::occurrence`].
//!
//! # Accepted input
//!
//! Input is case-insensitive and surrounding whitespace is ignored.
//!
//! 1. **Shorthands**: `daily`, `weekly`, `monthly`, `yearly`, `every N days`,
//!    `every N weeks` (N ≥ 1; `every 1 day` / `every 1 week` are accepted too).
//!    `monthly` and `yearly` *clamp* to the last day of a shorter month and are always
//!    computed from the series start (occurrence n = start + n months), so they never
//!    drift: Jan 31 → Feb 28 (29 in leap years) → Mar 31 → Apr 30; Feb 29 yearly →
//!    Feb 28 in non-leap years, Feb 29 again in leap years.
//! 2. **RFC 5545 RRULEs** (optionally prefixed with `RRULE:`) with *strict* RFC semantics:
//!    `FREQ=DAILY|WEEKLY|MONTHLY|YEARLY`, `INTERVAL`, `BYDAY` (ordinals such as `1MO`,
//!    `-1FR` only with MONTHLY/YEARLY), `BYMONTHDAY` (1..31, -31..-1 where -1 is the last
//!    day), `BYMONTH`, `WKST`, and `COUNT` *or* `UNTIL`. Strict means a monthly rule on the
//!    31st skips months without a 31st (Jan 31 → Mar 31) and a yearly rule on Feb 29 only
//!    fires in leap years. Every other rule part (`BYHOUR`, `BYMINUTE`, `BYSECOND`,
//!    `BYSETPOS`, `BYYEARDAY`, `BYWEEKNO`, sub-daily frequencies, multi-line iCalendar
//!    with `DTSTART`/`RDATE`/`EXDATE`, ...) is rejected: we only accept what we honour.
//!
//! # Time zones
//!
//! Occurrences are computed on the wall clock of the task's IANA time zone and then
//! converted to UTC, so a daily 09:00 Europe/Berlin task stays at 09:00 local time across
//! DST changes. When a computed local time does not exist (spring-forward gap) it is
//! shifted forward by the length of the gap (02:30 in a 02:00→03:00 gap becomes 03:30);
//! when it is ambiguous (fall-back overlap) the earlier of the two instants is used.
//! Sub-second precision of the series start is carried over to every occurrence.

use std::fmt;

use chrono::{
    DateTime, Datelike, Days, LocalResult, Months, NaiveDate, NaiveDateTime, Offset, TimeDelta,
    TimeZone, Timelike, Utc, Weekday,
};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::formats;
use crate::tz::Tz;

mod expand;

/// Occurrence indexes above this return `None` (about 274 years of a daily task).
///
/// RRULE occurrences are found by expanding the rule from the series start, so the cost
/// of [`RecurrenceRule::occurrence`] is linear in the index; this cap bounds it.
pub const MAX_OCCURRENCE_INDEX: u32 = 100_000;

/// Occurrences whose local date falls after this year return `None` (the series is treated
/// as ended). This also bounds the expansion of RRULEs that match only rarely.
pub const MAX_YEAR: i32 = 9999;

/// A rule's text is at most this many characters (the schema's `maxLength`).
pub const MAX_RULE_CHARS: usize = 500;

const SUPPORTED: &str = "supported forms are `daily`, `weekly`, `monthly`, `yearly`, \
`every N days`, `every N weeks` (N >= 1), or an RFC 5545 RRULE with FREQ=DAILY|WEEKLY|MONTHLY|YEARLY \
and optional INTERVAL, BYDAY (e.g. MO,WE,FR; ordinals like 1MO or -1FR only with MONTHLY/YEARLY), \
BYMONTHDAY (1..31 or -31..-1), BYMONTH (1..12), WKST, and COUNT or UNTIL (not both)";

/// Why a recurrence rule string was refused.
///
/// The `Display` text names the problem and lists the supported forms, so it can be shown
/// to the user as-is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecurrenceError {
    /// Well-formed, but uses a feature we do not implement (e.g. `FREQ=HOURLY`, `BYSETPOS`).
    #[error("unsupported recurrence rule: {0}; {supported}", supported = SUPPORTED)]
    Unsupported(String),
    /// Malformed or meaningless input (e.g. `every 0 days`, `COUNT` with `UNTIL`, garbage).
    #[error("invalid recurrence rule: {0}; {supported}", supported = SUPPORTED)]
    Invalid(String),
}

fn invalid(msg: impl Into<String>) -> RecurrenceError {
    RecurrenceError::Invalid(msg.into())
}

fn unsupported(msg: impl Into<String>) -> RecurrenceError {
    RecurrenceError::Unsupported(msg.into())
}

/// A parsed, validated recurrence rule.
///
/// Equality is structural on the normalised rule; [`RecurrenceRule::as_str`] gives the
/// canonical text, and `RecurrenceRule::parse(rule.as_str()) == Ok(rule)`. Serde
/// serialises it as that canonical string and deserialises by parsing.
///
/// # Occurrence numbering
///
/// Occurrence 0 is always the series start itself (the task the user created), even if it
/// does not match the rule (e.g. a `BYDAY=MO` rule started on a Sunday) and even if it lies
/// after `UNTIL`. Occurrences 1, 2, ... are the rule's instances strictly after the series
/// start, in order. For RRULEs this means: expand with DTSTART = series start (in the
/// task's time zone), drop a leading instance equal to the start, number the rest from 1.
/// `COUNT=N` means N occurrences in total *including* occurrence 0; `UNTIL` is inclusive.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecurrenceRule {
    kind: Kind,
    canonical: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Kind {
    /// `daily`, `every N days`.
    EveryDays(u32),
    /// `weekly`, `every N weeks`.
    EveryWeeks(u32),
    /// `monthly`: start + n months, clamped to the month's last day.
    Monthly,
    /// `yearly`: start + n years, clamped (Feb 29 → Feb 28 in non-leap years).
    Yearly,
    /// A strict RFC 5545 RRULE.
    RRule(RRuleSpec),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Freq {
    Daily,
    Weekly,
    Monthly,
    Yearly,
}

impl Freq {
    fn as_str(self) -> &'static str {
        match self {
            Self::Daily => "DAILY",
            Self::Weekly => "WEEKLY",
            Self::Monthly => "MONTHLY",
            Self::Yearly => "YEARLY",
        }
    }
}

/// One `BYDAY` entry: an optional signed ordinal plus a weekday (`MO`, `1MO`, `-1FR`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct ByDay {
    ordinal: Option<i8>,
    weekday: Weekday,
}

/// The end of an RRULE series.
#[derive(Clone, Debug, PartialEq, Eq)]
enum End {
    Never,
    /// Total number of occurrences, including occurrence 0.
    Count(u32),
    Until(Until),
}

/// `UNTIL` in its three RFC 5545 forms; all are inclusive.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Until {
    /// `YYYYMMDDTHHMMSSZ`: an absolute instant.
    Utc(DateTime<Utc>),
    /// `YYYYMMDDTHHMMSS`: a wall-clock time in the task's time zone.
    Local(NaiveDateTime),
    /// `YYYYMMDD`: through the end of that local date in the task's time zone.
    Date(NaiveDate),
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct RRuleSpec {
    freq: Freq,
    interval: u16,
    by_month: Vec<u8>,
    by_month_day: Vec<i8>,
    by_day: Vec<ByDay>,
    wkst: Weekday,
    end: End,
}

impl RecurrenceRule {
    /// Parses a shorthand or an RFC 5545 RRULE (see the module docs for the accepted forms).
    ///
    /// # Errors
    ///
    /// [`RecurrenceError::Unsupported`] for well-formed features we do not implement,
    /// [`RecurrenceError::Invalid`] for anything else that is not an accepted rule.
    pub fn parse(input: &str) -> Result<Self, RecurrenceError> {
        let trimmed = input.trim();
        if trimmed.is_empty() {
            return Err(invalid("the rule is empty"));
        }
        let chars = input.chars().count();
        if chars > MAX_RULE_CHARS {
            return Err(invalid(format!(
                "the rule is {chars} characters long; at most {MAX_RULE_CHARS} are accepted"
            )));
        }
        if trimmed.contains(['\n', '\r']) {
            return Err(unsupported(
                "multi-line iCalendar (DTSTART, RDATE, EXDATE, several RRULEs) is not supported; \
                 give a single rule (the series starts at the task's due date)",
            ));
        }
        let kind = if let Some(kind) = parse_shorthand(trimmed)? {
            kind
        } else if trimmed.contains('=') {
            Kind::RRule(parse_rrule(trimmed)?)
        } else {
            return Err(invalid(format!("`{trimmed}` is not a recognised rule")));
        };
        let canonical = canonical_text(&kind);
        Ok(Self { kind, canonical })
    }

    /// Canonical text (normalised; `parse(canonical) == self`).
    ///
    /// Shorthands are lower case (`daily`, `every 3 weeks`; `every 1 day` becomes `daily`).
    /// RRULEs are upper case without the `RRULE:` prefix, parts in the order
    /// `FREQ;INTERVAL;BYMONTH;BYMONTHDAY;BYDAY;WKST;COUNT;UNTIL`, defaults (`INTERVAL=1`,
    /// `WKST=MO`) omitted and list values sorted and de-duplicated.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.canonical
    }

    /// An RRULE's `COUNT`: how many occurrences the series has in all, occurrence 0 included
    /// (`None` for shorthands and for RRULEs without `COUNT`).
    #[must_use]
    pub fn count(&self) -> Option<u32> {
        match &self.kind {
            Kind::RRule(RRuleSpec {
                end: End::Count(count),
                ..
            }) => Some(*count),
            _ => None,
        }
    }

    /// Occurrence `index` of a series whose occurrence 0 is `series_start` (the first
    /// task's due date), computed on the wall clock of `tz`.
    ///
    /// * Occurrence 0 is always `series_start`; 1.. are the rule's instances strictly after
    ///   it (see [`RecurrenceRule`] for the exact numbering, COUNT and UNTIL).
    /// * The local time of day of `series_start` is kept across DST changes; nonexistent
    ///   local times are shifted forward by the gap, ambiguous ones take the earlier instant.
    /// * Returns `None` when the series has ended (COUNT reached, past UNTIL), when
    ///   `index > MAX_OCCURRENCE_INDEX`, or when the occurrence's local date would fall after
    ///   year [`MAX_YEAR`] (also the bound on expanding rarely matching RRULEs).
    ///
    /// Shorthands are computed in O(1); RRULEs are expanded from the start, O(index): about
    /// 0.12 ms for index 3,000 of `FREQ=DAILY` in Europe/Berlin (native, release). The worst case
    /// is a rule that matches only every few decades, e.g.
    /// `FREQ=DAILY;BYMONTH=2;BYMONTHDAY=29;BYDAY=MO`, which walks day by day up to
    /// [`MAX_YEAR`] (about 40 ms native release) before `None`.
    #[must_use]
    pub fn occurrence(
        &self,
        series_start: DateTime<Utc>,
        tz: Tz,
        index: u32,
    ) -> Option<DateTime<Utc>> {
        if index == 0 {
            return Some(series_start);
        }
        if index > MAX_OCCURRENCE_INDEX {
            return None;
        }
        let local_start = series_start.with_timezone(&tz).naive_local();
        let local = match &self.kind {
            Kind::EveryDays(n) => add_days(local_start, u64::from(*n) * u64::from(index))?,
            Kind::EveryWeeks(n) => add_days(local_start, 7 * u64::from(*n) * u64::from(index))?,
            Kind::Monthly => add_months(local_start, index)?,
            Kind::Yearly => add_months(local_start, index.checked_mul(12)?)?,
            Kind::RRule(spec) => return rrule_occurrence(spec, local_start, tz, index),
        };
        if local.year() > MAX_YEAR {
            return None;
        }
        resolve_local(tz, local)
    }
}

impl fmt::Display for RecurrenceRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.canonical)
    }
}

impl std::str::FromStr for RecurrenceRule {
    type Err = RecurrenceError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl Serialize for RecurrenceRule {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.canonical)
    }
}

impl<'de> Deserialize<'de> for RecurrenceRule {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Self::parse(&text).map_err(serde::de::Error::custom)
    }
}

// ---------------------------------------------------------------------------------------
// Parsing
// ---------------------------------------------------------------------------------------

/// `Ok(None)` when the input is not shaped like a shorthand at all.
fn parse_shorthand(input: &str) -> Result<Option<Kind>, RecurrenceError> {
    let lower = input.to_ascii_lowercase();
    let words: Vec<&str> = lower.split_whitespace().collect();
    let kind = match words.as_slice() {
        ["daily"] => Kind::EveryDays(1),
        ["weekly"] => Kind::EveryWeeks(1),
        ["monthly"] => Kind::Monthly,
        ["yearly"] => Kind::Yearly,
        ["every", n, unit @ ("day" | "days" | "week" | "weeks")] => {
            let n = parse_every_count(n)?;
            if unit.starts_with("day") {
                Kind::EveryDays(n)
            } else {
                Kind::EveryWeeks(n)
            }
        }
        [
            "every",
            _,
            unit
            @ ("month" | "months" | "year" | "years" | "hour" | "hours" | "minute" | "minutes"),
        ] => {
            return Err(unsupported(format!(
                "`every N {unit}` is not supported (only days and weeks; use monthly, yearly or an RRULE)"
            )));
        }
        _ => return Ok(None),
    };
    Ok(Some(kind))
}

fn parse_every_count(text: &str) -> Result<u32, RecurrenceError> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid(format!(
            "in `every N days|weeks`, N must be a whole number >= 1, got `{text}`"
        )));
    }
    match text.parse::<u32>() {
        Ok(0) => Err(invalid(
            "in `every N days|weeks`, N must be at least 1, got 0",
        )),
        Ok(n) => Ok(n),
        Err(_) => Err(invalid(format!(
            "in `every N days|weeks`, N is too large: `{text}`"
        ))),
    }
}

fn parse_rrule(input: &str) -> Result<RRuleSpec, RecurrenceError> {
    let upper = input.to_ascii_uppercase();
    let body = upper.strip_prefix("RRULE:").unwrap_or(&upper).trim();

    let mut freq = None;
    let mut interval = None;
    let mut count = None;
    let mut until = None;
    let mut by_day = None;
    let mut by_month_day = None;
    let mut by_month = None;
    let mut wkst = None;

    for part in body.split(';').map(str::trim).filter(|p| !p.is_empty()) {
        let Some((name, value)) = part.split_once('=') else {
            return Err(invalid(format!("expected NAME=VALUE, got `{part}`")));
        };
        let (name, value) = (name.trim(), value.trim());
        if value.is_empty() {
            return Err(invalid(format!("{name} has no value")));
        }
        let already_set = match name {
            "FREQ" => freq.replace(value).is_some(),
            "INTERVAL" => interval.replace(value).is_some(),
            "COUNT" => count.replace(value).is_some(),
            "UNTIL" => until.replace(value).is_some(),
            "BYDAY" => by_day.replace(value).is_some(),
            "BYMONTHDAY" => by_month_day.replace(value).is_some(),
            "BYMONTH" => by_month.replace(value).is_some(),
            "WKST" => wkst.replace(value).is_some(),
            "BYSECOND" | "BYMINUTE" | "BYHOUR" | "BYYEARDAY" | "BYWEEKNO" | "BYSETPOS"
            | "BYEASTER" | "RSCALE" | "SKIP" => {
                return Err(unsupported(format!("rule part {name} is not supported")));
            }
            "DTSTART" | "RDATE" | "EXDATE" | "EXRULE" => {
                return Err(unsupported(format!(
                    "{name} is not supported (the series starts at the task's due date)"
                )));
            }
            _ => return Err(invalid(format!("unknown rule part `{name}`"))),
        };
        if already_set {
            return Err(invalid(format!("{name} is given more than once")));
        }
    }

    let freq = match freq {
        None => return Err(invalid("FREQ is required in an RRULE")),
        Some("DAILY") => Freq::Daily,
        Some("WEEKLY") => Freq::Weekly,
        Some("MONTHLY") => Freq::Monthly,
        Some("YEARLY") => Freq::Yearly,
        Some(f @ ("SECONDLY" | "MINUTELY" | "HOURLY")) => {
            return Err(unsupported(format!(
                "FREQ={f} is not supported (only DAILY, WEEKLY, MONTHLY, YEARLY)"
            )));
        }
        Some(f) => return Err(invalid(format!("unknown FREQ `{f}`"))),
    };

    let interval = match interval {
        None => 1,
        Some(text) => match parse_unsigned::<u16>(text) {
            Some(n) if n >= 1 => n,
            _ => {
                return Err(invalid(format!(
                    "INTERVAL must be a whole number from 1 to {}, got `{text}`",
                    u16::MAX
                )));
            }
        },
    };

    let end = match (count, until) {
        (Some(_), Some(_)) => {
            return Err(invalid("COUNT and UNTIL must not both be given"));
        }
        (Some(text), None) => match parse_unsigned::<u32>(text) {
            Some(n) if n >= 1 => End::Count(n),
            _ => {
                return Err(invalid(format!(
                    "COUNT must be a whole number >= 1, got `{text}`"
                )));
            }
        },
        (None, Some(text)) => End::Until(parse_until(text)?),
        (None, None) => End::Never,
    };

    let wkst = match wkst {
        None => Weekday::Mon,
        Some(text) => parse_weekday(text)
            .ok_or_else(|| invalid(format!("WKST must be one of MO..SU, got `{text}`")))?,
    };

    let mut by_month = match by_month {
        None => Vec::new(),
        Some(text) => parse_list(text, "BYMONTH", |item| {
            parse_unsigned::<u8>(item).filter(|m| (1..=12).contains(m))
        })?,
    };
    sort_dedup_short(&mut by_month, |m| *m);

    let mut by_month_day = match by_month_day {
        None => Vec::new(),
        Some(text) => parse_list(text, "BYMONTHDAY", |item| {
            parse_signed(item)
                .and_then(|d| i8::try_from(d).ok())
                .filter(|d| *d != 0 && (-31..=31).contains(d))
        })?,
    };
    sort_dedup_short(&mut by_month_day, |d| *d);
    if freq == Freq::Weekly && !by_month_day.is_empty() {
        return Err(invalid("BYMONTHDAY must not be used with FREQ=WEEKLY"));
    }

    let mut by_day = match by_day {
        None => Vec::new(),
        Some(text) => parse_list(text, "BYDAY", parse_by_day)?,
    };
    sort_dedup_short(&mut by_day, |d| {
        (d.weekday.num_days_from_monday(), d.ordinal)
    });
    for day in &by_day {
        let Some(n) = day.ordinal else { continue };
        let limit = match freq {
            Freq::Daily | Freq::Weekly => {
                return Err(invalid(format!(
                    "BYDAY ordinals like {} are only allowed with FREQ=MONTHLY or FREQ=YEARLY",
                    by_day_text(*day)
                )));
            }
            Freq::Monthly => 5,
            Freq::Yearly if !by_month.is_empty() => 5,
            Freq::Yearly => 53,
        };
        if n.unsigned_abs() > limit {
            return Err(invalid(format!(
                "BYDAY {} is out of range (ordinals go from -{limit} to {limit}, not 0)",
                by_day_text(*day)
            )));
        }
    }

    // Reject combinations that can never match (they would only expand up to the horizon).
    if !by_month.is_empty() && !by_month_day.is_empty() {
        let possible = by_month.iter().any(|&m| {
            let days_in_month: u8 = match m {
                2 => 29,
                4 | 6 | 9 | 11 => 30,
                _ => 31,
            };
            by_month_day
                .iter()
                .any(|d| d.unsigned_abs() <= days_in_month)
        });
        if !possible {
            return Err(invalid(
                "BYMONTHDAY never falls inside the given BYMONTH, so the rule never repeats",
            ));
        }
    }

    Ok(RRuleSpec {
        freq,
        interval,
        by_month,
        by_month_day,
        by_day,
        wkst,
        end,
    })
}

fn parse_list<T>(
    text: &str,
    name: &str,
    parse_item: impl Fn(&str) -> Option<T>,
) -> Result<Vec<T>, RecurrenceError> {
    text.split(',')
        .map(|item| {
            let item = item.trim();
            parse_item(item).ok_or_else(|| invalid(format!("{name} has an invalid value `{item}`")))
        })
        .collect()
}

fn parse_unsigned<T: std::str::FromStr>(text: &str) -> Option<T> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// `[+|-]digits`, at most a few digits (values are small).
fn parse_signed(text: &str) -> Option<i32> {
    let (negative, digits) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    if digits.len() > 3 {
        return None;
    }
    let value = parse_unsigned::<i32>(digits)?;
    Some(if negative { -value } else { value })
}

fn parse_weekday(text: &str) -> Option<Weekday> {
    Some(match text {
        "MO" => Weekday::Mon,
        "TU" => Weekday::Tue,
        "WE" => Weekday::Wed,
        "TH" => Weekday::Thu,
        "FR" => Weekday::Fri,
        "SA" => Weekday::Sat,
        "SU" => Weekday::Sun,
        _ => return None,
    })
}

fn weekday_code(day: Weekday) -> &'static str {
    match day {
        Weekday::Mon => "MO",
        Weekday::Tue => "TU",
        Weekday::Wed => "WE",
        Weekday::Thu => "TH",
        Weekday::Fri => "FR",
        Weekday::Sat => "SA",
        Weekday::Sun => "SU",
    }
}

fn parse_by_day(text: &str) -> Option<ByDay> {
    if text.len() < 2 || !text.is_char_boundary(text.len() - 2) {
        return None;
    }
    let (ordinal_text, code) = text.split_at(text.len() - 2);
    let weekday = parse_weekday(code)?;
    let ordinal = if ordinal_text.is_empty() {
        None
    } else {
        let n = parse_signed(ordinal_text)?;
        if n == 0 {
            return None;
        }
        Some(i8::try_from(n).ok()?)
    };
    Some(ByDay { ordinal, weekday })
}

fn by_day_text(day: ByDay) -> String {
    match day.ordinal {
        Some(n) => format!("{n}{}", weekday_code(day.weekday)),
        None => weekday_code(day.weekday).to_owned(),
    }
}

/// `items` sorted by `key`, without duplicates. A rule's lists are short (the rule has at most
/// [`MAX_RULE_CHARS`] characters): an insertion sort does, where `sort_unstable` would link a
/// general-purpose sort into the components for each list's type.
fn sort_dedup_short<T: PartialEq, K: Ord>(items: &mut Vec<T>, key: impl Fn(&T) -> K) {
    for i in 1..items.len() {
        let mut j = i;
        while j > 0 && key(&items[j - 1]) > key(&items[j]) {
            items.swap(j - 1, j);
            j -= 1;
        }
    }
    items.dedup();
}

fn parse_until(text: &str) -> Result<Until, RecurrenceError> {
    let bad = || {
        invalid(format!(
            "UNTIL must be YYYYMMDD, YYYYMMDDTHHMMSS or YYYYMMDDTHHMMSSZ, got `{text}`"
        ))
    };
    let until = match text.len() {
        8 => Until::Date(
            formats::parse(text, formats::BASIC_DATE)
                .and_then(|parsed| parsed.to_naive_date())
                .map_err(|_| bad())?,
        ),
        15 => Until::Local(
            formats::parse(text, formats::BASIC_DATE_TIME)
                .and_then(|parsed| parsed.to_naive_datetime_with_offset(0))
                .map_err(|_| bad())?,
        ),
        16 if text.ends_with('Z') => Until::Utc(
            formats::parse(&text[..15], formats::BASIC_DATE_TIME)
                .and_then(|parsed| parsed.to_naive_datetime_with_offset(0))
                .map_err(|_| bad())?
                .and_utc(),
        ),
        _ => return Err(bad()),
    };
    // chrono's `%Y` accepts signs and more digits; insist on the plain 4-digit form.
    if !text.as_bytes()[..8].iter().all(u8::is_ascii_digit) {
        return Err(bad());
    }
    Ok(until)
}

fn canonical_text(kind: &Kind) -> String {
    match kind {
        Kind::EveryDays(1) => "daily".to_owned(),
        Kind::EveryDays(n) => format!("every {n} days"),
        Kind::EveryWeeks(1) => "weekly".to_owned(),
        Kind::EveryWeeks(n) => format!("every {n} weeks"),
        Kind::Monthly => "monthly".to_owned(),
        Kind::Yearly => "yearly".to_owned(),
        Kind::RRule(spec) => {
            let mut parts = vec![format!("FREQ={}", spec.freq.as_str())];
            if spec.interval != 1 {
                parts.push(format!("INTERVAL={}", spec.interval));
            }
            if !spec.by_month.is_empty() {
                parts.push(format!("BYMONTH={}", join(&spec.by_month, u8::to_string)));
            }
            if !spec.by_month_day.is_empty() {
                parts.push(format!(
                    "BYMONTHDAY={}",
                    join(&spec.by_month_day, i8::to_string)
                ));
            }
            if !spec.by_day.is_empty() {
                parts.push(format!("BYDAY={}", join(&spec.by_day, |d| by_day_text(*d))));
            }
            if spec.wkst != Weekday::Mon {
                parts.push(format!("WKST={}", weekday_code(spec.wkst)));
            }
            match &spec.end {
                End::Never => {}
                End::Count(n) => parts.push(format!("COUNT={n}")),
                End::Until(Until::Utc(t)) => parts.push(format!(
                    "UNTIL={}",
                    t.format_with_items(formats::BASIC_DATE_TIME_UTC.iter())
                )),
                End::Until(Until::Local(t)) => parts.push(format!(
                    "UNTIL={}",
                    t.format_with_items(formats::BASIC_DATE_TIME.iter())
                )),
                End::Until(Until::Date(d)) => parts.push(format!(
                    "UNTIL={}",
                    d.format_with_items(formats::BASIC_DATE.iter())
                )),
            }
            parts.join(";")
        }
    }
}

fn join<T>(items: &[T], show: impl Fn(&T) -> String) -> String {
    items.iter().map(show).collect::<Vec<_>>().join(",")
}

// ---------------------------------------------------------------------------------------
// Expansion
// ---------------------------------------------------------------------------------------

fn add_days(local: NaiveDateTime, days: u64) -> Option<NaiveDateTime> {
    local.checked_add_days(Days::new(days))
}

/// Start + `months`, clamped to the last day of the target month (chrono's semantics).
fn add_months(local: NaiveDateTime, months: u32) -> Option<NaiveDateTime> {
    local.checked_add_months(Months::new(months))
}

/// Maps a wall-clock time in `tz` to an instant.
///
/// * unique → that instant;
/// * ambiguous (fall-back overlap) → the earlier instant;
/// * nonexistent (spring-forward gap) → interpreted with the UTC offset in force just before
///   the gap, i.e. shifted forward by the gap's length (02:30 in a 02:00→03:00 gap → 03:30).
///   "Just before" is taken one day earlier, which assumes zones do not change offset twice
///   within a day.
pub(crate) fn resolve_local(tz: Tz, local: NaiveDateTime) -> Option<DateTime<Utc>> {
    match tz.from_local_datetime(&local) {
        LocalResult::Single(dt) => Some(dt.with_timezone(&Utc)),
        LocalResult::Ambiguous(a, b) => Some(a.min(b).with_timezone(&Utc)),
        LocalResult::None => {
            let probe = local.checked_sub_signed(TimeDelta::days(1))?;
            let before = tz.offset_from_utc_datetime(&probe).fix();
            let utc = local
                .checked_sub_signed(TimeDelta::seconds(i64::from(before.local_minus_utc())))?;
            Some(utc.and_utc())
        }
    }
}

/// Expands an RRULE on the *floating* wall clock ([`expand::RuleDays`], the `rrule` crate's
/// days for these rules, at the start's time of day), then resolves each local instance in
/// `tz` with [`resolve_local`]. This keeps wall-clock times across DST and gives us control
/// over gaps/overlaps. COUNT and UNTIL are applied here because of our occurrence-0 numbering
/// and UNTIL's different forms.
fn rrule_occurrence(
    spec: &RRuleSpec,
    local_start: NaiveDateTime,
    tz: Tz,
    index: u32,
) -> Option<DateTime<Utc>> {
    if let End::Count(count) = spec.end
        && index >= count
    {
        return None;
    }
    // Instances are whole seconds; the start's sub-second part is added back at the end.
    let nanos = local_start.nanosecond() % 1_000_000_000;
    let start_secs = local_start.with_nanosecond(0)?;
    if start_secs.year() > MAX_YEAR {
        return None;
    }
    let time = start_secs.time();
    let mut n = 0u32;
    for day in expand::RuleDays::new(spec, start_secs.date()) {
        let naive = day.and_time(time);
        if naive <= start_secs {
            // Drop the leading instance equal to the series start (occurrence 0).
            continue;
        }
        if naive.year() > MAX_YEAR {
            return None;
        }
        let resolved = resolve_local(tz, naive)?;
        let ended = match &spec.end {
            End::Until(Until::Utc(until)) => resolved > *until,
            End::Until(Until::Local(until)) => naive > *until,
            End::Until(Until::Date(until)) => naive.date() > *until,
            End::Never | End::Count(_) => false,
        };
        if ended {
            return None;
        }
        n += 1;
        if n == index {
            if nanos == 0 {
                return Some(resolved);
            }
            return resolve_local(tz, naive.with_nanosecond(nanos)?);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const UTC: Tz = Tz::UTC;
    const BERLIN: Tz = Tz::known("Europe/Berlin");
    const NEW_YORK: Tz = Tz::known("America/New_York");

    fn rule(text: &str) -> RecurrenceRule {
        RecurrenceRule::parse(text).unwrap_or_else(|e| panic!("`{text}` should parse: {e}"))
    }

    fn error(text: &str) -> RecurrenceError {
        match RecurrenceRule::parse(text) {
            Ok(r) => panic!("`{text}` should be rejected, parsed as `{}`", r.as_str()),
            Err(e) => e,
        }
    }

    /// A wall-clock time (`YYYY-MM-DD HH:MM`) in `tz` as an instant.
    fn at(tz: Tz, local: &str) -> DateTime<Utc> {
        let naive = NaiveDateTime::parse_from_str(local, "%Y-%m-%d %H:%M").unwrap();
        resolve_local(tz, naive).unwrap()
    }

    fn utc(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&Utc)
    }

    /// Occurrences `0..n` as local wall-clock text in `tz`.
    fn local_series(text: &str, tz: Tz, start: &str, n: u32) -> Vec<String> {
        let r = rule(text);
        let start = at(tz, start);
        (0..n)
            .map(|i| {
                r.occurrence(start, tz, i)
                    .unwrap_or_else(|| panic!("`{text}` occurrence {i} should exist"))
                    .with_timezone(&tz)
                    .format("%Y-%m-%d %H:%M")
                    .to_string()
            })
            .collect()
    }

    /// Occurrences `0..n` as UTC RFC 3339 text.
    fn utc_series(text: &str, tz: Tz, start: &str, n: u32) -> Vec<String> {
        let r = rule(text);
        let start = at(tz, start);
        (0..n)
            .map(|i| r.occurrence(start, tz, i).unwrap().to_rfc3339())
            .collect()
    }

    // --- shorthands --------------------------------------------------------------------

    #[test]
    fn daily_repeats_every_day_at_the_same_time() {
        assert_eq!(
            local_series("daily", UTC, "2024-02-27 09:00", 4),
            [
                "2024-02-27 09:00",
                "2024-02-28 09:00",
                "2024-02-29 09:00",
                "2024-03-01 09:00"
            ]
        );
    }

    #[test]
    fn weekly_repeats_every_seven_days() {
        assert_eq!(
            local_series("weekly", UTC, "2024-12-25 18:30", 3),
            ["2024-12-25 18:30", "2025-01-01 18:30", "2025-01-08 18:30"]
        );
    }

    #[test]
    fn every_n_days_repeats_every_n_days() {
        assert_eq!(
            local_series("every 3 days", UTC, "2024-01-30 07:00", 3),
            ["2024-01-30 07:00", "2024-02-02 07:00", "2024-02-05 07:00"]
        );
    }

    #[test]
    fn every_n_weeks_repeats_every_n_weeks() {
        assert_eq!(
            local_series("every 2 weeks", UTC, "2024-01-01 10:00", 3),
            ["2024-01-01 10:00", "2024-01-15 10:00", "2024-01-29 10:00"]
        );
    }

    #[test]
    fn every_1_day_and_every_1_week_are_accepted_in_the_singular() {
        assert_eq!(rule("every 1 day"), rule("daily"));
        assert_eq!(rule("every 1 days"), rule("daily"));
        assert_eq!(rule("every 1 week"), rule("weekly"));
        assert_eq!(rule("every 1 day").as_str(), "daily");
        assert_eq!(rule("every 1 week").as_str(), "weekly");
    }

    #[test]
    fn shorthands_are_case_insensitive_and_trimmed() {
        assert_eq!(rule("  Daily \n"), rule("daily"));
        assert_eq!(rule("MONTHLY"), rule("monthly"));
        assert_eq!(rule("\tYearly "), rule("yearly"));
        assert_eq!(rule(" Every  2   WEEKS ").as_str(), "every 2 weeks");
        assert_eq!(rule("EVERY 10 DAYS").as_str(), "every 10 days");
        // The text is bounded like the schema's maxLength, spaces included.
        assert!(RecurrenceRule::parse(&format!("daily{}", " ".repeat(495))).is_ok());
        assert!(RecurrenceRule::parse(&format!("daily{}", " ".repeat(496))).is_err());
    }

    #[test]
    fn monthly_from_jan_31_clamps_to_the_last_day_without_drifting() {
        assert_eq!(
            local_series("monthly", UTC, "2023-01-31 09:00", 6),
            [
                "2023-01-31 09:00",
                "2023-02-28 09:00",
                "2023-03-31 09:00",
                "2023-04-30 09:00",
                "2023-05-31 09:00",
                "2023-06-30 09:00",
            ]
        );
    }

    #[test]
    fn monthly_clamping_uses_feb_29_in_leap_years() {
        assert_eq!(
            local_series("monthly", UTC, "2024-01-31 09:00", 3),
            ["2024-01-31 09:00", "2024-02-29 09:00", "2024-03-31 09:00"]
        );
        // Occurrence 13 is computed from the start, not from the clamped Feb 29.
        let r = rule("monthly");
        let start = at(UTC, "2024-01-31 09:00");
        assert_eq!(
            r.occurrence(start, UTC, 13),
            Some(at(UTC, "2025-02-28 09:00"))
        );
        assert_eq!(
            r.occurrence(start, UTC, 14),
            Some(at(UTC, "2025-03-31 09:00"))
        );
    }

    #[test]
    fn yearly_from_feb_29_uses_feb_28_in_non_leap_years_and_feb_29_in_leap_years() {
        assert_eq!(
            local_series("yearly", UTC, "2024-02-29 08:00", 5),
            [
                "2024-02-29 08:00",
                "2025-02-28 08:00",
                "2026-02-28 08:00",
                "2027-02-28 08:00",
                "2028-02-29 08:00",
            ]
        );
    }

    #[test]
    fn yearly_repeats_on_the_same_date() {
        assert_eq!(
            local_series("yearly", UTC, "2024-07-04 12:00", 3),
            ["2024-07-04 12:00", "2025-07-04 12:00", "2026-07-04 12:00"]
        );
    }

    // --- RRULEs ------------------------------------------------------------------------

    #[test]
    fn strict_monthly_rrule_on_the_31st_skips_months_without_a_31st() {
        assert_eq!(
            local_series("FREQ=MONTHLY", UTC, "2024-01-31 09:00", 6),
            [
                "2024-01-31 09:00",
                "2024-03-31 09:00",
                "2024-05-31 09:00",
                "2024-07-31 09:00",
                "2024-08-31 09:00",
                "2024-10-31 09:00",
            ]
        );
    }

    #[test]
    fn strict_yearly_rrule_on_feb_29_only_fires_in_leap_years() {
        assert_eq!(
            local_series("FREQ=YEARLY", UTC, "2024-02-29 09:00", 3),
            ["2024-02-29 09:00", "2028-02-29 09:00", "2032-02-29 09:00"]
        );
    }

    #[test]
    fn bymonthday_minus_one_is_the_last_day_of_every_month() {
        assert_eq!(
            local_series("FREQ=MONTHLY;BYMONTHDAY=-1", UTC, "2024-01-31 17:00", 5),
            [
                "2024-01-31 17:00",
                "2024-02-29 17:00",
                "2024-03-31 17:00",
                "2024-04-30 17:00",
                "2024-05-31 17:00",
            ]
        );
    }

    #[test]
    fn weekly_byday_mo_we_fr_with_interval_2_skips_every_other_week() {
        // 2024-01-03 is a Wednesday.
        assert_eq!(
            local_series(
                "FREQ=WEEKLY;INTERVAL=2;BYDAY=MO,WE,FR",
                UTC,
                "2024-01-03 08:00",
                8
            ),
            [
                "2024-01-03 08:00",
                "2024-01-05 08:00",
                "2024-01-15 08:00",
                "2024-01-17 08:00",
                "2024-01-19 08:00",
                "2024-01-29 08:00",
                "2024-01-31 08:00",
                "2024-02-02 08:00",
            ]
        );
    }

    #[test]
    fn wkst_decides_which_weeks_an_interval_2_weekly_rule_selects() {
        // The RFC 5545 example: DTSTART 1997-08-05 (a Tuesday), BYDAY=TU,SU, COUNT=4.
        assert_eq!(
            local_series(
                "FREQ=WEEKLY;INTERVAL=2;COUNT=4;BYDAY=TU,SU;WKST=MO",
                NEW_YORK,
                "1997-08-05 09:00",
                4
            ),
            [
                "1997-08-05 09:00",
                "1997-08-10 09:00",
                "1997-08-19 09:00",
                "1997-08-24 09:00"
            ]
        );
        assert_eq!(
            local_series(
                "FREQ=WEEKLY;INTERVAL=2;COUNT=4;BYDAY=TU,SU;WKST=SU",
                NEW_YORK,
                "1997-08-05 09:00",
                4
            ),
            [
                "1997-08-05 09:00",
                "1997-08-17 09:00",
                "1997-08-19 09:00",
                "1997-08-31 09:00"
            ]
        );
    }

    #[test]
    fn monthly_byday_minus_1fr_is_the_last_friday_of_the_month() {
        assert_eq!(
            local_series("FREQ=MONTHLY;BYDAY=-1FR", UTC, "2024-01-26 16:00", 5),
            [
                "2024-01-26 16:00",
                "2024-02-23 16:00",
                "2024-03-29 16:00",
                "2024-04-26 16:00",
                "2024-05-31 16:00",
            ]
        );
    }

    #[test]
    fn monthly_byday_1mo_is_the_first_monday_of_the_month() {
        assert_eq!(
            local_series("FREQ=MONTHLY;BYDAY=1MO", UTC, "2024-01-01 09:00", 4),
            [
                "2024-01-01 09:00",
                "2024-02-05 09:00",
                "2024-03-04 09:00",
                "2024-04-01 09:00"
            ]
        );
    }

    #[test]
    fn yearly_bymonth_with_an_ordinal_byday_gives_us_thanksgiving() {
        assert_eq!(
            local_series(
                "FREQ=YEARLY;BYMONTH=11;BYDAY=4TH",
                NEW_YORK,
                "2024-11-28 15:00",
                3
            ),
            ["2024-11-28 15:00", "2025-11-27 15:00", "2026-11-26 15:00"]
        );
    }

    #[test]
    fn daily_rrule_with_an_interval_and_a_weekday_filter() {
        assert_eq!(
            local_series("FREQ=DAILY;INTERVAL=2", UTC, "2024-02-28 06:00", 3),
            ["2024-02-28 06:00", "2024-03-01 06:00", "2024-03-03 06:00"]
        );
        // 2024-01-05 is a Friday: weekdays only.
        assert_eq!(
            local_series(
                "FREQ=DAILY;BYDAY=MO,TU,WE,TH,FR",
                UTC,
                "2024-01-05 06:00",
                3
            ),
            ["2024-01-05 06:00", "2024-01-08 06:00", "2024-01-09 06:00"]
        );
    }

    #[test]
    fn occurrence_zero_is_the_series_start_even_when_it_does_not_match_the_rule() {
        // 2024-01-07 is a Sunday; the rule is Mondays only.
        assert_eq!(
            local_series("FREQ=WEEKLY;BYDAY=MO", UTC, "2024-01-07 09:00", 3),
            ["2024-01-07 09:00", "2024-01-08 09:00", "2024-01-15 09:00"]
        );
        let start = utc("2024-01-07T09:00:00Z");
        for text in [
            "daily",
            "monthly",
            "FREQ=YEARLY;BYMONTH=3",
            "FREQ=DAILY;COUNT=1",
        ] {
            assert_eq!(
                rule(text).occurrence(start, BERLIN, 0),
                Some(start),
                "{text}"
            );
        }
    }

    #[test]
    fn count_includes_occurrence_zero_and_ends_the_series() {
        let r = rule("FREQ=DAILY;COUNT=3");
        let start = utc("2024-01-01T09:00:00Z");
        assert_eq!(
            r.occurrence(start, UTC, 2),
            Some(utc("2024-01-03T09:00:00Z"))
        );
        assert_eq!(r.occurrence(start, UTC, 3), None);
        assert_eq!(r.occurrence(start, UTC, 4), None);
        let once = rule("FREQ=DAILY;COUNT=1");
        assert_eq!(once.occurrence(start, UTC, 0), Some(start));
        assert_eq!(once.occurrence(start, UTC, 1), None);
    }

    #[test]
    fn count_also_includes_a_series_start_that_does_not_match_the_rule() {
        let r = rule("FREQ=WEEKLY;BYDAY=MO;COUNT=3");
        let start = utc("2024-01-07T09:00:00Z"); // Sunday
        assert_eq!(
            r.occurrence(start, UTC, 1),
            Some(utc("2024-01-08T09:00:00Z"))
        );
        assert_eq!(
            r.occurrence(start, UTC, 2),
            Some(utc("2024-01-15T09:00:00Z"))
        );
        assert_eq!(r.occurrence(start, UTC, 3), None);
    }

    #[test]
    fn until_in_utc_is_inclusive_and_ends_the_series() {
        let start = utc("2024-01-01T09:00:00Z");
        let r = rule("FREQ=DAILY;UNTIL=20240105T090000Z");
        assert_eq!(
            r.occurrence(start, UTC, 4),
            Some(utc("2024-01-05T09:00:00Z"))
        );
        assert_eq!(r.occurrence(start, UTC, 5), None);
        let r = rule("FREQ=DAILY;UNTIL=20240105T085959Z");
        assert_eq!(
            r.occurrence(start, UTC, 3),
            Some(utc("2024-01-04T09:00:00Z"))
        );
        assert_eq!(r.occurrence(start, UTC, 4), None);
    }

    #[test]
    fn until_as_a_date_includes_that_whole_local_day() {
        // 23:00 in New York is already the next day in UTC.
        let start = at(NEW_YORK, "2024-01-01 23:00");
        let r = rule("FREQ=DAILY;UNTIL=20240105");
        assert_eq!(
            r.occurrence(start, NEW_YORK, 4),
            Some(at(NEW_YORK, "2024-01-05 23:00"))
        );
        assert_eq!(r.occurrence(start, NEW_YORK, 5), None);
    }

    #[test]
    fn until_as_a_floating_time_is_compared_on_the_local_wall_clock() {
        let start = at(BERLIN, "2024-01-01 09:00");
        let r = rule("FREQ=DAILY;UNTIL=20240103T090000");
        assert_eq!(
            r.occurrence(start, BERLIN, 2),
            Some(at(BERLIN, "2024-01-03 09:00"))
        );
        assert_eq!(r.occurrence(start, BERLIN, 3), None);
    }

    #[test]
    fn until_before_the_start_leaves_only_occurrence_zero() {
        let start = utc("2024-06-01T09:00:00Z");
        let r = rule("FREQ=DAILY;UNTIL=20240101T000000Z");
        assert_eq!(r.occurrence(start, UTC, 0), Some(start));
        assert_eq!(r.occurrence(start, UTC, 1), None);
    }

    #[test]
    fn rrule_prefix_and_lower_case_input_are_accepted() {
        let expected = rule("FREQ=WEEKLY;BYDAY=MO,FR");
        assert_eq!(rule("RRULE:FREQ=WEEKLY;BYDAY=MO,FR"), expected);
        assert_eq!(rule("rrule:freq=weekly;byday=fr,mo"), expected);
        assert_eq!(rule("  Freq=Weekly ; ByDay=Mo,Fr ; "), expected);
    }

    #[test]
    fn sub_second_precision_of_the_start_is_kept() {
        let start = utc("2024-01-01T09:00:00.250Z");
        for text in ["daily", "FREQ=DAILY"] {
            assert_eq!(
                rule(text).occurrence(start, BERLIN, 1),
                Some(utc("2024-01-02T09:00:00.250Z")),
                "{text}"
            );
        }
    }

    // --- time zones --------------------------------------------------------------------

    #[test]
    fn daily_9am_stays_at_9am_local_across_both_berlin_dst_changes() {
        for text in ["daily", "FREQ=DAILY"] {
            // Spring forward on 2024-03-31: UTC+1 -> UTC+2.
            assert_eq!(
                utc_series(text, BERLIN, "2024-03-30 09:00", 3),
                [
                    "2024-03-30T08:00:00+00:00",
                    "2024-03-31T07:00:00+00:00",
                    "2024-04-01T07:00:00+00:00",
                ],
                "{text}"
            );
            // Fall back on 2024-10-27: UTC+2 -> UTC+1.
            assert_eq!(
                utc_series(text, BERLIN, "2024-10-26 09:00", 3),
                [
                    "2024-10-26T07:00:00+00:00",
                    "2024-10-27T08:00:00+00:00",
                    "2024-10-28T08:00:00+00:00",
                ],
                "{text}"
            );
        }
    }

    #[test]
    fn weekly_and_monthly_keep_the_wall_clock_across_new_york_dst_changes() {
        // Spring forward on 2024-03-10, fall back on 2024-11-03.
        for text in ["weekly", "FREQ=WEEKLY"] {
            assert_eq!(
                utc_series(text, NEW_YORK, "2024-03-04 08:00", 2),
                ["2024-03-04T13:00:00+00:00", "2024-03-11T12:00:00+00:00"],
                "{text}"
            );
        }
        for text in ["monthly", "FREQ=MONTHLY"] {
            assert_eq!(
                local_series(text, NEW_YORK, "2024-10-15 08:00", 3),
                ["2024-10-15 08:00", "2024-11-15 08:00", "2024-12-15 08:00"],
                "{text}"
            );
            assert_eq!(
                utc_series(text, NEW_YORK, "2024-10-15 08:00", 2),
                ["2024-10-15T12:00:00+00:00", "2024-11-15T13:00:00+00:00"],
                "{text}"
            );
        }
    }

    #[test]
    fn a_nonexistent_local_time_is_shifted_forward_by_the_gap() {
        // New York skips 02:00-03:00 on 2024-03-10.
        for text in ["daily", "FREQ=DAILY"] {
            assert_eq!(
                local_series(text, NEW_YORK, "2024-03-09 02:30", 3),
                ["2024-03-09 02:30", "2024-03-10 03:30", "2024-03-11 02:30"],
                "{text}"
            );
        }
    }

    #[test]
    fn an_ambiguous_local_time_resolves_to_the_earlier_instant() {
        // New York repeats 01:00-02:00 on 2024-11-03 (EDT, then EST).
        for text in ["daily", "FREQ=DAILY"] {
            assert_eq!(
                utc_series(text, NEW_YORK, "2024-11-02 01:30", 3),
                [
                    "2024-11-02T05:30:00+00:00",
                    "2024-11-03T05:30:00+00:00",
                    "2024-11-04T06:30:00+00:00",
                ],
                "{text}"
            );
        }
    }

    #[test]
    fn a_gap_at_local_midnight_shifts_the_occurrence_instead_of_dropping_it() {
        // Chile springs forward at midnight: 2024-09-08 00:00 does not exist.
        let santiago = Tz::known("America/Santiago");
        for text in ["daily", "FREQ=DAILY"] {
            assert_eq!(
                local_series(text, santiago, "2024-09-07 00:30", 3),
                ["2024-09-07 00:30", "2024-09-08 01:30", "2024-09-09 00:30"],
                "{text}"
            );
        }
    }

    // --- bounds ------------------------------------------------------------------------

    #[test]
    fn occurrences_after_year_9999_are_none() {
        let start = utc("9999-12-30T12:00:00Z");
        for text in ["daily", "FREQ=DAILY", "yearly", "FREQ=YEARLY"] {
            let r = rule(text);
            assert_eq!(r.occurrence(start, UTC, 0), Some(start), "{text}");
            assert_eq!(r.occurrence(start, UTC, 2), None, "{text}");
        }
        assert_eq!(
            rule("daily").occurrence(start, UTC, 1),
            Some(utc("9999-12-31T12:00:00Z"))
        );
        assert_eq!(
            rule("FREQ=DAILY").occurrence(start, UTC, 1),
            Some(utc("9999-12-31T12:00:00Z"))
        );
    }

    #[test]
    fn indexes_above_the_cap_are_none_and_never_overflow() {
        let start = utc("2024-01-01T00:00:00Z");
        for text in [
            "every 4294967295 days",
            "every 4294967295 weeks",
            "monthly",
            "yearly",
        ] {
            let r = rule(text);
            assert_eq!(r.occurrence(start, UTC, u32::MAX), None, "{text}");
            assert_eq!(
                r.occurrence(start, UTC, MAX_OCCURRENCE_INDEX + 1),
                None,
                "{text}"
            );
        }
        assert_eq!(
            rule("every 4294967295 days").occurrence(start, UTC, 1),
            None
        );
        assert!(
            rule("daily")
                .occurrence(start, UTC, MAX_OCCURRENCE_INDEX)
                .is_some()
        );
    }

    #[test]
    fn a_rarely_matching_rrule_stops_at_the_horizon() {
        // Feb 29 that is also a Monday: every 28 years or so.
        let r = rule("FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=29;BYDAY=MO");
        let start = utc("2024-01-01T09:00:00Z");
        assert_eq!(
            r.occurrence(start, UTC, 1),
            Some(utc("2044-02-29T09:00:00Z"))
        );
        assert_eq!(r.occurrence(start, UTC, 5000), None);
    }

    #[test]
    fn a_few_thousand_rrule_occurrences_agree_with_the_shorthand() {
        let start = at(BERLIN, "2024-01-01 09:00");
        let by_rrule = rule("FREQ=DAILY").occurrence(start, BERLIN, 5000);
        let by_shorthand = rule("daily").occurrence(start, BERLIN, 5000);
        assert_eq!(by_rrule, by_shorthand);
        assert_eq!(by_rrule, Some(at(BERLIN, "2037-09-09 09:00")));
    }

    // --- rejections --------------------------------------------------------------------

    fn assert_lists_supported_forms(e: &RecurrenceError) {
        let message = e.to_string();
        for form in [
            "daily",
            "every N days",
            "every N weeks",
            "FREQ=DAILY|WEEKLY|MONTHLY|YEARLY",
        ] {
            assert!(
                message.contains(form),
                "`{message}` should mention `{form}`"
            );
        }
    }

    #[test]
    fn hourly_frequency_is_rejected_naming_the_supported_frequencies() {
        let e = error("FREQ=HOURLY");
        assert!(matches!(e, RecurrenceError::Unsupported(_)), "{e:?}");
        assert!(
            e.to_string().contains("FREQ=HOURLY is not supported"),
            "{e}"
        );
        assert!(
            e.to_string().contains("DAILY, WEEKLY, MONTHLY, YEARLY"),
            "{e}"
        );
        assert_lists_supported_forms(&e);
        assert!(matches!(
            error("FREQ=MINUTELY"),
            RecurrenceError::Unsupported(_)
        ));
        assert!(matches!(
            error("FREQ=SECONDLY"),
            RecurrenceError::Unsupported(_)
        ));
    }

    #[test]
    fn bysetpos_and_other_unhonoured_parts_are_rejected_as_unsupported() {
        for (text, part) in [
            ("FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=-1", "BYSETPOS"),
            ("FREQ=DAILY;BYHOUR=9,17", "BYHOUR"),
            ("FREQ=DAILY;BYMINUTE=30", "BYMINUTE"),
            ("FREQ=YEARLY;BYYEARDAY=100", "BYYEARDAY"),
            ("FREQ=YEARLY;BYWEEKNO=20", "BYWEEKNO"),
        ] {
            let e = error(text);
            assert!(
                matches!(e, RecurrenceError::Unsupported(_)),
                "{text}: {e:?}"
            );
            assert!(
                e.to_string().contains(&format!("{part} is not supported")),
                "{e}"
            );
            assert_lists_supported_forms(&e);
        }
    }

    #[test]
    fn every_0_days_is_rejected() {
        let e = error("every 0 days");
        assert!(matches!(e, RecurrenceError::Invalid(_)), "{e:?}");
        assert!(e.to_string().contains("at least 1"), "{e}");
        assert_lists_supported_forms(&e);
        assert!(matches!(
            error("every 0 weeks"),
            RecurrenceError::Invalid(_)
        ));
        assert!(matches!(
            error("every -1 days"),
            RecurrenceError::Invalid(_)
        ));
        assert!(matches!(
            error("every two days"),
            RecurrenceError::Invalid(_)
        ));
        assert!(matches!(
            error("every 99999999999 days"),
            RecurrenceError::Invalid(_)
        ));
    }

    #[test]
    fn every_n_months_is_rejected_pointing_at_the_alternatives() {
        let e = error("every 2 months");
        assert!(matches!(e, RecurrenceError::Unsupported(_)), "{e:?}");
        assert_lists_supported_forms(&e);
    }

    #[test]
    fn fortnightly_is_rejected_listing_the_supported_forms() {
        let e = error("fortnightly");
        assert!(matches!(e, RecurrenceError::Invalid(_)), "{e:?}");
        assert!(
            e.to_string()
                .contains("`fortnightly` is not a recognised rule"),
            "{e}"
        );
        assert_lists_supported_forms(&e);
    }

    #[test]
    fn count_and_until_together_are_rejected() {
        let e = error("FREQ=DAILY;COUNT=5;UNTIL=20250101T000000Z");
        assert!(matches!(e, RecurrenceError::Invalid(_)), "{e:?}");
        assert!(e.to_string().contains("COUNT and UNTIL"), "{e}");
        assert_lists_supported_forms(&e);
    }

    #[test]
    fn garbage_and_malformed_rules_are_rejected() {
        for text in [
            "",
            "   ",
            "!!!",
            "every",
            "every day",
            "daily please",
            "FREQ=",
            "FREQ=FORTNIGHTLY",
            "INTERVAL=2",
            "FREQ=DAILY;FREQ=WEEKLY",
            "FREQ=DAILY;INTERVAL=0",
            "FREQ=DAILY;INTERVAL=70000",
            "FREQ=DAILY;INTERVAL=-1",
            "FREQ=DAILY;COUNT=0",
            "FREQ=DAILY;COUNT=x",
            "FREQ=DAILY;UNTIL=2025",
            "FREQ=DAILY;UNTIL=20251301",
            "FREQ=DAILY;UNTIL=+2025010",
            "FREQ=DAILY;FOO=1",
            "FREQ=DAILY;BYDAY=XX",
            "FREQ=DAILY;BYDAY=1MO",
            "FREQ=WEEKLY;BYDAY=-1FR",
            "FREQ=MONTHLY;BYDAY=6MO",
            "FREQ=MONTHLY;BYDAY=0MO",
            "FREQ=YEARLY;BYDAY=54MO",
            "FREQ=YEARLY;BYMONTH=1;BYDAY=6MO",
            "FREQ=MONTHLY;BYMONTHDAY=0",
            "FREQ=MONTHLY;BYMONTHDAY=32",
            "FREQ=MONTHLY;BYMONTHDAY=-32",
            "FREQ=WEEKLY;BYMONTHDAY=1",
            "FREQ=YEARLY;BYMONTH=13",
            "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30",
            "FREQ=DAILY;WKST=XX",
            "FREQ=DAILY;;COUNT",
        ] {
            let e = error(text);
            assert!(matches!(e, RecurrenceError::Invalid(_)), "{text:?}: {e:?}");
            assert_lists_supported_forms(&e);
        }
    }

    #[test]
    fn full_icalendar_with_dtstart_is_rejected_as_unsupported() {
        for text in [
            "DTSTART:20240101T090000Z\nRRULE:FREQ=DAILY",
            "FREQ=DAILY;DTSTART=20240101T090000Z",
        ] {
            assert!(
                matches!(error(text), RecurrenceError::Unsupported(_)),
                "{text:?}"
            );
        }
    }

    // --- canonical text and serde ------------------------------------------------------

    #[test]
    fn canonical_text_is_normalised_and_round_trips_through_parse() {
        for (input, canonical) in [
            ("daily", "daily"),
            ("Every 1 Day", "daily"),
            ("every 14 days", "every 14 days"),
            ("every 1 weeks", "weekly"),
            ("every 3 week", "every 3 weeks"),
            ("Monthly", "monthly"),
            ("YEARLY", "yearly"),
            ("freq=daily", "FREQ=DAILY"),
            ("RRULE:FREQ=WEEKLY;INTERVAL=1;WKST=MO", "FREQ=WEEKLY"),
            (
                "rrule:byday=fr,mo,we,mo;interval=2;freq=weekly;wkst=su",
                "FREQ=WEEKLY;INTERVAL=2;BYDAY=MO,WE,FR;WKST=SU",
            ),
            (
                "FREQ=MONTHLY;BYDAY=+1MO,-1FR",
                "FREQ=MONTHLY;BYDAY=1MO,-1FR",
            ),
            (
                "FREQ=MONTHLY;BYMONTHDAY=15,-1,15",
                "FREQ=MONTHLY;BYMONTHDAY=-1,15",
            ),
            (
                "FREQ=YEARLY;BYDAY=4TH;BYMONTH=11",
                "FREQ=YEARLY;BYMONTH=11;BYDAY=4TH",
            ),
            ("FREQ=DAILY;COUNT=10", "FREQ=DAILY;COUNT=10"),
            (
                "FREQ=DAILY;UNTIL=20250101t120000z",
                "FREQ=DAILY;UNTIL=20250101T120000Z",
            ),
            (
                "FREQ=DAILY;UNTIL=20250101T120000",
                "FREQ=DAILY;UNTIL=20250101T120000",
            ),
            ("FREQ=DAILY;UNTIL=20250101", "FREQ=DAILY;UNTIL=20250101"),
        ] {
            let parsed = rule(input);
            assert_eq!(parsed.as_str(), canonical, "{input}");
            assert_eq!(parsed.to_string(), canonical, "{input}");
            assert_eq!(rule(parsed.as_str()), parsed, "{input}");
            assert_eq!(
                canonical.parse::<RecurrenceRule>(),
                Ok(parsed.clone()),
                "{input}"
            );
        }
    }

    #[test]
    fn shorthand_and_rrule_forms_stay_distinct() {
        // `monthly` clamps, `FREQ=MONTHLY` skips: they must not be merged.
        assert_ne!(rule("monthly"), rule("FREQ=MONTHLY"));
        assert_ne!(rule("daily"), rule("FREQ=DAILY"));
    }

    #[test]
    fn serde_round_trips_through_the_canonical_string() {
        let r = rule("rrule:freq=monthly;byday=-1fr;count=12");
        let json = serde_json::to_string(&r).unwrap();
        assert_eq!(json, r#""FREQ=MONTHLY;BYDAY=-1FR;COUNT=12""#);
        let back: RecurrenceRule = serde_json::from_str(&json).unwrap();
        assert_eq!(back, r);

        let back: RecurrenceRule = serde_json::from_str(r#"" Every 2 Weeks ""#).unwrap();
        assert_eq!(back.as_str(), "every 2 weeks");

        let err = serde_json::from_str::<RecurrenceRule>(r#""fortnightly""#).unwrap_err();
        assert!(err.to_string().contains("supported forms"), "{err}");
        assert!(serde_json::from_str::<RecurrenceRule>("42").is_err());
    }
}
