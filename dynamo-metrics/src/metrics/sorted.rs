//! A sorted list kept in chunks, so that inserting or removing moves at most a chunk of
//! entries, not the rest of the list. See [`Chunked`] for details.

use std::cmp::Ordering;

/// The entries a chunk holds after a split; a chunk splits in two past twice this. Larger
/// chunks render as fast as one `Vec` at a million series (256 was slower there); removing
/// moves at most 2,048 entries.
const CHUNK: usize = 1024;

/// A list kept sorted by its caller, in chunks of [`CHUNK`] to `2 * CHUNK` entries (fewer
/// after removals). A family's series live here: a render walks it in order, chunk after
/// chunk, each contiguous as one `Vec` would be; a lookup is a binary search over the chunks'
/// last entries, then within one chunk; inserting or removing moves the entries after it in
/// its chunk only. In one `Vec`, removing a series of a family of 100,000 moved 50,000
/// entries on average (27 us per series in the scaling table; under 1 us in chunks).
pub(crate) struct Chunked<T> {
    chunks: Vec<Vec<T>>,
    len: usize,
    /// Entries put in or taken out so far.
    changes: u64,
}

/// Where an entry is, or where one would go: its chunk and its place in it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Pos {
    chunk: usize,
    at: usize,
}

impl<T> Default for Chunked<T> {
    fn default() -> Self {
        Chunked {
            chunks: Vec::new(),
            len: 0,
            changes: 0,
        }
    }
}

impl<T> Chunked<T> {
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// How many entries were put in or taken out so far: a place found by a search holds
    /// while this stays the same.
    pub(crate) fn changes(&self) -> u64 {
        self.changes
    }

    /// Every entry, in order.
    #[inline]
    pub(crate) fn iter(&self) -> impl Iterator<Item = &T> + Clone {
        self.chunks.iter().flatten()
    }

    pub(crate) fn first(&self) -> Option<&T> {
        self.chunks.first()?.first()
    }

    pub(crate) fn last(&self) -> Option<&T> {
        self.chunks.last()?.last()
    }

    /// The entry at `pos`.
    pub(crate) fn get(&self, pos: Pos) -> Option<&T> {
        self.chunks.get(pos.chunk)?.get(pos.at)
    }

    /// The entries just before and at `pos` (either may be missing), for an entry about to be
    /// inserted there.
    pub(crate) fn around(&self, pos: Pos) -> impl Iterator<Item = &T> {
        let before = match pos.at.checked_sub(1) {
            Some(at) => self.get(Pos { at, ..pos }),
            None => pos
                .chunk
                .checked_sub(1)
                .and_then(|c| self.chunks.get(c)?.last()),
        };
        let at = self
            .get(pos)
            .or_else(|| self.chunks.get(pos.chunk + 1)?.first());
        before.into_iter().chain(at)
    }

    /// As `slice::binary_search_by`: the position of an entry for which `f` gives `Equal`, or
    /// where one would go to keep the order.
    pub(crate) fn binary_search_by(&self, mut f: impl FnMut(&T) -> Ordering) -> Result<Pos, Pos> {
        // The first chunk whose last entry is not below the one sought.
        let chunk = self
            .chunks
            .partition_point(|c| c.last().is_some_and(|t| f(t) == Ordering::Less));
        let Some(entries) = self.chunks.get(chunk) else {
            // Past every entry: at the end of the last chunk.
            let chunk = self.chunks.len().saturating_sub(1);
            let at = self.chunks.last().map_or(0, Vec::len);
            return Err(Pos { chunk, at });
        };
        entries
            .binary_search_by(f)
            .map(|at| Pos { chunk, at })
            .map_err(|at| Pos { chunk, at })
    }

    /// As `slice::partition_point`: how many entries come before the first for which `pred`
    /// is false (`pred` true for a prefix of the entries, false after).
    pub(crate) fn partition_point(&self, mut pred: impl FnMut(&T) -> bool) -> usize {
        let chunk = self
            .chunks
            .partition_point(|c| c.last().is_some_and(&mut pred));
        let before: usize = self.chunks[..chunk].iter().map(Vec::len).sum();
        before
            + self
                .chunks
                .get(chunk)
                .map_or(0, |c| c.partition_point(pred))
    }

