//! Response streams of instrumented handlers. See [`InstrumentedStream`] for details.

use std::pin::Pin;
use std::task::{Context, Poll};

use futures_core::Stream;

use super::guard::RequestGuard;

/// A response stream whose items are counted as response bytes (and errors), and whose end
/// finishes the request; dropped before its end, the request counts as cancelled.
#[doc(hidden)]
pub struct InstrumentedStream<S: Stream, F> {
    inner: Pin<Box<S>>,
    guard: Option<RequestGuard<'static>>,
    item: F,
}

impl<S: Stream, F: FnMut(&RequestGuard<'static>, &S::Item)> InstrumentedStream<S, F> {
    /// For the macro: `item` records one item's bytes and error.
    pub fn new(inner: S, guard: RequestGuard<'static>, item: F) -> Self {
        InstrumentedStream {
            inner: Box::pin(inner),
            guard: Some(guard),
            item,
        }
    }
}

impl<S: Stream, F: FnMut(&RequestGuard<'static>, &S::Item) + Unpin> Stream
    for InstrumentedStream<S, F>
{
    type Item = S::Item;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<S::Item>> {
        let this = &mut *self;
        let polled = this.inner.as_mut().poll_next(cx);
        match &polled {
            Poll::Ready(Some(item)) => {
                if let Some(guard) = &this.guard {
                    (this.item)(guard, item);
                }
            }
            Poll::Ready(None) => {
                if let Some(guard) = this.guard.take() {
                    guard.finish();
                }
            }
            Poll::Pending => {}
        }
        polled
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.inner.size_hint()
    }
}
