//! Golden exposition text: a metric at each level of the hierarchy, two endpoints sharing a
//! family, labelled families, histograms, escaping, and foreign collectors.

#![cfg(feature = "metrics")]

use dynamo_metrics::{DistributedRuntime, MetricsRegistry, prometheus};

/// The render without the runtime's own metrics: uptime, whose value moves, the exporter's
/// (dropped exemplars, scrapes, refusals, reloads), and GPU gauges, present on machines with GPUs when the
/// `gpu` feature is on.
fn render(runtime: &DistributedRuntime) -> String {
    let text = runtime.render();
    let mut out = String::new();
    let mut skip = false;
    for line in text.lines() {
        if line.starts_with("# HELP ") {
            skip = line.starts_with("# HELP dynamo_component_uptime_seconds ")
                || line.starts_with("# HELP dynamo_metrics_exemplars_dropped_total ")
                || line.starts_with("# HELP dynamo_metrics_refused_total ")
                || line.starts_with("# HELP dynamo_metrics_scrape")
                || line.starts_with("# HELP dynamo_metrics_web_config_reloads_total ")
                || line.starts_with("# HELP dynamo_gpu_")
                || line.starts_with("# HELP DCGM_");
        }
        if !skip {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

/// The endpoint `<namespace>/c/e` of `rt`.
fn endpoint(rt: &DistributedRuntime, namespace: &str) -> dynamo_metrics::Endpoint {
    rt.namespace(namespace)
        .unwrap()
        .component("c")
        .unwrap()
        .endpoint("e")
        .unwrap()
}

#[test]
fn one_metric_at_each_level() {
    let rt = DistributedRuntime::with_config(
        &dynamo_metrics::RuntimeConfig::default().with_worker_id(dynamo_metrics::WorkerId::Off),
    )
    .unwrap();
    let ns = rt.namespace("ns").unwrap();
    let comp = ns.component("comp").unwrap();
    let ep = comp.endpoint("ep").unwrap();
    rt.create_intgauge("workers", "Workers known to the runtime", &[])
        .unwrap()
        .set(3);
    ns.create_counter("tokens_total", "Tokens seen in the namespace", &[])
        .unwrap()
        .inc_by(2.5);
    comp.create_gauge("load_ratio", "Load of the component", &[("model", "llama")])
        .unwrap()
        .set(0.75);
    ep.create_intcounter("requests_total", "Requests handled", &[])
        .unwrap()
        .inc_by(7);
    assert_eq!(
        render(&rt),
        r#"# HELP dynamo_component_load_ratio Load of the component
# TYPE dynamo_component_load_ratio gauge
dynamo_component_load_ratio{dynamo_namespace="ns",dynamo_component="comp",model="llama"} 0.75
# HELP dynamo_component_requests_total Requests handled
# TYPE dynamo_component_requests_total counter
dynamo_component_requests_total{dynamo_namespace="ns",dynamo_component="comp",dynamo_endpoint="ep"} 7
# HELP dynamo_component_tokens_total Tokens seen in the namespace
# TYPE dynamo_component_tokens_total counter
dynamo_component_tokens_total{dynamo_namespace="ns"} 2.5
# HELP dynamo_component_workers Workers known to the runtime
# TYPE dynamo_component_workers gauge
dynamo_component_workers 3
"#
    );
}

#[test]
fn two_endpoints_of_one_component_share_a_family() {
    let rt = DistributedRuntime::with_config(
        &dynamo_metrics::RuntimeConfig::default().with_worker_id(dynamo_metrics::WorkerId::Off),
    )
    .unwrap();
    let comp = rt.namespace("ns").unwrap().component("worker").unwrap();
    let generate = comp.endpoint("generate").unwrap();
    let embed = comp.endpoint("embed").unwrap();
    let a = generate
        .create_intcounter("requests_total", "Requests handled", &[])
        .unwrap();
    let b = embed
        .create_intcounter("requests_total", "Requests handled", &[])
        .unwrap();
    a.inc();
    b.inc_by(2);
    // Asking again for the same node and metric gives the same series.
    let again = comp.endpoint("generate").unwrap();
    again
        .create_intcounter("requests_total", "Requests handled", &[])
        .unwrap()
        .inc();
    assert_eq!(
        render(&rt),
        r#"# HELP dynamo_component_requests_total Requests handled
# TYPE dynamo_component_requests_total counter
dynamo_component_requests_total{dynamo_namespace="ns",dynamo_component="worker",dynamo_endpoint="embed"} 2
dynamo_component_requests_total{dynamo_namespace="ns",dynamo_component="worker",dynamo_endpoint="generate"} 2
"#
    );
}

#[test]
fn labelled_families_and_subsystems() {
    let rt = DistributedRuntime::with_config(
        &dynamo_metrics::RuntimeConfig::default().with_worker_id(dynamo_metrics::WorkerId::Off),
    )
    .unwrap();
    let ep = endpoint(&rt, "ns");
    let errors = ep
        .create_intcountervec("errors_total", "Errors by type", &["error_type"], &[])
        .unwrap();
    errors.with_label_values(&["timeout"]).unwrap().inc();
    errors.with_label_values(&["handler"]).unwrap().inc_by(4);
    let frontend = rt.with_subsystem("frontend").unwrap();
    assert_eq!(frontend.prefix(), "dynamo_frontend");
    let inflight = frontend
        .create_intgaugevec("inflight_requests", "Requests in flight", &["model"], &[])
        .unwrap();
    inflight.with_label_values(&["m1"]).unwrap().inc();
    inflight.with_label_values(&["m1"]).unwrap().inc();
    inflight.with_label_values(&["m2"]).unwrap().dec();
    assert!(errors.remove_label_values(&["timeout"]).unwrap());
    assert!(!errors.remove_label_values(&["timeout"]).unwrap());
    assert_eq!(
        render(&rt),
        r#"# HELP dynamo_component_errors_total Errors by type
# TYPE dynamo_component_errors_total counter
dynamo_component_errors_total{dynamo_namespace="ns",dynamo_component="c",dynamo_endpoint="e",error_type="handler"} 4
# HELP dynamo_frontend_inflight_requests Requests in flight
# TYPE dynamo_frontend_inflight_requests gauge
dynamo_frontend_inflight_requests{model="m1"} 2
dynamo_frontend_inflight_requests{model="m2"} -1
# HELP dynamo_metrics_series_overflow_total Label combinations folded into a family's overflow series: the family reached its series cap, a label value was too long, or the runtime's series budget was spent
# TYPE dynamo_metrics_series_overflow_total counter
dynamo_metrics_series_overflow_total{family="dynamo_component_errors_total"} 0
dynamo_metrics_series_overflow_total{family="dynamo_frontend_inflight_requests"} 0
"#
    );
}

#[test]
fn histograms_are_cumulative_with_count_equal_to_inf() {
    let rt = DistributedRuntime::with_config(
        &dynamo_metrics::RuntimeConfig::default().with_worker_id(dynamo_metrics::WorkerId::Off),
    )
    .unwrap();
    let ep = endpoint(&rt, "ns");
    let h = ep
        .create_histogram(
            "duration_seconds",
            "Time per request",
            &[],
            Some(&[0.1, 1.0, 10.0]),
        )
        .unwrap();
    for v in [0.05, 0.1, 0.5, 2.0, 20.0, f64::NAN] {
        h.observe(v);
    }
    assert_eq!(h.sample_count(), 5);
    let labels = r#"dynamo_namespace="ns",dynamo_component="c",dynamo_endpoint="e""#;
    assert_eq!(
        render(&rt),
        format!(
            r#"# HELP dynamo_component_duration_seconds Time per request
# TYPE dynamo_component_duration_seconds histogram
dynamo_component_duration_seconds_bucket{{{labels},le="0.1"}} 2
dynamo_component_duration_seconds_bucket{{{labels},le="1"}} 3
dynamo_component_duration_seconds_bucket{{{labels},le="10"}} 4
dynamo_component_duration_seconds_bucket{{{labels},le="+Inf"}} 5
dynamo_component_duration_seconds_sum{{{labels}}} 22.65
dynamo_component_duration_seconds_count{{{labels}}} 5
"#
        )
    );
}

#[test]
fn default_buckets_and_histogram_families() {
    let rt = DistributedRuntime::with_config(
        &dynamo_metrics::RuntimeConfig::default().with_worker_id(dynamo_metrics::WorkerId::Off),
    )
    .unwrap();
    let h = rt
        .create_histogramvec("latency_seconds", "Latency", &["op"], &[], None)
        .unwrap();
    h.with_label_values(&["read"]).unwrap().observe(0.3);
    let text = render(&rt);
    let les: Vec<&str> = text
        .lines()
        .filter_map(|l| l.split("le=\"").nth(1))
        .map(|rest| rest.split('"').next().unwrap())
        .collect();
    assert_eq!(
        les,
        [
            "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10", "+Inf"
        ]
    );
    assert!(text.contains("latency_seconds_bucket{op=\"read\",le=\"0.25\"} 0\n"));
    assert!(text.contains("latency_seconds_bucket{op=\"read\",le=\"0.5\"} 1\n"));
}

#[test]
fn label_values_and_help_are_escaped() {
    let rt = DistributedRuntime::with_config(
        &dynamo_metrics::RuntimeConfig::default().with_worker_id(dynamo_metrics::WorkerId::Off),
    )
    .unwrap();
    // Hierarchy names are words of [A-Za-z0-9_-]; label values and help may hold anything.
    let ns = rt.namespace("ns-1").unwrap();
    ns.create_intgauge("odd", "Help with \\ and\nnewline", &[("v", "é\"\\\n")])
        .unwrap()
        .set(1);
    assert_eq!(
        render(&rt),
        "# HELP dynamo_component_odd Help with \\\\ and\\nnewline\n\
         # TYPE dynamo_component_odd gauge\n\
         dynamo_component_odd{dynamo_namespace=\"ns-1\",v=\"é\\\"\\\\\\n\"} 1\n"
    );
}

#[test]
fn families_render_sorted_with_foreign_collectors_merged() {
    let rt = DistributedRuntime::with_config(
        &dynamo_metrics::RuntimeConfig::default().with_worker_id(dynamo_metrics::WorkerId::Off),
    )
    .unwrap();
    let ep = endpoint(&rt, "ns");
    rt.create_intgauge("b_gauge", "B", &[]).unwrap().set(1);
    rt.create_intgauge("d_gauge", "D", &[]).unwrap().set(1);
    // Code that uses the prometheus crate directly.
    let theirs = prometheus::IntCounterVec::new(
        prometheus::Opts::new("dynamo_component_c_total", "From the prometheus crate"),
        &["kind"],
    )
    .unwrap();
    theirs.with_label_values(&["x"]).inc_by(3);
    ep.register_collector(Box::new(theirs)).unwrap();
    let hist = prometheus::Histogram::with_opts(
        prometheus::HistogramOpts::new("aaa_seconds", "Foreign histogram").buckets(vec![1.0]),
    )
    .unwrap();
    hist.observe(0.5);
    rt.register_collector(Box::new(hist)).unwrap();
    assert_eq!(
        render(&rt),
        r#"# HELP aaa_seconds Foreign histogram
# TYPE aaa_seconds histogram
aaa_seconds_bucket{le="1"} 1
aaa_seconds_bucket{le="+Inf"} 1
aaa_seconds_sum 0.5
aaa_seconds_count 1
# HELP dynamo_component_b_gauge B
# TYPE dynamo_component_b_gauge gauge
dynamo_component_b_gauge 1
# HELP dynamo_component_c_total From the prometheus crate
# TYPE dynamo_component_c_total counter
dynamo_component_c_total{dynamo_namespace="ns",dynamo_component="c",dynamo_endpoint="e",kind="x"} 3
# HELP dynamo_component_d_gauge D
# TYPE dynamo_component_d_gauge gauge
dynamo_component_d_gauge 1
"#
    );
}

#[test]
fn our_metrics_register_in_a_plain_prometheus_registry() {
    let registry = prometheus::Registry::new();
    let counter = dynamo_metrics::IntCounter::new("plain_requests_total", "Requests").unwrap();
    let vec =
        dynamo_metrics::HistogramVec::new("plain_seconds", "Time", &["op"], Some(&[1.0])).unwrap();
    registry.register(Box::new(counter.clone())).unwrap();
    registry.register(Box::new(vec.clone())).unwrap();
    counter.inc_by(5);
    vec.with_label_values(&["get"]).unwrap().observe(3.0);
    let mut out = Vec::new();
    prometheus::Encoder::encode(
        &prometheus::TextEncoder::new(),
        &registry.gather(),
        &mut out,
    )
    .unwrap();
    assert_eq!(
        String::from_utf8(out).unwrap(),
        r#"# HELP plain_requests_total Requests
# TYPE plain_requests_total counter
plain_requests_total 5
# HELP plain_seconds Time
# TYPE plain_seconds histogram
plain_seconds_bucket{op="get",le="1"} 0
plain_seconds_bucket{op="get",le="+Inf"} 1
plain_seconds_sum{op="get"} 3
plain_seconds_count{op="get"} 1
"#
    );
    // A series handed out by a runtime family registers too, with its labels constant.
    let rt = DistributedRuntime::with_config(
        &dynamo_metrics::RuntimeConfig::default().with_worker_id(dynamo_metrics::WorkerId::Off),
    )
    .unwrap();
    let ep = endpoint(&rt, "n");
    let g = ep.create_gauge("temp_celsius", "Temperature", &[]).unwrap();
    g.set(41.5);
    let registry = prometheus::Registry::new();
    registry.register(Box::new(g)).unwrap();
    let text = prometheus::TextEncoder::new()
        .encode_to_string(&registry.gather())
        .unwrap();
    assert!(
        text.ends_with(
            "dynamo_component_temp_celsius{dynamo_namespace=\"n\",dynamo_component=\"c\",dynamo_endpoint=\"e\"} 41.5\n"
        ),
        "{text}"
    );
}

#[test]
fn uptime_is_served_at_runtime_level() {
    let rt = DistributedRuntime::with_config(
        &dynamo_metrics::RuntimeConfig::default().with_worker_id(dynamo_metrics::WorkerId::Off),
    )
    .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(20));
    let text = rt.render();
    let line = text
        .lines()
        .find(|l| l.starts_with("dynamo_component_uptime_seconds "))
        .unwrap();
    let v: f64 = line.rsplit(' ').next().unwrap().parse().unwrap();
    assert!(v >= 0.02, "{line}");
    assert!(text.contains("# TYPE dynamo_component_uptime_seconds gauge\n"));
}

#[cfg(feature = "metrics")]
#[test]
fn error_types_from_request_guards_are_capped() {
    let rt = DistributedRuntime::with_config(
        &dynamo_metrics::RuntimeConfig::default().with_worker_id(dynamo_metrics::WorkerId::Off),
    )
    .unwrap();
    let ep = endpoint(&rt, "n");
    let metrics = dynamo_metrics::EndpointMetrics::register(&ep).unwrap();
    let extra = 100;
    for i in 0..dynamo_metrics::DEFAULT_MAX_SERIES + extra {
        let request = metrics.start();
        request.error(&format!("kind_{i}"));
        request.finish();
    }
    let text = rt.render();
    let series = text
        .lines()
        .filter(|l| l.starts_with("dynamo_component_errors_total{"))
        .count();
    // The cap counts the two error types created at zero (`handler`, `panic`) too.
    assert_eq!(
        series,
        dynamo_metrics::DEFAULT_MAX_SERIES + 1,
        "series plus overflow"
    );
    let overflow = "dynamo_component_errors_total{dynamo_namespace=\"n\",dynamo_component=\"c\",dynamo_endpoint=\"e\",error_type=\"__overflow__\"} ";
    let folded: u64 = text
        .lines()
        .find_map(|l| l.strip_prefix(overflow))
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(folded, extra as u64 + 2);
    assert!(text.contains(&format!(
        "dynamo_metrics_series_overflow_total{{family=\"dynamo_component_errors_total\"}} {}\n",
        extra + 2
    )));
}

/// Label values that concatenate to the same string are different series, whichever way they
/// are looked up (the `prometheus` crate 0.14 merges them: it keys series by a hash of the
/// values one after another).
#[cfg(feature = "metrics")]
#[test]
fn values_that_concatenate_alike_stay_apart() {
    let rt = DistributedRuntime::with_config(
        &dynamo_metrics::RuntimeConfig::default().with_worker_id(dynamo_metrics::WorkerId::Off),
    )
    .unwrap();
    let vec = rt
        .create_intcountervec("split_total", "Split", &["endpoint", "id"], &[])
        .unwrap();
    vec.with_label_values(&["ep1", "10"]).unwrap().inc();
    vec.with(&["ep11", "0"], |c| c.inc_by(5)).unwrap();
    vec.with(&["ep1", "10"], |c| c.inc_by(2)).unwrap();
    vec.with_label_values(&["ep11", "0"]).unwrap().inc_by(7);
    vec.with(&["", "ep1100"], |c| c.inc_by(100)).unwrap();
    let text = rt.render();
    for line in [
        "dynamo_component_split_total{endpoint=\"ep1\",id=\"10\"} 3\n",
        "dynamo_component_split_total{endpoint=\"ep11\",id=\"0\"} 12\n",
        // An empty value is not written: Prometheus reads the two alike.
        "dynamo_component_split_total{id=\"ep1100\"} 100\n",
    ] {
        assert!(text.contains(line), "{line} in {text}");
    }
}
