//! Our encoders and hot paths beside the peers', in one process, the cases interleaved round
//! by round so that a noisy neighbour hits every side alike. Prints one table (median per
//! operation or render, and the ratio to each case's peer; per byte for renders), then the
//! memory per series.
//!
//! `--quick`: one round, for CI (it proves the harness runs; its times mean nothing).
//! `--only TEXT`: only the groups whose name contains TEXT (or one of `A|B|..`), to profile
//! them.

mod hot;
mod mem;

#[global_allocator]
static ALLOCATOR: mem::Counting = mem::Counting;

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

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let mut cases = format_cases();
    cases.extend(hot::cases(ENDPOINTS * IDS));
    let args: Vec<String> = std::env::args().collect();
    if let Some(only) = args
        .iter()
        .position(|a| a == "--only")
        .and_then(|i| args.get(i + 1))
    {
        cases.retain(|c| only.split('|').any(|o| c.group.contains(o)));
    }
    hot::run(
        &mut cases,
        if quick { 1 } else { 31 },
        if quick { 1_000 } else { 200_000 },
    );
    hot::print(&cases, quick);
    mem::print();
}

/// Each format rendered by us and by the peer that speaks it, on the same 10,000 series.
fn format_cases() -> Vec<hot::Case> {
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
    vec![
        hot::bytes_case(
            "render 10,000 series, text 0.0.4",
            "text 0.0.4: dynamo render_into (reused buffer)",
            Some("text 0.0.4: prometheus gather + TextEncoder"),
            move || {
                text_buf.clear();
                rt_text.render_into(&mut text_buf);
                text_buf.len()
            },
        ),
        hot::bytes_case(
            "render 10,000 series, text 0.0.4",
            "text 0.0.4: prometheus gather + TextEncoder",
            None,
            move || {
                let mut out = String::new();
                prometheus::TextEncoder::new()
                    .encode_utf8(&reg_text.gather(), &mut out)
                    .unwrap();
                out.len()
            },
        ),
        hot::bytes_case(
            "render 10,000 series, OpenMetrics",
            "OpenMetrics: dynamo encode",
            Some("OpenMetrics: prometheus-client encode"),
            move || rt_om.encode(Format::OpenMetrics, Some(&names)).len(),
        ),
        hot::bytes_case(
            "render 10,000 series, OpenMetrics",
            "OpenMetrics: prometheus-client encode",
            None,
            move || {
                let mut out = String::new();
                prometheus_client::encoding::text::encode(&mut out, &client_registry).unwrap();
                out.len()
            },
        ),
        hot::bytes_case(
            "render 10,000 series, protobuf",
            "protobuf: dynamo encode",
            Some("protobuf: prometheus gather + ProtobufEncoder"),
            move || rt_pb.encode(Format::Protobuf, Some(&names)).len(),
        ),
        hot::bytes_case(
            "render 10,000 series, protobuf",
            "protobuf: prometheus gather + ProtobufEncoder",
            None,
            move || {
                let mut out = Vec::new();
                prometheus::ProtobufEncoder::new()
                    .encode(&reg_pb.gather(), &mut out)
                    .unwrap();
                out.len()
            },
        ),
    ]
}
