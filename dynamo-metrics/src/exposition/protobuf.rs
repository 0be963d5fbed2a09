//! The protobuf exposition: `io.prometheus.client.MetricFamily` messages, each prefixed by its
//! length (`encoding=delimited`), written by hand from [`Snapshot`]s. Field numbers follow
//! `prometheus/client_model`'s `metrics.proto`.

use crate::exposition::snapshot::{Exemplar, Kind, Native, Snapshot, Value};

const VARINT: u8 = 0;
const FIXED64: u8 = 1;
const LEN: u8 = 2;

fn varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        #[allow(clippy::cast_possible_truncation)] // the low seven bits
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    #[allow(clippy::cast_possible_truncation)]
    out.push(v as u8);
}

/// The bytes `varint` takes for `v`.
fn varint_len(v: u64) -> usize {
    (64 - (v | 1).leading_zeros() as usize).div_ceil(7)
}

/// The bytes a length-delimited field of `len` bytes takes, key (one byte) included.
fn field_len(len: usize) -> usize {
    1 + varint_len(len as u64) + len
}

fn key(out: &mut Vec<u8>, field: u32, wire: u8) {
    varint(out, (u64::from(field) << 3) | u64::from(wire));
}

fn uint(out: &mut Vec<u8>, field: u32, v: u64) {
    key(out, field, VARINT);
    varint(out, v);
}

/// A `sint32`/`sint64` field, zigzag-encoded.
fn sint(out: &mut Vec<u8>, field: u32, v: i64) {
    key(out, field, VARINT);
    varint(out, zigzag(v));
}

fn zigzag(v: i64) -> u64 {
    #[allow(clippy::cast_sign_loss)]
    let z = ((v << 1) ^ (v >> 63)) as u64;
    z
}

fn double(out: &mut Vec<u8>, field: u32, v: f64) {
    key(out, field, FIXED64);
    out.extend_from_slice(&v.to_le_bytes());
}

fn bytes(out: &mut Vec<u8>, field: u32, b: &[u8]) {
    key(out, field, LEN);
    varint(out, b.len() as u64);
    out.extend_from_slice(b);
}

/// A nested message `field`, written by `write`.
fn message(out: &mut Vec<u8>, field: u32, write: impl FnOnce(&mut Vec<u8>)) {
    let mut inner = Vec::new();
    write(&mut inner);
    bytes(out, field, &inner);
}

/// Packed repeated `sint64` field.
fn packed_sint(out: &mut Vec<u8>, field: u32, values: &[i64]) {
    let mut inner = Vec::with_capacity(values.len());
    for v in values {
        varint(&mut inner, zigzag(*v));
    }
    bytes(out, field, &inner);
}

/// Appends a family of scalar series (counters or gauges without exemplars) straight from
/// its label names and each series' label values and value, computing every length first:
/// no allocation per series.
pub(crate) fn write_scalar_family(
    out: &mut Vec<u8>,
    name: &str,
    help: &str,
    kind: Kind,
    label_names: &[String],
    series: &[(&[String], f64)],
) {
    // A label pair's content, and the value message: key, length 9, the double's key, 8 bytes.
    let pair = |k: &str, v: &str| field_len(k.len()) + field_len(v.len());
    const VALUE_LEN: usize = 11;
    let metric_len = |values: &[String]| {
        label_names
            .iter()
            .zip(values)
            .map(|(k, v)| field_len(pair(k, v)))
            .sum::<usize>()
            + VALUE_LEN
    };
    let total = field_len(name.len())
        + field_len(help.len())
        + 2
        + series
            .iter()
            .map(|(values, _)| field_len(metric_len(values)))
            .sum::<usize>();
    out.reserve(total + 10);
    varint(out, total as u64);
    bytes(out, 1, name.as_bytes());
    bytes(out, 2, help.as_bytes());
    uint(out, 3, if kind == Kind::Counter { 0 } else { 1 });
    let value_field = if kind == Kind::Counter { 3 } else { 2 };
    for (values, v) in series {
        key(out, 4, LEN);
        varint(out, metric_len(values) as u64);
        for (k, value) in label_names.iter().zip(values.iter()) {
            key(out, 1, LEN);
            varint(out, pair(k, value) as u64);
            bytes(out, 1, k.as_bytes());
            bytes(out, 2, value.as_bytes());
        }
        key(out, value_field, LEN);
        varint(out, 9);
        double(out, 1, *v);
    }
}

