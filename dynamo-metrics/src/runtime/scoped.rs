//! Running code under a chosen runtime: [`DistributedRuntime::scope`],
//! [`DistributedRuntime::in_scope`], and [`spawn`] for tasks that keep the scope they were
//! spawned in. See [`DistributedRuntime::scope`] for the rules.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use crate::instrument::binding;
use crate::runtime::{DistributedRuntime, RuntimeInner};

impl DistributedRuntime {
    /// Runs `future` under this runtime: every instrumented call made while it is polled,
    /// and in tasks it spawns with [`spawn`], is recorded by this runtime.
    ///
    /// Which runtime records an `#[instrument_endpoint]` call is decided when the call
    /// starts (the first poll of an `async fn`, the entry of a `fn`), in this order:
    /// 1. the innermost scope entered on the thread: [`scope`](Self::scope),
    ///    [`in_scope`](Self::in_scope), or a task started with [`spawn`] inside one;
    /// 2. with several runtimes alive, the one bound to the tokio runtime the call runs on:
    ///    a runtime created inside a tokio runtime is bound to it, unless another live one
    ///    already is, so each `#[tokio::test]` or each worker with its own tokio runtime
    ///    records its own calls, `tokio::spawn`ed tasks included;
    /// 3. the process default: the runtime made so with [`set_default`](Self::set_default),
    ///    else the oldest live runtime;
    /// 4. with no runtime alive, the function's own pending cells, moved into the next
    ///    runtime created, so no call goes uncounted.
    ///
    /// A dropped runtime stops recording at once; the next call goes to whichever runtime
    /// the rules give then. The scope keeps this runtime alive while the future lives.
    /// A plain `tokio::spawn` inside a scope does not carry it (tokio has no stable spawn
    /// hook): use [`spawn`], or wrap the task's future in `scope` again.
    pub fn scope<F: Future>(&self, future: F) -> Scoped<F> {
        Scoped {
            runtime: self.clone(),
            future: Box::pin(future),
        }
    }

    /// Runs `f` under this runtime (see [`scope`](Self::scope)) and returns what it returns.
    pub fn in_scope<R>(&self, f: impl FnOnce() -> R) -> R {
        let _entered = binding::enter(self.inner.bound.clone());
        f()
    }

    /// Makes this runtime the process default: the one that records calls outside any scope
    /// and outside a tokio runtime bound to another (see [`scope`](Self::scope)).
    pub fn set_default(&self) {
        binding::set_default(&self.inner.bound);
    }

    /// The runtime an instrumented call made here, now, would be recorded by (see
    /// [`scope`](Self::scope)); `None` when no runtime is alive.
    pub fn current() -> Option<DistributedRuntime> {
        binding::current_owner().and_then(from_owner)
    }

    /// The runtime of the innermost scope entered on this thread, if any.
    fn current_scope() -> Option<DistributedRuntime> {
        binding::current_scope()
            .and_then(|bound| bound.owner())
            .and_then(from_owner)
    }
}

fn from_owner(owner: Arc<dyn std::any::Any + Send + Sync>) -> Option<DistributedRuntime> {
    owner
        .downcast::<RuntimeInner>()
        .ok()
        .map(DistributedRuntime::from_inner)
}

/// A future run under a chosen runtime. See [`DistributedRuntime::scope`].
#[must_use = "futures do nothing unless polled"]
pub struct Scoped<F> {
    runtime: DistributedRuntime,
    future: Pin<Box<F>>,
}

impl<F> std::fmt::Debug for Scoped<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scoped")
            .field("runtime", &self.runtime)
            .finish_non_exhaustive()
    }
}

impl<F: Future> Future for Scoped<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.get_mut();
        let _entered = binding::enter(this.runtime.inner.bound.clone());
        this.future.as_mut().poll(cx)
    }
}

/// `tokio::spawn`, keeping the scope it is called in: inside
/// [`DistributedRuntime::scope`] the task runs under the same runtime; elsewhere it is a
/// plain `tokio::spawn`. Must be called inside a tokio runtime, as `tokio::spawn`.
pub fn spawn<F>(future: F) -> tokio::task::JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    match DistributedRuntime::current_scope() {
        Some(runtime) => tokio::spawn(runtime.scope(future)),
        None => tokio::spawn(future),
    }
}

/// `tokio::task::spawn_blocking`, keeping the scope it is called in, as [`spawn`] does.
pub fn spawn_blocking<F, R>(f: F) -> tokio::task::JoinHandle<R>
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
{
    match DistributedRuntime::current_scope() {
        Some(runtime) => tokio::task::spawn_blocking(move || runtime.in_scope(f)),
        None => tokio::task::spawn_blocking(f),
    }
}
