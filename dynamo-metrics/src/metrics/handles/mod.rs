//! The public metric types: single series and labelled families. See [`IntCounter`] and
//! [`IntCounterVec`] for details.

use std::fmt;

#[cfg(feature = "metrics")]
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use prometheus::core::{Collector, Desc};
use prometheus::proto;

use crate::error::Result;
use crate::metrics::cell::{CounterCell, GaugeCell, IntCounterCell, IntGaugeCell};
use crate::metrics::exemplar::Exemplar;
use crate::metrics::family::Series;
use crate::metrics::histogram::{HistogramCell, TallySource};
#[cfg(feature = "metrics")]
use crate::metrics::label_key::Key;
#[cfg(feature = "metrics")]
use crate::metrics::local::LocalCache;
use crate::metrics::striped::ValueSource;
use crate::metrics::view::{View, standalone};

/// Implements `prometheus::core::Collector` for a handle through its `$inner` field; with the
/// `metrics` feature off it describes and collects nothing.
macro_rules! collector {
    ($name:ident, $inner:ident) => {
        impl Collector for $name {
            #[cfg(feature = "metrics")]
            fn desc(&self) -> Vec<&Desc> {
                self.$inner.desc()
            }

            #[cfg(feature = "metrics")]
            fn collect(&self) -> Vec<proto::MetricFamily> {
                self.$inner.collect()
            }

            #[cfg(not(feature = "metrics"))]
            fn desc(&self) -> Vec<&Desc> {
                Vec::new()
            }

            #[cfg(not(feature = "metrics"))]
            fn collect(&self) -> Vec<proto::MetricFamily> {
                Vec::new()
            }
        }
    };
}

