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
use opentelemetry_proto::tonic::metrics::v1::{
    Metric, NumberDataPoint, metric::Data, number_data_point,
};
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

/// Families whose values move between an export and a scrape: the uptime, the exporter's and
/// server's own counts, the tokio runtime's readings.
fn moves(name: &str) -> bool {
    name == "dynamo_component_uptime_seconds"
        || name.starts_with("dynamo_metrics_")
        || name.starts_with("dynamo_tokio_")
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

/// Each counter's or gauge's point is the value of the same series in the scrape's `family`
/// (a counter, gauge or untyped family), and the family has as many series as points.
fn assert_numbers(name: &str, family: &Json, points: &[NumberDataPoint]) {
    assert_eq!(
        family["metric"].as_array().unwrap().len(),
        points.len(),
        "{name}"
    );
    for p in points {
        let m = find(family, &attributes(&p.attributes));
        let Some(number_data_point::Value::AsDouble(v)) = p.value else {
            panic!("{name}: not a double");
        };
        let want = ["counter", "gauge", "untyped"]
            .iter()
            .find_map(|kind| m[*kind]["value"].as_f64());
        assert_eq!(Some(v), want, "{name}");
    }
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
                assert_eq!(family["type"], 0, "{}: a counter", metric.name);
                assert_numbers(&metric.name, family, &sum.data_points);
                for p in &sum.data_points {
                    assert!(
                        p.start_time_unix_nano > 0 && p.start_time_unix_nano <= p.time_unix_nano
                    );
                }
            }
            Data::Gauge(gauge) => {
                let kind = family["type"].as_u64();
                assert!(
                    matches!(kind, Some(1 | 3)),
                    "{}: a gauge or untyped",
                    metric.name
                );
                assert_numbers(&metric.name, family, &gauge.data_points);
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
    let headers = &receiver.headers()[0];
    assert_eq!(headers["x-tenant"], "t1");
    assert!(
        headers["user-agent"]
            .to_str()
            .unwrap()
            .starts_with("dynamo-metrics/")
    );
    if protocol == OtlpProtocol::HttpProtobuf {
        assert_eq!(headers["host"], receiver.addr.to_string().as_str());
    }
    rt.shutdown().await;
    receiver
}

#[test]
fn starting_outside_a_tokio_runtime_is_an_error() {
    let rt = fixture("w1");
    let err = rt.start_otlp_export(&OtlpConfig::default()).unwrap_err();
    assert!(err.to_string().contains("tokio runtime"), "{err}");
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

/// The value of `name`'s point with attribute `kind`, and its start time.
fn sum_point(request: &ExportMetricsServiceRequest, name: &str, kind: &str) -> (f64, u64, u64) {
    let Some(Data::Sum(sum)) = &metric(request, name).data else {
        panic!("{name}: not a sum")
    };
    assert_eq!(sum.aggregation_temporality, 1, "delta");
    let p = sum
        .data_points
        .iter()
        .find(|p| attributes(&p.attributes).get("kind").map(String::as_str) == Some(kind))
        .unwrap();
    let Some(number_data_point::Value::AsDouble(v)) = p.value else {
        panic!()
    };
    (v, p.start_time_unix_nano, p.time_unix_nano)
}

#[tokio::test]
async fn delta_sums_equal_the_cumulative_value_across_an_outage() {
    let receiver = Receiver::http().await;
    let rt = fixture("w1");
    let hits = rt
        .namespace("ns")
        .unwrap()
        .component("comp")
        .unwrap()
        .endpoint("ep")
        .unwrap()
        .create_intcountervec("hits_total", "Hits", &["kind"], &[])
        .unwrap();
    let latency = rt
        .namespace("ns")
        .unwrap()
        .component("comp")
        .unwrap()
        .endpoint("ep")
        .unwrap()
        .create_histogram("latency_seconds", "Latency", &[], Some(&[0.5, 1.0]))
        .unwrap();
    let mut config = config(&receiver, OtlpProtocol::HttpProtobuf);
    config.temporality = Temporality::Delta;
    config.export_timeout = Duration::from_millis(500);
    rt.start_otlp_export(&config).unwrap();
    rt.flush_otlp().await.unwrap();
    hits.with_label_values(&["a"]).unwrap().inc_by(4);
    latency.observe(0.7);
    rt.flush_otlp().await.unwrap();
    // The receiver is down for one export: its changes go into the next.
    hits.with_label_values(&["a"]).unwrap().inc_by(5);
    latency.observe(0.1);
    receiver.answer([Answer::Http(400, None)]);
    assert!(rt.flush_otlp().await.is_err());
    hits.with_label_values(&["a"]).unwrap().inc_by(6);
    latency.observe(2.0);
    rt.flush_otlp().await.unwrap();

    let requests = receiver.requests();
    assert_eq!(requests.len(), 4);
    let delivered: Vec<&ExportMetricsServiceRequest> =
        [&requests[0], &requests[1], &requests[3]].into();
    let points: Vec<(f64, u64, u64)> = delivered
        .iter()
        .map(|r| sum_point(r, "dynamo_component_hits_total", "a"))
        .collect();
    let total: f64 = points.iter().map(|p| p.0).sum();
    assert_eq!(total, 3.0 + 4.0 + 5.0 + 6.0, "{points:?}");
    assert_eq!(
        points[2].0, 11.0,
        "the undelivered change is merged, not lost"
    );
    // Each delivered point starts where the last delivered one ended.
    assert_eq!(points[1].1, points[0].2);
    assert_eq!(points[2].1, points[1].2);
    let histograms: Vec<(u64, f64)> = delivered
        .iter()
        .map(|r| {
            let Some(Data::Histogram(h)) = &metric(r, "dynamo_component_latency_seconds").data
            else {
                panic!()
            };
            assert_eq!(h.aggregation_temporality, 1);
            (h.data_points[0].count, h.data_points[0].sum.unwrap())
        })
        .collect();
    assert_eq!(histograms.iter().map(|h| h.0).sum::<u64>(), 6);
    let sum: f64 = histograms.iter().map(|h| h.1).sum();
    assert!(
        (sum - (0.2 + 0.7 + 3.0 + 0.7 + 0.1 + 2.0)).abs() < 1e-9,
        "{histograms:?}"
    );
    // Gauges stay gauges.
    assert!(matches!(
        metric(&requests[3], "dynamo_component_queue_depth").data,
        Some(Data::Gauge(_))
    ));
    let text = rt.render();
    assert!(
        text.contains("dynamo_metrics_otlp_exports_total{worker_id=\"w1\",result=\"failure\"} 1\n"),
        "{text}"
    );
    assert!(
        text.contains("dynamo_metrics_otlp_exports_total{worker_id=\"w1\",result=\"success\"} 3\n"),
        "{text}"
    );
    rt.shutdown().await;
}

/// Counts of the exporter's own families, from a render.
fn own(rt: &DistributedRuntime, series: &str) -> u64 {
    let text = rt.render();
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("no {series} in {text}"))
}

#[tokio::test]
async fn retryable_answers_are_retried_after_what_the_receiver_says() {
    let receiver = Receiver::http().await;
    let rt = fixture("w1");
    rt.start_otlp_export(&config(&receiver, OtlpProtocol::HttpProtobuf))
        .unwrap();
    receiver.answer([
        Answer::Http(503, Some(1)),
        Answer::Http(429, None),
        Answer::Http(502, None),
    ]);
    let started = std::time::Instant::now();
    rt.flush_otlp().await.unwrap();
    assert_eq!(receiver.attempts(), 4);
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "Retry-After: 1 was kept"
    );
    assert_eq!(
        own(&rt, "dynamo_metrics_otlp_retries_total{worker_id=\"w1\"}"),
        3
    );
    // Not retryable: given up at once.
    receiver.answer([Answer::Http(400, None)]);
    let err = rt.flush_otlp().await.unwrap_err().to_string();
    assert!(err.contains("HTTP 400"), "{err}");
    assert_eq!(receiver.attempts(), 5);
    // Partial success: delivered, the rejected points counted.
    receiver.answer([Answer::Partial(2)]);
    let sent = rt.flush_otlp().await.unwrap();
    assert_eq!(
        own(
            &rt,
            "dynamo_metrics_otlp_points_total{worker_id=\"w1\",outcome=\"rejected\"}"
        ),
        2
    );
    assert_eq!(
        own(
            &rt,
            "dynamo_metrics_otlp_exports_total{worker_id=\"w1\",result=\"partial\"}"
        ),
        1
    );
    assert!(sent > 0);
    rt.shutdown().await;
}

