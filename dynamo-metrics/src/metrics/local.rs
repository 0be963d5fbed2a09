//! The read path of families with string labels: each thread keeps a small cache from the
//! hash of the label values to the series' handle. See [`LocalCache`] for details.

use std::cell::RefCell;
use std::sync::OnceLock;

use thread_local::ThreadLocal;

/// Slots a thread's cache starts with, and the most it grows to.
const FIRST_SLOTS: usize = 8;
const MAX_SLOTS: usize = 256;

/// How many label values a cache slot holds in itself, to compare without following a
/// pointer.
const INLINE_VALUES: usize = 4;

/// Label values as the cache finds them: their hash, and, for up to [`INLINE_VALUES`]
/// values, each one's length and its two words (see [`words`]). When every value has at most
/// 16 bytes those cover every byte, and equal keys mean equal values (`exact`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Key {
    pub(crate) hash: u64,
    parts: [(u64, u64, u64); INLINE_VALUES],
    exact: bool,
}

impl Key {
    /// The key of `values`. Each value is read as at most two 8-byte words (its first and
    /// last eight bytes, or fewer for a short value, as wyhash reads small inputs), mixed with
    /// its length by one multiplication; the values' mixes are independent, so the processor
    /// overlaps them, and are combined by rotation, the high bits folded onto the low ones
    /// that index a table. Bytes in the middle of a value over 16 bytes are not read: values
    /// that differ only there collide, and a collision is a cache miss (such a key is not
    /// exact, and a hit then compares the values), never a wrong series.
    #[inline(always)]
    pub(crate) fn new(values: &[&str]) -> Key {
        let mut h = 0u64;
        let mut parts = [(0, 0, 0); INLINE_VALUES];
        let mut exact = values.len() <= INLINE_VALUES;
        for (i, v) in values.iter().enumerate() {
            let (a, b) = words(v.as_bytes());
            let len = v.len() as u64;
            if let Some(p) = parts.get_mut(i) {
                *p = (a, b, len);
            }
            exact &= v.len() <= 16;
            let m = (a ^ 0x243f_6a88_85a3_08d3).wrapping_mul(b ^ len ^ 0x1319_8a2e_0370_7345);
            h = h.rotate_left(23) ^ m;
        }
        Key {
            hash: h ^ (h >> 32) ^ (h >> 47),
            parts,
            exact,
        }
    }
}

/// The hash of label values: see [`Key::new`].
#[cfg(test)]
fn hash_values(values: &[&str]) -> u64 {
    Key::new(values).hash
}

/// The first and the last (up to) eight bytes of `b` as two words: every byte of a value of
/// up to 16 bytes is in them, at a place that depends on the length.
#[inline]
fn words(b: &[u8]) -> (u64, u64) {
    let word = |s: &[u8]| <[u8; 8]>::try_from(s).map_or(0, u64::from_le_bytes);
    let half = |s: &[u8]| <[u8; 4]>::try_from(s).map_or(0, |w| u64::from(u32::from_le_bytes(w)));
    let n = b.len();
    if n >= 8 {
        (word(&b[..8]), word(&b[n - 8..]))
    } else if n >= 4 {
        (half(&b[..4]), half(&b[n - 4..]))
    } else if n > 0 {
        let spread = u64::from(b[0]) << 16 | u64::from(b[n / 2]) << 8 | u64::from(b[n - 1]);
        (spread, 0)
    } else {
        (0, 0)
    }
}

/// Whether two strings are equal. Label values are short: up to 16 bytes, two word reads
/// each (those of [`hash_values`]) cover every byte and compare in line, where a call to
/// `memcmp` per value would cost more than the comparison.
#[inline]
pub(crate) fn same_str(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    a.len() == b.len()
        && if a.len() <= 16 {
            words(a) == words(b)
        } else {
            a == b
        }
}

/// A family's handles by the hash of their label values, per thread: a lookup that hits
/// takes no lock and touches no shared cache line but the series' own (and the family's
/// generation, which changes only when a series is removed).
///
/// Each thread that looks up string labels in the family gets its own direct-mapped table,
/// 8 slots at first, doubled on a collision up to 256 (128 bytes a slot). A hit must match the
/// key, the family's generation and the label values themselves (the key alone when it is
/// exact, so short values compare in the slot, without reading the series), so a collision or
/// a removed series is a miss, never a wrong series. Series folded into the overflow series are never
/// cached: every fold is counted.
pub(crate) struct LocalCache<H: Send> {
    threads: OnceLock<ThreadLocal<RefCell<Slots<H>>>>,
}

struct Slots<H> {
    slots: Vec<Option<Slot<H>>>,
}

struct Slot<H> {
    key: Key,
    generation: u64,
    handle: H,
}

impl<H: Send> Default for LocalCache<H> {
    fn default() -> Self {
        LocalCache {
            threads: OnceLock::new(),
        }
    }
}

impl<H: Send> LocalCache<H> {
    #[inline(always)]
    fn slots(&self) -> &RefCell<Slots<H>> {
        self.threads.get_or_init(ThreadLocal::new).get_or(|| {
            RefCell::new(Slots {
                slots: std::iter::repeat_with(|| None).take(FIRST_SLOTS).collect(),
            })
        })
    }

