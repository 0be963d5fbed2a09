//! One OTLP `Metric` per family and its data points. Each point's length is worked out
//! before it is written (as in the protobuf exposition), so a family costs no buffer of its
//! own. See [`write_metric`] for details.

use super::Context;
use super::exemplar::{exemplar_len, write_exemplar};
use crate::exposition::protobuf::{Plain, SeriesSource};
use crate::exposition::snapshot::{Exemplar, Kind, Snapshot, Value};
use crate::exposition::wire::{
    self, bytes, bytes_len, double, double_len, fixed64, fixed64_len, header, nested_len, sint,
    sint_len, uint, uint_len, varint, varint_len,
};

/// `AggregationTemporality`.
const DELTA: u64 = 1;
const CUMULATIVE: u64 = 2;

/// The data of a `Metric`: its field and how points are written in it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum Data {
    Gauge,
    Sum,
    Histogram,
    Exponential,
    Summary,
}

impl Data {
    pub(super) fn of(kind: Kind, native: bool) -> Data {
        match kind {
            Kind::Counter => Data::Sum,
            Kind::Gauge | Kind::Untyped => Data::Gauge,
            Kind::Histogram if native => Data::Exponential,
            Kind::Histogram => Data::Histogram,
            Kind::Summary => Data::Summary,
        }
    }

    /// The field of `Metric` that holds this data.
    fn field(self) -> u64 {
        match self {
            Data::Gauge => 5,
            Data::Sum => 7,
            Data::Histogram => 9,
            Data::Exponential => 10,
            Data::Summary => 11,
        }
    }

    /// The field of a point's attributes.
    fn attributes_field(self) -> u64 {
        match self {
            Data::Gauge | Data::Sum | Data::Summary => 7,
            Data::Histogram => 9,
            Data::Exponential => 1,
        }
    }

    /// The field of a point's exemplars; summaries have none.
    fn exemplars_field(self) -> Option<u64> {
        match self {
            Data::Gauge | Data::Sum => Some(5),
            Data::Histogram => Some(8),
            Data::Exponential => Some(11),
            Data::Summary => None,
        }
    }

    /// Whether points carry a start time: every kind but gauges.
    pub(super) fn started(self) -> bool {
        self != Data::Gauge
    }

    /// The bytes after the points: temporality, and monotonicity for sums.
    fn trailer_len(self) -> usize {
        match self {
            Data::Sum => uint_len(2, DELTA) + uint_len(3, 1),
            Data::Histogram | Data::Exponential => uint_len(2, DELTA),
            Data::Gauge | Data::Summary => 0,
        }
    }

    pub(super) fn write_trailer(self, out: &mut Vec<u8>, delta: bool) {
        let temporality = if delta { DELTA } else { CUMULATIVE };
        match self {
            Data::Sum => {
                uint(out, 2, temporality);
                uint(out, 3, 1);
            }
            Data::Histogram | Data::Exponential => uint(out, 2, temporality),
            Data::Gauge | Data::Summary => {}
        }
    }
}

/// Appends a family of the model as one `Metric` (as field 2 of `ScopeMetrics`), as deltas
/// when `ctx` asks for them; nothing when it has no series. Histograms are exponential when
/// every series has native buckets.
pub(crate) fn write_snapshot(out: &mut Vec<u8>, ctx: &mut Context<'_>, family: &Snapshot) {
    if family.series.is_empty() {
        return;
    }
    let native = family.series.iter().all(|s| {
        matches!(
            &s.value,
            Value::Histogram {
                native: Some(_),
                ..
            }
        )
    });
    let data = Data::of(family.kind, native);
    match ctx.delta.as_deref_mut() {
        Some(state) if matches!(data, Data::Sum | Data::Histogram | Data::Exponential) => {
            let deltas = state.deltas(family, ctx.start, ctx.now);
            let series = deltas.iter().map(|(s, start)| (s, *start));
            write_metric(out, ctx, &family.name, &family.help, data, series);
        }
        _ => {
            let start = ctx.start;
            let series = family.series.iter().map(|s| (s, start));
            write_metric(out, ctx, &family.name, &family.help, data, series);
        }
    }
}

/// The `Metric`'s key, length, name, description, unit, and its data's key and length, for
/// points that take `points` bytes.
pub(super) fn write_metric_header(
    out: &mut Vec<u8>,
    name: &str,
    help: &str,
    data: Data,
    points: usize,
) {
    let unit = super::unit_of(name);
    let data_len = points + data.trailer_len();
    let metric_len = bytes_len(1, name.len())
        + bytes_len(2, help.len())
        + if unit.is_empty() {
            0
        } else {
            bytes_len(3, unit.len())
        }
        + nested_len(data.field(), data_len);
    header(out, 2, metric_len);
    bytes(out, 1, name.as_bytes());
    bytes(out, 2, help.as_bytes());
    if !unit.is_empty() {
        bytes(out, 3, unit.as_bytes());
    }
    header(out, data.field(), data_len);
}

