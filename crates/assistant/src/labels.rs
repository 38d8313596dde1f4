//! Priorities ("urgent", "high priority", "!high", "p1"), tags ("#work", "tagged work") and
//! reminder offsets ("remind me 30 minutes before", "with a reminder a day before").
use crate::dates::duration;
use crate::words::Word;
use todo_domain::Priority;

fn norm(words: &[Word], i: usize) -> &str {
    words.get(i).map_or("", |w| w.norm.as_str())
}

pub(crate) fn priority_word(word: &str) -> Option<Priority> {
    match word {
        "high" | "top" | "highest" => Some(Priority::High),
        "medium" | "normal" | "med" | "default" => Some(Priority::Medium),
        "low" | "lowest" => Some(Priority::Low),
        _ => None,
    }
}

/// A priority phrase at `i`.
pub(crate) fn match_priority(words: &[Word], i: usize) -> Option<(usize, Priority)> {
    let w = |k: usize| norm(words, i + k);
    let lead = usize::from(matches!(w(0), "with" | "as" | "at") && w(1) != "priority");
    let lead = if lead == 1 && matches!(w(1), "a" | "the") {
        2
    } else {
        lead
    };
    let (len, priority) = match (w(lead), w(lead + 1)) {
        ("urgent" | "urgently" | "asap" | "important", _) => (1, Priority::High),
        ("not", "urgent" | "important") => (2, Priority::Low),
        ("!high" | "!urgent" | "!!!" | "p1", _) => (1, Priority::High),
        ("!medium" | "!med" | "!normal" | "p2", _) => (1, Priority::Medium),
        ("!low" | "p3", _) => (1, Priority::Low),
        ("high-priority" | "hi-pri", _) => (1, Priority::High),
        ("low-priority", _) => (1, Priority::Low),
        (level, "priority" | "prio" | "pri") => (2, priority_word(level)?),
        ("priority" | "prio", level) => (2, priority_word(level)?),
        _ => return None,
    };
    // A bare lead word ("with urgent"?) only counts before an explicit priority phrase.
    if lead > 0 && len == 1 && !w(lead).starts_with('!') && w(lead) != "urgent" {
        return None;
    }
    Some((lead + len, priority))
}

/// A tag at `i`: "#work" or "tagged work". Returns the tag as written (lowercased by the domain).
pub(crate) fn match_tag(words: &[Word], i: usize) -> Option<(usize, String)> {
    let word = norm(words, i);
    if let Some(tag) = word.strip_prefix('#') {
        let tag = tag.trim_end_matches(|c: char| ",.;:!?".contains(c));
        if !tag.is_empty() && !tag.bytes().all(|b| b.is_ascii_digit()) {
            return Some((1, tag.to_owned()));
        }
        return None;
    }
    if matches!(word, "tagged" | "tag") {
        let next = norm(words, i + 1);
        let next = next.strip_prefix('#').unwrap_or(next);
        if !next.is_empty()
            && next
                .chars()
                .all(|c| c.is_alphanumeric() || "-_/".contains(c))
        {
            return Some((2, next.to_owned()));
        }
    }
    None
}

/// A reminder offset at `i` in minutes: "remind me 30 minutes before", "with a reminder an hour
/// before", "1 day before", "remind me the day before".
pub(crate) fn match_reminder(words: &[Word], i: usize) -> Option<(usize, u32)> {
    let w = |k: usize| norm(words, i + k);
    let lead = match (w(0), w(1), w(2)) {
        ("and" | "with", "remind" | "alert" | "notify", "me") => 3,
        ("remind" | "alert" | "notify" | "ping", "me", _) => 2,
        ("with" | "and" | "set", "a", "reminder") => 3,
        ("with" | "plus", "reminder", _) => 2,
        ("reminder", _, _) => 1,
        _ => 0,
    };
    let (len, minutes) = match (w(lead), w(lead + 1)) {
        ("the", "day") => (2, 1440),
        ("the", "week") => (2, 10080),
        ("on", "time") | ("at", "the") if lead > 0 => {
            let len = if w(lead + 1) == "the" && w(lead + 2) == "time" {
                3
            } else {
                2
            };
            return (w(lead + len - 1) == "time").then_some((lead + len, 0));
        }
        _ => {
            let (len, amount, unit) = duration(words, i + lead)?;
            (len, amount.checked_mul(unit.minutes()?)?)
        }
    };
    let mut end = lead + len;
    match w(end) {
        "before" | "beforehand" | "early" | "earlier" | "ahead" | "prior" => end += 1,
        _ => return None,
    }
    // "before it", "before the deadline", "before it's due"
    match (w(end), w(end + 1)) {
        ("the", "deadline" | "due" | "start") => end += 2,
        ("it" | "it's" | "that", "is") if w(end + 2) == "due" => end += 3,
        ("it's", "due") => end += 2,
        ("it" | "that" | "hand" | "due" | "deadline", _) => end += 1,
        _ => {}
    }
    Some((end, minutes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::words::split;

    #[test]
    fn priorities_need_a_marker_word() {
        let p = |text: &str| match_priority(&split(text), 0);
        assert_eq!(p("urgent"), Some((1, Priority::High)));
        assert_eq!(p("with high priority"), Some((3, Priority::High)));
        assert_eq!(p("priority low"), Some((2, Priority::Low)));
        assert_eq!(p("!high"), Some((1, Priority::High)));
        assert_eq!(p("high"), None);
        assert_eq!(p("with milk"), None);
    }

    #[test]
    fn tags_are_hash_words_or_tagged() {
        assert_eq!(match_tag(&split("#Work,"), 0), Some((1, "work".to_owned())));
        assert_eq!(
            match_tag(&split("tagged home"), 0),
            Some((2, "home".to_owned()))
        );
        assert_eq!(match_tag(&split("#2"), 0), None);
    }

    #[test]
    fn reminder_offsets_count_minutes_before_the_due_time() {
        let r = |text: &str| match_reminder(&split(text), 0);
        assert_eq!(r("remind me 30 minutes before"), Some((5, 30)));
        assert_eq!(r("with a reminder an hour before"), Some((6, 60)));
        assert_eq!(r("2 days before it"), Some((4, 2880)));
        assert_eq!(r("remind me the day before"), Some((5, 1440)));
        assert_eq!(r("remind me 30 minutes"), None);
        assert_eq!(r("30 minutes"), None);
    }
}
