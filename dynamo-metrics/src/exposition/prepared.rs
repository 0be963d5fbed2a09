//! Text prepared once per family and once per series, so that a scrape writes each sample line
//! of our own families as a copy and a number: the fast path of both text formats. See
//! [`Prepared`] for details.
//!
//! A metric type hands over only what it reads now, through [`ScalarReading`] or
//! [`HistogramReading`]; the lines are this module's. They are the bytes
//! [`write_snapshot`](super::text::write_snapshot) writes for the same family (tested in
//! `writers_agree`).

use super::format::Format;
use super::snapshot::{Exemplar, Kind};
use super::text;

/// A counter's or gauge's value as its cell reads it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Sample {
    Unsigned(u64),
    Signed(i64),
    Float(f64),
}

impl Sample {
    /// The value as a float, as the model and protobuf carry it.
    #[allow(clippy::cast_precision_loss)] // what every Prometheus format does with integers
    pub(crate) fn as_f64(self) -> f64 {
        match self {
            Sample::Unsigned(v) => v as f64,
            Sample::Signed(v) => v as f64,
            Sample::Float(v) => v,
        }
    }

    #[inline]
    fn write(self, out: &mut String) {
        match self {
            Sample::Unsigned(v) => text::write_u64(out, v),
            Sample::Signed(v) => text::write_i64(out, v),
            Sample::Float(v) => text::write_f64(out, v),
        }
    }
}

/// What the writer reads of a counter or gauge series.
pub(crate) trait ScalarReading {
    /// The value now.
    fn sample(&self) -> Sample;
    /// The latest exemplar, if any.
    fn exemplar(&self) -> Option<Exemplar>;
}

/// What the writer reads of a histogram series.
pub(crate) trait HistogramReading {
    /// Fills `counts` (cleared first) with the observations per classic bucket, not
    /// cumulative, `+Inf` last; returns their sum.
    fn read(&self, counts: &mut Vec<u64>) -> f64;
    /// The latest exemplar of classic bucket `bucket`, if any.
    fn exemplar(&self, bucket: usize) -> Option<Exemplar>;
}

/// The text of one series as a render reads it: the part every series of its view shares,
/// then its own (see [`Prepared::write_texts`]).
#[derive(Clone, Copy, Debug)]
pub(crate) struct SeriesText<'a> {
    pub(crate) view: &'a str,
    pub(crate) own: &'a str,
}

/// How the series whose cells read as `R` are written: the text prepared when a series is
/// created, the text every series of its family shares, and the lines a render writes.
pub(crate) trait Prepared<R: ?Sized>: 'static {
    /// The text of the family, made once with it.
    type Shared: Send + Sync;

    /// The family's text: `bounds` are a histogram's classic bucket bounds (without `+Inf`).
    fn shared(name: &str, bounds: &[f64]) -> Self::Shared;

    /// Appends to `out` (empty) the text of the series with `labels` set to `values`, the
    /// first `fixed` of them its view's, and returns where the part every series of the view
    /// shares (kept once for them all) ends and the series' own begins.
    fn write_texts<'v>(
        name: &str,
        labels: &'v [String],
        values: impl Iterator<Item = &'v str> + Clone,
        fixed: usize,
        out: &mut String,
    ) -> usize;

    /// [`write_texts`](Self::write_texts) as two strings: the view's part and the series'.
    #[cfg(test)]
    fn texts(name: &str, labels: &[String], values: &[&str], fixed: usize) -> (String, String) {
        let mut line = String::new();
        let at = Self::write_texts(name, labels, values.iter().copied(), fixed, &mut line);
        let own = line.split_off(at);
        (line, own)
    }

    /// Appends the series' sample lines, with exemplars when `OPENMETRICS`; `scratch` is a
    /// buffer the caller reuses between series.
    fn write<const OPENMETRICS: bool>(
        shared: &Self::Shared,
        series: SeriesText<'_>,
        reading: &R,
        scratch: &mut Vec<u64>,
        out: &mut String,
    );
}

/// The metadata lines of a family in both text formats, written once.
pub(crate) struct Header {
    text: Box<str>,
    openmetrics: Box<str>,
}

impl Header {
    pub(crate) fn new(name: &str, help: &str, kind: Kind) -> Self {
        let mut text = String::new();
        text::write_header(&mut text, name, help, kind, Format::Text);
        let mut openmetrics = String::new();
        text::write_header(&mut openmetrics, name, help, kind, Format::OpenMetrics);
        Header {
            text: text.into(),
            openmetrics: openmetrics.into(),
        }
    }
}

