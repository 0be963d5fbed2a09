//! OTLP `Exemplar`s from the exemplars a scrape shows: W3C `trace_id` and `span_id` labels
//! become the ids as bytes, the other labels filtered attributes.

use super::points::{attribute_len, write_attribute};
use crate::exposition::snapshot::Exemplar;
use crate::exposition::wire::{
    bytes, bytes_len, double, double_len, fixed64, fixed64_len, header, nested_len,
};

/// The bytes of a W3C id in hex (`trace_id`: 16, `span_id`: 8), or `None` when it is not one.
fn id_bytes(hex: &str, len: usize) -> Option<[u8; 16]> {
    if hex.len() != 2 * len {
        return None;
    }
    let mut id = [0u8; 16];
    for (i, pair) in hex.as_bytes().chunks(2).enumerate() {
        let digit = |c: u8| (c as char).to_digit(16);
        id[i] = u8::try_from(digit(pair[0])? * 16 + digit(pair[1])?).ok()?;
    }
    id[..len].iter().any(|b| *b != 0).then_some(id)
}

/// An exemplar's parts: trace and span ids as bytes where they are ids, its other labels.
/// An exemplar taken apart: its trace id, span id, and other labels.
struct Parts<'a> {
    trace: Option<[u8; 16]>,
    span: Option<[u8; 16]>,
    rest: Vec<(&'a str, &'a str)>,
}

fn exemplar_parts(e: &Exemplar) -> Parts<'_> {
    let (mut trace, mut span, mut rest) = (None, None, Vec::new());
    for (k, v) in &e.labels {
        match (&**k, id_bytes(v, if &**k == "span_id" { 8 } else { 16 })) {
            ("trace_id", Some(id)) if trace.is_none() => trace = Some(id),
            ("span_id", Some(id)) if span.is_none() => span = Some(id),
            _ => rest.push((&**k, &**v)),
        }
    }
    Parts { trace, span, rest }
}

pub(super) fn exemplar_len(e: &Exemplar) -> usize {
    let Parts { trace, span, rest } = exemplar_parts(e);
    let attributes: usize = rest
        .iter()
        .map(|(k, v)| nested_len(7, attribute_len(k, v)))
        .sum();
    attributes
        + fixed64_len(2)
        + double_len(3)
        + span.map_or(0, |_| bytes_len(4, 8))
        + trace.map_or(0, |_| bytes_len(5, 16))
}

pub(super) fn write_exemplar(out: &mut Vec<u8>, field: u64, e: &Exemplar) {
    header(out, field, exemplar_len(e));
    let Parts { trace, span, rest } = exemplar_parts(e);
    fixed64(out, 2, nanos(e.timestamp));
    double(out, 3, e.value);
    if let Some(span) = span {
        bytes(out, 4, &span[..8]);
    }
    if let Some(trace) = trace {
        bytes(out, 5, &trace);
    }
    for (k, v) in rest {
        write_attribute(out, 7, k, v);
    }
}

/// Seconds and nanoseconds since the epoch as nanoseconds (0 before it).
fn nanos((seconds, nanos): (i64, u32)) -> u64 {
    u64::try_from(seconds)
        .unwrap_or(0)
        .saturating_mul(1_000_000_000)
        .saturating_add(u64::from(nanos))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_hex_of_their_length() {
        let trace = "4bf92f3577b34da6a3ce929d0e0e4736";
        assert_eq!(id_bytes(trace, 16).unwrap()[..2], [0x4b, 0xf9]);
        assert!(id_bytes("00000000000000000000000000000000", 16).is_none());
        assert!(id_bytes("00f067aa0ba902b7", 8).is_some());
        assert!(id_bytes("xyz", 16).is_none());
        assert!(id_bytes(&"g".repeat(32), 16).is_none());
    }
}
