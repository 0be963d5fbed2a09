//! Histogram cells and bucket helpers. See [`exponential_buckets`] and [`linear_buckets`].

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use crate::exposition::snapshot::Value;
use dynamo_metrics_naming::MetricKind;

use super::cell::{AtomicF64, SeriesCell};
use super::exemplar::{Exemplar, ExemplarSlots};
use super::meta::Meta;
use super::native::{NativeCell, NativeTally};
use super::per_thread::this_thread;
use super::striped::Word;
use crate::error::{Error, Result};
use crate::exposition::prepared::{HistogramReading, HistogramText};
use dynamo_metrics_naming::NativeParams;
use std::sync::OnceLock;
use thread_local::ThreadLocal;

/// The default bucket bounds of histograms created without buckets, in seconds: the
/// Prometheus client defaults, from 5 ms to 10 s.
pub const DEFAULT_BUCKETS: &[f64] = dynamo_metrics_naming::DEFAULT_BUCKETS;

/// `count` bounds starting at `start`, each `factor` times the one before.
///
/// # Errors
/// [`Error::InvalidBuckets`] unless `count >= 1`, `start > 0` and `factor > 1` (all finite).
pub fn exponential_buckets(start: f64, factor: f64, count: usize) -> Result<Vec<f64>> {
    let reason = if count < 1 {
        Some("count must be at least 1")
    } else if !(start.is_finite() && start > 0.0) {
        Some("start must be a finite number above 0")
    } else if !(factor.is_finite() && factor > 1.0) {
        Some("factor must be a finite number above 1")
    } else {
        None
    };
    if let Some(reason) = reason {
        return Err(invalid("exponential_buckets", reason));
    }
    Ok(std::iter::successors(Some(start), |b| Some(b * factor))
        .take(count)
        .collect())
}

/// `count` bounds starting at `start`, each `width` above the one before.
///
/// # Errors
/// [`Error::InvalidBuckets`] unless `count >= 1`, `start` is finite and `width > 0` (finite).
pub fn linear_buckets(start: f64, width: f64, count: usize) -> Result<Vec<f64>> {
    let reason = if count < 1 {
        Some("count must be at least 1")
    } else if !start.is_finite() {
        Some("start must be finite")
    } else if !(width.is_finite() && width > 0.0) {
        Some("width must be a finite number above 0")
    } else {
        None
    };
    if let Some(reason) = reason {
        return Err(invalid("linear_buckets", reason));
    }
    #[allow(clippy::cast_precision_loss)]
    Ok((0..count).map(|i| start + width * i as f64).collect())
}

/// Log-spaced buckets as Dynamo builds them: `0`, then `count - 1` bounds from `min` to
/// `max` evenly spaced in log scale, rounded to two significant digits, duplicates dropped.
///
/// # Errors
/// [`Error::InvalidBuckets`] unless `0 < min < max` (finite) and `2 <= count <= 512`.
pub fn log_buckets(min: f64, max: f64, count: usize) -> Result<Vec<f64>> {
    dynamo_metrics_naming::log_buckets(min, max, count).ok_or_else(|| Error::InvalidBuckets {
        family: "log_buckets".to_owned(),
        reason: format!(
            "need 0 < min < max and 2 <= count <= 512, got min {min}, max {max}, count {count}"
        ),
    })
}

