//! The bytes of every format, recorded: a fixed registry (families of every type made by hand
//! and by the derive, string and enum labels, exemplars, a native histogram, GPU gauges from a
//! fixed source, foreign collectors) encoded in text 0.0.4, OpenMetrics and protobuf, whole and
//! filtered by name, and served over HTTP with and without gzip, compared byte for byte with
//! the files in `tests/golden/`.
//!
//! What moves between runs is set to a fixed value on both sides before the comparison: the
//! uptime's value and the exemplars' timestamps. `GOLDEN_UPDATE=1 cargo test --test golden`
//! writes the files anew; a change to them is a change of what we serve.

use std::io::Read;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use dynamo_metrics::builtin::{FrontendMetrics, ModelLabels};
use dynamo_metrics::{
    DistributedRuntime, DynamoMetrics, Format, GpuCollector, GpuConfig, IntCounterFamily, LabelSet,
    LabelValue, MetricsRegistry, SystemServerConfig,
};
use dynamo_metrics_tests::{FixedGpus, request_with};

#[derive(LabelValue, Clone, Copy)]
enum Outcome {
    Success,
    Failure,
}

#[derive(LabelSet)]
struct Route {
    route: String,
    outcome: Outcome,
}

/// A runtime-level struct made by the derive: an enum label and a string label.
#[derive(DynamoMetrics)]
#[metrics(subsystem = "golden", level = "runtime")]
struct Golden {
    /// Routed requests, by route and outcome
    routed_total: IntCounterFamily<Route>,
}

/// Every family of the fixed registry, once recorded.
async fn fixed_registry() -> DistributedRuntime {
    let mut config = dynamo_metrics::RuntimeConfig::default()
        .with_worker_id(dynamo_metrics::WorkerId::Fixed("golden-1".into()));
    config.endpoint_labels = vec!["model".into()];
    // The tokio runtime's readings move from run to run.
    config.tokio_metrics = false;
    let rt = DistributedRuntime::with_config(&config).unwrap();
    // An endpoint with a label of its own (a family's own label of that name wins).
    let component = rt.namespace("ns").unwrap().component("c").unwrap();
    let labelled = component
        .endpoint_with_labels("e", &[("model", "m")])
        .unwrap();
    labelled
        .create_intcounter("labelled_total", "On the labelled endpoint", &[])
        .unwrap()
        .inc();
    labelled
        .create_intcountervec("requests_total", "Requests, \"quoted\"", &["model"], &[])
        .unwrap()
        .with_label_values(&["own"])
        .unwrap()
        .inc();
    let ep = component.endpoint("e").unwrap();
    let requests = ep
        .create_intcountervec("requests_total", "Requests, \"quoted\"", &["model"], &[])
        .unwrap();
    requests
        .with_label_values(&["a \"quoted\" \\ value\nwith a newline, ünïcödé"])
        .unwrap()
        .inc_by(3);
    requests.with_label_values(&["plain"]).unwrap().inc();
    let latency = ep
        .create_histogram("latency_seconds", "Latency", &[], Some(&[0.5, 1.0]))
        .unwrap();
    latency.observe(0.7);
    latency.observe_with_exemplar(0.2, &[("trace_id", "4bf92f3577b34da6a3ce929d0e0e4736")]);
    let hits = ep.create_intcounter("hits_total", "Hits", &[]).unwrap();
    hits.inc_by_with_exemplar(2, &[("trace_id", "abc"), ("span_id", "00f067aa0ba902b7")]);
    ep.create_counter("seconds_total", "Float counter", &[])
        .unwrap()
        .inc_by(1.25);
    ep.create_gauge("load", "Float gauge", &[])
        .unwrap()
        .set(-0.5);
    rt.create_intgauge("queue_depth", "Queue depth", &[])
        .unwrap()
        .set(-2);
    let per_worker = rt
        .namespace("ns")
        .unwrap()
        .component("c")
        .unwrap()
        .create_gaugevec("kv_usage", "KV usage", &["worker"], &[])
        .unwrap();
    per_worker.with_label_values(&["w2"]).unwrap().set(0.25);
    per_worker.with_label_values(&["w1"]).unwrap().set(1e20);

    let golden = Golden::register(&rt).unwrap();
    for (route, outcome) in [
        ("/v1/chat", Outcome::Success),
        ("/v1/chat", Outcome::Failure),
        ("/v1/completions", Outcome::Success),
    ] {
        golden.routed_total.inc(&Route {
            route: route.into(),
            outcome,
        });
    }
    let frontend = FrontendMetrics::register(&rt).unwrap();
    let model = ModelLabels { model: "m".into() };
    for v in [0.5, 1.0, 1.05, 1.05, 2.0, 0.0] {
        frontend.time_to_first_token.observe(&model, v);
    }
    // A native histogram's exemplar: in its classic bucket and among the native ones.
    frontend.time_to_first_token.observe_with_exemplar(
        &model,
        0.3,
        &[("trace_id", "0af7651916cd43dd8448eb211c80319c")],
    );

    let foreign = prometheus::IntCounter::new("legacy_jobs", "Jobs without a suffix").unwrap();
    foreign.inc_by(5);
    rt.register_collector(Box::new(foreign)).unwrap();
    let opts = prometheus::HistogramOpts::new("aaa_foreign_seconds", "Foreign histogram")
        .buckets(vec![0.1, 1.0]);
    let foreign_histogram = prometheus::HistogramVec::new(opts, &["kind"]).unwrap();
    foreign_histogram.with_label_values(&["x"]).observe(0.5);
    rt.namespace("ns")
        .unwrap()
        .register_collector(Box::new(foreign_histogram))
        .unwrap();

    let mut config = GpuConfig::default();
    config.interval = Duration::from_secs(3600);
    rt.namespace("ns")
        .unwrap()
        .component("worker")
        .unwrap()
        .register_collector(Box::new(GpuCollector::start(FixedGpus, config)))
        .unwrap();
    // The sampler's first pass, polled for, with a deadline that fails loudly.
    let deadline = Instant::now() + Duration::from_secs(30);
    while !rt.render().contains("dynamo_gpu_up{") {
        assert!(Instant::now() < deadline, "no GPU series within 30 s");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    rt
}

fn golden_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("golden")
}