#[tokio::test]
async fn grpc_codes_are_retried_as_the_specification_says() {
    let receiver = Receiver::grpc().await;
    let rt = fixture("w1");
    rt.start_otlp_export(&config(&receiver, OtlpProtocol::Grpc))
        .unwrap();
    receiver.answer([
        Answer::Grpc(tonic::Code::Unavailable, None),
        Answer::Grpc(
            tonic::Code::ResourceExhausted,
            Some(Duration::from_millis(300)),
        ),
    ]);
    rt.flush_otlp().await.unwrap();
    assert_eq!(receiver.attempts(), 3);
    // RESOURCE_EXHAUSTED without retry information, and INVALID_ARGUMENT: final.
    for code in [tonic::Code::ResourceExhausted, tonic::Code::InvalidArgument] {
        receiver.answer([Answer::Grpc(code, None)]);
        let err = rt.flush_otlp().await.unwrap_err().to_string();
        assert!(
            err.contains(&format!("gRPC status {}", code as i32)),
            "{err}"
        );
    }
    assert_eq!(receiver.attempts(), 5);
    receiver.answer([Answer::Partial(1)]);
    rt.flush_otlp().await.unwrap();
    assert_eq!(
        own(
            &rt,
            "dynamo_metrics_otlp_points_total{worker_id=\"w1\",outcome=\"rejected\"}"
        ),
        1
    );
    rt.shutdown().await;
}

