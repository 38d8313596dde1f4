//! Expansion of the RRULE subset that `parse_rrule` accepts, on the floating wall clock.
//!
//! It gives exactly the days the `rrule` crate (python-dateutil's algorithm) gives for these
//! rules, which a property test checks with `rrule` as a dev-dependency oracle: the crate
//! itself links chrono-tz's ~0.9 MB of zone data into every component that expands a rule.
//!
//! Each period of the frequency (a year, a month, a week starting on WKST, or a day) is
//! `INTERVAL` periods after the previous one, counted from the start; every day of the period
//! is kept if it passes every BY* part (as filters: BYMONTH, plain BYDAY weekdays, ordinal
//! BYDAY weekdays counted in the month, or in the year for a YEARLY rule without BYMONTH, and
//! BYMONTHDAY). Without BYMONTHDAY and BYDAY, a YEARLY rule takes the start's month (unless
//! BYMONTH is given) and day, a MONTHLY one the start's day, a WEEKLY one the start's weekday.
//! Like `rrule`, expansion gives up after 100,000 periods in a row without an instance.
use chrono::{Datelike, Days, NaiveDate, Weekday};

use super::{Freq, MAX_YEAR, RRuleSpec};

/// `rrule`'s bound on consecutive periods without an instance.
const MAX_EMPTY_PERIODS: u32 = 100_000;

/// The days of a rule's instances on or after `start`, in order.
pub(super) struct RuleDays {
    freq: Freq,
    interval: u32,
    start: NaiveDate,
    by_month: Vec<u32>,
    month_days: Vec<i8>,
    weekdays: Vec<Weekday>,
    nth_weekdays: Vec<(i8, Weekday)>,
    wkst: Weekday,
    /// The index of the next period.
    period: u32,
    pending: Vec<NaiveDate>,
    finished: bool,
}

impl RuleDays {
    pub(super) fn new(spec: &RRuleSpec, start: NaiveDate) -> Self {
        let mut by_month: Vec<u32> = spec.by_month.iter().map(|&m| u32::from(m)).collect();
        let mut month_days = spec.by_month_day.clone();
        let mut weekdays: Vec<Weekday> = spec
            .by_day
            .iter()
            .filter(|d| d.ordinal.is_none())
            .map(|d| d.weekday)
            .collect();
        let nth_weekdays = spec
            .by_day
            .iter()
            .filter_map(|d| d.ordinal.map(|n| (n, d.weekday)))
            .collect();
        if spec.by_month_day.is_empty() && spec.by_day.is_empty() {
            let day = i8::try_from(start.day()).unwrap_or(1);
            match spec.freq {
                Freq::Yearly => {
                    if by_month.is_empty() {
                        by_month.push(start.month());
                    }
                    month_days.push(day);
                }
                Freq::Monthly => month_days.push(day),
                Freq::Weekly => weekdays.push(start.weekday()),
                Freq::Daily => {}
            }
        }
        Self {
            freq: spec.freq,
            interval: u32::from(spec.interval),
            start,
            by_month,
            month_days,
            weekdays,
            nth_weekdays,
            wkst: spec.wkst,
            period: 0,
            pending: Vec::new(),
            finished: false,
        }
    }

