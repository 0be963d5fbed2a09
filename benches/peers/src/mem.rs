//! Memory per series: the bytes the allocator holds after creating 10,000 counter series (two
//! labels) and 1,000 histogram series (one label, 11 buckets), per series, for each library.
//! Counted by a global allocator that tracks live bytes; the structures stay alive while
//! counted.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};

use dynamo_metrics::{DistributedRuntime, MetricsRegistry};

/// The system allocator, counting live bytes.
pub struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

/// The bytes the allocator holds now.
pub fn live() -> isize {
    LIVE.load(Ordering::Relaxed)
}

// SAFETY: every call is forwarded to the system allocator unchanged; only a counter is kept.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(
            new_size as isize - layout.size() as isize,
            Ordering::Relaxed,
        );
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

/// Bytes per item that `make` keeps allocated for `n` items. What it made is kept until the
/// process ends: dropped, its series could still be held by this thread's lookup table, and a
/// later row's lookups, evicting them, would free them while that row is counted.
fn per<T>(n: usize, make: impl FnOnce() -> T) -> f64 {
    let before = LIVE.load(Ordering::Relaxed);
    let kept = make();
    let after = LIVE.load(Ordering::Relaxed);
    std::mem::forget(kept);
    (after - before) as f64 / n as f64
}

/// Fills this thread's lookup tables of counter and histogram handles with series of a
/// family of `rt` (a runtime of its own, so that its series are in no measured render) that
/// stays alive, so that the rows measure series in a steady state: a table at
/// its largest (a bounded cost per thread, not per series) that neither grows nor frees what
/// it evicts while a row is counted.
pub fn warm_lookup_tables(rt: &DistributedRuntime) {
    let counters = rt
        .create_intcountervec("mem_warm_total", "Warm-up", &["id"], &[])
        .expect("vec")
        .max_series(usize::MAX);
    let histograms = rt
        .create_histogramvec("mem_warm_seconds", "Warm-up", &["id"], &[], None)
        .expect("vec")
        .max_series(usize::MAX);
    for i in 0..20_000 {
        let id = i.to_string();
        counters.with_label_values(&[&id]).expect("series").inc();
        histograms
            .with_label_values(&[&id])
            .expect("series")
            .observe(0.1);
    }
    std::mem::forget((counters, histograms));
}

const COUNTERS: usize = 10_000;
const HISTOGRAMS: usize = 1_000;

#[derive(Clone, Copy, PartialEq, Debug, measured::LabelGroup)]
#[label(set = MeasuredTwoSet)]
struct MeasuredTwo<'a> {
    #[label(dynamic_with = paracord::ParaCord)]
    endpoint: &'a str,
    #[label(dynamic_with = paracord::ParaCord)]
    id: &'a str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, prometheus_client::encoding::EncodeLabelSet)]
struct Two {
    endpoint: String,
    id: String,
}

/// One label, `id` (the scaling table's families too).
#[derive(Clone, Debug, Hash, PartialEq, Eq, prometheus_client::encoding::EncodeLabelSet)]
pub struct One {
    pub id: String,
}

/// Series `i`'s labels: the id has two digits, so that no two series' values concatenate to
/// the same string (the `prometheus` crate merges such series: see `render::id_of`).
fn key(i: usize) -> (String, String) {
    (format!("ep{}", i / 100), format!("{:02}", i % 100))
}

/// Our row: counters and histograms, striped or not (the families named apart), and after a
/// protobuf scrape when `scraped` (a counter series then keeps its message's head).
fn ours(
    rt: &DistributedRuntime,
    name: &'static str,
    (striped, scraped): (bool, bool),
    buckets: &[f64],
) -> (&'static str, f64, Option<f64>) {
    let suffix = if striped { "_striped" } else { "" };
    let counters = per(COUNTERS, || {
        let vec = rt
            .create_intcountervec(
                &format!("mem{suffix}_total"),
                "Memory",
                &["endpoint", "id"],
                &[],
            )
            .expect("vec")
            .max_series(COUNTERS);
        let vec = if striped { vec.striped() } else { vec };
        for i in 0..COUNTERS {
            let (e, id) = key(i);
            vec.with_label_values(&[&e, &id]).expect("series").inc();
        }
        if scraped {
            drop(rt.encode(dynamo_metrics::Format::Protobuf, None));
        }
        vec
    });
    let histograms = per(HISTOGRAMS, || {
        let vec = rt
            .create_histogramvec(
                &format!("mem{suffix}_seconds"),
                "Memory",
                &["id"],
                &[],
                Some(buckets),
            )
            .expect("vec")
            .max_series(HISTOGRAMS);
        let vec = if striped { vec.striped() } else { vec };
        for i in 0..HISTOGRAMS {
            vec.with_label_values(&[&i.to_string()])
                .expect("series")
                .observe(0.1);
        }
        vec
    });
    (name, counters, Some(histograms))
}

