//! Which runtime records an instrumented call: the process's live runtimes, the default
//! among them, the tokio runtime each one is bound to, and the scopes entered on this thread.
//! See [`DistributedRuntime::scope`](crate::DistributedRuntime::scope) for the rules.
//!
//! A call asks, in order: the innermost scope entered on this thread; then, when several
//! runtimes are alive, the one bound to the tokio runtime the call runs on; then the
//! process default (set explicitly, else the oldest live runtime). With no runtime alive it
//! records into the function's pending cells.
//!
//! The answer is cached per thread and recomputed only when the set of live runtimes, their
//! tokio bindings or the default change (a global epoch), or, with several runtimes alive
//! and one of them bound to a tokio runtime, at every call (the tokio runtime can differ).

use std::any::Any;
use std::cell::RefCell;
use std::marker::PhantomData;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, Weak};

use parking_lot::RwLock;

use super::calls::{CallTable, ThreadCalls};
use super::endpoint::EndpointMetrics;
use super::labelled::LabelledEndpoints;
use crate::metrics::timer;
use crate::sync::epoch::Epoch;

/// What a runtime offers to instrumented calls: the metrics of every instrumented function
/// of the program, at the function's [`index`](super::site::StaticEndpoint::index), and the
/// records each thread keeps of its calls (see [`CallTable`]).
pub(crate) struct Bound {
    id: u64,
    endpoints: Box<[EndpointMetrics]>,
    calls: Arc<CallTable>,
    /// Whether function `index`'s metrics count its calls from `calls`; where not, calls
    /// record into the metrics themselves.
    counted: Box<[bool]>,
    owner: OnceLock<Weak<dyn Any + Send + Sync>>,
    /// Function `index`'s endpoints with labels, for functions whose calls give some.
    labelled: Box<[Option<LabelledEndpoints>]>,
}

impl Bound {
    /// A table for the runtime `owner` (set once it exists). `groups` lists the functions
    /// whose metrics are the same series (named alike), each group once.
    pub(crate) fn new(
        endpoints: Box<[EndpointMetrics]>,
        labelled: Box<[Option<LabelledEndpoints>]>,
        groups: &[Vec<usize>],
    ) -> Self {
        static NEXT_ID: AtomicU64 = AtomicU64::new(1);
        let calls = Arc::new(CallTable::new(
            endpoints.len(),
            EndpointMetrics::call_shape(),
        ));
        let mut counted = vec![false; endpoints.len()].into_boxed_slice();
        for group in groups {
            let functions: Arc<[usize]> = group.as_slice().into();
            let first = group.first().and_then(|i| endpoints.get(*i));
            if first.is_some_and(|m| m.count_calls_of(&calls, &functions)) {
                for i in group {
                    if let Some(c) = counted.get_mut(*i) {
                        *c = true;
                    }
                }
            }
        }
        Bound {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            endpoints,
            labelled,
            calls,
            counted,
            owner: OnceLock::new(),
        }
    }

    /// Records the runtime this table belongs to, for [`current_owner`].
    pub(crate) fn set_owner(&self, owner: Weak<dyn Any + Send + Sync>) {
        let _ = self.owner.set(owner);
    }

    /// The endpoints with labels of every function whose calls give some.
    pub(crate) fn labelled(&self) -> impl Iterator<Item = &LabelledEndpoints> {
        self.labelled.iter().flatten()
    }

    /// The runtime this table belongs to, if it is still alive.
    pub(crate) fn owner(&self) -> Option<Arc<dyn Any + Send + Sync>> {
        self.owner.get().and_then(Weak::upgrade)
    }
}

struct Live {
    bound: Arc<Bound>,
    tokio: Option<tokio::runtime::Id>,
}

struct Global {
    /// Oldest first.
    live: Vec<Live>,
    default: Option<u64>,
}

static GLOBAL: RwLock<Global> = RwLock::new(Global {
    live: Vec::new(),
    default: None,
});

/// Changes whenever [`GLOBAL`] does; threads compare it with the epoch of their cache.
static EPOCH: Epoch = Epoch::new();

/// A runtime a thread runs calls under, with the thread's records of them.
type Current = (Arc<Bound>, Arc<ThreadCalls>);

struct Local {
    scopes: Vec<Current>,
    epoch: u64,
    cached: Option<Current>,
    per_call: bool,
    /// This thread's records under each runtime it called into, given back when it ends.
    held: Vec<(Weak<Bound>, Arc<ThreadCalls>)>,
}

impl Local {
    /// `bound` with this thread's records under it.
    fn current(&mut self, bound: Arc<Bound>) -> Current {
        if let Some((_, calls)) = self
            .held
            .iter()
            .find(|(b, _)| std::ptr::eq(b.as_ptr(), Arc::as_ptr(&bound)))
        {
            return (bound, calls.clone());
        }
        // Records under runtimes that are gone go back to their tables (if still there).
        for (_, calls) in self.held.extract_if(.., |(b, _)| b.strong_count() == 0) {
            calls.release();
        }
        let calls = bound.calls.acquire();
        self.held.push((Arc::downgrade(&bound), calls.clone()));
        (bound, calls)
    }
}

