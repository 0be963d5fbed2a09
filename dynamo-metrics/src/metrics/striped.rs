//! Integer atomics striped across cache lines, for counters and gauges that many threads
//! update at once. See [`Striped`] for details.

use std::cell::Cell;
use std::sync::OnceLock;
use std::sync::atomic::Ordering;

pub(crate) use crate::sync::Word;

/// How many stripes a striped value has: the machine's CPUs rounded up to a power of two, at
/// most 16 (1 on one CPU). Counted for the process, not for the thread that asks first: a
/// thread pinned to one CPU (a pinned main thread, a benchmark harness) would otherwise fix
/// one stripe for every striped value of the process.
fn stripes() -> usize {
    static STRIPES: OnceLock<usize> = OnceLock::new();
    *STRIPES.get_or_init(|| {
        let asked = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
        let online = std::fs::read_to_string("/sys/devices/system/cpu/online")
            .ok()
            .and_then(|list| cpus_in_list(&list));
        stripe_count(asked, online)
    })
}

/// The stripes for `asked` CPUs (what this thread may run on, or the process's quota) and
/// `online` CPUs (the machine's): the larger, as a power of two, at most 16.
fn stripe_count(asked: usize, online: Option<usize>) -> usize {
    asked
        .max(online.unwrap_or(1))
        .max(1)
        .next_power_of_two()
        .min(16)
}

/// How many CPUs a list such as `0-3,8,10-11` names.
fn cpus_in_list(list: &str) -> Option<usize> {
    let mut count = 0usize;
    for part in list.trim().split(',').filter(|p| !p.is_empty()) {
        count += match part.split_once('-') {
            Some((a, b)) => {
                let (a, b): (usize, usize) = (a.parse().ok()?, b.parse().ok()?);
                b.checked_sub(a)? + 1
            }
            None => {
                part.parse::<usize>().ok()?;
                1
            }
        };
    }
    (count > 0).then_some(count)
}

/// How many live threads hold each stripe. A thread takes the least held stripe when it
/// first adds to a striped value and gives it back when it ends, so while fewer threads run
/// than there are stripes, no two share one.
static HOLDERS: parking_lot::Mutex<Holders> = parking_lot::Mutex::new(Holders(Vec::new()));

/// How many live threads hold each stripe.
struct Holders(Vec<usize>);

impl Holders {
    /// The least held of `stripes` stripes, now held once more.
    fn take(&mut self, stripes: usize) -> usize {
        if self.0.len() != stripes {
            self.0.resize(stripes, 0);
        }
        let mut least = 0;
        for (i, n) in self.0.iter().enumerate() {
            if *n < self.0[least] {
                least = i;
            }
        }
        if let Some(n) = self.0.get_mut(least) {
            *n += 1;
        }
        least
    }

    /// Stripe `i` is held once less.
    fn give_back(&mut self, i: usize) {
        if let Some(n) = self.0.get_mut(i) {
            *n = n.saturating_sub(1);
        }
    }
}

/// Gives this thread's stripe back when the thread ends.
struct Held(usize);

impl Drop for Held {
    fn drop(&mut self) {
        HOLDERS.lock().give_back(self.0);
    }
}

thread_local! {
    /// This thread's stripe, `usize::MAX` before it has one: read on every striped add.
    static STRIPE: Cell<usize> = const { Cell::new(usize::MAX) };
    /// The same stripe, given back when the thread ends: touched once per thread.
    static HELD: std::cell::RefCell<Option<Held>> = const { std::cell::RefCell::new(None) };
}

/// This thread's stripe (below [`stripes`]).
#[inline]
fn stripe() -> usize {
    STRIPE.with(|s| {
        let i = s.get();
        if i != usize::MAX {
            return i;
        }
        let i = take_stripe();
        s.set(i);
        let _ = HELD.try_with(|h| *h.borrow_mut() = Some(Held(i)));
        i
    })
}

/// The least held stripe, now held once more.
#[cold]
fn take_stripe() -> usize {
    HOLDERS.lock().take(stripes())
}

/// One atomic alone on its cache line (two lines: adjacent-line prefetch pairs them).
#[derive(Debug, Default)]
#[repr(align(128))]
struct Padded<A>(A);

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
    use std::sync::atomic::Ordering::Relaxed;
    use std::sync::atomic::{AtomicI64, AtomicU64, AtomicUsize};

    #[test]
    fn the_stripe_count_is_the_machines_not_the_asking_threads() {
        // A thread pinned to one CPU of eight: eight stripes.
        assert_eq!(stripe_count(1, Some(8)), 8);
        assert_eq!(stripe_count(2, None), 2);
        assert_eq!(stripe_count(3, Some(3)), 4);
        assert_eq!(stripe_count(1, None), 1);
        assert_eq!(stripe_count(64, Some(128)), 16);
        assert_eq!(cpus_in_list("0-3,8,10-11\n"), Some(7));
        assert_eq!(cpus_in_list("0"), Some(1));
        assert_eq!(cpus_in_list("x"), None);
        assert_eq!(cpus_in_list("3-1"), None);
    }

    #[test]
    fn threads_alive_together_hold_different_stripes_while_there_are_enough() {
        // Which stripe each thread lands on, by the table the threads share (a table of its
        // own here: the process's is shared with the other tests' threads).
        let mut holders = Holders(Vec::new());
        let (a, b, c) = (holders.take(4), holders.take(4), holders.take(4));
        assert_eq!(
            [a, b, c],
            [0, 1, 2],
            "three threads, four stripes: all apart"
        );
        holders.give_back(b);
        // B ended: the next thread takes B's stripe or the free fourth, never A's or C's.
        let d = holders.take(4);
        assert!(d != a && d != c, "{d}");
        let e = holders.take(4);
        assert!(![a, c, d].contains(&e), "{e}");
        // More threads than stripes: they share, evenly.
        let mut two = Holders(Vec::new());
        let taken: Vec<usize> = (0..6).map(|_| two.take(2)).collect();
        assert_eq!(taken.iter().filter(|i| **i == 0).count(), 3);
        // A real thread takes one of the process's stripes (the table's giving back runs in
        // its thread-local guard; the process's table is shared with the other tests' threads,
        // so its counts are not asserted here).
        let i = std::thread::spawn(stripe).join().unwrap();
        assert!(i < stripes());
    }

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