#[tokio::test]
async fn a_receiver_absent_or_hanging_costs_the_export_timeout_and_blocks_nothing() {
    // Absent: a port nobody listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let rt = fixture("w1");
    let mut absent = OtlpConfig::default();
    absent.endpoint = format!("http://{port}/v1/metrics");
    absent.interval = Duration::from_secs(3600);
    absent.export_timeout = Duration::from_millis(800);
    absent.retry_backoff = Duration::from_millis(50);
    rt.start_otlp_export(&absent).unwrap();
    let err = tokio::time::timeout(Duration::from_secs(5), rt.flush_otlp())
        .await
        .expect("bounded by the export timeout")
        .unwrap_err()
        .to_string();
    assert!(err.contains("connecting"), "{err}");
    assert!(own(&rt, "dynamo_metrics_otlp_retries_total{worker_id=\"w1\"}") >= 1);
    assert!(
        own(
            &rt,
            "dynamo_metrics_otlp_points_total{worker_id=\"w1\",outcome=\"dropped\"}"
        ) > 0
    );
    rt.shutdown().await;

    // Hanging: each request times out, the export gives up at its timeout; meanwhile
    // recording and scrapes go on.
    let receiver = Receiver::grpc().await;
    receiver.answer(std::iter::repeat_n(Answer::Hang, 10));
    let rt = fixture("w1");
    let mut hanging = config(&receiver, OtlpProtocol::Grpc);
    hanging.timeout = Duration::from_millis(300);
    hanging.export_timeout = Duration::from_secs(1);
    rt.start_otlp_export(&hanging).unwrap();
    let flush = {
        let rt = rt.clone();
        tokio::spawn(async move { rt.flush_otlp().await })
    };
    while receiver.attempts() == 0 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let counter = rt
        .create_intcounter("during_total", "Recorded during an export", &[])
        .unwrap();
    counter.inc();
    assert!(
        rt.render()
            .contains("dynamo_component_during_total{worker_id=\"w1\"} 1\n")
    );
    assert!(
        !flush.is_finished(),
        "the scrape and the recording did not wait for the export"
    );
    let err = tokio::time::timeout(Duration::from_secs(5), flush)
        .await
        .expect("bounded by the export timeout")
        .unwrap()
        .unwrap_err()
        .to_string();
    assert!(err.contains("no answer within"), "{err}");
    // Shutdown sends a last export within the shutdown timeout, though it hangs.
    tokio::time::timeout(Duration::from_secs(35), rt.shutdown())
        .await
        .expect("shutdown is bounded");
}

