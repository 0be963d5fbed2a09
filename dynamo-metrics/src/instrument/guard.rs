//! The guard of one request, [`RequestGuard`], and the cells that record an instrumented
//! function's calls while no runtime is alive.

use std::sync::{Arc, OnceLock};

use super::binding;
use super::endpoint::EndpointMetrics;
use crate::metrics::timer::{self, clock};
use crate::registry::identity::Identity;
use crate::registry::scope::root_scope;
use crate::registry::store::Store;

impl EndpointMetrics {
    /// Counts a request as started and returns the guard that finishes it: dropping the
    /// guard without [`RequestGuard::finish`] counts a cancellation (or, while panicking, a
    /// `panic` error); either way the in-flight gauge goes back down and the duration is
    /// observed.
    pub fn start(&self) -> RequestGuard<'_> {
        self.begin();
        RequestGuard::new(Held::Borrowed(self))
    }
}

/// One request in flight. See [`EndpointMetrics::start`].
///
/// Durations are measured with a TSC-based clock (`quanta`), about a third of the cost of
/// `std::time::Instant::now` per read; it falls back to the OS clock where the TSC is not
/// reliable. The start is a raw counter reading; only the difference is scaled to time.
#[derive(Debug)]
pub struct RequestGuard<'a> {
    metrics: Held<'a>,
    started: u64,
    finished: bool,
}

/// The metrics a guard records into. An instrumented call names its runtime by id and looks
/// the metrics up again when it records (a thread-local compare where it ends on the thread
/// and under the runtime it started with), so it holds no reference count; a call that
/// outlives its runtime records nothing more.
#[derive(Debug)]
pub(crate) enum Held<'a> {
    /// Nowhere (the pending metrics could not be created).
    Nothing,
    Borrowed(&'a EndpointMetrics),
    /// Instrumented function `index`'s endpoint with labels at `slot`, in the table of the
    /// runtime numbered `runtime`.
    Labelled {
        runtime: u64,
        index: u32,
        slot: u32,
    },
    /// Instrumented function `index` in the table of the runtime numbered `runtime`.
    Bound {
        runtime: u64,
        index: u32,
    },
    /// The pending cells of instrumented function `index`, while no runtime is alive; they
    /// are moved on when the guard is done.
    Pending {
        cells: &'static PendingCells,
        index: u32,
    },
}

impl<'a> RequestGuard<'a> {
    #[inline]
    pub(crate) fn new(metrics: Held<'a>) -> Self {
        RequestGuard {
            metrics,
            started: clock().raw(),
            finished: false,
        }
    }

    /// Runs `f` on the metrics this guard records into, if they are still there.
    #[inline]
    fn with_metrics(&self, f: impl Fn(&EndpointMetrics)) {
        match self.metrics {
            Held::Nothing => {}
            Held::Borrowed(m) => f(m),
            Held::Labelled {
                runtime,
                index,
                slot,
            } => {
                binding::with_labelled_of(runtime, index as usize, slot as usize, f);
            }
            Held::Bound { runtime, index } => {
                binding::with_endpoint_of(runtime, index as usize, f);
            }
            Held::Pending { cells, .. } => {
                if let Some(m) = cells.get() {
                    f(m);
                }
            }
        }
    }

    /// Adds request payload bytes.
    #[inline]
    pub fn request_bytes(&self, n: u64) {
        if n > 0 {
            self.with_metrics(|m| m.request_bytes(n));
        }
    }

    /// Adds response payload bytes.
    #[inline]
    pub fn response_bytes(&self, n: u64) {
        if n > 0 {
            self.with_metrics(|m| m.response_bytes(n));
        }
    }

    /// Counts an error of type `error_type`. The family holds at most
    /// [`DEFAULT_MAX_SERIES`](crate::DEFAULT_MAX_SERIES) series; more error types fold into
    /// its overflow series, counted by `dynamo_metrics_series_overflow_total`.
    pub fn error(&self, error_type: &str) {
        self.with_metrics(|m| m.error(error_type));
    }

    /// Marks the request complete; the guard's drop then records no cancellation.
    pub fn finish(mut self) {
        self.finished = true;
    }
}

impl Drop for RequestGuard<'_> {
    #[inline]
    fn drop(&mut self) {
        let (started, finished) = (self.started, self.finished);
        match self.metrics {
            Held::Nothing => {}
            Held::Borrowed(m) => m.end(timer::ticks_since(started), finished),
            Held::Labelled {
                runtime,
                index,
                slot,
            } => end_labelled(runtime, index, slot, started, finished),
            Held::Bound { runtime, index } => {
                binding::end(runtime, index as usize, started, finished);
            }
            Held::Pending { cells, index } => {
                if let Some(m) = cells.get() {
                    m.end(timer::ticks_since(started), finished);
                }
                cells.settle(index as usize);
            }
        }
    }
}

/// Ends a call on an endpoint with labels, out of line: the unlabelled call is the common one.
#[inline(never)]
fn end_labelled(runtime: u64, index: u32, slot: u32, started: u64, finished: bool) {
    let ticks = timer::ticks_since(started);
    binding::with_labelled_of(runtime, index as usize, slot as usize, |m| {
        m.end(ticks, finished);
    });
}

/// The cells that record an instrumented function's calls while no runtime is alive, made
/// at the first such call. Their records move into the next runtime that starts, so calls
/// served before it are counted.
#[derive(Debug, Default)]
pub(crate) struct PendingCells(OnceLock<Option<EndpointMetrics>>);

impl PendingCells {
    pub(crate) const fn new() -> Self {
        PendingCells(OnceLock::new())
    }

    /// The cells, unstriped: they are drained while other threads may record.
    fn get(&self) -> Option<&EndpointMetrics> {
        self.0
            .get_or_init(|| {
                let scope = root_scope(Arc::new(Store::default()), Identity::default());
                EndpointMetrics::create(&scope, false).ok()
            })
            .as_ref()
    }

    /// Starts a request of instrumented function `index` on these cells.
    #[cold]
    pub(crate) fn start(&'static self, index: usize) -> RequestGuard<'static> {
        match (self.get(), u32::try_from(index)) {
            (Some(m), Ok(index)) => {
                m.begin();
                RequestGuard::new(Held::Pending { cells: self, index })
            }
            _ => RequestGuard::new(Held::Nothing),
        }
    }

    /// Moves the records into `target`.
    pub(crate) fn drain_into(&self, target: &EndpointMetrics) {
        if let Some(Some(pending)) = self.0.get() {
            pending.drain_into(target);
        }
    }

    /// Moves the records of instrumented function `index` to the runtime current here, if
    /// one is alive. Called after every record here, so none made while a runtime starts is
    /// left behind.
    fn settle(&self, index: usize) {
        binding::with_endpoint(index, |target| self.drain_into(target));
    }
}
