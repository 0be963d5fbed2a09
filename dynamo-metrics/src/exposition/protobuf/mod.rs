//! The protobuf exposition: `io.prometheus.client.MetricFamily` messages, each prefixed by its
//! length (`encoding=delimited`), written by hand. Every message's length is worked out before
//! it is written, so a family costs no buffer of its own and nothing per series. Field numbers
//! follow `prometheus/client_model`'s `metrics.proto`. See [`write_family`] for details.

use super::snapshot::{Exemplar, Kind, Native, SeriesSnapshot, Snapshot, Value};
use super::wire::{
    self, bytes, bytes_len, double, double_len, header, nested_len, prepared_points, sint,
    sint_len, uint, uint_len, varint, varint_len, zigzag,
};

/// A series as the writer reads it: its labels, value and exemplars, by slot (0 for a
/// counter, the classic bucket for a histogram). Labels are read twice: once to measure the
/// message, once to write it.
pub(crate) trait SeriesSource {
    /// The label pairs, in order.
    fn labels(&self) -> impl Iterator<Item = (&str, &str)> + Clone;
    fn value(&self) -> ValueRef<'_>;
    fn exemplars(&self) -> &[(usize, Exemplar)];
}

/// A series' value: a plain number (a counter's or gauge's, read without a [`Value`]), or any
/// value of the model.
#[derive(Clone, Copy)]
pub(crate) enum ValueRef<'a> {
    Scalar(f64),
    Value(&'a Value),
}

/// A value as a writer takes it apart (this one and the OTLP writer).
pub(crate) enum Plain<'a> {
    Scalar(f64),
    Summary(&'a [(f64, f64)], f64, u64),
    Histogram(&'a [(f64, u64)], f64, u64, Option<&'a Native>),
}

impl<'a> ValueRef<'a> {
    #[inline]
    pub(crate) fn plain(self) -> Plain<'a> {
        match self {
            ValueRef::Scalar(v) | ValueRef::Value(&Value::Scalar(v)) => Plain::Scalar(v),
            ValueRef::Value(Value::Summary {
                quantiles,
                sum,
                count,
            }) => Plain::Summary(quantiles, *sum, *count),
            ValueRef::Value(Value::Histogram {
                buckets,
                sum,
                count,
                native,
            }) => Plain::Histogram(buckets, *sum, *count, native.as_deref()),
        }
    }
}

impl SeriesSource for &SeriesSnapshot {
    fn labels(&self) -> impl Iterator<Item = (&str, &str)> + Clone {
        self.labels.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    fn value(&self) -> ValueRef<'_> {
        ValueRef::Value(&self.value)
    }

    fn exemplars(&self) -> &[(usize, Exemplar)] {
        &self.exemplars
    }
}

/// A counter's or gauge's series read in place: label names and values side by side, and
/// the value. A family of them is read twice (to measure, then to write); a double's length
/// does not depend on its value, so a value that moves in between changes nothing.
#[derive(Clone, Copy)]
pub(crate) struct ScalarSeries<'a> {
    pub(crate) names: &'a [String],
    pub(crate) values: &'a [String],
    pub(crate) value: f64,
}

impl SeriesSource for ScalarSeries<'_> {
    #[inline]
    fn labels(&self) -> impl Iterator<Item = (&str, &str)> + Clone {
        let values = self.values.iter().map(String::as_str);
        self.names.iter().map(String::as_str).zip(values)
    }

    fn value(&self) -> ValueRef<'_> {
        ValueRef::Scalar(self.value)
    }

    fn exemplars(&self) -> &[(usize, Exemplar)] {
        &[]
    }
}

/// Appends a family of the model as one length-delimited `MetricFamily`.
pub(crate) fn write_snapshot(out: &mut Vec<u8>, family: &Snapshot) {
    write_family(
        out,
        &family.name,
        &family.help,
        family.kind,
        family.series.iter(),
    );
}

/// Appends a family as one length-delimited `MetricFamily`: the one protobuf writer, for
/// snapshots and for our own series read in place.
pub(crate) fn write_family<S: SeriesSource>(
    out: &mut Vec<u8>,
    name: &str,
    help: &str,
    kind: Kind,
    series: impl Iterator<Item = S> + Clone,
) {
    let metrics: usize = series
        .clone()
        .map(|s| nested_len(4, metric_len(kind, &s)))
        .sum();
    out.reserve(metrics + name.len() + help.len() + 16);
    write_family_header(out, name, help, kind, metrics);
    for s in series {
        write_metric(out, kind, &s);
    }
}

