//! Integer atomics striped across cache lines, for counters and gauges that many threads
//! update at once. See [`Striped`] for details.

use std::cell::Cell;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicI64, AtomicU64, AtomicUsize, Ordering};

/// How many stripes a striped value has: the machine's parallelism rounded up to a power of
/// two, at most 16 (1 on one CPU).
fn stripes() -> usize {
    static STRIPES: OnceLock<usize> = OnceLock::new();
    *STRIPES.get_or_init(|| {
        std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .next_power_of_two()
            .min(16)
    })
}

/// This thread's stripe: threads take numbers in turn when they first update a striped
/// value, so the threads of a pool land on different stripes.
#[inline]
fn stripe() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static STRIPE: Cell<usize> = const { Cell::new(usize::MAX) };
    }
    STRIPE.with(|s| {
        let mut i = s.get();
        if i == usize::MAX {
            i = NEXT.fetch_add(1, Ordering::Relaxed);
            s.set(i);
        }
        i
    })
}

/// One atomic alone on its cache line (two lines: adjacent-line prefetch pairs them).
#[derive(Debug, Default)]
#[repr(align(128))]
struct Padded<A>(A);

/// The integer atomics a [`Striped`] value is made of.
pub(crate) trait Word: Default + Send + Sync + 'static {
    type Value: Copy + Default + std::ops::Add<Output = Self::Value>;
    fn fetch_add(&self, v: Self::Value, order: Ordering) -> Self::Value;
    fn load(&self, order: Ordering) -> Self::Value;
    fn store(&self, v: Self::Value, order: Ordering);
    fn swap(&self, v: Self::Value, order: Ordering) -> Self::Value;
    /// Adds `v` where this thread is the only writer: a load and a store, no locked
    /// instruction (wrapping, as `fetch_add`).
    fn add_owned(&self, v: Self::Value, order: Ordering);
}

macro_rules! word {
    ($atomic:ty, $value:ty) => {
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
        }
    };
}

word!(AtomicU64, u64);
word!(AtomicI64, i64);

/// An integer counted in one atomic, or, when striped, in one atomic per stripe on its own
/// cache line: each thread adds to its stripe, so threads on different CPUs do not take the
/// same line from each other; a read sums the stripes (exact: every addition lands in one
/// stripe). Unstriped, it is one atomic and one predictable branch.
///
/// Striping costs 128 bytes per stripe and series (256 B on 2 CPUs, 2 KiB from 16 on), and a
/// render reads every stripe. `store` writes the first stripe and zeroes the others: exact
/// when no addition runs at the same time, so gauges that are `set` should not be striped.
#[derive(Debug, Default)]
pub(crate) struct Striped<A: Word> {
    base: A,
    stripes: Option<Box<Stripes<A>>>,
}

/// The stripes of a striped value, and what another source (see [`Striped::set_source`])
/// counts for it.
struct Stripes<A: Word> {
    slots: Box<[Padded<A>]>,
    source: OnceLock<ValueSource<A::Value>>,
}

/// A count kept elsewhere that a striped value adds to its own when read.
pub(crate) type ValueSource<V> = Box<dyn Fn() -> V + Send + Sync>;

impl<A: Word> std::fmt::Debug for Stripes<A> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stripes")
            .field("slots", &self.slots.len())
            .finish_non_exhaustive()
    }
}

impl<A: Word> Striped<A> {
    /// A value at zero, striped when `striped`.
    pub(crate) fn new(striped: bool) -> Self {
        Striped {
            base: A::default(),
            stripes: striped.then(|| {
                Box::new(Stripes {
                    slots: (0..stripes()).map(|_| Padded::default()).collect(),
                    source: OnceLock::new(),
                })
            }),
        }
    }