/// Appends `family` as one length-delimited `MetricFamily`.
pub(crate) fn write_family(out: &mut Vec<u8>, family: &Snapshot) {
    let mut encoded = Vec::with_capacity(64 + family.series.len() * 64);
    bytes(&mut encoded, 1, family.name.as_bytes());
    bytes(&mut encoded, 2, family.help.as_bytes());
    let kind = match family.kind {
        Kind::Counter => 0,
        Kind::Gauge => 1,
        Kind::Summary => 2,
        Kind::Untyped => 3,
        Kind::Histogram => 4,
    };
    uint(&mut encoded, 3, kind);
    for series in &family.series {
        message(&mut encoded, 4, |m| {
            for (name, value) in &series.labels {
                message(m, 1, |pair| {
                    bytes(pair, 1, name.as_bytes());
                    bytes(pair, 2, value.as_bytes());
                });
            }
            write_value(m, family.kind, &series.value, &series.exemplars);
        });
    }
    varint(out, encoded.len() as u64);
    out.extend_from_slice(&encoded);
}

/// An `Exemplar`: labels, value, and a `google.protobuf.Timestamp`.
fn write_exemplar(out: &mut Vec<u8>, field: u32, e: &Exemplar) {
    message(out, field, |x| {
        for (name, value) in &e.labels {
            message(x, 1, |pair| {
                bytes(pair, 1, name.as_bytes());
                bytes(pair, 2, value.as_bytes());
            });
        }
        double(x, 2, e.value);
        message(x, 3, |t| {
            uint(t, 1, u64::try_from(e.timestamp.0).unwrap_or(0));
            uint(t, 2, u64::from(e.timestamp.1));
        });
    });
}

fn write_value(m: &mut Vec<u8>, kind: Kind, value: &Value, exemplars: &[(usize, Exemplar)]) {
    let exemplar = |i: usize| {
        exemplars
            .iter()
            .find(|(slot, _)| *slot == i)
            .map(|(_, e)| e)
    };
    match (kind, value) {
        (Kind::Counter, Value::Scalar(v)) => message(m, 3, |c| {
            double(c, 1, *v);
            if let Some(e) = exemplar(0) {
                write_exemplar(c, 2, e);
            }
        }),
        (Kind::Untyped, Value::Scalar(v)) => message(m, 5, |u| double(u, 1, *v)),
        (_, Value::Scalar(v)) => message(m, 2, |g| double(g, 1, *v)),
        (
            _,
            Value::Summary {
                quantiles,
                sum,
                count,
            },
        ) => message(m, 4, |s| {
            uint(s, 1, *count);
            double(s, 2, *sum);
            for (q, v) in quantiles {
                message(s, 3, |quantile| {
                    double(quantile, 1, *q);
                    double(quantile, 2, *v);
                });
            }
        }),
        (
            _,
            Value::Histogram {
                buckets,
                sum,
                count,
                native,
            },
        ) => message(m, 7, |h| {
            uint(h, 1, *count);
            double(h, 2, *sum);
            for (i, (bound, cumulative)) in buckets.iter().enumerate() {
                message(h, 3, |b| {
                    uint(b, 1, *cumulative);
                    double(b, 2, *bound);
                    if let Some(e) = exemplar(i) {
                        write_exemplar(b, 3, e);
                    }
                });
            }
            if let Some(native) = native {
                write_native(h, native);
                // A native histogram's exemplars, all with timestamps.
                for (_, e) in exemplars {
                    write_exemplar(h, 16, e);
                }
            }
        }),
    }
}