/// The buckets `PREFIX_MIN`, `PREFIX_MAX` and `PREFIX_COUNT` ask for, if any is set.
pub(crate) fn env_buckets(
    prefix: &str,
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<Option<Vec<f64>>> {
    let vars = ["MIN", "MAX", "COUNT"].map(|s| format!("{prefix}_{s}"));
    let values = vars.clone().map(|v| lookup(&v));
    if values.iter().all(Option::is_none) {
        return Ok(None);
    }
    let bad = |i: usize, reason: &str| Error::InvalidBuckets {
        family: prefix.to_owned(),
        reason: format!(
            "{}={:?}: {reason}",
            vars[i],
            values[i].clone().unwrap_or_default()
        ),
    };
    let num = |i: usize| -> Result<f64> {
        values[i]
            .as_deref()
            .ok_or_else(|| bad(i, "set all three of _MIN, _MAX and _COUNT"))?
            .trim()
            .parse::<f64>()
            .map_err(|_| bad(i, "expected a number"))
    };
    let (min, max, count) = (num(0)?, num(1)?, num(2)?);
    if count.fract() != 0.0 || count < 2.0 {
        return Err(bad(2, "expected a whole number from 2 to 512"));
    }
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    log_buckets(min, max, count as usize).map(Some)
}

fn invalid(family: &str, reason: impl Into<String>) -> Error {
    Error::InvalidBuckets {
        family: family.to_owned(),
        reason: reason.into(),
    }
}

/// Checks bucket bounds: at least one finite bound, strictly increasing. A trailing `+Inf`
/// is dropped, since every histogram has that bucket anyway.
pub(crate) fn check_buckets(family: &str, buckets: &[f64]) -> Result<Arc<[f64]>> {
    if let Some(first) = dynamo_metrics_naming::check_buckets(buckets).first() {
        return Err(invalid(family, first.to_string()));
    }
    let finite = match buckets.split_last() {
        Some((last, rest)) if *last == f64::INFINITY => rest,
        _ => buckets,
    };
    Ok(finite.into())
}

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

    #[test]
    fn bucket_helpers() {
        assert_eq!(
            exponential_buckets(1.0, 2.0, 4).unwrap(),
            [1.0, 2.0, 4.0, 8.0]
        );
        assert_eq!(linear_buckets(0.0, 0.5, 3).unwrap(), [0.0, 0.5, 1.0]);
        let err = exponential_buckets(0.0, 2.0, 3).unwrap_err().to_string();
        assert_eq!(
            err,
            "invalid buckets for \"exponential_buckets\": start must be a finite number above 0"
        );
        assert!(linear_buckets(0.0, 1.0, 0).is_err());
    }

    #[test]
    fn bucket_checks() {
        assert_eq!(
            &*check_buckets("h", &[1.0, 2.0, f64::INFINITY]).unwrap(),
            &[1.0, 2.0]
        );
        let msg = |b: &[f64]| check_buckets("h", b).unwrap_err().to_string();
        assert_eq!(
            msg(&[]),
            "invalid buckets for \"h\": at least one finite bucket bound is required"
        );
        assert_eq!(
            msg(&[1.0, f64::NAN]),
            "invalid buckets for \"h\": bound NaN is not a finite number; +Inf is always added"
        );
        assert_eq!(
            msg(&[1.0, 1.0]),
            "invalid buckets for \"h\": duplicate bucket bound 1"
        );
        // The rule the macros apply: at most MAX_BUCKETS bounds.
        let many: Vec<f64> = (0..=dynamo_metrics_naming::MAX_BUCKETS)
            .map(|i| i as f64)
            .collect();
        assert_eq!(
            msg(&many),
            "invalid buckets for \"h\": 1001 bucket bounds; a histogram has at most 1000"
        );
    }

    fn lookup(vars: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |k| {
            vars.iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| (*v).to_owned())
        }
    }

    #[test]
    fn buckets_from_the_variables_dynamo_documents() {
        assert_eq!(env_buckets("DYN_METRICS_TTFT", lookup(&[])).unwrap(), None);
        let vars = &[
            ("DYN_METRICS_TTFT_MIN", "0.001"),
            ("DYN_METRICS_TTFT_MAX", "10"),
            ("DYN_METRICS_TTFT_COUNT", "5"),
        ];
        assert_eq!(
            env_buckets("DYN_METRICS_TTFT", lookup(vars)).unwrap(),
            Some(vec![0.0, 0.01, 0.1, 1.0, 10.0])
        );
        let err =
            env_buckets("DYN_METRICS_ITL", lookup(&[("DYN_METRICS_ITL_MIN", "1")])).unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid buckets for \"DYN_METRICS_ITL\": DYN_METRICS_ITL_MAX=\"\": set all three of _MIN, _MAX and _COUNT"
        );
        let bad = &[("P_MIN", "5"), ("P_MAX", "1"), ("P_COUNT", "4")];
        assert!(matches!(
            env_buckets("P", lookup(bad)),
            Err(Error::InvalidBuckets { .. })
        ));
    }
}