/// Appends the family header of a `MetricFamily` whose `Metric` messages take `metrics`
/// bytes: its length, name, help and type.
fn write_family_header(out: &mut Vec<u8>, name: &str, help: &str, kind: Kind, metrics: usize) {
    let kind_number = kind_number(kind);
    let len =
        bytes_len(1, name.len()) + bytes_len(2, help.len()) + uint_len(3, kind_number) + metrics;
    varint(out, len as u64);
    bytes(out, 1, name.as_bytes());
    bytes(out, 2, help.as_bytes());
    uint(out, 3, kind_number);
}

/// The `MetricType` number of `kind`.
fn kind_number(kind: Kind) -> u64 {
    match kind {
        Kind::Counter => 0,
        Kind::Gauge => 1,
        Kind::Summary => 2,
        Kind::Untyped => 3,
        Kind::Histogram => 4,
    }
}

/// Appends one series as a `Metric` message (field 4 of `MetricFamily`).
#[inline]
fn write_metric<S: SeriesSource>(out: &mut Vec<u8>, kind: Kind, s: &S) {
    header(out, 4, metric_len(kind, s));
    for (k, v) in written_labels(s) {
        header(out, 1, pair_len(k, v));
        bytes(out, 1, k.as_bytes());
        bytes(out, 2, v.as_bytes());
    }
    write_value(out, kind, s.value(), s.exemplars());
}

/// The bytes of a counter's, gauge's or untyped series' `Metric` message without exemplars,
/// up to its value: the message's key and length, its label pairs, the value message's key
/// and length and the value's key. What a series prepares once, as it does its text line;
/// the value's eight bytes follow ([`write_prepared_scalars`]). Made by the writer itself,
/// so the bytes are the same by construction.
pub(crate) fn scalar_metric_head(kind: Kind, names: &[String], values: &[String]) -> Box<[u8]> {
    let s = ScalarSeries {
        names,
        values,
        value: 0.0,
    };
    let mut out = Vec::with_capacity(nested_len(4, metric_len(kind, &s)));
    write_metric(&mut out, kind, &s);
    out.truncate(out.len() - DOUBLE);
    out.into_boxed_slice()
}

/// The bytes of a double's value.
const DOUBLE: usize = 8;

/// Appends a counter, gauge or untyped family read in place, without exemplars: for each
/// series, its head prepared ([`scalar_metric_head`]) and its value now, read once
/// ([`prepared_points`]); a double takes eight bytes whatever its value. At the first `None`
/// (a series that is not such a scalar) it takes back what it wrote and returns false.
pub(crate) fn write_prepared_scalars<'a>(
    out: &mut Vec<u8>,
    (name, help, kind): (&str, &str, Kind),
    series: impl Iterator<Item = Option<(&'a [u8], f64)>>,
) -> bool {
    let header = |out: &mut Vec<u8>, metrics| write_family_header(out, name, help, kind, metrics);
    prepared_points(out, header, series, &[]).is_some()
}

// The messages of metrics.proto, each as its length and its writer.

/// The labels of `s` that are written: a label with an empty value is left out, as in the
/// text formats.
#[inline]
fn written_labels<S: SeriesSource>(s: &S) -> impl Iterator<Item = (&str, &str)> + Clone {
    s.labels().filter(|(_, v)| !v.is_empty())
}

#[inline]
fn pair_len(k: &str, v: &str) -> usize {
    bytes_len(1, k.len()) + bytes_len(2, v.len())
}

#[inline]
fn metric_len<S: SeriesSource>(kind: Kind, s: &S) -> usize {
    let labels: usize = written_labels(s)
        .map(|(k, v)| nested_len(1, pair_len(k, v)))
        .sum();
    labels + value_len(kind, s.value(), s.exemplars())
}

/// The latest exemplar of `slot`.
#[inline]
fn exemplar(exemplars: &[(usize, Exemplar)], slot: usize) -> Option<&Exemplar> {
    exemplars.iter().find(|(s, _)| *s == slot).map(|(_, e)| e)
}

