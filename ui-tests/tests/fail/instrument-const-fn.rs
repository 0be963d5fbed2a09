use dynamo_metrics::instrument_endpoint;

#[instrument_endpoint(component = "backend", endpoint = "generate")]
const fn generate() -> u32 {
    1
}

fn main() {}