/// Defines a single-series handle: the struct, `Debug`, and `prometheus::core::Collector`.
macro_rules! single_series_handle {
    ($(#[$doc:meta])* $name:ident, $cell:ty) => {
        $(#[$doc])*
        #[derive(Clone)]
        pub struct $name {
            #[cfg(feature = "metrics")]
            series: Series<$cell>,
            /// Whether the series is striped, kept here so an unstriped update reads nothing
            /// of the series but its atomic.
            #[cfg(feature = "metrics")]
            striped: bool,
        }

        #[cfg(feature = "metrics")]
        impl $name {
            pub(crate) fn from_series(series: Series<$cell>) -> Self {
                let striped = crate::metrics::cell::SeriesCell::striped(&series.cell);
                $name { series, striped }
            }

            #[inline]
            fn with_cell<R: Default>(&self, f: impl FnOnce(&$cell) -> R) -> R {
                f(&self.series.cell)
            }

            /// As `with_cell`, with whether the series is striped.
            #[inline]
            #[allow(dead_code)] // integer handles only
            fn with_striped<R: Default>(&self, f: impl FnOnce(&$cell, bool) -> R) -> R {
                f(&self.series.cell, self.striped)
            }

            /// The full metric name (empty with the `metrics` feature off).
            pub fn name(&self) -> &str {
                &self.series.meta.name
            }

            /// Moves this series' value into `other`, leaving this one at zero.
            #[allow(dead_code)] // needed only by the types endpoint metrics hold
            pub(crate) fn drain_into(&self, other: &Self) {
                crate::metrics::cell::SeriesCell::drain_into(&self.series.cell, &other.series.cell);
            }
        }

        #[cfg(not(feature = "metrics"))]
        impl $name {
            pub(crate) fn from_series(_: Series<$cell>) -> Self {
                $name {}
            }

            #[inline]
            fn with_cell<R: Default>(&self, _: impl FnOnce(&$cell) -> R) -> R {
                R::default()
            }

            #[inline]
            #[allow(dead_code)]
            fn with_striped<R: Default>(&self, _: impl FnOnce(&$cell, bool) -> R) -> R {
                R::default()
            }

            /// The full metric name (empty with the `metrics` feature off).
            pub fn name(&self) -> &str {
                ""
            }

            #[allow(dead_code)]
            pub(crate) fn drain_into(&self, _: &Self) {}
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(stringify!($name))
                    .field("name", &self.name())
                    .finish_non_exhaustive()
            }
        }

        collector!($name, series);
    };
}

/// Defines a labelled family handle over a single-series handle.
macro_rules! family_handle {
    ($(#[$doc:meta])* $name:ident, $handle:ident, $cell:ty) => {
        $(#[$doc])*
        #[derive(Clone)]
        pub struct $name {
            #[cfg(feature = "metrics")]
            view: Arc<View<$cell>>,
            #[cfg(feature = "metrics")]
            cache: LocalCache<$handle>,
        }

        #[cfg(not(feature = "metrics"))]
        impl $name {
            pub(crate) fn from_view(_: View<$cell>) -> Self {
                $name {}
            }

            /// The series with these label values (a no-op handle: the `metrics` feature is
            /// off).
            ///
            /// # Errors
            /// None with the `metrics` feature off.
            pub fn with_label_values(&self, _: &[&str]) -> Result<$handle> {
                Ok($handle {})
            }

            /// Runs `f` on a no-op handle: the `metrics` feature is off.
            ///
            /// # Errors
            /// None with the `metrics` feature off.
            #[inline]
            pub fn with<R>(&self, _: &[&str], f: impl FnOnce(&$handle) -> R) -> Result<R> {
                Ok(f(&$handle {}))
            }

            #[allow(dead_code)]
            pub(crate) fn lookup(&self, _: &[&str]) -> $handle {
                $handle {}
            }

            #[allow(dead_code)]
            pub(crate) fn with_lookup<R>(&self, _: &[&str], f: impl FnOnce(&$handle) -> R) -> R {
                f(&$handle {})
            }

            /// Sets nothing: the `metrics` feature is off.
            #[must_use]
            pub fn max_series(self, _: usize) -> Self {
                self
            }

            /// Sets nothing: the `metrics` feature is off.
            #[must_use]
            pub fn max_label_len(self, _: usize) -> Self {
                self
            }

            #[allow(dead_code)]
            pub(crate) fn count_overflows_in(&self, _: IntCounter) {}


            /// Removes nothing: the `metrics` feature is off.
            ///
            /// # Errors
            /// None with the `metrics` feature off.
            pub fn remove_label_values(&self, _: &[&str]) -> Result<bool> {
                Ok(false)
            }

            /// The names of the variable labels (empty with the `metrics` feature off).
            pub fn label_names(&self) -> &[String] {
                &[]
            }

            /// The full metric name (empty with the `metrics` feature off).
            pub fn name(&self) -> &str {
                ""
            }

            #[allow(dead_code)]
            pub(crate) fn drain_into(&self, _: &Self) {}
        }

        crate::metrics::local::cached!($handle);

        #[cfg(feature = "metrics")]
        impl $name {
            pub(crate) fn from_view(view: View<$cell>) -> Self {
                $name {
                    cache: view.cache(),
                    view: Arc::new(view),
                }
            }

            /// The series with these values of the variable labels, in the order the labels
            /// were declared; created at zero on first use. Keep the handle when you can:
            /// incrementing it is one atomic operation. To look up and record in one step,
            /// [`with`](Self::with) is faster: it does not clone the handle.
            ///
            /// # Errors
            /// [`Error::LabelCount`](crate::Error::LabelCount) when the number of values does not match the labels.
            #[inline]
            pub fn with_label_values(&self, values: &[&str]) -> Result<$handle> {
                self.with(values, $handle::clone)
            }

            /// Runs `f` on the series of these label values (created at zero on first use,
            /// or the overflow series, as [`with_label_values`](Self::with_label_values)),
            /// without cloning its handle: `requests.with(&[model, route], |c| c.inc())?`.
            /// A thread that saw these values before finds their series in its own cache,
            /// without a lock or an allocation.
            ///
            /// # Errors
            /// [`Error::LabelCount`](crate::Error::LabelCount) when the number of values does not match the labels.
            #[inline]
            pub fn with<R>(&self, values: &[&str], f: impl FnOnce(&$handle) -> R) -> Result<R> {
                if !self.cache.counts(values) {
                    self.view.check_count(values)?;
                }
                Ok(self.with_counted(values, f))
            }

            /// The series of `values`, or the overflow series when the values would pass a
            /// limit or their count is wrong.
            pub(crate) fn lookup(&self, values: &[&str]) -> $handle {
                self.with_lookup(values, $handle::clone)
            }

            /// [`with`](Self::with), a wrong count of values folded into the overflow series.
            #[inline(always)]
            pub(crate) fn with_lookup<R>(&self, values: &[&str], f: impl FnOnce(&$handle) -> R) -> R {
                if self.cache.counts(values) {
                    self.with_counted(values, f)
                } else {
                    f(&self.uncounted(values))
                }
            }

            /// The overflow series, for values of the wrong count.
            #[cold]
            #[inline(never)]
            fn uncounted(&self, values: &[&str]) -> $handle {
                $handle::from_series(self.view.lookup(values).0)
            }

            /// [`with`](Self::with) once the count of values is checked.
            #[inline(always)]
            fn with_counted<R>(&self, values: &[&str], f: impl FnOnce(&$handle) -> R) -> R {
                let key = Key::new(values);
                let generation = self.cache.generation();
                let same = |h: &$handle, at| h.series.has_values_at(at, values);
                match self.cache.with(&key, generation, same, f) {
                    Ok(r) => r,
                    Err(f) => f(&self.miss(key, generation, values)),
                }
            }

            /// The series of `values` found in the family, and cached for this thread unless
            /// it is the overflow series: off the path of a hit, so that the hit is small
            /// enough to be inlined where it is called.
            #[cold]
            #[inline(never)]
            fn miss(&self, key: Key, generation: u64, values: &[&str]) -> $handle {
                let (series, folded) = self.view.lookup(values);
                let at = series.values_at(self.view.fixed_len());
                let handle = $handle::from_series(series);
                if !folded {
                    self.cache.insert(key, generation, handle.clone(), at);
                }
                handle
            }

            /// Sets the most series one level's view of this family holds (default
            /// [`DEFAULT_MAX_SERIES`](crate::DEFAULT_MAX_SERIES)); further label
            /// combinations fold into the overflow series, where every variable label is
            /// [`OVERFLOW`](crate::OVERFLOW), counted by
            /// `dynamo_metrics_series_overflow_total{family}`. The limit is the family's: it
            /// applies to every handle of it.
            #[must_use]
            pub fn max_series(self, max_series: usize) -> Self {
                self.view.set_max_series(max_series);
                self
            }

            /// Sets the longest value, in bytes, a variable label of this family takes
            /// (default [`DEFAULT_MAX_LABEL_LEN`](crate::DEFAULT_MAX_LABEL_LEN)); a series
            /// with a longer value is counted under the overflow series and the value is
            /// never stored. The limit is the family's: it applies to every handle of it.
            #[must_use]
            pub fn max_label_len(self, max_label_len: usize) -> Self {
                self.view.set_max_label_len(max_label_len);
                self
            }


            /// Counts folds into the overflow series in `counter`.
            pub(crate) fn count_overflows_in(&self, counter: IntCounter) {
                self.view.count_overflows(move || counter.inc());
            }

            /// Removes the series with these label values; returns whether it existed.
            /// Handles to it keep working but are no longer exported.
            ///
            /// # Errors
            /// [`Error::LabelCount`](crate::Error::LabelCount) when the number of values does not match the labels.
            pub fn remove_label_values(&self, values: &[&str]) -> Result<bool> {
                self.view.remove(values)
            }

            /// The names of the variable labels, in order.
            pub fn label_names(&self) -> &[String] {
                self.view.variable_labels()
            }

            /// The full metric name.
            pub fn name(&self) -> &str {
                &self.view.family.meta().name
            }

            /// Moves every series into the same label values of `other`.
            #[allow(dead_code)] // needed only by the types endpoint metrics hold
            pub(crate) fn drain_into(&self, other: &Self) {
                self.view.drain_into(&other.view);
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(stringify!($name))
                    .field("name", &self.name())
                    .field("labels", &self.label_names())
                    .finish_non_exhaustive()
            }
        }

        collector!($name, view);
    };
}

/// Defines the standalone constructors of a counter or gauge type and its family.
macro_rules! standalone_new {
    ($name:ident, $vec:ident, $cell:ty) => {
        impl $name {
            /// A standalone metric named exactly `name`, outside any runtime: for code that
            /// registers metrics in a plain `prometheus::Registry`. Under the runtime, use
            /// [`MetricsRegistry`](crate::MetricsRegistry) instead.
            ///
            /// # Errors
            /// [`Error::InvalidName`](crate::Error::InvalidName) or [`Error::EmptyHelp`](crate::Error::EmptyHelp) when the rules are broken.
            #[track_caller]
            pub fn new(name: &str, help: &str) -> Result<Self> {
                let family = standalone::<$cell>(name, help, &[], None)?;
                Ok(Self::from_series(family.get_or_create(&[], &[]).0))
            }
        }

        impl $vec {
            /// A standalone labelled family named exactly `name`, outside any runtime.
            ///
            /// # Errors
            /// [`Error::InvalidName`](crate::Error::InvalidName), [`Error::DuplicateLabel`](crate::Error::DuplicateLabel) or [`Error::EmptyHelp`](crate::Error::EmptyHelp).
            #[track_caller]
            pub fn new(name: &str, help: &str, label_names: &[&str]) -> Result<Self> {
                let family = standalone::<$cell>(name, help, label_names, None)?;
                Ok(Self::from_view(View::new(family, Box::default())))
            }
        }
    };
}

/// Defines `striped()` on a family of integers or histograms (float counters and gauges have
/// no stripes).
macro_rules! striped {
    ($vec:ident, $(#[$doc:meta])*) => {
        impl $vec {
            $(#[$doc])*
            /// Also `#[metric(striped)]` in a `DynamoMetrics` struct.
            #[must_use]
            pub fn striped(self) -> Self {
                #[cfg(feature = "metrics")]
                self.view.set_striped(true);
                self
            }
        }
    };
}

/// Defines `takes_source` and `set_source` on a handle whose series can add what another
/// source counts (striped series only: see `Striped::set_source` and
/// `HistogramCell::set_source`).
macro_rules! set_source {
    ($name:ident, $source:ty, |$cell:ident| $takes:expr, $set:expr) => {
        impl $name {
            /// Whether [`set_source`](Self::set_source) would take a source.
            #[cfg(feature = "metrics")]
            pub(crate) fn takes_source(&self) -> bool {
                let $cell = &self.series.cell;
                $takes
            }

            /// Adds what `source` counts to this series; `false` unless it takes a source.
            #[cfg(feature = "metrics")]
            pub(crate) fn set_source(&self, source: $source) -> bool {
                let $cell = &self.series.cell;
                $set(source)
            }

            /// Takes none: the `metrics` feature is off.
            #[cfg(not(feature = "metrics"))]
            pub(crate) fn takes_source(&self) -> bool {
                false
            }

            /// Adds nothing: the `metrics` feature is off.
            #[cfg(not(feature = "metrics"))]
            pub(crate) fn set_source(&self, _: $source) -> bool {
                false
            }
        }
    };
}

mod counter;
mod gauge;
mod histogram;

pub use counter::{Counter, CounterVec, IntCounter, IntCounterVec};
pub use gauge::{Gauge, GaugeVec, IntGauge, IntGaugeVec};
pub use histogram::{Histogram, HistogramVec};
