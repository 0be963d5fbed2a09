//! A real Prometheus server (Debian's `prometheus`, which `.ci/run` installs) scrapes the demo
//! under load, with GPU gauges from a test source in dcgm-exporter compatibility mode; then
//! every query of every panel and variable of both shipped dashboards runs through its HTTP
//! API and must return data.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use dynamo_examples::demo::{self, DemoConfig, EngineTimings};
use dynamo_metrics::{GpuCollector, GpuConfig, MetricsRegistry, RuntimeConfig};
use dynamo_metrics_tests::{FixedGpus, Prometheus, encode, request, traced_request};
use serde_json::Value;

fn start_prometheus(frontend: SocketAddr, workers: &[SocketAddr], flags: &[&str]) -> Prometheus {
    let workers: Vec<String> = workers.iter().map(|w| format!("\"{w}\"")).collect();
    let config = format!(
        "global:\n  scrape_interval: 1s\nscrape_configs:\n  \
         - job_name: dynamo-frontend\n    static_configs:\n      - targets: [\"{frontend}\"]\n  \
         - job_name: dynamo-backend\n    static_configs:\n      - targets: [{}]\n",
        workers.join(", ")
    );
    Prometheus::start(&frontend.port().to_string(), &config, flags)
}

/// A dashboard query with the Grafana variables replaced: every variable as "All".
fn substitute(expr: &str) -> String {
    let mut out = expr.replace("$__rate_interval", "15s");
    for var in ["model", "namespace", "component", "endpoint", "hostname"] {
        out = out.replace(&format!("${var}"), ".*");
    }
    out
}

/// `label_values(metric, label)` as PromQL.
fn variable_query(query: &str) -> String {
    let inner = query
        .trim()
        .strip_prefix("label_values(")
        .and_then(|q| q.strip_suffix(')'))
        .expect("label_values");
    let (metric, label) = inner.rsplit_once(',').expect("two arguments");
    substitute(&format!("count by ({}) ({})", label.trim(), metric.trim()))
}

/// The values of an instant query's result series, or why it failed.
fn result_values(prometheus: SocketAddr, query: &str) -> Result<Vec<f64>, String> {
    let path = format!("/api/v1/query?query={}", encode(query));
    let r = request(prometheus, "GET", Box::leak(path.into_boxed_str()));
    let body: Value =
        serde_json::from_str(&r.body).map_err(|e| format!("not JSON ({e}): {}", r.body))?;
    if body["status"] != "success" {
        return Err(format!("{}: {}", body["errorType"], body["error"]));
    }
    let series = body["data"]["result"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    series
        .iter()
        .map(|s| {
            s["value"][1]
                .as_str()
                .and_then(|v| v.parse::<f64>().ok())
                .ok_or_else(|| format!("a series without a value: {s}"))
        })
        .collect()
}

/// Why the values of dashboard query `q` do not answer it, if they do not: no series, a value
/// that is not finite (`NaN` from `histogram_quantile` over no observations), or, for a rate or
/// a quantile of a family the load moves, no series above zero. The GPU gauges come from a
/// fixed test source, so their rates stay at zero.
fn unanswered(q: &str, values: &[f64]) -> Option<String> {
    if values.is_empty() {
        return Some("no data".to_owned());
    }
    if let Some(v) = values.iter().find(|v| !v.is_finite()) {
        return Some(format!("a value that is not finite: {v}"));
    }
    let moved_by_load = !q.contains("gpu") && !q.contains("DCGM");
    let moves = ["rate(", "increase(", "histogram_quantile("]
        .iter()
        .any(|f| q.contains(f));
    (moved_by_load && moves && values.iter().all(|v| *v <= 0.0))
        .then(|| format!("no series above zero under load: {values:?}"))
}

/// Waits until Prometheus holds at least `scrapes` scrapes of each of the `targets` (the
/// frontend and the workers) in the last minute, so that every `rate()` window has samples;
/// fails after a minute.
async fn wait_for_scrapes(prometheus: SocketAddr, scrapes: u32, targets: usize) {
    let q = format!("min(count_over_time(up[1m])) and count(count_over_time(up[1m])) == {targets}");
    let q: &'static str = Box::leak(q.into_boxed_str());
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let values = tokio::task::spawn_blocking(move || result_values(prometheus, q))
            .await
            .unwrap()
            .unwrap();
        if values.first().is_some_and(|n| *n >= f64::from(scrapes)) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "Prometheus took fewer than {scrapes} scrapes of each target in a minute: {values:?}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// The status servers of the demo's workers.
fn worker_addrs(demo: &demo::Demo) -> Vec<SocketAddr> {
    demo.workers.iter().map(|(_, addr)| *addr).collect()
}

fn demo_config() -> DemoConfig {
    DemoConfig {
        host: "127.0.0.1".parse().unwrap(),
        frontend_port: 0,
        system_port: 0,
        workers: 2,
        models: vec!["mock-llama".into()],
        timings: EngineTimings {
            prefill_base: Duration::from_millis(5),
            prefill_per_token: Duration::ZERO,
            inter_token: Duration::from_millis(2),
        },
        web_config_file: None,
        relays: Vec::new(),
        runtime: {
            let mut runtime = RuntimeConfig::default();
            runtime.gpu = None;
            runtime
        },
    }
}

/// Drives the demo's load generator until `stop` is set.
fn drive(frontend: SocketAddr, stop: Arc<AtomicBool>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        while !stop.load(Ordering::Relaxed) {
            let summary = demo::load::run(frontend, "mock-llama".into(), 4, 40).await;
            assert_eq!(summary.unexpected, 0, "{summary}");
        }
    })
}

