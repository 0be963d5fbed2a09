//! Exemplars: one sample, with labels such as a trace id, kept beside a counter or a histogram
//! bucket and shown in OpenMetrics and protobuf: the rules an exemplar must keep
//! ([`Exemplar::new`]) and the slots a series keeps its latest in ([`ExemplarSlots`]).

use once_cell::race::OnceBox;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{SystemTime, UNIX_EPOCH};

use parking_lot::Mutex;

pub(crate) use crate::exposition::snapshot::Exemplar;

/// The most UTF-8 characters an exemplar's label names and values may hold together, as
/// OpenMetrics says.
pub const MAX_EXEMPLAR_LABEL_CHARS: usize = 128;

/// Exemplars refused (labels too long or names invalid) in this process.
static DROPPED: AtomicU64 = AtomicU64::new(0);

/// How many exemplars this process refused.
pub(crate) fn exemplars_dropped() -> u64 {
    DROPPED.load(Relaxed)
}

impl Exemplar {
    /// An exemplar of `value` with `labels`, now; `None` (and counted) when the labels break
    /// the rules: names as for labels, at most [`MAX_EXEMPLAR_LABEL_CHARS`] characters in all.
    pub(crate) fn new(labels: &[(&str, &str)], value: f64) -> Option<Exemplar> {
        let chars: usize = labels
            .iter()
            .map(|(k, v)| k.chars().count() + v.chars().count())
            .sum();
        let names_ok = labels
            .iter()
            .all(|(k, _)| dynamo_metrics_naming::check_label_name(k).is_ok());
        if chars > MAX_EXEMPLAR_LABEL_CHARS || !names_ok {
            DROPPED.fetch_add(1, Relaxed);
            return None;
        }
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        Some(Exemplar {
            labels: labels
                .iter()
                .map(|(k, v)| (Box::from(*k), Box::from(*v)))
                .collect(),
            value,
            timestamp: (
                i64::try_from(now.as_secs()).unwrap_or(i64::MAX),
                now.subsec_nanos(),
            ),
        })
    }
}

/// Where the latest exemplars of a series are kept: nothing until the first one arrives, so
/// series without exemplars pay one pointer (8 bytes: a `OnceLock` of the slots would take 24).
#[derive(Debug, Default)]
pub(crate) struct ExemplarSlots(OnceBox<Box<[Mutex<Option<Exemplar>>]>>);

impl ExemplarSlots {
    /// Keeps `exemplar` as the latest of slot `i` of `n`.
    pub(crate) fn set(&self, n: usize, i: usize, exemplar: Exemplar) {
        let slots = self
            .0
            .get_or_init(|| Box::new((0..n).map(|_| Mutex::new(None)).collect()));
        if let Some(slot) = slots.get(i) {
            *slot.lock() = Some(exemplar);
        }
    }

    /// Whether any exemplar was ever kept here.
    pub(crate) fn is_set(&self) -> bool {
        self.0.get().is_some()
    }

    /// The latest exemplar of slot `i`, if any.
    pub(crate) fn get(&self, i: usize) -> Option<Exemplar> {
        self.0.get()?.get(i)?.lock().clone()
    }

    /// Every exemplar kept, with its slot.
    pub(crate) fn all(&self) -> Vec<(usize, Exemplar)> {
        self.0
            .get()
            .map(|slots| {
                slots
                    .iter()
                    .enumerate()
                    .filter_map(|(i, s)| s.lock().clone().map(|e| (i, e)))
                    .collect()
            })
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_and_text() {
        let before = DROPPED.load(Relaxed);
        let e = Exemplar::new(&[("trace_id", "4bf92f35")], 0.47).unwrap();
        let mut out = String::new();
        crate::exposition::text::write_exemplar(&mut out, &e);
        assert!(out.starts_with(" # {trace_id=\"4bf92f35\"} 0.47 "), "{out}");
        assert_eq!(out.rsplit('.').next().unwrap().len(), 9);
        let long = "x".repeat(MAX_EXEMPLAR_LABEL_CHARS);
        assert!(Exemplar::new(&[("t", &long)], 1.0).is_none());
        assert!(Exemplar::new(&[("bad name", "x")], 1.0).is_none());
        assert!(Exemplar::new(&[("t", &long[1..])], 1.0).is_some());
        assert_eq!(DROPPED.load(Relaxed) - before, 2);
    }
}
