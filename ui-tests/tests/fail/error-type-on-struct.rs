use dynamo_metrics::ErrorType;

#[derive(ErrorType)]
struct MyError;

fn main() {}
