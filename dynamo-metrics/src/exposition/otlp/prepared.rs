//! The fast path of an export: counters and gauges without exemplars, cumulative, each
//! series' point head (its key, length and attributes) encoded once and kept by the series, as
//! its text is for a scrape. [`write_prepared_scalars`] writes the same bytes as
//! [`write_snapshot`](super::write_snapshot) does for the same series (tested below).

use super::Context;
use super::points::{Data, attribute_len, write_attribute, write_metric_header};
use crate::exposition::snapshot::Kind;
use crate::exposition::wire::{
    double_len, fixed64, fixed64_len, header, nested_len, prepared_points,
};

/// The bytes of a counter's or gauge's point up to its times: the key and length of the
/// `NumberDataPoint` (field 1 of `Sum` and `Gauge`), then its attributes (field 7) for
/// `labels`. What a series prepares once, so that an export copies them as a scrape copies
/// the series' text; the times and the value follow ([`write_prepared_scalars`]).
pub(crate) fn number_point_head<'a>(
    kind: Kind,
    labels: impl Iterator<Item = (&'a str, &'a str)> + Clone,
) -> Box<[u8]> {
    let labels = labels.filter(|(_, v)| !v.is_empty());
    let attributes: usize = labels
        .clone()
        .map(|(k, v)| nested_len(7, attribute_len(k, v)))
        .sum();
    let mut out = Vec::with_capacity(attributes + 4);
    header(
        &mut out,
        1,
        attributes + number_point_tail(Data::of(kind, false)),
    );
    for (k, v) in labels {
        write_attribute(&mut out, 7, k, v);
    }
    out.into_boxed_slice()
}

/// The bytes of a number point after its attributes: start time (not for gauges), time,
/// value.
fn number_point_tail(data: Data) -> usize {
    let started = if data.started() { fixed64_len(2) } else { 0 };
    started + fixed64_len(3) + double_len(4)
}

/// Appends a counter or gauge family read in place, cumulative, without exemplars: for each
/// series, its head prepared ([`number_point_head`], for `kind`), then the times and its value
/// now, read once ([`prepared_points`]); nothing for a family without series. At the first
/// `None` (a series that is not such a scalar) it takes back what it wrote and returns false.
pub(crate) fn write_prepared_scalars<'a>(
    out: &mut Vec<u8>,
    ctx: &mut Context<'_>,
    (name, help, kind): (&str, &str, Kind),
    series: impl Iterator<Item = Option<(&'a [u8], f64)>>,
) -> bool {
    let mut series = series.peekable();
    if series.peek().is_none() {
        return true;
    }
    let data = Data::of(kind, false);
    // The times are the same for every point: their bytes, and the value's key, made once.
    let mut times = Vec::with_capacity(number_point_tail(data));
    if data.started() {
        fixed64(&mut times, 2, ctx.start);
    }
    fixed64(&mut times, 3, ctx.now);
    times.push(0x21); // field 4, a double
    let header = |out: &mut Vec<u8>, len| write_metric_header(out, name, help, data, len);
    let Some(points) = prepared_points(out, header, series, &times) else {
        return false;
    };
    data.write_trailer(out, false);
    ctx.points += points;
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exposition::snapshot::{SeriesSnapshot, Snapshot, Value};

    #[test]
    fn prepared_scalars_write_what_their_snapshot_does() {
        let names = ["a", "b"];
        let values = [["x", ""], ["y", "z"], ["", "w"]];
        for kind in [Kind::Counter, Kind::Gauge] {
            let heads: Vec<Box<[u8]>> = values
                .iter()
                .map(|v| number_point_head(kind, names.into_iter().zip(v.iter().copied())))
                .collect();
            let values_now = [1.5, -0.0, 1e300];
            let series = heads.iter().zip(values_now).map(|(h, v)| Some((&**h, v)));
            let mut ctx = Context {
                start: 7,
                now: 9,
                delta: None,
                points: 0,
            };
            let mut prepared = Vec::new();
            assert!(write_prepared_scalars(
                &mut prepared,
                &mut ctx,
                ("f", "h", kind),
                series.clone(),
            ));
            // A series that is not a scalar, after two that are: nothing written, false.
            let mut not_all = Vec::new();
            let with_other = series.take(2).chain([None]);
            let mut other = Context { points: 0, ..ctx };
            assert!(!write_prepared_scalars(
                &mut not_all,
                &mut other,
                ("f", "h", kind),
                with_other
            ));
            assert_eq!((not_all.len(), other.points), (0, 0));
            let family = Snapshot {
                name: "f".into(),
                help: "h".into(),
                kind,
                series: values
                    .iter()
                    .zip(values_now)
                    .map(|(v, now)| SeriesSnapshot {
                        labels: names
                            .iter()
                            .zip(v)
                            .map(|(k, v)| ((*k).into(), (*v).into()))
                            .collect(),
                        value: Value::Scalar(now),
                        exemplars: Vec::new(),
                    })
                    .collect(),
            };
            let mut ctx = Context {
                start: 7,
                now: 9,
                delta: None,
                points: 0,
            };
            let mut general = Vec::new();
            super::super::write_snapshot(&mut general, &mut ctx, &family);
            assert_eq!(prepared, general, "{kind:?}");
            assert_eq!(ctx.points, 3);
        }
    }
}
