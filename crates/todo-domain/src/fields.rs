//! Parsed task fields: each type can only hold a valid value ("parse, don't validate").
use crate::error::FieldError;
use crate::tz::Tz;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub const TITLE_MAX_CHARS: usize = 255;
pub const DESCRIPTION_MAX_CHARS: usize = 2000;
pub const TAGS_MAX: usize = 20;
pub const TAG_MAX_CHARS: usize = 50;
/// A reminder can be at most a year before the due time.
pub const REMINDER_OFFSET_MAX_MINUTES: u32 = 525_600;

/// A task title: trimmed, 1–255 characters, no control characters. Serialised as the plain
/// string. Reading one back (a stored task, an event) trusts it: every title was parsed on its way
/// in, and a list reads thousands of them, so they are not checked again.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(from = "String", into = "String")]
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

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_inner(self) -> String {
        self.0
    }
}

/// Trusted: see the type's docs. Input goes through [`Title::parse`].
impl From<String> for Title {
    fn from(stored: String) -> Self {
        Self(stored)
    }
}

impl From<Title> for String {
    fn from(title: Title) -> String {
        title.0
    }
}

impl std::fmt::Display for Title {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
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

/// Where the next occurrence of a recurring task counts from (docs/contracts.md "Recurrence").
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RepeatFrom {
    /// The series' own schedule: the next occurrence after the one completed (an overdue
    /// completion skips to the first occurrence after `completed_at`).
    #[default]
    DueDate,
    /// The completion: one interval after `completed_at`, at the due date's wall-clock time
    /// (Todoist's `every!`).
    Completion,
}

impl RepeatFrom {
    pub fn parse(raw: &str, field: &str) -> Result<Self, FieldError> {
        match raw {
            "due_date" => Ok(Self::DueDate),
            "completion" => Ok(Self::Completion),
            other => Err(FieldError::new(
                field,
                format!("unknown repeat_from {other:?}; expected due_date or completion"),
            )),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::DueDate => "due_date",
            Self::Completion => "completion",
        }
    }
}

/// A task's tags: trimmed lowercase, unique and sorted; at most 20 of 1–50 characters, no commas
/// or control characters. Serialised as the plain array; read back trusted, like [`Title`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(from = "Vec<String>", into = "Vec<String>")]
pub struct Tags(Vec<String>);

impl Tags {
    /// Normalise and check raw tags.
    pub fn parse<'a>(raw: impl IntoIterator<Item = &'a str>) -> Result<Self, FieldError> {
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
        Ok(Self(tags))
    }

    pub fn as_slice(&self) -> &[String] {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn iter(&self) -> std::slice::Iter<'_, String> {
        self.0.iter()
    }

    /// Whether every tag of `required` is here.
    pub fn contains_all(&self, required: &Tags) -> bool {
        required.0.iter().all(|tag| self.0.contains(tag))
    }
}

/// Trusted: see [`Title`]. Input goes through [`Tags::parse`].
impl From<Vec<String>> for Tags {
    fn from(stored: Vec<String>) -> Self {
        Self(stored)
    }
}

impl From<Tags> for Vec<String> {
    fn from(tags: Tags) -> Vec<String> {
        tags.0
    }
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

/// An IANA time zone such as `Europe/Berlin`, serialised as its name. Recurrence and wall-clock
/// reasoning happen in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TimeZone(Tz);

impl TimeZone {
    pub const UTC: TimeZone = TimeZone(Tz::UTC);

    /// Exactly a name of the tz database (case-sensitive, no surrounding spaces): the `enum` of
    /// `TimeZone` in `schemas/task.schema.json`, which a test keeps equal to this list.
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        Tz::named(raw).map(Self).ok_or_else(|| {
            FieldError::new(
                "time_zone",
                format!("{raw:?} is not an IANA time zone name, e.g. UTC or Europe/Berlin"),
            )
        })
    }

    pub fn tz(self) -> Tz {
        self.0
    }

    pub fn name(self) -> &'static str {
        self.0.name()
    }
}

impl Default for TimeZone {
    fn default() -> Self {
        Self::UTC
    }
}

impl From<Tz> for TimeZone {
    fn from(tz: Tz) -> Self {
        Self(tz)
    }
}

impl TryFrom<String> for TimeZone {
    type Error = FieldError;
    fn try_from(raw: String) -> Result<Self, FieldError> {
        Self::parse(&raw)
    }
}

impl From<TimeZone> for String {
    fn from(zone: TimeZone) -> String {
        zone.name().to_owned()
    }
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
            Tags::parse([" Work", "home", "work "]).unwrap().as_slice(),
            ["home", "work"]
        );
        assert!(Tags::parse([""]).is_err());
        assert!(Tags::parse([&*"t".repeat(51)]).is_err());
        let twenty: Vec<String> = (0..20).map(|i| format!("t{i}")).collect();
        assert!(Tags::parse(twenty.iter().map(String::as_str)).is_ok());
        let many: Vec<String> = (0..21).map(|i| format!("t{i}")).collect();
        assert!(Tags::parse(many.iter().map(String::as_str)).is_err());
        assert!(Tags::parse(["a,b"]).is_err());
    }

    #[test]
    fn typed_fields_serialise_as_plain_values_and_check_what_they_read() {
        let title: Title = serde_json::from_str(r#""buy milk""#).unwrap();
        assert_eq!(serde_json::to_string(&title).unwrap(), r#""buy milk""#);
        let tags: Tags = serde_json::from_str(r#"["a","b"]"#).unwrap();
        assert_eq!(serde_json::to_string(&tags).unwrap(), r#"["a","b"]"#);
        let zone: TimeZone = serde_json::from_str(r#""Europe/Berlin""#).unwrap();
        assert_eq!(zone.tz(), Tz::known("Europe/Berlin"));
        assert_eq!(serde_json::to_string(&zone).unwrap(), r#""Europe/Berlin""#);
        // A stored zone that no longer parses is an error, never a silent UTC.
        assert!(serde_json::from_str::<TimeZone>(r#""Mars/Olympus""#).is_err());
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
            TimeZone::parse("Europe/Berlin").unwrap().tz(),
            Tz::known("Europe/Berlin")
        );
        assert!(TimeZone::parse("Mars/Olympus").is_err());
        assert!(TimeZone::parse(" UTC").is_err());
        assert!(TimeZone::parse("utc").is_err());
    }

    #[test]
    fn the_schema_lists_exactly_the_zones_we_accept() {
        let schema: serde_json::Value =
            serde_json::from_str(include_str!("../../../schemas/task.schema.json")).unwrap();
        let listed: Vec<&str> = schema["$defs"]["TimeZone"]["enum"]
            .as_array()
            .expect("TimeZone has an enum")
            .iter()
            .map(|zone| zone.as_str().unwrap())
            .collect();
        let ours: Vec<&str> = chrono_tz::TZ_VARIANTS.iter().map(|tz| tz.name()).collect();
        assert_eq!(
            listed, ours,
            "regenerate the enum from chrono_tz::TZ_VARIANTS"
        );
        for zone in listed {
            assert_eq!(TimeZone::parse(zone).unwrap().name(), zone);
        }
    }
}
