// The public API from outside the crate, with `std`, `Result` and `Ok` shadowed to catch
// macro or generic code that names them unqualified.
#![allow(dead_code)]
mod std {}
type Result = ();
struct Ok;

use dynamo_metrics::{DistributedRuntime, MetricsRegistry};

fn main() {
    let rt = DistributedRuntime::new().unwrap();
    let ep = rt.namespace("ns").unwrap().component("c").unwrap().endpoint("e").unwrap();
    ep.create_intcounter("requests_total", "Requests", &[]).unwrap().inc();
    ep.create_histogram("duration_seconds", "Time", &[], None).unwrap().observe(0.1);
    let _: &str = &rt.render();
}
