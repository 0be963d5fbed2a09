//! Families typed by a [`LabelSet`]. See [`LabeledFamily`] for details.

use std::fmt;
use std::marker::PhantomData;

use dynamo_metrics_naming::MetricKind;

use crate::describe::MetricDescriptor;
use crate::error::Result;
use crate::metrics::{
    Counter, CounterVec, Gauge, GaugeVec, Histogram, HistogramVec, IntCounter, IntCounterVec,
    IntGauge, IntGaugeVec,
};
use crate::registry::scope::MetricsScope;
use crate::typed::fields::MetricField;
use crate::typed::label_set::LabelSet;

/// The default cap on the number of series of a family with string labels.
pub const DEFAULT_MAX_SERIES: usize = dynamo_metrics_naming::DEFAULT_MAX_SERIES;

/// The longest value, in bytes, a variable label takes unless its family sets another limit;
/// a series with a longer value is counted under the overflow series and never stored.
pub const DEFAULT_MAX_LABEL_LEN: usize = dynamo_metrics_naming::DEFAULT_MAX_LABEL_LEN;

/// A single-series metric type, as used by [`LabeledFamily`].
pub trait SeriesHandle: Clone + Send + Sync + 'static {
    /// The labelled family type it comes from.
    #[doc(hidden)]
    type Vec: Clone + Send + Sync + 'static;
    /// The kind of metric it is.
    #[doc(hidden)]
    const KIND: MetricKind;
    /// The Rust type of its values.
    #[doc(hidden)]
    const VALUE_TYPE: &'static str;
    #[doc(hidden)]
    fn create_vec(scope: &MetricsScope, desc: &MetricDescriptor) -> Result<Self::Vec>;
    #[doc(hidden)]
    fn lookup(vec: &Self::Vec, values: &[&str]) -> Self;
    #[doc(hidden)]
    fn with_values<R>(vec: &Self::Vec, values: &[&str], f: impl FnOnce(&Self) -> R) -> R;
    #[doc(hidden)]
    fn count_overflows(vec: &Self::Vec, counter: IntCounter);
    /// A handle that records nothing (the `metrics` feature is off).
    #[doc(hidden)]
    #[cfg(not(feature = "metrics"))]
    fn noop() -> Self;
}

macro_rules! typed_series_handle {
    ($handle:ident, $vec:ident, $kind:ident, $value:literal) => {
        impl SeriesHandle for $handle {
            type Vec = $vec;
            const KIND: MetricKind = MetricKind::$kind;
            const VALUE_TYPE: &'static str = $value;
            fn create_vec(scope: &MetricsScope, desc: &MetricDescriptor) -> Result<$vec> {
                scope.declared(desc).map($vec::from_view)
            }
            fn lookup(vec: &$vec, values: &[&str]) -> Self {
                vec.lookup(values)
            }
            #[inline(always)]
            fn with_values<R>(vec: &$vec, values: &[&str], f: impl FnOnce(&Self) -> R) -> R {
                vec.with_lookup(values, f)
            }
            fn count_overflows(vec: &$vec, counter: IntCounter) {
                vec.count_overflows_in(counter);
            }
            #[cfg(not(feature = "metrics"))]
            fn noop() -> Self {
                $handle {}
            }
        }

        impl MetricField for $handle {
            const KIND: MetricKind = MetricKind::$kind;
            const VALUE_TYPE: &'static str = $value;
            const LABELS: &'static [&'static str] = &[];
            fn register(scope: &MetricsScope, desc: &MetricDescriptor) -> Result<Self> {
                let vec = Self::create_vec(scope, desc)?;
                Ok(vec.lookup(&[]))
            }
        }
    };
}

typed_series_handle!(IntCounter, IntCounterVec, Counter, "u64");
typed_series_handle!(Counter, CounterVec, Counter, "f64");
typed_series_handle!(IntGauge, IntGaugeVec, Gauge, "i64");
typed_series_handle!(Gauge, GaugeVec, Gauge, "f64");
typed_series_handle!(Histogram, HistogramVec, Histogram, "f64");

