//! Finding the task a title fragment names ("pay rent", "the dentist task").
//!
//! In order: a title equal to the words; titles containing them; titles containing every word —
//! first among the tasks the command prefers (completing looks at open tasks, reopening at
//! completed ones), then among all. One match is found; several are ambiguous (ask back).
use crate::TaskSummary;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Prefer {
    Open,
    Completed,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Resolution {
    Found(TaskSummary),
    /// Several tasks match (at most ten, best first).
    Ambiguous(Vec<TaskSummary>),
    NotFound,
}

const MAX_CANDIDATES: usize = 10;

fn simplify(text: &str) -> String {
    text.to_lowercase()
        .replace(['’', '‘'], "'")
        .split(|c: char| c.is_whitespace() || ",.;:!?\"“”()".contains(c))
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

pub fn resolve(reference: &str, tasks: &[TaskSummary], prefer: Prefer) -> Resolution {
    let wanted = simplify(reference);
    if wanted.is_empty() {
        return Resolution::NotFound;
    }
    // The preferred tasks first (open ones for "complete"), then all of them.
    let preferred: Vec<&TaskSummary> = tasks
        .iter()
        .filter(|t| t.completed == (prefer == Prefer::Completed))
        .collect();
    let everything: Vec<&TaskSummary> = tasks.iter().collect();
    for pool in [preferred, everything] {
        if let Some(found) = best_matches(&wanted, &pool) {
            return match found.as_slice() {
                [one] => Resolution::Found((*one).clone()),
                many => Resolution::Ambiguous(
                    many.iter()
                        .take(MAX_CANDIDATES)
                        .map(|t| (*t).clone())
                        .collect(),
                ),
            };
        }
    }
    Resolution::NotFound
}

/// The tasks of the first tier that matches anything: equal title, containing, all words.
fn best_matches<'a>(wanted: &str, tasks: &[&'a TaskSummary]) -> Option<Vec<&'a TaskSummary>> {
    let words: Vec<&str> = wanted.split(' ').collect();
    let titles: Vec<String> = tasks.iter().map(|t| simplify(&t.title)).collect();
    let tiers: [&dyn Fn(&str) -> bool; 3] = [
        &|title| title == wanted,
        &|title| title.contains(wanted),
        &|title| words.iter().all(|w| title.contains(w)),
    ];
    tiers.iter().find_map(|tier| {
        let matches: Vec<&TaskSummary> = titles
            .iter()
            .zip(tasks)
            .filter(|(title, _)| tier(title))
            .map(|(_, task)| *task)
            .collect();
        (!matches.is_empty()).then_some(matches)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    fn task(n: u128, title: &str, completed: bool) -> TaskSummary {
        TaskSummary {
            id: Uuid::from_u128(n),
            title: title.to_owned(),
            completed,
            due_date: None,
            tags: vec![],
        }
    }

    #[test]
    fn an_exact_title_beats_titles_that_contain_it() {
        let tasks = [
            task(1, "Pay rent", false),
            task(2, "Pay rent for garage", false),
        ];
        assert_eq!(
            resolve("pay rent", &tasks, Prefer::Open),
            Resolution::Found(tasks[0].clone())
        );
        assert_eq!(
            resolve("rent", &tasks, Prefer::Open),
            Resolution::Ambiguous(tasks.to_vec())
        );
    }

    #[test]
    fn words_may_appear_in_any_order_and_the_command_prefers_open_or_completed() {
        let tasks = [
            task(1, "Call the dentist", false),
            task(2, "Dentist: call back", true),
        ];
        assert_eq!(
            resolve("dentist call", &tasks, Prefer::Open),
            Resolution::Found(tasks[0].clone())
        );
        assert_eq!(
            resolve("dentist", &tasks, Prefer::Completed),
            Resolution::Found(tasks[1].clone())
        );
        assert_eq!(
            resolve("plumber", &tasks, Prefer::Open),
            Resolution::NotFound
        );
    }
}
