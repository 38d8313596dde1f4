//! Details in a message — dates and times, recurrence, priority, tags, a reminder — and the
//! words no detail claimed (an add's title).
use crate::Context;
use crate::dates::{When, match_date, match_time};
use crate::labels::{match_priority, match_reminder, match_tag};
use crate::repeats::{Repeat, match_repeat};
use crate::words::Word;
use chrono::{DateTime, Utc};
use todo_domain::Priority;

/// Details found in a message, and the words left over (the title, for an add).
#[derive(Debug, Default)]
pub(crate) struct Details {
    pub when: When,
    pub repeat: Option<Repeat>,
    pub priority: Option<Priority>,
    pub tags: Vec<String>,
    pub reminder: Option<u32>,
    pub rest: Vec<Word>,
}

impl Details {
    pub fn is_empty(&self) -> bool {
        self.when.is_empty()
            && self.repeat.is_none()
            && self.priority.is_none()
            && self.tags.is_empty()
            && self.reminder.is_none()
    }
}

fn is_preposition(word: &str) -> bool {
    matches!(
        word,
        "on" | "at" | "by" | "due" | "for" | "from" | "starting" | "until" | "till" | "before"
    )
}

/// Find every detail phrase in `words`; the words no phrase claimed are `rest`. An unsupported
/// recurrence ("every hour") is an `Err` with the text to answer.
pub(crate) fn extract(words: &[Word], context: &Context) -> Result<Details, String> {
    let (now, tz) = (context.now, context.time_zone);
    let mut details = Details::default();
    let mut used = vec![false; words.len()];
    let mut i = 0;
    while i < words.len() {
        let len = detail_at(words, i, &mut details, now, tz)?;
        if len == 0 {
            i += 1;
        } else {
            used[i..i + len].iter_mut().for_each(|u| *u = true);
            i += len;
        }
    }
    details.rest = words
        .iter()
        .zip(&used)
        .filter(|(_, used)| !**used)
        .map(|(w, _)| w.clone())
        .collect();
    Ok(details)
}

/// The length of the detail phrase at `i` (0: none), recorded in `details`.
fn detail_at(
    words: &[Word],
    i: usize,
    details: &mut Details,
    now: DateTime<Utc>,
    tz: todo_domain::tz::Tz,
) -> Result<usize, String> {
    if details.reminder.is_none()
        && let Some((len, minutes)) = match_reminder(words, i)
    {
        details.reminder = Some(minutes);
        return Ok(len);
    }
    if details.repeat.is_none() {
        match match_repeat(words, i) {
            Some(Ok((len, repeat))) => {
                details.repeat = Some(repeat);
                return Ok(len);
            }
            Some(Err(unsupported)) => return Err(unsupported.0),
            None => {}
        }
    }
    let mut lead = 0;
    while lead < 2 && is_preposition(words.get(i + lead).map_or("", |w| w.norm.as_str())) {
        lead += 1;
    }
    let last_lead = if lead > 0 {
        words[i + lead - 1].norm.as_str()
    } else {
        ""
    };
    let after_on = matches!(
        last_lead,
        "on" | "due" | "by" | "for" | "from" | "starting" | "until" | "till"
    );
    if details.when.date.is_none()
        && let Some((len, rule, time)) = match_date(words, i + lead, now, tz, after_on)
    {
        details.when.date = Some(rule);
        if details.when.time.is_none() {
            details.when.time = time;
        }
        return Ok(lead + len);
    }
    if details.when.time.is_none()
        && let Some((len, time)) = match_time(words, i + lead, last_lead == "at")
    {
        details.when.time = Some(time);
        return Ok(lead + len);
    }
    if lead > 0 {
        return Ok(0);
    }
    if details.priority.is_none()
        && let Some((len, priority)) = match_priority(words, i)
    {
        details.priority = Some(priority);
        return Ok(len);
    }
    if let Some((len, tag)) = match_tag(words, i) {
        details.tags.push(tag);
        return Ok(len);
    }
    Ok(0)
}

/// Words that may stand between a task reference and its new details ("move 2 *to* friday",
/// "make it *repeat* daily").
pub(crate) fn is_filler(word: &str) -> bool {
    matches!(
        word,
        "to" | "as"
            | "a"
            | "an"
            | "with"
            | "repeat"
            | "recur"
            | "repeats"
            | "recurs"
            | "repeating"
            | "due"
            | "be"
            | "is"
            | "for"
            | "on"
            | "at"
            | "until"
            | "till"
            | "and"
            | "the"
            | "instead"
            | "should"
            | "needs"
            | "need"
            | "it's"
            | "now"
            | "priority"
            | "have"
            | "get"
            | "make"
            | "it"
            | "also"
            | "then"
    )
}
