//! Content negotiation over HTTP: every media type, q-values, unknown types, gzip on and off,
//! `name[]` filters; and our OpenMetrics read back by Python's strict OpenMetrics parser.

use std::io::Read;
use std::net::SocketAddr;

use dynamo_metrics::{DistributedRuntime, Format, MetricsRegistry, SystemServerConfig};
use dynamo_metrics_tests::{decode_metric_families, python_parse_openmetrics, request_with};
use serde_json::json;

const TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";
const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
const PROTOBUF: &str =
    "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited";
const PROMETHEUS_3: &str = "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.6,application/openmetrics-text;version=0.0.1;q=0.5,text/plain;version=1.0.0;escaping=allow-utf-8;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2";
const ODD: &str = "a \"quoted\" \\ value\nwith a newline, ünïcödé";

/// A runtime with a counter family (an odd label value), a histogram, a gauge and a foreign
/// counter whose name has no `_total`, serving on a free loopback port.
async fn serve() -> (DistributedRuntime, SocketAddr) {
    let mut config =
        dynamo_metrics::RuntimeConfig::default().with_worker_id(dynamo_metrics::WorkerId::Off);
    // Expected pages are written out whole: no tokio readings, which move.
    config.tokio_metrics = false;
    let rt = DistributedRuntime::with_config(&config).unwrap();
    let ep = rt
        .namespace("ns")
        .unwrap()
        .component("c")
        .unwrap()
        .endpoint("e")
        .unwrap();
    let requests = ep
        .create_intcountervec("requests_total", "Requests, \"quoted\"", &["model"], &[])
        .unwrap();
    requests.with_label_values(&[ODD]).unwrap().inc_by(3);
    ep.create_histogram("latency_seconds", "Latency", &[], Some(&[0.5, 1.0]))
        .unwrap()
        .observe(0.7);
    rt.create_intgauge("queue_depth", "Queue depth", &[])
        .unwrap()
        .set(-2);
    let foreign = prometheus::IntCounter::new("legacy_jobs", "Jobs without a suffix").unwrap();
    foreign.inc_by(5);
    rt.register_collector(Box::new(foreign)).unwrap();
    let addr = rt
        .start_system_server(SystemServerConfig::at(([127, 0, 0, 1], 0)))
        .await
        .unwrap();
    (rt, addr)
}

/// The lines of [`serve`]'s histogram and gauge, the same in both text formats.
macro_rules! histogram_and_gauge {
    () => {
        r#"# HELP dynamo_component_latency_seconds Latency
# TYPE dynamo_component_latency_seconds histogram
dynamo_component_latency_seconds_bucket{dynamo_namespace="ns",dynamo_component="c",dynamo_endpoint="e",le="0.5"} 0
dynamo_component_latency_seconds_bucket{dynamo_namespace="ns",dynamo_component="c",dynamo_endpoint="e",le="1"} 1
dynamo_component_latency_seconds_bucket{dynamo_namespace="ns",dynamo_component="c",dynamo_endpoint="e",le="+Inf"} 1
dynamo_component_latency_seconds_sum{dynamo_namespace="ns",dynamo_component="c",dynamo_endpoint="e"} 0.7
dynamo_component_latency_seconds_count{dynamo_namespace="ns",dynamo_component="c",dynamo_endpoint="e"} 1
# HELP dynamo_component_queue_depth Queue depth
# TYPE dynamo_component_queue_depth gauge
dynamo_component_queue_depth -2
"#
    };
}

/// The text page of [`serve`], as the text format 0.0.4 writes it.
const EXPECTED_TEXT: &str = concat!(
    histogram_and_gauge!(),
    r#"# HELP dynamo_component_requests_total Requests, "quoted"
# TYPE dynamo_component_requests_total counter
dynamo_component_requests_total{dynamo_namespace="ns",dynamo_component="c",dynamo_endpoint="e",model="a \"quoted\" \\ value\nwith a newline, ünïcödé"} 3
# HELP dynamo_component_uptime_seconds Total uptime of the DistributedRuntime in seconds
# TYPE dynamo_component_uptime_seconds gauge
dynamo_component_uptime_seconds UPTIME
# HELP legacy_jobs Jobs without a suffix
# TYPE legacy_jobs counter
legacy_jobs 5
"#
);

