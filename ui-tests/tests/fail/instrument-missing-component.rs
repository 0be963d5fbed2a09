use dynamo_metrics::instrument_endpoint;

#[instrument_endpoint(endpoint = "generate")]
fn generate() -> u32 {
    1
}

fn main() {}