/// Appends a family of prepared series in `format` (text 0.0.4 or OpenMetrics): its header,
/// then each series' lines. Nothing when it has no series.
pub(crate) fn write_family<'a, R: 'a, P: Prepared<R>>(
    out: &mut String,
    format: Format,
    header: &Header,
    shared: &P::Shared,
    series: impl Iterator<Item = (SeriesText<'a>, &'a R)>,
) {
    let mut series = series.peekable();
    if series.peek().is_none() {
        return;
    }
    let mut scratch = Vec::new();
    if format == Format::OpenMetrics {
        out.push_str(&header.openmetrics);
        for (text, reading) in series {
            P::write::<true>(shared, text, reading, &mut scratch, out);
        }
    } else {
        out.push_str(&header.text);
        for (text, reading) in series {
            P::write::<false>(shared, text, reading, &mut scratch, out);
        }
    }
}

/// A counter's or gauge's sample line up to its value, in two parts: the name and the labels
/// of the series' view (its fixed values), which every series of the view shares, then the
/// rest. A render copies the shared part from one place, and each series keeps only its
/// own labels.
pub(crate) enum LineText {}

impl SeriesText<'_> {
    #[inline]
    fn write_prefix(self, out: &mut String) {
        out.push_str(self.view);
        out.push_str(self.own);
    }
}

impl<R: ScalarReading> Prepared<R> for LineText {
    type Shared = ();

    fn shared(_: &str, _: &[f64]) {}

    fn write_texts<'v>(
        name: &str,
        labels: &'v [String],
        values: impl Iterator<Item = &'v str> + Clone,
        fixed: usize,
        out: &mut String,
    ) -> usize {
        text::write_series_prefix(out, name, "", pairs_of(labels, values.clone()), None);
        // The view's line after the series', in the same buffer, then cut off again.
        let line_len = out.len();
        let view_values = values.take(fixed);
        text::write_series_prefix(out, name, "", pairs_of(labels, view_values), None);
        let (line, view) = out.split_at(line_len);
        // Both start with the name and the view's labels; they part where the view's line
        // ends and the series' goes on with its own labels (or, where those are all empty
        // and not written, closes).
        let view_end = view.strip_suffix("} ").map_or(view.len(), str::len);
        let mut at = line
            .bytes()
            .zip(view.bytes())
            .take_while(|(a, b)| a == b)
            .count()
            .min(view_end);
        while !line.is_char_boundary(at) {
            at -= 1;
        }
        out.truncate(line_len);
        at
    }

    #[inline]
    fn write<const OPENMETRICS: bool>(
        _: &(),
        series: SeriesText<'_>,
        reading: &R,
        _: &mut Vec<u64>,
        out: &mut String,
    ) {
        // Read before the text is copied, so that the read overlaps the copy.
        let v = reading.sample();
        series.write_prefix(out);
        v.write(out);
        if OPENMETRICS && let Some(e) = reading.exemplar() {
            text::write_exemplar(out, &e);
        }
        out.push('\n');
    }
}

/// Label names zipped with values.
fn pairs_of<'a, I: Iterator<Item = &'a str> + Clone>(
    labels: &'a [String],
    values: I,
) -> impl Iterator<Item = (&'a str, &'a str)> + Clone {
    labels.iter().map(String::as_str).zip(values)
}

/// A histogram series' text: the start of its bucket lines, `name_bucket{k="v",k2="v2",`
/// (escaped; `name_bucket{` without labels), all of it the series' own. The rest is the
/// family's [`HistogramLines`].
pub(crate) enum HistogramText {}

/// The parts of a histogram family's sample lines that every series shares.
pub(crate) struct HistogramLines {
    /// The length of `name_bucket{`.
    bucket: usize,
    /// `le="0.005"} ` for each bound, then `le="+Inf"} `.
    les: Box<[Box<str>]>,
    /// `name_sum`.
    sum: Box<str>,
    /// `name_count`.
    count: Box<str>,
    /// Whether a bound is below zero (see [`text::openmetrics_totals`]).
    negative_bound: bool,
}

impl HistogramLines {
    /// Appends the start of bucket line `i` of the series whose text is `bucket`, up to the
    /// value.
    #[inline]
    fn bucket(&self, bucket: &str, out: &mut String, i: usize) {
        out.push_str(bucket);
        out.push_str(&self.les[i]);
    }

