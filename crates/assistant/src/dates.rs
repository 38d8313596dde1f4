//! Dates and times in words ("tomorrow 5pm", "next friday", "in 2 hours", "on 3 March", "end of
//! month", "at 9am", "on the 1st"), resolved on the user's wall clock and then to UTC.
//!
//! Choices, so that every phrase has one meaning:
//! - A day without a time means 09:00 — or 23:59 when that day is today and 09:00 has passed.
//! - A time without a day means its next occurrence (today if still ahead, else tomorrow).
//! - A weekday name ("friday", "next friday", "on fri") is the first such day after today;
//!   "this friday" said on a Friday is today.
//! - "next week" / "next month" / "next year" are their first day; "end of week" is Friday.
//! - "in N minutes|hours" counts from now (to the minute); "in N days|weeks|months" moves the day.
//! - Wall-clock times follow the zone's rules: a time in a spring-forward gap moves forward by the
//!   gap, an ambiguous one (fall-back) takes the earlier instant — as `todo_domain` does for
//!   recurrences.
use crate::words::{Word, number, ordinal};
use chrono::{
    DateTime, Datelike, Days, Duration, LocalResult, Months, NaiveDate, NaiveDateTime, NaiveTime,
    Offset, TimeZone, Timelike, Utc, Weekday,
};
use serde::{Deserialize, Serialize};
use todo_domain::formats;
use todo_domain::tz::Tz;

/// Which day a phrase names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum DateRule {
    On(NaiveDate),
    /// The first day from today on that matches and whose time is still ahead.
    Next(DayMatch),
    /// An exact instant ("in 2 hours").
    At(DateTime<Utc>),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum DayMatch {
    Any,
    DayOfMonth(u32),
    LastDayOfMonth,
    Weekdays(Vec<Weekday>),
}

impl DayMatch {
    fn matches(&self, day: NaiveDate) -> bool {
        match self {
            Self::Any => true,
            Self::DayOfMonth(n) => day.day() == *n,
            Self::LastDayOfMonth => day.succ_opt().is_some_and(|next| next.day() == 1),
            Self::Weekdays(days) => days.contains(&day.weekday()),
        }
    }
}

/// A day and/or a time of day, as said.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct When {
    pub date: Option<DateRule>,
    pub time: Option<NaiveTime>,
}

impl When {
    pub fn is_empty(&self) -> bool {
        self.date.is_none() && self.time.is_none()
    }
}

pub(crate) const DEFAULT_TIME: NaiveTime = hm(9, 0);
const LATE_TIME: NaiveTime = hm(23, 59);

pub(crate) const fn hm(hour: u32, minute: u32) -> NaiveTime {
    match NaiveTime::from_hms_opt(hour, minute, 0) {
        Some(time) => time,
        None => panic!("valid time"),
    }
}

/// The user's local date now.
pub(crate) fn today(now: DateTime<Utc>, tz: Tz) -> NaiveDate {
    now.with_timezone(&tz).date_naive()
}

/// A wall-clock time in `tz` as an instant (gap → shifted forward, overlap → earlier).
pub(crate) fn local_to_utc(tz: Tz, local: NaiveDateTime) -> DateTime<Utc> {
    match tz.from_local_datetime(&local) {
        LocalResult::Single(t) => t.with_timezone(&Utc),
        LocalResult::Ambiguous(a, b) => a.min(b).with_timezone(&Utc),
        LocalResult::None => {
            // Read the time with the offset in force before the gap (a day earlier).
            let before = tz
                .offset_from_utc_datetime(&(local - Duration::days(1)))
                .fix();
            (local - Duration::seconds(i64::from(before.local_minus_utc()))).and_utc()
        }
    }
}

