//! The hot paths, ours beside each peer's: look up + increment by three enum labels, a
//! histogram observation, one counter hit by two threads, an instrumented call; and the
//! harness every group runs in (string labels in `labels`, renders in `render`). Cases run
//! interleaved, round by round (the two-thread groups among themselves, before the others);
//! each table row is the median of the rounds, in nanoseconds per operation (microseconds per
//! render for the render groups).

use std::cell::Cell;
use std::hint::black_box;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use dynamo_metrics::{
    DynamoMetrics, Histogram, IntCounterFamily, LabelSet, LabelValue, MetricsRegistry,
    instrument_endpoint,
};
use measured::label::StaticLabelSet;
use measured::{FixedCardinalityLabel, LabelGroup};

/// One measured operation: runs `ops` operations, returns the time they took.
type Run = Box<dyn FnMut(u64) -> Duration>;

pub struct Case {
    pub group: &'static str,
    pub name: &'static str,
    /// The cases of the same group that ratios are taken against.
    pub peers: Vec<&'static str>,
    pub run: Run,
    pub times: Vec<f64>,
    /// A render's page size in bytes, for the ratios per byte.
    pub bytes: Option<Rc<Cell<usize>>>,
    /// Renders one page and checks that it holds what every library was given; its size.
    pub check: Option<Box<dyn FnMut() -> Result<usize, String>>>,
}

