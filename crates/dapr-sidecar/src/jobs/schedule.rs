//! Time formats of the Jobs API, parsed as the Dapr Scheduler parses them:
//!
//! - `schedule`: `github.com/dapr/kit/cron` `ParseStandard` (a robfig/cron fork): six fields
//!   `second minute hour day-of-month month day-of-week`, `*`/`?`, lists, ranges, `/step`,
//!   month and weekday names; descriptors `@yearly`/`@annually`, `@monthly`, `@weekly`,
//!   `@daily`/`@midnight`, `@hourly`, and `@every <Go duration>` (rounded down to whole
//!   seconds, at least 1 s). Evaluated in UTC; `TZ=`/`CRON_TZ=` prefixes are refused here.
//! - `dueTime` / `ttl`: diagridio/go-etcd-cron `parsePointInTime`: RFC 3339, else a Go duration
//!   (`time.ParseDuration`) from "now", else a non-repeating ISO 8601 duration
//!   (`kit/time.ParseISO8601Duration`).
//!
//! Go durations are parsed by `crate::go_duration`, and negative ones are accepted as the
//! scheduler accepts them: robfig/cron `parser.go` hands `@every`'s text to `time.ParseDuration`
//! and `constantdelay.go` `Every` raises anything under a second (negatives included) to 1 s;
//! go-etcd-cron `internal/scheduler/builder.go` `parsePointInTime` adds the parsed duration to
//! "now" without a sign check, so a negative `dueTime` is due at once.

use chrono::{DateTime, Datelike, Duration, Months, NaiveDate, TimeZone, Timelike, Utc};

use crate::go_duration;

/// A parsed `schedule`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Schedule {
    /// `@every <d>`: fires every `d` (whole seconds).
    Every(Duration),
    Cron(Box<CronSpec>),
}

/// Bit sets of the allowed values of each field (robfig `SpecSchedule`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CronSpec {
    second: u64,
    minute: u64,
    hour: u64,
    dom: u64,
    month: u64,
    dow: u64,
}

const STAR: u64 = 1 << 63;

struct Bounds {
    min: u32,
    max: u32,
    names: &'static [(&'static str, u32)],
}

const SECONDS: Bounds = Bounds {
    min: 0,
    max: 59,
    names: &[],
};
const MINUTES: Bounds = Bounds {
    min: 0,
    max: 59,
    names: &[],
};
const HOURS: Bounds = Bounds {
    min: 0,
    max: 23,
    names: &[],
};
const DOM: Bounds = Bounds {
    min: 1,
    max: 31,
    names: &[],
};
const MONTHS: Bounds = Bounds {
    min: 1,
    max: 12,
    names: &[
        ("jan", 1),
        ("feb", 2),
        ("mar", 3),
        ("apr", 4),
        ("may", 5),
        ("jun", 6),
        ("jul", 7),
        ("aug", 8),
        ("sep", 9),
        ("oct", 10),
        ("nov", 11),
        ("dec", 12),
    ],
};
const DOW: Bounds = Bounds {
    min: 0,
    max: 6,
    names: &[
        ("sun", 0),
        ("mon", 1),
        ("tue", 2),
        ("wed", 3),
        ("thu", 4),
        ("fri", 5),
        ("sat", 6),
    ],
};