impl Drop for Local {
    fn drop(&mut self) {
        for (_, calls) in self.held.drain(..) {
            calls.release();
        }
    }
}

thread_local! {
    static LOCAL: RefCell<Local> = const {
        RefCell::new(Local {
            scopes: Vec::new(),
            epoch: u64::MAX,
            cached: None,
            per_call: true,
            held: Vec::new(),
        })
    };
}

fn changed(global: &mut Global, change: impl FnOnce(&mut Global)) {
    change(global);
    EPOCH.changed();
}

/// Adds a live runtime. It is bound to `tokio` unless another live runtime already is.
pub(crate) fn register(bound: Arc<Bound>, tokio: Option<tokio::runtime::Id>) {
    let mut global = GLOBAL.write();
    let tokio = tokio.filter(|id| !global.live.iter().any(|l| l.tokio == Some(*id)));
    changed(&mut global, |g| g.live.push(Live { bound, tokio }));
}

/// Removes a runtime that is being dropped.
pub(crate) fn unregister(bound: &Bound) {
    let mut global = GLOBAL.write();
    changed(&mut global, |g| {
        g.live.retain(|l| l.bound.id != bound.id);
        if g.default == Some(bound.id) {
            g.default = None;
        }
    });
}

/// Makes `bound`'s runtime the process default.
pub(crate) fn set_default(bound: &Bound) {
    let mut global = GLOBAL.write();
    changed(&mut global, |g| g.default = Some(bound.id));
}

/// The answer for a call outside any scope, and whether it may differ at the next call
/// without the epoch changing.
fn resolve_global() -> (Option<Arc<Bound>>, bool) {
    let global = GLOBAL.read();
    match global.live.as_slice() {
        [] => (None, false),
        [only] => (Some(only.bound.clone()), false),
        live => {
            let tokio_bound = live.iter().any(|l| l.tokio.is_some());
            if tokio_bound && let Ok(handle) = tokio::runtime::Handle::try_current() {
                let id = handle.id();
                if let Some(l) = live.iter().find(|l| l.tokio == Some(id)) {
                    return (Some(l.bound.clone()), true);
                }
            }
            let chosen = global
                .default
                .and_then(|id| live.iter().find(|l| l.bound.id == id))
                .unwrap_or(&live[0]);
            (Some(chosen.bound.clone()), tokio_bound)
        }
    }
}

/// Runs `f` with the table of the runtime a call made here now runs under, and this
/// thread's records under it (none while the thread is being torn down).
#[inline(always)]
fn with_current<R>(f: impl Fn(Option<&Bound>, Option<&ThreadCalls>) -> R) -> R {
    let epoch = EPOCH.now();
    LOCAL
        .try_with(|local| {
            let mut local = local.borrow_mut();
            if let Some((bound, calls)) = local.scopes.last() {
                return f(Some(bound), Some(calls));
            }
            if local.epoch != epoch || local.per_call {
                let (bound, per_call) = resolve_global();
                local.cached = bound.map(|b| local.current(b));
                local.per_call = per_call;
                local.epoch = epoch;
            }
            match &local.cached {
                Some((bound, calls)) => f(Some(bound), Some(calls)),
                None => f(None, None),
            }
        })
        // The thread is being torn down: ask the global state.
        .unwrap_or_else(|_| f(resolve_global().0.as_deref(), None))
}

/// Starts a call of instrumented function `index` under the runtime current here, in this
/// thread's records; the runtime's id, `None` without a runtime.
#[inline]
pub(crate) fn begin(index: usize) -> Option<u64> {
    with_current(|bound, calls| {
        let bound = bound?;
        match calls {
            Some(calls) if bound.counts_calls_of(index) => calls.begin(index, &bound.calls),
            _ => bound.endpoints.get(index)?.begin(),
        }
        Some(bound.id)
    })
}

/// Ends a call of instrumented function `index` that began under the runtime numbered
/// `runtime` at raw clock reading `started`: in this thread's records under that runtime,
/// if it is still alive.
#[inline]
pub(crate) fn end(runtime: u64, index: usize, started: u64, finished: bool) {
    let ticks = timer::ticks_since(started);
    let done = with_current(|bound, calls| match bound {
        Some(bound) if bound.id == runtime => {
            bound.end(index, calls, ticks, finished);
            true
        }
        _ => false,
    });
    if !done {
        end_elsewhere(runtime, index, ticks, finished);
    }
}

/// [`end`] where the runtime the call began under is not current here.
#[cold]
fn end_elsewhere(runtime: u64, index: usize, ticks: u64, finished: bool) {
    let Some(bound) = live(runtime) else { return };
    let current = LOCAL
        .try_with(|l| Some(l.try_borrow_mut().ok()?.current(bound.clone())))
        .ok()
        .flatten();
    match current {
        Some((bound, calls)) => bound.end(index, Some(&calls), ticks, finished),
        // The thread is being torn down: the metrics themselves record it.
        None => bound.end(index, None, ticks, finished),
    }
}

impl Bound {
    /// Whether function `index`'s metrics count its calls from the thread records.
    #[inline]
    fn counts_calls_of(&self, index: usize) -> bool {
        self.counted.get(index) == Some(&true)
    }

