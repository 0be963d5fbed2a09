//! Instrumented calls recorded per thread: what a call under a runtime writes, and how the
//! runtime's endpoint metrics read it back. See [`CallTable`] for details.

use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering::{Acquire, Relaxed, Release};
use std::sync::{Arc, OnceLock, Weak};

use parking_lot::Mutex;

use crate::metrics::timer;
use crate::metrics::{Counts, NativeCell, Tally, Word, bucket_of};
use crate::sync::seq_batch::SeqBatch;
use dynamo_metrics_naming::NativeParams;

/// Durations a thread keeps before counting them into buckets.
const PENDING: usize = 32;

/// The calls of one runtime's instrumented functions, recorded by each thread that makes
/// them into its own [`ThreadCalls`], which only that thread writes (plain loads and stores,
/// no locked instruction, no cache line shared with another thread). A call that ends adds its
/// duration, in clock ticks, to a short list; every [`PENDING`] durations the thread counts
/// them into its buckets at once, off the path of any single call, behind a sequence number
/// that readers check. A render adds every thread's records to the endpoint metrics' own
/// (see [`EndpointMetrics::count_calls_of`](super::endpoint::EndpointMetrics)), durations
/// still listed included: totals are exact at every render.
///
/// A thread that ends gives its records back for the next thread to continue, so the table
/// holds one set per thread that ran at once, not per thread ever started.
pub(crate) struct CallTable {
    /// How many instrumented functions the program has.
    functions: usize,
    shape: DurationBuckets,
    /// Every set of records made, in use or free.
    threads: Mutex<Vec<Arc<ThreadCalls>>>,
    free: Mutex<Vec<Arc<ThreadCalls>>>,
}

/// How durations are counted: the classic bounds of the endpoint duration histogram, its
/// native parameters (with a native cell of them that only classifies), and the seconds per
/// clock tick. Counting a list and reading one use the same arithmetic, so a duration lands in
/// the same bucket either way.
pub(crate) struct DurationBuckets {
    per_tick: f64,
    bounds: Box<[f64]>,
    native: Option<(NativeParams, NativeCell)>,
}

impl DurationBuckets {
    pub(crate) fn new(bounds: &[f64], native: Option<NativeParams>) -> Self {
        const SPAN: u64 = 1 << 40;
        #[allow(clippy::cast_precision_loss)] // a power of two
        let per_tick = timer::seconds(SPAN) / SPAN as f64;
        DurationBuckets {
            per_tick,
            bounds: bounds.into(),
            native: native.map(|p| (p, NativeCell::new(p))),
        }
    }

    /// The seconds in `ticks`: one multiplication (exact to the double's precision).
    #[inline]
    fn seconds(&self, ticks: u64) -> f64 {
        #[allow(clippy::cast_precision_loss)] // durations below 2^53 ticks, 34 days at 3 GHz
        let ticks = ticks as f64;
        ticks * self.per_tick
    }
}

/// One thread's records of the calls of each instrumented function under one runtime, each
/// made at the thread's first call of that function.
pub(crate) struct ThreadCalls {
    table: Weak<CallTable>,
    shards: Box<[OnceLock<CallShard>]>,
}

/// One thread's records of one instrumented function.
#[repr(align(64))]
struct CallShard {
    /// Calls started here.
    started: AtomicU64,
    /// Calls ended here, counted or still pending.
    ended: AtomicU64,
    /// Durations in ticks, not yet in `counts`.
    pending: SeqBatch<AtomicU64, PENDING>,
    /// The durations counted, in seconds.
    counts: Counts,
}

impl CallTable {
    pub(crate) fn new(functions: usize, shape: DurationBuckets) -> Self {
        CallTable {
            functions,
            shape,
            threads: Mutex::default(),
            free: Mutex::default(),
        }
    }

    /// A set of records for the calling thread: a free one, or a new one.
    pub(crate) fn acquire(self: &Arc<Self>) -> Arc<ThreadCalls> {
        if let Some(calls) = self.free.lock().pop() {
            return calls;
        }
        let calls = Arc::new(ThreadCalls {
            table: Arc::downgrade(self),
            shards: (0..self.functions).map(|_| OnceLock::new()).collect(),
        });
        self.threads.lock().push(calls.clone());
        calls
    }

