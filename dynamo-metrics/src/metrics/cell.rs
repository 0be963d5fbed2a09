//! The atomic values behind every series. See [`Cell`] for details.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};

use dynamo_metrics_naming::MetricKind;

use super::exemplar::{Exemplar, Slots};
use super::meta::Meta;
use super::striped::{Striped, Word};
use crate::snapshot::Value;
use crate::text;

/// The value of one series: an atomic, and how to render and export it.
pub(crate) trait Cell: Send + Sync + Sized + 'static {
    /// The family type this cell belongs to.
    const KIND: MetricKind;
    /// The Rust type of the value, to tell integer and float families apart in messages.
    const VALUE: &'static str;
    /// The series text rendered once at creation: everything of a sample line but the value.
    type Text: Send + Sync;

    /// A cell at zero; `striped` asks for one slot per thread that updates it (see
    /// [`Striped`]): integer counters and gauges and histograms have them, float counters
    /// and gauges ignore it.
    fn new(meta: &Meta, striped: bool) -> Self;
    /// The text every series of a family shares, made once with the family.
    type Shared: Send + Sync;

    fn shared(meta: &Meta) -> Self::Shared;
    /// The text of the series with label values `values`, of which the first `fixed` are
    /// its view's; `near` are texts of other series, to share with where they agree.
    fn text<'a>(
        meta: &Meta,
        values: &[String],
        fixed: usize,
        near: impl Iterator<Item = &'a Self::Text>,
    ) -> Self::Text
    where
        Self::Text: 'a;
    fn render(&self, shared: &Self::Shared, text: &Self::Text, out: &mut String);
    /// As [`render`](Self::render), in OpenMetrics: with exemplars where there are some.
    fn render_openmetrics(&self, shared: &Self::Shared, text: &Self::Text, out: &mut String) {
        self.render(shared, text, out);
    }
    /// The value of a counter or gauge without exemplars; `None` for other cells.
    fn scalar(&self) -> Option<f64> {
        None
    }
    /// The exemplars kept, by slot (0 for a counter, the bucket for a histogram).
    fn exemplars(&self) -> Vec<(usize, Exemplar)> {
        Vec::new()
    }
    /// The current value, for snapshots.
    fn value(&self) -> Value;
    /// Whether the value has one slot per thread.
    fn striped(&self) -> bool {
        false
    }
    /// Moves everything recorded here into `other`, leaving this cell at zero.
    fn drain_into(&self, other: &Self);
}

/// An `f64` stored as bits in an `AtomicU64`; additions are one compare-and-swap loop.
#[derive(Debug, Default)]
pub(crate) struct AtomicF64(AtomicU64);

impl AtomicF64 {
    #[inline]
    pub(crate) fn get(&self) -> f64 {
        f64::from_bits(self.0.load(Relaxed))
    }

    #[inline]
    pub(crate) fn set(&self, v: f64) {
        self.0.store(v.to_bits(), Relaxed);
    }

    /// Takes the value, leaving zero.
    pub(crate) fn take(&self) -> f64 {
        f64::from_bits(self.0.swap(0f64.to_bits(), Relaxed))
    }

    #[inline]
    pub(crate) fn add(&self, v: f64) {
        let mut old = self.0.load(Relaxed);
        loop {
            let new = (f64::from_bits(old) + v).to_bits();
            match self.0.compare_exchange_weak(old, new, Relaxed, Relaxed) {
                Ok(_) => return,
                Err(seen) => old = seen,
            }
        }
    }
}

/// A counter's or gauge's sample line up to its value, in two parts: the name and the labels
/// of the series' view (its fixed values), which every series of the view shares, then the
/// rest. A render copies the shared part from one place, and each series keeps only its
/// own labels.
pub(crate) struct LineText {
    shared: Arc<str>,
    own: Box<str>,
}

impl LineText {
    /// The text of the series with `values`, the first `fixed` of them its view's; it
    /// shares the first part with any of `near` whose first part is the same.
    fn new<'a>(
        meta: &Meta,
        values: &[String],
        fixed: usize,
        mut near: impl Iterator<Item = &'a LineText>,
    ) -> LineText {
        let mut line = String::new();
        text::write_series_prefix(&mut line, &meta.name, "", meta.pairs(values), None);
        let mut view = String::new();
        text::write_series_prefix(
            &mut view,
            &meta.name,
            "",
            meta.pairs(&values[..fixed.min(values.len())]),
            None,
        );
        // Both start with the name and the view's labels; they part where the view's line
        // ends and the series' goes on with its own labels.
        let mut at = line
            .bytes()
            .zip(view.bytes())
            .take_while(|(a, b)| a == b)
            .count();
        while !line.is_char_boundary(at) {
            at -= 1;
        }
        let (first, own) = line.split_at(at);
        let shared = near
            .find(|t| &*t.shared == first)
            .map_or_else(|| Arc::from(first), |t| t.shared.clone());
        LineText {
            shared,
            own: own.into(),
        }
    }

    #[inline]
    fn write(&self, out: &mut String) {
        out.push_str(&self.shared);
        out.push_str(&self.own);
    }
}

