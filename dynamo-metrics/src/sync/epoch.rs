//! A count of changes that readers read before they look an answer up, and keep with it. See
//! [`Epoch`] for details.

use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering::{Acquire, Release};

use super::Word;

/// How many times something readers look answers up in (the live runtimes, a family's
/// series) has changed, so that a thread can keep an answer and use it again without a lock.
///
/// The rule, for both sides:
/// - the writer makes its change under its lock, then calls [`changed`](Self::changed)
///   before it releases the lock;
/// - a reader reads [`now`](Self::now) *before* it looks its answer up (under the lock),
///   keeps the answer with the count it read, and uses it again only while `now` gives that
///   same count.
///
/// A kept answer is then never older than a change the reader could know of: a change after
/// the reader's first read makes the count differ (the answer is looked up again, perhaps
/// needlessly); a reader that reads the new count sees the change with it (`Acquire` on
/// `Release`); and once a thread has learnt that a change was made (joined the writer, or
/// read anything it wrote after), its next `now` gives the new count. The loom models
/// `a_binding_is_never_used_after_its_runtime_is_gone` and
/// `a_removed_series_is_never_fed_from_a_kept_handle` check it.
pub(crate) struct Epoch<A: Word<Value = u64> = AtomicU64>(A);

impl Epoch {
    /// No change yet, in a `static`.
    pub(crate) const fn new() -> Self {
        Epoch(AtomicU64::new(0))
    }
}

impl<A: Word<Value = u64>> Default for Epoch<A> {
    fn default() -> Self {
        Epoch(A::default())
    }
}

impl<A: Word<Value = u64>> Epoch<A> {
    /// The count now: read before looking up what it guards, and kept with the answer.
    #[inline(always)]
    pub(crate) fn now(&self) -> u64 {
        self.0.load(Acquire)
    }

    /// Counts a change just made, before the writer releases its lock.
    pub(crate) fn changed(&self) {
        self.0.fetch_add(1, Release);
    }
}