    /// The first and last day of period `index`, `None` past year [`MAX_YEAR`].
    fn period_bounds(&self, index: u32) -> Option<(NaiveDate, NaiveDate)> {
        let steps = u64::from(index) * u64::from(self.interval);
        let (first, last) = match self.freq {
            Freq::Yearly => {
                let year = i64::from(self.start.year()) + i64::try_from(steps).ok()?;
                let year = i32::try_from(year).ok().filter(|&y| y <= MAX_YEAR)?;
                (
                    NaiveDate::from_ymd_opt(year, 1, 1)?,
                    NaiveDate::from_ymd_opt(year, 12, 31)?,
                )
            }
            Freq::Monthly => {
                let month0 = i64::from(self.start.year()) * 12
                    + i64::from(self.start.month0())
                    + i64::try_from(steps).ok()?;
                let year = i32::try_from(month0.div_euclid(12))
                    .ok()
                    .filter(|&y| y <= MAX_YEAR)?;
                let month = u32::try_from(month0.rem_euclid(12)).ok()? + 1;
                let first = NaiveDate::from_ymd_opt(year, month, 1)?;
                (first, last_of_month(first)?)
            }
            Freq::Weekly => {
                let back = u64::from(
                    (7 + self.start.weekday().num_days_from_monday()
                        - self.wkst.num_days_from_monday())
                        % 7,
                );
                let week_start = self.start.checked_sub_days(Days::new(back))?;
                let first = if index == 0 {
                    self.start
                } else {
                    week_start.checked_add_days(Days::new(7 * steps))?
                };
                if first.year() > MAX_YEAR {
                    return None;
                }
                let last = week_start
                    .checked_add_days(Days::new(7 * steps))?
                    .checked_add_days(Days::new(6))?;
                (first, last)
            }
            Freq::Daily => {
                let day = self.start.checked_add_days(Days::new(steps))?;
                if day.year() > MAX_YEAR {
                    return None;
                }
                (day, day)
            }
        };
        Some((first, last))
    }

    fn keeps(&self, day: NaiveDate) -> bool {
        if !self.by_month.is_empty() && !self.by_month.contains(&day.month()) {
            return false;
        }
        if !self.weekdays.is_empty() && !self.weekdays.contains(&day.weekday()) {
            return false;
        }
        if !self.nth_weekdays.is_empty() && !self.is_nth_weekday(day) {
            return false;
        }
        if !self.month_days.is_empty() {
            let Some(days_in_month) = last_of_month(day).map(|last| last.day()) else {
                return false;
            };
            let from_start = i64::from(day.day());
            let from_end = from_start - i64::from(days_in_month) - 1;
            if !self
                .month_days
                .iter()
                .any(|&d| i64::from(d) == from_start || i64::from(d) == from_end)
            {
                return false;
            }
        }
        true
    }

    /// Whether `day` is one of the ordinal weekdays, counted in its month, or in its year for
    /// a YEARLY rule without BYMONTH.
    fn is_nth_weekday(&self, day: NaiveDate) -> bool {
        let in_year = self.freq == Freq::Yearly && self.by_month.is_empty();
        let (position, length) = if in_year {
            let length = if day.leap_year() { 366 } else { 365 };
            (day.ordinal0(), length)
        } else {
            let Some(last) = last_of_month(day) else {
                return false;
            };
            (day.day0(), last.day())
        };
        self.nth_weekdays.iter().any(|&(n, weekday)| {
            weekday == day.weekday()
                && if n > 0 {
                    position / 7 + 1 == u32::from(n.unsigned_abs())
                } else {
                    (length - 1 - position) / 7 + 1 == u32::from(n.unsigned_abs())
                }
        })
    }

    /// Fills `pending` with the next period that has instances (reversed, so `pop` gives them
    /// in order).
    fn refill(&mut self) {
        let mut periods = 0;
        while self.pending.is_empty() && !self.finished {
            periods += 1;
            if periods >= MAX_EMPTY_PERIODS {
                self.finished = true;
                return;
            }
            let Some((first, last)) = self.period_bounds(self.period) else {
                self.finished = true;
                return;
            };
            self.period += 1;
            let mut day = first;
            while day <= last {
                if day >= self.start && self.keeps(day) {
                    self.pending.push(day);
                }
                let Some(next) = day.succ_opt() else { break };
                day = next;
            }
            self.pending.reverse();
        }
    }
}

impl Iterator for RuleDays {
    type Item = NaiveDate;

    fn next(&mut self) -> Option<NaiveDate> {
        if self.pending.is_empty() {
            self.refill();
        }
        self.pending.pop()
    }
}

