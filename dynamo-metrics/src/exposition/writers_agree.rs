//! The two text writers agree: a family written from its prepared text and from its snapshot
//! gives the same bytes, in both text formats.

use super::format::Format;
use super::prepared::{
    Header, HistogramReading, HistogramText, LineText, Prepared, Sample, ScalarReading, SeriesText,
    write_family,
};
use super::snapshot::{Exemplar, Kind};
use super::text;
use crate::exposition::snapshot::{SeriesSnapshot, Snapshot, Value};

struct Scalar(Sample, Option<Exemplar>);

impl ScalarReading for Scalar {
    fn sample(&self) -> Sample {
        self.0
    }
    fn exemplar(&self) -> Option<Exemplar> {
        self.1.clone()
    }
}

struct Buckets(Vec<u64>, f64, Option<Exemplar>);

impl HistogramReading for Buckets {
    fn read(&self, counts: &mut Vec<u64>) -> f64 {
        counts.clear();
        counts.extend(&self.0);
        self.1
    }
    fn exemplar(&self, bucket: usize) -> Option<Exemplar> {
        self.2.clone().filter(|_| bucket == 1)
    }
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| (*s).to_owned()).collect()
}

fn exemplar() -> Exemplar {
    Exemplar {
        labels: vec![("trace_id".into(), "a\"b".into())].into(),
        value: 0.25,
        timestamp: (1_700_000_000, 5),
    }
}

fn prepared<R, P: Prepared<R>>(
    format: Format,
    kind: Kind,
    labels: &[String],
    bounds: &[f64],
    series: &[(Vec<String>, R)],
) -> String {
    let header = Header::new("m_total", "Help \"x\"\\", kind);
    let shared = P::shared("m_total", bounds);
    let texts: Vec<(String, String)> = series
        .iter()
        .map(|(v, _)| {
            let v: Vec<&str> = v.iter().map(String::as_str).collect();
            P::texts("m_total", labels, &v, 1)
        })
        .collect();
    let texts = texts.iter().map(|(view, own)| SeriesText { view, own });
    let mut out = String::new();
    write_family::<R, P>(
        &mut out,
        format,
        &header,
        &shared,
        texts.zip(series.iter().map(|(_, r)| r)),
    );
    out
}

/// A series' label values, value and exemplars.
type SeriesOf = (Vec<String>, Value, Vec<(usize, Exemplar)>);

fn from_snapshot(format: Format, kind: Kind, labels: &[String], series: Vec<SeriesOf>) -> String {
    let family = Snapshot {
        name: "m_total".into(),
        help: "Help \"x\"\\".into(),
        kind,
        series: series
            .into_iter()
            .map(|(values, value, exemplars)| SeriesSnapshot {
                labels: labels.iter().cloned().zip(values).collect(),
                value,
                exemplars,
            })
            .collect(),
    };
    let mut out = String::new();
    text::write_snapshot(&mut out, &family, format);
    out
}

#[test]
fn prepared_lines_are_the_snapshot_writers_bytes() {
    let labels = strings(&["ns", "model"]);
    let odd = "q\"\\\n\u{e9}";
    for format in [Format::Text, Format::OpenMetrics] {
        let scalars = vec![
            (
                strings(&["a", "x"]),
                Scalar(Sample::Unsigned(3), Some(exemplar())),
            ),
            (strings(&["a", odd]), Scalar(Sample::Signed(-2), None)),
            (strings(&["b", ""]), Scalar(Sample::Float(0.1), None)),
        ];
        let got = prepared::<_, LineText>(format, Kind::Counter, &labels, &[], &scalars);
        let want = from_snapshot(
            format,
            Kind::Counter,
            &labels,
            scalars
                .iter()
                .map(|(v, s)| {
                    let exemplars = s.1.clone().map(|e| (0, e)).into_iter().collect();
                    (v.clone(), Value::Scalar(s.0.as_f64()), exemplars)
                })
                .collect(),
        );
        assert_eq!(got, want, "{format:?}");

        let bounds = [0.5, 1.0];
        let histograms = vec![
            (
                strings(&["a", odd]),
                Buckets(vec![1, 2, 0], 1.75, Some(exemplar())),
            ),
            (strings(&["b", "y"]), Buckets(vec![0, 0, 4], 40.0, None)),
        ];
        let got =
            prepared::<_, HistogramText>(format, Kind::Histogram, &labels, &bounds, &histograms);
        let want = from_snapshot(
            format,
            Kind::Histogram,
            &labels,
            histograms
                .iter()
                .map(|(v, b)| {
                    let cumulative = [b.0[0], b.0[0] + b.0[1]];
                    let exemplars = b.2.clone().map(|e| (1, e)).into_iter().collect();
                    let value = Value::Histogram {
                        buckets: bounds.iter().copied().zip(cumulative).collect(),
                        sum: b.1,
                        count: b.0.iter().sum(),
                        native: None,
                    };
                    (v.clone(), value, exemplars)
                })
                .collect(),
        );
        assert_eq!(got, want, "{format:?}");
    }
}
