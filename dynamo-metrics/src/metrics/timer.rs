//! Durations timed with the process clock: raw readings, and their differences in seconds.
//! See [`clock`] for details.

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
