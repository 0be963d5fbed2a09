//! Relayed engine expositions and foreign sources that fail: a real engine library (Python's
//! `prometheus_client`, plain and multiprocess) relayed in every format with our labels;
//! panicking collectors and callbacks, dead, slow, failing and garbage URLs each left out of
//! the scrape alone, counted, the rest of the page served.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::time::Duration;

use dynamo_metrics::prometheus::core::{Collector, Desc};
use dynamo_metrics::prometheus::proto;
use dynamo_metrics::{
    DistributedRuntime, Endpoint, Format, MetricsRegistry, RelaySource, RuntimeConfig, WorkerId,
};
use dynamo_metrics_tests::engine::PythonEngine;
use dynamo_metrics_tests::{decode_metric_families, python_parse, python_parse_openmetrics};
use serde_json::{Value, json};

fn runtime() -> DistributedRuntime {
    DistributedRuntime::with_config(
        &RuntimeConfig::default().with_worker_id(WorkerId::Fixed("w1".into())),
    )
    .unwrap()
}

fn endpoint(rt: &DistributedRuntime) -> Endpoint {
    rt.namespace("ns")
        .unwrap()
        .component("backend")
        .unwrap()
        .endpoint("generate")
        .unwrap()
}

/// Our labels on an endpoint of `runtime()`, and the engine's own.
fn labelled(own: &[(&str, &str)]) -> Value {
    let mut labels = json!({
        "dynamo_namespace": "ns", "dynamo_component": "backend", "dynamo_endpoint": "generate",
        "worker_id": "w1"
    });
    for (k, v) in own {
        labels[*k] = json!(v);
    }
    labels
}

/// The value of sample `name` with `labels` in a parse of Python's.
fn sample(parsed: &Value, name: &str, labels: &Value) -> f64 {
    parsed
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s[0] == name && &s[1] == labels)
        .unwrap_or_else(|| panic!("no {name} {labels} in {parsed:#}"))[2]
        .as_f64()
        .unwrap()
}

/// `source_failures_total` of `source` for `reason` in the text page `page`.
fn failures(page: &str, source: &str, reason: &str) -> u64 {
    let series = format!(
        "dynamo_metrics_source_failures_total{{worker_id=\"w1\",source=\"{source}\",reason=\"{reason}\"}} "
    );
    page.lines()
        .find_map(|l| l.strip_prefix(series.as_str())?.parse().ok())
        .unwrap_or(0)
}

fn relay_engine(multiprocess: bool) -> (DistributedRuntime, PythonEngine) {
    let engine = PythonEngine::start(multiprocess);
    let rt = runtime();
    let ep = endpoint(&rt);
    ep.create_intcounter("requests_total", "Requests", &[])
        .unwrap()
        .inc_by(5);
    let source = RelaySource::url("vllm", &engine.url)
        .unwrap()
        .drop_prefixes(&["python_", "process_"]);
    ep.relay(source).unwrap();
    (rt, engine)
}

