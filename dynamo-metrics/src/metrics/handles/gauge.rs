//! Gauges: [`IntGauge`], [`Gauge`] and their families.
use super::*;

single_series_handle!(
    /// A gauge of whole numbers (`i64`). Cloning shares the value.
    IntGauge,
    IntGaugeCell
);
family_handle!(
    /// A family of [`IntGauge`]s told apart by the values of its variable labels.
    IntGaugeVec,
    IntGauge,
    IntGaugeCell
);
standalone_new!(IntGauge, IntGaugeVec, IntGaugeCell);

striped!(
    IntGaugeVec,
    /// Stripes the series this family creates from now on across cache lines, as
    /// [`IntCounterVec::striped`] does. For gauges that are only added to: `set` is exact
    /// only when nothing adds at the same time.
);

set_source!(
    IntGauge,
    ValueSource<i64>,
    |cell| cell.0.takes_source(),
    |s| cell.0.set_source(s)
);

impl IntGauge {
    /// Adds one.
    #[inline]
    pub fn inc(&self) {
        self.add(1);
    }

    /// Subtracts one.
    #[inline]
    pub fn dec(&self) {
        self.add(-1);
    }

    /// Adds `v` (which may be negative): a single atomic add.
    #[inline]
    pub fn add(&self, v: i64) {
        self.with_striped(|c, striped| c.0.add(v, Relaxed, striped));
    }

    /// Subtracts `v`.
    #[inline]
    pub fn sub(&self, v: i64) {
        self.add(v.wrapping_neg());
    }

    /// Sets the value.
    #[inline]
    pub fn set(&self, v: i64) {
        self.with_cell(|c| c.0.store(v, Relaxed));
    }

    /// The current value.
    pub fn get(&self) -> i64 {
        self.with_cell(|c| c.0.load(Relaxed))
    }
}

single_series_handle!(
    /// A gauge of real numbers (`f64`). Cloning shares the value.
    Gauge,
    GaugeCell
);
family_handle!(
    /// A family of [`Gauge`]s told apart by the values of its variable labels.
    GaugeVec,
    Gauge,
    GaugeCell
);
standalone_new!(Gauge, GaugeVec, GaugeCell);

impl Gauge {
    /// Adds one.
    #[inline]
    pub fn inc(&self) {
        self.add(1.0);
    }

    /// Subtracts one.
    #[inline]
    pub fn dec(&self) {
        self.add(-1.0);
    }

    /// Adds `v` (which may be negative): one compare-and-swap loop.
    #[inline]
    pub fn add(&self, v: f64) {
        self.with_cell(|c| c.0.add(v));
    }

    /// Subtracts `v`.
    #[inline]
    pub fn sub(&self, v: f64) {
        self.add(-v);
    }

    /// Sets the value.
    #[inline]
    pub fn set(&self, v: f64) {
        self.with_cell(|c| c.0.set(v));
    }

    /// The current value.
    pub fn get(&self) -> f64 {
        self.with_cell(|c| c.0.get())
    }
}
