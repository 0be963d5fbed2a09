//! The read path of families with string labels: each thread keeps a small cache from the
//! hash of the label values to the series' handle. See [`LocalCache`] for details.

use std::cell::{Cell, RefCell};
use std::marker::PhantomData;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::thread::LocalKey;

use thread_local::ThreadLocal;

use super::label_key::Key;
use super::per_thread::{this_thread, until_teardown};
use crate::sync::epoch::Epoch;

/// Slots a thread's table starts with, and the most it grows to.
const FIRST_SLOTS: usize = 8;
const MAX_SLOTS: usize = 8192;

/// Slots per set: a key may sit in any slot of its set.
const WAYS: usize = 4;

/// A family's handles by the hash of their label values, per thread: a lookup that hits
/// takes no lock and touches no shared cache line but the series' own (and the family's
/// generation, which changes only when a series is removed).
///
/// Each thread keeps one table per handle type (see [`Cached`]), shared by every family of
/// that type, in sets of four slots: a key's set is found from the family's id and the key's
/// hash, and it may sit in any slot of it (the one used last first), so keys that land on one
/// set do not evict each other until a fifth comes. A slot holds the family's id, the key's
/// hash, the generation, the handle and where the series keeps its variable values (see
/// [`Series::values_at`](super::series::Series::values_at)). The table is made with 8 slots at
/// the thread's first insert, and doubles when a set is full of other keys, up to 8,192
/// slots (56 bytes a slot for a counter: at most 448 KiB per thread and handle type, reached
/// only by a thread that cycles through thousands of keys; 1,000 keys cycled take 4,096 or
/// 8,192 slots, and at 4,096 a few evict each other: 30 ns a lookup against 25). A hit must
/// match the family, the hash, the family's generation and the label values themselves,
/// compared in the series, so a collision or a removed series is a miss, never a wrong series.
/// Series folded into the overflow series are never cached: every fold is counted.
///
/// A table outlives its thread: the next thread given the same id (ids are reused) takes it
/// over, so there are as many tables as threads that ran at once. A handle stays in a table
/// until another takes its slot, even after its family is dropped: at most a table's size of
/// series per table outlive their family that way.
pub(crate) struct LocalCache<H> {
    /// The family view's id, unique in the process.
    id: u64,
    /// The id spread over the bits that index a table.
    spread: u64,
    /// How many values a lookup takes.
    values: usize,
    /// The family's count of removed series (see [`Family::generation`]).
    ///
    /// [`Family::generation`]: super::family::Family::generation
    generation: Arc<Epoch>,
    _handles: PhantomData<fn() -> H>,
}

impl<H> Clone for LocalCache<H> {
    fn clone(&self) -> Self {
        LocalCache {
            generation: self.generation.clone(),
            _handles: PhantomData,
            ..*self
        }
    }
}

/// This thread's table of a handle type, once it has one (see [`Cached::mine`]).
pub(crate) type Mine<H> = Cell<Option<&'static RefCell<LookupTable<H>>>>;

/// A handle type with a table per thread (see [`LocalCache`]).
pub(crate) trait Cached: Send + Sized + 'static {
    /// Every thread's table of handles of this type.
    fn tables() -> &'static ThreadLocal<RefCell<LookupTable<Self>>>;

    /// This thread's entry of [`tables`](Self::tables), kept in a thread-local of the
    /// standard library once found: a constant one with nothing to drop, which a hit reads
    /// with one load, where `ThreadLocal::get` takes a call for the thread's id and three
    /// loads more. The entry lives as long as the static it is in.
    fn mine() -> &'static LocalKey<Mine<Self>>;
}

/// Implements [`Cached`] for handle types, one table per thread each.
macro_rules! cached {
    ($($handle:ty),*) => {$(
        impl $crate::metrics::local::Cached for $handle {
            #[inline(always)]
            fn tables() -> &'static thread_local::ThreadLocal<
                std::cell::RefCell<$crate::metrics::local::LookupTable<Self>>,
            > {
                static TABLES: thread_local::ThreadLocal<
                    std::cell::RefCell<$crate::metrics::local::LookupTable<$handle>>,
                > = thread_local::ThreadLocal::new();
                &TABLES
            }

            #[inline(always)]
            fn mine() -> &'static std::thread::LocalKey<$crate::metrics::local::Mine<Self>> {
                std::thread_local! {
                    static MINE: $crate::metrics::local::Mine<$handle> =
                        const { std::cell::Cell::new(None) };
                }
                &MINE
            }
        }
    )*};
}
pub(crate) use cached;

