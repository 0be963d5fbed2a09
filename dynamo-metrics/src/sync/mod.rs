//! The lock-free protocols the hot paths rest on, each a small core generic over its atomics
//! ([`Word`]): the real code runs them on the standard library's atomics, and the loom models
//! (`models.rs`, built with `RUSTFLAGS="--cfg dynamo_loom"`) run the same code on loom's,
//! which explores every interleaving and every outcome the memory orderings allow.
//!
//! - [`SeqBatch`](seq_batch::SeqBatch): a writer's short list of values counted in batches
//!   behind a sequence number (a thread's instrumented calls, `instrument/calls.rs`);
//! - [`Epoch`](epoch::Epoch): a count of changes read before an answer is looked up and kept
//!   with it (the runtime binding of instrumented calls, `instrument/binding.rs`; the
//!   removals of a family's series, which a thread's lookup table checks, `metrics/local.rs`);
//! - [`Word::add_owned`]: an add by the one thread that writes a value, with no locked
//!   instruction (a thread's histogram counts, `metrics/histogram.rs`), and striped values
//!   (`metrics/striped.rs`), generic over [`Word`] themselves.

pub(crate) mod epoch;
#[cfg(all(test, dynamo_loom))]
mod models;
pub(crate) mod seq_batch;

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

/// The integer atomics the protocols are made of.
pub(crate) trait Word: Default + Send + Sync + 'static {
    type Value: Copy + Default + std::ops::Add<Output = Self::Value>;
    fn fetch_add(&self, v: Self::Value, order: Ordering) -> Self::Value;
    fn load(&self, order: Ordering) -> Self::Value;
    fn store(&self, v: Self::Value, order: Ordering);
    fn swap(&self, v: Self::Value, order: Ordering) -> Self::Value;
    /// Adds `v` where this thread is the only writer: a load and a store, no locked
    /// instruction (wrapping, as `fetch_add`).
    fn add_owned(&self, v: Self::Value, order: Ordering);
    /// A fence of these atomics' memory model.
    fn fence(order: Ordering);
    /// Waits a little for another thread, `spins` times asked already: spins, then yields.
    fn relax(spins: u32);
}

macro_rules! word {
    ($atomic:ty, $value:ty, $fence:path, $relax:path) => {
        impl Word for $atomic {
            type Value = $value;
            #[inline]
            fn fetch_add(&self, v: $value, order: Ordering) -> $value {
                <$atomic>::fetch_add(self, v, order)
            }
            #[inline]
            fn load(&self, order: Ordering) -> $value {
                <$atomic>::load(self, order)
            }
            #[inline]
            fn store(&self, v: $value, order: Ordering) {
                <$atomic>::store(self, v, order)
            }
            #[inline]
            fn swap(&self, v: $value, order: Ordering) -> $value {
                <$atomic>::swap(self, v, order)
            }
            #[inline]
            fn add_owned(&self, v: $value, order: Ordering) {
                <$atomic>::store(
                    self,
                    <$atomic>::load(self, Ordering::Relaxed).wrapping_add(v),
                    order,
                );
            }
            #[inline]
            fn fence(order: Ordering) {
                $fence(order);
            }
            #[inline]
            fn relax(spins: u32) {
                $relax(spins);
            }
        }
    };
}

/// Spins while the other thread is likely running, then yields to it (it was preempted).
#[inline]
fn spin_then_yield(spins: u32) {
    if spins < 64 {
        std::hint::spin_loop();
    } else {
        std::thread::yield_now();
    }
}

/// In a loom model, a thread that waits must yield at once: loom runs one thread at a time.
#[cfg(all(test, dynamo_loom))]
fn loom_yield(_spins: u32) {
    loom::thread::yield_now();
}

word!(AtomicU64, u64, std::sync::atomic::fence, spin_then_yield);
word!(AtomicI64, i64, std::sync::atomic::fence, spin_then_yield);
#[cfg(all(test, dynamo_loom))]
word!(
    loom::sync::atomic::AtomicU64,
    u64,
    loom::sync::atomic::fence,
    loom_yield
);
#[cfg(all(test, dynamo_loom))]
word!(
    loom::sync::atomic::AtomicI64,
    i64,
    loom::sync::atomic::fence,
    loom_yield
);
