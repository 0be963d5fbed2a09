//! Metric types on atomics, their families, and the checks of a declaration.
//! See [`IntCounter`] and [`IntCounterVec`] for details.
//!
//! - cells: `cell` (counters and gauges), `striped` (one atomic per stripe), `histogram` and
//!   `native` (classic and native buckets), `buckets` (bounds and their checks), `exemplar`
//!   (the slots a series keeps its latest exemplars in), `per_thread` (values per thread);
//! - families: `meta` (what a family is), `family` (its series, sorted, with their prepared
//!   text), `view` (one level's series of a family), `declare` (the checks of a declaration);
//! - string labels: `label_key` (the key of label values), `local` (each thread's lookup
//!   table);
//! - `handles`: the public types, `IntCounter` to `HistogramVec`; `timer`: the clock.
//!
//! It imports `describe`, `error` and `exposition` (the readings cells hand over, the writers
//! a family hands its series to), never the registry above it.

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
mod series;
mod sorted;
pub(crate) mod striped;
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