    /// Runs `f` on the cached handle of `key` at `generation` whose values are the key's
    /// (the key says so when exact, `same` otherwise), if this thread has one; gives `f` back
    /// otherwise.
    #[inline]
    pub(crate) fn with<R, F: FnOnce(&H) -> R>(
        &self,
        key: &Key,
        generation: u64,
        same: impl Fn(&H) -> bool,
        f: F,
    ) -> Result<R, F> {
        // Borrowed for writing only by `insert`, which never runs `f`: a lookup from inside
        // `f` borrows again for reading.
        let Ok(slots) = self.slots().try_borrow() else {
            return Err(f);
        };
        let i = key.hash as usize & (slots.slots.len() - 1);
        match &slots.slots[i] {
            Some(s)
                if s.key.hash == key.hash
                    && s.generation == generation
                    && if key.exact {
                        s.key == *key
                    } else {
                        same(&s.handle)
                    } =>
            {
                Ok(f(&s.handle))
            }
            _ => Err(f),
        }
    }

    /// Remembers `handle` for `key` at `generation` in this thread's cache.
    pub(crate) fn insert(&self, key: Key, generation: u64, handle: H) {
        let hash = key.hash;
        let Ok(mut slots) = self.slots().try_borrow_mut() else {
            return;
        };
        let slots = &mut slots.slots;
        let i = hash as usize & (slots.len() - 1);
        let collides = slots[i]
            .as_ref()
            .is_some_and(|s| s.key.hash != hash && s.generation == generation);
        if collides && slots.len() < MAX_SLOTS {
            let mut bigger: Vec<Option<Slot<H>>> = std::iter::repeat_with(|| None)
                .take(slots.len() * 2)
                .collect();
            for s in slots.drain(..).flatten() {
                let j = s.key.hash as usize & (bigger.len() - 1);
                bigger[j] = Some(s);
            }
            *slots = bigger;
        }
        let i = hash as usize & (slots.len() - 1);
        slots[i] = Some(Slot {
            key,
            generation,
            handle,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hits_need_the_hash_the_generation_and_the_values() {
        let cache = LocalCache::<String>::default();
        let h = hash_values(&["a", "b"]);
        assert_ne!(h, hash_values(&["ab", ""]));
        assert_ne!(Key::new(&["ab", ""]), Key::new(&["a", "b"]));
        assert_ne!(h, hash_values(&["a", "b", ""]));
        assert_ne!(hash_values(&["0123456789"]), hash_values(&["0123456789\0"]));
        assert_ne!(hash_values(&["a", "b"]), hash_values(&["b", "a"]));
        assert_ne!(hash_values(&["abcd"]), hash_values(&["abce"]));
        for (a, b, eq) in [
            ("", "", true),
            ("abc", "abc", true),
            ("abc", "abd", false),
            ("0123456789abcdefX", "0123456789abcdefX", true),
            ("0123456789abcdefX", "0123456789abcdefY", false),
            ("01234567", "0123456", false),
        ] {
            assert_eq!(same_str(a, b), eq, "{a} {b}");
        }
        // Every byte of a short value counts.
        for n in 0..=20 {
            let a = "x".repeat(n);
            assert!(same_str(&a, &a.clone()));
            for i in 0..n {
                let mut b = a.clone().into_bytes();
                b[i] = b'y';
                assert!(!same_str(&a, std::str::from_utf8(&b).unwrap()), "{n} {i}");
            }
        }
        let same = |want: &'static str| move |s: &String| s == want;
        let k = Key::new(&["a", "b"]);
        assert!(k.exact && k == Key::new(&["a", "b"]));
        assert!(cache.with(&k, 0, same("a,b"), |s| s.clone()).is_err());
        cache.insert(k, 0, "a,b".to_owned());
        assert_eq!(
            cache
                .with(&k, 0, same("a,b"), |s| s.clone())
                .ok()
                .as_deref(),
            Some("a,b")
        );
        // Another generation (a series was removed): a miss.
        assert!(cache.with(&k, 1, same("a,b"), |s| s.clone()).is_err());
        // Values over 16 bytes or more than fit the slot: the key is not exact, `same` decides.
        for long in [
            Key::new(&["0123456789abcdefX", "b"]),
            Key::new(&["a", "b", "c", "d", "e"]),
        ] {
            assert!(!long.exact);
            cache.insert(long, 0, "long".to_owned());
            assert!(cache.with(&long, 0, same("long"), |_| ()).is_ok());
            assert!(cache.with(&long, 0, same("other"), |_| ()).is_err());
        }
        // Another thread has its own cache.
        std::thread::scope(|scope| {
            scope.spawn(|| assert!(cache.with(&k, 0, same("a,b"), |_| ()).is_err()));
        });
        // Inside `f` the cache is borrowed: an insert is skipped (no panic), a lookup hits.
        let inner = cache.with(&k, 0, same("a,b"), |_| {
            cache.insert(k, 0, "again".to_owned());
            cache.with(&k, 0, same("a,b"), |_| ()).is_ok()
        });
        assert_eq!(inner.ok(), Some(true));
    }

    #[test]
    fn collisions_grow_the_table_up_to_its_limit() {
        let cache = LocalCache::<u64>::default();
        for n in 0..1000u64 {
            cache.insert(Key::new(&[&n.to_string()]), 0, n);
        }
        let len = cache.slots().borrow().slots.len();
        assert_eq!(len, MAX_SLOTS);
        let hits = (0..1000u64)
            .filter(|n| {
                let k = Key::new(&[&n.to_string()]);
                cache.with(&k, 0, |v| v == n, |_| ()).is_ok()
            })
            .count();
        assert!(hits > 100 && hits <= MAX_SLOTS, "{hits}");
    }
}