    /// Appends the start of the `_sum` or `_count` line named `name` of the series whose
    /// text is `bucket`, up to the value.
    #[inline]
    fn total(&self, bucket: &str, out: &mut String, name: &str) {
        out.push_str(name);
        if let Some(labels) = bucket.get(self.bucket..).and_then(|l| l.strip_suffix(',')) {
            out.push('{');
            out.push_str(labels);
            out.push('}');
        }
        out.push(' ');
    }
}

impl<R: HistogramReading> Prepared<R> for HistogramText {
    type Shared = HistogramLines;

    fn shared(name: &str, bounds: &[f64]) -> HistogramLines {
        let les = bounds
            .iter()
            .map(|b| text::format_bound(*b))
            .chain(["+Inf".to_owned()])
            .map(|le| format!("le=\"{le}\"}} ").into_boxed_str())
            .collect();
        HistogramLines {
            bucket: name.len() + "_bucket{".len(),
            les,
            sum: format!("{name}_sum").into_boxed_str(),
            count: format!("{name}_count").into_boxed_str(),
            negative_bound: bounds.iter().any(|b| *b < 0.0),
        }
    }

    fn write_texts<'v>(
        name: &str,
        labels: &'v [String],
        values: impl Iterator<Item = &'v str> + Clone,
        _: usize,
        out: &mut String,
    ) -> usize {
        out.push_str(name);
        out.push_str("_bucket{");
        let before = out.len();
        text::write_label_pairs(out, pairs_of(labels, values));
        if out.len() > before {
            out.push(',');
        }
        0
    }

    fn write<const OPENMETRICS: bool>(
        lines: &HistogramLines,
        series: SeriesText<'_>,
        reading: &R,
        counts: &mut Vec<u64>,
        out: &mut String,
    ) {
        let bucket = series.own;
        let sum = reading.read(counts);
        let mut cumulative = 0u64;
        for (i, count) in counts.iter().enumerate() {
            cumulative += count;
            lines.bucket(bucket, out, i);
            text::write_u64(out, cumulative);
            if OPENMETRICS && let Some(e) = reading.exemplar(i) {
                text::write_exemplar(out, &e);
            }
            out.push('\n');
        }
        if !OPENMETRICS || text::openmetrics_totals(sum, lines.negative_bound) {
            lines.total(bucket, out, &lines.sum);
            text::write_f64(out, sum);
            out.push('\n');
            lines.total(bucket, out, &lines.count);
            text::write_u64(out, cumulative);
            out.push('\n');
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A counter that reads nothing: the text alone is tested here.
    struct Scalar;

    impl ScalarReading for Scalar {
        fn sample(&self) -> Sample {
            Sample::Unsigned(0)
        }
        fn exemplar(&self) -> Option<Exemplar> {
            None
        }
    }

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn a_line_is_its_views_text_then_its_own() {
        let labels = strings(&["ns", "ep", "id"]);
        let full = |values: &[&str]| {
            let mut line = String::new();
            text::write_series_prefix(
                &mut line,
                "c_total",
                "",
                pairs_of(&labels, values.iter().copied()),
                None,
            );
            line
        };
        let line = |values: &[&str], fixed: usize| {
            <LineText as Prepared<Scalar>>::texts("c_total", &labels, values, fixed)
        };
        let write = |(view, own): &(String, String)| {
            let mut out = String::new();
            SeriesText { view, own }.write_prefix(&mut out);
            out
        };
        let values = |v: [&'static str; 3]| v;
        let first = values(["a", "e\u{e9}", "1"]);
        let a = line(&first, 2);
        assert_eq!(write(&a), full(&first));
        assert_eq!(a.0, "c_total{ns=\"a\",ep=\"e\u{e9}\"");
        // The same view: the same first part, whatever the series' own values.
        for own in ["2", "", "q\"\\\n", "\u{e9}\u{e9}"] {
            let v = values(["a", "e\u{e9}", own]);
            let b = line(&v, 2);
            assert_eq!(write(&b), full(&v));
            assert_eq!(a.0, b.0, "{own}");
        }
        // Another view (even one whose values start the same) has another.
        for other in [
            ["a", "e", "1"],
            ["a", "e\u{e9}\u{e9}", "1"],
            ["b", "e\u{e9}", "1"],
        ] {
            let v = values(other);
            let c = line(&v, 2);
            assert_eq!(write(&c), full(&v));
            assert_ne!(a.0, c.0, "{other:?}");
        }
        // Every value the view's, and no label at all.
        let v = values(["a", "e", "1"]);
        assert_eq!(write(&line(&v, 3)), full(&v));
        let bare = <LineText as Prepared<Scalar>>::texts("c_total", &[], &[], 0);
        assert_eq!(write(&bare), "c_total ");
    }
}