/// The native fields of a `Histogram`: schema, zero bucket, spans and deltas per sign.
fn write_native(h: &mut Vec<u8>, native: &Native) {
    sint(h, 5, i64::from(native.schema));
    double(h, 6, native.zero_threshold);
    uint(h, 7, native.zero_count);
    for (buckets, span_field, delta_field) in
        [(&native.negative, 9, 10), (&native.positive, 12, 13)]
    {
        let mut previous_key = None;
        let mut spans: Vec<(i64, u32)> = Vec::new();
        for (k, _) in buckets {
            match (previous_key, spans.last_mut()) {
                (Some(p), Some(last)) if *k == p + 1 => last.1 += 1,
                (Some(p), _) => spans.push((i64::from(*k - p - 1), 1)),
                (None, _) => spans.push((i64::from(*k), 1)),
            }
            previous_key = Some(*k);
        }
        // A native histogram without buckets needs a no-op span to read as native.
        if spans.is_empty()
            && span_field == 12
            && native.positive.is_empty()
            && native.negative.is_empty()
        {
            spans.push((0, 0));
        }
        for (offset, length) in spans {
            message(h, span_field, |s| {
                sint(s, 1, offset);
                uint(s, 2, u64::from(length));
            });
        }
        if !buckets.is_empty() {
            let mut previous = 0i64;
            let deltas: Vec<i64> = buckets
                .iter()
                .map(|(_, n)| {
                    let n = i64::try_from(*n).unwrap_or(i64::MAX);
                    let delta = n - previous;
                    previous = n;
                    delta
                })
                .collect();
            packed_sint(h, delta_field, &deltas);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exposition::snapshot::SeriesSnapshot;

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
    }

    #[test]
    fn the_scalar_path_writes_what_the_general_one_does() {
        let names = vec!["k".to_owned(), "model".to_owned()];
        let values: Vec<Vec<String>> = (0..300)
            .map(|i| vec!["v".to_owned(), "m".repeat(i)])
            .collect();
        for kind in [Kind::Counter, Kind::Gauge] {
            let series: Vec<(&[String], f64)> = values
                .iter()
                .enumerate()
                .map(|(i, v)| (&v[..], i as f64 * 1.5))
                .collect();
            let mut fast = Vec::new();
            write_scalar_family(&mut fast, "f", &"h".repeat(200), kind, &names, &series);
            let family = Snapshot {
                name: "f".into(),
                help: "h".repeat(200),
                kind,
                series: series
                    .iter()
                    .map(|(v, x)| SeriesSnapshot {
                        labels: names.iter().cloned().zip(v.iter().cloned()).collect(),
                        value: Value::Scalar(*x),
                        exemplars: Vec::new(),
                    })
                    .collect(),
            };
            let mut general = Vec::new();
            write_family(&mut general, &family);
            assert_eq!(fast, general, "{kind:?}");
        }
        assert_eq!(varint_len(0), 1);
        assert_eq!(varint_len(127), 1);
        assert_eq!(varint_len(128), 2);
        assert_eq!(varint_len(u64::MAX), 10);
    }

    #[test]
    fn a_counter_family_byte_for_byte() {
        let family = Snapshot {
            name: "a_total".into(),
            help: "h".into(),
            kind: Kind::Counter,
            series: vec![SeriesSnapshot {
                labels: vec![("k".into(), "v".into())],
                value: Value::Scalar(1.0),
                exemplars: Vec::new(),
            }],
        };
        let mut out = Vec::new();
        write_family(&mut out, &family);
        let one = 1.0f64.to_le_bytes();
        let mut want = vec![
            0x0A, 7, b'a', b'_', b't', b'o', b't', b'a', b'l', // name
            0x12, 1, b'h', // help
            0x18, 0, // type COUNTER
            0x22, 19, // metric
            0x0A, 6, 0x0A, 1, b'k', 0x12, 1, b'v', // label
            0x1A, 9, 0x09, // counter { value
        ];
        want.extend_from_slice(&one);
        want.insert(0, (want.len()) as u8);
        assert_eq!(out, want);
    }
}