impl Schedule {
    pub(crate) fn parse(spec: &str) -> Result<Schedule, String> {
        let spec = spec.trim();
        if spec.is_empty() {
            return Err("empty spec string".to_owned());
        }
        if spec.starts_with("TZ=") || spec.starts_with("CRON_TZ=") {
            return Err(format!(
                "time zones in schedules are not supported by this embedded scheduler: {spec}"
            ));
        }
        if let Some(descriptor) = spec.strip_prefix('@') {
            let cron = match descriptor {
                "yearly" | "annually" => "0 0 0 1 1 *",
                "monthly" => "0 0 0 1 * *",
                "weekly" => "0 0 0 * * 0",
                "daily" | "midnight" => "0 0 0 * * *",
                "hourly" => "0 0 * * * *",
                other => {
                    let Some(every) = other.strip_prefix("every ") else {
                        return Err(format!("unrecognized descriptor: {spec}"));
                    };
                    let nanos = go_duration::parse(every.trim())
                        .map_err(|err| format!("failed to parse duration {spec}: {err}"))?;
                    let seconds = (nanos / 1_000_000_000).max(1);
                    return Ok(Schedule::Every(Duration::seconds(seconds)));
                }
            };
            return Self::parse(cron);
        }
        let fields: Vec<&str> = spec.split_whitespace().collect();
        if fields.len() != 6 {
            return Err(format!(
                "expected exactly 6 fields, found {}: {spec}",
                fields.len()
            ));
        }
        Ok(Schedule::Cron(Box::new(CronSpec {
            second: parse_field(fields[0], &SECONDS)?,
            minute: parse_field(fields[1], &MINUTES)?,
            hour: parse_field(fields[2], &HOURS)?,
            dom: parse_field(fields[3], &DOM)?,
            month: parse_field(fields[4], &MONTHS)?,
            dow: parse_field(fields[5], &DOW)?,
        })))
    }

    /// The first activation strictly after `after` (robfig `Schedule.Next`); `None` when there
    /// is none within five years (e.g. `0 0 0 30 2 *`).
    pub(crate) fn next(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        match self {
            Schedule::Every(delay) => {
                // ConstantDelaySchedule: t + delay - t.Nanosecond()
                let nanos = i64::from(after.nanosecond() % 1_000_000_000);
                after.checked_add_signed(*delay - Duration::nanoseconds(nanos))
            }
            Schedule::Cron(spec) => spec.next(after),
        }
    }
}

fn parse_field(field: &str, bounds: &Bounds) -> Result<u64, String> {
    let mut bits = 0;
    for range in field.split(',') {
        bits |= parse_range(range, bounds)?;
    }
    Ok(bits)
}

fn parse_value(value: &str, bounds: &Bounds) -> Result<u32, String> {
    let lower = value.to_ascii_lowercase();
    if let Some((_, n)) = bounds.names.iter().find(|(name, _)| *name == lower) {
        return Ok(*n);
    }
    value
        .parse::<u32>()
        .map_err(|_| format!("failed to parse int from {value}"))
}

fn parse_range(expr: &str, bounds: &Bounds) -> Result<u64, String> {
    let (range, step) = match expr.split_once('/') {
        Some((range, step)) => (range, Some(step)),
        None => (expr, None),
    };
    let mut extra = 0;
    let (start, mut end) = if range == "*" || range == "?" {
        (bounds.min, bounds.max)
    } else if let Some((low, high)) = range.split_once('-') {
        (parse_value(low, bounds)?, parse_value(high, bounds)?)
    } else {
        let v = parse_value(range, bounds)?;
        (v, v)
    };
    let step = match step {
        Some(step) => {
            let step = step
                .parse::<u32>()
                .map_err(|_| format!("failed to parse int from {step}"))?;
            if !range.contains('-') && range != "*" && range != "?" {
                end = bounds.max;
            }
            step
        }
        None => {
            if range == "*" || range == "?" {
                extra = STAR;
            }
            1
        }
    };
    if step == 0 {
        return Err(format!("step of range should be a positive number: {expr}"));
    }
    if start < bounds.min {
        return Err(format!(
            "beginning of range ({start}) below minimum ({}): {expr}",
            bounds.min
        ));
    }
    if end > bounds.max {
        return Err(format!(
            "end of range ({end}) above maximum ({}): {expr}",
            bounds.max
        ));
    }
    if start > end {
        return Err(format!(
            "beginning of range ({start}) beyond end of range ({end}): {expr}"
        ));
    }
    let mut bits = extra;
    let mut v = start;
    while v <= end {
        bits |= 1 << v;
        v += step;
    }
    Ok(bits)
}

