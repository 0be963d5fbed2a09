//! GPU gauges from a deterministic source: the native names pass `promtool check metrics`,
//! served over real HTTP next to the runtime's own metrics.

use std::time::Duration;

use dynamo_metrics::{
    DistributedRuntime, GpuCollector, GpuConfig, MetricsRegistry, SystemServerConfig,
};
use dynamo_metrics_tests::{FixedGpus, promtool_check_metrics, request};

#[tokio::test]
async fn gpu_gauges_are_promtool_clean_and_carry_hierarchy_labels() {
    let rt = DistributedRuntime::with_config(
        &dynamo_metrics::RuntimeConfig::default().with_worker_id(dynamo_metrics::WorkerId::Off),
    )
    .unwrap();
    let mut config = GpuConfig::default();
    config.interval = Duration::from_millis(20);
    config.dcgm_compat = false;
    let worker = rt.namespace("dynamo").unwrap().component("worker").unwrap();
    worker
        .register_collector(Box::new(GpuCollector::start(FixedGpus, config)))
        .unwrap();
    let server = SystemServerConfig::at(([127, 0, 0, 1], 0));
    let addr = rt.start_system_server(server).await.unwrap();
    // The sampler's first pass, polled for, with a deadline that fails loudly.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let body = loop {
        let body = tokio::task::spawn_blocking(move || request(addr, "GET", "/metrics"))
            .await
            .unwrap()
            .body;
        if body.contains("dynamo_gpu_up") {
            break body;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no GPU series within 30 s:\n{body}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let labels = r#"dynamo_namespace="dynamo",dynamo_component="worker",gpu="1",uuid="GPU-1",model_name="NVIDIA H100 80GB HBM3""#;
    for line in [
        format!("dynamo_gpu_up{{{labels}}} 1"),
        format!("dynamo_gpu_power_usage_watts{{{labels}}} 310.25"),
        format!("dynamo_gpu_memory_total_bytes{{{labels}}} 80000000000"),
        format!("dynamo_gpu_energy_consumed_joules_total{{{labels}}} 1500001"),
    ] {
        assert!(body.lines().any(|l| l == line), "missing {line} in\n{body}");
    }
    let (ok, printed) = promtool_check_metrics(&body);
    assert!(
        ok && printed.trim().is_empty(),
        "promtool findings:\n{printed}\n---\n{body}"
    );
    rt.shutdown().await;
}
