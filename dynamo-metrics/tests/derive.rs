//! `#[derive(DynamoMetrics)]`, `#[derive(LabelSet)]` and `#[derive(LabelValue)]` end to end:
//! names, labels and levels in the render, series at zero, typed lookups, the catalog.

#![cfg(feature = "metrics")]

use std::sync::Barrier;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use dynamo_metrics::{
    DistributedRuntime, DynamoMetrics, Error, Histogram, HistogramFamily, IntCounter,
    IntCounterFamily, IntGauge, LabelSet, LabelValue, Level, catalog,
};

#[derive(LabelValue, Clone, Copy)]
enum RequestType {
    Stream,
    Unary,
}

#[derive(LabelValue, Clone, Copy)]
enum Status {
    Success,
    #[label(value = "error")]
    Failed,
}

#[derive(LabelSet)]
struct Outcome {
    request_type: RequestType,
    status: Status,
}

#[derive(LabelSet)]
struct ByModel {
    model: String,
}

/// Metrics of an HTTP frontend, registered at runtime level.
#[derive(DynamoMetrics)]
#[metrics(subsystem = "web", level = "runtime")]
struct FrontendMetrics {
    /// Total number of LLM requests processed
    requests_total: IntCounterFamily<Outcome>,
    /// Time to first token
    #[metric(unit = "seconds", buckets = [0.01, 0.1, 1])]
    time_to_first_token: HistogramFamily<ByModel>,
    /// Clients that went away
    #[metric(name = "disconnected_clients")]
    disconnects: IntGauge,
}

/// Metrics of a worker endpoint.
#[derive(DynamoMetrics)]
#[metrics(level = "endpoint", prefix = "worker")]
struct WorkerMetrics {
    #[metric(help = "Batches run", const_labels(engine = "mock"))]
    batches_total: IntCounter,
}

fn lines<'a>(text: &'a str, prefix: &str) -> Vec<&'a str> {
    text.lines().filter(|l| l.starts_with(prefix)).collect()
}

#[test]
fn runtime_level_struct_renders_every_bounded_series_at_zero() {
    let rt = DistributedRuntime::with_config(
        &dynamo_metrics::RuntimeConfig::default().with_worker_id(dynamo_metrics::WorkerId::Off),
    )
    .unwrap();
    // Declared for the runtime level: registered at startup, before any code asks for it.
    assert!(rt.render().contains("dynamo_web_disconnected_clients 0\n"));
    let m = FrontendMetrics::register(&rt).unwrap();
    assert_eq!(
        lines(&rt.render(), "dynamo_web_requests_total{"),
        [
            "dynamo_web_requests_total{request_type=\"stream\",status=\"error\"} 0",
            "dynamo_web_requests_total{request_type=\"stream\",status=\"success\"} 0",
            "dynamo_web_requests_total{request_type=\"unary\",status=\"error\"} 0",
            "dynamo_web_requests_total{request_type=\"unary\",status=\"success\"} 0",
        ]
    );
    m.requests_total.inc(&Outcome {
        request_type: RequestType::Unary,
        status: Status::Failed,
    });
    m.requests_total.inc_by(
        &Outcome {
            request_type: RequestType::Stream,
            status: Status::Success,
        },
        3,
    );
    m.time_to_first_token.observe(
        &ByModel {
            model: "llama".into(),
        },
        0.05,
    );
    m.disconnects.inc();
    let text = rt.render();
    assert!(
        text.contains("dynamo_web_requests_total{request_type=\"unary\",status=\"error\"} 1\n")
    );
    assert!(
        text.contains("dynamo_web_requests_total{request_type=\"stream\",status=\"success\"} 3\n")
    );
    assert!(text.contains("# HELP dynamo_web_time_to_first_token_seconds Time to first token\n"));
    assert!(
        text.contains(
            "dynamo_web_time_to_first_token_seconds_bucket{model=\"llama\",le=\"0.1\"} 1\n"
        )
    );
    assert!(text.contains("dynamo_web_disconnected_clients 1\n"));
    // Registering again gives the same families.
    let again = FrontendMetrics::register(&rt).unwrap();
    again.disconnects.inc();
    assert_eq!(m.disconnects.get(), 2);
}

