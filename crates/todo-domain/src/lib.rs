//! The task domain: parsed types, validation, recurrence, events and list queries. No I/O.
pub mod auth;
mod base64url;
pub mod error;
pub mod event;
pub mod fields;
pub mod formats;
pub mod query;
pub mod recurrence;
pub mod reminder;
pub mod series;
pub mod task;
pub mod tz;

pub use error::FieldError;
pub use event::{TaskEvent, TaskEventData, TaskEventType, task_event};
pub use fields::{Priority, RepeatFrom, Status, Tags, TimeZone, Title};
pub use query::{ListQuery, Page};
pub use recurrence::{RecurrenceError, RecurrenceRule};
pub use task::{Task, TaskDraft, TaskPatch};
