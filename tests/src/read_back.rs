//! Every format we serve read back by an independent reader into one shape, for the property
//! tests to compare: Python's `prometheus_client` parsers (text and OpenMetrics, in one
//! Python process kept for the test run), the official `io.prometheus.client` definitions
//! (`metrics.proto` as `prometheus-client` ships it, compiled by prost) and the official
//! OTLP definitions (`opentelemetry-proto`).

use std::collections::BTreeMap;
use std::io::{BufRead as _, BufReader, Write as _};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::Mutex;

use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
use opentelemetry_proto::tonic::metrics::v1::exemplar::Value as ExemplarNumber;
use opentelemetry_proto::tonic::metrics::v1::metric::Data;
use opentelemetry_proto::tonic::metrics::v1::number_data_point::Value as Number;
use prost::Message as _;

/// Label names to values.
pub type Labels = BTreeMap<String, String>;

/// One sample as the text format would show it: histograms as `_bucket` (cumulative, with
/// `le` written as Rust writes the bound), `_count` and `_sum`.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// The sample's name (`_total`, `_bucket`, `_count` and `_sum` included).
    pub name: String,
    /// Its labels, empty values left out.
    pub labels: Labels,
    /// Its value.
    pub value: f64,
}

/// An exemplar, by the series it belongs to (labels without `le`).
#[derive(Debug, Clone, PartialEq, PartialOrd)]
pub struct Exemplar {
    /// The family: the sample name without `_bucket`.
    pub family: String,
    /// The series' labels.
    pub labels: Labels,
    /// The exemplar's own labels.
    pub exemplar: Labels,
    /// The exemplar's value.
    pub value: f64,
}

/// A native histogram's buckets: the schema, the zero bucket's count, and counts by bucket
/// key (Prometheus keys: bucket `k` ends at `base^k`) on each side of zero.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Native {
    /// The schema (OTLP's scale).
    pub schema: i32,
    /// Observations in the zero bucket.
    pub zero_count: u64,
    /// Counts above zero, by key.
    pub positive: BTreeMap<i32, u64>,
    /// Counts below zero, by key.
    pub negative: BTreeMap<i32, u64>,
}

/// What a reader made of one exposition.
#[derive(Debug, Default)]
pub struct ReadBack {
    /// Every sample.
    pub samples: Vec<Sample>,
    /// Every exemplar.
    pub exemplars: Vec<Exemplar>,
    /// Native buckets by family and labels.
    pub native: BTreeMap<(String, Labels), Native>,
}

/// A histogram bound as a label value, the same whichever format it came from (zero's sign
/// says nothing of a bound: `v <= -0.0` exactly when `v <= 0.0`).
pub fn le(bound: f64) -> String {
    if bound == 0.0 {
        "0.0".to_owned()
    } else if bound == f64::INFINITY {
        "+Inf".to_owned()
    } else {
        format!("{bound:?}")
    }
}

const PYTHON_READER: &str = r#"
import json, sys
from prometheus_client.parser import text_string_to_metric_families as text_parse
from prometheus_client.openmetrics.parser import text_string_to_metric_families as om_parse
for line in sys.stdin:
    request = json.loads(line)
    try:
        parse = om_parse if request["format"] == "openmetrics" else text_parse
        out = []
        for family in parse(request["body"]):
            for s in family.samples:
                e = s.exemplar
                exemplar = {"labels": e.labels, "value": repr(float(e.value))} if e else None
                out.append([s.name, s.labels, repr(float(s.value)), exemplar])
        print(json.dumps({"samples": out}), flush=True)
    except Exception as error:
        print(json.dumps({"error": repr(error)}), flush=True)
"#;

/// The Python reader, started at first use and kept for the test binary's run.
static PYTHON: Mutex<Option<(Child, ChildStdin, BufReader<ChildStdout>)>> = Mutex::new(None);

/// Reads `body` with Python's `prometheus_client` parser of `format` (`text` or
/// `openmetrics`).
///
/// # Panics
/// When Python or the package is missing, or the parser refuses the text: this is test code.
pub fn python(format: &str, body: &str) -> ReadBack {
    let mut python = PYTHON
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let (_, stdin, stdout) = python.get_or_insert_with(|| {
        let mut child = Command::new("python3")
            .args(["-c", PYTHON_READER])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3 with prometheus_client (.ci/run installs it)");
        let stdin = child.stdin.take().expect("a pipe");
        let stdout = BufReader::new(child.stdout.take().expect("a pipe"));
        (child, stdin, stdout)
    });
    let request = serde_json::json!({"format": format, "body": body});
    writeln!(stdin, "{request}").expect("the reader reads");
    let mut line = String::new();
    stdout.read_line(&mut line).expect("the reader answers");
    let answer: serde_json::Value = serde_json::from_str(&line).expect("JSON");
    if let Some(error) = answer.get("error") {
        panic!("Python's {format} parser refused the page: {error}\n{body}");
    }
    let number = |v: &serde_json::Value| {
        v.as_str()
            .and_then(|s| s.parse::<f64>().ok())
            .expect("a repr")
    };
    let labels =
        |v: &serde_json::Value| -> Labels { serde_json::from_value(v.clone()).expect("labels") };
    let mut read = ReadBack::default();
    for s in answer["samples"].as_array().expect("samples") {
        let mut sample = Sample {
            name: s[0].as_str().expect("a name").to_owned(),
            labels: labels(&s[1]),
            value: number(&s[2]),
        };
        if let Some(bound) = sample.labels.get_mut("le") {
            *bound = le(bound.parse().expect("a bound"));
        }
        if !s[3].is_null() {
            let mut series = sample.labels.clone();
            series.remove("le");
            read.exemplars.push(Exemplar {
                family: family_of(&sample.name),
                labels: series,
                exemplar: labels(&s[3]["labels"]),
                value: number(&s[3]["value"]),
            });
        }
        read.samples.push(sample);
    }
    read
}

