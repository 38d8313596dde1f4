//! Parsed task fields: each type can only hold a valid value ("parse, don't validate").
use crate::error::FieldError;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub const TITLE_MAX_CHARS: usize = 255;
pub const DESCRIPTION_MAX_CHARS: usize = 2000;
pub const TAGS_MAX: usize = 20;
pub const TAG_MAX_CHARS: usize = 50;
/// A reminder can be at most a year before the due time.
pub const REMINDER_OFFSET_MAX_MINUTES: u32 = 525_600;

/// A task title: trimmed, 1–255 characters, no control characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Title(String);

impl Title {
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        let title = raw.trim();
        if title.is_empty() {
            return Err(FieldError::new("title", "must not be blank"));
        }
        let chars = title.chars().count();
        if chars > TITLE_MAX_CHARS {
            return Err(FieldError::new(
                "title",
                format!("must be at most {TITLE_MAX_CHARS} characters (got {chars})"),
            ));
        }
        if title.chars().any(char::is_control) {
            return Err(FieldError::new(
                "title",
                "must not contain control characters",
            ));
        }
        Ok(Self(title.to_owned()))
    }

    pub fn into_inner(self) -> String {
        self.0
    }
}

/// An optional description of at most 2000 characters; blank means none.
pub fn parse_description(raw: &str) -> Result<Option<String>, FieldError> {
    let description = raw.trim();
    if description.is_empty() {
        return Ok(None);
    }
    let chars = description.chars().count();
    if chars > DESCRIPTION_MAX_CHARS {
        return Err(FieldError::new(
            "description",
            format!("must be at most {DESCRIPTION_MAX_CHARS} characters (got {chars})"),
        ));
    }
    Ok(Some(description.to_owned()))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Pending,
    InProgress,
    Completed,
}

impl Status {
    pub fn parse(raw: &str, field: &str) -> Result<Self, FieldError> {
        match raw {
            "pending" => Ok(Self::Pending),
            "in_progress" => Ok(Self::InProgress),
            "completed" => Ok(Self::Completed),
            other => Err(FieldError::new(
                field,
                format!("unknown status {other:?}; expected pending, in_progress or completed"),
            )),
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Priority {
    Low,
    #[default]
    Medium,
    High,
}

impl Priority {
    pub fn parse(raw: &str, field: &str) -> Result<Self, FieldError> {
        match raw {
            "low" => Ok(Self::Low),
            "medium" => Ok(Self::Medium),
            "high" => Ok(Self::High),
            other => Err(FieldError::new(
                field,
                format!("unknown priority {other:?}; expected low, medium or high"),
            )),
        }
    }

    /// Sort rank: high sorts before medium before low in descending order.
    pub fn rank(self) -> u8 {
        match self {
            Self::Low => 0,
            Self::Medium => 1,
            Self::High => 2,
        }
    }
}

/// Tags normalised to trimmed lowercase, unique and sorted; at most 20 of 1–50 characters.
pub fn parse_tags<'a>(raw: impl IntoIterator<Item = &'a str>) -> Result<Vec<String>, FieldError> {
    let mut tags = Vec::new();
    for tag in raw {
        let tag = tag.trim().to_lowercase();
        let chars = tag.chars().count();
        if chars == 0 || chars > TAG_MAX_CHARS {
            return Err(FieldError::new(
                "tags",
                format!("each tag must be 1–{TAG_MAX_CHARS} characters (got {chars})"),
            ));
        }
        if tag.chars().any(|c| c.is_control() || c == ',') {
            return Err(FieldError::new(
                "tags",
                "tags must not contain commas or control characters",
            ));
        }
        tags.push(tag);
    }
    tags.sort();
    tags.dedup();
    if tags.len() > TAGS_MAX {
        return Err(FieldError::new(
            "tags",
            format!(
                "at most {TAGS_MAX} distinct tags are allowed (got {})",
                tags.len()
            ),
        ));
    }
    Ok(tags)
}

/// An RFC 3339 instant that states its offset (`Z` or `±hh:mm`), stored in UTC.
/// Rejects forms like `2026-01-01T10:00:00+00:00Z` (offset and `Z` both).
pub fn parse_instant(raw: &str, field: &str) -> Result<DateTime<Utc>, FieldError> {
    DateTime::parse_from_rfc3339(raw.trim())
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| {
            FieldError::new(
                field,
                format!(
                    "{raw:?} is not an RFC 3339 timestamp with an offset, e.g. 2026-03-01T09:00:00Z"
                ),
            )
        })
}

/// An IANA time zone name such as `Europe/Berlin`.
pub fn parse_time_zone(raw: &str) -> Result<chrono_tz::Tz, FieldError> {
    raw.trim().parse::<chrono_tz::Tz>().map_err(|_| {
        FieldError::new(
            "time_zone",
            format!("{raw:?} is not an IANA time zone name, e.g. UTC or Europe/Berlin"),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn title_is_trimmed_and_bounded() {
        assert_eq!(
            Title::parse("  buy milk ").unwrap().into_inner(),
            "buy milk"
        );
        assert!(Title::parse("   ").is_err());
        assert!(Title::parse(&"a".repeat(255)).is_ok());
        let err = Title::parse(&"a".repeat(256)).unwrap_err();
        assert_eq!(err.field.as_deref(), Some("title"));
        assert!(Title::parse("a\u{0}b").is_err());
        // Characters, not bytes, are counted.
        assert!(Title::parse(&"é".repeat(255)).is_ok());
    }

    #[test]
    fn description_is_bounded_and_blank_means_none() {
        assert_eq!(parse_description("  ").unwrap(), None);
        assert!(parse_description(&"x".repeat(2000)).unwrap().is_some());
        assert!(parse_description(&"x".repeat(2001)).is_err());
    }

    #[test]
    fn tags_are_normalised_unique_and_bounded() {
        assert_eq!(
            parse_tags([" Work", "home", "work "]).unwrap(),
            vec!["home", "work"]
        );
        assert!(parse_tags([""]).is_err());
        assert!(parse_tags([&*"t".repeat(51)]).is_err());
        let twenty: Vec<String> = (0..20).map(|i| format!("t{i}")).collect();
        assert!(parse_tags(twenty.iter().map(String::as_str)).is_ok());
        let many: Vec<String> = (0..21).map(|i| format!("t{i}")).collect();
        assert!(parse_tags(many.iter().map(String::as_str)).is_err());
        assert!(parse_tags(["a,b"]).is_err());
    }

    #[test]
    fn instants_need_an_offset_and_are_stored_in_utc() {
        let t = parse_instant("2026-03-01T10:00:00+02:00", "due_date").unwrap();
        assert_eq!(t.to_rfc3339(), "2026-03-01T08:00:00+00:00");
        assert!(parse_instant("2026-03-01T10:00:00", "due_date").is_err());
        assert!(parse_instant("2026-01-01T10:00:00+00:00Z", "due_date").is_err());
        assert!(parse_instant("tomorrow", "due_date").is_err());
    }

    #[test]
    fn status_priority_and_time_zone_parse_known_values_only() {
        assert_eq!(
            Status::parse("in_progress", "status").unwrap(),
            Status::InProgress
        );
        assert!(Status::parse("done", "status").is_err());
        assert_eq!(Priority::parse("high", "priority").unwrap(), Priority::High);
        assert!(Priority::parse("urgent", "priority").is_err());
        assert_eq!(
            parse_time_zone("Europe/Berlin").unwrap(),
            chrono_tz::Europe::Berlin
        );
        assert!(parse_time_zone("Mars/Olympus").is_err());
    }
}
