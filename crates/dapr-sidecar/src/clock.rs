//! Time source for everything that depends on "now" (state TTL, CloudEvent `time`, message
//! `expiration`). Injectable so tests can move time forward instead of sleeping.

use chrono::{DateTime, Utc};

/// Where the sidecar reads the current time.
pub trait Clock: Send + Sync {
    /// The current instant.
    fn now(&self) -> DateTime<Utc>;
}

/// The wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}
