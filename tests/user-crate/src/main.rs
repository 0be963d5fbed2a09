//! A user's service: it already uses the `prometheus` crate the usual way (default features,
//! the process collector) and adds dynamo-metrics beside it. Builds, runs, and exits non-zero
//! when the rendered text or the served page is not what it should be.

use std::io::{Read, Write};

use dynamo_metrics::{
    DistributedRuntime, DynamoMetrics, IntCounterFamily, LabelSet, MetricsRegistry,
    SystemServerConfig, instrument_endpoint,
};
use prometheus::core::Collector;
use serde::{Deserialize, Serialize};

#[derive(LabelSet)]
struct Route {
    route: String,
}

/// The user's own metrics, declared with the derive.
#[derive(DynamoMetrics)]
#[metrics(subsystem = "router", level = "runtime")]
struct RouterMetrics {
    /// Requests routed, by route
    routed_total: IntCounterFamily<Route>,
}

#[derive(Serialize, Deserialize)]
struct Request {
    prompt: String,
}

#[instrument_endpoint(component = "backend", endpoint = "generate")]
async fn generate(request: Request) -> Result<String, std::io::Error> {
    Ok(request.prompt.to_uppercase())
}

fn line_of<'a>(text: &'a str, prefix: &str) -> &'a str {
    text.lines()
        .find(|l| l.starts_with(prefix))
        .unwrap_or_else(|| panic!("no line starting {prefix:?} in:\n{text}"))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let runtime = DistributedRuntime::new()?;

    // The prometheus crate's own metrics, registered next to ours.
    let legacy = prometheus::IntCounterVec::new(
        prometheus::Opts::new("legacy_jobs_total", "Jobs, counted the old way"),
        &["queue"],
    )?;
    legacy.with_label_values(&["a \"quoted\" queue"]).inc_by(3);
    runtime.register_collector(Box::new(legacy.clone()))?;
    runtime.register_collector(Box::new(
        prometheus::process_collector::ProcessCollector::for_self(),
    ))?;

    let router = RouterMetrics::register(&runtime)?;
    router.routed_total.inc(&Route {
        route: "chat".into(),
    });
    let request: Request = serde_json::from_str(r#"{"prompt":"hello"}"#)?;
    assert_eq!(generate(request).await?, "HELLO");

    let text = runtime.render();
    // Every series carries the worker's id, foreign collectors' too.
    let w = runtime.worker_id().ok_or("no worker id")?;
    for line in [
        "# HELP legacy_jobs_total Jobs, counted the old way".to_owned(),
        "# TYPE legacy_jobs_total counter".to_owned(),
        format!(r#"legacy_jobs_total{{worker_id="{w}",queue="a \"quoted\" queue"}} 3"#),
        format!(r#"dynamo_router_routed_total{{worker_id="{w}",route="chat"}} 1"#),
        format!(
            r#"dynamo_component_requests_total{{dynamo_namespace="dynamo",dynamo_component="backend",dynamo_endpoint="generate",worker_id="{w}"}} 1"#
        ),
        format!(
            r#"dynamo_component_response_bytes_total{{dynamo_namespace="dynamo",dynamo_component="backend",dynamo_endpoint="generate",worker_id="{w}"}} 5"#
        ),
        "# TYPE process_cpu_seconds_total counter".to_owned(),
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "missing {line:?} in:\n{text}"
        );
    }
    let rss: f64 = line_of(&text, "process_resident_memory_bytes{")
        .rsplit(' ')
        .next()
        .ok_or("no value")?
        .parse()?;
    assert!(rss > 1e6, "resident memory {rss}");

    // Our metrics in the prometheus crate's registry, encoded by its protobuf encoder: a
    // type that exists only with the `protobuf` feature, so this proves the feature is on.
    let registry = prometheus::Registry::new();
    let ours = dynamo_metrics::IntCounter::new("plain_requests_total", "Requests")?;
    ours.inc_by(2);
    registry.register(Box::new(ours.clone()))?;
    let mut protobuf = Vec::new();
    prometheus::Encoder::encode(
        &prometheus::ProtobufEncoder::new(),
        &registry.gather(),
        &mut protobuf,
    )?;
    assert!(!protobuf.is_empty());
    assert_eq!(ours.collect().len(), 1);

    // The same page over HTTP from the status server, built with axum's and hyper's defaults.
    let config = SystemServerConfig::at(([127, 0, 0, 1], 0));
    let addr = runtime.start_system_server(config).await?;
    let page = tokio::task::spawn_blocking(move || -> std::io::Result<String> {
        let mut stream = std::net::TcpStream::connect(addr)?;
        stream.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")?;
        let mut page = String::new();
        stream.read_to_string(&mut page)?;
        Ok(page)
    })
    .await??;
    assert!(page.starts_with("HTTP/1.1 200 OK"), "{page}");
    assert!(
        page.contains("content-type: text/plain; version=0.0.4; charset=utf-8"),
        "{page}"
    );
    assert!(page.contains(&format!(
        r#"legacy_jobs_total{{worker_id="{w}",queue="a \"quoted\" queue"}} 3"#
    )));

    runtime.shutdown().await;
    println!("user crate: dynamo-metrics beside prometheus (protobuf, process, push) works");
    Ok(())
}