#[tokio::test]
async fn shutdown_sends_the_last_export() {
    let receiver = Receiver::grpc().await;
    let rt = fixture("w1");
    rt.start_otlp_export(&config(&receiver, OtlpProtocol::Grpc))
        .unwrap();
    let counter = rt
        .create_intcounter("last_total", "Recorded before shutdown", &[])
        .unwrap();
    counter.inc_by(9);
    rt.shutdown().await;
    let requests = receiver.requests();
    assert_eq!(requests.len(), 1, "one export, at shutdown");
    let Some(Data::Sum(sum)) = &metric(&requests[0], "dynamo_component_last_total").data else {
        panic!()
    };
    assert_eq!(
        sum.data_points[0].value,
        Some(number_data_point::Value::AsDouble(9.0))
    );
    assert!(rt.flush_otlp().await.is_err(), "stopped");
}

#[tokio::test]
async fn tls_with_the_wrong_authority_is_refused_and_with_the_right_one_is_spoken() {
    let pki = dynamo_metrics_tests::pki::Pki::new("otlp");
    // Any HTTPS server will do for the handshake: the status server with TLS.
    let web = pki.path("web.yml");
    std::fs::write(
        &web,
        "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n",
    )
    .unwrap();
    let mut server = dynamo_metrics::SystemServerConfig::at(([127, 0, 0, 1], 0));
    server.web_config_file = Some(web);
    let mut rt_config = RuntimeConfig::default().with_worker_id(WorkerId::Off);
    rt_config.system_server = Some(server);
    rt_config.gpu = None;
    let server_rt = DistributedRuntime::from_config(rt_config).await.unwrap();
    let addr = server_rt.system_server_addr().unwrap();
    for (ca, expect) in [("other-ca.crt", "TLS handshake"), ("ca.crt", "HTTP 404")] {
        let rt = fixture("w1");
        let mut config = OtlpConfig::default();
        config.endpoint = format!("https://localhost:{}/v1/metrics", addr.port());
        config.certificate = Some(pki.path(ca));
        config.interval = Duration::from_secs(3600);
        config.export_timeout = Duration::from_millis(500);
        config.retry_backoff = Duration::from_millis(50);
        rt.start_otlp_export(&config).unwrap();
        let err = rt.flush_otlp().await.unwrap_err().to_string();
        assert!(err.contains(expect), "{ca}: {err}");
        rt.shutdown().await;
    }
    // A CA file that is not there: refused at start, named.
    let rt = fixture("w1");
    let mut config = OtlpConfig::default();
    config.endpoint = "https://localhost:1/v1/metrics".into();
    config.certificate = Some(pki.path("missing.crt"));
    let err = rt.start_otlp_export(&config).unwrap_err().to_string();
    assert!(err.contains("missing.crt"), "{err}");
    server_rt.shutdown().await;
}

