//! Histogram cells: observations counted per classic and native bucket, once or per thread.
//! See [`HistogramCell`] for details.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, OnceLock};

use dynamo_metrics_naming::{MetricKind, NativeParams};
use thread_local::ThreadLocal;

use super::buckets::DEFAULT_BUCKETS;
use super::cell::{AtomicF64, SeriesCell};
use super::exemplar::{Exemplar, ExemplarSlots};
use super::meta::Meta;
use super::native::{NativeCell, NativeTally};
use super::per_thread::this_thread;
use super::striped::Word;
use crate::exposition::prepared::{HistogramReading, HistogramText};
use crate::exposition::snapshot::Value;

/// A histogram series: observations counted per bucket, their sum and their native buckets,
/// in one set of counts, or, when striped, in one set per thread that observes (each written
/// only by its thread, with no locked instruction; see [`Striped`](super::striped::Striped))
/// and summed when read.
///
/// The count is derived from the buckets when read, so every render has `_count` equal to the
/// `+Inf` bucket, however many threads observe meanwhile.
pub(crate) struct HistogramCell {
    bounds: Arc<[f64]>,
    /// Every observation when not striped; otherwise what was drained into this series.
    base: Counts,
    /// When striped.
    local: Option<Box<PerThread>>,
    /// The latest exemplar of each bucket.
    exemplars: ExemplarSlots,
}

/// The counts of a striped histogram series: each thread's, and what another source (see
/// [`HistogramCell::set_source`]) counts for it.
struct PerThread {
    counts: ThreadLocal<Aligned>,
    native: Option<NativeParams>,
    source: OnceLock<TallySource>,
}

/// One thread's counts, on cache lines of their own.
#[repr(align(64))]
struct Aligned(Counts);

/// Adds what it counted for a histogram series to a [`Tally`].
pub(crate) type TallySource = Box<dyn Fn(&mut Tally) + Send + Sync>;

/// Everything a histogram series counted, added up: per classic bucket (not cumulative), the
/// sum, and the native buckets.
pub(crate) struct Tally {
    pub(crate) counts: Vec<u64>,
    pub(crate) sum: f64,
    pub(crate) native: NativeTally,
}

impl Tally {
    /// Nothing counted, in `buckets` classic buckets (with `+Inf`).
    pub(crate) fn empty(buckets: usize) -> Tally {
        Tally {
            counts: vec![0; buckets],
            sum: 0.0,
            native: NativeTally::default(),
        }
    }

    /// Adds `other`'s counts (of a series of the same buckets) to these.
    pub(crate) fn add(&mut self, other: Tally) {
        for (c, n) in self.counts.iter_mut().zip(other.counts) {
            *c += n;
        }
        self.sum += other.sum;
        self.native.add(other.native);
    }
}

/// The classic bucket of `v` among sorted `bounds`: the number of bounds below `v`; counting
/// them has no data-dependent branch and vectorises.
#[inline]
pub(crate) fn bucket_of(bounds: &[f64], v: f64) -> usize {
    bounds.iter().map(|b| usize::from(*b < v)).sum()
}

/// Observations counted per bucket (not cumulative), their sum, and the native buckets of a
/// native histogram.
pub(crate) struct Counts {
    /// One per bound, then the `+Inf` bucket.
    counts: Box<[AtomicU64]>,
    sum: AtomicF64,
    native: Option<Box<NativeCell>>,
}

impl Counts {
    pub(crate) fn new(buckets: usize, native: Option<NativeParams>) -> Self {
        Counts {
            counts: (0..=buckets).map(|_| AtomicU64::new(0)).collect(),
            sum: AtomicF64::default(),
            native: native.map(|params| Box::new(NativeCell::new(params))),
        }
    }

    /// Counts `v` (not NaN) in classic bucket `i`; `OWNED` as in [`NativeCell::observe`].
    #[inline]
    fn record<const OWNED: bool>(&self, i: usize, v: f64) {
        if OWNED {
            self.counts[i].add_owned(1, Relaxed);
            self.sum.set(self.sum.get() + v);
        } else {
            self.counts[i].fetch_add(1, Relaxed);
            self.sum.add(v);
        }
        if let Some(native) = &self.native {
            native.observe::<OWNED>(v);
        }
    }