/// The result of an instant query.
fn query(prometheus: SocketAddr, q: &str) -> Value {
    let path = format!("/api/v1/query?query={}", encode(q));
    let r = request(prometheus, "GET", Box::leak(path.into_boxed_str()));
    let body: Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(body["status"], "success", "{q}: {body}");
    body["data"]["result"].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn native_histograms_reach_a_prometheus_with_the_feature_on() {
    let demo = demo::start(demo_config()).await.unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let load = drive(demo.frontend, stop.clone());
    let (frontend, workers) = (demo.frontend, worker_addrs(&demo));
    let targets = workers.len() + 1;
    // With native histograms on, Prometheus asks for protobuf first.
    let prometheus = tokio::task::spawn_blocking(move || {
        start_prometheus(frontend, &workers, &["--enable-feature=native-histograms"])
    })
    .await
    .unwrap();
    wait_for_scrapes(prometheus.addr, 6, targets).await;
    let addr = prometheus.addr;
    let (p99, raw, duration) = tokio::task::spawn_blocking(move || {
        (
            query(
                addr,
                "histogram_quantile(0.99, rate(dynamo_frontend_time_to_first_token_seconds[1m]))",
            ),
            query(addr, "dynamo_frontend_time_to_first_token_seconds"),
            query(
                addr,
                "sum(histogram_count(rate(dynamo_component_request_duration_seconds[1m])))",
            ),
        )
    })
    .await
    .unwrap();
    stop.store(true, Ordering::Relaxed);
    load.await
        .expect("the load generator met an unexpected answer");
    drop(prometheus);
    demo.shutdown().await;
    // The series is a native histogram (a `histogram` sample, not a `value`), and its
    // quantile is a real latency: the mock engine's first token takes about 5 ms.
    assert!(raw[0]["histogram"].is_array(), "not native: {raw}");
    let p99: f64 = p99[0]["value"][1].as_str().unwrap().parse().unwrap();
    assert!(p99 > 0.001, "p99 TTFT {p99}");
    let rate: f64 = duration[0]["value"][1].as_str().unwrap().parse().unwrap();
    assert!(rate > 0.0, "worker request duration rate {rate}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exemplars_carry_the_trace_id_sent_in_traceparent() {
    let demo = demo::start(demo_config()).await.unwrap();
    let (frontend, workers) = (demo.frontend, worker_addrs(&demo));
    let prometheus = tokio::task::spawn_blocking(move || {
        start_prometheus(frontend, &workers, &["--enable-feature=exemplar-storage"])
    })
    .await
    .unwrap();
    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let addr = prometheus.addr;
    tokio::task::spawn_blocking(move || {
        assert_eq!(traced_request(frontend, trace_id), 200);
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let path = format!(
                "/api/v1/query_exemplars?query={}&start={}&end={}",
                encode("dynamo_component_request_duration_seconds_bucket"),
                now - 60,
                now + 60
            );
            let r = request(addr, "GET", Box::leak(path.into_boxed_str()));
            if r.body.contains(trace_id) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "no exemplar with the trace id within a minute: {}",
                r.body
            );
            std::thread::sleep(Duration::from_millis(500));
        }
    })
    .await
    .unwrap();
    drop(prometheus);
    demo.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_dashboard_query_returns_data_from_a_real_prometheus() {
    let demo = demo::start(demo_config()).await.unwrap();
    let mut gpus = GpuConfig::default();
    gpus.interval = Duration::from_millis(500);
    gpus.dcgm_compat = true;
    demo.worker_runtime
        .register_collector(Box::new(GpuCollector::start(FixedGpus, gpus)))
        .unwrap();

    let stop = Arc::new(AtomicBool::new(false));
    let frontend = demo.frontend;
    let load = drive(frontend, stop.clone());
    let workers = worker_addrs(&demo);
    let targets = workers.len() + 1;
    // No feature flags: Prometheus 2.42 asks for OpenMetrics first, and gets it.
    let prometheus = tokio::task::spawn_blocking(move || start_prometheus(frontend, &workers, &[]))
        .await
        .unwrap();
    // Several scrapes at 1 s, so every rate() window holds samples.
    wait_for_scrapes(prometheus.addr, 6, targets).await;

    let addr = prometheus.addr;
    let report = tokio::task::spawn_blocking(move || {
        let mut ran = Vec::new();
        let mut failed = Vec::new();
        for name in dynamo_examples::reference::DASHBOARDS {
            let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../deploy/metrics/grafana_dashboards")
                .join(name);
            let d: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
            let mut queries = Vec::new();
            for v in d["templating"]["list"].as_array().unwrap() {
                queries.push((
                    format!("variable {}", v["name"]),
                    variable_query(v["query"]["query"].as_str().unwrap()),
                ));
            }
            for p in d["panels"].as_array().unwrap() {
                for t in p["targets"].as_array().into_iter().flatten() {
                    queries.push((
                        format!("{} / {}", p["title"], t["refId"]),
                        substitute(t["expr"].as_str().unwrap()),
                    ));
                }
            }
            for (what, q) in queries {
                match result_values(addr, &q) {
                    Ok(values) => match unanswered(&q, &values) {
                        Some(why) => failed.push(format!("{name}: {what}: {why}: {q}")),
                        None => ran.push(format!("{name}: {what}: {values:?}")),
                    },
                    Err(e) => failed.push(format!("{name}: {what}: invalid: {q}: {e}")),
                }
            }
        }
        (ran, failed)
    })
    .await
    .unwrap();
    stop.store(true, Ordering::Relaxed);
    load.await
        .expect("the load generator met an unexpected answer");
    drop(prometheus);
    demo.shutdown().await;
    let (ran, failed) = report;
    println!("{}", ran.join("\n"));
    assert!(
        failed.is_empty(),
        "dashboard queries without data:\n{}",
        failed.join("\n")
    );
    assert!(ran.len() >= 50, "only {} queries ran", ran.len());
}
