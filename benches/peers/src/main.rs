//! Our encoders beside the peers' on the same 10,000 counter series, in one process, the
//! cases interleaved round by round so that a noisy neighbour hits every side alike. Prints
//! one table: median time per render, bytes, and the ratio to the peer of each format.
//!
//! `--quick`: one round, for CI (it proves the harness runs; its times mean nothing).

mod hot;
mod mem;

#[global_allocator]
static ALLOCATOR: mem::Counting = mem::Counting;

use std::hint::black_box;
use std::time::{Duration, Instant};

use dynamo_metrics::{DistributedRuntime, Format, MetricsRegistry};
use prometheus::Encoder as _;
use prometheus_client::encoding::EncodeLabelSet;

const ENDPOINTS: usize = 100;
const IDS: usize = 100;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Labels {
    dynamo_namespace: String,
    dynamo_component: String,
    dynamo_endpoint: String,
    id: String,
}

struct Case {
    name: &'static str,
    /// The format's peer, which the ratio is taken against.
    peer_of: Option<&'static str>,
    run: Box<dyn FnMut() -> usize>,
    times: Vec<Duration>,
    bytes: usize,
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let rounds = if quick { 1 } else { 31 };
    let per_round = if quick { 1 } else { 20 };

    // The same series on every side: 100 endpoints x 100 ids, value (e*100+i)*7919.
    let rt = DistributedRuntime::new().expect("runtime");
    let comp = rt.namespace("ns").unwrap().component("comp").unwrap();
    let theirs = prometheus::IntCounterVec::new(
        prometheus::Opts::new("dynamo_component_render_requests_total", "Requests"),
        &[
            "dynamo_namespace",
            "dynamo_component",
            "dynamo_endpoint",
            "id",
        ],
    )
    .unwrap();
    let prometheus_registry = prometheus::Registry::new();
    prometheus_registry
        .register(Box::new(theirs.clone()))
        .unwrap();
    let client_family = prometheus_client::metrics::family::Family::<
        Labels,
        prometheus_client::metrics::counter::Counter,
    >::default();
    let mut client_registry = prometheus_client::registry::Registry::default();
    client_registry.register(
        "dynamo_component_render_requests",
        "Requests",
        client_family.clone(),
    );
    for e in 0..ENDPOINTS {
        let endpoint = format!("ep{e}");
        let family = comp
            .endpoint(&endpoint)
            .unwrap()
            .create_intcountervec("render_requests_total", "Requests", &["id"], &[])
            .unwrap()
            .max_series(IDS);
        for i in 0..IDS {
            let id = format!("{i}");
            let n = (e * IDS + i) as u64 * 7919;
            family.with_label_values(&[&id]).unwrap().inc_by(n);
            theirs
                .with_label_values(&["ns", "comp", &endpoint, &id])
                .inc_by(n);
            client_family
                .get_or_create(&Labels {
                    dynamo_namespace: "ns".into(),
                    dynamo_component: "comp".into(),
                    dynamo_endpoint: endpoint.clone(),
                    id,
                })
                .inc_by(n);
        }
    }
    let names = ["dynamo_component_render_requests_total"];

    let rt_text = rt.clone();
    let rt_om = rt.clone();
    let rt_pb = rt.clone();
    let (reg_text, reg_pb) = (prometheus_registry.clone(), prometheus_registry.clone());
    let mut text_buf = String::new();
    let mut cases = vec![
        Case {
            name: "text 0.0.4: dynamo render_into (reused buffer)",
            peer_of: Some("text 0.0.4: prometheus gather + TextEncoder"),
            run: Box::new(move || {
                text_buf.clear();
                rt_text.render_into(&mut text_buf);
                text_buf.len()
            }),
            times: Vec::new(),
            bytes: 0,
        },
        Case {
            name: "text 0.0.4: prometheus gather + TextEncoder",
            peer_of: None,
            run: Box::new(move || {
                let mut out = String::new();
                prometheus::TextEncoder::new()
                    .encode_utf8(&reg_text.gather(), &mut out)
                    .unwrap();
                out.len()
            }),
            times: Vec::new(),
            bytes: 0,
        },
        Case {
            name: "OpenMetrics: dynamo encode",
            peer_of: Some("OpenMetrics: prometheus-client encode"),
            run: Box::new(move || rt_om.encode(Format::OpenMetrics, Some(&names)).len()),
            times: Vec::new(),
            bytes: 0,
        },
        Case {
            name: "OpenMetrics: prometheus-client encode",
            peer_of: None,
            run: Box::new(move || {
                let mut out = String::new();
                prometheus_client::encoding::text::encode(&mut out, &client_registry).unwrap();
                out.len()
            }),
            times: Vec::new(),
            bytes: 0,
        },
        Case {
            name: "protobuf: dynamo encode",
            peer_of: Some("protobuf: prometheus gather + ProtobufEncoder"),
            run: Box::new(move || rt_pb.encode(Format::Protobuf, Some(&names)).len()),
            times: Vec::new(),
            bytes: 0,
        },
        Case {
            name: "protobuf: prometheus gather + ProtobufEncoder",
            peer_of: None,
            run: Box::new(move || {
                let mut out = Vec::new();
                prometheus::ProtobufEncoder::new()
                    .encode(&reg_pb.gather(), &mut out)
                    .unwrap();
                out.len()
            }),
            times: Vec::new(),
            bytes: 0,
        },
    ];

    // Warm up, then interleave: one batch of every case per round.
    for case in &mut cases {
        case.bytes = black_box((case.run)());
    }
    for _ in 0..rounds {
        for case in &mut cases {
            let start = Instant::now();
            for _ in 0..per_round {
                black_box((case.run)());
            }
            case.times.push(start.elapsed() / per_round);
        }
    }

    let median = |times: &[Duration]| {
        let mut t = times.to_vec();
        t.sort_unstable();
        t[t.len() / 2]
    };
    println!(
        "| case ({} series{}) | median | bytes | vs peer | per byte vs peer |",
        ENDPOINTS * IDS,
        if quick {
            ", quick: times mean nothing"
        } else {
            ""
        }
    );
    println!("|---|---:|---:|---:|---:|");
    for case in &cases {
        let t = median(&case.times);
        let (ratio, per_byte) = match case
            .peer_of
            .and_then(|p| cases.iter().find(|c| c.name == p))
        {
            Some(peer) => {
                let r = t.as_secs_f64() / median(&peer.times).as_secs_f64();
                #[allow(clippy::cast_precision_loss)]
                let b = r * (peer.bytes as f64 / case.bytes as f64);
                (format!("{r:.3}x"), format!("{b:.3}x"))
            }
            None => (String::new(), String::new()),
        };
        println!(
            "| {} | {:.1} us | {} | {ratio} | {per_byte} |",
            case.name,
            t.as_secs_f64() * 1e6,
            case.bytes
        );
    }

    let mut hot = hot::cases(ENDPOINTS * IDS);
    hot::run(
        &mut hot,
        if quick { 1 } else { 31 },
        if quick { 1_000 } else { 200_000 },
    );
    hot::print(&hot, quick);
    mem::print();
}
