//! Fault injection, so tests of the apps can exercise daprd's failure answers (a broker that
//! rejects a publish, a state store that rejects a write) without a real broken component.

use std::sync::atomic::{AtomicUsize, Ordering};

/// Counters of failures still to inject. Each injected failure consumes one.
#[derive(Debug, Default)]
pub struct Faults {
    publishes: AtomicUsize,
    state_writes: AtomicUsize,
}

impl Faults {
    /// The next `n` messages handed to the broker fail (each entry of a bulk publish counts as one).
    pub fn fail_next_publishes(&self, n: usize) {
        self.publishes.store(n, Ordering::SeqCst);
    }

    /// The next `n` state writes (save, delete, transaction: one request is one write) fail.
    pub fn fail_next_state_writes(&self, n: usize) {
        self.state_writes.store(n, Ordering::SeqCst);
    }

    pub(crate) fn take_publish_failure(&self) -> bool {
        take(&self.publishes)
    }

    pub(crate) fn take_state_write_failure(&self) -> bool {
        take(&self.state_writes)
    }
}

/// Decrements `counter` if positive; true when a failure was taken.
fn take(counter: &AtomicUsize) -> bool {
    counter
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_failure_is_taken_once() {
        let faults = Faults::default();
        faults.fail_next_publishes(2);
        assert!(faults.take_publish_failure());
        assert!(faults.take_publish_failure());
        assert!(!faults.take_publish_failure());
        assert!(!faults.take_state_write_failure());
    }
}
