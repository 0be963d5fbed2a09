//! `--scaling`: what a series costs at 10,000, 100,000 and 1,000,000 series (`--quick`: 1,000
//! and 10,000), per series, in one process: creating it (labels, prepared text, caps and
//! budget), each render, removing it, and the heap it holds; ours beside the `prometheus`
//! crate where it does the same work. Ten families of one string label, as issue 26 measured.

use std::time::Instant;

use dynamo_metrics::{DistributedRuntime, Format, MetricsRegistry, RuntimeConfig, WorkerId};

use crate::hot::median;
use crate::mem::live;

const FAMILIES: usize = 10;

/// Nanoseconds per series of `f` over `n` series: the median of `runs` runs.
fn per_series(n: usize, runs: usize, mut f: impl FnMut() -> usize) -> f64 {
    let mut times = Vec::with_capacity(runs);
    for _ in 0..runs {
        let started = Instant::now();
        std::hint::black_box(f());
        times.push(started.elapsed().as_nanos() as f64 / n as f64);
    }
    median(&times)
}

/// Series `i`'s label value: seven digits, so every value is as long.
fn id(i: usize) -> String {
    format!("{i:07}")
}

/// One size's row of ours: ns per series for create, text, OpenMetrics, protobuf, OTLP and
/// remove; bytes per series before and after a protobuf scrape.
struct Ours {
    create: f64,
    text: f64,
    openmetrics: f64,
    protobuf: f64,
    otlp: f64,
    remove: f64,
    bytes: f64,
    bytes_scraped: f64,
}

fn ours(n: usize, runs: usize) -> Ours {
    let mut config = RuntimeConfig::default().with_worker_id(WorkerId::Off);
    config.max_series_total = 2 * n + 1_000;
    let rt = DistributedRuntime::with_config(&config).expect("runtime");
    let per_family = n / FAMILIES;
    let before = live();
    let started = Instant::now();
    let families: Vec<_> = (0..FAMILIES)
        .map(|f| {
            let vec = rt
                .create_intcountervec(&format!("scale{f}_total"), "Scaling", &["id"], &[])
                .expect("family")
                .max_series(per_family + 1);
            for i in 0..per_family {
                vec.with_label_values(&[&id(i)]).expect("series").inc();
            }
            vec
        })
        .collect();
    let create = started.elapsed().as_nanos() as f64 / n as f64;
    let bytes = (live() - before) as f64 / n as f64;
    let text = per_series(n, runs, || rt.render().len());
    let openmetrics = per_series(n, runs, || rt.encode(Format::OpenMetrics, None).len());
    // The first protobuf scrape prepares each series' head: measured apart, then the steady
    // state.
    let before_scrape = live();
    drop(rt.encode(Format::Protobuf, None));
    let bytes_scraped = bytes + (live() - before_scrape) as f64 / n as f64;
    let protobuf = per_series(n, runs, || rt.encode(Format::Protobuf, None).len());
    drop(rt.encode_otlp());
    let otlp = per_series(n, runs, || rt.encode_otlp().len());
    let started = Instant::now();
    for vec in &families {
        for i in 0..per_family {
            vec.remove_label_values(&[&id(i)]).expect("removed");
        }
    }
    let remove = started.elapsed().as_nanos() as f64 / n as f64;
    Ours {
        create,
        text,
        openmetrics,
        protobuf,
        otlp,
        remove,
        bytes,
        bytes_scraped,
    }
}

/// The `prometheus` crate at one size: ns per series to create and to render text (gather +
/// `TextEncoder`), bytes per series.
fn prometheus(n: usize, runs: usize) -> (f64, f64, f64) {
    use prometheus::Encoder as _;
    let registry = prometheus::Registry::new();
    let per_family = n / FAMILIES;
    let before = live();
    let started = Instant::now();
    let families: Vec<_> = (0..FAMILIES)
        .map(|f| {
            let vec = prometheus::IntCounterVec::new(
                prometheus::Opts::new(format!("scale{f}_total"), "Scaling"),
                &["id"],
            )
            .expect("family");
            registry
                .register(Box::new(vec.clone()))
                .expect("registered");
            for i in 0..per_family {
                vec.with_label_values(&[&id(i)]).inc();
            }
            vec
        })
        .collect();
    let create = started.elapsed().as_nanos() as f64 / n as f64;
    let bytes = (live() - before) as f64 / n as f64;
    let text = per_series(n, runs, || {
        let mut out = Vec::new();
        prometheus::TextEncoder::new()
            .encode(&registry.gather(), &mut out)
            .expect("encoded");
        out.len()
    });
    drop(families);
    (create, text, bytes)
}

/// Prints the scaling table.
pub fn print(quick: bool) {
    // A runtime of its own: its series are not this table's, nor in its budget.
    crate::mem::warm_lookup_tables(&crate::runtime());
    let sizes: &[(usize, usize)] = if quick {
        &[(1_000, 1), (10_000, 1)]
    } else {
        &[(10_000, 9), (100_000, 5), (1_000_000, 3)]
    };
    println!(
        "\n| series | ours: create | text | OpenMetrics | protobuf | OTLP | remove | bytes | bytes after a protobuf scrape | prometheus: create | text | bytes |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for &(n, runs) in sizes {
        let o = ours(n, runs);
        let (p_create, p_text, p_bytes) = prometheus(n, runs);
        println!(
            "| {n} | {:.0} ns | {:.1} ns | {:.1} ns | {:.1} ns | {:.1} ns | {:.0} ns | {:.0} B | {:.0} B | {p_create:.0} ns | {p_text:.1} ns | {p_bytes:.0} B |",
            o.create, o.text, o.openmetrics, o.protobuf, o.otlp, o.remove, o.bytes, o.bytes_scraped
        );
    }
}
