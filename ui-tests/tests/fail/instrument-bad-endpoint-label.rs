use dynamo_metrics::instrument_endpoint;

#[instrument_endpoint(component = "backend", endpoint = "generate", labels(worker_id = _model))]
fn injected(_model: &str) {}

#[instrument_endpoint(component = "backend", endpoint = "generate", labels(model = _a, model = _b))]
fn twice(_a: &str, _b: &str) {}

#[instrument_endpoint(component = "backend", endpoint = "generate", labels(le = _a))]
fn reserved(_a: &str) {}

fn main() {}
