//! The protobuf wire format, as much of it as `metrics.proto` needs: varints, zigzag, doubles
//! and length-delimited fields. Each writer has a `_len` twin that gives the bytes it writes,
//! so a message's length is known before it is written.

const VARINT: u64 = 0;
const FIXED64: u64 = 1;
const LEN: u64 = 2;

#[inline]
pub(super) fn varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        #[allow(clippy::cast_possible_truncation)] // the low seven bits
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    #[allow(clippy::cast_possible_truncation)]
    out.push(v as u8);
}

#[inline]
pub(super) fn varint_len(v: u64) -> usize {
    (64 - (v | 1).leading_zeros() as usize).div_ceil(7)
}

#[inline]
pub(super) fn key(out: &mut Vec<u8>, field: u64, wire: u64) {
    varint(out, (field << 3) | wire);
}

#[inline]
pub(super) fn key_len(field: u64) -> usize {
    varint_len(field << 3)
}

#[inline]
pub(super) fn uint(out: &mut Vec<u8>, field: u64, v: u64) {
    key(out, field, VARINT);
    varint(out, v);
}

#[inline]
pub(super) fn uint_len(field: u64, v: u64) -> usize {
    key_len(field) + varint_len(v)
}

/// A `sint32`/`sint64` field, zigzag-encoded.
#[inline]
pub(super) fn sint(out: &mut Vec<u8>, field: u64, v: i64) {
    uint(out, field, zigzag(v));
}

#[inline]
pub(super) fn sint_len(field: u64, v: i64) -> usize {
    uint_len(field, zigzag(v))
}

#[inline]
pub(super) fn zigzag(v: i64) -> u64 {
    #[allow(clippy::cast_sign_loss)]
    let z = ((v << 1) ^ (v >> 63)) as u64;
    z
}

#[inline]
pub(super) fn double(out: &mut Vec<u8>, field: u64, v: f64) {
    key(out, field, FIXED64);
    out.extend_from_slice(&v.to_le_bytes());
}

#[inline]
pub(super) fn double_len(field: u64) -> usize {
    key_len(field) + 8
}

/// A `fixed64` or `sfixed64` field.
#[cfg(feature = "otlp")]
#[inline]
pub(super) fn fixed64(out: &mut Vec<u8>, field: u64, v: u64) {
    key(out, field, FIXED64);
    out.extend_from_slice(&v.to_le_bytes());
}

/// A `fixed64` field's length: a double's.
#[cfg(feature = "otlp")]
#[inline]
pub(super) fn fixed64_len(field: u64) -> usize {
    double_len(field)
}

#[inline]
pub(super) fn bytes(out: &mut Vec<u8>, field: u64, b: &[u8]) {
    header(out, field, b.len());
    out.extend_from_slice(b);
}

#[inline]
pub(super) fn bytes_len(field: u64, len: usize) -> usize {
    nested_len(field, len)
}

/// The key and length of a length-delimited field of `len` bytes; its content follows.
#[inline]
pub(super) fn header(out: &mut Vec<u8>, field: u64, len: usize) {
    key(out, field, LEN);
    varint(out, len as u64);
}

/// The bytes a length-delimited field of `len` bytes takes, key and length included.
#[inline]
pub(super) fn nested_len(field: u64, len: usize) -> usize {
    key_len(field) + varint_len(len as u64) + len
}

/// Appends a message whose length goes before it and is known only once it is written:
/// `head(out, len)` appends what goes before content of `len` bytes (the lengths in it
/// included), `body(out)` the content. The content is written once, after room for the
/// longest head, and the head is then put in front of it, the room left over closed by one
/// move of the content: measuring the content first would read each of its parts twice, and
/// at a million series each read is a trip to memory.
fn length_first(
    out: &mut Vec<u8>,
    head: impl Fn(&mut Vec<u8>, usize),
    body: impl FnOnce(&mut Vec<u8>),
) {
    // A length up to this one takes as many bytes as any real length (9 on 64 bits).
    const LONGEST: usize = usize::MAX / 4;
    let start = out.len();
    head(out, LONGEST);
    let room = out.len() - start;
    body(out);
    let mut front = Vec::with_capacity(room);
    head(&mut front, out.len() - start - room);
    out.splice(start..start + room, front);
}

/// Appends a message of prepared points with [`length_first`]: `head` as there, then for each
/// series its prepared head, `between`, and its value as a little-endian double. At the first
/// `None` (a series that cannot be written so) it takes back all it wrote and returns `None`;
/// else how many points it wrote.
pub(super) fn prepared_points<'a>(
    out: &mut Vec<u8>,
    head: impl Fn(&mut Vec<u8>, usize),
    series: impl Iterator<Item = Option<(&'a [u8], f64)>>,
    between: &[u8],
) -> Option<u64> {
    let (start, mut points) = (out.len(), Some(0));
    length_first(out, head, |out| {
        for s in series {
            let Some((prepared, value)) = s else {
                points = None;
                return;
            };
            out.extend_from_slice(prepared);
            out.extend_from_slice(between);
            out.extend_from_slice(&value.to_le_bytes());
            points = points.map(|p| p + 1);
        }
    });
    if points.is_none() {
        out.truncate(start);
    }
    points
}

/// Appends each `(quantile, value)` of a summary as a message in field `field` of two
/// doubles, the quantile in field 1 and the value in field 2: what `metrics.proto`'s
/// `Quantile` and OTLP's `ValueAtQuantile` both are.
pub(super) fn quantiles(out: &mut Vec<u8>, field: u64, quantiles: &[(f64, f64)]) {
    for (q, v) in quantiles {
        header(out, field, 2 * double_len(1));
        double(out, 1, *q);
        double(out, 2, *v);
    }
}

/// The bytes [`quantiles`] appends.
pub(super) fn quantiles_len(field: u64, quantiles: &[(f64, f64)]) -> usize {
    quantiles.len() * nested_len(field, 2 * double_len(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn length_first_writes_what_measuring_first_does() {
        // Two nested lengths in the head, as OTLP's metric header has; bodies whose lengths
        // take one, two and three bytes as varints.
        let head = |out: &mut Vec<u8>, len: usize| {
            header(out, 2, nested_len(5, len) + 3);
            bytes(out, 1, b"ab");
            out.push(0);
            header(out, 5, len);
        };
        for len in [0, 1, 127, 128, 300, 16_383, 16_384, 70_000] {
            let body: Vec<u8> = (0..len).map(|i| i as u8).collect();
            let mut measured = vec![9, 9];
            head(&mut measured, len);
            measured.extend_from_slice(&body);
            let mut once = vec![9, 9];
            length_first(&mut once, head, |out| out.extend_from_slice(&body));
            assert_eq!(once, measured, "{len}");
        }
    }

    #[test]
    fn wire_encoding() {
        let mut out = Vec::new();
        varint(&mut out, 300);
        assert_eq!(out, [0xAC, 0x02]);
        assert_eq!(zigzag(0), 0);
        assert_eq!(zigzag(-1), 1);
        assert_eq!(zigzag(1), 2);
        assert_eq!(zigzag(-2), 3);
        assert_eq!(zigzag(i64::MIN), u64::MAX);
        assert_eq!(varint_len(0), 1);
        assert_eq!(varint_len(127), 1);
        assert_eq!(varint_len(128), 2);
        assert_eq!(varint_len(u64::MAX), 10);
        assert_eq!(key_len(15), 1);
        assert_eq!(key_len(16), 2);
    }
}