/// The instant `when` names, or `None` when it names no day and no time.
pub(crate) fn resolve(when: &When, now: DateTime<Utc>, tz: Tz) -> Option<DateTime<Utc>> {
    let today = today(now, tz);
    match &when.date {
        Some(DateRule::At(instant)) => Some(*instant),
        Some(DateRule::On(day)) => {
            let time = when.time.unwrap_or_else(|| {
                let nine = local_to_utc(tz, day.and_time(DEFAULT_TIME));
                if *day == today && nine <= now {
                    LATE_TIME
                } else {
                    DEFAULT_TIME
                }
            });
            Some(local_to_utc(tz, day.and_time(time)))
        }
        Some(DateRule::Next(matcher)) => Some(first_ahead(matcher, when.time, now, tz)),
        None => when
            .time
            .map(|time| first_ahead(&DayMatch::Any, Some(time), now, tz)),
    }
}

/// The first matching day (from today on) whose time is still ahead of `now`.
pub(crate) fn first_ahead(
    matcher: &DayMatch,
    time: Option<NaiveTime>,
    now: DateTime<Utc>,
    tz: Tz,
) -> DateTime<Utc> {
    let time = time.unwrap_or(DEFAULT_TIME);
    let mut day = today(now, tz);
    // Every matcher matches within 62 days (a 31st within two months); the bound is a safety net.
    for _ in 0..800 {
        if matcher.matches(day) {
            let instant = local_to_utc(tz, day.and_time(time));
            if instant > now {
                return instant;
            }
        }
        day = day.succ_opt().unwrap_or(day);
    }
    local_to_utc(tz, day.and_time(time))
}

pub(crate) fn weekday(word: &str, abbreviations: bool) -> Option<Weekday> {
    let day = match word {
        "monday" => Weekday::Mon,
        "tuesday" => Weekday::Tue,
        "wednesday" => Weekday::Wed,
        "thursday" => Weekday::Thu,
        "friday" => Weekday::Fri,
        "saturday" => Weekday::Sat,
        "sunday" => Weekday::Sun,
        _ if !abbreviations => return None,
        "mon" => Weekday::Mon,
        "tue" | "tues" => Weekday::Tue,
        "wed" | "weds" => Weekday::Wed,
        "thu" | "thur" | "thurs" => Weekday::Thu,
        "fri" => Weekday::Fri,
        "sat" => Weekday::Sat,
        "sun" => Weekday::Sun,
        _ => return None,
    };
    Some(day)
}

/// "mondays", "fridays" (a recurring weekday).
pub(crate) fn weekday_plural(word: &str) -> Option<Weekday> {
    weekday(word.strip_suffix('s')?, false)
}

fn month(word: &str) -> Option<u32> {
    let n = match word {
        "january" | "jan" => 1,
        "february" | "feb" => 2,
        "march" | "mar" => 3,
        "april" | "apr" => 4,
        "may" => 5,
        "june" | "jun" => 6,
        "july" | "jul" => 7,
        "august" | "aug" => 8,
        "september" | "sep" | "sept" => 9,
        "october" | "oct" => 10,
        "november" | "nov" => 11,
        "december" | "dec" => 12,
        _ => return None,
    };
    Some(n)
}

fn part_of_day(word: &str) -> Option<NaiveTime> {
    match word {
        "morning" => Some(hm(9, 0)),
        "noon" | "midday" | "lunchtime" => Some(hm(12, 0)),
        "afternoon" => Some(hm(15, 0)),
        "evening" => Some(hm(18, 0)),
        "night" | "tonight" => Some(hm(20, 0)),
        _ => None,
    }
}

fn norm(words: &[Word], i: usize) -> &str {
    words.get(i).map_or("", |w| w.norm.as_str())
}

/// The first `weekday` after `day` (never `day` itself).
fn next_weekday(day: NaiveDate, weekday: Weekday) -> NaiveDate {
    let ahead = (7 + weekday.num_days_from_monday() - day.weekday().num_days_from_monday()) % 7;
    day + Days::new(if ahead == 0 { 7 } else { ahead.into() })
}

fn last_day_of_month(day: NaiveDate) -> NaiveDate {
    let first = day.with_day(1).unwrap_or(day);
    first + Months::new(1) - Days::new(1)
}

/// A date without a year: this year's, or next year's when this year's has passed.
fn upcoming(today: NaiveDate, month: u32, day: u32) -> Option<NaiveDate> {
    let this_year = NaiveDate::from_ymd_opt(today.year(), month, day);
    match this_year {
        Some(date) if date >= today => Some(date),
        _ => NaiveDate::from_ymd_opt(today.year() + 1, month, day)
            .or_else(|| NaiveDate::from_ymd_opt(today.year() + 4 - today.year() % 4, month, day)),
    }
}

