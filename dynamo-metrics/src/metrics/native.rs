//! The buckets of a native histogram: exponential, sparse, at the resolution of a schema. See
//! [`NativeCell`] for details.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};

use dynamo_metrics_naming::NativeParams;
use parking_lot::Mutex;

use crate::exposition::snapshot::Native;

/// The width of the zero bucket: observations whose magnitude is at most this count there.
/// 2^-128, client_golang's default.
pub(crate) const ZERO_THRESHOLD: f64 = 2.938_735_877_055_719e-39;

/// The most bucket counters a series holds in its array; other keys go to a locked map.
const MAX_ARRAY: i32 = 1024;

/// Native buckets of one histogram series. Bucket `k` at schema `s` holds observations in
/// `(2^((k-1)·2^-s), 2^(k·2^-s)]`. Keys around the observations a latency histogram sees
/// (about 2^-20 to 2^20 seconds, fewer at high schemas) are an array of atomics, so an
/// observation there is one atomic add; negative values and keys outside the array go to a
/// locked map, exact but slower.
pub(crate) struct NativeCell {
    schema: i8,
    max_buckets: u32,
    /// For schemas above 0: the fraction bounds of one power of two, `2^(i/2^s - 1)`.
    bounds: Box<[f64]>,
    first: i32,
    counts: Box<[AtomicU64]>,
    zero: AtomicU64,
    positive_rest: Mutex<BTreeMap<i32, u64>>,
    negative: Mutex<BTreeMap<i32, u64>>,
}

impl std::fmt::Debug for NativeCell {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NativeCell")
            .field("schema", &self.schema)
            .finish_non_exhaustive()
    }
}

/// `v = frac · 2^exp` with `frac` in `[0.5, 1)`, for finite normal positive `v`.
fn frexp(v: f64) -> (f64, i32) {
    let bits = v.to_bits();
    #[allow(clippy::cast_possible_truncation, clippy::cast_possible_wrap)]
    let exp = ((bits >> 52) & 0x7ff) as i32 - 1022;
    let frac = f64::from_bits((bits & 0x000f_ffff_ffff_ffff) | (1022 << 52));
    (frac, exp)
}

/// The key of the bucket holding `v` (positive, above the zero threshold) at `schema`.
pub(crate) fn key(v: f64, schema: i8, bounds: &[f64]) -> i32 {
    let v = v.min(f64::MAX);
    let (frac, exp) = frexp(v);
    if schema > 0 {
        // The number of bounds below `frac`: no data-dependent branch, and it vectorises.
        let within: usize = bounds.iter().map(|b| usize::from(*b < frac)).sum();
        #[allow(clippy::cast_possible_truncation, clippy::cast_possible_wrap)]
        let n = bounds.len() as i32;
        within as i32 + (exp - 1) * n
    } else {
        let mut k = exp;
        if frac == 0.5 {
            k -= 1;
        }
        let shift = -i32::from(schema);
        (k + (1 << shift) - 1) >> shift
    }
}

/// Native bucket counts added up from several cells (and durations not yet in any), before
/// they become a [`Native`].
#[derive(Debug, Default)]
pub(crate) struct NativeTally {
    zero: u64,
    positive: BTreeMap<i32, u64>,
    negative: BTreeMap<i32, u64>,
}

impl NativeTally {
    /// Adds `other`'s counts to these.
    pub(crate) fn add(&mut self, other: NativeTally) {
        self.zero += other.zero;
        for (mine, theirs) in [
            (&mut self.positive, other.positive),
            (&mut self.negative, other.negative),
        ] {
            for (k, n) in theirs {
                *mine.entry(k).or_default() += n;
            }
        }
    }
}

/// Adds one to `c`, with a load and a store where this thread is its only writer (`OWNED`).
#[inline(always)]
pub(crate) fn bump<const OWNED: bool>(c: &AtomicU64) {
    if OWNED {
        c.store(c.load(Ordering::Relaxed).wrapping_add(1), Ordering::Release);
    } else {
        c.fetch_add(1, Ordering::Release);
    }
}

