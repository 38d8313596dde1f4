//! Recurrence in words ("every weekday", "every 2 weeks on monday", "monthly on the 1st", "on the
//! 1st of every month", "every year", "daily", "every! 3 days") as the rule strings
//! `todo_domain::RecurrenceRule` accepts, in their canonical form.
//!
//! "monthly on the 31st" uses the `monthly` shorthand anchored on a 31st, which clamps to the
//! month's last day rather than skipping short months; "the last day of every month" is
//! `BYMONTHDAY=-1`. `every!` (Todoist's spelling) repeats from completion.
use crate::dates::{DayMatch, hm, weekday, weekday_plural};
use crate::words::{Word, number, ordinal};
use chrono::{NaiveTime, Weekday};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Repeat {
    /// Canonical `recurrence_rule` text.
    pub rule: String,
    /// `repeat_from: "completion"`.
    pub from_completion: bool,
    /// Which days the first occurrence may fall on, when no date is given.
    pub anchor: DayMatch,
    /// A time the phrase implies ("every morning").
    pub time: Option<NaiveTime>,
}

/// A phrase that asks for a recurrence we cannot store (hourly and finer).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Unsupported(pub String);

const WORKDAYS: [Weekday; 5] = [
    Weekday::Mon,
    Weekday::Tue,
    Weekday::Wed,
    Weekday::Thu,
    Weekday::Fri,
];
const WEEKEND: [Weekday; 2] = [Weekday::Sat, Weekday::Sun];

/// The basic cadence before any "on …" refinement.
enum Cadence {
    Days(u32),
    Weeks(u32, Vec<Weekday>),
    Months(u32, MonthDay),
    Years(u32),
}

enum MonthDay {
    Start,
    Day(u32),
    Last,
}

fn norm(words: &[Word], i: usize) -> &str {
    words.get(i).map_or("", |w| w.norm.as_str())
}

pub(crate) type RepeatMatch = Result<(usize, Repeat), Unsupported>;

/// A recurrence phrase starting at `i`.
pub(crate) fn match_repeat(words: &[Word], i: usize) -> Option<RepeatMatch> {
    let w = |k: usize| norm(words, i + k);
    let mut from_completion = false;
    let mut time = None;
    let (len, cadence) = match w(0) {
        "every" | "each" | "every!" | "each!" => {
            from_completion = w(0).ends_with('!');
            let (len, cadence, implied) = match after_every(words, i + 1)? {
                Ok(found) => found,
                Err(unsupported) => return Some(Err(unsupported)),
            };
            time = implied;
            (len + 1, cadence)
        }
        "daily" => (1, Cadence::Days(1)),
        "nightly" => {
            time = Some(hm(20, 0));
            (1, Cadence::Days(1))
        }
        "weekly" => (1, Cadence::Weeks(1, vec![])),
        "fortnightly" | "biweekly" => (1, Cadence::Weeks(2, vec![])),
        "monthly" => (1, Cadence::Months(1, MonthDay::Start)),
        "yearly" | "annually" => (1, Cadence::Years(1)),
        "hourly" => return Some(Err(unsupported("hourly"))),
        "on" | "the" => return on_the_day_of_every_month(words, i).map(Ok),
        _ => {
            // "the 1st of every month" without "on", or "mondays"/"weekdays" after "on"
            if let Some(found) = on_the_day_of_every_month(words, i) {
                return Some(Ok(found));
            }
            return None;
        }
    };
    // Refinements: "… on monday and thursday", "… on the 1st", "… on the last day".
    let (extra, cadence) = refine(words, i + len, cadence);
    let mut len = len + extra;
    // "every monday night", "daily in the morning"
    if time.is_none()
        && let Some((part_len, part)) = part_of_day_after(words, i + len)
    {
        time = Some(part);
        len += part_len;
    }
    Some(Ok((len, repeat(cadence, from_completion, time))))
}

