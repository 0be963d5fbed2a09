//! The trace a request belongs to, for exemplars: run a request's future with
//! [`with_trace_id`] (or a closure with [`in_trace`]) and the duration that
//! `#[instrument_endpoint]` observes for it carries a `trace_id` exemplar.
//! [`trace_id_from_traceparent`] reads the id of a W3C `traceparent` header.

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::task::{Context, Poll};

thread_local! {
    static CURRENT: RefCell<Option<Arc<str>>> = const { RefCell::new(None) };
}

/// How many traces are entered now, on all threads: while none is, no thread has a current
/// trace, and asking costs one load instead of a thread-local lookup.
static ENTERED: AtomicUsize = AtomicUsize::new(0);

/// The trace id set around what runs here now, if any.
#[inline]
pub fn current_trace_id() -> Option<Arc<str>> {
    if !in_a_trace() {
        return None;
    }
    CURRENT.try_with(|c| c.borrow().clone()).ok().flatten()
}

/// Whether any thread is in a trace now: `false` means this one is not. (A thread that
/// entered a trace counted it first, so it sees its own count.)
#[inline]
pub(crate) fn in_a_trace() -> bool {
    ENTERED.load(Relaxed) != 0
}

/// Sets `trace` as the current trace until the guard drops, then restores the one before.
fn enter(trace: Arc<str>) -> Restore {
    ENTERED.fetch_add(1, Relaxed);
    Restore(CURRENT.try_with(|c| c.replace(Some(trace))).ok().flatten())
}

struct Restore(Option<Arc<str>>);

impl Drop for Restore {
    fn drop(&mut self) {
        let previous = self.0.take();
        let _ = CURRENT.try_with(|c| c.replace(previous));
        ENTERED.fetch_sub(1, Relaxed);
    }
}

/// Runs `f` with `trace_id` as the current trace.
pub fn in_trace<R>(trace_id: &str, f: impl FnOnce() -> R) -> R {
    let _restore = enter(Arc::from(trace_id));
    f()
}

/// Runs `future` with `trace_id` as the current trace whenever it is polled.
pub fn with_trace_id<F: Future>(trace_id: &str, future: F) -> Traced<F> {
    Traced {
        trace: Arc::from(trace_id),
        future: Box::pin(future),
    }
}

/// A future run within a trace. See [`with_trace_id`].
#[must_use = "futures do nothing unless polled"]
pub struct Traced<F> {
    trace: Arc<str>,
    future: Pin<Box<F>>,
}

impl<F> std::fmt::Debug for Traced<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Traced")
            .field("trace", &self.trace)
            .finish_non_exhaustive()
    }
}

impl<F: Future> Future for Traced<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.get_mut();
        let _restore = enter(this.trace.clone());
        this.future.as_mut().poll(cx)
    }
}

/// The trace id of a W3C `traceparent` header (`00-<32 hex>-<16 hex>-<2 hex>`): `None` for a
/// malformed header or the all-zero id, which the specification forbids.
pub fn trace_id_from_traceparent(header: &str) -> Option<&str> {
    let mut parts = header.trim().split('-');
    let (version, trace, parent, flags) =
        (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    let hex = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_hexdigit());
    let valid = hex(version, 2)
        && version != "ff"
        && hex(trace, 32)
        && hex(parent, 16)
        && hex(flags, 2)
        && trace.bytes().any(|b| b != b'0')
        && (version != "00" || parts.next().is_none());
    valid.then_some(trace)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traceparent_headers() {
        let id = "4bf92f3577b34da6a3ce929d0e0e4736";
        assert_eq!(
            trace_id_from_traceparent(&format!("00-{id}-00f067aa0ba902b7-01")),
            Some(id)
        );
        for bad in [
            "",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            "00-xbf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        ] {
            assert_eq!(trace_id_from_traceparent(bad), None, "{bad}");
        }
    }

    #[test]
    fn scopes_nest_and_restore() {
        assert_eq!(current_trace_id(), None);
        in_trace("a", || {
            assert_eq!(current_trace_id().as_deref(), Some("a"));
            in_trace("b", || assert_eq!(current_trace_id().as_deref(), Some("b")));
            assert_eq!(current_trace_id().as_deref(), Some("a"));
        });
        assert_eq!(current_trace_id(), None);
    }
}