impl NativeCell {
    pub(crate) fn new(params: NativeParams) -> Self {
        let schema = params.schema().unwrap_or(3);
        let bounds: Box<[f64]> = if schema > 0 {
            let n = 1u32 << schema;
            (0..n)
                .map(|i| 2f64.powf(f64::from(i) / f64::from(n) - 1.0))
                .collect()
        } else {
            Box::default()
        };
        // Keys of 2^-30 .. 2^20 without a lock: in seconds, from a nanosecond (fast handlers)
        // to twelve days; as counts, up to a million.
        let per_power = if schema >= 0 { 1i32 << schema } else { 1 };
        let powers = |n: i32| {
            if schema >= 0 {
                n
            } else {
                (n >> -schema).max(1)
            }
        };
        let below = (powers(30) * per_power).min(MAX_ARRAY / 2);
        let above = (powers(20) * per_power).min(MAX_ARRAY / 2);
        NativeCell {
            schema,
            max_buckets: params.max_buckets,
            bounds,
            first: -below + 1,
            counts: (0..below + above).map(|_| AtomicU64::new(0)).collect(),
            zero: AtomicU64::new(0),
            positive_rest: Mutex::new(BTreeMap::new()),
            negative: Mutex::new(BTreeMap::new()),
        }
    }

    /// Counts `v` (not NaN); with `OWNED`, this thread is the only one that counts here (see
    /// [`Word::add_owned`](super::striped::Word::add_owned)). Release ordering: a reader that
    /// sees this count also sees the classic bucket counted before it, so the count it reads
    /// is never below the buckets'.
    #[inline]
    pub(crate) fn observe<const OWNED: bool>(&self, v: f64) {
        if v.abs() <= ZERO_THRESHOLD {
            bump::<OWNED>(&self.zero);
        } else if v > 0.0 {
            let k = key(v, self.schema, &self.bounds);
            match usize::try_from(k - self.first)
                .ok()
                .and_then(|i| self.counts.get(i))
            {
                Some(c) => bump::<OWNED>(c),
                None => *self.positive_rest.lock().entry(k).or_default() += 1,
            }
        } else {
            let k = key(-v, self.schema, &self.bounds);
            *self.negative.lock().entry(k).or_default() += 1;
        }
    }

    /// Adds this cell's positive buckets to `all`.
    fn add_positive(&self, all: &mut BTreeMap<i32, u64>) {
        for (k, n) in self.positive_rest.lock().iter() {
            *all.entry(*k).or_default() += n;
        }
        for (i, c) in self.counts.iter().enumerate() {
            let n = c.load(Ordering::Acquire);
            if n > 0 {
                #[allow(clippy::cast_possible_truncation, clippy::cast_possible_wrap)]
                let k = self.first + i as i32;
                *all.entry(k).or_default() += n;
            }
        }
    }

    /// Observes each of `values` (not NaN) where this thread is the only writer: a value in
    /// the bucket of the one before is counted there without finding its key again.
    pub(crate) fn observe_owned(&self, values: &[f64]) {
        let mut last: Option<(f64, f64, &AtomicU64)> = None;
        for &v in values {
            match last {
                Some((lo, hi, count)) if lo < v && v <= hi => bump::<true>(count),
                _ => {
                    last = self.slot_of(v);
                    match last {
                        Some((_, _, count)) => bump::<true>(count),
                        None => self.observe::<true>(v),
                    }
                }
            }
        }
    }

