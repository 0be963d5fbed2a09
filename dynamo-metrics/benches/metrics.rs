//! Our hot paths and render against the `prometheus` crate, in the same run.
//!
//! `cargo bench -p dynamo-metrics --bench metrics`; figures in BENCHMARKS.md.

// criterion_group! defines an undocumented public function.
#![allow(missing_docs)]

use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use dynamo_metrics::{
    DEFAULT_BUCKETS, DistributedRuntime, DynamoMetrics, IntCounterFamily, LabelSet, LabelValue,
    MetricsRegistry, instrument_endpoint,
};
use prometheus::Encoder;

#[allow(dead_code)] // one value is measured; all are series
#[derive(LabelValue, Clone, Copy)]
enum Status {
    Success,
    Error,
}

#[allow(dead_code)] // one value is measured; all are series
#[derive(LabelValue, Clone, Copy)]
enum RequestType {
    Stream,
    Unary,
}

#[allow(dead_code)] // one value is measured; all are series
#[derive(LabelValue, Clone, Copy)]
enum Endpoint {
    Chat,
    Completions,
}

/// Three string labels: the frontend's shape (a model name from the request).
#[derive(LabelSet)]
struct Route {
    model: String,
    route: String,
    tenant: String,
}

#[derive(LabelSet)]
struct Outcome {
    endpoint: Endpoint,
    request_type: RequestType,
    status: Status,
}

/// Frontend metrics, derived.
#[derive(DynamoMetrics)]
#[metrics(subsystem = "bench")]
struct Frontend {
    /// Requests by outcome
    requests_total: IntCounterFamily<Outcome>,
    /// Requests by route
    routed_total: IntCounterFamily<Route>,
}

#[instrument_endpoint(component = "bench", endpoint = "sync")]
fn instrumented_sync(x: u64) -> u64 {
    black_box(x) + 1
}

fn plain_sync(x: u64) -> u64 {
    black_box(x) + 1
}

/// The same, its calls labelled with the model they serve (an endpoint label).
#[instrument_endpoint(component = "bench", endpoint = "labelled", labels(model = model))]
fn instrumented_labelled(model: &str, x: u64) -> u64 {
    black_box(x) + 1
}

#[instrument_endpoint(component = "bench", endpoint = "async")]
async fn instrumented_async(x: u64) -> u64 {
    black_box(x) + 1
}

async fn plain_async(x: u64) -> u64 {
    black_box(x) + 1
}

/// Polls a future that is ready at once, as an executor would, without one.
fn ready<F: std::future::Future>(f: F) -> F::Output {
    let mut f = std::pin::pin!(f);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    loop {
        if let std::task::Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
    }
}

const SERIES: usize = 10_000;
const LABELS: [&str; 4] = [
    "dynamo_namespace",
    "dynamo_component",
    "dynamo_endpoint",
    "id",
];

fn increments(c: &mut Criterion) {
    let mut g = c.benchmark_group("counter_inc");
    let raw = AtomicU64::new(0);
    g.bench_function("raw AtomicU64::fetch_add", |b| {
        b.iter(|| black_box(&raw).fetch_add(1, Ordering::Relaxed))
    });

    let rt = DistributedRuntime::new().unwrap();
    let ep = rt
        .namespace("ns")
        .unwrap()
        .component("comp")
        .unwrap()
        .endpoint("ep")
        .unwrap();
    let ours = ep
        .create_intcountervec("hits_total", "Hits", &["model"], &[])
        .unwrap()
        .with_label_values(&["llama"])
        .unwrap();
    g.bench_function("dynamo IntCounterVec resolved series inc", |b| {
        b.iter(|| black_box(&ours).inc())
    });

    let derived = Frontend::register(&rt).unwrap();
    let outcome = Outcome {
        endpoint: Endpoint::Chat,
        request_type: RequestType::Unary,
        status: Status::Success,
    };
    g.bench_function("dynamo derived IntCounterFamily<3 enum labels> inc", |b| {
        b.iter(|| derived.requests_total.inc(black_box(&outcome)))
    });

    let by_hand = rt
        .create_intcountervec("by_hand_total", "Hits", &["model", "route", "tenant"], &[])
        .unwrap();
    by_hand
        .with_label_values(&["llama", "chat", "acme"])
        .unwrap();
    g.bench_function("dynamo IntCounterVec with_label_values(3)+inc", |b| {
        b.iter(|| {
            black_box(&by_hand)
                .with_label_values(&black_box(["llama", "chat", "acme"]))
                .unwrap()
                .inc()
        })
    });
    g.bench_function("dynamo IntCounterVec with(3, inc)", |b| {
        b.iter(|| {
            black_box(&by_hand)
                .with(&black_box(["llama", "chat", "acme"]), |c| c.inc())
                .unwrap()
        })
    });
    let route = Route {
        model: "llama".into(),
        route: "chat".into(),
        tenant: "acme".into(),
    };
    g.bench_function(
        "dynamo derived IntCounterFamily<3 string labels> inc",
        |b| b.iter(|| derived.routed_total.inc(black_box(&route))),
    );

    let theirs = prometheus::IntCounterVec::new(
        prometheus::Opts::new("requests_total", "Requests"),
        &["dynamo_namespace", "dynamo_component", "dynamo_endpoint"],
    )
    .unwrap();
    g.bench_function("prometheus IntCounterVec with_label_values(3)+inc", |b| {
        b.iter(|| {
            black_box(&theirs)
                .with_label_values(&black_box(["ns", "comp", "ep"]))
                .inc()
        })
    });
    let resolved = theirs.with_label_values(&["ns", "comp", "ep"]);
    g.bench_function("prometheus IntCounter resolved inc", |b| {
        b.iter(|| black_box(&resolved).inc())
    });
    g.finish();
}