fn year_after(words: &[Word], i: usize) -> Option<i32> {
    let word = norm(words, i);
    (word.len() == 4 && word.starts_with("20"))
        .then(|| word.parse().ok())
        .flatten()
}

/// A date phrase at `i` (after any preposition): its length, the day, and a time it implies
/// ("tonight", "tomorrow morning"). `after_on`: the phrase followed "on", so a bare "the 1st" is
/// a date.
pub(crate) fn match_date(
    words: &[Word],
    i: usize,
    now: DateTime<Utc>,
    tz: Tz,
    after_on: bool,
) -> Option<(usize, DateRule, Option<NaiveTime>)> {
    let today = today(now, tz);
    let (len, rule, time) = match_day(words, i, now, today, after_on)?;
    if matches!(rule, DateRule::At(_)) || time.is_some() {
        return Some((len, rule, time));
    }
    // "tomorrow morning", "friday evening"
    match part_of_day(norm(words, i + len)) {
        Some(part) => Some((len + 1, rule, Some(part))),
        None => Some((len, rule, None)),
    }
}

fn match_day(
    words: &[Word],
    i: usize,
    now: DateTime<Utc>,
    today: NaiveDate,
    after_on: bool,
) -> Option<(usize, DateRule, Option<NaiveTime>)> {
    let w = |k: usize| norm(words, i + k);
    let on = |date: NaiveDate| DateRule::On(date);
    match (w(0), w(1), w(2)) {
        ("today", _, _) => return Some((1, on(today), None)),
        ("tonight", _, _) => return Some((1, on(today), Some(hm(20, 0)))),
        ("tomorrow" | "tmrw" | "tmr" | "tomorow" | "tommorow" | "tommorrow", _, _) => {
            return Some((1, on(today + Days::new(1)), None));
        }
        ("day", "after", "tomorrow") => return Some((3, on(today + Days::new(2)), None)),
        ("the", "day", "after") if w(3) == "tomorrow" => {
            return Some((4, on(today + Days::new(2)), None));
        }
        ("next", "week", _) => {
            return Some((2, on(next_weekday(today, Weekday::Mon)), None));
        }
        ("next", "month", _) => {
            let first = today.with_day(1)? + Months::new(1);
            return Some((2, on(first), None));
        }
        ("next", "year", _) => {
            return Some((
                2,
                on(NaiveDate::from_ymd_opt(today.year() + 1, 1, 1)?),
                None,
            ));
        }
        ("this" | "the", "weekend", _) => {
            let saturday = if today.weekday() == Weekday::Sat {
                today
            } else {
                next_weekday(today, Weekday::Sat)
            };
            return Some((2, on(saturday), None));
        }
        ("next", "weekend", _) => {
            let monday = next_weekday(today, Weekday::Mon);
            return Some((2, on(monday + Days::new(5)), None));
        }
        ("end", "of", _) | ("eom" | "eow" | "eoy" | "eod", _, _) => {
            return end_of(words, i, today);
        }
        ("in", _, _) => return in_duration(words, i, now, today),
        _ => {}
    }
    // Weekdays: "friday", "this friday", "next fri", "coming monday".
    let (lead, relative) = match w(0) {
        "this" | "next" | "coming" => (1, true),
        _ => (0, false),
    };
    if let Some(day) = weekday(w(lead), relative || after_on) {
        let date = if w(0) == "this" && today.weekday() == day {
            today
        } else {
            next_weekday(today, day)
        };
        return Some((lead + 1, on(date), None));
    }
    // ISO 2026-12-24
    if let Ok(date) = formats::parse(w(0), formats::ISO_DATE).and_then(|p| p.to_naive_date()) {
        return Some((1, on(date), None));
    }
    // "3 march", "3rd of march 2027", "the 3rd of march"
    let the = usize::from(w(0) == "the");
    let day_word = w(the);
    let day_number = ordinal(day_word).or_else(|| {
        (the == 0 && day_word.len() <= 2)
            .then(|| number(day_word))
            .flatten()
            .filter(|n| (1..=31).contains(n))
    });
    if let Some(day) = day_number {
        let of = usize::from(w(the + 1) == "of");
        if let Some(month) = month(w(the + 1 + of)) {
            let len = the + 2 + of;
            return Some(with_year(words, i, len, today, month, day));
        }
        // "on the 1st", "due the 15th": the next such day of a month. Without "on" or "due", "the
        // 3rd" is more likely part of a title ("read the 3rd chapter").
        if ordinal(day_word).is_some() && after_on {
            return Some((the + 1, DateRule::Next(DayMatch::DayOfMonth(day)), None));
        }
        return None;
    }
    // "march 3", "mar 3rd, 2027"
    if let Some(month) = month(w(0)) {
        let day = ordinal(w(1)).or_else(|| number(w(1)).filter(|n| (1..=31).contains(n)))?;
        return Some(with_year(words, i, 2, today, month, day));
    }
    None
}