fn has(bits: u64, value: u32) -> bool {
    bits & (1 << value) != 0
}

impl CronSpec {
    fn day_matches(&self, t: DateTime<Utc>) -> bool {
        let dom = has(self.dom, t.day());
        let dow = has(self.dow, t.weekday().num_days_from_sunday());
        if self.dom & STAR != 0 || self.dow & STAR != 0 {
            dom && dow
        } else {
            dom || dow
        }
    }

    /// robfig/cron `SpecSchedule.Next`, in UTC.
    fn next(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let start = after.with_nanosecond(0)? + Duration::seconds(1);
        let mut t = start;
        let mut added = false;
        let year_limit = t.year() + 5;
        let midnight = |y: i32, m: u32, d: u32| -> Option<DateTime<Utc>> {
            Some(Utc.from_utc_datetime(&NaiveDate::from_ymd_opt(y, m, d)?.and_hms_opt(0, 0, 0)?))
        };
        'wrap: loop {
            if t.year() > year_limit {
                return None;
            }
            while !has(self.month, t.month()) {
                if !added {
                    added = true;
                    t = midnight(t.year(), t.month(), 1)?;
                }
                t = t.checked_add_months(Months::new(1))?;
                if t.month() == 1 {
                    continue 'wrap;
                }
            }
            while !self.day_matches(t) {
                if !added {
                    added = true;
                    t = midnight(t.year(), t.month(), t.day())?;
                }
                t += Duration::days(1);
                if t.day() == 1 {
                    continue 'wrap;
                }
            }
            while !has(self.hour, t.hour()) {
                if !added {
                    added = true;
                    t = t.with_minute(0)?.with_second(0)?;
                }
                t += Duration::hours(1);
                if t.hour() == 0 {
                    continue 'wrap;
                }
            }
            while !has(self.minute, t.minute()) {
                if !added {
                    added = true;
                    t = t.with_second(0)?;
                }
                t += Duration::minutes(1);
                if t.minute() == 0 {
                    continue 'wrap;
                }
            }
            while !has(self.second, t.second()) {
                added = true;
                t += Duration::seconds(1);
                if t.second() == 0 {
                    continue 'wrap;
                }
            }
            return Some(t);
        }
    }
}

/// An ISO 8601 duration `[R<n>/]P[nY][nM][nW][nD][T[nH][nM][nS]]`: (years, months, days, rest,
/// repeats).
fn parse_iso8601_duration(input: &str) -> Result<(i32, i32, i64, Duration, i64), String> {
    let err = || format!("unsupported ISO8601 duration format {input:?}");
    let (repeats, rest) = match input.strip_prefix('R') {
        Some(r) => {
            let (n, p) = r.split_once('/').ok_or_else(err)?;
            let n = if n.is_empty() {
                -1
            } else {
                n.parse::<i64>().map_err(|_| err())?
            };
            (n, p)
        }
        None => (0, input),
    };
    let body = rest.strip_prefix('P').ok_or_else(err)?;
    if body.is_empty() {
        return Err(err());
    }
    let (date, time) = match body.split_once('T') {
        Some((d, t)) if !t.is_empty() => (d, Some(t)),
        Some(_) => return Err(err()),
        None => (body, None),
    };
    let (mut years, mut months, mut days) = (0i32, 0i32, 0i64);
    let mut rest = Duration::zero();
    let mut number = String::new();
    for c in date.chars() {
        if c.is_ascii_digit() {
            number.push(c);
            continue;
        }
        let n: i64 = number.parse().map_err(|_| err())?;
        number.clear();
        match c {
            'Y' => years = i32::try_from(n).map_err(|_| err())?,
            'M' => months = i32::try_from(n).map_err(|_| err())?,
            'W' => days += n * 7,
            'D' => days += n,
            _ => return Err(err()),
        }
    }
    if !number.is_empty() {
        return Err(err());
    }
    for c in time.unwrap_or("").chars() {
        if c.is_ascii_digit() || c == '.' {
            number.push(c);
            continue;
        }
        let n: f64 = number.parse().map_err(|_| err())?;
        number.clear();
        #[allow(clippy::cast_possible_truncation)]
        let nanos = match c {
            'H' => n * 3600e9,
            'M' => n * 60e9,
            'S' => n * 1e9,
            _ => return Err(err()),
        } as i64;
        rest += Duration::nanoseconds(nanos);
    }
    if !number.is_empty() {
        return Err(err());
    }
    Ok((years, months, days, rest, repeats))
}