/// An `Exemplar`: labels, value, and a `google.protobuf.Timestamp`.
fn exemplar_len(e: &Exemplar) -> usize {
    let labels: usize = e
        .labels
        .iter()
        .map(|(k, v)| nested_len(1, pair_len(k, v)))
        .sum();
    labels + double_len(2) + nested_len(3, timestamp_len(e))
}

fn timestamp_len(e: &Exemplar) -> usize {
    uint_len(1, u64::try_from(e.timestamp.0).unwrap_or(0)) + uint_len(2, u64::from(e.timestamp.1))
}

fn write_exemplar(out: &mut Vec<u8>, field: u64, e: &Exemplar) {
    header(out, field, exemplar_len(e));
    for (k, v) in &e.labels {
        header(out, 1, pair_len(k, v));
        bytes(out, 1, k.as_bytes());
        bytes(out, 2, v.as_bytes());
    }
    double(out, 2, e.value);
    header(out, 3, timestamp_len(e));
    uint(out, 1, u64::try_from(e.timestamp.0).unwrap_or(0));
    uint(out, 2, u64::from(e.timestamp.1));
}

/// The value message of a series: its field in `Metric` and its length.
#[inline]
fn value_len(kind: Kind, value: ValueRef<'_>, exemplars: &[(usize, Exemplar)]) -> usize {
    let (field, len) = value_message(kind, value, exemplars);
    nested_len(field, len)
}

#[inline]
fn value_message(kind: Kind, value: ValueRef<'_>, exemplars: &[(usize, Exemplar)]) -> (u64, usize) {
    match (kind, value.plain()) {
        (Kind::Counter, Plain::Scalar(_)) => {
            let e = exemplar(exemplars, 0).map_or(0, |e| nested_len(2, exemplar_len(e)));
            (3, double_len(1) + e)
        }
        (Kind::Untyped, Plain::Scalar(_)) => (5, double_len(1)),
        (_, Plain::Scalar(_)) => (2, double_len(1)),
        (_, Plain::Summary(quantiles, _, count)) => (
            4,
            uint_len(1, count) + double_len(2) + wire::quantiles_len(3, quantiles),
        ),
        (_, Plain::Histogram(buckets, _, count, native)) => {
            let classic: usize = buckets
                .iter()
                .enumerate()
                .map(|(i, (_, c))| nested_len(3, bucket_len(*c, exemplar(exemplars, i))))
                .sum::<usize>()
                + inf_bucket(buckets, exemplars)
                    .map_or(0, |e| nested_len(3, bucket_len(count, Some(e))));
            let native = native.map_or(0, |n| {
                let exemplars: usize = exemplars
                    .iter()
                    .map(|(_, e)| nested_len(16, exemplar_len(e)))
                    .sum();
                native_len(n) + exemplars
            });
            (7, uint_len(1, count) + double_len(2) + classic + native)
        }
    }
}

/// The exemplar of the `+Inf` bucket when `buckets` leave that bucket out: protobuf has no
/// other place for it, so the bucket is then written (as `client_golang` does).
fn inf_bucket<'a>(
    buckets: &[(f64, u64)],
    exemplars: &'a [(usize, Exemplar)],
) -> Option<&'a Exemplar> {
    if buckets.last().is_some_and(|(b, _)| *b == f64::INFINITY) {
        return None;
    }
    exemplar(exemplars, buckets.len())
}

fn bucket_len(cumulative: u64, e: Option<&Exemplar>) -> usize {
    uint_len(1, cumulative) + double_len(2) + e.map_or(0, |e| nested_len(3, exemplar_len(e)))
}

