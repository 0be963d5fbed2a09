//! The atomic values behind every series. See [`SeriesCell`] for details.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};

use dynamo_metrics_naming::MetricKind;

use super::exemplar::{Exemplar, ExemplarSlots};
use super::meta::Meta;
use super::striped::{Striped, Word};
use crate::exposition::prepared::{LineText, Prepared, Sample, ScalarReading};
use crate::exposition::snapshot::Value;

/// The value of one series: an atomic, and what the exposition reads of it.
pub(crate) trait SeriesCell: Send + Sync + Sized + 'static {
    /// The family type this cell belongs to.
    const KIND: MetricKind;
    /// The Rust type of the value, to tell integer and float families apart in messages.
    const VALUE: &'static str;
    /// The series text the exposition prepares once at creation: see
    /// [`Prepared`].
    type Text: Prepared<Self>;

    /// A cell at zero; `striped` asks for one slot per thread that updates it (see
    /// [`Striped`]): integer counters and gauges and histograms have them, float counters
    /// and gauges ignore it.
    fn new(meta: &Meta, striped: bool) -> Self;
    /// The value of a counter or gauge without exemplars; `None` for other cells.
    fn scalar(&self) -> Option<f64> {
        None
    }
    /// The exemplars kept, by slot (0 for a counter, the bucket for a histogram).
    fn exemplars(&self) -> Vec<(usize, Exemplar)> {
        Vec::new()
    }
    /// The current value, for snapshots.
    fn value(&self) -> Value;
    /// Whether the value has one slot per thread.
    fn striped(&self) -> bool {
        false
    }
    /// Moves everything recorded here into `other`, leaving this cell at zero.
    fn drain_into(&self, other: &Self);
}

/// An `f64` stored as bits in an `AtomicU64`; additions are one compare-and-swap loop.
#[derive(Debug, Default)]
pub(crate) struct AtomicF64(AtomicU64);

impl AtomicF64 {
    #[inline]
    pub(crate) fn get(&self) -> f64 {
        f64::from_bits(self.0.load(Relaxed))
    }

    #[inline]
    pub(crate) fn set(&self, v: f64) {
        self.0.store(v.to_bits(), Relaxed);
    }

    /// Takes the value, leaving zero.
    pub(crate) fn take(&self) -> f64 {
        f64::from_bits(self.0.swap(0f64.to_bits(), Relaxed))
    }

    #[inline]
    pub(crate) fn add(&self, v: f64) {
        let mut old = self.0.load(Relaxed);
        loop {
            let new = (f64::from_bits(old) + v).to_bits();
            match self.0.compare_exchange_weak(old, new, Relaxed, Relaxed) {
                Ok(_) => return,
                Err(seen) => old = seen,
            }
        }
    }
}

/// Defines a cell over one atomic, with its kind and how it reads.
macro_rules! simple_cell {
    ($cell:ident, $atomic:ty, $value:literal, $kind:ident, $sample:ident, $new:expr) => {
        #[derive(Debug, Default)]
        pub(crate) struct $cell(pub(crate) $atomic, pub(crate) ExemplarSlots);

        impl SeriesCell for $cell {
            const KIND: MetricKind = MetricKind::$kind;
            const VALUE: &'static str = $value;
            type Text = LineText;

            fn new(_: &Meta, striped: bool) -> Self {
                $cell($new(striped), ExemplarSlots::default())
            }

            fn exemplars(&self) -> Vec<(usize, Exemplar)> {
                self.1.all()
            }

            #[inline]
            fn scalar(&self) -> Option<f64> {
                (!self.1.is_set()).then(|| ScalarReading::sample(self).as_f64())
            }

            fn value(&self) -> Value {
                Value::Scalar(ScalarReading::sample(self).as_f64())
            }

            fn striped(&self) -> bool {
                self.0.striped()
            }

            fn drain_into(&self, other: &Self) {
                other.0.add_value(self.0.take_value());
            }
        }

        impl ScalarReading for $cell {
            #[inline]
            fn sample(&self) -> Sample {
                Sample::$sample(self.0.get_value())
            }

            fn exemplar(&self) -> Option<Exemplar> {
                self.1.get(0)
            }
        }
    };
}

/// One way to read every atomic the cells use.
pub(crate) trait GetValue {
    type Value;
    fn get_value(&self) -> Self::Value;
    fn take_value(&self) -> Self::Value;
    fn add_value(&self, v: Self::Value);
    fn striped(&self) -> bool {
        false
    }
}

impl<A: Word> GetValue for Striped<A> {
    type Value = A::Value;
    fn get_value(&self) -> A::Value {
        self.load(Relaxed)
    }
    fn take_value(&self) -> A::Value {
        self.swap_zero(Relaxed)
    }
    fn add_value(&self, v: A::Value) {
        self.add(v, Relaxed, self.is_striped());
    }
    fn striped(&self) -> bool {
        self.is_striped()
    }
}

impl GetValue for AtomicF64 {
    type Value = f64;
    fn get_value(&self) -> f64 {
        self.get()
    }
    fn take_value(&self) -> f64 {
        self.take()
    }
    fn add_value(&self, v: f64) {
        self.add(v);
    }
}

simple_cell!(
    IntCounterCell,
    Striped<AtomicU64>,
    "u64",
    Counter,
    Unsigned,
    Striped::new
);
simple_cell!(CounterCell, AtomicF64, "f64", Counter, Float, |_| {
    AtomicF64::default()
});
simple_cell!(
    IntGaugeCell,
    Striped<AtomicI64>,
    "i64",
    Gauge,
    Signed,
    Striped::new
);
simple_cell!(GaugeCell, AtomicF64, "f64", Gauge, Float, |_| {
    AtomicF64::default()
});