fn part_of_day_after(words: &[Word], i: usize) -> Option<(usize, NaiveTime)> {
    let the = usize::from(norm(words, i) == "in" && norm(words, i + 1) == "the") * 2;
    let time = match norm(words, i + the) {
        "morning" | "mornings" => hm(9, 0),
        "afternoon" | "afternoons" => hm(15, 0),
        "evening" | "evenings" => hm(18, 0),
        "night" | "nights" if the == 0 => hm(20, 0),
        _ => return None,
    };
    Some((the + 1, time))
}

fn unsupported(what: &str) -> Unsupported {
    Unsupported(format!(
        "I can repeat tasks daily, weekly, monthly or yearly (or every few days, weeks, months or years), but not {what}."
    ))
}

type AfterEvery = Result<(usize, Cadence, Option<NaiveTime>), Unsupported>;

fn after_every(words: &[Word], i: usize) -> Option<AfterEvery> {
    let w = |k: usize| norm(words, i + k);
    let found = |len, cadence| Some(Ok((len, cadence, None)));
    match (w(0), w(1)) {
        ("day", _) | ("single", "day") => {
            return found(1 + usize::from(w(0) == "single"), Cadence::Days(1));
        }
        ("other", "day") => return found(2, Cadence::Days(2)),
        ("other", day) if weekday(day, true).is_some() => {
            let (len, days) = weekday_list(words, i + 1)?;
            return found(1 + len, Cadence::Weeks(2, days));
        }
        ("other", "week") => return found(2, Cadence::Weeks(2, vec![])),
        ("other", "month") => return found(2, Cadence::Months(2, MonthDay::Start)),
        ("other", "year") => return found(2, Cadence::Years(2)),
        ("weekday" | "weekdays" | "workday" | "workdays", _) => {
            return found(1, Cadence::Weeks(1, WORKDAYS.to_vec()));
        }
        ("work" | "working" | "business", "day") => {
            return found(2, Cadence::Weeks(1, WORKDAYS.to_vec()));
        }
        ("weekend" | "weekends", _) => return found(1, Cadence::Weeks(1, WEEKEND.to_vec())),
        ("week", _) => return found(1, Cadence::Weeks(1, vec![])),
        ("month", _) => return found(1, Cadence::Months(1, MonthDay::Start)),
        ("year", _) => return found(1, Cadence::Years(1)),
        ("morning", _) => return Some(Ok((1, Cadence::Days(1), Some(hm(9, 0))))),
        ("evening", _) => return Some(Ok((1, Cadence::Days(1), Some(hm(18, 0))))),
        ("night", _) => return Some(Ok((1, Cadence::Days(1), Some(hm(20, 0))))),
        ("hour" | "minute", _) => return Some(Err(unsupported(&format!("every {}", w(0))))),
        ("last", "day") => {
            let of_month = month_suffix(words, i + 2);
            return found(2 + of_month, Cadence::Months(1, MonthDay::Last));
        }
        _ => {}
    }
    if let Some(n) = number(w(0)).filter(|n| *n >= 1) {
        let cadence = match w(1) {
            "day" | "days" => Cadence::Days(n),
            "week" | "weeks" => Cadence::Weeks(n, vec![]),
            "month" | "months" => Cadence::Months(n, MonthDay::Start),
            "year" | "years" => Cadence::Years(n),
            "hour" | "hours" | "minute" | "minutes" => {
                return Some(Err(unsupported(&format!("every {} {}", w(0), w(1)))));
            }
            _ => return None,
        };
        return found(2, cadence);
    }
    if let Some((len, days)) = weekday_list(words, i) {
        return found(len, Cadence::Weeks(1, days));
    }
    // "every 1st of the month", "every 15th"
    if let Some(day) = ordinal(w(0)) {
        return found(
            1 + month_suffix(words, i + 1),
            Cadence::Months(1, MonthDay::Day(day)),
        );
    }
    None
}

/// "of the month", "of each month", "of every month", "of the month" → its length (or 0).
fn month_suffix(words: &[Word], i: usize) -> usize {
    match (norm(words, i), norm(words, i + 1), norm(words, i + 2)) {
        ("of", "the" | "each" | "every", "month") => 3,
        ("of", "month", _) => 2,
        _ => 0,
    }
}

