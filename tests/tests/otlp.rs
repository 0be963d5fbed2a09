//! The OTLP export against receivers built from the official definitions: every family a
//! scrape shows, point for point; delta temporality across an outage; the faults a receiver
//! can have; the configuration from the environment; Python's official `opentelemetry-proto`
//! package reading an HTTP body.

use std::collections::BTreeMap;
use std::time::Duration;

use dynamo_metrics::prometheus::core::{Collector, Desc};
use dynamo_metrics::prometheus::proto;
use dynamo_metrics::{
    DistributedRuntime, Format, MetricsRegistry, OtlpConfig, OtlpProtocol, RuntimeConfig,
    Temporality, WorkerId,
};
use dynamo_metrics_tests::decode_metric_families;
use dynamo_metrics_tests::otlp::{Answer, ExportMetricsServiceRequest, Receiver};
use opentelemetry_proto::tonic::common::v1::{KeyValue, any_value};
use opentelemetry_proto::tonic::metrics::v1::{Metric, metric::Data, number_data_point};
use serde_json::Value as Json;

const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";

/// A summary from a foreign `prometheus` collector.
struct Summaries(Desc);

impl Summaries {
    fn new() -> Self {
        let desc = Desc::new(
            "legacy_rpc_seconds".into(),
            "RPC latency".into(),
            Vec::new(),
            Default::default(),
        );
        Summaries(desc.unwrap())
    }
}

impl Collector for Summaries {
    fn desc(&self) -> Vec<&Desc> {
        vec![&self.0]
    }

    fn collect(&self) -> Vec<proto::MetricFamily> {
        let mut quantile = proto::Quantile::default();
        quantile.set_quantile(0.5);
        quantile.set_value(0.25);
        let mut summary = proto::Summary::default();
        summary.set_quantile(vec![quantile]);
        summary.set_sample_sum(3.5);
        summary.set_sample_count(7);
        let mut metric = proto::Metric::default();
        metric.set_summary(summary);
        let mut family = proto::MetricFamily::default();
        family.set_name("legacy_rpc_seconds".into());
        family.set_help("RPC latency".into());
        family.set_field_type(proto::MetricType::SUMMARY);
        family.set_metric(vec![metric]);
        vec![family]
    }
}

/// A runtime with every kind of family: hierarchy labels, a counter with an exemplar, a
/// gauge, a classic histogram with an exemplar, a native histogram, a foreign summary.
fn fixture(worker: &str) -> DistributedRuntime {
    let rt = DistributedRuntime::with_config(
        &RuntimeConfig::default().with_worker_id(WorkerId::Fixed(worker.into())),
    )
    .unwrap();
    let endpoint = rt
        .namespace("ns")
        .unwrap()
        .component("comp")
        .unwrap()
        .endpoint("ep")
        .unwrap();
    let hits = endpoint
        .create_intcountervec("hits_total", "Hits", &["kind"], &[])
        .unwrap();
    hits.with_label_values(&["a"]).unwrap().inc_by(3);
    hits.with_label_values(&["b"])
        .unwrap()
        .inc_by_with_exemplar(2, &[("trace_id", TRACE)]);
    endpoint
        .create_gauge("queue_depth", "Queue", &[])
        .unwrap()
        .set(-2.5);
    let latency = endpoint
        .create_histogram("latency_seconds", "Latency", &[], Some(&[0.5, 1.0]))
        .unwrap();
    latency.observe(0.2);
    latency.observe_with_exemplar(0.7, &[("trace_id", TRACE), ("span_id", "00f067aa0ba902b7")]);
    latency.observe(3.0);
    use dynamo_metrics::DynamoMetrics;
    use dynamo_metrics::builtin::{FrontendMetrics, ModelLabels};
    let frontend = FrontendMetrics::register(&rt).unwrap();
    let model = ModelLabels { model: "m".into() };
    for v in [0.5, 1.0, 1.05, 1.05, 2.0, 0.0] {
        frontend.time_to_first_token.observe(&model, v);
    }
    rt.register_collector(Box::new(Summaries::new())).unwrap();
    rt
}

/// Families whose values move between an export and a scrape: the uptime, and the
/// exporter's and server's own counts.
fn moves(name: &str) -> bool {
    name == "dynamo_component_uptime_seconds" || name.starts_with("dynamo_metrics_")
}