    /// For `v` whose bucket is in the array (at a positive schema): the bucket's range
    /// `(lo, hi]` and its counter. Bucket `k = w + (e - 1)·n`, `w` in `1..=n`, holds the
    /// values whose `frexp` is `(f, e)` with `f` in `(bounds[w-1], bounds[w]]` (`bounds[n]`
    /// being 1): exactly `(bounds[w-1]·2^e, bounds[w]·2^e]`, since scaling by `2^e` is exact.
    fn slot_of(&self, v: f64) -> Option<(f64, f64, &AtomicU64)> {
        if self.schema <= 0 || v.abs() <= ZERO_THRESHOLD || !(0.0..=f64::MAX).contains(&v) {
            return None;
        }
        let k = key(v, self.schema, &self.bounds);
        let count = self.counts.get(usize::try_from(k - self.first).ok()?)?;
        let n = i32::try_from(self.bounds.len()).ok()?;
        let w = match k.rem_euclid(n) {
            0 => n,
            w => w,
        };
        let scale = 2f64.powi((k - w) / n + 1);
        let bound = |j: i32| {
            usize::try_from(j)
                .ok()
                .and_then(|j| self.bounds.get(j))
                .map_or(1.0, |b| *b)
        };
        Some((bound(w - 1) * scale, bound(w) * scale, count))
    }

    /// Adds this cell's counts to `t`.
    pub(crate) fn add_to(&self, t: &mut NativeTally) {
        t.zero += self.zero.load(Ordering::Acquire);
        self.add_positive(&mut t.positive);
        for (k, n) in self.negative.lock().iter() {
            *t.negative.entry(*k).or_default() += n;
        }
    }

    /// Counts `v` (not NaN) in `t`, in the bucket [`observe`](Self::observe) would use.
    pub(crate) fn count_into(&self, v: f64, t: &mut NativeTally) {
        if v.abs() <= ZERO_THRESHOLD {
            t.zero += 1;
        } else if v > 0.0 {
            *t.positive
                .entry(key(v, self.schema, &self.bounds))
                .or_default() += 1;
        } else {
            *t.negative
                .entry(key(-v, self.schema, &self.bounds))
                .or_default() += 1;
        }
    }

    /// The buckets counted in `t` (by cells of these parameters), at most `max_buckets` of
    /// them.
    pub(crate) fn snapshot(&self, t: NativeTally) -> Native {
        let mut native = Native {
            schema: self.schema,
            zero_threshold: ZERO_THRESHOLD,
            zero_count: t.zero,
            positive: t.positive.into_iter().collect(),
            negative: t.negative.into_iter().collect(),
        };
        native.limit(self.max_buckets);
        native
    }