/// The OpenMetrics page of [`serve`]: a counter's family named without `_total`, quotes
/// escaped in HELP, the foreign counter without `_total` as `unknown`, and `# EOF`.
const EXPECTED_OPENMETRICS: &str = concat!(
    histogram_and_gauge!(),
    r#"# HELP dynamo_component_requests Requests, \"quoted\"
# TYPE dynamo_component_requests counter
dynamo_component_requests_total{dynamo_namespace="ns",dynamo_component="c",dynamo_endpoint="e",model="a \"quoted\" \\ value\nwith a newline, ünïcödé"} 3
# HELP dynamo_component_uptime_seconds Total uptime of the DistributedRuntime in seconds
# TYPE dynamo_component_uptime_seconds gauge
dynamo_component_uptime_seconds UPTIME
# HELP legacy_jobs Jobs without a suffix
# TYPE legacy_jobs unknown
legacy_jobs 5
# EOF
"#
);

async fn get(
    addr: SocketAddr,
    path: &'static str,
    headers: Vec<(&'static str, String)>,
) -> dynamo_metrics_tests::Response {
    tokio::task::spawn_blocking(move || {
        let headers: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
        request_with(addr, "GET", path, &headers)
    })
    .await
    .unwrap()
}

fn gunzip(bytes: &[u8]) -> String {
    let mut out = String::new();
    flate2::read::GzDecoder::new(bytes)
        .read_to_string(&mut out)
        .unwrap();
    out
}

#[tokio::test]
async fn every_negotiation_case_over_http() {
    let (rt, addr) = serve().await;
    // (Accept, Accept-Encoding, Content-Type, gzip)
    let cases: &[(Option<&str>, Option<&str>, &str, bool)] = &[
        (None, None, TEXT, false),
        (Some("*/*"), None, TEXT, false),
        (Some("text/plain;version=0.0.4"), Some("gzip"), TEXT, true),
        (
            Some("application/openmetrics-text; version=1.0.0"),
            None,
            OPENMETRICS,
            false,
        ),
        (
            Some("application/openmetrics-text; version=0.0.1"),
            Some("gzip, deflate"),
            OPENMETRICS,
            true,
        ),
        (
            Some(PROMETHEUS_3),
            Some("gzip"),
            "application/openmetrics-text; version=1.0.0; charset=utf-8; escaping=allow-utf-8",
            true,
        ),
        (
            Some("text/plain;q=0.9, application/openmetrics-text;q=0.5"),
            None,
            TEXT,
            false,
        ),
        (
            Some("text/plain;q=0.5, application/openmetrics-text;q=0.9"),
            Some("identity"),
            OPENMETRICS,
            false,
        ),
        (Some("application/json"), Some("gzip;q=0"), TEXT, false),
        (
            Some("application/openmetrics-text;version=9.9.9"),
            None,
            TEXT,
            false,
        ),
        (Some(";;;=,,garbage"), Some("br"), TEXT, false),
        (
            Some(
                "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;q=0.9,*/*;q=0.1",
            ),
            None,
            PROTOBUF,
            false,
        ),
        (
            Some(
                "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=text",
            ),
            None,
            TEXT,
            false,
        ),
    ];
    for (accept, encoding, content_type, gzipped) in cases {
        let mut headers = Vec::new();
        if let Some(a) = accept {
            headers.push(("Accept", (*a).to_owned()));
        }
        if let Some(e) = encoding {
            headers.push(("Accept-Encoding", (*e).to_owned()));
        }
        let r = get(addr, "/metrics", headers).await;
        let case = format!("Accept {accept:?}, Accept-Encoding {encoding:?}");
        assert_eq!(r.status, 200, "{case}");
        assert_eq!(r.header("content-type"), Some(*content_type), "{case}");
        assert_eq!(
            r.header("content-encoding") == Some("gzip"),
            *gzipped,
            "{case}"
        );
        assert_eq!(r.header("vary"), Some("Accept, Accept-Encoding"), "{case}");
        if *content_type == PROTOBUF {
            // Read back in `protobuf_is_served_and_reads_back`.
            continue;
        }
        let body = if *gzipped {
            gunzip(&r.bytes)
        } else {
            r.body.clone()
        };
        let openmetrics = content_type.starts_with("application/openmetrics-text");
        assert_eq!(body.ends_with("# EOF\n"), openmetrics, "{case}");
        // The page, written out by hand: the test's families, sorted, with the runtime's
        // uptime (its value moves) and without the exporter's own families (they count the
        // scrapes of every test of this binary).
        let expected = if openmetrics {
            EXPECTED_OPENMETRICS
        } else {
            EXPECTED_TEXT
        };
        let page: String = body
            .split_inclusive('\n')
            .filter(|l| !l.contains("dynamo_metrics_"))
            .map(
                |l| match l.strip_prefix("dynamo_component_uptime_seconds ") {
                    Some(_) => "dynamo_component_uptime_seconds UPTIME\n",
                    None => l,
                },
            )
            .collect();
        assert_eq!(page, expected, "{case}");
    }
    rt.shutdown().await;
}

#[tokio::test]
async fn name_parameters_filter_families() {
    let (rt, addr) = serve().await;
    let r = get(
        addr,
        "/metrics?name[]=dynamo_component_queue_depth&name%5B%5D=legacy_jobs&other=1",
        vec![("Accept", "application/openmetrics-text".to_owned())],
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.body,
        "# HELP dynamo_component_queue_depth Queue depth\n# TYPE dynamo_component_queue_depth gauge\ndynamo_component_queue_depth -2\n\
         # HELP legacy_jobs Jobs without a suffix\n# TYPE legacy_jobs unknown\nlegacy_jobs 5\n# EOF\n"
    );
    let none = get(addr, "/metrics?name[]=no_such_family", vec![]).await;
    assert_eq!(none.status, 200);
    assert_eq!(none.body, "");
    rt.shutdown().await;
}

#[tokio::test]
async fn openmetrics_reads_back_through_the_strict_parser() {
    let (rt, _) = serve().await;
    let text = String::from_utf8(rt.encode(Format::OpenMetrics, None)).unwrap();
    // Values as floats: the parser gives integers for some.
    let samples: Vec<serde_json::Value> = python_parse_openmetrics(&text)
        .as_array()
        .unwrap()
        .iter()
        .map(|s| json!([s[0], s[1], s[2].as_f64().unwrap()]))
        .collect();
    let has = |want: serde_json::Value| {
        assert!(samples.contains(&want), "missing {want} in {samples:#?}");
    };
    let ep = json!({"dynamo_namespace": "ns", "dynamo_component": "c", "dynamo_endpoint": "e"});
    let mut odd = ep.clone();
    odd["model"] = json!(ODD);
    has(json!(["dynamo_component_requests_total", odd, 3.0]));
    let mut bucket = ep.clone();
    // Bounds are written as in the text format (`1`), so a series keeps its identity when a
    // Prometheus 2 switches formats; Prometheus 3 normalises both spellings to `1.0`.
    bucket["le"] = json!("1");
    has(json!([
        "dynamo_component_latency_seconds_bucket",
        bucket,
        1.0
    ]));
    has(json!(["dynamo_component_latency_seconds_count", ep, 1.0]));
    has(json!(["dynamo_component_queue_depth", {}, -2.0]));
    has(json!(["legacy_jobs", {}, 5.0]));
    rt.shutdown().await;
}

#[tokio::test]
async fn protobuf_is_served_and_reads_back() {
    let (rt, addr) = serve().await;
    let accept = "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;q=0.6,application/openmetrics-text;version=1.0.0;q=0.5,*/*;q=0.1";
    for gzip in [false, true] {
        let mut headers = vec![("Accept", accept.to_owned())];
        if gzip {
            headers.push(("Accept-Encoding", "gzip".to_owned()));
        }
        let r = get(addr, "/metrics", headers).await;
        assert_eq!(r.status, 200);
        assert_eq!(r.header("content-type"), Some(PROTOBUF));
        let bytes = if gzip {
            let mut out = Vec::new();
            flate2::read::GzDecoder::new(&r.bytes[..])
                .read_to_end(&mut out)
                .unwrap();
            out
        } else {
            r.bytes.clone()
        };
        let families = decode_metric_families(&bytes);
        let names: Vec<&str> = families
            .iter()
            .map(|f| f["name"].as_str().unwrap())
            .collect();
        let mut sorted = names.clone();
        sorted.sort_unstable();
        assert_eq!(names, sorted, "families in name order");
        let family = |name: &str| {
            families
                .iter()
                .find(|f| f["name"] == name)
                .unwrap_or_else(|| panic!("no {name} in {families:#?}"))
        };
        let requests = family("dynamo_component_requests_total");
        assert_eq!(requests["type"], 0);
        assert_eq!(requests["help"], "Requests, \"quoted\"");
        let metric = &requests["metric"][0];
        assert_eq!(metric["counter"]["value"], 3.0);
        assert_eq!(
            metric["label"],
            json!([
                {"name": "dynamo_namespace", "value": "ns"},
                {"name": "dynamo_component", "value": "c"},
                {"name": "dynamo_endpoint", "value": "e"},
                {"name": "model", "value": ODD},
            ])
        );
        let latency = &family("dynamo_component_latency_seconds")["metric"][0]["histogram"];
        assert_eq!(latency["sample_count"], 1);
        assert_eq!(latency["sample_sum"], 0.7);
        assert_eq!(
            latency["bucket"],
            json!([{"cumulative_count": 0, "upper_bound": 0.5}, {"cumulative_count": 1, "upper_bound": 1.0}])
        );
        assert_eq!(
            family("dynamo_component_queue_depth")["metric"][0]["gauge"]["value"],
            -2.0
        );
        assert_eq!(family("legacy_jobs")["metric"][0]["counter"]["value"], 5.0);
    }
    rt.shutdown().await;
}

#[tokio::test]
async fn native_histograms_in_protobuf_and_classic_buckets_in_text() {
    use dynamo_metrics::DynamoMetrics;
    use dynamo_metrics::builtin::{FrontendMetrics, ModelLabels};
    let rt = DistributedRuntime::with_config(
        &dynamo_metrics::RuntimeConfig::default().with_worker_id(dynamo_metrics::WorkerId::Off),
    )
    .unwrap();
    let frontend = FrontendMetrics::register(&rt).unwrap();
    let model = ModelLabels { model: "m".into() };
    for v in [0.5, 1.0, 1.05, 1.05, 2.0] {
        frontend.time_to_first_token.observe(&model, v);
    }
    let name = "dynamo_frontend_time_to_first_token_seconds";
    let families = decode_metric_families(&rt.encode(Format::Protobuf, Some(&[name])));
    let h = &families[0]["metric"][0]["histogram"];
    assert_eq!(h["sample_count"], 5);
    assert_eq!(h["schema"], 3, "a bucket factor of 1.1 is schema 3");
    assert_eq!(h["zero_count"], 0);
    // Keys: 0.5 is the top of bucket -8, 1 of bucket 0, 1.05 falls in bucket 1, 2 tops bucket 8.
    assert_eq!(
        h["positive_span"],
        json!([{"offset": -8, "length": 1}, {"offset": 7, "length": 2}, {"offset": 6, "length": 1}])
    );
    // Counts 1, 1, 2, 1 as deltas.
    assert_eq!(h["positive_delta"], json!([1, 0, 1, -1]));
    // Classic buckets stay beside, and are all the text formats show.
    assert!(h["bucket"].as_array().unwrap().len() > 10);
    let text = rt.render();
    assert!(
        text.contains(&format!("{name}_bucket{{model=\"m\",le=\"+Inf\"}} 5\n")),
        "{text}"
    );
    assert!(!text.contains("schema"));
}

#[tokio::test]
async fn exemplars_in_openmetrics_and_protobuf_never_in_text() {
    let rt = DistributedRuntime::with_config(
        &dynamo_metrics::RuntimeConfig::default().with_worker_id(dynamo_metrics::WorkerId::Off),
    )
    .unwrap();
    let latency = rt
        .create_histogram("exemplar_seconds", "Latency", &[], Some(&[0.5, 1.0]))
        .unwrap();
    let hits = rt
        .create_intcounter("exemplar_hits_total", "Hits", &[])
        .unwrap();
    latency.observe_with_exemplar(0.7, &[("trace_id", "4bf92f3577b34da6a3ce929d0e0e4736")]);
    hits.inc_by_with_exemplar(2, &[("trace_id", "abc")]);
    // Too long: the observation counts, the exemplar is dropped and counted.
    hits.inc_by_with_exemplar(1, &[("trace_id", &"x".repeat(200))]);
    let openmetrics = String::from_utf8(rt.encode(Format::OpenMetrics, None)).unwrap();
    let parsed = python_parse_openmetrics(&openmetrics);
    let sample = |name: &str, le: Option<&str>| {
        parsed
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s[0] == name && le.is_none_or(|le| s[1]["le"] == le))
            .unwrap_or_else(|| panic!("no {name} in {parsed:#}"))
            .clone()
    };
    let bucket = sample("dynamo_component_exemplar_seconds_bucket", Some("1"));
    assert_eq!(
        bucket[3]["labels"]["trace_id"],
        "4bf92f3577b34da6a3ce929d0e0e4736"
    );
    assert_eq!(bucket[3]["value"], 0.7);
    assert!(sample("dynamo_component_exemplar_seconds_bucket", Some("0.5"))[3].is_null());
    let counter = sample("dynamo_component_exemplar_hits_total", None);
    assert_eq!(counter[2], 3.0);
    assert_eq!(counter[3]["labels"]["trace_id"], "abc");
    assert!(openmetrics.contains("dynamo_metrics_exemplars_dropped_total "));
    // Text 0.0.4 has no exemplars.
    assert!(!rt.render().contains(" # {"));
    // Protobuf: the counter's and the bucket's exemplars.
    let families = decode_metric_families(&rt.encode(
        Format::Protobuf,
        Some(&[
            "dynamo_component_exemplar_hits_total",
            "dynamo_component_exemplar_seconds",
        ]),
    ));
    assert_eq!(families.len(), 2);
    let trace_of = |e: &serde_json::Value| {
        assert_eq!(e["label"].as_array().map(Vec::len), Some(1), "{e}");
        assert_eq!(e["label"][0]["name"], "trace_id", "{e}");
        e["label"][0]["value"].as_str().unwrap().to_owned()
    };
    let hits = &families[0];
    assert_eq!(hits["name"], "dynamo_component_exemplar_hits_total");
    let counter = &hits["metric"][0]["counter"];
    assert_eq!(counter["value"], 3.0);
    assert_eq!(trace_of(&counter["exemplar"]), "abc");
    assert_eq!(counter["exemplar"]["value"], 2.0);
    assert!(
        counter["exemplar"]["timestamp"]["seconds"]
            .as_u64()
            .unwrap()
            > 1_700_000_000
    );
    let latency = &families[1];
    assert_eq!(latency["name"], "dynamo_component_exemplar_seconds");
    let buckets = latency["metric"][0]["histogram"]["bucket"]
        .as_array()
        .unwrap();
    assert_eq!(buckets[0]["upper_bound"], 0.5);
    assert!(buckets[0]["exemplar"].is_null(), "{buckets:?}");
    assert_eq!(buckets[1]["upper_bound"], 1.0);
    assert_eq!(
        trace_of(&buckets[1]["exemplar"]),
        "4bf92f3577b34da6a3ce929d0e0e4736"
    );
    assert_eq!(buckets[1]["exemplar"]["value"], 0.7);
}