/// go-etcd-cron `parsePointInTime`: RFC 3339, else a Go duration from `now`, else a
/// non-repeating ISO 8601 duration from `now`.
pub(crate) fn parse_point_in_time(
    input: &str,
    now: DateTime<Utc>,
) -> Result<DateTime<Utc>, String> {
    if let Ok(t) = DateTime::parse_from_rfc3339(input) {
        return Ok(t.with_timezone(&Utc));
    }
    if let Ok(nanos) = go_duration::parse(input) {
        return Ok(now + Duration::nanoseconds(nanos));
    }
    let (years, months, days, rest, repeats) =
        parse_iso8601_duration(input).map_err(|_| "due time format not recognized".to_owned())?;
    if repeats != 0 {
        return Err("repeats not supported for due time".to_owned());
    }
    let total_months = years * 12 + months;
    let shifted = if total_months >= 0 {
        now.checked_add_months(Months::new(total_months.unsigned_abs()))
    } else {
        now.checked_sub_months(Months::new(total_months.unsigned_abs()))
    };
    shifted
        .map(|t| t + Duration::days(days) + rest)
        .ok_or_else(|| "due time out of range".to_owned())
}

/// A protobuf `Duration` in its JSON form (`"1.5s"`), as protojson reads `failurePolicy`
/// intervals.
pub(crate) fn parse_proto_duration(input: &str) -> Result<Duration, String> {
    let err = || format!("invalid google.protobuf.Duration value {input:?}");
    let seconds = input.strip_suffix('s').ok_or_else(err)?;
    let (negative, seconds) = match seconds.strip_prefix('-') {
        Some(s) => (true, s),
        None => (false, seconds),
    };
    let (whole, frac) = seconds.split_once('.').unwrap_or((seconds, ""));
    if whole.is_empty() || !whole.bytes().all(|b| b.is_ascii_digit()) || frac.len() > 9 {
        return Err(err());
    }
    if !frac.bytes().all(|b| b.is_ascii_digit()) {
        return Err(err());
    }
    let whole: i64 = whole.parse().map_err(|_| err())?;
    let nanos: i64 = if frac.is_empty() {
        0
    } else {
        format!("{frac:0<9}").parse().map_err(|_| err())?
    };
    let d = Duration::seconds(whole) + Duration::nanoseconds(nanos);
    Ok(if negative { -d } else { d })
}

