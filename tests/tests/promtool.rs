//! The example service's live `/metrics`, scraped over HTTP, passes `promtool check metrics`
//! with no findings.

use dynamo_metrics::{DistributedRuntime, SystemServerConfig};
use dynamo_metrics_tests::{promtool_check_metrics, request};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn example_exposition_is_promtool_clean() {
    let rt = DistributedRuntime::with_config(
        &dynamo_metrics::RuntimeConfig::default().with_worker_id(dynamo_metrics::WorkerId::Off),
    )
    .unwrap();
    let config = SystemServerConfig::at(([127, 0, 0, 1], 0));
    let addr = rt.start_system_server(config).await.unwrap();
    let metrics = dynamo_examples::declare(&rt).unwrap();
    for n in 0..40 {
        dynamo_examples::simulate_request(&metrics, n).await;
    }
    let r = tokio::task::spawn_blocking(move || request(addr, "GET", "/metrics"))
        .await
        .unwrap();
    assert_eq!(r.status, 200);
    // Every level is present and has moved.
    for needle in [
        "dynamo_component_uptime_seconds ",
        "dynamo_component_models{dynamo_namespace=\"demo\"} 1\n",
        "dynamo_component_kv_cache_usage_permille{dynamo_namespace=\"demo\",dynamo_component=\"backend\"} ",
        "dynamo_component_requests_total{dynamo_namespace=\"demo\",dynamo_component=\"backend\",dynamo_endpoint=\"generate\"} 40\n",
        "dynamo_component_errors_total{dynamo_namespace=\"demo\",dynamo_component=\"backend\",dynamo_endpoint=\"generate\",error_type=\"generate\"} 3\n",
        "dynamo_component_request_duration_seconds_count{dynamo_namespace=\"demo\",dynamo_component=\"backend\",dynamo_endpoint=\"generate\"} 40\n",
    ] {
        assert!(r.body.contains(needle), "missing {needle:?} in\n{}", r.body);
    }
    #[cfg(target_os = "linux")]
    assert!(
        r.body
            .contains("# TYPE process_cpu_seconds_total counter\n")
    );
    let (ok, printed) = promtool_check_metrics(&r.body);
    assert!(
        ok && printed.trim().is_empty(),
        "promtool findings:\n{printed}\n---\n{}",
        r.body
    );
    rt.shutdown().await;
}

#[test]
fn promtool_reports_what_it_should() {
    // The check above can fail: promtool does flag a badly named counter.
    let (ok, printed) = promtool_check_metrics("# HELP x X\n# TYPE x counter\nx 1\n");
    assert!(
        !ok || !printed.trim().is_empty(),
        "promtool accepted a counter without _total"
    );
}
