//! A worker's scrape relaying an engine exposition of 2,000 series (text 0.0.4, as
//! `prometheus_client` writes it), against the same scrape without the relay, and against
//! parsing the same text with the Rust parsers of the text format: what a relayed series
//! costs per scrape.

use std::sync::Arc;

use dynamo_metrics::{MetricsRegistry, RelaySource};

use crate::hot::{Case, timed};

const GROUP: &str = "relay: a scrape with an engine exposition of 2,000 series";
const WITHOUT: &str = "dynamo render_into, the worker's 100 series alone";
const WITH: &str = "dynamo render_into, the same with the relayed 2,000 (callback)";
const PROMETHEUS_PARSE: &str = "prometheus-parse Scrape::parse of the engine's text";
const OPENMETRICS_PARSER: &str = "openmetrics-parser parse_prometheus of the engine's text";

/// 20 families of 100 series each, half counters, half gauges, with two labels.
pub fn engine_text() -> String {
    let mut text = String::new();
    for f in 0..20 {
        let (kind, name) = if f % 2 == 0 {
            ("counter", format!("vllm:family_{f}_total"))
        } else {
            ("gauge", format!("vllm:family_{f}"))
        };
        text.push_str(&format!(
            "# HELP {name} Family {f}.\n# TYPE {name} {kind}\n"
        ));
        for s in 0..100 {
            text.push_str(&format!(
                "{name}{{engine=\"{}\",model_name=\"meta-llama/Llama-3.1-8B-{s:03}\"}} {}.0\n",
                s % 4,
                f * 1000 + s
            ));
        }
    }
    text
}

fn worker(relay: Option<Arc<String>>) -> dynamo_metrics::DistributedRuntime {
    let rt = crate::runtime();
    let ep = rt
        .namespace("ns")
        .expect("ns")
        .component("backend")
        .expect("component")
        .endpoint("generate")
        .expect("endpoint");
    let family = ep
        .create_intcountervec("handled_total", "Requests handled", &["id"], &[])
        .expect("vec");
    for i in 0..100 {
        family
            .with_label_values(&[&format!("{i:03}")])
            .expect("series")
            .inc_by(i);
    }
    if let Some(text) = relay {
        ep.relay(RelaySource::callback("vllm", move || (*text).clone()))
            .expect("relay");
    }
    rt
}

pub fn cases() -> Vec<Case> {
    let text = Arc::new(engine_text());
    let (without, with) = (worker(None), worker(Some(text.clone())));
    let page = with.render();
    assert!(
        page.contains("vllm:family_19{dynamo_namespace=\"ns\""),
        "the relay is on the page: {}",
        page.lines()
            .filter(|l| l.contains("source_failures") || l.contains("relay_series"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    let (mut a, mut b) = (String::new(), String::new());
    // The page with the relay holds the worker's 100 series and the engine's 2,000.
    let checked = with.clone();
    let check = move || {
        let page = checked.render();
        let ours = page
            .lines()
            .filter(|l| l.starts_with("dynamo_component_handled_total{"))
            .count();
        let relayed = page
            .lines()
            .filter(|l| l.starts_with("vllm:family_"))
            .count();
        match (ours, relayed) {
            (100, 2_000) => Ok(page.len()),
            other => Err(format!("{other:?} lines of ours and relayed")),
        }
    };
    let (t1, t2) = (text.clone(), text);
    let len = t1.len();
    vec![
        timed(
            GROUP,
            WITHOUT,
            &[],
            move || {
                a.clear();
                without.render_into(&mut a);
                a.len()
            },
            None,
        ),
        timed(
            GROUP,
            WITH,
            &[WITHOUT, PROMETHEUS_PARSE],
            move || {
                b.clear();
                with.render_into(&mut b);
                b.len()
            },
            Some(Box::new(check)),
        ),
        timed(
            GROUP,
            PROMETHEUS_PARSE,
            &[],
            move || {
                let lines = t1.lines().map(|l| Ok(l.to_owned()));
                std::hint::black_box(prometheus_parse::Scrape::parse(lines).expect("parsed"));
                len
            },
            None,
        ),
        timed(
            GROUP,
            OPENMETRICS_PARSER,
            &[PROMETHEUS_PARSE],
            move || {
                std::hint::black_box(
                    openmetrics_parser::prometheus::parse_prometheus(&t2).expect("parsed"),
                );
                len
            },
            None,
        ),
    ]
}