/// Formats a `chrono::Duration` as protojson writes a `google.protobuf.Duration`.
pub(crate) fn format_proto_duration(d: Duration) -> String {
    let secs = d.num_seconds();
    let nanos = (d - Duration::seconds(secs)).num_nanoseconds().unwrap_or(0);
    if nanos == 0 {
        return format!("{secs}s");
    }
    let sign = if secs < 0 || nanos < 0 { "-" } else { "" };
    let frac = format!("{:09}", nanos.abs());
    let frac = if frac.ends_with("000000") {
        &frac[..3]
    } else if frac.ends_with("000") {
        &frac[..6]
    } else {
        &frac[..]
    };
    format!("{sign}{}.{frac}s", secs.abs())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s)
            .expect("time")
            .with_timezone(&Utc)
    }

    #[test]
    fn cron_with_seconds_fires_on_the_next_matching_second() {
        let every_10s = Schedule::parse("*/10 * * * * *").expect("parse");
        assert_eq!(
            every_10s.next(at("2026-01-01T00:00:00Z")),
            Some(at("2026-01-01T00:00:10Z"))
        );
        let daily = Schedule::parse("@daily").expect("parse");
        assert_eq!(
            daily.next(at("2026-01-01T00:00:00Z")),
            Some(at("2026-01-02T00:00:00Z"))
        );
        let monday_9 = Schedule::parse("0 30 9 * * MON").expect("parse");
        assert_eq!(
            monday_9.next(at("2026-01-01T12:00:00Z")),
            Some(at("2026-01-05T09:30:00Z"))
        );
        let yearly = Schedule::parse("@yearly").expect("parse");
        assert_eq!(
            yearly.next(at("2026-03-01T00:00:00Z")),
            Some(at("2027-01-01T00:00:00Z"))
        );
    }

    #[test]
    fn dom_and_dow_are_ored_when_neither_is_a_star() {
        let spec = Schedule::parse("0 0 0 13 * FRI").expect("parse");
        // 2026-01-02 is a Friday, before the 13th.
        assert_eq!(
            spec.next(at("2026-01-01T00:00:00Z")),
            Some(at("2026-01-02T00:00:00Z"))
        );
    }

    #[test]
    fn every_takes_go_durations_rounded_to_seconds() {
        assert_eq!(
            Schedule::parse("@every 1h30m").expect("parse"),
            Schedule::Every(Duration::minutes(90))
        );
        assert_eq!(
            Schedule::parse("@every 10ms").expect("parse"),
            Schedule::Every(Duration::seconds(1))
        );
        assert!(Schedule::parse("@every").is_err());
        assert!(Schedule::parse("* * * * *").is_err(), "five fields");
        assert!(Schedule::parse("61 * * * * *").is_err());
    }

    #[test]
    fn negative_go_durations_are_accepted_as_the_scheduler_accepts_them() {
        let now = at("2026-01-31T00:00:00Z");
        assert_eq!(
            Schedule::parse("@every -5s").expect("parse"),
            Schedule::Every(Duration::seconds(1)),
            "robfig Every: under a second becomes 1 s"
        );
        assert_eq!(
            parse_point_in_time("-2ms", now),
            Ok(now - Duration::milliseconds(2)),
            "due already"
        );
        assert_eq!(
            Schedule::parse("@every 10").unwrap_err(),
            r#"failed to parse duration @every 10: time: missing unit in duration "10""#
        );
        assert_eq!(
            Schedule::parse("@every 1d").unwrap_err(),
            r#"failed to parse duration @every 1d: time: unknown unit "d" in duration "1d""#
        );
    }

    #[test]
    fn points_in_time_accept_rfc3339_go_and_iso_durations() {
        let now = at("2026-01-31T00:00:00Z");
        assert_eq!(
            parse_point_in_time("2026-02-01T10:00:00+01:00", now),
            Ok(at("2026-02-01T09:00:00Z"))
        );
        assert_eq!(
            parse_point_in_time("90s", now),
            Ok(at("2026-01-31T00:01:30Z"))
        );
        assert_eq!(
            parse_point_in_time("P1DT2H", now),
            Ok(at("2026-02-01T02:00:00Z"))
        );
        assert_eq!(
            parse_point_in_time("PT0.5S", now),
            Ok(now + Duration::milliseconds(500))
        );
        assert!(parse_point_in_time("R3/PT1M", now).is_err());
        assert!(parse_point_in_time("tomorrow", now).is_err());
    }

    #[test]
    fn proto_durations_round_trip() {
        assert_eq!(parse_proto_duration("3s"), Ok(Duration::seconds(3)));
        assert_eq!(
            parse_proto_duration("0.25s"),
            Ok(Duration::milliseconds(250))
        );
        assert!(parse_proto_duration("1m").is_err());
        assert_eq!(format_proto_duration(Duration::seconds(3)), "3s");
        assert_eq!(
            format_proto_duration(Duration::milliseconds(1500)),
            "1.500s"
        );
    }
}
