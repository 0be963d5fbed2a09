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

use super::endpoint::EndpointMetrics;

/// What a runtime offers to instrumented calls: the metrics of every instrumented function
/// of the program, at the function's [`index`](super::site::StaticEndpoint::index).
pub(crate) struct Bound {
    id: u64,
    endpoints: Box<[EndpointMetrics]>,
    owner: OnceLock<Weak<dyn Any + Send + Sync>>,
}

impl Bound {
    /// A table for the runtime `owner` (set once it exists).
    pub(crate) fn new(endpoints: Box<[EndpointMetrics]>) -> Self {
        static NEXT_ID: AtomicU64 = AtomicU64::new(1);
        Bound {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            endpoints,
            owner: OnceLock::new(),
        }
    }

    /// Records the runtime this table belongs to, for [`current_owner`].
    pub(crate) fn set_owner(&self, owner: Weak<dyn Any + Send + Sync>) {
        let _ = self.owner.set(owner);
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
static EPOCH: AtomicU64 = AtomicU64::new(0);

struct Local {
    scopes: Vec<Arc<Bound>>,
    epoch: u64,
    cached: Option<Arc<Bound>>,
    per_call: bool,
}

thread_local! {
    static LOCAL: RefCell<Local> = const {
        RefCell::new(Local { scopes: Vec::new(), epoch: u64::MAX, cached: None, per_call: true })
    };
}

fn changed(global: &mut Global, change: impl FnOnce(&mut Global)) {
    change(global);
    EPOCH.fetch_add(1, Ordering::Release);
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

/// Runs `f` with the table of the runtime a call made here now runs under.
#[inline(always)]
fn with_current<R>(f: impl Fn(Option<&Bound>) -> R) -> R {
    let epoch = EPOCH.load(Ordering::Acquire);
    LOCAL
        .try_with(|local| {
            let mut local = local.borrow_mut();
            if let Some(top) = local.scopes.last() {
                return f(Some(top));
            }
            if local.epoch != epoch || local.per_call {
                let (bound, per_call) = resolve_global();
                local.cached = bound;
                local.per_call = per_call;
                local.epoch = epoch;
            }
            f(local.cached.as_deref())
        })
        // The thread is being torn down: ask the global state.
        .unwrap_or_else(|_| f(resolve_global().0.as_deref()))
}

/// Runs `f` with the id of the runtime a call made here runs under and its metrics of
/// instrumented function `index`; `None` without such a runtime.
#[inline]
pub(crate) fn with_endpoint<R>(index: usize, f: impl Fn(u64, &EndpointMetrics) -> R) -> Option<R> {
    with_current(|bound| {
        let bound = bound?;
        bound.endpoints.get(index).map(|m| f(bound.id, m))
    })
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
    let here = with_current(|bound| match bound {
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
    let global = GLOBAL.read();
    let live = global.live.iter().find(|l| l.bound.id == runtime)?;
    live.bound.endpoints.get(index).map(f)
}

/// The runtime a call made here now runs under, as its owner handle.
pub(crate) fn current_owner() -> Option<Arc<dyn Any + Send + Sync>> {
    with_current(|bound| bound?.owner())
}

/// The innermost scope entered on this thread.
pub(crate) fn current_scope() -> Option<Arc<Bound>> {
    LOCAL
        .try_with(|l| l.borrow().scopes.last().cloned())
        .ok()
        .flatten()
}

/// Enters `bound` as the innermost scope of this thread until the returned guard drops.
pub(crate) fn enter(bound: Arc<Bound>) -> Entered {
    let entered = LOCAL
        .try_with(|l| l.borrow_mut().scopes.push(bound))
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