#[test]
fn a_python_engine_is_relayed_in_every_format_with_our_labels() {
    let (rt, _engine) = relay_engine(false);
    let model = labelled(&[("model_name", "m")]);
    let text = rt.render();
    assert!(!text.contains("python_gc"), "dropped by prefix");
    let parsed = python_parse(&text);
    assert_eq!(sample(&parsed, "vllm:prompt_tokens_total", &model), 21.0);
    assert_eq!(sample(&parsed, "vllm:num_requests_running", &model), 3.0);
    let mut bucket = model.clone();
    bucket["le"] = json!("1");
    assert_eq!(
        sample(&parsed, "vllm:time_to_first_token_seconds_bucket", &bucket),
        1.0
    );
    assert_eq!(
        sample(&parsed, "vllm:time_to_first_token_seconds_sum", &model),
        0.5
    );
    assert_eq!(
        sample(&parsed, "vllm:request_latency_seconds_count", &model),
        1.0
    );
    assert_eq!(
        sample(&parsed, "dynamo_component_requests_total", &labelled(&[])),
        5.0
    );

    let openmetrics = String::from_utf8(rt.encode(Format::OpenMetrics, None)).unwrap();
    let parsed = python_parse_openmetrics(&openmetrics);
    let counter = parsed
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s[0] == "vllm:prompt_tokens_total" && s[1] == model)
        .unwrap_or_else(|| panic!("{openmetrics}"));
    assert_eq!(counter[2], 21.0);

    // Relayed histograms stay histograms in protobuf.
    let families = decode_metric_families(&rt.encode(Format::Protobuf, None));
    let ttft = families
        .iter()
        .find(|f| f["name"] == "vllm:time_to_first_token_seconds")
        .unwrap();
    assert_eq!(ttft["type"], 4);
    let h = &ttft["metric"][0]["histogram"];
    assert_eq!(
        (h["sample_count"].as_u64(), h["sample_sum"].as_f64()),
        (Some(1), Some(0.5))
    );
    assert_eq!(failures(&rt.render(), "vllm", "unreachable"), 0);
}

#[test]
fn a_multiprocess_engine_is_relayed_summed_over_its_processes() {
    let (rt, _engine) = relay_engine(true);
    let model = labelled(&[("model_name", "m")]);
    let parsed = python_parse(&rt.render());
    assert_eq!(sample(&parsed, "vllm:prompt_tokens_total", &model), 42.0);
    assert_eq!(sample(&parsed, "vllm:num_requests_running", &model), 6.0);
    assert_eq!(
        sample(&parsed, "vllm:time_to_first_token_seconds_count", &model),
        2.0
    );
}

/// A collector whose `collect` panics, as a broken one in existing code might.
struct Panicking(Desc);

impl Collector for Panicking {
    fn desc(&self) -> Vec<&Desc> {
        vec![&self.0]
    }
    fn collect(&self) -> Vec<proto::MetricFamily> {
        panic!("collector broken");
    }
}

#[test]
fn a_panicking_collector_or_callback_leaves_the_rest_of_the_page() {
    let rt = runtime();
    let ep = endpoint(&rt);
    ep.create_intcounter("requests_total", "Requests", &[])
        .unwrap()
        .inc();
    let desc = Desc::new("broken".into(), "Broken".into(), vec![], Default::default()).unwrap();
    rt.register_collector(Box::new(Panicking(desc))).unwrap();
    ep.relay(RelaySource::callback("engine", || panic!("engine gone")))
        .unwrap();
    for format in [Format::Text, Format::OpenMetrics, Format::Protobuf] {
        assert!(!rt.encode(format, None).is_empty());
    }
    let text = rt.render();
    assert!(text.contains("dynamo_component_requests_total{"), "{text}");
    // Three encodes, then this render.
    assert_eq!(failures(&text, "collector:broken", "panic"), 4);
    assert_eq!(failures(&text, "engine", "panic"), 4);
}

/// A server on loopback that answers every connection with `answer` (after reading the
/// request), or never answers when `answer` is `None`.
fn server(answer: Option<Vec<u8>>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let mut request = [0u8; 1024];
            let _ = stream.read(&mut request);
            match &answer {
                Some(answer) => {
                    let _ = stream.write_all(answer);
                }
                None => held.push(stream),
            }
        }
    });
    format!("http://{addr}/metrics")
}