/// Appends one `Metric`: name, description, unit, and its data with one point per series
/// (each with its start time).
fn write_metric<S: SeriesSource>(
    out: &mut Vec<u8>,
    ctx: &mut Context<'_>,
    name: &str,
    help: &str,
    data: Data,
    series: impl Iterator<Item = (S, u64)> + Clone,
) {
    let mut count = 0u64;
    let points: usize = series
        .clone()
        .map(|(s, _)| {
            count += 1;
            nested_len(1, point_len(data, &s))
        })
        .sum();
    if count == 0 {
        return;
    }
    out.reserve(points + name.len() + help.len() + 32);
    write_metric_header(out, name, help, data, points);
    for (s, start) in series {
        header(out, 1, point_len(data, &s));
        write_point(out, data, &s, start, ctx.now);
    }
    data.write_trailer(out, ctx.delta.is_some() && data.trailer_len() > 0);
    ctx.points += count;
}

/// A `KeyValue` with a string value: its length.
#[inline]
pub(super) fn attribute_len(k: &str, v: &str) -> usize {
    bytes_len(1, k.len()) + nested_len(2, bytes_len(1, v.len()))
}

/// Appends a `KeyValue` with a string value as field `field`.
#[inline]
pub(super) fn write_attribute(out: &mut Vec<u8>, field: u64, k: &str, v: &str) {
    header(out, field, attribute_len(k, v));
    bytes(out, 1, k.as_bytes());
    header(out, 2, bytes_len(1, v.len()));
    bytes(out, 1, v.as_bytes());
}

/// The labels written as attributes: those with a value.
#[inline]
fn attributes<S: SeriesSource>(s: &S) -> impl Iterator<Item = (&str, &str)> + Clone {
    s.labels().filter(|(_, v)| !v.is_empty())
}

/// The exemplars a point of `data` carries: a counter's and gauge's slot 0, a histogram's
/// every slot.
fn point_exemplars(data: Data, exemplars: &[(usize, Exemplar)]) -> &[(usize, Exemplar)] {
    match data {
        Data::Sum | Data::Gauge => {
            let n = exemplars.iter().take_while(|(slot, _)| *slot == 0).count();
            &exemplars[..n.min(1)]
        }
        Data::Histogram | Data::Exponential => exemplars,
        Data::Summary => &[],
    }
}

/// The finite bounds of classic buckets, and the count of each bucket (not cumulative,
/// `+Inf` last).
fn classic(buckets: &[(f64, u64)], count: u64) -> (usize, impl Iterator<Item = u64> + Clone + '_) {
    let finite = buckets.iter().take_while(|(b, _)| b.is_finite()).count();
    let mut previous = 0u64;
    let counts = buckets[..finite]
        .iter()
        .map(|(_, c)| *c)
        .chain(std::iter::once(count))
        .map(move |c| {
            let n = c.saturating_sub(previous);
            previous = previous.max(c);
            n
        });
    (finite, counts)
}

/// The counts of one sign's exponential buckets: OTLP's offset (bucket `i` covers
/// `(base^i, base^(i+1)]`, Prometheus's `k` covers `(base^(k-1), base^k]`) and the counts
/// from the first bucket to the last, gaps as zeros.
fn dense(buckets: &[(i32, u64)]) -> (i64, impl Iterator<Item = u64> + Clone + '_) {
    let first = buckets.first().map_or(0, |(k, _)| *k);
    let last = buckets.last().map_or(first - 1, |(k, _)| *k);
    let mut next = buckets.iter().peekable();
    let counts = (first..=last).map(move |k| match next.peek() {
        Some((key, n)) if *key == k => {
            next.next();
            *n
        }
        _ => 0,
    });
    (i64::from(first) - 1, counts)
}

fn buckets_len(buckets: &[(i32, u64)]) -> usize {
    if buckets.is_empty() {
        return 0;
    }
    let (offset, counts) = dense(buckets);
    let packed: usize = counts.map(varint_len).sum();
    sint_len(1, offset) + nested_len(2, packed)
}

fn write_buckets(out: &mut Vec<u8>, field: u64, buckets: &[(i32, u64)]) {
    if buckets.is_empty() {
        return;
    }
    header(out, field, buckets_len(buckets));
    let (offset, counts) = dense(buckets);
    sint(out, 1, offset);
    let packed: usize = counts.clone().map(varint_len).sum();
    header(out, 2, packed);
    for n in counts {
        varint(out, n);
    }
}

