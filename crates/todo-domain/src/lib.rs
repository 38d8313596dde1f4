//! The task domain: parsed types, validation, recurrence, events and list queries. No I/O.
pub mod recurrence;