#[test]
fn endpoint_level_struct_carries_hierarchy_and_constant_labels() {
    let rt = DistributedRuntime::with_config(
        &dynamo_metrics::RuntimeConfig::default().with_worker_id(dynamo_metrics::WorkerId::Off),
    )
    .unwrap();
    let ep = rt
        .namespace("ns")
        .unwrap()
        .component("c")
        .unwrap()
        .endpoint("gen")
        .unwrap();
    let m = WorkerMetrics::register(&ep).unwrap();
    m.batches_total.inc();
    assert!(rt.render().contains(
        "dynamo_component_worker_batches_total{dynamo_namespace=\"ns\",dynamo_component=\"c\",dynamo_endpoint=\"gen\",engine=\"mock\"} 1\n"
    ));
    let Err(err) = WorkerMetrics::register(&rt) else {
        panic!("registered at the wrong level")
    };
    assert!(matches!(
        err,
        Error::WrongLevel {
            expected: Level::Endpoint,
            got: Level::Runtime,
            ..
        }
    ));
    assert_eq!(
        err.to_string(),
        "WorkerMetrics is declared for the endpoint level but was registered at the runtime level"
    );
}

#[derive(LabelSet)]
struct Tenant {
    tenant: String,
}

#[derive(DynamoMetrics)]
struct Capped {
    /// Requests per tenant
    #[metric(max_series = 2)]
    tenant_requests_total: IntCounterFamily<Tenant>,
    /// Requests per tenant, short names only
    #[metric(max_label_len = 3)]
    short_tenant_requests_total: IntCounterFamily<Tenant>,
}

#[test]
fn a_long_value_is_counted_under_overflow_and_never_stored() {
    let rt = DistributedRuntime::with_config(
        &dynamo_metrics::RuntimeConfig::default().with_worker_id(dynamo_metrics::WorkerId::Off),
    )
    .unwrap();
    let m = Capped::register(&rt).unwrap();
    for t in ["abc", "abcd", "abc"] {
        m.short_tenant_requests_total
            .inc(&Tenant { tenant: t.into() });
    }
    let text = rt.render();
    assert_eq!(
        lines(&text, "dynamo_component_short_tenant_requests_total{"),
        [
            "dynamo_component_short_tenant_requests_total{tenant=\"__overflow__\"} 1",
            "dynamo_component_short_tenant_requests_total{tenant=\"abc\"} 2",
        ]
    );
}

#[test]
fn string_labels_are_capped_and_overflow_is_counted() {
    let rt = DistributedRuntime::with_config(
        &dynamo_metrics::RuntimeConfig::default().with_worker_id(dynamo_metrics::WorkerId::Off),
    )
    .unwrap();
    let m = Capped::register(&rt).unwrap();
    for t in ["a", "b", "c", "d", "a"] {
        m.tenant_requests_total.inc(&Tenant { tenant: t.into() });
    }
    let text = rt.render();
    assert_eq!(
        lines(&text, "dynamo_component_tenant_requests_total{"),
        [
            "dynamo_component_tenant_requests_total{tenant=\"__overflow__\"} 2",
            "dynamo_component_tenant_requests_total{tenant=\"a\"} 2",
            "dynamo_component_tenant_requests_total{tenant=\"b\"} 1",
        ]
    );
    assert!(text.contains(
        "dynamo_metrics_series_overflow_total{family=\"dynamo_component_tenant_requests_total\"} 2\n"
    ));
}

