// The public API and every macro from outside the crate, with `std`, `core`-free names
// `Result`, `Ok`, `Option`, `Box` and `Some` shadowed in the user's module: generated code
// must name everything by absolute path.
#![allow(dead_code, non_camel_case_types)]

mod std {}
type Result = ();
struct Ok;
struct Option;
struct Box;
struct Some;
struct Vec;
struct String;

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
    let rt = DistributedRuntime::new().unwrap();
    let ep = rt.namespace("ns").unwrap().component("c").unwrap().endpoint("e").unwrap();
    let m = <Metrics as DynamoMetrics>::register(&ep).unwrap();
    m.steps_total.inc(&Labels { phase: Phase::Decoding, model: "m" });
    m.step.observe(&Labels { phase: Phase::Prefill, model: "m" }, 0.01);
    m.batches_total.inc();
    ep.create_intcounter("manual_total", "Counted by hand", &[]).unwrap().inc();
    let _ = count(1, "abc");
    let _ = generate("x");
    let _: &str = &rt.render();
}