/// Two threads incrementing one counter `iters` times each; the time per increment and thread.
fn contended(iters: u64, inc: &(dyn Fn() + Sync)) -> Duration {
    let start = std::time::Instant::now();
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| {
                for _ in 0..iters {
                    inc();
                }
            });
        }
    });
    start.elapsed()
}

fn contention(c: &mut Criterion) {
    let mut g = c.benchmark_group("two_threads_one_counter");
    let rt = DistributedRuntime::new().unwrap();
    let ours = rt
        .create_intcounter("contended_total", "Contended", &[])
        .unwrap();
    let theirs = prometheus::IntCounter::new("contended_total", "Contended").unwrap();
    let striped = rt
        .create_intcountervec("striped_total", "Striped", &[], &[])
        .unwrap()
        .striped()
        .with_label_values(&[])
        .unwrap();
    let raw = AtomicU64::new(0);
    g.bench_function("raw AtomicU64::fetch_add, per thread", |b| {
        b.iter_custom(|iters| {
            contended(iters, &|| {
                black_box(&raw).fetch_add(1, Ordering::Relaxed);
            })
        })
    });
    g.bench_function("dynamo IntCounter inc, per thread", |b| {
        b.iter_custom(|iters| contended(iters, &|| black_box(&ours).inc()))
    });
    g.bench_function("dynamo striped IntCounter inc, per thread", |b| {
        b.iter_custom(|iters| contended(iters, &|| black_box(&striped).inc()))
    });
    g.bench_function("dynamo striped IntCounter inc, one thread", |b| {
        b.iter(|| black_box(&striped).inc())
    });
    g.bench_function("prometheus IntCounter inc, per thread", |b| {
        b.iter_custom(|iters| contended(iters, &|| black_box(&theirs).inc()))
    });
    g.finish();
}

fn observes(c: &mut Criterion) {
    let mut g = c.benchmark_group("histogram_observe");
    let rt = DistributedRuntime::new().unwrap();
    let ours = rt
        .create_histogram("duration_seconds", "Time", &[], None)
        .unwrap();
    let theirs = prometheus::Histogram::with_opts(
        prometheus::HistogramOpts::new("duration_seconds", "Time")
            .buckets(DEFAULT_BUCKETS.to_vec()),
    )
    .unwrap();
    // Values spread over the buckets, the same for both.
    let values: Vec<f64> = (0..1024).map(|i| f64::from(i) * 0.013).collect();
    let mut i = 0usize;
    g.bench_function("dynamo Histogram observe", |b| {
        b.iter(|| {
            i = (i + 1) & 1023;
            black_box(&ours).observe(values[i]);
        })
    });
    g.bench_function("prometheus Histogram observe", |b| {
        b.iter(|| {
            i = (i + 1) & 1023;
            black_box(&theirs).observe(values[i]);
        })
    });
    g.finish();
}

fn instrumentation(c: &mut Criterion) {
    let mut g = c.benchmark_group("instrument_endpoint");
    // Creating a runtime attaches the instrumented functions to its registry.
    let _rt = DistributedRuntime::new().unwrap();
    g.bench_function("std::time::Instant::now", |b| {
        b.iter(std::time::Instant::now)
    });
    g.bench_function("quanta::Instant::now", |b| b.iter(quanta::Instant::now));
    // The floor of a measured call: what the request guard reads, twice, and scales once.
    let clock = quanta::Clock::new();
    g.bench_function("floor: two raw TSC reads + delta", |b| {
        b.iter(|| {
            let start = clock.raw();
            clock.delta_as_nanos(black_box(start), clock.raw())
        })
    });
    g.bench_function("plain fn", |b| b.iter(|| plain_sync(black_box(1))));
    g.bench_function("instrumented fn", |b| {
        b.iter(|| instrumented_sync(black_box(1)))
    });
    _rt.prepare_endpoint_labels(&[("model", "mock-llama")])
        .unwrap();
    g.bench_function("instrumented fn, labels(model)", |b| {
        b.iter(|| instrumented_labelled(black_box("mock-llama"), black_box(1)))
    });
    g.bench_function("plain async fn (polled once)", |b| {
        b.iter(|| ready(plain_async(black_box(1))))
    });
    g.bench_function("instrumented async fn (polled once)", |b| {
        b.iter(|| ready(instrumented_async(black_box(1))))
    });
    g.finish();
}