/// Defines a cell over one atomic, with its kind, render and export.
macro_rules! simple_cell {
    ($cell:ident, $atomic:ty, $value:literal, $kind:ident, $write:path, $new:expr) => {
        #[derive(Debug, Default)]
        pub(crate) struct $cell(pub(crate) $atomic, pub(crate) Slots);

        impl Cell for $cell {
            const KIND: MetricKind = MetricKind::$kind;
            const VALUE: &'static str = $value;
            type Text = LineText;
            type Shared = ();

            fn new(_: &Meta, striped: bool) -> Self {
                $cell($new(striped), Slots::default())
            }

            fn shared(_: &Meta) {}

            fn text<'a>(
                meta: &Meta,
                values: &[String],
                fixed: usize,
                near: impl Iterator<Item = &'a LineText>,
            ) -> LineText {
                LineText::new(meta, values, fixed, near)
            }

            #[inline]
            fn render(&self, _: &(), text: &LineText, out: &mut String) {
                // Read before the text is copied, so that the read overlaps the copy.
                let v = self.0.get_value();
                text.write(out);
                $write(out, v);
                out.push('\n');
            }

            fn render_openmetrics(&self, _: &(), text: &LineText, out: &mut String) {
                let v = self.0.get_value();
                text.write(out);
                $write(out, v);
                if let Some(e) = self.1.get(0) {
                    e.write_openmetrics(out);
                }
                out.push('\n');
            }

            fn exemplars(&self) -> Vec<(usize, Exemplar)> {
                self.1.all()
            }

            #[inline]
            fn scalar(&self) -> Option<f64> {
                (!self.1.is_set()).then(|| self.0.get_value() as f64)
            }

            fn value(&self) -> Value {
                Value::Scalar(self.0.get_value() as f64)
            }

            fn striped(&self) -> bool {
                self.0.striped()
            }

            fn drain_into(&self, other: &Self) {
                other.0.add_value(self.0.take_value());
            }
        }
    };
}

/// One way to read every atomic the cells use.
pub(crate) trait GetValue {
    type Value;
    fn get_value(&self) -> Self::Value;
    fn take_value(&self) -> Self::Value;
    fn add_value(&self, v: Self::Value);
    fn striped(&self) -> bool {
        false
    }
}

impl<A: Word> GetValue for Striped<A> {
    type Value = A::Value;
    fn get_value(&self) -> A::Value {
        self.load(Relaxed)
    }
    fn take_value(&self) -> A::Value {
        self.swap_zero(Relaxed)
    }
    fn add_value(&self, v: A::Value) {
        self.add(v, Relaxed, self.is_striped());
    }
    fn striped(&self) -> bool {
        self.is_striped()
    }
}

impl GetValue for AtomicF64 {
    type Value = f64;
    fn get_value(&self) -> f64 {
        self.get()
    }
    fn take_value(&self) -> f64 {
        self.take()
    }
    fn add_value(&self, v: f64) {
        self.add(v);
    }
}

simple_cell!(
    IntCounterCell,
    Striped<AtomicU64>,
    "u64",
    Counter,
    text::write_u64,
    Striped::new
);
simple_cell!(
    CounterCell,
    AtomicF64,
    "f64",
    Counter,
    text::write_f64,
    |_| AtomicF64::default()
);
simple_cell!(
    IntGaugeCell,
    Striped<AtomicI64>,
    "i64",
    Gauge,
    text::write_i64,
    Striped::new
);
simple_cell!(GaugeCell, AtomicF64, "f64", Gauge, text::write_f64, |_| {
    AtomicF64::default()
});

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_is_its_views_text_then_its_own() {
        let meta = Meta {
            name: "c_total".into(),
            help: "c".into(),
            kind: MetricKind::Counter,
            value_type: "u64",
            labels: ["ns", "ep", "id"].map(String::from).into(),
            hierarchy: 2,
            native: None,
            buckets: None,
            declared_at: String::new(),
        };
        let full = |values: &[String]| {
            let mut line = String::new();
            text::write_series_prefix(&mut line, &meta.name, "", meta.pairs(values), None);
            line
        };
        let values = |v: [&str; 3]| v.map(String::from);
        let write = |t: &LineText| {
            let mut out = String::new();
            t.write(&mut out);
            out
        };
        let first = values(["a", "e\u{e9}", "1"]);
        let a = LineText::new(&meta, &first, 2, std::iter::empty());
        assert_eq!(write(&a), full(&first));
        assert_eq!(&*a.shared, "c_total{ns=\"a\",ep=\"e\u{e9}\"");
        // The same view: the first part is shared, whatever the series' own values.
        for own in ["2", "", "q\"\\\n", "\u{e9}\u{e9}"] {
            let v = values(["a", "e\u{e9}", own]);
            let b = LineText::new(&meta, &v, 2, [&a].into_iter());
            assert_eq!(write(&b), full(&v));
            assert!(Arc::ptr_eq(&a.shared, &b.shared), "{own}");
        }
        // Another view (even one whose values start the same) shares nothing.
        for other in [
            ["a", "e", "1"],
            ["a", "e\u{e9}\u{e9}", "1"],
            ["b", "e\u{e9}", "1"],
        ] {
            let v = values(other);
            let c = LineText::new(&meta, &v, 2, [&a].into_iter());
            assert_eq!(write(&c), full(&v));
            assert!(!Arc::ptr_eq(&a.shared, &c.shared), "{other:?}");
        }
        // Every value the view's, and no label at all.
        let v = values(["a", "e", "1"]);
        assert_eq!(
            write(&LineText::new(&meta, &v, 3, std::iter::empty())),
            full(&v)
        );
        let bare = Meta {
            labels: Box::default(),
            hierarchy: 0,
            ..meta
        };
        let t = LineText::new(&bare, &[], 0, std::iter::empty());
        assert_eq!(write(&t), "c_total ");
    }
}