/// Compares `got` with the golden file `name`, or writes it with `GOLDEN_UPDATE=1`.
fn check(name: &str, got: &[u8]) {
    let path = golden_dir().join(name);
    if std::env::var_os("GOLDEN_UPDATE").is_some() {
        std::fs::create_dir_all(golden_dir()).unwrap();
        std::fs::write(&path, got).unwrap();
        return;
    }
    let want = std::fs::read(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (GOLDEN_UPDATE=1 writes it)", path.display()));
    if got != want {
        let at = got.iter().zip(&want).take_while(|(a, b)| a == b).count();
        panic!(
            "{name} differs from {} at byte {at} (lengths {} and {}):\ngot  {:?}\nwant {:?}",
            path.display(),
            got.len(),
            want.len(),
            String::from_utf8_lossy(&got[at.saturating_sub(80)..(at + 80).min(got.len())]),
            String::from_utf8_lossy(&want[at.saturating_sub(80)..(at + 80).min(want.len())]),
        );
    }
}

/// A text page with the uptime's value and the exemplars' timestamps fixed.
fn fixed_text(page: &[u8]) -> Vec<u8> {
    let page = std::str::from_utf8(page).unwrap();
    let mut out = String::new();
    for line in page.lines() {
        if line.starts_with("dynamo_component_uptime_seconds{") {
            let (series, _) = line.rsplit_once(' ').unwrap_or((line, ""));
            out.push_str(series);
            out.push_str(" UPTIME");
        } else if line.contains(" # {") {
            let (before, _timestamp) = line.rsplit_once(' ').unwrap();
            out.push_str(before);
            out.push_str(" TIMESTAMP");
        } else {
            out.push_str(line);
        }
        out.push('\n');
    }
    out.into_bytes()
}

/// A protobuf page with the uptime's value and the exemplars' timestamps fixed, every length
/// written anew.
fn fixed_protobuf(mut page: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while !page.is_empty() {
        let len = usize::try_from(varint(&mut page)).unwrap();
        let (family, rest) = page.split_at(len);
        page = rest;
        let fields = fields(family);
        let uptime = fields
            .iter()
            .any(|(n, v)| *n == 1 && v.bytes() == Some(b"dynamo_component_uptime_seconds"));
        let family = rewrite(family, &|path, field| match (path, field) {
            // MetricFamily.metric.gauge.value of the uptime family.
            ([4, 2, 1], Field::Fixed64(_)) if uptime => Some(Field::Fixed64(0)),
            // Exemplar.timestamp, wherever an exemplar is: Counter.exemplar,
            // Histogram.bucket.exemplar, Histogram.exemplars.
            ([4, 3, 2, 3] | [4, 7, 3, 3, 3] | [4, 7, 16, 3], Field::Len(_)) => None,
            _ => Some(field.clone()),
        });
        put_varint(&mut out, family.len() as u64);
        out.extend_from_slice(&family);
    }
    out
}

#[derive(Clone, Debug)]
enum Field {
    Varint(u64),
    Fixed64(u64),
    Len(Vec<u8>),
}

impl Field {
    fn bytes(&self) -> Option<&[u8]> {
        match self {
            Field::Len(b) => Some(b),
            _ => None,
        }
    }
}

fn varint(bytes: &mut &[u8]) -> u64 {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let (b, rest) = bytes.split_first().unwrap();
        *bytes = rest;
        v |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            break;
        }
    }
    v
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn fields(mut message: &[u8]) -> Vec<(u64, Field)> {
    let mut out = Vec::new();
    while !message.is_empty() {
        let key = varint(&mut message);
        let field = match key & 7 {
            0 => Field::Varint(varint(&mut message)),
            1 => {
                let (v, rest) = message.split_at(8);
                message = rest;
                Field::Fixed64(u64::from_le_bytes(v.try_into().unwrap()))
            }
            2 => {
                let len = usize::try_from(varint(&mut message)).unwrap();
                let (v, rest) = message.split_at(len);
                message = rest;
                Field::Len(v.to_vec())
            }
            wire => panic!("wire type {wire} is not in metrics.proto"),
        };
        out.push((key >> 3, field));
    }
    out
}

