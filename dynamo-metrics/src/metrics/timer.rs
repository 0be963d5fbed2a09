//! Durations timed with the process clock, and histogram bounds in the clock's raw ticks, so
//! a timed observation finds its bucket without converting to seconds first. See
//! [`TickBounds`] for details.

use std::sync::OnceLock;

/// The process's clock for durations: TSC-based (`quanta`), about a third of the cost of
/// `std::time::Instant::now` per read; it falls back to the OS clock where the TSC is not
/// reliable. Readings are raw ticks; only differences are scaled to time.
#[inline]
pub(crate) fn clock() -> &'static quanta::Clock {
    static CLOCK: OnceLock<quanta::Clock> = OnceLock::new();
    CLOCK.get_or_init(quanta::Clock::new)
}

/// The ticks from raw reading `start` to now, at most [`MAX_TICKS`]; 0 when the counter
/// reads lower (another core's TSC can lag).
#[inline]
pub(crate) fn ticks_since(start: u64) -> u64 {
    clock().raw().saturating_sub(start).min(MAX_TICKS)
}

/// The seconds in `ticks` raw ticks.
#[inline]
pub(crate) fn seconds(ticks: u64) -> f64 {
    #[allow(clippy::cast_precision_loss)] // durations below 2^53 ns, 104 days, are exact
    let nanos = clock().delta_as_nanos(0, ticks) as f64;
    nanos * 1e-9
}

/// The longest duration in ticks (about 48 years at 3 GHz); scaling more could overflow.
const MAX_TICKS: u64 = 1 << 62;

/// A histogram's classic bucket bounds in raw ticks: `first_above[i]` is the fewest ticks
/// whose [`seconds`] are above bound `i`. Since `seconds` never decreases, `b < seconds(t)`
/// exactly when `first_above(b) <= t`, so [`bucket`](Self::bucket) picks the bucket the
/// seconds would, with integer compares only.
pub(crate) struct TickBounds {
    first_above: Box<[u64]>,
}

impl TickBounds {
    pub(crate) fn new(bounds: &[f64]) -> Self {
        TickBounds {
            first_above: bounds.iter().map(|b| first_above(*b)).collect(),
        }
    }

    /// The classic bucket of a duration of `ticks`.
    #[inline]
    pub(crate) fn bucket(&self, ticks: u64) -> usize {
        self.first_above
            .iter()
            .map(|t| usize::from(*t <= ticks))
            .sum()
    }
}

/// The fewest ticks whose seconds are above `bound` (`u64::MAX` when none below
/// [`MAX_TICKS`] is).
fn first_above(bound: f64) -> u64 {
    if seconds(0) > bound {
        return 0;
    }
    if seconds(MAX_TICKS) <= bound {
        return u64::MAX;
    }
    // seconds(lo) <= bound < seconds(hi)
    let (mut lo, mut hi) = (0, MAX_TICKS);
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if seconds(mid) > bound {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    hi
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tick_buckets_match_the_buckets_of_the_seconds() {
        let bounds = [-1.0, 0.0, 1e-9, 0.005, 0.01, 0.25, 1.0, 600.0, 1e300];
        let ticks = TickBounds::new(&bounds);
        let by_seconds = |t: u64| bounds.iter().filter(|b| **b < seconds(t)).count();
        for bound in bounds {
            let first = first_above(bound);
            for t in [first.saturating_sub(1), first, first.saturating_add(1)]
                .into_iter()
                .filter(|t| *t <= MAX_TICKS)
            {
                assert_eq!(ticks.bucket(t), by_seconds(t), "bound {bound}, {t} ticks");
            }
        }
        for t in [0, 1, 7, 1_000, 123_456_789, 1 << 40, MAX_TICKS] {
            assert_eq!(ticks.bucket(t), by_seconds(t), "{t} ticks");
        }
        assert_eq!(first_above(-1.0), 0);
        assert_eq!(first_above(1e300), u64::MAX);
    }
}
