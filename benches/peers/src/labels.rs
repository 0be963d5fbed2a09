//! Look up + increment by three string labels (a 33-byte model name, a route, a tenant), every
//! library on the same sequence of keys: one key over and over, keys cycled as a frontend with
//! 4, 64 or 1,000 models sees them, and a key never seen before at every operation (each round
//! in a new family, made and dropped untimed).

use std::hint::black_box;
use std::time::{Duration, Instant};

use dynamo_metrics::{DynamoMetrics, IntCounter, IntCounterFamily, LabelSet, MetricsRegistry};
use measured::LabelGroup;
use paracord::ParaCord;

use crate::hot::{Case, case};

#[derive(LabelSet, Clone)]
struct Route {
    model: String,
    route: String,
    tenant: String,
}

#[derive(DynamoMetrics)]
#[metrics(subsystem = "peers")]
struct Routed {
    /// Requests by route
    #[metric(max_series = 1_000_000)]
    routed_total: IntCounterFamily<Route>,
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

#[derive(Clone, Debug, Hash, PartialEq, Eq, prometheus_client::encoding::EncodeLabelSet)]
struct ClientRoute {
    model: String,
    route: String,
    tenant: String,
}

const ROUTES: [&str; 2] = ["chat", "completions"];
const TENANTS: [&str; 4] = ["acme", "globex", "initech", "umbrella"];

/// Key `k`: model `k` (33 bytes), a route and a tenant.
fn key(k: usize) -> [String; 3] {
    [
        format!("meta-llama/Llama-3.1-70B-{k:08}"),
        ROUTES[k % ROUTES.len()].to_owned(),
        TENANTS[k % TENANTS.len()].to_owned(),
    ]
}

fn route(k: &[String; 3]) -> Route {
    Route {
        model: k[0].clone(),
        route: k[1].clone(),
        tenant: k[2].clone(),
    }
}

fn client_route(k: &[String; 3]) -> ClientRoute {
    ClientRoute {
        model: k[0].clone(),
        route: k[1].clone(),
        tenant: k[2].clone(),
    }
}

const OURS: &str = "dynamo IntCounterFamily<L>::inc";
const OURS_VEC: &str = "dynamo IntCounterVec::with(&[..], inc)";
const PROMETHEUS: &str = "prometheus with_label_values + inc";
const CLIENT: &str = "prometheus-client get_or_create + inc";
const MEASURED: &str = "measured CounterVec (ParaCord) inc";
const METRICS: &str = "metrics counter! + increment (global recorder)";

/// The groups: one key, 4, 64 and 1,000 keys cycled, then first sight.
pub fn cases() -> Vec<Case> {
    // `metrics` as its docs advise: one global recorder, installed once.
    metrics::set_global_recorder(
        metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder(),
    )
    .expect("the only global recorder");
    let rt = crate::runtime();
    let routed = std::sync::Arc::new(Routed::register(&rt).expect("register"));
    let by_hand = rt
        .create_intcountervec(
            "by_hand_total",
            "By hand",
            &["model", "route", "tenant"],
            &[],
        )
        .expect("vec")
        .max_series(1_000_000);
    let theirs = prometheus::IntCounterVec::new(
        prometheus::Opts::new("routed_total", "Requests"),
        &["model", "route", "tenant"],
    )
    .expect("vec");
    let client = std::rc::Rc::new(prometheus_client::metrics::family::Family::<
        ClientRoute,
        prometheus_client::metrics::counter::Counter,
    >::default());
    let measured = std::rc::Rc::new(measured::CounterVec::with_label_set(MeasuredRouteSet {
        model: ParaCord::default(),
        route: ParaCord::default(),
        tenant: ParaCord::default(),
    }));
    let mut cases = Vec::new();
    for (group, n) in [
        ("3 string labels: look up + inc, one key", 1),
        ("3 string labels: look up + inc, 4 keys cycled", 4),
        ("3 string labels: look up + inc, 64 keys cycled", 64),
        ("3 string labels: look up + inc, 1,000 keys cycled", 1_000),
    ] {
        let keys: Vec<[String; 3]> = (0..n).map(key).collect();
        // `metrics` takes its label values owned or `'static`: a frontend with a fixed set of
        // models makes them `'static` once, and pays no copy per call.
        let statics: Vec<[&'static str; 3]> = keys
            .iter()
            .map(|k| k.clone().map(|s| &*Box::leak(s.into_boxed_str())))
            .collect();
        let peers = &[PROMETHEUS][..];
        let routes: Vec<Route> = keys.iter().map(route).collect();
        let routed = routed.clone();
        cases.push(cycled(group, OURS, peers, routes, move |r| {
            routed.routed_total.inc(r)
        }));
        let by_hand = by_hand.clone();
        cases.push(cycled(group, OURS_VEC, peers, keys.clone(), move |k| {
            by_hand
                .with(&[&k[0], &k[1], &k[2]], IntCounter::inc)
                .expect("count");
        }));
        let theirs = theirs.clone();
        cases.push(cycled(group, PROMETHEUS, &[], keys.clone(), move |k| {
            theirs.with_label_values(&[&k[0], &k[1], &k[2]]).inc();
        }));
        let client = client.clone();
        let client_keys: Vec<ClientRoute> = keys.iter().map(client_route).collect();
        cases.push(cycled(group, CLIENT, peers, client_keys, move |k| {
            client.get_or_create(k).inc();
        }));
        let measured = measured.clone();
        cases.push(cycled(group, MEASURED, peers, keys.clone(), move |k| {
            measured.inc(MeasuredRoute {
                model: &k[0],
                route: &k[1],
                tenant: &k[2],
            });
        }));
        cases.push(cycled(group, METRICS, peers, statics, |k| {
            metrics::counter!("routed_total", "model" => k[0], "route" => k[1], "tenant" => k[2])
                .increment(1);
        }));
    }
    first_sight(&mut cases);
    cases
}

/// A case that runs `op` on `keys` in turn, from where the last round stopped.
fn cycled<K: 'static>(
    group: &'static str,
    name: &'static str,
    peers: &[&'static str],
    keys: Vec<K>,
    op: impl Fn(&K) + 'static,
) -> Case {
    let mut at = 0;
    case(group, name, peers, move || {
        op(black_box(&keys[at]));
        at += 1;
        if at == keys.len() {
            at = 0;
        }
    })
}

const FIRST_SIGHT: &str = "3 string labels: look up + inc, a new key every time (new series)";

/// Keys never used before, `ops` of them from `from` on.
fn fresh_keys(from: &mut usize, ops: u64) -> Vec<[String; 3]> {
    let keys = (*from..*from + ops as usize).map(key).collect();
    *from += ops as usize;
    keys
}

/// Each round makes a new family (untimed), makes one new series per operation in it (timed),
/// then drops it (untimed); the keys are made before, untimed too.
fn first_sight(cases: &mut Vec<Case>) {
    let peers = &[PROMETHEUS][..];
    let mut from = 0;
    cases.push(untimed_setup(OURS, peers, move |ops| {
        let routes: Vec<Route> = fresh_keys(&mut from, ops).iter().map(route).collect();
        let rt = crate::runtime();
        let routed = Routed::register(&rt).expect("register");
        let start = Instant::now();
        for r in &routes {
            routed.routed_total.inc(black_box(r));
        }
        start.elapsed()
    }));
    let mut from = 0;
    cases.push(untimed_setup(PROMETHEUS, &[], move |ops| {
        let keys = fresh_keys(&mut from, ops);
        let vec = prometheus::IntCounterVec::new(
            prometheus::Opts::new("routed_total", "Requests"),
            &["model", "route", "tenant"],
        )
        .expect("vec");
        let start = Instant::now();
        for k in &keys {
            vec.with_label_values(&[&k[0], &k[1], &k[2]]).inc();
        }
        start.elapsed()
    }));
    let mut from = 0;
    cases.push(untimed_setup(CLIENT, peers, move |ops| {
        let keys: Vec<ClientRoute> = fresh_keys(&mut from, ops)
            .iter()
            .map(client_route)
            .collect();
        let family = prometheus_client::metrics::family::Family::<
            ClientRoute,
            prometheus_client::metrics::counter::Counter,
        >::default();
        let start = Instant::now();
        for k in &keys {
            family.get_or_create(black_box(k)).inc();
        }
        start.elapsed()
    }));
    let mut from = 0;
    cases.push(untimed_setup(MEASURED, peers, move |ops| {
        let keys = fresh_keys(&mut from, ops);
        let vec = measured::CounterVec::with_label_set(MeasuredRouteSet {
            model: ParaCord::default(),
            route: ParaCord::default(),
            tenant: ParaCord::default(),
        });
        let start = Instant::now();
        for k in &keys {
            vec.inc(MeasuredRoute {
                model: &k[0],
                route: &k[1],
                tenant: &k[2],
            });
        }
        start.elapsed()
    }));
    let mut from = 0;
    cases.push(untimed_setup(
        "metrics counter! + increment (a recorder per round)",
        peers,
        move |ops| {
            let keys = fresh_keys(&mut from, ops);
            let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
            metrics::with_local_recorder(&recorder, || {
                let start = Instant::now();
                // New values are owned: `metrics` keeps a copy of each, as every library does.
                for k in &keys {
                    metrics::counter!("routed_total", "model" => k[0].clone(), "route" => k[1].clone(), "tenant" => k[2].clone())
                        .increment(1);
                }
                start.elapsed()
            })
        },
    ));
}

fn untimed_setup(
    name: &'static str,
    peers: &[&'static str],
    run: impl FnMut(u64) -> Duration + 'static,
) -> Case {
    Case {
        group: FIRST_SIGHT,
        name,
        peers: peers.to_vec(),
        run: Box::new(run),
        times: Vec::new(),
        bytes: None,
        check: None,
    }
}