pub fn case(
    group: &'static str,
    name: &'static str,
    peers: &[&'static str],
    mut op: impl FnMut() + 'static,
) -> Case {
    Case {
        group,
        name,
        peers: peers.to_vec(),
        run: Box::new(move |ops| {
            let start = Instant::now();
            for _ in 0..ops {
                op();
            }
            start.elapsed()
        }),
        times: Vec::new(),
        bytes: None,
        check: None,
    }
}

// ---- labels -------------------------------------------------------------------------------

#[allow(dead_code)] // every value is a series; one is measured
#[derive(LabelValue, Clone, Copy, FixedCardinalityLabel, PartialEq, Debug)]
enum Status {
    Success,
    Error,
}

#[allow(dead_code)]
#[derive(LabelValue, Clone, Copy, FixedCardinalityLabel, PartialEq, Debug)]
enum Kind {
    Stream,
    Unary,
}

#[allow(dead_code)]
#[derive(LabelValue, Clone, Copy, FixedCardinalityLabel, PartialEq, Debug)]
enum Api {
    Chat,
    Completions,
}

#[derive(LabelSet)]
struct Outcome {
    api: Api,
    kind: Kind,
    status: Status,
}

#[derive(DynamoMetrics)]
#[metrics(subsystem = "peers")]
struct Ours {
    /// Requests by outcome
    outcomes_total: IntCounterFamily<Outcome>,
}

#[derive(Clone, Copy, PartialEq, Debug, LabelGroup)]
#[label(set = MeasuredOutcomeSet)]
struct MeasuredOutcome {
    api: Api,
    kind: Kind,
    status: Status,
}

// ---- instrumented functions ---------------------------------------------------------------

#[instrument_endpoint(component = "peers", endpoint = "call")]
fn ours_instrumented(x: u64) -> u64 {
    black_box(x) + 1
}

#[autometrics::autometrics]
fn autometrics_instrumented(x: u64) -> u64 {
    black_box(x) + 1
}

fn plain(x: u64) -> u64 {
    black_box(x) + 1
}

/// Two threads running `op` `ops` times each, started together by a barrier (a sleeping CPU
/// may take a while to wake: without it one thread could run alone for a while): the slower
/// thread's time.
fn two_threads(ops: u64, op: &(dyn Fn() + Sync)) -> Duration {
    two_threads_on(ops, op, &|_| {})
}

/// [`two_threads`], each thread first running `pin` with its number (0, 1).
pub fn two_threads_on(ops: u64, op: &(dyn Fn() + Sync), pin: &(dyn Fn(usize) + Sync)) -> Duration {
    let barrier = std::sync::Barrier::new(2);
    std::thread::scope(|s| {
        let threads: Vec<_> = (0..2)
            .map(|n| {
                let barrier = &barrier;
                s.spawn(move || {
                    pin(n);
                    barrier.wait();
                    let start = Instant::now();
                    for _ in 0..ops {
                        op();
                    }
                    start.elapsed()
                })
            })
            .collect();
        threads
            .into_iter()
            .map(|t| t.join().expect("thread"))
            .max()
            .unwrap_or_default()
    })
}

/// What a quick run checks of a case's page: `Ok` with its size, or what is wrong.
pub type Check = Box<dyn FnMut() -> Result<usize, String>>;

/// A case that times `op` (which returns the bytes it made; timed as a render, a few per
/// round) and checks one page with `check`, if given.
pub fn timed(
    group: &'static str,
    name: &'static str,
    peers: &[&'static str],
    mut op: impl FnMut() -> usize + 'static,
    check: Option<Check>,
) -> Case {
    let bytes = Rc::new(Cell::new(0));
    let size = bytes.clone();
    Case {
        bytes: Some(bytes),
        check,
        ..case(group, name, peers, move || size.set(black_box(op())))
    }
}

/// Every case of this module, in groups.
pub fn cases() -> Vec<Case> {
    let rt = crate::runtime();
    let ours = Ours::register(&rt).expect("register");
    let ours = std::sync::Arc::new(ours);
    let mut cases = Vec::new();

    // Three enum labels.
    let g = "3 enum labels: inc";
    let outcome = Outcome {
        api: Api::Chat,
        kind: Kind::Unary,
        status: Status::Success,
    };
    {
        let ours = ours.clone();
        cases.push(case(
            g,
            "dynamo IntCounterFamily<enums>::inc",
            &["measured fixed-cardinality CounterVec inc"],
            move || ours.outcomes_total.inc(black_box(&outcome)),
        ));
    }
    {
        let vec = measured::CounterVec::with_label_set(MeasuredOutcomeSet {
            api: StaticLabelSet::new(),
            kind: StaticLabelSet::new(),
            status: StaticLabelSet::new(),
        });
        cases.push(case(
            g,
            "measured fixed-cardinality CounterVec inc",
            &[],
            move || {
                vec.inc(black_box(MeasuredOutcome {
                    api: Api::Chat,
                    kind: Kind::Unary,
                    status: Status::Success,
                }))
            },
        ));
    }

    // A histogram with the 11 default buckets.
    let g = "histogram observe, 11 buckets";
    let samples: Vec<f64> = (0..64).map(|i| 0.001 * f64::from(i * 37 % 500)).collect();
    {
        let h: Histogram = rt
            .create_histogram("observed_seconds", "Observed", &[], None)
            .expect("h");
        let (s, mut i) = (samples.clone(), 0usize);
        cases.push(case(
            g,
            "dynamo Histogram::observe",
            &["prometheus Histogram::observe"],
            move || {
                i = (i + 1) & 63;
                h.observe(black_box(s[i]));
            },
        ));
    }
    {
        let h = prometheus::Histogram::with_opts(prometheus::HistogramOpts::new(
            "observed_seconds",
            "Observed",
        ))
        .expect("h");
        let (s, mut i) = (samples.clone(), 0usize);
        cases.push(case(g, "prometheus Histogram::observe", &[], move || {
            i = (i + 1) & 63;
            h.observe(black_box(s[i]));
        }));
    }
    {
        let h = prometheus_client::metrics::histogram::Histogram::new([
            0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
        ]);
        let (s, mut i) = (samples.clone(), 0usize);
        cases.push(case(
            g,
            "prometheus-client Histogram::observe",
            &["prometheus Histogram::observe"],
            move || {
                i = (i + 1) & 63;
                h.observe(black_box(s[i]));
            },
        ));
    }

    // One counter, two threads.
    let g = "one counter, 2 threads, per thread";
    let striped = rt
        .create_intcountervec("contended_total", "Contended", &[], &[])
        .expect("vec")
        .striped()
        .with_label_values(&[])
        .expect("series");
    let plain_counter = rt
        .create_intcounter("plain_total", "Plain", &[])
        .expect("counter");
    let theirs = prometheus::IntCounter::new("contended_total", "Contended").expect("counter");
    let raw = std::sync::Arc::new(AtomicU64::new(0));
    let contended = |name, peers: &[&'static str], op: Box<dyn Fn() + Sync + Send>| Case {
        group: g,
        name,
        peers: peers.to_vec(),
        run: Box::new(move |ops| two_threads(ops, &*op)),
        times: Vec::new(),
        bytes: None,
        check: None,
    };
    cases.push(contended(
        "dynamo striped IntCounter (built-in request counters)",
        &["shared AtomicU64::fetch_add"],
        Box::new(move || striped.inc()),
    ));
    cases.push(contended(
        "dynamo IntCounter, not striped",
        &["shared AtomicU64::fetch_add"],
        Box::new(move || plain_counter.inc()),
    ));
    cases.push(contended(
        "prometheus IntCounter",
        &["shared AtomicU64::fetch_add"],
        Box::new(move || theirs.inc()),
    ));
    cases.push(contended(
        "shared AtomicU64::fetch_add",
        &[],
        Box::new(move || {
            raw.fetch_add(1, Ordering::Relaxed);
        }),
    ));
    // Nothing shared: if this takes much longer than one thread alone would, the two threads
    // did not run at once (on this VM, for a while after much allocation, they share one vCPU),
    // and the group's round measured no contention.
    thread_local! {
        static OWN: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
    }
    cases.push(contended(
        "control: a counter per thread, nothing shared",
        &[],
        Box::new(|| OWN.set(black_box(OWN.get()) + 1)),
    ));

    // An instrumented call (the times include the plain function's; the table subtracts it).
    let g = "instrumented call";
    cases.push(case(g, "plain fn", &[], || {
        black_box(plain(black_box(1)));
    }));
    let clock = quanta::Clock::new();
    cases.push(case(
        g,
        "floor: two raw TSC reads + delta",
        &[],
        move || {
            let start = clock.raw();
            black_box(clock.delta_as_nanos(black_box(start), clock.raw()));
        },
    ));
    // The call records into this runtime: the case keeps it alive, as a service does (with no
    // runtime alive, calls go to the function's own series, a slower path).
    let live = rt.clone();
    cases.push(case(
        g,
        "dynamo #[instrument_endpoint]",
        &["autometrics #[autometrics]"],
        move || {
            let _ = &live;
            black_box(ours_instrumented(black_box(1)));
        },
    ));
    cases.push(case(g, "autometrics #[autometrics]", &[], || {
        black_box(autometrics_instrumented(black_box(1)));
    }));

    // The same call made by two threads at once: every series it records is shared.
    let g = "instrumented call, 2 threads, per thread";
    let both = |name, peers: &[&'static str], call: fn(u64) -> u64| {
        let live = rt.clone();
        Case {
            group: g,
            name,
            peers: peers.to_vec(),
            bytes: None,
            check: None,
            run: Box::new(move |ops| {
                let _ = &live;
                two_threads(ops, &|| {
                    black_box(call(black_box(1)));
                })
            }),
            times: Vec::new(),
        }
    };
    cases.push(both(
        "dynamo #[instrument_endpoint], 2 threads",
        &["autometrics #[autometrics], 2 threads"],
        ours_instrumented,
    ));
    cases.push(both(
        "autometrics #[autometrics], 2 threads",
        &[],
        autometrics_instrumented,
    ));

    cases
}

/// Runs every case `rounds` times, interleaved, `ops` operations a round (a ten-thousandth of
/// that for renders, a hundred-thousandth for cold ones, a tenth for new series), and keeps each
/// round's time per operation: the two-thread groups first, then the others.
pub fn run(cases: &mut [Case], rounds: usize, ops: u64) {
    // The two-thread groups first, interleaved among themselves: after `prometheus` gathers
    // 10,000 series a few times, the development VM runs two threads on about one vCPU for a
    // while, and a contended case then measures no contention (see BENCHMARKS.md).
    let (mut together, mut rest): (Vec<&mut Case>, Vec<&mut Case>) = cases
        .iter_mut()
        .partition(|c| c.group.contains("2 threads"));
    run_interleaved(&mut together, rounds, ops);
    run_interleaved(&mut rest, rounds, ops);
}

fn run_interleaved(cases: &mut [&mut Case], rounds: usize, ops: u64) {
    for round in 0..=rounds {
        for c in cases.iter_mut() {
            let n = if c.group == crate::render::COLD {
                // Each cold render costs a sweep of twice the last-level cache besides.
                (ops / 100_000).max(1)
            } else if c.bytes.is_some() {
                (ops / 10_000).max(1)
            } else if c.group.contains("new series") {
                (ops / 10).max(1)
            } else {
                ops
            };
            let t = (c.run)(n);
            if round > 0 {
                c.times.push(t.as_secs_f64() * 1e9 / n as f64);
            }
        }
    }
}

pub fn median(t: &[f64]) -> f64 {
    let mut t = t.to_vec();
    t.sort_by(f64::total_cmp);
    t[t.len() / 2]
}

/// Prints one table: median per operation (per render for renders), and the ratio to each of
/// the case's peers, per operation (per series for renders: every library renders the same
/// series) and per byte for renders.
pub fn print(cases: &[Case], quick: bool) {
    println!();
    println!(
        "| hot path{} | case | median | vs | ratio | per byte |",
        if quick {
            " (quick: times mean nothing)"
        } else {
            ""
        }
    );
    println!("|---|---|---:|---|---:|---:|");
    let plain = cases
        .iter()
        .find(|c| c.name == "plain fn")
        .map(|c| median(&c.times));
    for c in cases {
        let t = median(&c.times);
        let shown = match c.bytes {
            Some(_) => format!("{:.2} us", t / 1000.0),
            None => format!("{t:.2} ns"),
        };
        let peers: Vec<&Case> = c
            .peers
            .iter()
            .filter_map(|p| cases.iter().find(|x| x.group == c.group && x.name == *p))
            .collect();
        if peers.is_empty() {
            println!("| {} | {} | {shown} | | | |", c.group, c.name);
        }
        for peer in peers {
            let p = median(&peer.times);
            let (what, ratio) = if c.group == "instrumented call" {
                // Overheads over the plain function.
                let base = plain.unwrap_or(0.0);
                ("overhead vs", (t - base) / (p - base))
            } else {
                ("vs", t / p)
            };
            let per_byte = match (&c.bytes, &peer.bytes) {
                (Some(a), Some(b)) => {
                    format!("{:.2}x", (t / a.get() as f64) / (p / b.get() as f64))
                }
                _ => String::new(),
            };
            println!(
                "| {} | {} | {shown} | {what} {} | {ratio:.2}x | {per_byte} |",
                c.group, c.name, peer.name
            );
        }
    }
}
