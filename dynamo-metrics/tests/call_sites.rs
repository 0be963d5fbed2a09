//! The same call-site code compiles and runs with the `metrics` feature on and off
//! (`cargo test -p dynamo-metrics --no-default-features --features derive`). Off, every
//! metric type is zero-sized, nothing is recorded or exported, and declarations are still
//! checked.

use std::mem::size_of;

use dynamo_metrics::{
    Counter, CounterVec, DistributedRuntime, DynamoMetrics, EndpointMetrics, Gauge, Histogram,
    HistogramFamily, IntCounter, IntCounterFamily, IntCounterVec, IntGauge, LabelSet, LabelValue,
    MetricsRegistry, instrument_endpoint,
};

#[derive(LabelValue)]
enum Phase {
    Prefill,
    Decode,
}

#[derive(LabelSet)]
struct PhaseLabels {
    phase: Phase,
}

/// Metrics of a worker.
#[derive(DynamoMetrics)]
#[metrics(subsystem = "worker", level = "endpoint")]
struct WorkerMetrics {
    /// Engine steps run
    steps_total: IntCounterFamily<PhaseLabels>,
    /// Requests waiting for a slot
    queue_depth: IntGauge,
    /// Time per engine step
    #[metric(unit = "seconds", buckets = exponential(0.001, 2, 8))]
    step: HistogramFamily<PhaseLabels>,
}

#[instrument_endpoint(component = "worker", endpoint = "step")]
fn step(n: u64) -> u64 {
    n + 1
}

#[test]
fn same_call_sites_with_and_without_metrics() {
    let rt = DistributedRuntime::with_config(
        &dynamo_metrics::RuntimeConfig::default().with_worker_id(dynamo_metrics::WorkerId::Off),
    )
    .unwrap();
    let ep = rt
        .namespace("ns")
        .unwrap()
        .component("worker")
        .unwrap()
        .endpoint("step")
        .unwrap();
    let m = WorkerMetrics::register(&ep).unwrap();
    m.steps_total.inc(&PhaseLabels {
        phase: Phase::Decode,
    });
    m.queue_depth.set(3);
    m.step.observe(
        &PhaseLabels {
            phase: Phase::Prefill,
        },
        0.004,
    );
    let manual = ep
        .create_intcounter("manual_total", "Counted by hand", &[])
        .unwrap();
    manual.inc();
    let by_kind = ep
        .create_intcountervec("by_kind_total", "Counted by kind", &["kind"], &[])
        .unwrap();
    by_kind.with_label_values(&["a"]).unwrap().inc();
    assert_eq!(step(1), 2);
    let requests = EndpointMetrics::register(&ep).unwrap();
    requests.start().finish();
    // Declarations are checked either way.
    assert!(ep.create_intcounter("bad-name_total", "Bad", &[]).is_err());
    assert!(ep.create_gauge("manual_total", "Clash", &[]).is_err());

    let text = rt.render();
    if cfg!(feature = "metrics") {
        assert_eq!(manual.get(), 1);
        let labels = r#"dynamo_namespace="ns",dynamo_component="worker",dynamo_endpoint="step""#;
        for line in [
            format!("dynamo_worker_steps_total{{{labels},phase=\"decode\"}} 1"),
            format!("dynamo_worker_steps_total{{{labels},phase=\"prefill\"}} 0"),
            format!("dynamo_worker_queue_depth{{{labels}}} 3"),
            format!("dynamo_worker_step_seconds_bucket{{{labels},phase=\"prefill\",le=\"0.004\"}} 1"),
            format!("dynamo_component_requests_total{{{labels}}} 1"),
            "dynamo_component_requests_total{dynamo_namespace=\"dynamo\",dynamo_component=\"worker\",dynamo_endpoint=\"step\"} 1".to_owned(),
        ] {
            assert!(text.lines().any(|l| l == line), "missing {line} in\n{text}");
        }
    } else {
        assert_eq!(manual.get(), 0);
        assert!(!text.contains("dynamo_worker"), "{text}");
        assert!(!text.contains("dynamo_component"), "{text}");
        assert_eq!(size_of::<IntCounter>(), 0);
        assert_eq!(size_of::<Counter>(), 0);
        assert_eq!(size_of::<IntGauge>(), 0);
        assert_eq!(size_of::<Gauge>(), 0);
        assert_eq!(size_of::<Histogram>(), 0);
        assert_eq!(size_of::<IntCounterVec>(), 0);
        assert_eq!(size_of::<CounterVec>(), 0);
        assert_eq!(size_of::<IntCounterFamily<PhaseLabels>>(), 0);
        assert_eq!(size_of::<WorkerMetrics>(), 0);
        assert_eq!(size_of::<EndpointMetrics>(), 0);
    }
}