#[test]
fn failing_sources_fail_alone_within_their_deadline() {
    let rt = runtime();
    let ep = endpoint(&rt);
    ep.create_intcounter("requests_total", "Requests", &[])
        .unwrap()
        .inc();
    let dead = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let big = format!(
        "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n{}",
        "a 1\n".repeat(10_000)
    );
    let cases: Vec<(&str, String, &str)> = vec![
        ("dead", format!("http://{dead}/metrics"), "unreachable"),
        ("slow", server(None), "timeout"),
        (
            "busy",
            server(Some(
                b"HTTP/1.1 503 Busy\r\nConnection: close\r\n\r\n".to_vec(),
            )),
            "status",
        ),
        (
            "html",
            server(Some(
                b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n<html>".to_vec(),
            )),
            "garbage",
        ),
        (
            "ssh",
            server(Some(b"SSH-2.0-OpenSSH\r\n".to_vec())),
            "garbage",
        ),
        ("big", server(Some(big.into_bytes())), "too_large"),
    ];
    for (name, url, _) in &cases {
        let source = RelaySource::url(name, url)
            .unwrap()
            .deadline(Duration::from_millis(300))
            .max_bytes(1_000);
        ep.relay(source).unwrap();
    }
    // A source that works beside them.
    ep.relay(RelaySource::callback("fine", || {
        "# TYPE vllm:ok gauge\nvllm:ok 7\n".to_owned()
    }))
    .unwrap();
    let text = rt.render();
    assert!(text.contains("dynamo_component_requests_total{"), "{text}");
    assert!(text.contains("vllm:ok{dynamo_namespace=\"ns\""), "{text}");
    for (name, _, reason) in &cases {
        assert_eq!(failures(&text, name, reason), 1, "{name}: {reason}");
    }
    assert!(
        ep.relay(RelaySource::callback("fine", String::new))
            .is_err(),
        "names are unique"
    );
}

