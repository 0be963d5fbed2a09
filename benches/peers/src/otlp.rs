//! OTLP beside the OpenTelemetry Rust SDK (`opentelemetry_sdk`, the export path of
//! `opentelemetry-otlp`: the SDK's collection, `opentelemetry-proto`'s transform into the
//! generated messages, prost's encoding): recording a counter with three attributes, and
//! encoding one export of the same 10,000 counter series, with our text render of them beside.

use std::sync::Arc;
use std::time::Duration;

use dynamo_metrics::{DynamoMetrics, IntCounterFamily, LabelSet, LabelValue, MetricsRegistry};
use opentelemetry::KeyValue;
use opentelemetry::metrics::{Counter, MeterProvider as _};
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::metrics::v1::{metric::Data, number_data_point};
use opentelemetry_sdk::metrics::data::ResourceMetrics;
use opentelemetry_sdk::metrics::reader::MetricReader;
use opentelemetry_sdk::metrics::{
    InstrumentKind, ManualReader, Pipeline, SdkMeterProvider, Stream, Temporality,
};
use prost::Message as _;

use crate::hot::{Case, case, timed};
use crate::render::{ENDPOINTS, IDS, NAME, id_of, value};

#[derive(LabelValue, Clone, Copy)]
enum Status {
    Success,
}

#[derive(LabelValue, Clone, Copy)]
enum Kind {
    Stream,
}

#[derive(LabelValue, Clone, Copy)]
enum Api {
    Chat,
}

#[derive(LabelSet, Clone, Copy)]
struct Fixed {
    status: Status,
    kind: Kind,
    api: Api,
}

#[derive(LabelSet, Clone)]
struct Strings {
    status: String,
    kind: String,
    api: String,
}

#[derive(DynamoMetrics)]
#[metrics(subsystem = "otlp")]
struct Recorded {
    /// Requests by enum labels
    fixed_total: IntCounterFamily<Fixed>,
    /// Requests by string labels
    strings_total: IntCounterFamily<Strings>,
}

/// The SDK's manual reader, shared between its provider and the bench.
#[derive(Clone, Debug)]
struct SharedReader(Arc<ManualReader>);

impl MetricReader for SharedReader {
    fn register_pipeline(&self, pipeline: std::sync::Weak<Pipeline>) {
        self.0.register_pipeline(pipeline);
    }
    fn collect(&self, rm: &mut ResourceMetrics) -> opentelemetry_sdk::error::OTelSdkResult {
        self.0.collect(rm)
    }
    fn force_flush(&self) -> opentelemetry_sdk::error::OTelSdkResult {
        self.0.force_flush()
    }
    fn shutdown_with_timeout(&self, timeout: Duration) -> opentelemetry_sdk::error::OTelSdkResult {
        self.0.shutdown_with_timeout(timeout)
    }
    fn temporality(&self, kind: InstrumentKind) -> Temporality {
        self.0.temporality(kind)
    }
}

/// A provider with a manual reader and room for 10,000 series per instrument (the SDK's
/// default cardinality limit is 2,000).
fn provider() -> (SdkMeterProvider, SharedReader) {
    let reader = SharedReader(Arc::new(ManualReader::builder().build()));
    let provider = SdkMeterProvider::builder()
        .with_reader(reader.clone())
        .with_view(|_: &opentelemetry_sdk::metrics::Instrument| {
            Stream::builder()
                .with_cardinality_limit(20_000)
                .build()
                .ok()
        })
        .build();
    (provider, reader)
}

const RECORD: &str = "OTLP: record a counter with three attributes";
const OURS_FIXED: &str = "dynamo IntCounterFamily<L>::inc (3 enum labels)";
const OURS_STRINGS: &str = "dynamo IntCounterFamily<L>::inc (3 string labels, one key)";
const SDK_ADD: &str = "opentelemetry_sdk Counter::add (3 static attributes)";

const ENCODE: &str = "OTLP: encode one export of 10,000 series";
const OURS_ENCODE: &str = "dynamo encode_otlp_into (reused buffer)";
const OURS_TEXT: &str = "dynamo render_into, text (the same series, reused buffer)";
const SDK_ENCODE: &str = "opentelemetry_sdk collect + opentelemetry-proto transform + prost encode";

pub fn cases() -> Vec<Case> {
    let mut cases = record();
    cases.extend(encode());
    cases
}

