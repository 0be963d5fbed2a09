//! The hot paths, ours beside each peer's: look up + increment by three string labels and by
//! three enum labels, a histogram observation, one counter hit by two threads, an
//! instrumented call, and a render of 10,000 counter series (warm, and with cold caches). Cases
//! run interleaved, round by round (the two-thread groups among themselves, before the
//! others); each table row is the median of the rounds, in nanoseconds per operation
//! (microseconds per render for the render groups).

use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use dynamo_metrics::{
    DistributedRuntime, DynamoMetrics, Histogram, IntCounter, IntCounterFamily, LabelSet,
    LabelValue, MetricsRegistry, instrument_endpoint,
};
use measured::label::StaticLabelSet;
use measured::{CounterVec, FixedCardinalityLabel, LabelGroup, MetricGroup};
use paracord::ParaCord;

/// One measured operation: runs `ops` operations, returns the time they took.
type Run = Box<dyn FnMut(u64) -> Duration>;

pub struct Case {
    pub group: &'static str,
    pub name: &'static str,
    /// The case of the same group that ratios are taken against.
    pub peer_of: Option<&'static str>,
    pub run: Run,
    pub times: Vec<f64>,
}

fn case(
    group: &'static str,
    name: &'static str,
    peer_of: Option<&'static str>,
    mut op: impl FnMut() + 'static,
) -> Case {
    Case {
        group,
        name,
        peer_of,
        run: Box::new(move |ops| {
            let start = Instant::now();
            for _ in 0..ops {
                op();
            }
            start.elapsed()
        }),
        times: Vec::new(),
    }
}

// ---- labels -------------------------------------------------------------------------------

#[derive(LabelSet)]
struct Route {
    model: String,
    route: String,
    tenant: String,
}

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
    /// Requests by route
    routed_total: IntCounterFamily<Route>,
    /// Requests by outcome
    outcomes_total: IntCounterFamily<Outcome>,
}

#[derive(Clone, Copy, PartialEq, Debug, LabelGroup)]
#[label(set = MeasuredRouteSet)]
struct MeasuredRoute<'a> {
    #[label(dynamic_with = ParaCord)]
    model: &'a str,
    #[label(dynamic_with = ParaCord)]
    route: &'a str,
    #[label(dynamic_with = ParaCord)]
    tenant: &'a str,
}

#[derive(Clone, Copy, PartialEq, Debug, LabelGroup)]
#[label(set = MeasuredOutcomeSet)]
struct MeasuredOutcome {
    api: Api,
    kind: Kind,
    status: Status,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, prometheus_client::encoding::EncodeLabelSet)]
struct ClientRoute {
    model: String,
    route: String,
    tenant: String,
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

// ---- render -------------------------------------------------------------------------------

#[derive(MetricGroup)]
struct MeasuredRender {
    /// Requests
    dynamo_component_peers_render_total: CounterVec<MeasuredSeriesSet>,
}

#[derive(Clone, Copy, PartialEq, Debug, LabelGroup)]
#[label(set = MeasuredSeriesSet)]
struct MeasuredSeries<'a> {
    #[label(dynamic_with = ParaCord)]
    dynamo_endpoint: &'a str,
    #[label(dynamic_with = ParaCord)]
    id: &'a str,
}

#[derive(Clone, Copy, PartialEq, Debug, LabelGroup)]
#[label(set = MeasuredTwoSet)]
pub struct MeasuredTwo<'a> {
    #[label(dynamic_with = ParaCord)]
    pub endpoint: &'a str,
    #[label(dynamic_with = ParaCord)]
    pub id: &'a str,
}