    /// Adds `v`: to this thread's stripe when `striped` (what [`is_striped`](Self::is_striped)
    /// said when the handle was made), else to the one atomic. The caller passes the flag so
    /// that an unstriped add touches nothing but the atomic: a load of the stripes from the
    /// same cache line would cost a second transfer of the line when threads contend for it.
    #[inline]
    pub(crate) fn add(&self, v: A::Value, order: Ordering, striped: bool) {
        if striped && let Some(s) = &self.stripes {
            s.slots[stripe() & (s.slots.len() - 1)]
                .0
                .fetch_add(v, order);
        } else {
            self.base.fetch_add(v, order);
        }
    }

    #[inline]
    pub(crate) fn load(&self, order: Ordering) -> A::Value {
        let base = self.base.load(order);
        match &self.stripes {
            None => base,
            Some(s) => {
                let own = s.slots.iter().fold(base, |sum, p| sum + p.0.load(order));
                match s.source.get() {
                    Some(source) => own + source(),
                    None => own,
                }
            }
        }
    }

    /// Sets the value: exact only while nothing adds at the same time, and only while no
    /// other source counts for it.
    pub(crate) fn store(&self, v: A::Value, order: Ordering) {
        self.base.store(v, order);
        for p in self.stripes.iter().flat_map(|s| s.slots.iter()) {
            p.0.store(A::Value::default(), order);
        }
    }

    /// Takes the value kept here (not what another source counts), leaving zero.
    pub(crate) fn swap_zero(&self, order: Ordering) -> A::Value {
        let base = self.base.swap(A::Value::default(), order);
        self.stripes
            .iter()
            .flat_map(|s| s.slots.iter())
            .fold(base, |sum, p| sum + p.0.swap(A::Value::default(), order))
    }

    /// Whether [`set_source`](Self::set_source) would take a source: striped, and none yet.
    pub(crate) fn takes_source(&self) -> bool {
        self.stripes
            .as_ref()
            .is_some_and(|s| s.source.get().is_none())
    }

    /// Adds what `source` counts to this value, read with it; `false` (and nothing changed)
    /// unless it [takes a source](Self::takes_source). One source, so a read costs one load
    /// more, not a lock.
    pub(crate) fn set_source(&self, source: ValueSource<A::Value>) -> bool {
        self.stripes
            .as_ref()
            .is_some_and(|s| s.source.set(source).is_ok())
    }

    /// Whether this value is striped.
    pub(crate) fn is_striped(&self) -> bool {
        self.stripes.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Barrier;
    use std::sync::atomic::AtomicUsize;
    use std::sync::atomic::Ordering::Relaxed;

    #[test]
    fn striped_sums_are_exact() {
        for striped in [false, true] {
            let v = Striped::<AtomicU64>::new(striped);
            assert_eq!(v.is_striped(), striped);
            // Eight threads start together and meet halfway, so their adds overlap for
            // certain: the last to finish reads the others' second halves in its sum.
            const THREADS: usize = 8;
            const ADDS: u64 = 100_000;
            let (start, halfway) = (Barrier::new(THREADS), Barrier::new(THREADS));
            let overlapped = AtomicUsize::new(0);
            std::thread::scope(|s| {
                for _ in 0..THREADS {
                    s.spawn(|| {
                        start.wait();
                        let before = v.load(Relaxed);
                        for i in 1..=ADDS {
                            v.add(1, Relaxed, v.is_striped());
                            if i == ADDS / 2 {
                                halfway.wait();
                            }
                        }
                        if v.load(Relaxed) - before > ADDS {
                            overlapped.fetch_add(1, Relaxed);
                        }
                    });
                }
            });
            assert!(overlapped.load(Relaxed) > 0);
            assert_eq!(v.load(Relaxed), 800_000);
            v.store(5, Relaxed);
            assert_eq!(v.load(Relaxed), 5);
            assert_eq!(v.swap_zero(Relaxed), 5);
            assert_eq!(v.load(Relaxed), 0);
        }
        let g = Striped::<AtomicI64>::new(true);
        std::thread::scope(|s| {
            s.spawn(|| g.add(3, Relaxed, true));
            s.spawn(|| g.add(-1, Relaxed, true));
        });
        assert_eq!(g.load(Relaxed), 2);
    }
}