#[tokio::test]
async fn the_environment_starts_the_export() {
    let receiver = Receiver::grpc().await;
    let endpoint = receiver.endpoint();
    let vars = [
        ("OTEL_METRICS_EXPORTER", "otlp"),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str()),
        ("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip"),
        ("OTEL_EXPORTER_OTLP_HEADERS", "authorization=Bearer%20t"),
        ("OTEL_METRIC_EXPORT_INTERVAL", "200"),
        ("OTEL_SERVICE_NAME", "worker-a"),
        (
            "OTEL_RESOURCE_ATTRIBUTES",
            "service.name=ignored,deployment.environment=test",
        ),
        ("DYN_WORKER_ID", "w7"),
    ];
    let config = RuntimeConfig::from_lookup(|var| {
        vars.iter()
            .find(|(k, _)| *k == var)
            .map(|(_, v)| (*v).to_owned())
    })
    .unwrap();
    let rt = DistributedRuntime::from_config(config).await.unwrap();
    // On its timer, every 200 ms.
    while receiver.requests().len() < 2 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let request = &receiver.requests()[0];
    let resource = attributes(
        &request.resource_metrics[0]
            .resource
            .as_ref()
            .unwrap()
            .attributes,
    );
    assert_eq!(resource["service.name"], "worker-a");
    assert_eq!(resource["deployment.environment"], "test");
    assert_eq!(resource["service.instance.id"], "w7");
    assert_eq!(receiver.headers()[0]["authorization"], "Bearer t");
    assert_eq!(receiver.headers()[0]["grpc-encoding"], "gzip");
    rt.shutdown().await;
}