/// `message` with every field passed through `map` by its path of field numbers: `None`
/// leaves the field out, a nested message on a path in `NESTED` is rewritten inside.
fn rewrite(message: &[u8], map: &dyn Fn(&[u64], &Field) -> Option<Field>) -> Vec<u8> {
    fn walk(
        message: &[u8],
        path: &mut Vec<u64>,
        map: &dyn Fn(&[u64], &Field) -> Option<Field>,
    ) -> Vec<u8> {
        // Messages inside MetricFamily that hold what `map` touches.
        const NESTED: &[&[u64]] = &[
            &[4],
            &[4, 2],
            &[4, 3],
            &[4, 3, 2],
            &[4, 7],
            &[4, 7, 3],
            &[4, 7, 3, 3],
            &[4, 7, 16],
        ];
        let mut out = Vec::new();
        for (number, field) in fields(message) {
            path.push(number);
            let field = match map(path, &field) {
                Some(Field::Len(inner)) if NESTED.contains(&path.as_slice()) => {
                    Some(Field::Len(walk(&inner, path, map)))
                }
                other => other,
            };
            path.pop();
            let Some(field) = field else { continue };
            match field {
                Field::Varint(v) => {
                    put_varint(&mut out, number << 3);
                    put_varint(&mut out, v);
                }
                Field::Fixed64(v) => {
                    put_varint(&mut out, (number << 3) | 1);
                    out.extend_from_slice(&v.to_le_bytes());
                }
                Field::Len(v) => {
                    put_varint(&mut out, (number << 3) | 2);
                    put_varint(&mut out, v.len() as u64);
                    out.extend_from_slice(&v);
                }
            }
        }
        out
    }
    walk(message, &mut Vec::new(), map)
}

/// The families the name filter asks for: ours of every type, a foreign one, a GPU gauge.
const SOME: &[&str] = &[
    "dynamo_component_hits_total",
    "dynamo_component_latency_seconds",
    "dynamo_frontend_time_to_first_token_seconds",
    "legacy_jobs",
    "dynamo_gpu_up",
    "no_such_family",
];

#[tokio::test]
async fn every_format_is_byte_for_byte_what_was_recorded() {
    let rt = fixed_registry().await;
    for (format, file) in [
        (Format::Text, "text.txt"),
        (Format::OpenMetrics, "openmetrics.txt"),
        (Format::Protobuf, "protobuf.bin"),
    ] {
        let fix = |page: Vec<u8>| match format {
            Format::Protobuf => fixed_protobuf(&page),
            _ => fixed_text(&page),
        };
        check(file, &fix(rt.encode(format, None)));
        check(&format!("some-{file}"), &fix(rt.encode(format, Some(SOME))));
    }
    // The text render of a scrape, which the runtime's own render gives too.
    assert_eq!(
        fixed_text(rt.render().as_bytes()),
        fixed_text(&rt.encode(Format::Text, None))
    );

    // Over HTTP, with `name[]` (the scrape metrics move with every scrape), plain and gzip.
    let addr = rt
        .start_system_server(SystemServerConfig::at(([127, 0, 0, 1], 0)))
        .await
        .unwrap();
    let query: String = SOME
        .iter()
        .map(|n| format!("name[]={n}"))
        .collect::<Vec<_>>()
        .join("&");
    for (accept, file) in [
        ("text/plain;version=0.0.4", "some-text.txt"),
        (
            "application/openmetrics-text;version=1.0.0",
            "some-openmetrics.txt",
        ),
        (
            "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited",
            "some-protobuf.bin",
        ),
    ] {
        for gzip in [false, true] {
            let mut headers = vec![("Accept", accept)];
            if gzip {
                headers.push(("Accept-Encoding", "gzip"));
            }
            let path = format!("/metrics?{query}");
            let response =
                tokio::task::spawn_blocking(move || request_with(addr, "GET", &path, &headers))
                    .await
                    .unwrap();
            assert_eq!(response.status, 200, "{accept}");
            let mut body = response.bytes.clone();
            if gzip {
                assert_eq!(response.header("content-encoding"), Some("gzip"));
                let mut plain = Vec::new();
                flate2::read::GzDecoder::new(&body[..])
                    .read_to_end(&mut plain)
                    .unwrap();
                body = plain;
            }
            let fixed = if file.ends_with(".bin") {
                fixed_protobuf(&body)
            } else {
                fixed_text(&body)
            };
            check(file, &fixed);
        }
    }
    rt.shutdown().await;
}