fn config(receiver: &Receiver, protocol: OtlpProtocol) -> OtlpConfig {
    let mut config = OtlpConfig::default();
    config.endpoint = receiver.endpoint();
    config.protocol = protocol;
    config.interval = Duration::from_secs(3600);
    config.timeout = Duration::from_secs(2);
    config.export_timeout = Duration::from_secs(5);
    config.retry_backoff = Duration::from_millis(50);
    config
}

fn attributes(kvs: &[KeyValue]) -> BTreeMap<String, String> {
    kvs.iter()
        .map(|kv| {
            let value = match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
                Some(any_value::Value::StringValue(s)) => s.clone(),
                other => panic!("attribute {} is not a string: {other:?}", kv.key),
            };
            (kv.key.clone(), value)
        })
        .collect()
}

fn scrape_labels(metric: &Json) -> BTreeMap<String, String> {
    metric["label"]
        .as_array()
        .map(|labels| {
            labels
                .iter()
                .map(|l| {
                    let s = |k: &str| l[k].as_str().unwrap_or_default().to_owned();
                    (s("name"), s("value"))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The metrics of the only resource and scope of `request`.
fn metrics_of(request: &ExportMetricsServiceRequest) -> &[Metric] {
    assert_eq!(request.resource_metrics.len(), 1);
    let scopes = &request.resource_metrics[0].scope_metrics;
    assert_eq!(scopes.len(), 1);
    assert_eq!(scopes[0].scope.as_ref().unwrap().name, "dynamo-metrics");
    &scopes[0].metrics
}

/// The scrape's metric of family `family` with labels `labels`.
fn find<'a>(family: &'a Json, labels: &BTreeMap<String, String>) -> &'a Json {
    family["metric"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| &scrape_labels(m) == labels)
        .unwrap_or_else(|| panic!("no series {labels:?} in {family:#}"))
}

/// Every point of `request` is the value of the same series in `scrape` (protobuf
/// exposition, decoded), and every family of the scrape is in the export.
fn assert_export_is_the_scrape(request: &ExportMetricsServiceRequest, scrape: &[Json]) {
    let by_name: BTreeMap<&str, &Json> = scrape
        .iter()
        .map(|f| (f["name"].as_str().unwrap(), f))
        .collect();
    let exported: Vec<&str> = metrics_of(request)
        .iter()
        .map(|m| m.name.as_str())
        .collect();
    let scraped: Vec<&str> = by_name.keys().copied().collect();
    assert_eq!(exported, scraped, "the same families, in the same order");
    for metric in metrics_of(request) {
        if moves(&metric.name) {
            continue;
        }
        let family = by_name[metric.name.as_str()];
        assert_eq!(
            metric.description,
            family["help"].as_str().unwrap_or_default()
        );
        match metric.data.as_ref().unwrap() {
            Data::Sum(sum) => {
                assert!(sum.is_monotonic, "{}", metric.name);
                assert_eq!(sum.aggregation_temporality, 2, "cumulative");
                assert_eq!(
                    family["metric"].as_array().unwrap().len(),
                    sum.data_points.len()
                );
                for p in &sum.data_points {
                    let m = find(family, &attributes(&p.attributes));
                    let Some(number_data_point::Value::AsDouble(v)) = p.value else {
                        panic!("{}: not a double", metric.name);
                    };
                    assert_eq!(
                        v,
                        m["counter"]["value"].as_f64().unwrap(),
                        "{}",
                        metric.name
                    );
                    assert!(
                        p.start_time_unix_nano > 0 && p.start_time_unix_nano <= p.time_unix_nano
                    );
                }
            }
            Data::Gauge(gauge) => {
                assert_eq!(
                    family["metric"].as_array().unwrap().len(),
                    gauge.data_points.len()
                );
                for p in &gauge.data_points {
                    let m = find(family, &attributes(&p.attributes));
                    let Some(number_data_point::Value::AsDouble(v)) = p.value else {
                        panic!("{}: not a double", metric.name);
                    };
                    let want = m["gauge"]["value"]
                        .as_f64()
                        .or(m["untyped"]["value"].as_f64());
                    assert_eq!(Some(v), want, "{}", metric.name);
                }
            }
            Data::Histogram(h) => {
                assert_eq!(h.aggregation_temporality, 2);
                for p in &h.data_points {
                    let m = &find(family, &attributes(&p.attributes))["histogram"];
                    assert_eq!(p.count, m["sample_count"].as_u64().unwrap());
                    assert_eq!(p.sum, m["sample_sum"].as_f64());
                    let buckets = m["bucket"].as_array().unwrap();
                    let bounds: Vec<f64> = buckets
                        .iter()
                        .map(|b| b["upper_bound"].as_f64().unwrap())
                        .filter(|b| b.is_finite())
                        .collect();
                    assert_eq!(p.explicit_bounds, bounds, "{}", metric.name);
                    let mut cumulative = 0;
                    for (i, bound) in bounds.iter().enumerate() {
                        cumulative += p.bucket_counts[i];
                        let b = buckets
                            .iter()
                            .find(|b| b["upper_bound"].as_f64() == Some(*bound))
                            .unwrap();
                        assert_eq!(cumulative, b["cumulative_count"].as_u64().unwrap());
                    }
                    assert_eq!(p.bucket_counts.iter().sum::<u64>(), p.count);
                }
            }
            Data::ExponentialHistogram(h) => {
                assert_eq!(h.aggregation_temporality, 2);
                for p in &h.data_points {
                    let m = &find(family, &attributes(&p.attributes))["histogram"];
                    assert_eq!(p.count, m["sample_count"].as_u64().unwrap());
                    assert_eq!(Some(p.sum.unwrap()), m["sample_sum"].as_f64());
                    assert_eq!(i64::from(p.scale), m["schema"].as_i64().unwrap());
                    assert_eq!(p.zero_count, m["zero_count"].as_u64().unwrap_or(0));
                    assert_eq!(Some(p.zero_threshold), m["zero_threshold"].as_f64());
                    // The scrape's buckets from its spans and deltas, by Prometheus key.
                    let mut keys = BTreeMap::new();
                    let (mut key, mut count) = (0i64, 0i64);
                    let none = Vec::new();
                    let deltas = m["positive_delta"].as_array().unwrap_or(&none);
                    let mut d = deltas.iter();
                    for span in m["positive_span"].as_array().unwrap_or(&none) {
                        key += span["offset"].as_i64().unwrap();
                        for _ in 0..span["length"].as_u64().unwrap() {
                            count += d.next().unwrap().as_i64().unwrap();
                            keys.insert(key, count as u64);
                            key += 1;
                        }
                    }
                    let mut exported = BTreeMap::new();
                    let positive = p.positive.clone().unwrap_or_default();
                    for (i, n) in positive.bucket_counts.iter().enumerate() {
                        if *n > 0 {
                            // OTLP index i is Prometheus key i + 1.
                            exported.insert(i64::from(positive.offset) + i as i64 + 1, *n);
                        }
                    }
                    assert_eq!(exported, keys, "{}", metric.name);
                }
            }
            Data::Summary(s) => {
                for p in &s.data_points {
                    let m = &find(family, &attributes(&p.attributes))["summary"];
                    assert_eq!(p.count, m["sample_count"].as_u64().unwrap());
                    assert_eq!(p.sum, m["sample_sum"].as_f64().unwrap());
                    let q = &m["quantile"][0];
                    // The reader makes every field named `quantile` a list.
                    assert_eq!(
                        p.quantile_values[0].quantile,
                        q["quantile"][0].as_f64().unwrap()
                    );
                    assert_eq!(p.quantile_values[0].value, q["value"].as_f64().unwrap());
                }
            }
        }
    }
}

fn metric<'a>(request: &'a ExportMetricsServiceRequest, name: &str) -> &'a Metric {
    metrics_of(request)
        .iter()
        .find(|m| m.name == name)
        .unwrap_or_else(|| panic!("no {name}"))
}

fn trace_bytes() -> Vec<u8> {
    (0..16)
        .map(|i| u8::from_str_radix(&TRACE[2 * i..2 * i + 2], 16).unwrap())
        .collect()
}

/// Exemplars, units, kinds and the resource, beyond the values.
fn assert_details(request: &ExportMetricsServiceRequest, worker: &str) {
    let resource = attributes(
        &request.resource_metrics[0]
            .resource
            .as_ref()
            .unwrap()
            .attributes,
    );
    assert_eq!(resource["service.instance.id"], worker);
    assert_eq!(resource["dynamo.worker_id"], worker);
    assert_eq!(resource["dynamo.namespace"], "dynamo");
    assert_eq!(resource["telemetry.sdk.language"], "rust");
    assert!(resource["service.name"].starts_with("unknown_service:"));
    assert!(resource.contains_key("host.name"));

    let latency = metric(request, "dynamo_component_latency_seconds");
    assert_eq!(latency.unit, "s");
    let Some(Data::Histogram(h)) = &latency.data else {
        panic!("not a histogram")
    };
    let p = &h.data_points[0];
    let attrs = attributes(&p.attributes);
    assert_eq!(attrs["dynamo_namespace"], "ns");
    assert_eq!(attrs["dynamo_component"], "comp");
    assert_eq!(attrs["dynamo_endpoint"], "ep");
    assert_eq!(attrs["worker_id"], worker);
    assert_eq!(p.exemplars.len(), 1);
    let e = &p.exemplars[0];
    assert_eq!(e.trace_id, trace_bytes());
    assert_eq!(e.span_id, [0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7]);
    assert_eq!(
        e.value,
        Some(opentelemetry_proto::tonic::metrics::v1::exemplar::Value::AsDouble(0.7))
    );
    assert!(e.filtered_attributes.is_empty());
    assert!(e.time_unix_nano > 0);

    let hits = metric(request, "dynamo_component_hits_total");
    let Some(Data::Sum(sum)) = &hits.data else {
        panic!("not a sum")
    };
    let b = sum
        .data_points
        .iter()
        .find(|p| attributes(&p.attributes)["kind"] == "b")
        .unwrap();
    assert_eq!(b.exemplars[0].trace_id, trace_bytes());

    let ttft = metric(request, "dynamo_frontend_time_to_first_token_seconds");
    let Some(Data::ExponentialHistogram(e)) = &ttft.data else {
        panic!("a native histogram is exponential: {ttft:?}")
    };
    assert_eq!(e.data_points[0].scale, 3);
    assert_eq!(e.data_points[0].zero_count, 1);
    assert!(matches!(
        metric(request, "legacy_rpc_seconds").data,
        Some(Data::Summary(_))
    ));
}

async fn export_and_compare(protocol: OtlpProtocol, gzip: bool) -> Receiver {
    let receiver = match protocol {
        OtlpProtocol::Grpc => Receiver::grpc().await,
        _ => Receiver::http().await,
    };
    let rt = fixture("w1");
    let mut config = config(&receiver, protocol);
    config.gzip = gzip;
    config.headers = vec![("x-tenant".into(), "t1".into())];
    rt.start_otlp_export(&config).unwrap();
    let points = rt.flush_otlp().await.unwrap();
    let scrape = decode_metric_families(&rt.encode(Format::Protobuf, None));
    let requests = receiver.requests();
    assert_eq!(requests.len(), 1);
    let written: usize = metrics_of(&requests[0])
        .iter()
        .map(|m| match m.data.as_ref().unwrap() {
            Data::Sum(s) => s.data_points.len(),
            Data::Gauge(g) => g.data_points.len(),
            Data::Histogram(h) => h.data_points.len(),
            Data::ExponentialHistogram(h) => h.data_points.len(),
            Data::Summary(s) => s.data_points.len(),
        })
        .sum();
    assert_eq!(points, written as u64);
    assert_export_is_the_scrape(&requests[0], &scrape);
    assert_details(&requests[0], "w1");
    assert_eq!(receiver.headers()[0]["x-tenant"], "t1");
    rt.shutdown().await;
    receiver
}

#[tokio::test]
async fn grpc_export_is_the_scrape() {
    export_and_compare(OtlpProtocol::Grpc, false).await;
    export_and_compare(OtlpProtocol::Grpc, true).await;
}

#[tokio::test]
async fn http_export_is_the_scrape_and_python_reads_it() {
    export_and_compare(OtlpProtocol::HttpProtobuf, true).await;
    let receiver = export_and_compare(OtlpProtocol::HttpProtobuf, false).await;
    // Python's official `opentelemetry-proto` package reads the same body.
    let body = &receiver.bodies()[0];
    let python = dynamo_metrics_tests::python_otlp_summary(body);
    let request = &receiver.requests()[0];
    for m in metrics_of(request) {
        assert_eq!(
            python[&m.name]["kind"],
            match m.data.as_ref().unwrap() {
                Data::Sum(_) => "sum",
                Data::Gauge(_) => "gauge",
                Data::Histogram(_) => "histogram",
                Data::ExponentialHistogram(_) => "exponential_histogram",
                Data::Summary(_) => "summary",
            },
            "{}",
            m.name
        );
    }
    let ttft = &python["dynamo_frontend_time_to_first_token_seconds"];
    assert_eq!(ttft["count"], 6);
    assert_eq!(ttft["scale"], 3);
    assert_eq!(
        python["dynamo_component_latency_seconds"]["trace_id"],
        TRACE
    );
}
