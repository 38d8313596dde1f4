//! One movable clock for the guests (`wasi:clocks/wall-clock`) and the embedded sidecar
//! (`dapr_sidecar::Clock`): tests jump time for both at once with [`SharedClock::advance`].
//!
//! The clock itself is [`dapr_sidecar::ManualClock`] (a base — the system clock or a fixed
//! instant — plus an offset, shared by clones); this wrapper adds wasmtime's [`HostWallClock`].

use chrono::{DateTime, TimeDelta, Utc};
use dapr_sidecar::ManualClock;
use std::sync::Arc;
use std::time::Duration;
use wasmtime_wasi::HostWallClock;

/// A wall clock shared by the host and the sidecar. Cheap to clone; clones share the time.
#[derive(Clone)]
pub struct SharedClock {
    clock: ManualClock,
}

impl std::fmt::Debug for SharedClock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedClock")
            .field("now", &self.now_utc())
            .finish()
    }
}

impl SharedClock {
    /// The system clock, movable forward with [`SharedClock::advance`].
    pub fn system() -> Self {
        Self {
            clock: ManualClock::system(),
        }
    }

    /// A clock standing still at `start` until advanced.
    pub fn fixed_at(start: DateTime<Utc>) -> Self {
        Self {
            clock: ManualClock::fixed_at(start),
        }
    }

    /// Move time forward for every holder of this clock.
    pub fn advance(&self, by: Duration) {
        self.clock
            .advance(TimeDelta::from_std(by).unwrap_or(TimeDelta::MAX));
    }

    /// Now, as time since the Unix epoch (zero before it).
    pub fn since_epoch(&self) -> Duration {
        self.now_utc()
            .signed_duration_since(DateTime::<Utc>::UNIX_EPOCH)
            .to_std()
            .unwrap_or_default()
    }

    /// Now, as a UTC timestamp.
    pub fn now_utc(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// This clock as the guests' wall clock (`HostOptions::wall_clock`).
    pub fn wall_clock(&self) -> Arc<dyn HostWallClock + Send + Sync> {
        Arc::new(self.clone())
    }

    /// This clock as the sidecar's clock (`SidecarConfig::clock`).
    pub fn sidecar_clock(&self) -> Arc<dyn dapr_sidecar::Clock> {
        Arc::new(self.clock.clone())
    }
}

impl HostWallClock for SharedClock {
    fn resolution(&self) -> Duration {
        Duration::from_nanos(1)
    }

    fn now(&self) -> Duration {
        self.since_epoch()
    }
}

impl dapr_sidecar::Clock for SharedClock {
    fn now(&self) -> DateTime<Utc> {
        self.now_utc()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_clock_moves_only_when_advanced_and_both_views_agree() {
        let start = DateTime::parse_from_rfc3339("2026-01-31T09:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let clock = SharedClock::fixed_at(start);
        let wall = clock.wall_clock();
        let sidecar = clock.sidecar_clock();
        assert_eq!(sidecar.now(), start);
        assert_eq!(wall.now().as_secs() as i64, start.timestamp());
        clock.clone().advance(Duration::from_secs(3600));
        assert_eq!(sidecar.now(), start + chrono::Duration::hours(1));
        assert_eq!(wall.now().as_secs() as i64, start.timestamp() + 3600);
    }

    #[test]
    fn system_clock_is_near_now_plus_offset() {
        let clock = SharedClock::system();
        clock.advance(Duration::from_secs(86_400));
        let ahead = clock.now_utc() - Utc::now();
        assert!((ahead.num_seconds() - 86_400).abs() <= 2, "{ahead:?} ahead");
    }
}
