use dynamo_metrics::instrument_endpoint;

#[instrument_endpoint(component = "backend", endpoint = "generate", namespace = "ns")]
fn generate() -> u32 {
    1
}

fn main() {}