/// The route reuses its page buffers from scrape to scrape: a page after a longer one, gzipped
/// or not, holds its own bytes and nothing of the page before.
#[tokio::test]
async fn pages_after_longer_ones_hold_only_their_own() {
    let (rt, addr) = serve().await;
    let long = "/metrics?name[]=dynamo_component_requests_total&name[]=dynamo_component_latency_seconds&name[]=legacy_jobs";
    let short = "/metrics?name[]=legacy_jobs";
    let want = |names: &[&str]| String::from_utf8(rt.encode(Format::Text, Some(names))).unwrap();
    let (want_long, want_short) = (
        want(&[
            "dynamo_component_requests_total",
            "dynamo_component_latency_seconds",
            "legacy_jobs",
        ]),
        want(&["legacy_jobs"]),
    );
    assert!(want_short.len() * 4 < want_long.len());
    let gzip = || vec![("Accept-Encoding", "gzip".to_owned())];
    for _ in 0..3 {
        assert_eq!(get(addr, long, vec![]).await.body, want_long);
        assert_eq!(get(addr, short, vec![]).await.body, want_short);
        assert_eq!(gunzip(&get(addr, long, gzip()).await.bytes), want_long);
        assert_eq!(gunzip(&get(addr, short, gzip()).await.bytes), want_short);
    }
    rt.shutdown().await;
}

/// `encode_into` replaces what its buffer held (here bytes that are not UTF-8) in every
/// format, and gives what `encode` gives.
#[test]
fn encode_into_replaces_what_the_buffer_held() {
    let rt = DistributedRuntime::with_config(&dynamo_metrics::RuntimeConfig::default()).unwrap();
    rt.create_intcounter("jobs_total", "Jobs", &[])
        .unwrap()
        .inc_by(7);
    let names = Some(&["dynamo_component_jobs_total"][..]);
    for format in [Format::Text, Format::OpenMetrics, Format::Protobuf] {
        let mut buffer = vec![0xff; 100_000];
        rt.encode_into(format, names, &mut buffer);
        assert_eq!(buffer, rt.encode(format, names), "{format:?}");
        assert!(!buffer.is_empty());
    }
}