/// "on the 1st of every month", "the 15th of each month", "on the last day of every month",
/// "on mondays", "on weekdays".
fn on_the_day_of_every_month(words: &[Word], i: usize) -> Option<(usize, Repeat)> {
    let w = |k: usize| norm(words, i + k);
    let on = usize::from(w(0) == "on");
    if on == 1 {
        match w(1) {
            "weekdays" | "workdays" => {
                return Some((2, repeat(Cadence::Weeks(1, WORKDAYS.to_vec()), false, None)));
            }
            "weekends" => {
                return Some((2, repeat(Cadence::Weeks(1, WEEKEND.to_vec()), false, None)));
            }
            _ => {}
        }
        let mut days = Vec::new();
        let mut len = 1;
        while let Some(day) = weekday_plural(w(len)) {
            days.push(day);
            len += 1;
            if matches!(w(len), "and" | "&" | "or") && weekday_plural(w(len + 1)).is_some() {
                len += 1;
            }
        }
        if !days.is_empty() {
            return Some((len, repeat(Cadence::Weeks(1, days), false, None)));
        }
    }
    let the = on + usize::from(w(on) == "the");
    let (day, day_len) = match (w(the), w(the + 1)) {
        ("last", "day") => (MonthDay::Last, 2),
        (word, _) => (MonthDay::Day(ordinal(word)?), 1),
    };
    let of = the + day_len;
    if w(of) == "of" && matches!(w(of + 1), "every" | "each") && w(of + 2) == "month" {
        return Some((of + 3, repeat(Cadence::Months(1, day), false, None)));
    }
    None
}

/// "monday", "monday and thursday", "mon, wed & fri".
fn weekday_list(words: &[Word], i: usize) -> Option<(usize, Vec<Weekday>)> {
    let mut days = Vec::new();
    let mut len = 0;
    loop {
        let word = norm(words, i + len);
        let day = weekday(word, true).or_else(|| weekday_plural(word));
        let Some(day) = day else { break };
        days.push(day);
        len += 1;
        let next = norm(words, i + len + 1);
        let next_is_day = weekday(next, true)
            .or_else(|| weekday_plural(next))
            .is_some();
        if matches!(norm(words, i + len), "and" | "&" | "or") && next_is_day {
            len += 1;
        }
    }
    (!days.is_empty()).then_some((len, days))
}

fn refine(words: &[Word], i: usize, cadence: Cadence) -> (usize, Cadence) {
    let w = |k: usize| norm(words, i + k);
    if w(0) != "on" {
        return (0, cadence);
    }
    match cadence {
        Cadence::Weeks(n, days) if days.is_empty() => match weekday_list(words, i + 1) {
            Some((len, days)) => (len + 1, Cadence::Weeks(n, days)),
            None => (0, Cadence::Weeks(n, days)),
        },
        Cadence::Months(n, MonthDay::Start) => {
            let the = usize::from(w(1) == "the");
            match (w(1 + the), w(2 + the)) {
                ("last", "day") => (3 + the, Cadence::Months(n, MonthDay::Last)),
                (word, _) => match ordinal(word) {
                    Some(day)
                        if the == 1 || word.chars().next().is_some_and(|c| c.is_ascii_digit()) =>
                    {
                        (2 + the, Cadence::Months(n, MonthDay::Day(day)))
                    }
                    _ => (0, Cadence::Months(n, MonthDay::Start)),
                },
            }
        }
        other => (0, other),
    }
}

fn byday(days: &[Weekday]) -> String {
    // Monday first, each day once (the week in order, rather than a sort).
    let week = [
        Weekday::Mon,
        Weekday::Tue,
        Weekday::Wed,
        Weekday::Thu,
        Weekday::Fri,
        Weekday::Sat,
        Weekday::Sun,
    ];
    week.iter()
        .filter(|day| days.contains(day))
        // Weekday names are ASCII: `to_ascii_uppercase` spares the Unicode case tables.
        .map(|d| format!("{d:?}")[..2].to_ascii_uppercase())
        .collect::<Vec<_>>()
        .join(",")
}

