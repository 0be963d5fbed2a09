//! A writer's short list of values, counted in batches behind a sequence number that readers
//! check. See [`SeqBatch`] for details.

use std::sync::atomic::Ordering::{Acquire, Relaxed, Release};

use super::Word;

/// Values one thread lists, up to `N`, and counts all at once when the list is full, into
/// state of the caller's that readers read with the list ([`read`](Self::read)). Writing
/// takes no locked instruction: the writer is one thread, and readers never write.
///
/// The protocol is a sequence lock around the counting alone: the sequence number is odd
/// while the writer counts the list into its state and empties the list; a reader reads the
/// caller's state and the listed values between two reads of the number, and reads again
/// when the number was odd or changed. Listing a value between counts needs no sequence: the
/// new length is stored with `Release` after the value, and a reader reads the length with
/// `Acquire` before the values. So a reader sees each value exactly once, counted or listed,
/// never both and never neither (the loom model `a_read_is_one_moment_of_the_writers`).
pub(crate) struct SeqBatch<A: Word<Value = u64>, const N: usize> {
    /// Odd while the writer counts the list.
    seq: A,
    /// How many values the list holds (below `N`).
    len: A,
    /// The values listed and not yet counted.
    listed: [A; N],
}

impl<A: Word<Value = u64>, const N: usize> Default for SeqBatch<A, N> {
    fn default() -> Self {
        SeqBatch {
            seq: A::default(),
            len: A::default(),
            listed: std::array::from_fn(|_| A::default()),
        }
    }
}

impl<A: Word<Value = u64>, const N: usize> SeqBatch<A, N> {
    /// Lists `v`. When the list is full, `count` gets the full list (its values loaded with
    /// `Relaxed`), to add them to the state readers read with the list, and the list is
    /// emptied. Only the one writing thread calls this.
    #[inline]
    pub(crate) fn push(&self, v: u64, count: impl FnOnce(&[A; N])) {
        #[allow(clippy::cast_possible_truncation)] // below N
        let n = self.len.load(Relaxed) as usize;
        let Some(slot) = self.listed.get(n) else {
            return;
        };
        slot.store(v, Relaxed);
        if n + 1 < N {
            self.len.store(n as u64 + 1, Release);
        } else {
            self.count_all(count);
        }
    }

    /// Gives every listed value to `count` and empties the list, the sequence number odd
    /// meanwhile.
    #[cold]
    #[inline(never)]
    fn count_all(&self, count: impl FnOnce(&[A; N])) {
        // Odd while counting, even after (whatever it was before: a count cut short by a
        // panic, were one possible here, would not leave it odd for good).
        let seq = self.seq.load(Relaxed) | 1;
        self.seq.store(seq, Relaxed);
        A::fence(Release);
        count(&self.listed);
        self.len.store(0, Relaxed);
        self.seq.store(seq.wrapping_add(1), Release);
    }

    /// What `read` makes of the writer's state (which it reads itself) and the values
    /// listed, at a moment when the writer was not counting: `read` runs again whenever the
    /// writer counted meanwhile, and only its last result is kept.
    pub(crate) fn read<R>(&self, mut read: impl FnMut(&[u64]) -> R) -> R {
        let mut spins = 0u32;
        loop {
            let seq = self.seq.load(Acquire);
            if seq.is_multiple_of(2) {
                #[allow(clippy::cast_possible_truncation)] // below N
                let len = (self.len.load(Acquire) as usize).min(N);
                let mut values = [0; N];
                for (v, slot) in values.iter_mut().zip(&self.listed[..len]) {
                    *v = slot.load(Relaxed);
                }
                let made = read(&values[..len]);
                A::fence(Acquire);
                if self.seq.load(Relaxed) == seq {
                    return made;
                }
            }
            spins = spins.saturating_add(1);
            A::relax(spins);
        }
    }
}