    /// Ends a call of function `index` that took `ticks`, in `calls` when given. Always
    /// inlined into the call's end: out of line, the call cost 1 to 2 ns more (the peer
    /// bench's instrumented call, when another change moved the compiler's choice).
    #[inline(always)]
    fn end(&self, index: usize, calls: Option<&ThreadCalls>, ticks: u64, finished: bool) {
        // A call that finished outside any trace touches only its thread's records: the
        // metrics are looked up for an outcome or a traced duration alone.
        let metrics = || self.endpoints.get(index);
        match calls {
            Some(calls) if self.counts_calls_of(index) => {
                if !finished && let Some(m) = metrics() {
                    m.outcome(finished);
                }
                // Within a trace the duration goes to the metrics, with its exemplar.
                let traced = crate::trace::in_a_trace()
                    && metrics().is_some_and(|m| m.observe_traced(ticks));
                calls.end(index, (!traced).then_some(ticks), &self.calls);
            }
            _ => {
                if let Some(m) = metrics() {
                    m.end(ticks, finished);
                }
            }
        }
    }
}

/// Starts a call of instrumented function `index` on its endpoint labelled `values` in the
/// runtime a call made here runs under: the runtime's id and the endpoint's slot; `None`
/// without such a runtime, or where it refuses the values.
#[inline]
pub(crate) fn begin_labelled(index: usize, values: &[&str]) -> Option<(u64, u32)> {
    with_current(|bound, _| {
        let bound = bound?;
        let slot = bound.labelled.get(index)?.as_ref()?.begin(values)?;
        Some((bound.id, slot))
    })
}

/// Runs `f` with the metrics at `slot` of instrumented function `index`'s labelled endpoints
/// in the runtime numbered `runtime`, if it is still alive.
pub(crate) fn with_labelled_of<R>(
    runtime: u64,
    index: usize,
    slot: usize,
    f: impl Fn(&EndpointMetrics) -> R,
) -> Option<R> {
    let labelled = |bound: &Bound| bound.labelled.get(index)?.as_ref()?.with(slot, &f);
    let here = with_current(|bound, _| match bound {
        Some(bound) if bound.id == runtime => Some(labelled(bound)),
        _ => None,
    });
    match here {
        Some(done) => done,
        None => labelled(&*live(runtime)?),
    }
}

/// Runs `f` with the metrics of instrumented function `index` in the runtime a call made
/// here runs under; `None` without such a runtime.
#[inline]
pub(crate) fn with_endpoint<R>(index: usize, f: impl Fn(&EndpointMetrics) -> R) -> Option<R> {
    with_current(|bound, _| bound?.endpoints.get(index).map(&f))
}

/// Runs `f` with the metrics of instrumented function `index` in the runtime numbered
/// `runtime`, if it is still alive: from this thread's cache when that runtime is current
/// here (the common case: a call ends where it started), else from the list of live runtimes.
#[inline]
pub(crate) fn with_endpoint_of<R>(
    runtime: u64,
    index: usize,
    f: impl Fn(&EndpointMetrics) -> R,
) -> Option<R> {
    let here = with_current(|bound, _| match bound {
        Some(bound) if bound.id == runtime => Some(bound.endpoints.get(index).map(&f)),
        _ => None,
    });
    match here {
        Some(done) => done,
        None => with_live(runtime, index, f),
    }
}

#[cold]
fn with_live<R>(runtime: u64, index: usize, f: impl Fn(&EndpointMetrics) -> R) -> Option<R> {
    live(runtime)?.endpoints.get(index).map(f)
}

/// The runtime numbered `runtime`, if it is still alive.
fn live(runtime: u64) -> Option<Arc<Bound>> {
    GLOBAL
        .read()
        .live
        .iter()
        .find(|l| l.bound.id == runtime)
        .map(|l| l.bound.clone())
}

/// The runtime a call made here now runs under, as its owner handle.
pub(crate) fn current_owner() -> Option<Arc<dyn Any + Send + Sync>> {
    with_current(|bound, _| bound?.owner())
}

/// The innermost scope entered on this thread.
pub(crate) fn current_scope() -> Option<Arc<Bound>> {
    LOCAL
        .try_with(|l| l.borrow().scopes.last().map(|(bound, _)| bound.clone()))
        .ok()
        .flatten()
}

/// Enters `bound` as the innermost scope of this thread until the returned guard drops.
pub(crate) fn enter(bound: Arc<Bound>) -> Entered {
    let entered = LOCAL
        .try_with(|l| {
            let mut l = l.borrow_mut();
            let current = l.current(bound);
            l.scopes.push(current);
        })
        .is_ok();
    Entered {
        entered,
        _not_send: PhantomData,
    }
}

/// Leaves a scope entered with [`enter`] when dropped, on the thread that entered it.
pub(crate) struct Entered {
    entered: bool,
    _not_send: PhantomData<*const ()>,
}

impl Drop for Entered {
    fn drop(&mut self) {
        if self.entered {
            let _ = LOCAL.try_with(|l| l.borrow_mut().scopes.pop());
        }
    }
}
