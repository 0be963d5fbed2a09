//! GPU gauges from a deterministic source: the native names pass `promtool check metrics`,
//! served over real HTTP next to the runtime's own metrics.

use std::time::Duration;

use dynamo_metrics::{
    DistributedRuntime, GpuCollector, GpuConfig, GpuDevice, GpuReadings, GpuSource,
    MetricsRegistry, SystemServerConfig,
};
use dynamo_metrics_tests::{promtool_check_metrics, request};

struct TwoGpus;

impl GpuSource for TwoGpus {
    fn sample(&mut self) -> Result<Vec<GpuDevice>, String> {
        Ok((0..2)
            .map(|index| GpuDevice {
                index,
                uuid: format!("GPU-{index}"),
                model_name: "NVIDIA H100 80GB HBM3".into(),
                readings: Ok(GpuReadings {
                    utilization_percent: Some(55.0),
                    memory_used_bytes: Some(4e9),
                    memory_free_bytes: Some(7.6e10),
                    memory_total_bytes: Some(8e10),
                    temperature_celsius: Some(48.0),
                    power_usage_watts: Some(310.25),
                    power_limit_watts: Some(700.0),
                    energy_consumed_joules: Some(1.5e6),
                    sm_clock_hertz: Some(1.98e9),
                    memory_clock_hertz: Some(2.619e9),
                    pcie_transmit_bytes_per_second: Some(1.2e6),
                    pcie_receive_bytes_per_second: Some(3.4e6),
                    ..GpuReadings::default()
                }),
            })
            .collect())
    }
}

#[tokio::test]
async fn gpu_gauges_are_promtool_clean_and_carry_hierarchy_labels() {
    let rt = DistributedRuntime::new().unwrap();
    let config = GpuConfig {
        interval: Duration::from_millis(20),
        dcgm_compat: false,
        ..GpuConfig::default()
    };
    let worker = rt.namespace("dynamo").unwrap().component("worker").unwrap();
    worker
        .register_collector(Box::new(GpuCollector::start(TwoGpus, config)))
        .unwrap();
    let server = SystemServerConfig {
        host: "127.0.0.1".parse().unwrap(),
        port: 0,
        ..SystemServerConfig::default()
    };
    let addr = rt.start_system_server(server).await.unwrap();
    let mut body = String::new();
    for _ in 0..100 {
        body = tokio::task::spawn_blocking(move || request(addr, "GET", "/metrics"))
            .await
            .unwrap()
            .body;
        if body.contains("dynamo_gpu_up") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let labels = r#"dynamo_namespace="dynamo",dynamo_component="worker",gpu="1",uuid="GPU-1",model_name="NVIDIA H100 80GB HBM3""#;
    for line in [
        format!("dynamo_gpu_up{{{labels}}} 1"),
        format!("dynamo_gpu_power_usage_watts{{{labels}}} 310.25"),
        format!("dynamo_gpu_memory_total_bytes{{{labels}}} 80000000000"),
        format!("dynamo_gpu_energy_consumed_joules_total{{{labels}}} 1500000"),
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
