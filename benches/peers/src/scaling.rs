//! `--scaling`: what a series costs at 10,000, 100,000 and 1,000,000 series (`--quick`: 1,000
//! and 10,000), per series, each library and size in a process of its own (see [`print`]):
//! creating it (labels, prepared text, caps and budget), each render (into a buffer kept from
//! the last, every library alike; and our text into a new buffer each time), a scrape of our
//! status server over HTTP with and without gzip (wall time and the server's CPU), removing
//! it, and the heap it holds; ours beside the `prometheus` crate and `prometheus-client` where
//! they do the same work. Ten families of one string label, as issue 26 measured. One row per
//! measure and library, one column per size, and the largest size's cost over the smallest's.

use std::time::Instant;

use dynamo_metrics::{DistributedRuntime, Format, MetricsRegistry, RuntimeConfig, WorkerId};
use prometheus_client::metrics::{counter::Counter, family::Family};

use crate::hot::median;
use crate::mem::live;
use crate::scrape::Server;

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

/// Nanoseconds per series of `f`, run once over `n` series.
fn once(n: usize, f: impl FnOnce()) -> f64 {
    let started = Instant::now();
    f();
    started.elapsed().as_nanos() as f64 / n as f64
}

/// Nanoseconds per series to remove each of the `per_family` series of every family, with
/// `remove(family, label value)`.
fn remove_all<F>(families: &[F], per_family: usize, remove: impl Fn(&F, String)) -> f64 {
    once(families.len() * per_family, || {
        for family in families {
            for i in 0..per_family {
                remove(family, id(i));
            }
        }
    })
}

/// Series `i`'s label value: seven digits, so every value is as long.
fn id(i: usize) -> String {
    format!("{i:07}")
}

