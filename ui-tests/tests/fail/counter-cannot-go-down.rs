// Counters only go up: there is no way to decrease one.
use dynamo_metrics::{DistributedRuntime, MetricsRegistry};

fn main() {
    let rt = DistributedRuntime::new().unwrap();
    let c = rt.create_intcounter("requests_total", "Requests", &[]).unwrap();
    c.dec();
}