/// Our counters where `endpoint` is the hierarchy label it is in Dynamo: 100 endpoints with a
/// family of 100 `id`s each. The lines also carry `dynamo_namespace` and `dynamo_component`,
/// which every series of an endpoint shares with the others (the endpoints are made before
/// counting).
fn at_endpoints(rt: &DistributedRuntime) -> (&'static str, f64, Option<f64>) {
    let comp = rt
        .namespace("mem")
        .expect("namespace")
        .component("comp")
        .expect("component");
    let endpoints: Vec<_> = (0..COUNTERS / 100)
        .map(|e| comp.endpoint(&format!("ep{e}")).expect("endpoint"))
        .collect();
    let counters = per(COUNTERS, || {
        endpoints
            .iter()
            .map(|ep| {
                let vec = ep
                    .create_intcountervec("mem_at_endpoint_total", "Memory", &["id"], &[])
                    .expect("vec");
                for i in 0..100 {
                    vec.with_label_values(&[&i.to_string()])
                        .expect("series")
                        .inc();
                }
                vec
            })
            .collect::<Vec<_>>()
    });
    (
        "dynamo-metrics, `endpoint` a hierarchy label, as in Dynamo (the lines carry namespace and component too)",
        counters,
        None,
    )
}

/// Prints the table.
pub fn print() {
    let buckets = [
        0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
    ];
    // The runtime (and `metrics`' recorder) exist before counting: only the families and
    // their series are counted.
    let rt = crate::runtime();
    warm_lookup_tables(&crate::runtime());
    let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
    let rows: Vec<(&str, f64, Option<f64>)> = vec![
        ours(&rt, "dynamo-metrics", (false, false), &buckets),
        ours(
            &crate::runtime(),
            "dynamo-metrics, after a protobuf scrape (each counter series keeps its message's head)",
            (false, true),
            &buckets,
        ),
        ours(
            &DistributedRuntime::new().expect("runtime"),
            "dynamo-metrics, a worker's runtime (its `worker_id` on every series)",
            (false, false),
            &buckets,
        ),
        ours(
            &rt,
            "dynamo-metrics, striped (stripes: this machine's CPUs, up to 16; one observing thread)",
            (true, false),
            &buckets,
        ),
        at_endpoints(&rt),
        (
            "prometheus",
            per(COUNTERS, || {
                let vec = prometheus::IntCounterVec::new(
                    prometheus::Opts::new("mem_total", "Memory"),
                    &["endpoint", "id"],
                )
                .expect("vec");
                for i in 0..COUNTERS {
                    let (e, id) = key(i);
                    vec.with_label_values(&[&e, &id]).inc();
                }
                vec
            }),
            Some(per(HISTOGRAMS, || {
                let vec = prometheus::HistogramVec::new(
                    prometheus::HistogramOpts::new("mem_seconds", "Memory")
                        .buckets(buckets.to_vec()),
                    &["id"],
                )
                .expect("vec");
                for i in 0..HISTOGRAMS {
                    vec.with_label_values(&[&i.to_string()]).observe(0.1);
                }
                vec
            })),
        ),
        (
            "prometheus-client",
            per(COUNTERS, || {
                let family = prometheus_client::metrics::family::Family::<
                    Two,
                    prometheus_client::metrics::counter::Counter,
                >::default();
                for i in 0..COUNTERS {
                    let (endpoint, id) = key(i);
                    family.get_or_create(&Two { endpoint, id }).inc();
                }
                family
            }),
            Some(per(HISTOGRAMS, || {
                let family = prometheus_client::metrics::family::Family::<
                    One,
                    prometheus_client::metrics::histogram::Histogram,
                    _,
                >::new_with_constructor(move || {
                    prometheus_client::metrics::histogram::Histogram::new(buckets)
                });
                for i in 0..HISTOGRAMS {
                    family
                        .get_or_create(&One { id: i.to_string() })
                        .observe(0.1);
                }
                family
            })),
        ),
        (
            "measured (ParaCord labels)",
            per(COUNTERS, || {
                let vec = measured::CounterVec::with_label_set(MeasuredTwoSet {
                    endpoint: paracord::ParaCord::default(),
                    id: paracord::ParaCord::default(),
                });
                for i in 0..COUNTERS {
                    let (e, id) = key(i);
                    vec.inc(MeasuredTwo {
                        endpoint: &e,
                        id: &id,
                    });
                }
                vec
            }),
            None,
        ),
        (
            "metrics + metrics-exporter-prometheus (its recorder made before, as our runtime)",
            per(COUNTERS, || {
                metrics::with_local_recorder(&recorder, || {
                    for i in 0..COUNTERS {
                        let (e, id) = key(i);
                        metrics::counter!("mem_total", "endpoint" => e, "id" => id).increment(1);
                    }
                });
            }),
            None,
        ),
    ];
    println!();
    println!(
        "| memory per series (live heap bytes) | 10,000 counters, 2 labels | 1,000 histograms, 11 buckets |"
    );
    println!("|---|---:|---:|");
    for (name, counters, histograms) in rows {
        let h = histograms.map_or("not measured".to_owned(), |h| format!("{h:.0} B"));
        println!("| {name} | {counters:.0} B | {h} |");
    }
}