/// This thread's table of handles of type `H`, if it has one.
#[inline(always)]
fn table<H: Cached>() -> Option<&'static RefCell<LookupTable<H>>> {
    match H::mine().try_with(Cell::get) {
        Ok(Some(table)) => Some(table),
        _ => found(),
    }
}

/// [`table`] before this thread remembered its table: looks it up.
#[cold]
#[inline(never)]
fn found<H: Cached>() -> Option<&'static RefCell<LookupTable<H>>> {
    let table = H::tables().get()?;
    remember(table);
    Some(table)
}

/// Keeps `table` as this thread's table of `H`, until the thread gives its id back.
fn remember<H: Cached>(table: &'static RefCell<LookupTable<H>>) {
    fn forget<H: Cached>() {
        let _ = H::mine().try_with(|mine| mine.set(None));
    }
    let known = H::mine().try_with(Cell::get).ok().flatten().is_some();
    if !known && until_teardown(forget::<H>) {
        let _ = H::mine().try_with(|mine| mine.set(Some(table)));
    }
}

/// A thread's table of one handle type (see [`LocalCache`]).
pub(crate) struct LookupTable<H> {
    slots: Vec<Option<Slot<H>>>,
    /// 64 less the bits of a set's index: a key's set is the top bits of its hash (mixed with
    /// the family), where the multiplications of [`Key::new`] mix best.
    shift: u32,
}

impl<H> LookupTable<H> {
    /// The first slot of the set of a key's `hash` in the family whose id is `spread` (see
    /// [`spread`]).
    #[inline(always)]
    #[allow(clippy::cast_possible_truncation)] // an index below the table's length
    fn set_of(&self, hash: u64, spread: u64) -> usize {
        WAYS * (hash ^ spread).checked_shr(self.shift).unwrap_or(0) as usize
    }

    /// A table of `len` slots (a power of two, at least [`WAYS`]), empty.
    fn empty(len: usize) -> Self {
        LookupTable {
            slots: std::iter::repeat_with(|| None).take(len).collect(),
            shift: 64 - (len / WAYS).trailing_zeros(),
        }
    }

    /// Puts `slot` first in its set, the others one way down (the last goes), unless the set
    /// already holds its key, which it replaces in place.
    fn put(&mut self, slot: Slot<H>) {
        let set = self.set_of(slot.hash, spread(slot.family));
        let ways = &mut self.slots[set..set + WAYS];
        match ways
            .iter()
            .position(|s| s.as_ref().is_some_and(|s| s.holds(&slot)))
        {
            Some(i) => ways[i] = Some(slot),
            None => {
                ways.rotate_right(1);
                ways[0] = Some(slot);
            }
        }
    }

    /// Whether every slot of the set `slot` goes in holds another key.
    fn full_for(&self, slot: &Slot<H>) -> bool {
        let set = self.set_of(slot.hash, spread(slot.family));
        self.slots[set..set + WAYS]
            .iter()
            .all(|s| s.as_ref().is_some_and(|s| !s.holds(slot)))
    }
}

struct Slot<H> {
    family: u64,
    hash: u64,
    generation: u64,
    handle: H,
    hint: u64,
}

impl<H> Slot<H> {
    /// Whether this slot is for the same family and key hash as `other`.
    fn holds(&self, other: &Slot<H>) -> bool {
        self.family == other.family && self.hash == other.hash
    }
}

/// A family's id spread over the bits that index a table, so that families' series take
/// different slots.
fn spread(id: u64) -> u64 {
    id.wrapping_mul(0x9e37_79b9_7f4a_7c15).rotate_left(29)
}