fn last_of_month(day: NaiveDate) -> Option<NaiveDate> {
    let first = day.with_day(1)?;
    let next = first.checked_add_months(chrono::Months::new(1))?;
    next.pred_opt()
}

#[cfg(test)]
mod tests {
    use chrono::{Month, NaiveDateTime, TimeZone};
    use proptest::prelude::*;

    use super::*;
    use crate::recurrence::{Kind, RecurrenceRule};

    /// The oracle: the days the `rrule` crate gives for `spec` from `start`, up to `MAX_YEAR`;
    /// `None` when it refuses the rule.
    fn rrule_days(spec: &RRuleSpec, start: NaiveDateTime, n: usize) -> Option<Vec<NaiveDate>> {
        let freq = match spec.freq {
            Freq::Daily => rrule::Frequency::Daily,
            Freq::Weekly => rrule::Frequency::Weekly,
            Freq::Monthly => rrule::Frequency::Monthly,
            Freq::Yearly => rrule::Frequency::Yearly,
        };
        let mut rule = rrule::RRule::new(freq)
            .interval(spec.interval)
            .week_start(spec.wkst);
        if !spec.by_month.is_empty() {
            let months: Vec<Month> = spec
                .by_month
                .iter()
                .map(|&m| Month::try_from(m).unwrap())
                .collect();
            rule = rule.by_month(&months);
        }
        if !spec.by_month_day.is_empty() {
            rule = rule.by_month_day(spec.by_month_day.clone());
        }
        if !spec.by_day.is_empty() {
            rule = rule.by_weekday(
                spec.by_day
                    .iter()
                    .map(|d| rrule::NWeekday::new(d.ordinal.map(i16::from), d.weekday))
                    .collect(),
            );
        }
        let set = rule
            .build(rrule::Tz::UTC.from_utc_datetime(&start))
            .ok()?
            .limit();
        let days = (&set)
            .into_iter()
            .map(|instance| {
                let naive = instance.naive_utc();
                assert_eq!(
                    naive.time(),
                    start.time(),
                    "instances keep the start's time"
                );
                naive.date()
            })
            .take_while(|day| day.year() <= MAX_YEAR)
            .take(n)
            .collect();
        Some(days)
    }

    /// `rrule` refuses the ordinals -5 in a month and -53 in a year (its ranges are -4..=5 and
    /// -52..=53), where RFC 5545 allows them; the `rrule`-based expansion we had ended such a
    /// series after occurrence 0, ours gives the RFC's days.
    fn rrule_refuses(spec: &RRuleSpec) -> bool {
        spec.by_day.iter().any(|d| {
            matches!(
                (spec.freq, d.ordinal),
                (Freq::Monthly, Some(-5)) | (Freq::Yearly, Some(-53))
            )
        })
    }

    fn ours(spec: &RRuleSpec, start: NaiveDate, n: usize) -> Vec<NaiveDate> {
        RuleDays::new(spec, start)
            .take_while(|day| day.year() <= MAX_YEAR)
            .take(n)
            .collect()
    }

    fn spec_of(text: &str) -> Option<RRuleSpec> {
        match RecurrenceRule::parse(text).ok()?.kind {
            Kind::RRule(spec) => Some(spec),
            _ => None,
        }
    }

    const DAYS: [&str; 7] = ["MO", "TU", "WE", "TH", "FR", "SA", "SU"];