fn record() -> Vec<Case> {
    let rt = crate::runtime();
    let ours = Arc::new(Recorded::register(&rt).expect("register"));
    let (provider, _reader) = provider();
    let counter: Counter<u64> = provider.meter("peers").u64_counter("requests").build();
    let attributes = [
        KeyValue::new("status", "success"),
        KeyValue::new("kind", "stream"),
        KeyValue::new("api", "chat"),
    ];
    let fixed = Fixed {
        status: Status::Success,
        kind: Kind::Stream,
        api: Api::Chat,
    };
    let strings = Strings {
        status: "success".into(),
        kind: "stream".into(),
        api: "chat".into(),
    };
    let peers = &[SDK_ADD][..];
    let (a, b) = (ours.clone(), ours);
    vec![
        case(RECORD, OURS_FIXED, peers, move || {
            a.fixed_total.inc(std::hint::black_box(&fixed))
        }),
        case(RECORD, OURS_STRINGS, peers, move || {
            b.strings_total.inc(std::hint::black_box(&strings))
        }),
        case(RECORD, SDK_ADD, &[], move || {
            let _ = &provider;
            counter.add(1, std::hint::black_box(&attributes));
        }),
    ]
}

fn encode() -> Vec<Case> {
    let rt = crate::runtime();
    let comp = rt
        .namespace("ns")
        .expect("ns")
        .component("comp")
        .expect("comp");
    let (provider, reader) = provider();
    let counter = provider
        .meter("peers")
        .u64_counter(NAME)
        .with_description("Requests")
        .build();
    for e in 0..ENDPOINTS {
        let endpoint = format!("ep{e}");
        let family = comp
            .endpoint(&endpoint)
            .expect("endpoint")
            .create_intcountervec("render_requests_total", "Requests", &["id"], &[])
            .expect("vec")
            .max_series(IDS);
        for i in 0..IDS {
            let id = id_of(i);
            family
                .with_label_values(&[&id])
                .expect("series")
                .inc_by(value(e, i));
            counter.add(
                value(e, i),
                &[
                    KeyValue::new("dynamo_namespace", "ns"),
                    KeyValue::new("dynamo_component", "comp"),
                    KeyValue::new("dynamo_endpoint", endpoint.clone()),
                    KeyValue::new("id", id),
                ],
            );
        }
    }
    let provider = Arc::new(provider);
    let sdk_encode = move || {
        let _alive = &provider;
        let mut rm = ResourceMetrics::default();
        reader.collect(&mut rm).expect("collect");
        ExportMetricsServiceRequest::from(&rm).encode_to_vec()
    };
    let (ours, mut buffer) = (rt.clone(), Vec::new());
    let ours_check = rt.clone();
    let text_check = rt.clone();
    let mut text = String::new();
    let peers = &[SDK_ENCODE, OURS_TEXT][..];
    vec![
        timed(
            ENCODE,
            OURS_ENCODE,
            peers,
            move || ours.encode_otlp_into(&mut buffer).len(),
            Some(Box::new(move || check(&ours_check.encode_otlp()))),
        ),
        timed(
            ENCODE,
            OURS_TEXT,
            &[],
            move || {
                text.clear();
                rt.render_into(&mut text);
                text.len()
            },
            Some(Box::new(move || {
                let page = text_check.render();
                let n = page
                    .lines()
                    .filter(|l| l.starts_with(NAME) && l[NAME.len()..].starts_with('{'))
                    .count();
                if n == ENDPOINTS * IDS {
                    Ok(page.len())
                } else {
                    Err(format!("{n} lines"))
                }
            })),
        ),
        {
            let sdk_check = sdk_encode.clone();
            timed(
                ENCODE,
                SDK_ENCODE,
                &[],
                move || sdk_encode().len(),
                Some(Box::new(move || check(&sdk_check()))),
            )
        },
    ]
}

/// Whether an export holds the 10,000 series with their values.
fn check(message: &[u8]) -> Result<usize, String> {
    let request = ExportMetricsServiceRequest::decode(message).map_err(|e| e.to_string())?;
    let mut found = 0;
    for metric in request
        .resource_metrics
        .iter()
        .flat_map(|r| &r.scope_metrics)
        .flat_map(|s| &s.metrics)
        .filter(|m| m.name == NAME)
    {
        let Some(Data::Sum(sum)) = &metric.data else {
            return Err("not a sum".into());
        };
        for p in &sum.data_points {
            let attr = |k: &str| {
                p.attributes.iter().find(|a| a.key == k).and_then(|a| {
                    match a.value.as_ref()?.value.as_ref()? {
                        opentelemetry_proto::tonic::common::v1::any_value::Value::StringValue(
                            s,
                        ) => Some(s.clone()),
                        _ => None,
                    }
                })
            };
            let e: usize = attr("dynamo_endpoint")
                .and_then(|e| e.strip_prefix("ep")?.parse().ok())
                .ok_or("no endpoint")?;
            let i: usize = attr("id").and_then(|i| i.parse().ok()).ok_or("no id")?;
            let v = match p.value {
                Some(number_data_point::Value::AsInt(v)) => v as f64,
                Some(number_data_point::Value::AsDouble(v)) => v,
                None => return Err("no value".into()),
            };
            if v != value(e, i) as f64 {
                return Err(format!("ep{e}/{i}: {v}"));
            }
            found += 1;
        }
    }
    if found == ENDPOINTS * IDS {
        Ok(message.len())
    } else {
        Err(format!("{found} points, not {}", ENDPOINTS * IDS))
    }
}
