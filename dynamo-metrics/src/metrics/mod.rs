//! Metric types on atomics, their families, and the checks of a declaration.
//! See [`IntCounter`] and [`IntCounterVec`] for details.

mod buckets;
mod cell;
mod declare;
mod exemplar;
mod family;
mod handles;
mod histogram;
mod label_key;
mod local;
mod meta;
mod native;
mod per_thread;
mod striped;
pub(crate) mod timer;
mod view;

pub(crate) use buckets::env_buckets;
pub use buckets::{DEFAULT_BUCKETS, exponential_buckets, linear_buckets, log_buckets};
pub(crate) use cell::SeriesCell;
pub(crate) use declare::Declaration;
pub use exemplar::MAX_EXEMPLAR_LABEL_CHARS;
pub(crate) use exemplar::exemplars_dropped;
pub use family::OVERFLOW;
pub(crate) use family::{AnyFamily, Budget, Family, Meta, Series};
pub use handles::{
    Counter, CounterVec, Gauge, GaugeVec, Histogram, HistogramVec, IntCounter, IntCounterVec,
    IntGauge, IntGaugeVec,
};
pub(crate) use histogram::{Counts, Tally, bucket_of};
pub(crate) use native::NativeCell;
pub(crate) use striped::Word;
pub(crate) use view::{View, location};