#[test]
fn only_families_that_can_overflow_have_an_overflow_series() {
    let rt = DistributedRuntime::with_config(
        &dynamo_metrics::RuntimeConfig::default().with_worker_id(dynamo_metrics::WorkerId::Off),
    )
    .unwrap();
    FrontendMetrics::register(&rt).unwrap();
    let text = rt.render();
    let overflow = lines(&text, "dynamo_metrics_series_overflow_total{");
    // String labels can overflow; enum-only label sets and `()` cannot.
    assert!(overflow.contains(
        &"dynamo_metrics_series_overflow_total{family=\"dynamo_web_time_to_first_token_seconds\"} 0"
    ));
    assert!(
        !overflow
            .iter()
            .any(|l| l.contains("dynamo_web_requests_total")),
        "{overflow:?}"
    );
}

#[test]
fn label_sets_index_and_decode() {
    assert_eq!(Outcome::NAMES, ["request_type", "status"]);
    assert_eq!(Outcome::CARDINALITY, Some(4));
    let o = Outcome {
        request_type: RequestType::Unary,
        status: Status::Failed,
    };
    assert_eq!(o.index(), Some(3));
    assert_eq!(Outcome::values_at(3), ["unary", "error"]);
    assert_eq!(Outcome::values_at(0), ["stream", "success"]);
    assert_eq!(ByModel::CARDINALITY, None);
    assert_eq!(Status::VALUES, ["success", "error"]);
}

#[test]
fn catalog_lists_every_declared_metric_sorted() {
    let names: Vec<&str> = catalog()
        .iter()
        .filter(|d| d.file == file!())
        .map(|d| d.name)
        .collect();
    assert_eq!(
        names,
        [
            "dynamo_cache_hits_total",
            "dynamo_component_short_tenant_requests_total",
            "dynamo_component_tenant_requests_total",
            "dynamo_component_worker_batches_total",
            "dynamo_hot_inflight",
            "dynamo_hot_latency_seconds",
            "dynamo_hot_requests_total",
            "dynamo_web_disconnected_clients",
            "dynamo_web_requests_total",
            "dynamo_web_time_to_first_token_seconds",
        ]
    );
    let short = catalog()
        .iter()
        .find(|d| d.name == "dynamo_component_short_tenant_requests_total")
        .map(|d| d.max_label_len);
    assert_eq!(short, Some(3));
    let striped = |name: &str| catalog().iter().find(|d| d.name == name).map(|d| d.striped);
    assert_eq!(striped("dynamo_hot_requests_total"), Some(true));
    assert_eq!(striped("dynamo_hot_latency_seconds"), Some(true));
    assert_eq!(striped("dynamo_web_requests_total"), Some(false));
    let ttft = catalog()
        .into_iter()
        .find(|d| d.name == "dynamo_web_time_to_first_token_seconds")
        .unwrap();
    assert_eq!(ttft.labels, ["model"]);
    assert_eq!(ttft.buckets, Some(&[0.01, 0.1, 1.0][..]));
    assert_eq!(ttft.level, Some(Level::Runtime));
    assert_eq!(ttft.source, "derive::FrontendMetrics");
    let field_line = include_str!("derive.rs")
        .lines()
        .position(|l| l.starts_with("    time_to_first_token: HistogramFamily"))
        .unwrap()
        + 1;
    assert_eq!(ttft.line as usize, field_line);
}

/// Cache metrics, at any level.
#[derive(DynamoMetrics)]
#[metrics(subsystem = "cache")]
struct CacheMetrics {
    /// Cache hits
    hits_total: IntCounter,
}