/// The family a sample name belongs to, for exemplars (histogram samples lose their suffix).
fn family_of(sample: &str) -> String {
    sample.strip_suffix("_bucket").unwrap_or(sample).to_owned()
}

/// Reads length-delimited `io.prometheus.client.MetricFamily` messages with the official
/// definitions.
///
/// # Panics
/// When the bytes are not such messages: this is test code.
pub fn protobuf(mut bytes: &[u8]) -> ReadBack {
    use prometheus_client::encoding::prometheus_protobuf::prometheus_data_model as pb;
    let mut read = ReadBack::default();
    while !bytes.is_empty() {
        let family = pb::MetricFamily::decode_length_delimited(&mut bytes).expect("a MetricFamily");
        for metric in &family.metric {
            let labels: Labels = metric
                .label
                .iter()
                .map(|l| (l.name.clone(), l.value.clone()))
                .collect();
            let mut add = |name: String, labels: &Labels, value: f64| {
                read.samples.push(Sample {
                    name,
                    labels: labels.clone(),
                    value,
                });
            };
            let exemplar = |e: &Option<pb::Exemplar>, read_exemplars: &mut Vec<Exemplar>| {
                if let Some(e) = e {
                    read_exemplars.push(Exemplar {
                        family: family.name.clone(),
                        labels: labels.clone(),
                        exemplar: e
                            .label
                            .iter()
                            .map(|l| (l.name.clone(), l.value.clone()))
                            .collect(),
                        value: e.value,
                    });
                }
            };
            let mut exemplars = Vec::new();
            if let Some(c) = &metric.counter {
                add(family.name.clone(), &labels, c.value);
                exemplar(&c.exemplar, &mut exemplars);
            } else if let Some(g) = &metric.gauge {
                add(family.name.clone(), &labels, g.value);
            } else if let Some(u) = &metric.untyped {
                add(family.name.clone(), &labels, u.value);
            } else if let Some(h) = &metric.histogram {
                let mut inf = false;
                for b in &h.bucket {
                    let mut with_le = labels.clone();
                    with_le.insert("le".into(), le(b.upper_bound));
                    inf |= b.upper_bound == f64::INFINITY;
                    #[allow(clippy::cast_precision_loss)]
                    add(
                        format!("{}_bucket", family.name),
                        &with_le,
                        b.cumulative_count as f64,
                    );
                    exemplar(&b.exemplar, &mut exemplars);
                }
                #[allow(clippy::cast_precision_loss)]
                let count = h.sample_count as f64;
                if !inf && !h.bucket.is_empty() {
                    let mut with_le = labels.clone();
                    with_le.insert("le".into(), le(f64::INFINITY));
                    add(format!("{}_bucket", family.name), &with_le, count);
                }
                add(format!("{}_count", family.name), &labels, count);
                add(format!("{}_sum", family.name), &labels, h.sample_sum);
                for e in &h.exemplars {
                    exemplar(&Some(e.clone()), &mut exemplars);
                }
                if !h.positive_span.is_empty() || !h.negative_span.is_empty() || h.zero_count > 0 {
                    let side = |spans: &[pb::BucketSpan], deltas: &[i64]| {
                        let mut counts = BTreeMap::new();
                        let (mut key, mut count, mut deltas) = (0i32, 0i64, deltas.iter());
                        for span in spans {
                            key += span.offset;
                            for _ in 0..span.length {
                                count += deltas.next().expect("a delta per bucket");
                                if count != 0 {
                                    counts.insert(key, u64::try_from(count).expect("a count"));
                                }
                                key += 1;
                            }
                        }
                        counts
                    };
                    read.native.insert(
                        (family.name.clone(), labels.clone()),
                        Native {
                            schema: h.schema,
                            zero_count: h.zero_count,
                            positive: side(&h.positive_span, &h.positive_delta),
                            negative: side(&h.negative_span, &h.negative_delta),
                        },
                    );
                }
            }
            read.exemplars.append(&mut exemplars);
        }
    }
    read
}

