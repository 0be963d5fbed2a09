//! The key a thread's lookup table finds label values by: their hash, and the values
//! themselves in two words each when they are short; and the comparison of two label values.
//! See [`Key`] for details.

/// How many label values a cache slot holds in itself, to compare without following a
/// pointer.
const INLINE_VALUES: usize = 4;

/// Label values as the cache finds them: their hash, and, for up to [`INLINE_VALUES`]
/// values, each one's two words (see [`part`]). When every value has at most 15 bytes those
/// hold every byte and the length, and equal keys mean equal values (`exact`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Key {
    pub(crate) hash: u64,
    parts: [(u64, u64); INLINE_VALUES],
    /// How many of `parts` hold a value.
    count: u8,
    exact: bool,
}

impl Key {
    /// Whether the key holds its values whole (see [`Key`]).
    #[cfg(test)]
    pub(crate) fn is_exact(&self) -> bool {
        self.exact
    }

    /// Whether `other` (a key of the same family, so of as many values) holds the same values,
    /// told from the keys alone: `None` unless this key is exact, when the values themselves
    /// must be compared.
    #[inline(always)]
    pub(crate) fn same_inline(&self, other: &Key) -> Option<bool> {
        let count = usize::from(self.count);
        self.exact
            .then(|| other.exact && (0..count).all(|i| other.parts[i] == self.parts[i]))
    }

    /// The key of `values`. Each value is read as two words (see [`words`]), which one
    /// multiplication mixes with its length; the values' mixes are independent of each
    /// other, so the processor computes them at once, and each is rotated by its position
    /// before they are combined, so that the order of the values counts. A table's slot is
    /// the top bits, where a multiplication mixes best. Bytes in the middle of a value over
    /// 16 bytes are not read: values that differ only there collide, and a collision is a
    /// cache miss (such a key is not exact, and a hit then compares the values), never a
    /// wrong series.
    #[inline(always)]
    pub(crate) fn new(values: &[&str]) -> Key {
        let mut h = 0u64;
        let mut parts = [(0, 0); INLINE_VALUES];
        let mut exact = values.len() <= INLINE_VALUES;
        for (i, v) in values.iter().enumerate() {
            let (first, last) = words(v.as_bytes());
            let len = v.len() as u64;
            if let Some(p) = parts.get_mut(i) {
                *p = part(first, last, v.len());
            }
            exact &= v.len() < 16;
            let m =
                (first ^ 0x243f_6a88_85a3_08d3).wrapping_mul(last ^ len ^ 0x1319_8a2e_0370_7345);
            let by = (i as u32).wrapping_mul(21);
            h ^= m.rotate_left(by);
        }
        Key {
            hash: h,
            parts,
            #[allow(clippy::cast_possible_truncation)] // at most INLINE_VALUES
            count: values.len().min(INLINE_VALUES) as u8,
            exact,
        }
    }
}

/// The hash of label values: see [`Key::new`].
#[cfg(test)]
fn hash_values(values: &[&str]) -> u64 {
    Key::new(values).hash
}

/// A value of `n` bytes, read as [`words`] (`first`, `last`), as the two words a key keeps:
/// every byte of a value of up to 15 bytes, and its length. The first word holds the first
/// eight bytes (a shorter value's bytes, the same bytes twice when the reads overlap); the
/// second the bytes after those eight, and the length in its top byte. Of a longer value, the
/// first and the last eight bytes, the length mixed into the top byte.
#[inline(always)]
fn part(first: u64, last: u64, n: usize) -> (u64, u64) {
    let len = (n as u64) << 56;
    if n < 8 {
        // At most four bytes each, the same bytes read twice when they overlap.
        (first | last << 32, len)
    } else if n < 16 {
        // The last eight bytes overlap the first eight by 16 - n: the rest are its top bytes.
        (
            first,
            last.checked_shr(8 * (16 - n as u32)).unwrap_or(0) | len,
        )
    } else {
        (first, last ^ len)
    }
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

/// Whether two label values (as bytes) are equal. Label values are short: up to 16 bytes, two
/// word reads each (those of [`words`]) cover every byte; up to 64, eight-byte words and the
/// last eight bytes; both compare in line, where a call to `memcmp` per value would cost more
/// than the comparison (a model name of 33 bytes: 4 ns less per lookup).
#[inline]
pub(crate) fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    let word = |s: &[u8]| <[u8; 8]>::try_from(s).map_or(0, u64::from_le_bytes);
    let n = a.len();
    n == b.len()
        && if n <= 16 {
            words(a) == words(b)
        } else if n <= 64 {
            a.chunks_exact(8)
                .zip(b.chunks_exact(8))
                .all(|(x, y)| word(x) == word(y))
                && word(&a[n - 8..]) == word(&b[n - 8..])
        } else {
            a == b
        }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_and_values_tell_keys_apart() {
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
            (&"m".repeat(33), &"m".repeat(33), true),
            (&"m".repeat(64), &format!("{}n", "m".repeat(63)), false),
            (&"m".repeat(40), &format!("n{}", "m".repeat(39)), false),
        ] {
            assert_eq!(same_bytes(a.as_bytes(), b.as_bytes()), eq, "{a} {b}");
        }
        // Every byte of a short value counts.
        for n in 0..=80 {
            let a = "x".repeat(n);
            assert!(same_bytes(a.as_bytes(), a.clone().as_bytes()));
            for i in 0..n {
                let mut b = a.clone().into_bytes();
                b[i] = b'y';
                assert!(!same_bytes(a.as_bytes(), &b), "{n} {i}");
            }
        }
    }

    #[test]
    fn an_exact_key_holds_every_byte_and_the_length() {
        for n in 0..=20usize {
            let a = "x".repeat(n);
            let key = Key::new(&[&a]);
            assert_eq!(key.exact, n < 16, "{n}");
            assert_eq!(key, Key::new(&[&a.clone()]));
            if !key.exact {
                continue;
            }
            // Another length, or any byte changed: other parts, whatever the hashes (a hit
            // whose hashes collide compares only the parts).
            let parts = |v: &[&str]| Key::new(v).parts;
            assert_ne!(key.parts, parts(&[&"x".repeat(n + 1)]), "{n}");
            assert_ne!(key.parts, parts(&[&format!("{a}\0")]), "{n}");
            for i in 0..n {
                let mut b = a.clone().into_bytes();
                b[i] = b'y';
                let b = String::from_utf8(b).unwrap();
                assert_ne!(key.parts, parts(&[&b]), "{n} {i}");
            }
        }
        // Values are told apart by position, and a value's bytes never move into another's.
        let parts = |v: &[&str]| Key::new(v).parts;
        assert_ne!(parts(&["ab", "c"]), parts(&["a", "bc"]));
        assert_ne!(parts(&["a", ""]), parts(&["", "a"]));
        // Four values at most are kept.
        assert!(Key::new(&["a", "b", "c", "d"]).exact);
        assert!(!Key::new(&["a", "b", "c", "d", "e"]).exact);
    }
}
