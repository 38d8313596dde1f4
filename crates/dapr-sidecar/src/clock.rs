//! Time source for everything that depends on "now" (state TTL, CloudEvent `time`, message
//! `expiration`, job due times). Injectable so tests can move time forward instead of sleeping:
//! [`ManualClock`] is the one movable clock of the workspace (spin-host's `SharedClock` wraps it
//! to give the guests the same time).

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use chrono::{DateTime, TimeDelta, Utc};

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

/// A clock that moves when told to: either standing still at an instant
/// ([`ManualClock::fixed_at`]) or running with the system clock ([`ManualClock::system`]), in
/// both cases plus whatever [`ManualClock::advance`] added. Cheap to clone; clones share the
/// time, so a test keeps one clone and hands another to the sidecar (and to the guests).
///
/// ```
/// use chrono::{DateTime, TimeDelta};
/// use dapr_sidecar::{Clock, ManualClock};
///
/// let start: DateTime<chrono::Utc> = "2026-01-01T00:00:00Z".parse().unwrap();
/// let clock = ManualClock::fixed_at(start);
/// let sidecars_view: std::sync::Arc<dyn Clock> = std::sync::Arc::new(clock.clone());
/// clock.advance(TimeDelta::hours(1));
/// assert_eq!(sidecars_view.now(), start + TimeDelta::hours(1));
/// ```
#[derive(Clone)]
pub struct ManualClock {
    state: Arc<Mutex<State>>,
}

struct State {
    /// `None`: the system clock; `Some`: a fixed instant.
    base: Option<DateTime<Utc>>,
    /// Added to the base by [`ManualClock::advance`] (and [`ManualClock::set`] on the system
    /// clock).
    offset: TimeDelta,
}

impl ManualClock {
    /// A clock standing still at `start` until advanced or set.
    pub fn fixed_at(start: DateTime<Utc>) -> Self {
        Self::with_base(Some(start))
    }

    /// The system clock, movable with [`ManualClock::advance`] and [`ManualClock::set`].
    pub fn system() -> Self {
        Self::with_base(None)
    }

    fn with_base(base: Option<DateTime<Utc>>) -> Self {
        ManualClock {
            state: Arc::new(Mutex::new(State {
                base,
                offset: TimeDelta::zero(),
            })),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Moves time by `by` (backwards when negative) for every clone of this clock.
    pub fn advance(&self, by: TimeDelta) {
        let mut state = self.lock();
        state.offset = state
            .offset
            .checked_add(&by)
            .unwrap_or(if by < TimeDelta::zero() {
                TimeDelta::MIN
            } else {
                TimeDelta::MAX
            });
    }

    /// Makes "now" `to` for every clone: a fixed clock then stands still at `to`, a clock on
    /// the system clock runs on from `to`.
    pub fn set(&self, to: DateTime<Utc>) {
        let mut state = self.lock();
        match state.base {
            Some(_) => {
                state.base = Some(to);
                state.offset = TimeDelta::zero();
            }
            None => state.offset = to - Utc::now(),
        }
    }

    /// The current instant.
    pub fn now(&self) -> DateTime<Utc> {
        let state = self.lock();
        let base = state.base.unwrap_or_else(Utc::now);
        base.checked_add_signed(state.offset)
            .unwrap_or(if state.offset < TimeDelta::zero() {
                DateTime::<Utc>::MIN_UTC
            } else {
                DateTime::<Utc>::MAX_UTC
            })
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        ManualClock::now(self)
    }
}

impl std::fmt::Debug for ManualClock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = self.lock();
        f.debug_struct("ManualClock")
            .field("base", &state.base)
            .field("offset", &state.offset)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn start() -> DateTime<Utc> {
        "2026-01-31T09:00:00Z".parse().expect("time")
    }

    #[test]
    fn a_fixed_clock_moves_only_when_advanced_or_set_and_clones_share_it() {
        let clock = ManualClock::fixed_at(start());
        let shared: Arc<dyn Clock> = Arc::new(clock.clone());
        assert_eq!(shared.now(), start());
        clock.advance(TimeDelta::milliseconds(1500));
        assert_eq!(shared.now(), start() + TimeDelta::milliseconds(1500));
        clock.advance(TimeDelta::seconds(-1));
        assert_eq!(clock.now(), start() + TimeDelta::milliseconds(500));
        let later = start() + TimeDelta::days(2);
        clock.set(later);
        assert_eq!(shared.now(), later);
        clock.advance(TimeDelta::seconds(1));
        assert_eq!(
            shared.now(),
            later + TimeDelta::seconds(1),
            "set clears the offset"
        );
    }

    #[test]
    fn a_system_clock_runs_with_the_wall_clock_plus_its_offset() {
        let clock = ManualClock::system();
        let near = |actual: DateTime<Utc>, expected: DateTime<Utc>| {
            (actual - expected).num_seconds().abs() <= 2
        };
        assert!(near(clock.now(), Utc::now()));
        clock.advance(TimeDelta::days(1));
        assert!(near(clock.now(), Utc::now() + TimeDelta::days(1)));
        clock.set(start());
        assert!(near(clock.now(), start()), "{:?}", clock.now());
        assert!(clock.now() >= start(), "runs on from the instant set");
    }
}
