//! Delta temporality: each counter and histogram point is the change since the last export
//! the receiver acknowledged. See [`DeltaState`] for details.

use std::collections::HashMap;

use crate::exposition::snapshot::{Native, SeriesSnapshot, Snapshot, Value};

/// A series' cumulative value at the last export, and that export's time.
#[derive(Clone, Debug)]
struct Last {
    value: Value,
    time: u64,
}

/// Series by family name, then by label values.
type Table = HashMap<String, HashMap<Box<[u8]>, Last>>;

/// The cumulative value of every series at the last acknowledged export, and the values of
/// the export in flight.
///
/// An export computes its deltas from the acknowledged values and keeps what it read as
/// pending; [`commit`](Self::commit) (the receiver took it) makes them the acknowledged ones,
/// [`discard`](Self::discard) (it did not) drops them, so the next export's deltas cover both
/// intervals: no change is lost and none is counted twice, and the deltas of a run add up to
/// the cumulative value. A delta's start time is the time of the acknowledged export it is
/// measured from. A value below the last one (a series removed and created again) starts
/// over: the delta is the value itself.
///
/// It holds one value per series that the last export carried: as many as the cardinality
/// rules allow a runtime. A series gone from the registry is forgotten at the next commit.
#[derive(Debug, Default)]
pub(crate) struct DeltaState {
    acked: Table,
    pending: Table,
}

impl DeltaState {
    /// The series of `family` as deltas, each with its start time; cumulative series
    /// (never seen) start at `start`. Keeps what it read as pending at `now`.
    pub(crate) fn deltas(
        &mut self,
        family: &Snapshot,
        start: u64,
        now: u64,
    ) -> Vec<(SeriesSnapshot, u64)> {
        let acked = self.acked.get(&family.name);
        let pending = self.pending.entry(family.name.clone()).or_default();
        family
            .series
            .iter()
            .map(|series| {
                let key = series_key(&series.labels);
                let (value, since) = match acked.and_then(|a| a.get(&key)) {
                    Some(last) => (difference(&series.value, &last.value), last.time),
                    None => (series.value.clone(), start),
                };
                let last = Last {
                    value: series.value.clone(),
                    time: now,
                };
                pending.insert(key, last);
                let delta = SeriesSnapshot {
                    labels: series.labels.clone(),
                    value,
                    exemplars: series.exemplars.clone(),
                };
                (delta, since)
            })
            .collect()
    }

    /// The export in flight was acknowledged: its values are the ones to measure from.
    pub(crate) fn commit(&mut self) {
        self.acked = std::mem::take(&mut self.pending);
    }

    /// The export in flight was not delivered: the next one measures from the last
    /// acknowledged values again.
    pub(crate) fn discard(&mut self) {
        self.pending.clear();
    }

    /// How many series the acknowledged state holds.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.acked.values().map(HashMap::len).sum()
    }
}

/// The label values of a series as one key: each value's length, then its bytes.
fn series_key(labels: &[(String, String)]) -> Box<[u8]> {
    let mut key = Vec::with_capacity(labels.iter().map(|(_, v)| v.len() + 4).sum());
    for (_, v) in labels {
        let len = u32::try_from(v.len()).unwrap_or(u32::MAX);
        key.extend_from_slice(&len.to_le_bytes());
        key.extend_from_slice(v.as_bytes());
    }
    key.into_boxed_slice()
}

/// `now - last` for a counter or histogram; `now` itself where the series started over.
fn difference(now: &Value, last: &Value) -> Value {
    match (now, last) {
        (Value::Scalar(v), Value::Scalar(l)) if v >= l => Value::Scalar(v - l),
        (
            Value::Histogram {
                buckets,
                sum,
                count,
                native,
            },
            Value::Histogram {
                buckets: last_buckets,
                sum: last_sum,
                count: last_count,
                native: last_native,
            },
        ) if count >= last_count
            && buckets.len() == last_buckets.len()
            && buckets
                .iter()
                .zip(last_buckets)
                .all(|((b, n), (lb, ln))| b.to_bits() == lb.to_bits() && n >= ln) =>
        {
            let native = match (native, last_native) {
                (Some(n), Some(l)) => match native_difference(n, l) {
                    Some(d) => Some(Box::new(d)),
                    None => return now.clone(),
                },
                (None, None) => None,
                _ => return now.clone(),
            };
            Value::Histogram {
                buckets: buckets
                    .iter()
                    .zip(last_buckets)
                    .map(|((b, n), (_, l))| (*b, n - l))
                    .collect(),
                sum: sum - last_sum,
                count: count - last_count,
                native,
            }
        }
        _ => now.clone(),
    }
}