    /// Puts `entry` at `pos` (from [`binary_search_by`](Self::binary_search_by)).
    pub(crate) fn insert(&mut self, pos: Pos, entry: T) {
        self.changes += 1;
        let Some(chunk) = self.chunks.get_mut(pos.chunk) else {
            self.chunks.push(vec![entry]);
            self.len += 1;
            return;
        };
        chunk.insert(pos.at.min(chunk.len()), entry);
        self.len += 1;
        if chunk.len() > 2 * CHUNK {
            let tail = chunk.split_off(CHUNK);
            chunk.shrink_to_fit();
            self.chunks.insert(pos.chunk + 1, tail);
        }
    }

    /// Takes the entry at `pos` out.
    pub(crate) fn remove(&mut self, pos: Pos) -> Option<T> {
        let chunk = self.chunks.get_mut(pos.chunk)?;
        if pos.at >= chunk.len() {
            return None;
        }
        let entry = chunk.remove(pos.at);
        self.len -= 1;
        self.changes += 1;
        if chunk.is_empty() {
            self.chunks.remove(pos.chunk);
        } else if chunk.capacity() > 4 * chunk.len() + 16 {
            chunk.shrink_to_fit();
        }
        Some(entry)
    }
}

impl<T> std::ops::Index<Pos> for Chunked<T> {
    type Output = T;

    /// The entry at `pos`, which a search found.
    fn index(&self, pos: Pos) -> &T {
        &self.chunks[pos.chunk][pos.at]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A small deterministic generator (xorshift).
    struct Rng(u64);

    impl Rng {
        fn below(&mut self, n: u64) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0 % n
        }
    }

    #[test]
    fn changes_count_what_was_put_in_and_taken_out() {
        let mut chunked = Chunked::default();
        for key in [5u64, 1, 9] {
            let Err(pos) = chunked.binary_search_by(|t: &u64| t.cmp(&key)) else {
                panic!("{key} is new");
            };
            chunked.insert(pos, key);
        }
        assert_eq!(chunked.changes(), 3);
        let Ok(pos) = chunked.binary_search_by(|t| t.cmp(&5)) else {
            panic!("5 is in");
        };
        assert_eq!(chunked.remove(pos), Some(5));
        assert_eq!(
            chunked.remove(Pos { chunk: 0, at: 7 }),
            None,
            "nothing there"
        );
        assert_eq!(chunked.changes(), 4);
    }

    #[test]
    fn behaves_as_one_sorted_vec() {
        let mut chunked = Chunked::default();
        let mut model: Vec<u64> = Vec::new();
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        // Grow well past several chunks, then shrink to nothing, with lookups all along.
        for step in 0..40_000 {
            let key = rng.below(5_000);
            let growing = step < 24_000;
            match (
                chunked.binary_search_by(|t: &u64| t.cmp(&key)),
                model.binary_search(&key),
            ) {
                (Ok(pos), Ok(i)) => {
                    assert_eq!(chunked.get(pos), Some(&model[i]));
                    if !growing || rng.below(3) == 0 {
                        assert_eq!(chunked.remove(pos), Some(model.remove(i)));
                    }
                }
                (Err(pos), Err(i)) => {
                    let around: Vec<u64> = chunked.around(pos).copied().collect();
                    let want: Vec<u64> = [i.checked_sub(1), Some(i)]
                        .into_iter()
                        .filter_map(|n| model.get(n?).copied())
                        .collect();
                    assert_eq!(around, want);
                    if growing {
                        chunked.insert(pos, key);
                        model.insert(i, key);
                    }
                }
                (got, want) => panic!("{got:?} against {want:?}"),
            }
            assert_eq!(chunked.len(), model.len());
            let split = rng.below(5_000);
            assert_eq!(
                chunked.partition_point(|t| *t < split),
                model.partition_point(|t| *t < split)
            );
            if step % 997 == 0 {
                assert!(chunked.iter().copied().eq(model.iter().copied()));
                assert_eq!(chunked.first(), model.first());
                assert_eq!(chunked.last(), model.last());
                assert!(
                    chunked
                        .chunks
                        .iter()
                        .all(|c| !c.is_empty() && c.len() <= 2 * CHUNK)
                );
            }
        }
        assert!(chunked.is_empty() || chunked.iter().copied().eq(model.iter().copied()));
    }
}
