//! A streaming handler names its return type through `dynamo_metrics::Stream`: the user crate
//! needs no `futures` dependency of its own (this crate has none).

use std::pin::Pin;
use std::task::{Context, Poll};

use dynamo_metrics::{Stream, instrument_endpoint};

struct Tokens(Vec<String>);

impl Stream for Tokens {
    type Item = String;
    fn poll_next(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<String>> {
        Poll::Ready(self.0.pop())
    }
}

#[instrument_endpoint(component = "backend", endpoint = "generate")]
async fn generate(prompt: String) -> impl Stream<Item = String> {
    Tokens(prompt.split(' ').map(str::to_owned).collect())
}

fn main() {
    let _ = generate(String::new());
}