/// Two threads running `op` `ops` times each, started together by a barrier (a sleeping CPU
/// may take a while to wake: without it one thread could run alone for a while): the slower
/// thread's time.
fn two_threads(ops: u64, op: &(dyn Fn() + Sync)) -> Duration {
    let barrier = std::sync::Barrier::new(2);
    std::thread::scope(|s| {
        let threads: Vec<_> = (0..2)
            .map(|_| {
                s.spawn(|| {
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

/// Every case, in groups. `series` is the render workload's size (100 endpoints x `series /
/// 100` ids).
pub fn cases(series: usize) -> Vec<Case> {
    let rt = DistributedRuntime::new().expect("runtime");
    let ours = Ours::register(&rt).expect("register");
    let ours = std::sync::Arc::new(ours);
    let mut cases = Vec::new();

    // Three string labels, looked up from owned strings (the frontend's `model`) each time.
    let values = || {
        black_box([
            "llama-3-70b".to_owned(),
            "chat".to_owned(),
            "acme".to_owned(),
        ])
    };
    let g = "3 string labels: look up + inc";
    {
        let (ours, v) = (ours.clone(), values());
        let route = Route {
            model: v[0].clone(),
            route: v[1].clone(),
            tenant: v[2].clone(),
        };
        cases.push(case(
            g,
            "dynamo IntCounterFamily<L>::inc",
            Some("prometheus with_label_values + inc"),
            move || ours.routed_total.inc(black_box(&route)),
        ));
    }
    {
        let vec = rt
            .create_intcountervec(
                "by_hand_total",
                "By hand",
                &["model", "route", "tenant"],
                &[],
            )
            .expect("vec");
        let v = values();
        cases.push(case(
            g,
            "dynamo IntCounterVec::with(&[..], inc)",
            Some("prometheus with_label_values + inc"),
            move || {
                let v = black_box(&v);
                vec.with(&[&v[0], &v[1], &v[2]], IntCounter::inc)
                    .expect("count");
            },
        ));
    }
    {
        let theirs = prometheus::IntCounterVec::new(
            prometheus::Opts::new("routed_total", "Requests"),
            &["model", "route", "tenant"],
        )
        .expect("vec");
        let v = values();
        cases.push(case(
            g,
            "prometheus with_label_values + inc",
            None,
            move || {
                let v = black_box(&v);
                theirs.with_label_values(&[&v[0], &v[1], &v[2]]).inc();
            },
        ));
    }
    {
        let family = prometheus_client::metrics::family::Family::<
            ClientRoute,
            prometheus_client::metrics::counter::Counter,
        >::default();
        let v = values();
        let labels = ClientRoute {
            model: v[0].clone(),
            route: v[1].clone(),
            tenant: v[2].clone(),
        };
        cases.push(case(
            g,
            "prometheus-client get_or_create + inc",
            Some("prometheus with_label_values + inc"),
            move || {
                family.get_or_create(black_box(&labels)).inc();
            },
        ));
    }
    {
        let vec = measured::CounterVec::with_label_set(MeasuredRouteSet {
            model: ParaCord::default(),
            route: ParaCord::default(),
            tenant: ParaCord::default(),
        });
        let v = values();
        cases.push(case(
            g,
            "measured CounterVec (ParaCord) inc",
            Some("prometheus with_label_values + inc"),
            move || {
                let v = black_box(&v);
                vec.inc(MeasuredRoute {
                    model: &v[0],
                    route: &v[1],
                    tenant: &v[2],
                });
            },
        ));
    }
    {
        let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
        let v = values();
        cases.push(case(g, "metrics counter! + increment", Some("prometheus with_label_values + inc"), move || {
            let v = black_box(&v);
            metrics::with_local_recorder(&recorder, || {
                metrics::counter!("routed_total", "model" => v[0].clone(), "route" => v[1].clone(), "tenant" => v[2].clone())
                    .increment(1);
            });
        }));
    }

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
            Some("measured fixed-cardinality CounterVec inc"),
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
            None,
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
            Some("prometheus Histogram::observe"),
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
        cases.push(case(g, "prometheus Histogram::observe", None, move || {
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
            Some("prometheus Histogram::observe"),
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
    let contended = |name, peer, op: Box<dyn Fn() + Sync + Send>| Case {
        group: g,
        name,
        peer_of: peer,
        run: Box::new(move |ops| two_threads(ops, &*op)),
        times: Vec::new(),
    };
    cases.push(contended(
        "dynamo striped IntCounter (built-in request counters)",
        Some("shared AtomicU64::fetch_add"),
        Box::new(move || striped.inc()),
    ));
    cases.push(contended(
        "dynamo IntCounter, not striped",
        Some("shared AtomicU64::fetch_add"),
        Box::new(move || plain_counter.inc()),
    ));
    cases.push(contended(
        "prometheus IntCounter",
        Some("shared AtomicU64::fetch_add"),
        Box::new(move || theirs.inc()),
    ));
    cases.push(contended(
        "shared AtomicU64::fetch_add",
        None,
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
        None,
        Box::new(|| OWN.set(black_box(OWN.get()) + 1)),
    ));

    // An instrumented call (the times include the plain function's; the table subtracts it).
    let g = "instrumented call";
    cases.push(case(g, "plain fn", None, || {
        black_box(plain(black_box(1)));
    }));
    let clock = quanta::Clock::new();
    cases.push(case(
        g,
        "floor: two raw TSC reads + delta",
        None,
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
        Some("autometrics #[autometrics]"),
        move || {
            let _ = &live;
            black_box(ours_instrumented(black_box(1)));
        },
    ));
    cases.push(case(g, "autometrics #[autometrics]", None, || {
        black_box(autometrics_instrumented(black_box(1)));
    }));

    // The same call made by two threads at once: every series it records is shared.
    let g = "instrumented call, 2 threads, per thread";
    let both = |name, peer_of, call: fn(u64) -> u64| {
        let live = rt.clone();
        Case {
            group: g,
            name,
            peer_of,
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
        Some("autometrics #[autometrics], 2 threads"),
        ours_instrumented,
    ));
    cases.push(both(
        "autometrics #[autometrics], 2 threads",
        None,
        autometrics_instrumented,
    ));

    // Render 10,000 counter series.
    render_cases(series, &mut cases);
    cases
}

/// The names of our render and the floor's, compared after the table.
const RENDER_OURS: &str = "dynamo render_into (reused buffer)";
const RENDER_FLOOR: &str = "floor: the same lines pre-rendered + itoa";

/// Our render, `measured`'s and the floor on the same counter series: in a runtime of their
/// own, so that ours renders nothing the others do not (the other cases' metrics).
fn render_cases(series: usize, cases: &mut Vec<Case>) {
    let g = "render 10,000 series, text vs measured";
    let rt = DistributedRuntime::new().expect("runtime");
    let ids = series / 100;
    let comp = rt
        .namespace("ns")
        .expect("ns")
        .component("comp")
        .expect("comp");
    let measured_metrics = MeasuredRender {
        dynamo_component_peers_render_total: CounterVec::with_label_set(MeasuredSeriesSet {
            dynamo_endpoint: ParaCord::default(),
            id: ParaCord::default(),
        }),
    };
    let measured_vec = &measured_metrics.dynamo_component_peers_render_total;
    let mut floor_lines = Vec::new();
    for e in 0..100 {
        let endpoint = format!("ep{e}");
        let family = comp
            .endpoint(&endpoint)
            .expect("endpoint")
            .create_intcountervec("peers_render_total", "Requests", &["id"], &[])
            .expect("vec")
            .max_series(ids);
        for i in 0..ids {
            let id = i.to_string();
            let n = (e * ids + i) as u64 * 7919;
            family.with_label_values(&[&id]).expect("series").inc_by(n);
            measured_vec.inc_by(
                MeasuredSeries {
                    dynamo_endpoint: &endpoint,
                    id: &id,
                },
                n,
            );
            floor_lines.push((
                format!("dynamo_component_peers_render_total{{dynamo_namespace=\"ns\",dynamo_component=\"comp\",dynamo_endpoint=\"{endpoint}\",id=\"{id}\"}} "),
                n,
            ));
        }
    }
    let floor_lines = std::rc::Rc::new(floor_lines);
    let ours = |rt: DistributedRuntime| {
        let mut buf = String::new();
        move || {
            buf.clear();
            rt.render_into(&mut buf);
            buf.len()
        }
    };
    let floor = |lines: std::rc::Rc<Vec<(String, u64)>>| {
        let mut out = String::new();
        move || {
            out.clear();
            let mut itoa = itoa::Buffer::new();
            for (prefix, n) in lines.iter() {
                out.push_str(prefix);
                out.push_str(itoa.format(*n));
                out.push('\n');
            }
            out.len()
        }
    };
    cases.push(cold_case(
        RENDER_OURS_COLD,
        Some(RENDER_FLOOR_COLD),
        ours(rt.clone()),
    ));
    cases.push(cold_case(
        RENDER_FLOOR_COLD,
        None,
        floor(floor_lines.clone()),
    ));
    cases.push(bytes_case(
        g,
        RENDER_OURS,
        Some("measured BufferedTextEncoder"),
        ours(rt),
    ));
    let mut enc = measured::text::BufferedTextEncoder::new();
    cases.push(bytes_case(
        g,
        "measured BufferedTextEncoder",
        None,
        move || {
            measured_metrics
                .collect_group_into(&mut enc)
                .expect("encode");
            enc.finish().len()
        },
    ));
    cases.push(bytes_case(
        g,
        RENDER_FLOOR,
        Some("measured BufferedTextEncoder"),
        floor(floor_lines),
    ));
}

/// The group of renders that each start with cold caches.
const COLD: &str = "render 10,000 series, cold caches";
const RENDER_OURS_COLD: &str = "dynamo render_into, cold";
const RENDER_FLOOR_COLD: &str = "floor, cold";

/// A render that finds every cache cold, as a scrape does after seconds of other work: before
/// each, untimed, the case writes 64 MiB (twice the development VM's L3), so what the render
/// reads and writes comes from memory.
fn cold_case(
    name: &'static str,
    peer_of: Option<&'static str>,
    mut op: impl FnMut() -> usize + 'static,
) -> Case {
    let mut sweep = vec![0u8; 64 << 20];
    Case {
        group: COLD,
        name,
        peer_of,
        run: Box::new(move |renders| {
            let mut took = Duration::ZERO;
            for _ in 0..renders {
                for b in sweep.iter_mut().step_by(64) {
                    *b = b.wrapping_add(1);
                }
                black_box(&sweep);
                let start = Instant::now();
                black_box(op());
                took += start.elapsed();
            }
            took
        }),
        times: Vec::new(),
    }
}

/// A render case: `op` returns the bytes it wrote, kept for the per-byte ratio.
pub fn bytes_case(
    group: &'static str,
    name: &'static str,
    peer_of: Option<&'static str>,
    mut op: impl FnMut() -> usize + 'static,
) -> Case {
    let bytes = std::sync::Arc::new(AtomicU64::new(0));
    BYTES.with(|b| b.borrow_mut().push((name, bytes.clone())));
    case(group, name, peer_of, move || {
        bytes.store(black_box(op()) as u64, Ordering::Relaxed);
    })
}

thread_local! {
    /// The bytes each render case wrote last.
    pub static BYTES: std::cell::RefCell<Vec<(&'static str, std::sync::Arc<AtomicU64>)>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

/// The bytes the render case `name` wrote, if it is one.
pub fn bytes_of(name: &str) -> Option<u64> {
    BYTES.with(|b| {
        b.borrow()
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.load(Ordering::Relaxed))
    })
}

/// Runs every case `rounds` times, interleaved, `ops` operations a round (a ten-thousandth of
/// that for renders, a hundred-thousandth for cold ones), and keeps each round's time per
/// operation: the two-thread groups first, then the others.
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
            let n = if c.group == COLD {
                // Each cold render costs a sweep of 64 MiB besides.
                (ops / 100_000).max(1)
            } else if c.group.starts_with("render") {
                (ops / 10_000).max(1)
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

fn median(t: &[f64]) -> f64 {
    let mut t = t.to_vec();
    t.sort_by(f64::total_cmp);
    t[t.len() / 2]
}

/// Prints one table: median per operation, and the ratio to the group's peer (per byte too
/// for renders).
pub fn print(cases: &[Case], quick: bool) {
    println!();
    println!(
        "| hot path{} | case | median | vs | ratio |",
        if quick {
            " (quick: times mean nothing)"
        } else {
            ""
        }
    );
    println!("|---|---|---:|---|---:|");
    let plain = cases
        .iter()
        .find(|c| c.name == "plain fn")
        .map(|c| median(&c.times));
    for c in cases {
        let t = median(&c.times);
        let unit = if c.group.starts_with("render") {
            "us"
        } else {
            "ns"
        };
        let shown = if unit == "us" { t / 1000.0 } else { t };
        let (vs, ratio) = match c.peer_of.and_then(|p| cases.iter().find(|x| x.name == p)) {
            Some(peer) => {
                let p = median(&peer.times);
                let r = if c.group == "instrumented call" {
                    // Overheads over the plain function.
                    let base = plain.unwrap_or(0.0);
                    (t - base) / (p - base)
                } else if let (Some(a), Some(b)) = (bytes_of(c.name), bytes_of(peer.name)) {
                    (t / a as f64) / (p / b as f64)
                } else {
                    t / p
                };
                let what = if c.group == "instrumented call" {
                    "overhead vs"
                } else if bytes_of(c.name).is_some() {
                    "per byte vs"
                } else {
                    "vs"
                };
                (format!("{what} {}", peer.name), format!("{r:.2}x"))
            }
            None => (String::new(), String::new()),
        };
        println!(
            "| {} | {} | {shown:.2} {unit} | {vs} | {ratio} |",
            c.group, c.name
        );
    }
    let render = |name: &str| {
        let c = cases.iter().find(|c| c.name == name)?;
        Some(median(&c.times) / bytes_of(name)? as f64)
    };
    if let (Some(ours), Some(floor)) = (render(RENDER_OURS), render(RENDER_FLOOR)) {
        println!();
        println!(
            "Render of 10,000 counter series, ours per byte vs the floor: {:.2}x",
            ours / floor
        );
    }
}
