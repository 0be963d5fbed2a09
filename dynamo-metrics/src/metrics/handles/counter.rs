//! Counters: [`IntCounter`], [`Counter`] and their families.
use super::*;

single_series_handle!(
    /// A counter of whole numbers (`u64`). Cloning shares the value.
    IntCounter,
    IntCounterCell
);
family_handle!(
    /// A family of [`IntCounter`]s told apart by the values of its variable labels.
    IntCounterVec,
    IntCounter,
    IntCounterCell
);
standalone_new!(IntCounter, IntCounterVec, IntCounterCell);

striped!(
    IntCounterVec,
    /// Stripes the series this family creates from now on across cache lines, one stripe
    /// per CPU up to 16: threads that update one series at once no longer take its cache
    /// line from each other, and a read sums the stripes (exact). It costs 128 bytes per
    /// stripe and series, and reading every stripe on render.
);

set_source!(
    IntCounter,
    ValueSource<u64>,
    |cell| cell.0.takes_source(),
    |s| cell.0.set_source(s)
);

impl IntCounter {
    /// Adds one: a single atomic add.
    #[inline]
    pub fn inc(&self) {
        self.inc_by(1);
    }

    /// Adds `v`: a single atomic add.
    #[inline]
    pub fn inc_by(&self, v: u64) {
        self.with_striped(|c, striped| c.0.add(v, Relaxed, striped));
    }

    /// Adds `v` and keeps an exemplar of it with `labels` (a trace id, say), shown in
    /// OpenMetrics and protobuf scrapes. Labels longer than
    /// [`MAX_EXEMPLAR_LABEL_CHARS`](crate::MAX_EXEMPLAR_LABEL_CHARS) in all drop the
    /// exemplar (counted by `dynamo_metrics_exemplars_dropped_total`), never the increment.
    pub fn inc_by_with_exemplar(&self, v: u64, labels: &[(&str, &str)]) {
        self.inc_by(v);
        #[allow(clippy::cast_precision_loss)]
        self.with_cell(|c| {
            if let Some(e) = Exemplar::new(labels, v as f64) {
                c.1.set(1, 0, e);
            }
        });
    }

    /// The current value.
    pub fn get(&self) -> u64 {
        self.with_cell(|c| c.0.load(Relaxed))
    }
}

single_series_handle!(
    /// A counter of real numbers (`f64`). Cloning shares the value.
    Counter,
    CounterCell
);
family_handle!(
    /// A family of [`Counter`]s told apart by the values of its variable labels.
    CounterVec,
    Counter,
    CounterCell
);
standalone_new!(Counter, CounterVec, CounterCell);

impl Counter {
    /// Adds one.
    #[inline]
    pub fn inc(&self) {
        self.with_cell(|c| c.0.add(1.0));
    }

    /// Adds `v`. A counter never goes down: negative and NaN amounts are ignored.
    #[inline]
    pub fn inc_by(&self, v: f64) {
        if v > 0.0 {
            self.with_cell(|c| c.0.add(v));
        }
    }

    /// Adds `v` and keeps an exemplar of it with `labels`, as
    /// [`IntCounter::inc_by_with_exemplar`] does.
    pub fn inc_by_with_exemplar(&self, v: f64, labels: &[(&str, &str)]) {
        if v > 0.0 {
            self.inc_by(v);
            self.with_cell(|c| {
                if let Some(e) = Exemplar::new(labels, v) {
                    c.1.set(1, 0, e);
                }
            });
        }
    }

    /// The current value.
    pub fn get(&self) -> f64 {
        self.with_cell(|c| c.0.get())
    }
}