    /// Counts each of `values` (not NaN) among `bounds`, where this thread is the only writer.
    /// Values close in time are often in one bucket: each tries the bucket of the one before
    /// first.
    #[inline]
    pub(crate) fn record_owned(&self, bounds: &[f64], values: &[f64]) {
        let mut i = 0;
        let mut sum = self.sum.get();
        for &v in values {
            let above_lower = i == 0 || bounds[i - 1] < v;
            let within_upper = i == bounds.len() || v <= bounds[i];
            if !(above_lower && within_upper) {
                i = bucket_of(bounds, v);
            }
            self.counts[i].add_owned(1, Relaxed);
            sum += v;
        }
        self.sum.set(sum);
        if let Some(native) = &self.native {
            native.observe_owned(values);
        }
    }

    /// Adds these counts to `t`: the native ones first, so the classic count read after them
    /// is never below theirs.
    pub(crate) fn add_to(&self, t: &mut Tally) {
        if let Some(native) = &self.native {
            native.add_to(&mut t.native);
        }
        for (sum, c) in t.counts.iter_mut().zip(self.counts.iter()) {
            *sum += c.load(Relaxed);
        }
        t.sum += self.sum.get();
    }

    /// Moves every count into `other`, leaving these at zero.
    fn drain_into(&self, other: &Counts) {
        for (mine, theirs) in self.counts.iter().zip(other.counts.iter()) {
            theirs.fetch_add(mine.swap(0, Relaxed), Relaxed);
        }
        other.sum.add(self.sum.take());
        if let (Some(mine), Some(theirs)) = (&self.native, &other.native) {
            mine.drain_into(theirs);
        }
    }
}

impl HistogramCell {
    /// The classic bucket of `v`.
    #[inline]
    fn bucket(&self, v: f64) -> usize {
        bucket_of(&self.bounds, v)
    }

    /// Observes `v` and keeps `exemplar` as its bucket's latest.
    pub(crate) fn observe_with_exemplar(&self, v: f64, exemplar: Exemplar) {
        if let Some(i) = self.observe_at(v) {
            self.exemplars.set(self.bounds.len() + 1, i, exemplar);
        }
    }

    #[inline]
    pub(crate) fn observe(&self, v: f64) {
        self.observe_at(v);
    }

    /// Observes `v` (not NaN); the classic bucket it went to.
    #[inline]
    fn observe_at(&self, v: f64) -> Option<usize> {
        if v.is_nan() {
            return None;
        }
        let i = self.bucket(v);
        self.record(i, v);
        Some(i)
    }

    /// Counts `v` in classic bucket `i`: in this thread's counts when striped.
    #[inline]
    fn record(&self, i: usize, v: f64) {
        let counts = self.local.as_ref().and_then(|local| {
            this_thread(&local.counts, || {
                Aligned(Counts::new(self.bounds.len(), local.native))
            })
        });
        match counts {
            Some(counts) => counts.0.record::<true>(i, v),
            // Unstriped, or a thread being torn down.
            None => self.base.record::<false>(i, v),
        }
    }

    /// Every set of counts: the base, then each thread's.
    fn all(&self) -> impl Iterator<Item = &Counts> {
        let threads = self
            .local
            .iter()
            .flat_map(|l| l.counts.iter().map(|c| &c.0));
        std::iter::once(&self.base).chain(threads)
    }

    /// Whether [`set_source`](Self::set_source) would take a source: striped, and none yet.
    pub(crate) fn takes_source(&self) -> bool {
        self.local
            .as_ref()
            .is_some_and(|l| l.source.get().is_none())
    }

    /// Adds what `source` counts to this series, read with it; `false` (and nothing changed)
    /// unless it [takes a source](Self::takes_source).
    pub(crate) fn set_source(&self, source: TallySource) -> bool {
        self.local
            .as_ref()
            .is_some_and(|l| l.source.set(source).is_ok())
    }

    /// Everything counted: the base counts, each thread's, and the other source's.
    fn tally(&self) -> Tally {
        let mut t = Tally::empty(self.bounds.len() + 1);
        for counts in self.all() {
            counts.add_to(&mut t);
        }
        if let Some(source) = self.local.as_ref().and_then(|l| l.source.get()) {
            source(&mut t);
        }
        t
    }