/// The names of the families of a runtime's scrape, and those with native buckets.
fn scrape_names(rt: &DistributedRuntime) -> (Vec<String>, Vec<String>) {
    let families = decode_metric_families(&rt.encode(Format::Protobuf, None));
    let name = |f: &Json| f["name"].as_str().unwrap().to_owned();
    let native = families
        .iter()
        .filter(|f| f["metric"][0]["histogram"]["schema"].is_i64())
        .map(name)
        .collect();
    (families.iter().map(name).collect(), native)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_delivers_every_family_over_both_protocols() {
    use dynamo_examples::demo::{self, DemoConfig};
    for protocol in [OtlpProtocol::Grpc, OtlpProtocol::HttpProtobuf] {
        let receiver = match protocol {
            OtlpProtocol::Grpc => Receiver::grpc().await,
            _ => Receiver::http().await,
        };
        let mut runtime = RuntimeConfig::default();
        runtime.gpu = None;
        runtime.otlp = Some(config(&receiver, protocol));
        let demo = demo::start(DemoConfig {
            host: "127.0.0.1".parse().unwrap(),
            frontend_port: 0,
            system_port: 0,
            workers: 2,
            models: vec!["mock-llama".into()],
            timings: demo::default_timings(),
            runtime,
            web_config_file: None,
            relays: Vec::new(),
        })
        .await
        .unwrap();
        let frontend = demo.frontend;
        let status = tokio::task::spawn_blocking(move || {
            dynamo_metrics_tests::traced_request(frontend, TRACE)
        })
        .await
        .unwrap();
        assert_eq!(status, 200);
        let mut runtimes = vec![demo.frontend_runtime.clone()];
        runtimes.extend(demo.workers.iter().map(|(rt, _)| rt.clone()));
        let mut traced = false;
        for rt in &runtimes {
            let before = receiver.requests().len();
            rt.flush_otlp().await.unwrap();
            let (names, native) = scrape_names(rt);
            let request = &receiver.requests()[before];
            let resource = attributes(
                &request.resource_metrics[0]
                    .resource
                    .as_ref()
                    .unwrap()
                    .attributes,
            );
            assert_eq!(
                resource.get("service.instance.id").map(String::as_str),
                rt.worker_id()
            );
            let exported: Vec<String> =
                metrics_of(request).iter().map(|m| m.name.clone()).collect();
            assert_eq!(
                exported,
                names,
                "{protocol:?}: every family of {:?}",
                rt.worker_id()
            );
            assert!(!native.is_empty());
            for name in &native {
                assert!(
                    matches!(
                        metric(request, name).data,
                        Some(Data::ExponentialHistogram(_))
                    ),
                    "{name} is native"
                );
            }
            traced |= metrics_of(request).iter().any(|m| {
                let exemplars: Vec<&opentelemetry_proto::tonic::metrics::v1::Exemplar> = match &m
                    .data
                {
                    Some(Data::Histogram(h)) => {
                        h.data_points.iter().flat_map(|p| &p.exemplars).collect()
                    }
                    Some(Data::ExponentialHistogram(h)) => {
                        h.data_points.iter().flat_map(|p| &p.exemplars).collect()
                    }
                    Some(Data::Sum(s)) => s.data_points.iter().flat_map(|p| &p.exemplars).collect(),
                    _ => Vec::new(),
                };
                exemplars.iter().any(|e| e.trace_id == trace_bytes())
            });
        }
        assert!(
            traced,
            "{protocol:?}: the traceparent's trace id as an exemplar"
        );
        demo.shutdown().await;
    }
}

#[tokio::test]
async fn a_receiver_gone_mid_run_fails_alone_and_a_new_one_is_reached() {
    let receiver = Receiver::http().await;
    let rt = fixture("w1");
    let mut config = config(&receiver, OtlpProtocol::HttpProtobuf);
    config.export_timeout = Duration::from_millis(600);
    rt.start_otlp_export(&config).unwrap();
    rt.flush_otlp().await.unwrap();
    let addr = receiver.addr;
    drop(receiver);
    tokio::time::sleep(Duration::from_millis(100)).await;
    // The kept connection is closed and nobody listens: retried, then given up.
    let err = rt.flush_otlp().await.unwrap_err().to_string();
    assert!(
        err.contains("no time left") || err.contains("timeout"),
        "{err}"
    );
    assert!(
        rt.render()
            .contains("dynamo_metrics_otlp_exports_total{worker_id=\"w1\",result=\"failure\"} 1\n")
    );
    // A receiver back on the same address is reached again, on a new connection.
    let listener = match tokio::net::TcpListener::bind(addr).await {
        Ok(listener) => listener,
        // The port was taken meanwhile: nothing more to check.
        Err(_) => return,
    };
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let app = axum::Router::new().route(
        "/v1/metrics",
        axum::routing::post(move |body: axum::body::Bytes| {
            let tx = tx.clone();
            async move {
                let _ = tx.send(body.len());
                ""
            }
        }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await });
    rt.flush_otlp().await.unwrap();
    assert!(rx.recv().await.unwrap() > 0);
    rt.shutdown().await;
}

/// On a tokio runtime of one thread, as `#[tokio::test]` makes: an engine served by that same
/// runtime is relayed into an export, which must not hold the one thread while it reads.
#[tokio::test]
async fn an_export_reads_a_relayed_engine_served_by_its_own_runtime() {
    use dynamo_metrics::RelaySource;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let engine = listener.local_addr().unwrap();
    let app = axum::Router::new().route(
        "/metrics",
        axum::routing::get(|| async {
            "# TYPE vllm:num_requests_running gauge\nvllm:num_requests_running 2\n"
        }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await });
    let receiver = Receiver::http().await;
    let rt = fixture("w1");
    let source = RelaySource::url("vllm", &format!("http://{engine}/metrics"))
        .unwrap()
        .deadline(Duration::from_secs(1));
    rt.namespace("ns").unwrap().relay(source).unwrap();
    rt.start_otlp_export(&config(&receiver, OtlpProtocol::HttpProtobuf))
        .unwrap();
    rt.flush_otlp().await.unwrap();
    let request = &receiver.requests()[0];
    let Some(Data::Gauge(g)) = &metric(request, "vllm:num_requests_running").data else {
        panic!("the relayed gauge is exported")
    };
    assert_eq!(
        g.data_points[0].value,
        Some(number_data_point::Value::AsDouble(2.0))
    );
    rt.shutdown().await;
}