/// The length of one data point of `data` for series `s`.
fn point_len<S: SeriesSource>(data: Data, s: &S) -> usize {
    let field = data.attributes_field();
    let mut len: usize = attributes(s)
        .map(|(k, v)| nested_len(field, attribute_len(k, v)))
        .sum();
    if data.started() {
        len += fixed64_len(2);
    }
    len += fixed64_len(3);
    if let Some(field) = data.exemplars_field() {
        len += point_exemplars(data, s.exemplars())
            .iter()
            .map(|(_, e)| nested_len(field, exemplar_len(e)))
            .sum::<usize>();
    }
    len + match (data, s.value().plain()) {
        (Data::Gauge | Data::Sum, Plain::Scalar(_)) => double_len(4),
        (Data::Histogram, Plain::Histogram(buckets, _, count, _)) => {
            let (finite, counts) = classic(buckets, count);
            fixed64_len(4)
                + double_len(5)
                + nested_len(6, 8 * counts.count())
                + if finite > 0 {
                    nested_len(7, 8 * finite)
                } else {
                    0
                }
        }
        (Data::Exponential, Plain::Histogram(_, _, _, Some(n))) => {
            let sides = [(8, &n.positive), (9, &n.negative)];
            let sides: usize = sides
                .iter()
                .filter(|(_, b)| !b.is_empty())
                .map(|(field, b)| nested_len(*field, buckets_len(b)))
                .sum();
            fixed64_len(4)
                + double_len(5)
                + sint_len(6, i64::from(n.schema))
                + fixed64_len(7)
                + sides
                + double_len(14)
        }
        (Data::Summary, Plain::Summary(quantiles, _, _)) => {
            fixed64_len(4) + double_len(5) + wire::quantiles_len(6, quantiles)
        }
        // A value that does not fit its family's type: the point keeps its attributes only.
        _ => 0,
    }
}

fn write_point<S: SeriesSource>(out: &mut Vec<u8>, data: Data, s: &S, start: u64, now: u64) {
    let field = data.attributes_field();
    for (k, v) in attributes(s) {
        write_attribute(out, field, k, v);
    }
    if data.started() {
        fixed64(out, 2, start);
    }
    fixed64(out, 3, now);
    match (data, s.value().plain()) {
        (Data::Gauge | Data::Sum, Plain::Scalar(v)) => double(out, 4, v),
        (Data::Histogram, Plain::Histogram(buckets, sum, count, _)) => {
            fixed64(out, 4, count);
            double(out, 5, sum);
            let (finite, counts) = classic(buckets, count);
            header(out, 6, 8 * (finite + 1));
            for n in counts {
                out.extend_from_slice(&n.to_le_bytes());
            }
            if finite > 0 {
                header(out, 7, 8 * finite);
                for (bound, _) in &buckets[..finite] {
                    out.extend_from_slice(&bound.to_le_bytes());
                }
            }
        }
        (Data::Exponential, Plain::Histogram(_, sum, count, Some(n))) => {
            fixed64(out, 4, count);
            double(out, 5, sum);
            sint(out, 6, i64::from(n.schema));
            fixed64(out, 7, n.zero_count);
            write_buckets(out, 8, &n.positive);
            write_buckets(out, 9, &n.negative);
        }
        (Data::Summary, Plain::Summary(quantiles, sum, count)) => {
            fixed64(out, 4, count);
            double(out, 5, sum);
            wire::quantiles(out, 6, quantiles);
        }
        _ => {}
    }
    if let Some(field) = data.exemplars_field() {
        for (_, e) in point_exemplars(data, s.exemplars()) {
            write_exemplar(out, field, e);
        }
    }
    // The zero threshold comes last, in field order.
    if let (Data::Exponential, Plain::Histogram(_, _, _, Some(n))) = (data, s.value().plain()) {
        double(out, 14, n.zero_threshold);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classic_buckets_are_de_cumulated_with_inf_last() {
        let buckets = [(0.1, 2), (1.0, 5), (f64::INFINITY, 7)];
        let (finite, counts) = classic(&buckets, 7);
        assert_eq!(finite, 2);
        assert_eq!(counts.collect::<Vec<_>>(), [2, 3, 2]);
        let (finite, counts) = classic(&buckets[..2], 9);
        assert_eq!(finite, 2);
        assert_eq!(counts.collect::<Vec<_>>(), [2, 3, 4]);
    }

    #[test]
    fn exponential_buckets_shift_by_one_and_fill_gaps() {
        let (offset, counts) = dense(&[(3, 1), (5, 2), (6, 4)]);
        assert_eq!(offset, 2);
        assert_eq!(counts.collect::<Vec<_>>(), [1, 0, 2, 4]);
    }
}