    pub(crate) fn count(&self) -> u64 {
        self.tally().counts.iter().sum()
    }

    pub(crate) fn sum(&self) -> f64 {
        self.tally().sum
    }

    /// A native cell of this series' parameters, if it is native: what native buckets are
    /// counted and snapshotted with.
    pub(crate) fn native_cell(&self) -> Option<&NativeCell> {
        self.base.native.as_deref()
    }
}

impl SeriesCell for HistogramCell {
    const KIND: MetricKind = MetricKind::Histogram;
    const VALUE: &'static str = "f64";
    type Text = HistogramText;

    fn new(meta: &Meta, striped: bool) -> Self {
        let bounds = meta
            .buckets
            .clone()
            .unwrap_or_else(|| DEFAULT_BUCKETS.into());
        HistogramCell {
            base: Counts::new(bounds.len(), meta.native),
            bounds,
            local: striped.then(|| {
                Box::new(PerThread {
                    counts: ThreadLocal::new(),
                    native: meta.native,
                    source: OnceLock::new(),
                })
            }),
            exemplars: ExemplarSlots::default(),
        }
    }

    fn exemplars(&self) -> Vec<(usize, Exemplar)> {
        self.exemplars.all()
    }

    fn striped(&self) -> bool {
        self.local.is_some()
    }

    /// Exact only while nothing observes into a striped `self` (see [`Striped`](super::striped::Striped)).
    fn drain_into(&self, other: &Self) {
        for counts in self.all() {
            counts.drain_into(&other.base);
        }
    }

    fn value(&self) -> Value {
        let Tally {
            counts,
            sum,
            native,
        } = self.tally();
        let mut cumulative = 0u64;
        let mut buckets = Vec::with_capacity(self.bounds.len());
        for (bound, count) in self.bounds.iter().zip(&counts) {
            cumulative += count;
            buckets.push((*bound, cumulative));
        }
        cumulative += counts.last().copied().unwrap_or(0);
        Value::Histogram {
            buckets,
            sum,
            count: cumulative,
            native: self.native_cell().map(|n| Box::new(n.snapshot(native))),
        }
    }
}

impl HistogramReading for HistogramCell {
    /// An unstriped series reads its one set of counts in place.
    fn read(&self, counts: &mut Vec<u64>) -> f64 {
        counts.clear();
        if self.local.is_some() {
            let tally = self.tally();
            counts.extend_from_slice(&tally.counts);
            tally.sum
        } else {
            counts.extend(self.base.counts.iter().map(|c| c.load(Relaxed)));
            self.base.sum.get()
        }
    }

    fn exemplar(&self, bucket: usize) -> Option<Exemplar> {
        self.exemplars.get(bucket)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn striped_histograms_sum_every_threads_counts() {
        let meta = Meta {
            name: "h".into(),
            help: "h".into(),
            kind: MetricKind::Histogram,
            value_type: "f64",
            labels: Box::default(),
            hierarchy: 0,
            native: Some(dynamo_metrics_naming::NativeParams::DEFAULT),
            buckets: Some([0.5, 1.0].into()),
            declared_at: String::new(),
        };
        let cell = HistogramCell::new(&meta, true);
        assert!(cell.striped());
        std::thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| {
                    for v in [0.25, 0.75, 2.0, 0.0, -1.0, f64::NAN] {
                        cell.observe(v);
                    }
                    cell.observe(0.0);
                });
            }
        });
        let Value::Histogram {
            buckets,
            sum,
            count,
            native,
        } = cell.value()
        else {
            panic!("not a histogram");
        };
        assert_eq!(buckets, [(0.5, 16), (1.0, 20)]);
        assert_eq!((sum, count, cell.count(), cell.sum()), (8.0, 24, 24, 8.0));
        let native = native.unwrap();
        assert_eq!(native.zero_count, 8, "0.0, twice per thread");
        assert_eq!(native.positive.iter().map(|(_, n)| n).sum::<u64>(), 12);
        assert_eq!(native.negative, [(0, 4)]);
        // Drained into an unstriped cell, every count moves.
        let other = HistogramCell::new(&meta, false);
        cell.drain_into(&other);
        assert_eq!((cell.count(), other.count(), other.sum()), (0, 24, 8.0));
    }
}