/// A family whose series are told apart by a typed [`LabelSet`] `L`.
///
/// When every label of `L` is a [`LabelValue`](crate::LabelValue) enum (and the combinations
/// fit the cap), all series exist from registration and a lookup is an index computed from
/// the enum values: an increment is that index plus one atomic operation. String labels are
/// looked up in a cache of the calling thread (no lock, no allocation; the family's sorted
/// list under a read lock on a miss); the
/// family holds at most `max_series` series (default [`DEFAULT_MAX_SERIES`]), and further
/// combinations fold into one series whose variable labels are all
/// [`OVERFLOW`](crate::OVERFLOW), counted by `dynamo_metrics_series_overflow_total{family}`.
pub struct LabeledFamily<L: LabelSet, H: SeriesHandle> {
    /// The family (its handles are shared: a clone of one is the same family).
    #[cfg(feature = "metrics")]
    vec: H::Vec,
    /// Every series, when the labels are bounded: here, not behind another pointer, so that
    /// an update reads one pointer to find its series.
    #[cfg(feature = "metrics")]
    fixed: std::sync::Arc<[H]>,
    _labels: PhantomData<fn(&L) -> H>,
}

impl<L: LabelSet, H: SeriesHandle> Clone for LabeledFamily<L, H> {
    fn clone(&self) -> Self {
        LabeledFamily {
            #[cfg(feature = "metrics")]
            vec: self.vec.clone(),
            #[cfg(feature = "metrics")]
            fixed: self.fixed.clone(),
            _labels: PhantomData,
        }
    }
}

impl<L: LabelSet, H: SeriesHandle> fmt::Debug for LabeledFamily<L, H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LabeledFamily")
            .field("labels", &L::NAMES)
            .finish_non_exhaustive()
    }
}

impl<L: LabelSet, H: SeriesHandle> LabeledFamily<L, H> {
    /// The series of `labels`, created at zero if new (or the overflow series).
    pub fn get(&self, labels: &L) -> H {
        self.with(labels, H::clone)
    }

    #[cfg(not(feature = "metrics"))]
    #[inline]
    fn with<R>(&self, _: &L, f: impl FnOnce(&H) -> R) -> R {
        f(&H::noop())
    }

    #[cfg(feature = "metrics")]
    #[inline(always)]
    fn with<R>(&self, labels: &L, f: impl FnOnce(&H) -> R) -> R {
        if let Some(series) = labels.index().and_then(|i| self.fixed.get(i)) {
            return f(series);
        }
        labels.with_values(|values| H::with_values(&self.vec, values, f))
    }
}

impl<L: LabelSet, H: SeriesHandle> MetricField for LabeledFamily<L, H> {
    const KIND: MetricKind = H::KIND;
    const VALUE_TYPE: &'static str = H::VALUE_TYPE;
    const LABELS: &'static [&'static str] = L::NAMES;

    #[cfg(not(feature = "metrics"))]
    fn register(scope: &MetricsScope, desc: &MetricDescriptor) -> Result<Self> {
        H::create_vec(scope, desc)?;
        Ok(LabeledFamily {
            _labels: PhantomData,
        })
    }

    #[cfg(feature = "metrics")]
    fn register(scope: &MetricsScope, desc: &MetricDescriptor) -> Result<Self> {
        let vec = H::create_vec(scope, desc)?;
        let fixed: std::sync::Arc<[H]> = match L::CARDINALITY {
            // Every combination up front, unless there are more than the family may hold.
            Some(n) if n <= desc.max_series => {
                (0..n).map(|i| H::lookup(&vec, &L::values_at(i))).collect()
            }
            _ => std::sync::Arc::default(),
        };
        // Only families that can overflow (string labels, or more enum combinations than the
        // cap) count folds.
        if fixed.is_empty() && !L::NAMES.is_empty() {
            H::count_overflows(&vec, scope.overflow_counter(desc.name)?);
        }
        Ok(LabeledFamily {
            vec,
            fixed,
            _labels: PhantomData,
        })
    }
}

