// Hygiene: the public API and every macro used from outside the crate, in a module where the
// prelude's and std's names are shadowed by the user's own (`std` itself, the prelude's types,
// variants and traits): generated code must name everything by absolute path. The async
// handler is polled to its end, so its generated body runs too.
#![allow(dead_code, non_camel_case_types)]

mod std {}
mod core {}
type Result = ();
struct Ok;
struct Err;
struct Option;
struct Some;
struct None;
struct Box;
struct Vec;
struct String;
trait Into {}
trait From {}
trait Default {}
trait Clone {}
trait Copy {}
trait Drop {}
trait Send {}
trait Sync {}
trait Sized {}
trait Iterator {}
trait IntoIterator {}
trait ToString {}
trait ToOwned {}
trait AsRef {}
trait PartialEq {}
trait Fn {}
trait FnOnce {}
trait Future {}

use dynamo_metrics::{
    DistributedRuntime, DynamoMetrics, ErrorType, HistogramFamily, IntCounter, IntCounterFamily,
    LabelSet, LabelValue, MetricsRegistry, instrument_endpoint,
};

#[derive(LabelValue)]
enum Phase {
    Prefill,
    #[label(value = "decode")]
    Decoding,
}

#[derive(LabelSet)]
struct Labels {
    phase: Phase,
    model: &'static str,
}

/// Worker metrics.
#[derive(DynamoMetrics)]
#[metrics(subsystem = "worker", level = "endpoint", prefix = "engine")]
struct Metrics {
    /// Steps run
    steps_total: IntCounterFamily<Labels>,
    /// Step time
    #[metric(unit = "seconds", buckets = log(0.001, 10, 8), max_series = 64)]
    step: HistogramFamily<Labels>,
    #[metric(help = "Batches", const_labels(engine = "mock"))]
    batches_total: IntCounter,
}

#[derive(Debug, ErrorType)]
enum Failure {
    Busy,
    #[error_type(name = "bad_input")]
    Invalid { reason: &'static str },
}

#[instrument_endpoint(component = "worker", endpoint = "generate")]
async fn generate(prompt: &'static str) -> ::core::result::Result<&'static str, Failure> {
    ::core::result::Result::Ok(prompt)
}

#[instrument_endpoint(component = "worker", endpoint = "count", request = text)]
fn count(id: u32, text: &str) -> usize {
    let _ = id;
    text.len()
}

fn main() {
    let rt = DistributedRuntime::with_config(&dynamo_metrics::RuntimeConfig::default().with_worker_id(dynamo_metrics::WorkerId::Off)).unwrap();
    let ep = rt.namespace("ns").unwrap().component("c").unwrap().endpoint("e").unwrap();
    let m = <Metrics as DynamoMetrics>::register(&ep).unwrap();
    m.steps_total.inc(&Labels { phase: Phase::Decoding, model: "m" });
    m.step.observe(&Labels { phase: Phase::Prefill, model: "m" }, 0.01);
    m.batches_total.inc();
    ep.create_intcounter("manual_total", "Counted by hand", &[]).unwrap().inc();
    let _ = count(1, "abc");
    let mut call = ::std::pin::pin!(generate("x"));
    let mut cx = ::std::task::Context::from_waker(::std::task::Waker::noop());
    match ::std::future::Future::poll(call.as_mut(), &mut cx) {
        ::std::task::Poll::Ready(reply) => assert_eq!(reply.unwrap(), "x"),
        ::std::task::Poll::Pending => panic!("the handler awaits nothing"),
    }
    let text = rt.render();
    assert!(text.contains("dynamo_component_requests_total{dynamo_namespace=\"dynamo\",dynamo_component=\"worker\",dynamo_endpoint=\"generate\"} 1"), "{text}");
}