fn with_year(
    words: &[Word],
    i: usize,
    len: usize,
    today: NaiveDate,
    month: u32,
    day: u32,
) -> (usize, DateRule, Option<NaiveTime>) {
    let explicit = year_after(words, i + len)
        .and_then(|year| NaiveDate::from_ymd_opt(year, month, day).map(|d| (len + 1, d)));
    match explicit.or_else(|| upcoming(today, month, day).map(|d| (len, d))) {
        Some((len, date)) => (len, DateRule::On(date), None),
        // 30 February and friends: read the words as a date, pointing at the month's last day.
        None => {
            let first = NaiveDate::from_ymd_opt(today.year(), month, 1).unwrap_or(today);
            (len, DateRule::On(last_day_of_month(first)), None)
        }
    }
}

fn end_of(
    words: &[Word],
    i: usize,
    today: NaiveDate,
) -> Option<(usize, DateRule, Option<NaiveTime>)> {
    let w = |k: usize| norm(words, i + k);
    let (len, unit) = match (w(0), w(1), w(2), w(3)) {
        ("eom", ..) => (1, "month"),
        ("eow", ..) => (1, "week"),
        ("eoy", ..) => (1, "year"),
        ("eod", ..) => (1, "day"),
        ("end", "of", "the", unit) => (4, unit),
        ("end", "of", unit, _) => (3, unit),
        _ => return None,
    };
    let day = match unit {
        "month" => last_day_of_month(today),
        "week" => {
            if today.weekday() == Weekday::Fri {
                today
            } else {
                next_weekday(today, Weekday::Fri)
            }
        }
        "year" => NaiveDate::from_ymd_opt(today.year(), 12, 31)?,
        "day" => return Some((len, DateRule::On(today), Some(hm(17, 0)))),
        _ => return None,
    };
    Some((len, DateRule::On(day), None))
}