#[test]
fn a_struct_at_each_level_carries_that_levels_labels() {
    type Register = fn(&DistributedRuntime) -> CacheMetrics;
    let cases: [(&str, Register); 4] = [
        ("dynamo_cache_hits_total 1", |rt| {
            CacheMetrics::register(rt).unwrap()
        }),
        ("dynamo_cache_hits_total{dynamo_namespace=\"ns\"} 1", |rt| {
            CacheMetrics::register(&rt.namespace("ns").unwrap()).unwrap()
        }),
        (
            "dynamo_cache_hits_total{dynamo_namespace=\"ns\",dynamo_component=\"kv\"} 1",
            |rt| {
                CacheMetrics::register(&rt.namespace("ns").unwrap().component("kv").unwrap())
                    .unwrap()
            },
        ),
        (
            "dynamo_cache_hits_total{dynamo_namespace=\"ns\",dynamo_component=\"kv\",dynamo_endpoint=\"get\"} 1",
            |rt| {
                let ep = rt
                    .namespace("ns")
                    .unwrap()
                    .component("kv")
                    .unwrap()
                    .endpoint("get")
                    .unwrap();
                CacheMetrics::register(&ep).unwrap()
            },
        ),
    ];
    for (want, register) in cases {
        // A family has one set of label names, so each level gets its own runtime.
        let rt = DistributedRuntime::with_config(
            &dynamo_metrics::RuntimeConfig::default().with_worker_id(dynamo_metrics::WorkerId::Off),
        )
        .unwrap();
        register(&rt).hits_total.inc();
        let text = rt.render();
        assert_eq!(lines(&text, "dynamo_cache_hits_total"), [want]);
    }
}

/// Counters, gauges and histograms that many threads update, striped.
#[derive(DynamoMetrics)]
#[metrics(subsystem = "hot", level = "runtime")]
struct Hot {
    /// Requests
    #[metric(striped)]
    requests_total: IntCounterFamily<ByModel>,
    /// In flight
    #[metric(striped)]
    inflight: IntGauge,
    /// Latency
    #[metric(striped, native, buckets = [0.5, 1.0])]
    latency_seconds: Histogram,
}

#[test]
fn striped_metrics_count_exactly_across_threads() {
    let rt = DistributedRuntime::with_config(
        &dynamo_metrics::RuntimeConfig::default().with_worker_id(dynamo_metrics::WorkerId::Off),
    )
    .unwrap();
    let hot = Hot::register(&rt).unwrap();
    let llama = ByModel {
        model: "llama".into(),
    };
    // Eight threads start together and meet halfway, so their updates overlap for certain:
    // the last to finish sees the others' second halves land while it runs.
    const THREADS: usize = 8;
    const INCS: u64 = 100_000;
    let (start, halfway) = (Barrier::new(THREADS), Barrier::new(THREADS));
    let landed = AtomicU64::new(0);
    let overlapped = AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..THREADS {
            s.spawn(|| {
                start.wait();
                let before = landed.load(Ordering::SeqCst);
                for i in 1..=INCS {
                    hot.requests_total.inc(&llama);
                    hot.inflight.inc();
                    if i % 1_000 == 0 {
                        landed.fetch_add(1_000, Ordering::SeqCst);
                    }
                    if i == INCS / 2 {
                        halfway.wait();
                    }
                }
                if landed.load(Ordering::SeqCst) - before > INCS {
                    overlapped.fetch_add(1, Ordering::SeqCst);
                }
                for _ in 0..INCS / 4 {
                    hot.inflight.dec();
                }
                for v in [0.25, 0.75, 2.0, 0.0, -1.0] {
                    hot.latency_seconds.observe(v);
                }
            });
        }
    });
    assert!(overlapped.load(Ordering::SeqCst) > 0);
    let text = rt.render();
    for line in [
        "dynamo_hot_latency_seconds_bucket{le=\"0.5\"} 24\n",
        "dynamo_hot_latency_seconds_bucket{le=\"1\"} 32\n",
        "dynamo_hot_latency_seconds_bucket{le=\"+Inf\"} 40\n",
        "dynamo_hot_latency_seconds_sum 16\n",
        "dynamo_hot_latency_seconds_count 40\n",
    ] {
        assert!(text.contains(line), "{line} in {text}");
    }
    assert!(
        text.contains("dynamo_hot_requests_total{model=\"llama\"} 800000\n"),
        "{text}"
    );
    assert!(text.contains("dynamo_hot_inflight 600000\n"), "{text}");
    assert_eq!(hot.inflight.get(), 600_000);
    hot.inflight.set(3);
    assert_eq!(hot.inflight.get(), 3);
}
