//! The key a thread's lookup table finds label values by, their hash, and the comparison of
//! two label values. See [`Key`] for details.

/// Label values as the cache finds them: their hash (see [`Key::new`]). A hit compares the
/// values themselves too, so two values that collide cost a miss, never a wrong series.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Key {
    pub(crate) hash: u64,
}

impl Key {
    /// The key of `values`. Each value is read as two words (see [`words`]), which one
    /// multiplication mixes with its length; the values' mixes are independent of each
    /// other, so the processor computes them at once, and each is rotated by its position
    /// before they are combined, so that the order of the values counts. A table's set is
    /// the top bits, where a multiplication mixes best. Bytes in the middle of a value over
    /// 16 bytes are not read: values that differ only there collide, and a collision is a
    /// cache miss, never a wrong series.
    #[inline(always)]
    pub(crate) fn new(values: &[&str]) -> Key {
        let mut h = 0u64;
        for (i, v) in values.iter().enumerate() {
            let (first, last) = words(v.as_bytes());
            let len = v.len() as u64;
            let m =
                (first ^ 0x243f_6a88_85a3_08d3).wrapping_mul(last ^ len ^ 0x1319_8a2e_0370_7345);
            let by = (i as u32).wrapping_mul(21);
            h ^= m.rotate_left(by);
        }
        Key { hash: h }
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
}