#[inline]
fn write_value(m: &mut Vec<u8>, kind: Kind, value: ValueRef<'_>, exemplars: &[(usize, Exemplar)]) {
    let (field, len) = value_message(kind, value, exemplars);
    header(m, field, len);
    match value.plain() {
        Plain::Scalar(v) => {
            double(m, 1, v);
            if kind == Kind::Counter
                && let Some(e) = exemplar(exemplars, 0)
            {
                write_exemplar(m, 2, e);
            }
        }
        Plain::Summary(quantiles, sum, count) => {
            uint(m, 1, count);
            double(m, 2, sum);
            wire::quantiles(m, 3, quantiles);
        }
        Plain::Histogram(buckets, sum, count, native) => {
            uint(m, 1, count);
            double(m, 2, sum);
            for (i, (bound, cumulative)) in buckets.iter().enumerate() {
                let e = exemplar(exemplars, i);
                header(m, 3, bucket_len(*cumulative, e));
                uint(m, 1, *cumulative);
                double(m, 2, *bound);
                if let Some(e) = e {
                    write_exemplar(m, 3, e);
                }
            }
            if let Some(e) = inf_bucket(buckets, exemplars) {
                header(m, 3, bucket_len(count, Some(e)));
                uint(m, 1, count);
                double(m, 2, f64::INFINITY);
                write_exemplar(m, 3, e);
            }
            if let Some(native) = native {
                write_native(m, native);
                // A native histogram's exemplars, all with timestamps.
                for (_, e) in exemplars {
                    write_exemplar(m, 16, e);
                }
            }
        }
    }
}

/// The spans of sorted bucket keys: gaps and runs, as `(offset, length)`.
fn spans(buckets: &[(i32, u64)]) -> impl Iterator<Item = (i64, u32)> + '_ {
    let mut previous: Option<i32> = None;
    let mut i = 0;
    std::iter::from_fn(move || {
        let (first, _) = *buckets.get(i)?;
        let offset = previous.map_or(i64::from(first), |p| i64::from(first - p - 1));
        let mut length = 1u32;
        while buckets
            .get(i + length as usize)
            .is_some_and(|(k, _)| *k == first + length as i32)
        {
            length += 1;
        }
        i += length as usize;
        previous = Some(first + length as i32 - 1);
        Some((offset, length))
    })
}

/// The bucket counts as deltas, each from the one before.
fn deltas(buckets: &[(i32, u64)]) -> impl Iterator<Item = i64> + '_ {
    let mut previous = 0i64;
    buckets.iter().map(move |(_, n)| {
        let n = i64::try_from(*n).unwrap_or(i64::MAX);
        let delta = n - previous;
        previous = n;
        delta
    })
}

/// The spans of one sign, and whether the no-op span that an empty native histogram needs to
/// read as native goes in their place (positive side only).
fn sign_spans<'a>(
    native: &'a Native,
    buckets: &'a [(i32, u64)],
    positive: bool,
) -> impl Iterator<Item = (i64, u32)> + 'a {
    let empty = positive && native.positive.is_empty() && native.negative.is_empty();
    spans(buckets).chain(empty.then_some((0, 0)))
}

fn span_len((offset, length): (i64, u32)) -> usize {
    sint_len(1, offset) + uint_len(2, u64::from(length))
}

/// The native fields of a `Histogram`: schema, zero bucket, spans and deltas per sign.
fn native_len(native: &Native) -> usize {
    let mut len =
        sint_len(5, i64::from(native.schema)) + double_len(6) + uint_len(7, native.zero_count);
    for (buckets, span_field, delta_field, positive) in [
        (&native.negative, 9, 10, false),
        (&native.positive, 12, 13, true),
    ] {
        len += sign_spans(native, buckets, positive)
            .map(|s| nested_len(span_field, span_len(s)))
            .sum::<usize>();
        if !buckets.is_empty() {
            let packed: usize = deltas(buckets).map(|d| varint_len(zigzag(d))).sum();
            len += nested_len(delta_field, packed);
        }
    }
    len
}

fn write_native(h: &mut Vec<u8>, native: &Native) {
    sint(h, 5, i64::from(native.schema));
    double(h, 6, native.zero_threshold);
    uint(h, 7, native.zero_count);
    for (buckets, span_field, delta_field, positive) in [
        (&native.negative, 9, 10, false),
        (&native.positive, 12, 13, true),
    ] {
        for span in sign_spans(native, buckets, positive) {
            header(h, span_field, span_len(span));
            sint(h, 1, span.0);
            uint(h, 2, u64::from(span.1));
        }
        if !buckets.is_empty() {
            let packed: usize = deltas(buckets).map(|d| varint_len(zigzag(d))).sum();
            header(h, delta_field, packed);
            for d in deltas(buckets) {
                varint(h, zigzag(d));
            }
        }
    }
}

#[cfg(test)]
mod tests;