impl<H> LocalCache<H> {
    /// The cache of a family view whose lookups take `values` values, and whose family counts
    /// removed series in `generation`.
    pub(crate) fn new(values: usize, generation: Arc<Epoch>) -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        let id = NEXT.fetch_add(1, Relaxed);
        LocalCache {
            id,
            spread: spread(id),
            values,
            generation,
            _handles: PhantomData,
        }
    }

    /// Whether `values` are as many as a lookup takes.
    #[inline(always)]
    pub(crate) fn counts(&self, values: &[&str]) -> bool {
        values.len() == self.values
    }

    /// The family's count of removed series now: read before a lookup, kept with what it
    /// finds.
    #[inline(always)]
    pub(crate) fn generation(&self) -> u64 {
        self.generation.now()
    }
}

impl<H: Cached> LocalCache<H> {
    /// Runs `f` on the cached handle of `key` at `generation` whose values are the key's
    /// (`same` says, given the handle and the hint it was inserted with), if this thread has
    /// one; gives `f` back otherwise.
    #[inline(always)]
    pub(crate) fn with<R, F: FnOnce(&H) -> R>(
        &self,
        key: &Key,
        generation: u64,
        same: impl Fn(&H, u64) -> bool,
        f: F,
    ) -> Result<R, F> {
        // Borrowed for writing only by `insert`, which never runs `f`: a lookup from inside
        // `f` borrows again for reading.
        let Some(Ok(slots)) = table::<H>().map(RefCell::try_borrow) else {
            return Err(f);
        };
        let set = slots.set_of(key.hash, self.spread);
        let hits = |s: &Slot<H>| {
            s.hash == key.hash
                && s.family == self.id
                && s.generation == generation
                && same(&s.handle, s.hint)
        };
        // In order: the first way holds the key used last. A plain loop: `find` over the
        // ways was not inlined (a call per lookup).
        for s in slots.slots.get(set..set + WAYS).unwrap_or_default() {
            if let Some(s) = s
                && hits(s)
            {
                return Ok(f(&s.handle));
            }
        }
        Err(f)
    }