fn repeat(cadence: Cadence, from_completion: bool, time: Option<NaiveTime>) -> Repeat {
    let (rule, anchor) = match cadence {
        Cadence::Days(1) => ("daily".to_owned(), DayMatch::Any),
        Cadence::Days(n) => (format!("every {n} days"), DayMatch::Any),
        Cadence::Weeks(1, days) if days.is_empty() => ("weekly".to_owned(), DayMatch::Any),
        Cadence::Weeks(n, days) if days.is_empty() => (format!("every {n} weeks"), DayMatch::Any),
        Cadence::Weeks(1, days) => (
            format!("FREQ=WEEKLY;BYDAY={}", byday(&days)),
            DayMatch::Weekdays(days),
        ),
        Cadence::Weeks(n, days) => (
            format!("FREQ=WEEKLY;INTERVAL={n};BYDAY={}", byday(&days)),
            DayMatch::Weekdays(days),
        ),
        Cadence::Months(n, MonthDay::Last) => {
            let interval = if n == 1 {
                String::new()
            } else {
                format!(";INTERVAL={n}")
            };
            (
                format!("FREQ=MONTHLY{interval};BYMONTHDAY=-1"),
                DayMatch::LastDayOfMonth,
            )
        }
        Cadence::Months(n, day) => {
            let rule = if n == 1 {
                "monthly".to_owned()
            } else {
                format!("FREQ=MONTHLY;INTERVAL={n}")
            };
            let anchor = match day {
                MonthDay::Day(d) => DayMatch::DayOfMonth(d),
                _ => DayMatch::Any,
            };
            (rule, anchor)
        }
        Cadence::Years(1) => ("yearly".to_owned(), DayMatch::Any),
        Cadence::Years(n) => (format!("FREQ=YEARLY;INTERVAL={n}"), DayMatch::Any),
    };
    Repeat {
        rule,
        from_completion,
        anchor,
        time,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::words::split;
    use todo_domain::RecurrenceRule;

    fn rule(text: &str) -> (usize, Repeat) {
        match_repeat(&split(text), 0)
            .unwrap_or_else(|| panic!("no recurrence in {text:?}"))
            .unwrap_or_else(|e| panic!("{text:?}: {}", e.0))
    }

    #[test]
    fn phrases_become_canonical_rules_the_domain_accepts() {
        for (text, expected, len) in [
            ("every weekday", "FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR", 2),
            (
                "every 2 weeks on monday",
                "FREQ=WEEKLY;INTERVAL=2;BYDAY=MO",
                5,
            ),
            ("monthly on the 1st", "monthly", 4),
            ("every year", "yearly", 2),
            ("daily", "daily", 1),
            ("every! 3 days", "every 3 days", 3),
            ("every friday and monday", "FREQ=WEEKLY;BYDAY=MO,FR", 4),
            ("on the 1st of every month", "monthly", 6),
            (
                "on the last day of every month",
                "FREQ=MONTHLY;BYMONTHDAY=-1",
                7,
            ),
            ("every 3 months", "FREQ=MONTHLY;INTERVAL=3", 3),
            ("every other week", "every 2 weeks", 3),
            ("on mondays", "FREQ=WEEKLY;BYDAY=MO", 2),
            ("every weekend", "FREQ=WEEKLY;BYDAY=SA,SU", 2),
        ] {
            let (found_len, repeat) = rule(text);
            assert_eq!(repeat.rule, expected, "{text}");
            assert_eq!(found_len, len, "{text}");
            let parsed = RecurrenceRule::parse(&repeat.rule).unwrap();
            assert_eq!(parsed.as_str(), repeat.rule, "{text} is canonical");
        }
        assert!(rule("every! 3 days").1.from_completion);
        assert!(!rule("every 3 days").1.from_completion);
    }

    #[test]
    fn hourly_is_refused_with_a_reason_and_other_words_are_not_recurrences() {
        assert!(matches!(
            match_repeat(&split("every 2 hours"), 0),
            Some(Err(_))
        ));
        assert!(match_repeat(&split("everything"), 0).is_none());
        assert!(match_repeat(&split("on friday"), 0).is_none());
        assert!(match_repeat(&split("the 1st"), 0).is_none());
    }
}