/// One measured figure of one library at one size: what, and its value.
type Figure = (&'static str, f64);

const OURS: &str = "dynamo-metrics";
const PROMETHEUS: &str = "prometheus";
const CLIENT: &str = "prometheus-client";

fn ours(n: usize, runs: usize) -> Vec<Figure> {
    let mut config = RuntimeConfig::default().with_worker_id(WorkerId::Off);
    config.max_series_total = 2 * n + 1_000;
    let rt = DistributedRuntime::with_config(&config).expect("runtime");
    let per_family = n / FAMILIES;
    let before = live();
    let mut families = Vec::with_capacity(FAMILIES);
    let create = once(n, || {
        for f in 0..FAMILIES {
            let vec = rt
                .create_intcountervec(&format!("scale{f}_total"), "Scaling", &["id"], &[])
                .expect("family")
                .max_series(per_family + 1);
            for i in 0..per_family {
                vec.with_label_values(&[&id(i)]).expect("series").inc();
            }
            families.push(vec);
        }
    });
    let bytes = (live() - before) as f64 / n as f64;
    // Each render into a buffer kept from the last (as the status server does), and text
    // once more into a new `String` each time: the kernel's page faults on a fresh buffer.
    let mut buffer = Vec::new();
    let mut encode = |format| {
        per_series(n, runs, || {
            rt.encode_into(format, None, &mut buffer);
            buffer.len()
        })
    };
    let text = encode(Format::Text);
    let openmetrics = encode(Format::OpenMetrics);
    // The first protobuf scrape prepares each series' head: measured apart, then the steady
    // state.
    let before_scrape = live();
    drop(rt.encode(Format::Protobuf, None));
    let bytes_scraped = bytes + (live() - before_scrape) as f64 / n as f64;
    let protobuf = encode(Format::Protobuf);
    drop(rt.encode_otlp());
    let otlp = per_series(n, runs, || rt.encode_otlp_into(&mut buffer).len());
    let text_new = per_series(n, runs, || rt.render().len());
    let server = Server::start(&rt);
    let plain = server.scrape(n, runs, false);
    let gzip = server.scrape(n, runs, true);
    drop(server);
    let remove = remove_all(&families, per_family, |vec, id| {
        assert!(vec.remove_label_values(&[&id]).expect("removed"));
    });
    vec![
        ("create, ns", create),
        ("remove, ns", remove),
        ("text render, ns", text),
        ("text render into a new buffer, ns", text_new),
        ("OpenMetrics render, ns", openmetrics),
        ("protobuf encode, ns", protobuf),
        ("OTLP encode, ns", otlp),
        ("HTTP scrape, text, wall ns", plain.wall_ns),
        ("HTTP scrape, text, server CPU ns", plain.server_cpu_ns),
        ("HTTP scrape, text, page bytes", plain.bytes),
        ("HTTP scrape, text + gzip, wall ns", gzip.wall_ns),
        (
            "HTTP scrape, text + gzip, server CPU ns",
            gzip.server_cpu_ns,
        ),
        ("HTTP scrape, text + gzip, page bytes", gzip.bytes),
        ("heap bytes", bytes),
        ("heap bytes after a protobuf scrape", bytes_scraped),
    ]
}

/// The `prometheus` crate at one size: an `IntCounterVec` per family in a `Registry`; renders
/// are `gather` + the encoder.
fn prometheus(n: usize, runs: usize) -> Vec<Figure> {
    use prometheus::Encoder as _;
    let registry = prometheus::Registry::new();
    let per_family = n / FAMILIES;
    let before = live();
    let mut families = Vec::with_capacity(FAMILIES);
    let create = once(n, || {
        for f in 0..FAMILIES {
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
            families.push(vec);
        }
    });
    let bytes = (live() - before) as f64 / n as f64;
    let mut out = Vec::new();
    let mut encode = |encoder: &dyn Fn(&[prometheus::proto::MetricFamily], &mut Vec<u8>)| {
        per_series(n, runs, || {
            out.clear();
            encoder(&registry.gather(), &mut out);
            out.len()
        })
    };
    let text = encode(&|families, out| {
        prometheus::TextEncoder::new()
            .encode(families, out)
            .expect("encoded")
    });
    let protobuf = encode(&|families, out| {
        prometheus::ProtobufEncoder::new()
            .encode(families, out)
            .expect("encoded")
    });
    let remove = remove_all(&families, per_family, |vec, id| {
        vec.remove_label_values(&[&id]).expect("removed");
    });
    vec![
        ("create, ns", create),
        ("remove, ns", remove),
        ("text render, ns", text),
        ("protobuf encode, ns", protobuf),
        ("heap bytes", bytes),
    ]
}

/// `prometheus-client` at one size: a `Family` of a derived label set per family in a
/// `Registry`; it renders text and OpenMetrics alike (OpenMetrics text).
fn client(n: usize, runs: usize) -> Vec<Figure> {
    let mut registry = prometheus_client::registry::Registry::default();
    let per_family = n / FAMILIES;
    let before = live();
    let mut families = Vec::with_capacity(FAMILIES);
    let create = once(n, || {
        for f in 0..FAMILIES {
            let family = Family::<crate::mem::One, Counter>::default();
            registry.register(format!("scale{f}"), "Scaling", family.clone());
            for i in 0..per_family {
                family.get_or_create(&crate::mem::One { id: id(i) }).inc();
            }
            families.push(family);
        }
    });
    let bytes = (live() - before) as f64 / n as f64;
    let mut out = String::new();
    let text = per_series(n, runs, || {
        out.clear();
        prometheus_client::encoding::text::encode(&mut out, &registry).expect("encoded");
        out.len()
    });
    let remove = remove_all(&families, per_family, |family, id| {
        assert!(family.remove(&crate::mem::One { id }), "removed");
    });
    vec![
        ("create, ns", create),
        ("remove, ns", remove),
        ("OpenMetrics render, ns", text),
        ("heap bytes", bytes),
    ]
}

/// Prints the scaling table. Each library at each size is measured in a process of its own
/// (this program again: `--scaling-one LIBRARY SERIES RUNS`), in a heap no other measurement
/// has left fragmented: measured after the 10,000-series round in one process, the 100,000
/// series were scattered in the holes it left, and rendered 2.5x slower than alone.
pub fn print(quick: bool) {
    let sizes: &[(usize, usize)] = if quick {
        &[(1_000, 1), (10_000, 1)]
    } else {
        &[(10_000, 101), (100_000, 21), (1_000_000, 5)]
    };
    // One column per size; each peer's row under ours.
    let mut rows: Vec<(String, &str, Vec<f64>)> = Vec::new();
    for &(n, runs) in sizes {
        for library in [OURS, PROMETHEUS, CLIENT] {
            let run = std::process::Command::new(std::env::current_exe().expect("this program"))
                .args(["--scaling-one", library, &n.to_string(), &runs.to_string()])
                .output()
                .expect("measured");
            let stdout = String::from_utf8_lossy(&run.stdout);
            assert!(
                run.status.success(),
                "{library} at {n}: {stdout}{}",
                String::from_utf8_lossy(&run.stderr)
            );
            for line in stdout.lines() {
                let (what, value) = line.split_once('\t').expect("measure, tab, value");
                let value: f64 = value.parse().expect("a number");
                match rows.iter_mut().find(|r| r.0 == what && r.1 == library) {
                    Some(row) => row.2.push(value),
                    None => rows.push((what.to_owned(), library, vec![value])),
                }
            }
        }
    }
    let measures: Vec<String> = rows.iter().map(|r| r.0.clone()).collect();
    rows.sort_by_key(|r| measures.iter().position(|m| *m == r.0));
    let header: Vec<String> = sizes.iter().map(|(n, _)| format!("{n}")).collect();
    println!(
        "\n| per series | library | {} | largest / smallest |",
        header.join(" | ")
    );
    println!("|---|---|{}---:|", "---:|".repeat(sizes.len()));
    for (what, who, values) in &rows {
        let cells: Vec<String> = values.iter().map(|v| format!("{v:.1}")).collect();
        println!(
            "| {what} | {who} | {} | {:.2}x |",
            cells.join(" | "),
            values[values.len() - 1] / values[0]
        );
    }
}

/// One library at one size, for [`print`]: a `measure<TAB>value` line per figure.
pub fn print_one(library: &str, n: usize, runs: usize) {
    // A runtime of its own: its series are not this table's, nor in its budget.
    crate::mem::warm_lookup_tables(&crate::runtime());
    let figures = match library {
        OURS => ours(n, runs),
        PROMETHEUS => prometheus(n, runs),
        CLIENT => client(n, runs),
        _ => panic!("no library {library:?}"),
    };
    for (what, value) in figures {
        println!("{what}\t{value}");
    }
}