    fn rule_text() -> impl Strategy<Value = String> {
        let freq = prop::sample::select(vec!["DAILY", "WEEKLY", "MONTHLY", "YEARLY"]);
        let interval = prop_oneof![Just(1u16), 1u16..5, 1u16..40];
        let months = prop::collection::vec(1u8..=12, 0..3);
        let month_days = prop::collection::vec(prop_oneof![1i8..=31, -31i8..=-1], 0..3);
        let by_day = prop::collection::vec(
            (
                prop_oneof![Just(0i8), 1i8..=5, -5i8..=-1, 1i8..=53, -53i8..=-1],
                0usize..7,
            ),
            0..3,
        );
        let wkst = 0usize..7;
        (freq, interval, months, month_days, by_day, wkst).prop_map(
            |(freq, interval, months, month_days, by_day, wkst)| {
                let mut parts = vec![format!("FREQ={freq}"), format!("INTERVAL={interval}")];
                let join = |items: Vec<String>| items.join(",");
                if !months.is_empty() {
                    parts.push(format!(
                        "BYMONTH={}",
                        join(months.iter().map(ToString::to_string).collect())
                    ));
                }
                if !month_days.is_empty() {
                    parts.push(format!(
                        "BYMONTHDAY={}",
                        join(month_days.iter().map(ToString::to_string).collect())
                    ));
                }
                if !by_day.is_empty() {
                    let days = by_day
                        .iter()
                        .map(|&(n, d)| match n {
                            0 => DAYS[d].to_owned(),
                            n => format!("{n}{}", DAYS[d]),
                        })
                        .collect();
                    parts.push(format!("BYDAY={}", join(days)));
                }
                parts.push(format!("WKST={}", DAYS[wkst]));
                parts.join(";")
            },
        )
    }

    fn start() -> impl Strategy<Value = NaiveDateTime> {
        (1900i32..2200, 1u32..=366, 0u32..24, 0u32..60).prop_filter_map(
            "a real day",
            |(year, ordinal, hour, minute)| {
                NaiveDate::from_yo_opt(year, ordinal)?.and_hms_opt(hour, minute, 7)
            },
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]
        #[test]
        fn expansion_gives_the_days_rrule_gives(text in rule_text(), start in start()) {
            let Some(spec) = spec_of(&text) else {
                return Err(TestCaseError::reject("not an accepted rule"));
            };
            match rrule_days(&spec, start, 25) {
                Some(expected) => prop_assert_eq!(ours(&spec, start.date(), 25), expected, "{}", text),
                None => prop_assert!(rrule_refuses(&spec), "rrule refuses {}", text),
            }
        }
    }

    #[test]
    fn hand_picked_rules_agree_with_rrule() {
        let start = NaiveDate::from_ymd_opt(2026, 1, 31)
            .unwrap()
            .and_hms_opt(9, 30, 0)
            .unwrap();
        for text in [
            "FREQ=MONTHLY",
            "FREQ=YEARLY",
            "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=29",
            "FREQ=WEEKLY;INTERVAL=2;BYDAY=MO,SU;WKST=SU",
            "FREQ=MONTHLY;BYDAY=-1FR",
            "FREQ=MONTHLY;BYDAY=MO,1FR",
            "FREQ=YEARLY;BYDAY=20MO",
            "FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU",
            "FREQ=MONTHLY;BYMONTHDAY=-1,15",
            "FREQ=DAILY;BYMONTH=2;BYMONTHDAY=29;BYDAY=MO",
            "FREQ=DAILY;INTERVAL=7;BYDAY=MO",
        ] {
            let spec = spec_of(text).unwrap();
            let expected = rrule_days(&spec, start, 30).unwrap();
            assert_eq!(ours(&spec, start.date(), 30), expected, "{text}");
        }
        // Expansion is not vacuous, and the ordinals rrule refuses count from the end.
        assert_eq!(
            ours(
                &spec_of("FREQ=MONTHLY;BYDAY=-5MO").unwrap(),
                start.date(),
                2
            ),
            [
                NaiveDate::from_ymd_opt(2026, 3, 2).unwrap(),
                NaiveDate::from_ymd_opt(2026, 6, 1).unwrap(),
            ]
        );
        assert_eq!(
            ours(&spec_of("FREQ=MONTHLY").unwrap(), start.date(), 3),
            [
                NaiveDate::from_ymd_opt(2026, 1, 31).unwrap(),
                NaiveDate::from_ymd_opt(2026, 3, 31).unwrap(),
                NaiveDate::from_ymd_opt(2026, 5, 31).unwrap(),
            ]
        );
    }
}