/// The native buckets of `now` less those of `last` (brought down to `now`'s schema
/// first), or `None` where a bucket went down: the histogram started over.
fn native_difference(now: &Native, last: &Native) -> Option<Native> {
    if last.schema < now.schema || now.zero_count < last.zero_count {
        return None;
    }
    let mut last = last.clone();
    while last.schema > now.schema {
        last.downscale();
    }
    let side = |now: &[(i32, u64)], last: &[(i32, u64)]| -> Option<Vec<(i32, u64)>> {
        let mut out = Vec::with_capacity(now.len());
        let mut last = last.iter().peekable();
        for &(k, n) in now {
            let before = match last.peek() {
                // A bucket the last export had and this one has not: counts went down.
                Some(&&(lk, _)) if lk < k => return None,
                Some(&&(lk, ln)) if lk == k => {
                    last.next();
                    ln
                }
                _ => 0,
            };
            let d = n.checked_sub(before)?;
            if d > 0 {
                out.push((k, d));
            }
        }
        last.next().is_none().then_some(out)
    };
    Some(Native {
        schema: now.schema,
        zero_threshold: now.zero_threshold,
        zero_count: now.zero_count - last.zero_count,
        positive: side(&now.positive, &last.positive)?,
        negative: side(&now.negative, &last.negative)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exposition::snapshot::Kind;

    fn family(value: Value) -> Snapshot {
        Snapshot {
            name: "f".into(),
            help: String::new(),
            kind: Kind::Counter,
            series: vec![SeriesSnapshot {
                labels: vec![("k".into(), "v".into())],
                value,
                exemplars: Vec::new(),
            }],
        }
    }

    #[test]
    fn deltas_not_acknowledged_are_merged_into_the_next() {
        let mut state = DeltaState::default();
        let d = state.deltas(&family(Value::Scalar(5.0)), 100, 200);
        assert_eq!((d[0].0.value.clone(), d[0].1), (Value::Scalar(5.0), 100));
        state.commit();
        // Not delivered: the next export measures from 5 again, since 200.
        let d = state.deltas(&family(Value::Scalar(7.0)), 100, 300);
        assert_eq!(d[0].0.value, Value::Scalar(2.0));
        state.discard();
        let d = state.deltas(&family(Value::Scalar(12.0)), 100, 400);
        assert_eq!((d[0].0.value.clone(), d[0].1), (Value::Scalar(7.0), 200));
        state.commit();
        // Started over (removed and created again): the value itself.
        let d = state.deltas(&family(Value::Scalar(3.0)), 100, 500);
        assert_eq!((d[0].0.value.clone(), d[0].1), (Value::Scalar(3.0), 400));
        assert_eq!(state.len(), 1);
    }

    fn histogram(buckets: &[(f64, u64)], count: u64, positive: &[(i32, u64)], schema: i8) -> Value {
        Value::Histogram {
            buckets: buckets.to_vec(),
            sum: count as f64,
            count,
            native: Some(Box::new(Native {
                schema,
                zero_threshold: 0.0,
                zero_count: 0,
                positive: positive.to_vec(),
                negative: Vec::new(),
            })),
        }
    }

    #[test]
    fn histograms_subtract_per_bucket_and_across_a_schema_change() {
        let last = histogram(&[(1.0, 2), (f64::INFINITY, 3)], 3, &[(1, 1), (2, 2)], 1);
        let now = histogram(&[(1.0, 4), (f64::INFINITY, 6)], 6, &[(1, 3), (3, 3)], 0);
        // Schema 1 buckets 1 and 2 are schema 0 bucket 1.
        assert_eq!(
            difference(&now, &last),
            histogram(&[(1.0, 2), (f64::INFINITY, 3)], 3, &[(3, 3)], 0)
        );
        let fewer = histogram(&[(1.0, 1), (f64::INFINITY, 1)], 1, &[(1, 1)], 0);
        assert_eq!(difference(&fewer, &last), fewer);
    }
}
