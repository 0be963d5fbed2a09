use dynamo_metrics::instrument_endpoint;

#[instrument_endpoint(component = "backend", endpoint = "generate")]
struct Handler;

fn main() {}