    /// The shards of `functions` in every thread's records.
    fn each_shard<'a>(
        threads: &'a [Arc<ThreadCalls>],
        functions: &'a [usize],
    ) -> impl Iterator<Item = &'a CallShard> {
        threads.iter().flat_map(move |t| {
            functions
                .iter()
                .filter_map(move |i| t.shards.get(*i)?.get())
        })
    }

    /// Calls of `functions` started, in every thread.
    pub(crate) fn started(&self, functions: &[usize]) -> u64 {
        let threads = self.threads.lock();
        Self::each_shard(&threads, functions)
            .map(|s| s.started.load(Relaxed))
            .fold(0, u64::wrapping_add)
    }

    /// Calls of `functions` in flight: started and not ended. The ends are read first, so a
    /// call that ends meanwhile counts as in flight, never below zero.
    pub(crate) fn in_flight(&self, functions: &[usize]) -> i64 {
        let threads = self.threads.lock();
        let ended = Self::each_shard(&threads, functions)
            .map(|s| s.ended.load(Acquire))
            .fold(0, u64::wrapping_add);
        let started = Self::each_shard(&threads, functions)
            .map(|s| s.started.load(Relaxed))
            .fold(0, u64::wrapping_add);
        i64::try_from(started.wrapping_sub(ended)).unwrap_or(0)
    }

    /// Adds the durations of `functions`' calls to `t`.
    pub(crate) fn tally(&self, functions: &[usize], t: &mut Tally) {
        let threads = self.threads.lock();
        for shard in Self::each_shard(&threads, functions) {
            shard.tally_into(&self.shape, t);
        }
    }
}

impl ThreadCalls {
    /// The calling thread's shard of function `index` (this thread owns these records).
    #[inline]
    fn shard(&self, index: usize, shape: &DurationBuckets) -> Option<&CallShard> {
        let cell = self.shards.get(index)?;
        Some(cell.get_or_init(|| CallShard::new(shape)))
    }

    /// Counts a call of function `index` as started.
    #[inline]
    pub(crate) fn begin(&self, index: usize, table: &CallTable) {
        if let Some(s) = self.shard(index, &table.shape) {
            s.started.add_owned(1, Relaxed);
        }
    }

    /// Counts a call of function `index` as ended, and its duration of `ticks` unless `None`
    /// (the caller counted it elsewhere).
    #[inline]
    pub(crate) fn end(&self, index: usize, ticks: Option<u64>, table: &CallTable) {
        if let Some(s) = self.shard(index, &table.shape) {
            if let Some(ticks) = ticks {
                s.push(ticks, &table.shape);
            }
            // After the duration: a reader that sees this end sees its duration too.
            s.ended.add_owned(1, Release);
        }
    }

    /// Gives these records back for another thread, when the thread that used them ends.
    pub(crate) fn release(self: Arc<Self>) {
        if let Some(table) = self.table.upgrade() {
            table.free.lock().push(self);
        }
    }
}

impl CallShard {
    fn new(shape: &DurationBuckets) -> Self {
        CallShard {
            started: AtomicU64::new(0),
            ended: AtomicU64::new(0),
            pending: SeqBatch::default(),
            counts: Counts::new(shape.bounds.len(), shape.native.as_ref().map(|(p, _)| *p)),
        }
    }

    /// Lists a duration; counts the list into the buckets when it is full.
    #[inline]
    fn push(&self, ticks: u64, shape: &DurationBuckets) {
        self.pending.push(ticks, |listed| {
            let mut seconds = [0.0; PENDING];
            for (p, v) in listed.iter().zip(&mut seconds) {
                *v = shape.seconds(p.load(Relaxed));
            }
            self.counts.record_owned(&shape.bounds, &seconds);
        });
    }

    /// Adds this shard's durations, counted and listed, to `t`, each once (see
    /// [`SeqBatch::read`]).
    fn tally_into(&self, shape: &DurationBuckets, t: &mut Tally) {
        let mine = self.pending.read(|listed| {
            let mut mine = Tally::empty(t.counts.len());
            self.counts.add_to(&mut mine);
            for ticks in listed {
                let v = shape.seconds(*ticks);
                if let Some(c) = mine.counts.get_mut(bucket_of(&shape.bounds, v)) {
                    *c += 1;
                }
                mine.sum += v;
                if let Some((_, native)) = &shape.native {
                    native.count_into(v, &mut mine.native);
                }
            }
            mine
        });
        t.add(mine);
    }
}