/// A family of [`IntCounter`]s labelled by `L`.
pub type IntCounterFamily<L> = LabeledFamily<L, IntCounter>;
/// A family of [`Counter`]s labelled by `L`.
pub type CounterFamily<L> = LabeledFamily<L, Counter>;
/// A family of [`IntGauge`]s labelled by `L`.
pub type IntGaugeFamily<L> = LabeledFamily<L, IntGauge>;
/// A family of [`Gauge`]s labelled by `L`.
pub type GaugeFamily<L> = LabeledFamily<L, Gauge>;
/// A family of [`Histogram`]s labelled by `L`.
pub type HistogramFamily<L> = LabeledFamily<L, Histogram>;

impl<L: LabelSet> LabeledFamily<L, IntCounter> {
    /// Adds one to the series of `labels`.
    #[inline]
    pub fn inc(&self, labels: &L) {
        self.with(labels, IntCounter::inc);
    }

    /// Adds `v` to the series of `labels`.
    #[inline]
    pub fn inc_by(&self, labels: &L, v: u64) {
        self.with(labels, |c| c.inc_by(v));
    }

    /// Adds `v` to the series of `labels` with an exemplar (see
    /// [`IntCounter::inc_by_with_exemplar`]).
    pub fn inc_by_with_exemplar(&self, labels: &L, v: u64, exemplar: &[(&str, &str)]) {
        self.with(labels, |c| c.inc_by_with_exemplar(v, exemplar));
    }
}

impl<L: LabelSet> LabeledFamily<L, Counter> {
    /// Adds one to the series of `labels`.
    #[inline]
    pub fn inc(&self, labels: &L) {
        self.with(labels, Counter::inc);
    }

    /// Adds `v` to the series of `labels` (negative and NaN amounts are ignored).
    #[inline]
    pub fn inc_by(&self, labels: &L, v: f64) {
        self.with(labels, |c| c.inc_by(v));
    }
}

impl<L: LabelSet> LabeledFamily<L, IntGauge> {
    /// Adds one to the series of `labels`.
    #[inline]
    pub fn inc(&self, labels: &L) {
        self.with(labels, IntGauge::inc);
    }

    /// Subtracts one from the series of `labels`.
    #[inline]
    pub fn dec(&self, labels: &L) {
        self.with(labels, IntGauge::dec);
    }

    /// Adds `v` (which may be negative) to the series of `labels`.
    #[inline]
    pub fn add(&self, labels: &L, v: i64) {
        self.with(labels, |g| g.add(v));
    }

    /// Sets the series of `labels`.
    #[inline]
    pub fn set(&self, labels: &L, v: i64) {
        self.with(labels, |g| g.set(v));
    }
}

impl<L: LabelSet> LabeledFamily<L, Gauge> {
    /// Adds `v` to the series of `labels`.
    #[inline]
    pub fn add(&self, labels: &L, v: f64) {
        self.with(labels, |g| g.add(v));
    }

    /// Sets the series of `labels`.
    #[inline]
    pub fn set(&self, labels: &L, v: f64) {
        self.with(labels, |g| g.set(v));
    }
}

impl<L: LabelSet> LabeledFamily<L, Histogram> {
    /// Observes `v` in the series of `labels`.
    #[inline]
    pub fn observe(&self, labels: &L, v: f64) {
        self.with(labels, |h| h.observe(v));
    }

    /// Observes `v` in the series of `labels` with an exemplar (see
    /// [`Histogram::observe_with_exemplar`]).
    pub fn observe_with_exemplar(&self, labels: &L, v: f64, exemplar: &[(&str, &str)]) {
        self.with(labels, |h| h.observe_with_exemplar(v, exemplar));
    }
}