/// "in 2 hours", "in a week", "in half an hour", "in 3 days".
fn in_duration(
    words: &[Word],
    i: usize,
    now: DateTime<Utc>,
    today: NaiveDate,
) -> Option<(usize, DateRule, Option<NaiveTime>)> {
    let (len, amount, unit) = duration(words, i + 1)?;
    let len = len + 1;
    let rule = match unit {
        Unit::Minute | Unit::Hour => {
            let minutes = if unit == Unit::Hour {
                amount * 60
            } else {
                amount
            };
            let at = now + Duration::minutes(minutes.into());
            let at = at.with_second(0)?.with_nanosecond(0)?;
            DateRule::At(at)
        }
        Unit::Day => DateRule::On(today + Days::new(amount.into())),
        Unit::Week => DateRule::On(today + Days::new(u64::from(amount) * 7)),
        Unit::Month => DateRule::On(today + Months::new(amount)),
        Unit::Year => DateRule::On(today + Months::new(amount * 12)),
    };
    Some((len, rule, None))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum Unit {
    Minute,
    Hour,
    Day,
    Week,
    Month,
    Year,
}

impl Unit {
    pub fn minutes(self) -> Option<u32> {
        match self {
            Self::Minute => Some(1),
            Self::Hour => Some(60),
            Self::Day => Some(1440),
            Self::Week => Some(10080),
            Self::Month | Self::Year => None,
        }
    }
}

/// `t` moved by `amount` units: minutes and hours on the clock, days and longer on the
/// calendar of `tz` (the wall-clock time stays across a DST change).
pub(crate) fn shift(t: DateTime<Utc>, amount: u32, unit: Unit, tz: Tz) -> DateTime<Utc> {
    let local = t.with_timezone(&tz).naive_local();
    let moved = match unit {
        Unit::Minute => return t + Duration::minutes(amount.into()),
        Unit::Hour => return t + Duration::hours(amount.into()),
        Unit::Day => local + Days::new(amount.into()),
        Unit::Week => local + Days::new(u64::from(amount) * 7),
        Unit::Month => local + Months::new(amount),
        Unit::Year => local + Months::new(amount * 12),
    };
    local_to_utc(tz, moved)
}

pub(crate) fn unit(word: &str) -> Option<Unit> {
    let unit = match word {
        "min" | "mins" | "minute" | "minutes" | "m" => Unit::Minute,
        "h" | "hr" | "hrs" | "hour" | "hours" => Unit::Hour,
        "day" | "days" => Unit::Day,
        "week" | "weeks" | "wk" | "wks" => Unit::Week,
        "month" | "months" => Unit::Month,
        "year" | "years" => Unit::Year,
        _ => return None,
    };
    Some(unit)
}

/// "30 minutes", "an hour", "half an hour", "2 days", "30min": length, amount, unit.
pub(crate) fn duration(words: &[Word], i: usize) -> Option<(usize, u32, Unit)> {
    let w = |k: usize| norm(words, i + k);
    if w(0) == "half" && matches!(w(1), "an" | "a") && w(2) == "hour" {
        return Some((3, 30, Unit::Minute));
    }
    let amount = match w(0) {
        "a" | "an" => Some(1),
        word => number(word),
    };
    if let Some(amount) = amount {
        let unit = unit(w(1))?;
        return (amount > 0).then_some((2, amount, unit));
    }
    // "30min", "2h", "15m"
    let word = w(0);
    let digits = word.find(|c: char| !c.is_ascii_digit())?;
    let amount: u32 = word[..digits].parse().ok()?;
    let unit = unit(&word[digits..])?;
    (amount > 0).then_some((1, amount, unit))
}

/// A time phrase at `i`: "5pm", "5:30 pm", "17:00", "noon", "in the morning"; a bare hour
/// ("at 9") only after "at" — 7–11 are mornings, 1–6 afternoons.
pub(crate) fn match_time(words: &[Word], i: usize, after_at: bool) -> Option<(usize, NaiveTime)> {
    let w = |k: usize| norm(words, i + k);
    match (w(0), w(1), w(2)) {
        ("noon" | "midday", _, _) => return Some((1, hm(12, 0))),
        ("midnight", _, _) => return Some((1, hm(0, 0))),
        ("in", "the", part @ ("morning" | "afternoon" | "evening")) => {
            return Some((3, part_of_day(part)?));
        }
        ("this", part @ ("morning" | "afternoon" | "evening"), _) => {
            return Some((2, part_of_day(part)?));
        }
        _ => {}
    }
    let word = w(0);
    for (suffix, pm) in [("am", false), ("a.m", false), ("pm", true), ("p.m", true)] {
        if let Some(clock) = word.strip_suffix(suffix)
            && let Some((hour, minute)) = clock_parts(clock)
        {
            return Some((1, twelve_hour(hour, minute, pm)?));
        }
    }
    if let Some((hour, minute)) = clock_parts(word) {
        let pm = match w(1) {
            "am" | "a.m" => Some(false),
            "pm" | "p.m" => Some(true),
            _ => None,
        };
        if let Some(pm) = pm {
            return Some((2, twelve_hour(hour, minute, pm)?));
        }
        if word.contains([':', '.']) || word.ends_with('h') {
            return Some((1, NaiveTime::from_hms_opt(hour, minute, 0)?));
        }
        if after_at {
            let hour = match hour {
                1..=6 => hour + 12,
                _ => hour,
            };
            return Some((1, NaiveTime::from_hms_opt(hour, minute, 0)?));
        }
    }
    None
}

/// "5", "5:30", "5.30", "17h" → (hour, minute).
fn clock_parts(text: &str) -> Option<(u32, u32)> {
    let text = text.strip_suffix('h').unwrap_or(text);
    let (hour, minute) = match text.split_once([':', '.']) {
        Some((h, m)) if m.len() == 2 => (h, m),
        Some(_) => return None,
        None => (text, "0"),
    };
    if hour.is_empty() || hour.len() > 2 || !hour.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let hour: u32 = hour.parse().ok()?;
    let minute: u32 = minute.parse().ok()?;
    (hour < 24 && minute < 60).then_some((hour, minute))
}

fn twelve_hour(hour: u32, minute: u32, pm: bool) -> Option<NaiveTime> {
    if !(1..=12).contains(&hour) {
        return None;
    }
    let hour = match (hour, pm) {
        (12, false) => 0,
        (12, true) => 12,
        (h, true) => h + 12,
        (h, false) => h,
    };
    NaiveTime::from_hms_opt(hour, minute, 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::words::split;

    const BERLIN: Tz = Tz::known("Europe/Berlin");

    fn utc(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn times_read_twelve_and_twenty_four_hour_clocks() {
        let time = |text: &str, at: bool| match_time(&split(text), 0, at).map(|(_, t)| t);
        assert_eq!(time("5pm", false), Some(hm(17, 0)));
        assert_eq!(time("5:30 pm", false), Some(hm(17, 30)));
        assert_eq!(time("12am", false), Some(hm(0, 0)));
        assert_eq!(time("12pm", false), Some(hm(12, 0)));
        assert_eq!(time("17:45", false), Some(hm(17, 45)));
        assert_eq!(time("9", true), Some(hm(9, 0)));
        assert_eq!(time("5", true), Some(hm(17, 0)));
        assert_eq!(time("5", false), None);
        assert_eq!(time("13pm", false), None);
        assert_eq!(time("25:00", false), None);
    }

    #[test]
    fn a_gap_time_moves_forward_and_an_overlap_takes_the_earlier_instant() {
        let local = |d: &str| NaiveDateTime::parse_from_str(d, "%Y-%m-%d %H:%M").unwrap();
        // Berlin springs forward 2026-03-29 02:00 → 03:00.
        assert_eq!(
            local_to_utc(BERLIN, local("2026-03-29 02:30")),
            utc("2026-03-29T01:30:00Z")
        );
        // …and falls back 2026-10-25 03:00 → 02:00: 02:30 happens twice.
        assert_eq!(
            local_to_utc(BERLIN, local("2026-10-25 02:30")),
            utc("2026-10-25T00:30:00Z")
        );
    }

    #[test]
    fn a_day_without_a_time_is_nine_or_late_today() {
        let day = NaiveDate::from_ymd_opt(2026, 11, 29).unwrap();
        let when = When {
            date: Some(DateRule::On(day)),
            time: None,
        };
        let morning = utc("2026-11-29T07:00:00Z");
        assert_eq!(
            resolve(&when, morning, BERLIN),
            Some(utc("2026-11-29T08:00:00Z"))
        );
        let afternoon = utc("2026-11-29T14:00:00Z");
        assert_eq!(
            resolve(&when, afternoon, BERLIN),
            Some(utc("2026-11-29T22:59:00Z"))
        );
    }

    #[test]
    fn the_next_matching_day_skips_today_once_its_time_has_passed() {
        let now = utc("2026-12-01T10:00:00Z");
        let first = first_ahead(&DayMatch::DayOfMonth(1), None, now, BERLIN);
        assert_eq!(first, utc("2027-01-01T08:00:00Z"));
        let last = first_ahead(&DayMatch::LastDayOfMonth, Some(hm(18, 0)), now, BERLIN);
        assert_eq!(last, utc("2026-12-31T17:00:00Z"));
    }
}