#[test]
fn labels_sources_win_unless_ours_do_and_families_named_like_ours_are_left_out() {
    let rt = runtime();
    let ep = endpoint(&rt);
    ep.create_intcounter("requests_total", "Requests", &[])
        .unwrap()
        .inc_by(2);
    let text = "# TYPE engine_up gauge\nengine_up{dynamo_component=\"engine\"} 1\n\
                # TYPE dynamo_component_requests_total counter\ndynamo_component_requests_total 99\n";
    ep.relay(RelaySource::callback("theirs", move || text.to_owned()))
        .unwrap();
    let page = rt.render();
    assert!(
        page.contains("engine_up{dynamo_namespace=\"ns\",dynamo_endpoint=\"generate\",worker_id=\"w1\",dynamo_component=\"engine\"} 1\n"),
        "{page}"
    );
    assert_eq!(
        page.matches("# TYPE dynamo_component_requests_total")
            .count(),
        1
    );
    assert!(!page.contains(" 99\n"), "ours, never twice: {page}");

    let rt = runtime();
    let text = "# TYPE engine_up gauge\nengine_up{dynamo_component=\"engine\"} 1\n";
    endpoint(&rt)
        .relay(RelaySource::callback("ours", move || text.to_owned()).ours_win())
        .unwrap();
    assert!(rt.render().contains("engine_up{dynamo_namespace=\"ns\",dynamo_component=\"backend\",dynamo_endpoint=\"generate\",worker_id=\"w1\"} 1\n"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_status_server_serves_a_relayed_url() {
    let engine = tokio::task::spawn_blocking(|| PythonEngine::start(false))
        .await
        .unwrap();
    let mut config = RuntimeConfig::default().with_worker_id(WorkerId::Fixed("w1".into()));
    config.system_server = Some(dynamo_metrics::SystemServerConfig::at(([127, 0, 0, 1], 0)));
    config.gpu = None;
    let rt = DistributedRuntime::from_config(config).await.unwrap();
    endpoint(&rt)
        .relay(RelaySource::url("vllm", &engine.url).unwrap())
        .unwrap();
    let addr = rt.system_server_addr().unwrap();
    let response =
        tokio::task::spawn_blocking(move || dynamo_metrics_tests::request(addr, "GET", "/metrics"))
            .await
            .unwrap();
    assert_eq!(response.status, 200);
    assert!(
        response
            .body
            .contains("vllm:num_requests_running{dynamo_namespace=\"ns\""),
        "{}",
        response.body
    );
    rt.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tokio_runtime_is_sampled_at_each_scrape_and_can_be_turned_off() {
    let rt = runtime();
    let text = rt.render();
    assert!(
        text.contains("dynamo_tokio_workers{worker_id=\"w1\"} 2\n"),
        "{text}"
    );
    assert!(text.contains("# TYPE dynamo_tokio_worker_busy_seconds_total counter\n"));
    assert!(text.contains("dynamo_tokio_worker_park_count_total{worker_id=\"w1\",worker=\"1\"} "));
    assert!(text.contains("dynamo_tokio_alive_tasks{worker_id=\"w1\"} "));
    python_parse(&text);

    let mut config = RuntimeConfig::default().with_worker_id(WorkerId::Fixed("w1".into()));
    config.tokio_metrics = false;
    let off = DistributedRuntime::with_config(&config).unwrap();
    assert!(!off.render().contains("dynamo_tokio_"));
    let from_env = |value: &str| {
        RuntimeConfig::from_lookup(|var| (var == "DYN_METRICS_TOKIO").then(|| value.to_owned()))
    };
    assert!(!from_env("0").unwrap().tokio_metrics);
    assert!(from_env("on").unwrap().tokio_metrics);
    assert!(
        from_env("maybe")
            .unwrap_err()
            .to_string()
            .contains("DYN_METRICS_TOKIO")
    );
}

#[test]
fn a_runtime_made_outside_tokio_has_no_tokio_metrics() {
    assert!(!runtime().render().contains("dynamo_tokio_"));
}

#[test]
fn constant_labels_go_on_every_series_ours_and_relayed() {
    let env = |value: &'static str| {
        RuntimeConfig::from_lookup(move |var| match var {
            "DYN_METRICS_CONST_LABELS" => Some(value.to_owned()),
            "DYN_WORKER_ID" => Some("w1".to_owned()),
            _ => None,
        })
    };
    let config = env("cluster=a, region=b").unwrap();
    assert_eq!(
        config.const_labels,
        [
            ("cluster".to_owned(), "a".to_owned()),
            ("region".to_owned(), "b".to_owned())
        ]
    );
    let rt = DistributedRuntime::with_config(&config).unwrap();
    let ep = endpoint(&rt);
    ep.create_intcounter("requests_total", "Requests", &[])
        .unwrap()
        .inc();
    ep.create_intcountervec("by_cluster_total", "By cluster", &["cluster"], &[])
        .unwrap()
        .with_label_values(&["z"])
        .unwrap()
        .inc();
    ep.relay(RelaySource::callback("engine", || {
        "# TYPE vllm:x gauge\nvllm:x 1\n".to_owned()
    }))
    .unwrap();
    let text = rt.render();
    let ours = "dynamo_namespace=\"ns\",dynamo_component=\"backend\",dynamo_endpoint=\"generate\",worker_id=\"w1\"";
    for line in [
        format!("dynamo_component_requests_total{{{ours},cluster=\"a\",region=\"b\"}} 1\n"),
        format!("vllm:x{{{ours},cluster=\"a\",region=\"b\"}} 1\n"),
        // A family's own label of the same name wins.
        format!("dynamo_component_by_cluster_total{{{ours},region=\"b\",cluster=\"z\"}} 1\n"),
    ] {
        assert!(text.contains(&line), "{line} in {text}");
    }
    assert!(
        text.contains(
            "dynamo_component_uptime_seconds{worker_id=\"w1\",cluster=\"a\",region=\"b\"} "
        )
    );
    python_parse(&text);
    for bad in [
        "dynamo_component=x",
        "worker_id=1",
        "le=1",
        "__x=1",
        "1a=b",
        "a=1,a=2",
    ] {
        let err = env(bad).unwrap_err().to_string();
        let name = bad.split('=').next().unwrap();
        assert!(err.contains(name), "{bad}: {err}");
    }
    assert!(
        env("novalue")
            .unwrap_err()
            .to_string()
            .contains("DYN_METRICS_CONST_LABELS")
    );
}