/// Reads an OTLP `ExportMetricsServiceRequest` with the official definitions, into the
/// samples a scrape of the same series shows (explicit-bucket histograms cumulated again).
///
/// # Panics
/// When the bytes are not such a request: this is test code.
pub fn otlp(bytes: &[u8]) -> ReadBack {
    let request = ExportMetricsServiceRequest::decode(bytes).expect("an OTLP request");
    let attributes = |kvs: &[KeyValue]| -> Labels {
        kvs.iter()
            .map(|kv| {
                let value = match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
                    Some(AnyValue::StringValue(s)) => s.clone(),
                    other => panic!("a string attribute, not {other:?}"),
                };
                (kv.key.clone(), value)
            })
            .collect()
    };
    let number = |v: Option<Number>| match v {
        Some(Number::AsDouble(d)) => d,
        #[allow(clippy::cast_precision_loss)]
        Some(Number::AsInt(i)) => i as f64,
        None => panic!("a point without a value"),
    };
    let mut read = ReadBack::default();
    let metrics = request
        .resource_metrics
        .iter()
        .flat_map(|r| &r.scope_metrics)
        .flat_map(|s| &s.metrics);
    for metric in metrics {
        let name = &metric.name;
        let mut exemplar =
            |labels: &Labels, e: &opentelemetry_proto::tonic::metrics::v1::Exemplar| {
                read.exemplars.push(Exemplar {
                    family: name.clone(),
                    labels: labels.clone(),
                    exemplar: {
                        // W3C ids travel as bytes: back to the hex labels a scrape shows.
                        let mut labels = attributes(&e.filtered_attributes);
                        for (name, id) in [("trace_id", &e.trace_id), ("span_id", &e.span_id)] {
                            if !id.is_empty() {
                                let hex = id.iter().map(|b| format!("{b:02x}")).collect();
                                labels.insert(name.to_owned(), hex);
                            }
                        }
                        labels
                    },
                    value: match e.value {
                        Some(ExemplarNumber::AsDouble(d)) => d,
                        #[allow(clippy::cast_precision_loss)]
                        Some(ExemplarNumber::AsInt(i)) => i as f64,
                        None => panic!("an exemplar without a value"),
                    },
                });
            };
        match &metric.data {
            Some(Data::Sum(opentelemetry_proto::tonic::metrics::v1::Sum {
                data_points, ..
            }))
            | Some(Data::Gauge(opentelemetry_proto::tonic::metrics::v1::Gauge {
                data_points,
                ..
            })) => {
                for p in data_points {
                    let labels = attributes(&p.attributes);
                    p.exemplars.iter().for_each(|e| exemplar(&labels, e));
                    read.samples.push(Sample {
                        name: name.clone(),
                        labels,
                        value: number(p.value),
                    });
                }
            }
            Some(Data::Histogram(h)) => {
                for p in &h.data_points {
                    let labels = attributes(&p.attributes);
                    p.exemplars.iter().for_each(|e| exemplar(&labels, e));
                    let bounds = p.explicit_bounds.iter().copied().chain([f64::INFINITY]);
                    let mut cumulative = 0u64;
                    for (bound, count) in bounds.zip(&p.bucket_counts) {
                        cumulative += count;
                        let mut with_le = labels.clone();
                        with_le.insert("le".into(), le(bound));
                        #[allow(clippy::cast_precision_loss)]
                        read.samples.push(Sample {
                            name: format!("{name}_bucket"),
                            labels: with_le,
                            value: cumulative as f64,
                        });
                    }
                    totals(&mut read.samples, name, &labels, p.count, p.sum);
                }
            }
            Some(Data::ExponentialHistogram(h)) => {
                for p in &h.data_points {
                    let labels = attributes(&p.attributes);
                    p.exemplars.iter().for_each(|e| exemplar(&labels, e));
                    totals(&mut read.samples, name, &labels, p.count, p.sum);
                    // OTLP's index `i` covers (base^i, base^(i+1)]: Prometheus key i + 1.
                    let side = |b: &Option<opentelemetry_proto::tonic::metrics::v1::exponential_histogram_data_point::Buckets>| {
                        let mut counts = BTreeMap::new();
                        if let Some(b) = b {
                            for (i, count) in b.bucket_counts.iter().enumerate() {
                                if *count > 0 {
                                    let i = i32::try_from(i).expect("an index");
                                    counts.insert(b.offset + i + 1, *count);
                                }
                            }
                        }
                        counts
                    };
                    read.native.insert(
                        (name.clone(), labels),
                        Native {
                            schema: p.scale,
                            zero_count: p.zero_count,
                            positive: side(&p.positive),
                            negative: side(&p.negative),
                        },
                    );
                }
            }
            other => panic!("{name}: no reading of {other:?}"),
        }
    }
    read
}

/// A histogram point's `_count` and `_sum` samples.
fn totals(samples: &mut Vec<Sample>, name: &str, labels: &Labels, count: u64, sum: Option<f64>) {
    #[allow(clippy::cast_precision_loss)]
    let count = count as f64;
    samples.push(Sample {
        name: format!("{name}_count"),
        labels: labels.clone(),
        value: count,
    });
    samples.push(Sample {
        name: format!("{name}_sum"),
        labels: labels.clone(),
        value: sum.expect("a sum"),
    });
}