fn renders(c: &mut Criterion) {
    let mut g = c.benchmark_group("render_10k_series");
    g.measurement_time(Duration::from_secs(5));
    // The same 10,000 counter series on both sides: 100 endpoints x 100 ids.
    let rt = DistributedRuntime::new().unwrap();
    let comp = rt.namespace("ns").unwrap().component("comp").unwrap();
    let theirs = prometheus::IntCounterVec::new(
        prometheus::Opts::new("dynamo_component_render_requests_total", "Requests"),
        &LABELS,
    )
    .unwrap();
    let registry = prometheus::Registry::new();
    registry.register(Box::new(theirs.clone())).unwrap();
    for e in 0..SERIES / 100 {
        let endpoint = format!("ep{e}");
        let family = comp
            .endpoint(&endpoint)
            .unwrap()
            .create_intcountervec("render_requests_total", "Requests", &["id"], &[])
            .unwrap();
        for i in 0..100 {
            let id = format!("{i}");
            let n = (e * 100 + i) as u64 * 7919;
            family.with_label_values(&[&id]).unwrap().inc_by(n);
            theirs
                .with_label_values(&["ns", "comp", &endpoint, &id])
                .inc_by(n);
        }
    }
    // The floor: the same sample lines, pre-rendered into one contiguous list, with only the
    // integer formatting left to do into a reused buffer.
    let rendered = rt.render();
    let floor: Vec<(&str, u64)> = rendered
        .lines()
        .filter(|l| l.starts_with("dynamo_component_render_requests_total{"))
        .map(|l| {
            let (prefix, value) = l.rsplit_once(' ').unwrap();
            (prefix, value.parse().unwrap())
        })
        .collect();
    // With the `metrics` feature off nothing is rendered.
    assert_eq!(
        floor.len(),
        if cfg!(feature = "metrics") { SERIES } else { 0 }
    );
    let mut buf = String::new();
    g.bench_function("floor: contiguous prefixes + itoa", |b| {
        b.iter(|| {
            buf.clear();
            for (prefix, value) in &floor {
                buf.push_str(prefix);
                buf.push(' ');
                buf.push_str(itoa::Buffer::new().format(*value));
                buf.push('\n');
            }
            black_box(buf.len())
        })
    });
    g.bench_function("dynamo render_into (reused buffer)", |b| {
        b.iter(|| {
            buf.clear();
            rt.render_into(&mut buf);
            black_box(buf.len())
        })
    });
    g.bench_function("dynamo render (String)", |b| {
        b.iter(|| black_box(rt.render().len()))
    });
    g.bench_function("prometheus gather+TextEncoder", |b| {
        b.iter(|| {
            let mut out = Vec::new();
            prometheus::TextEncoder::new()
                .encode(&registry.gather(), &mut out)
                .unwrap();
            black_box(out.len())
        })
    });
    g.finish();
}

/// 1,000 histogram series with the 11 default buckets, rendered.
fn render_histograms(c: &mut Criterion) {
    let mut g = c.benchmark_group("render_1k_histograms");
    let rt = DistributedRuntime::new().unwrap();
    let vec = rt
        .create_histogramvec("latency_seconds", "Latency", &["id"], &[], None)
        .unwrap()
        .max_series(1_000);
    for i in 0..1_000u32 {
        vec.with_label_values(&[&i.to_string()])
            .unwrap()
            .observe(f64::from(i) * 0.001);
    }
    let mut buf = String::new();
    g.bench_function("dynamo render_into (reused buffer)", |b| {
        b.iter(|| {
            buf.clear();
            rt.render_into(&mut buf);
            black_box(buf.len())
        })
    });
    g.finish();
}

/// 10,000 counter series rendered, unstriped and striped (one stripe per CPU, up to 16): what
/// a render pays for striping.
fn render_striped(c: &mut Criterion) {
    let mut g = c.benchmark_group("render_10k_striped");
    for striped in [false, true] {
        let rt = DistributedRuntime::new().unwrap();
        let vec = rt
            .create_intcountervec("hits_total", "Hits", &["id"], &[])
            .unwrap()
            .max_series(10_000);
        let vec = if striped { vec.striped() } else { vec };
        for i in 0..10_000u64 {
            vec.with_label_values(&[&i.to_string()]).unwrap().inc_by(i);
        }
        let mut buf = String::new();
        let name = if striped { "striped" } else { "not striped" };
        g.bench_function(name, |b| {
            b.iter(|| {
                buf.clear();
                rt.render_into(&mut buf);
                black_box(buf.len())
            })
        });
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = increments, contention, observes, instrumentation, renders, render_histograms,
        render_striped
}
criterion_main!(benches);