    /// Remembers `handle` for `key` at `generation` in this thread's cache, with a `hint` for
    /// [`with`](Self::with)'s `same` (where the handle's values are, say).
    pub(crate) fn insert(&self, key: Key, generation: u64, handle: H, hint: u64) {
        let Some(table) = this_thread(H::tables(), || {
            RefCell::new(LookupTable::empty(FIRST_SLOTS))
        }) else {
            return;
        };
        remember(table);
        let Ok(mut slots) = table.try_borrow_mut() else {
            return;
        };
        let slot = Slot {
            family: self.id,
            hash: key.hash,
            generation,
            handle,
            hint,
        };
        if slots.full_for(&slot) && slots.slots.len() < MAX_SLOTS {
            let mut bigger = LookupTable::empty(slots.slots.len() * 2);
            // Second ways first, so that each set's first way stays first.
            for way in (0..WAYS).rev() {
                let at_way = slots.slots.iter_mut().skip(way).step_by(WAYS);
                for s in at_way.filter_map(Option::take) {
                    bigger.put(s);
                }
            }
            *slots = bigger;
        }
        slots.put(slot);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    cached!(String, u64);

    #[test]
    fn hits_need_the_hash_the_generation_and_the_values() {
        let cache = LocalCache::<String>::new(2, Arc::default());
        let same = |want: &'static str| move |s: &String, _: u64| s == want;
        let k = Key::new(&["a", "b"]);
        assert_eq!(k, Key::new(&["a", "b"]));
        assert!(cache.with(&k, 0, same("a,b"), |s| s.clone()).is_err());
        cache.insert(k, 0, "a,b".to_owned(), 0);
        assert_eq!(
            cache
                .with(&k, 0, same("a,b"), |s| s.clone())
                .ok()
                .as_deref(),
            Some("a,b")
        );
        // Another generation (a series was removed): a miss.
        assert!(cache.with(&k, 1, same("a,b"), |s| s.clone()).is_err());
        // Whatever the key, `same` decides, given the hint the handle was inserted with.
        for long in [
            Key::new(&["0123456789abcdefX", "b"]),
            Key::new(&["a", "b", "c", "d", "e"]),
        ] {
            cache.insert(long, 0, "long".to_owned(), 7);
            assert!(cache.with(&long, 0, same("long"), |_| ()).is_ok());
            assert!(cache.with(&long, 0, same("other"), |_| ()).is_err());
            assert!(cache.with(&long, 0, |_, hint| hint == 7, |_| ()).is_ok());
        }
        // Another thread has its own cache.
        std::thread::scope(|scope| {
            scope.spawn(|| assert!(cache.with(&k, 0, same("a,b"), |_| ()).is_err()));
        });
        // Inside `f` the cache is borrowed: an insert is skipped (no panic), a lookup hits.
        let inner = cache.with(&k, 0, same("a,b"), |_| {
            cache.insert(k, 0, "again".to_owned(), 0);
            cache.with(&k, 0, same("a,b"), |_| ()).is_ok()
        });
        assert_eq!(inner.ok(), Some(true));
    }

    #[test]
    fn collisions_grow_the_table_up_to_its_limit() {
        let cache = LocalCache::<u64>::new(1, Arc::default());
        let n = 4 * MAX_SLOTS as u64;
        for i in 0..n {
            cache.insert(Key::new(&[&i.to_string()]), 0, i, 0);
        }
        let len = u64::tables().get().unwrap().borrow().slots.len();
        assert_eq!(len, MAX_SLOTS);
        let hits = (0..n)
            .filter(|i| {
                let k = Key::new(&[&i.to_string()]);
                cache.with(&k, 0, |v, _| v == i, |_| ()).is_ok()
            })
            .count();
        assert!(hits > MAX_SLOTS / 4 && hits <= MAX_SLOTS, "{hits}");
    }

    #[test]
    fn families_share_a_table_but_never_a_slot() {
        let (a, b) = (
            LocalCache::<u64>::new(1, Arc::default()),
            LocalCache::<u64>::new(1, Arc::default()),
        );
        let k = Key::new(&["same"]);
        a.insert(k, 0, 1, 0);
        assert!(b.with(&k, 0, |_, _| true, |_| ()).is_err());
        b.insert(k, 0, 2, 0);
        for (cache, want) in [(&a, 1), (&b, 2)] {
            // Either finds its own handle, or misses when the other took the slot.
            if let Ok(got) = cache.with(&k, 0, |_, _| true, |v| *v) {
                assert_eq!(got, want);
            }
        }
        assert_eq!(b.with(&k, 0, |_, _| true, |v| *v).ok(), Some(2));
        // A clone is the same family view.
        assert_eq!(b.clone().with(&k, 0, |_, _| true, |v| *v).ok(), Some(2));
    }

    #[test]
    fn a_thread_forgets_its_table_before_it_gives_its_id_back() {
        /// What a destructor that runs after the thread gave its id back finds: whether
        /// the thread still knows its table, and whether `ThreadLocal` still gives it one.
        struct Late(std::sync::mpsc::Sender<(bool, bool)>);
        impl Drop for Late {
            fn drop(&mut self) {
                let mine = u64::mine().try_with(Cell::get).ok().flatten().is_some();
                let _ = self.0.send((mine, u64::tables().get().is_some()));
            }
        }
        thread_local! {
            // Used before the thread's id, so dropped after the id is given back.
            static LATE: RefCell<Option<Late>> = const { RefCell::new(None) };
        }
        let (send, found) = std::sync::mpsc::channel();
        let cache = LocalCache::<u64>::new(1, Arc::default());
        std::thread::scope(|scope| {
            scope.spawn(|| {
                LATE.with(|late| *late.borrow_mut() = Some(Late(send)));
                let k = Key::new(&["a"]);
                cache.insert(k, 0, 7, 0);
                assert_eq!(cache.with(&k, 0, |_, _| true, |v| *v).ok(), Some(7));
                assert!(u64::mine().with(Cell::get).is_some());
            });
        });
        // Another thread may be given the id now, and with it the table: this one must not
        // reach the table any more.
        assert_eq!(found.recv().ok(), Some((false, false)));
    }
}