    /// Moves every count into `other` (of the same parameters), leaving this one empty.
    pub(crate) fn drain_into(&self, other: &NativeCell) {
        other
            .zero
            .fetch_add(self.zero.swap(0, Ordering::AcqRel), Ordering::Release);
        for (mine, theirs) in self.counts.iter().zip(other.counts.iter()) {
            theirs.fetch_add(mine.swap(0, Ordering::AcqRel), Ordering::Release);
        }
        for (from, to) in [
            (&self.positive_rest, &other.positive_rest),
            (&self.negative, &other.negative),
        ] {
            let taken = std::mem::take(&mut *from.lock());
            let mut to = to.lock();
            for (k, n) in taken {
                *to.entry(k).or_default() += n;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(factor: f64, max_buckets: u32) -> NativeParams {
        NativeParams {
            factor,
            max_buckets,
        }
    }

    fn tally(cell: &NativeCell) -> NativeTally {
        let mut t = NativeTally::default();
        cell.add_to(&mut t);
        t
    }

    /// The upper bound of bucket `k` at `schema`.
    fn upper(k: i32, schema: i8) -> f64 {
        2f64.powf(f64::from(k) * 2f64.powi(-i32::from(schema)))
    }

    #[test]
    fn keys_put_values_in_their_buckets() {
        for schema in [-4i8, -1, 0, 1, 3, 8] {
            let cell = NativeCell::new(params(2f64.powf(2f64.powi(-i32::from(schema))), 10));
            assert_eq!(cell.schema, schema);
            for v in [1e-9, 0.001, 0.3, 0.5, 1.0, 1.05, 2.0, 3.7, 1000.0, 1e12] {
                let k = key(v, schema, &cell.bounds);
                assert!(
                    v <= upper(k, schema) * (1.0 + 1e-12),
                    "{v} above bucket {k} at {schema}"
                );
                assert!(
                    v > upper(k - 1, schema) * (1.0 - 1e-12),
                    "{v} below bucket {k} at {schema}"
                );
            }
            // Bounds are inclusive: a power of two is the top of its bucket.
            assert_eq!(key(1.0, schema, &cell.bounds), 0);
        }
    }

    #[test]
    fn a_bucket_range_holds_exactly_the_values_of_its_key() {
        for factor in [1.1, 1.5, 2f64.sqrt()] {
            let cell = NativeCell::new(params(factor, 160));
            let mut v = 1e-7;
            while v < 1e5 {
                let (lo, hi, _) = cell.slot_of(v).unwrap();
                let k = key(v, cell.schema, &cell.bounds);
                assert!(lo < v && v <= hi, "{v} outside ({lo}, {hi}]");
                assert_eq!(key(hi, cell.schema, &cell.bounds), k, "top of {k}");
                assert_eq!(key(hi.next_up(), cell.schema, &cell.bounds), k + 1);
                assert_eq!(key(lo, cell.schema, &cell.bounds), k - 1, "below {k}");
                assert_eq!(key(lo.next_up(), cell.schema, &cell.bounds), k);
                v *= 1.037;
            }
            assert!(cell.slot_of(0.0).is_none() && cell.slot_of(-1.0).is_none());
            // Counting a batch this way gives the buckets one by one would.
            let values: Vec<f64> = (0..200).map(|i| 0.001 * 1.01f64.powi(i / 3)).collect();
            let (batch, single) = (
                NativeCell::new(params(factor, 160)),
                NativeCell::new(params(factor, 160)),
            );
            batch.observe_owned(&values);
            values.iter().for_each(|v| single.observe::<false>(*v));
            assert_eq!(
                batch.snapshot(tally(&batch)),
                single.snapshot(tally(&single))
            );
        }
    }

    #[test]
    fn observations_and_limits() {
        let cell = NativeCell::new(params(1.1, 4));
        for v in [0.0, 1.0, 1.05, 1.05, 2.0, -1.0, 1e30] {
            cell.observe::<false>(v);
        }
        let full = Native {
            schema: 3,
            zero_threshold: ZERO_THRESHOLD,
            zero_count: 1,
            positive: vec![(0, 1), (1, 2), (8, 1), (798, 1)],
            negative: vec![(0, 1)],
        };
        // Five buckets in all, at most four exposed: the resolution halves until they fit.
        // Bucket i of schema s is (2^((i-1)/2^s), 2^(i/2^s)], so it becomes bucket ceil(i/2) of
        // schema s-1. Keys 0, 1, 8, 798 at schema 3 (1e30 lies in bucket 798: 8 log2(1e30) is
        // 797.26) are 0, 1, 4, 399 at 2; 0, 1, 2, 200 at 1; 0, 1, 1, 100 at 0, where 1.05 and 2
        // share (1, 2], and four buckets are left.
        let limited = Native {
            schema: 0,
            zero_threshold: ZERO_THRESHOLD,
            zero_count: 1,
            positive: vec![(0, 1), (1, 3), (100, 1)],
            negative: vec![(0, 1)],
        };
        let mut halved = full.clone();
        halved.limit(4);
        assert_eq!(halved, limited);
        // Where it cannot fit, the lowest schema is the end.
        let mut lowest = full.clone();
        lowest.limit(1);
        assert_eq!(lowest.schema, -4);
        let unlimited = NativeCell::new(params(1.1, 100));
        for v in [0.0, 1.0, 1.05, 1.05, 2.0, -1.0, 1e30] {
            unlimited.observe::<true>(v);
        }
        assert_eq!(unlimited.snapshot(tally(&unlimited)), full);
        // Counted without storing, the same values give the same buckets.
        let mut counted = NativeTally::default();
        for v in [0.0, 1.0, 1.05, 1.05, 2.0, -1.0, 1e30] {
            unlimited.count_into(v, &mut counted);
        }
        assert_eq!(unlimited.snapshot(counted), full);
    }
}
