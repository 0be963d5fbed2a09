//! The backend worker: a mock engine whose `generate` endpoint streams tokens with
//! configurable prefill and per-token delays, served over TCP on loopback, one JSON line per
//! request and per token.

use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use dynamo_metrics::{ErrorType, instrument_endpoint};
use futures_core::Stream;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Sleep;

/// Timings of the mock engine.
#[derive(Clone, Copy, Debug)]
pub struct EngineTimings {
    /// Fixed part of the prefill delay.
    pub prefill_base: Duration,
    /// Prefill delay per input token.
    pub prefill_per_token: Duration,
    /// Delay between two output tokens.
    pub inter_token: Duration,
}

/// Why the engine refused or stopped a request.
#[derive(Debug, ErrorType)]
pub enum EngineError {
    /// The request line is not the JSON the worker expects.
    InvalidRequest,
    /// The prompt is longer than the model's context.
    ContextExceeded,
}

/// The words the mock engine answers with.
const WORDS: &[&str] = &[
    "the",
    "quick",
    "brown",
    "fox",
    "jumps",
    "over",
    "a",
    "lazy",
    "dog",
    "while",
    "metrics",
    "flow",
    "into",
    "prometheus",
    "and",
    "grafana",
    "draws",
    "them",
];

/// Context length of the mock models, in tokens.
pub const CONTEXT_LENGTH: usize = 8192;

/// A stream of token lines: the first after the prefill delay, the rest one inter-token delay
/// apart; a refused request is one error item.
pub struct TokenStream {
    items: std::vec::IntoIter<Result<String, EngineError>>,
    delay: Pin<Box<Sleep>>,
    inter_token: Duration,
}

impl Stream for TokenStream {
    type Item = Result<String, EngineError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.items.len() == 0 {
            return Poll::Ready(None);
        }
        if self.delay.as_mut().poll(cx).is_pending() {
            return Poll::Pending;
        }
        let next = tokio::time::Instant::now() + self.inter_token;
        self.delay.as_mut().reset(next);
        Poll::Ready(self.items.next())
    }
}

fn refuse(error: EngineError) -> TokenStream {
    TokenStream {
        items: vec![Err(error)].into_iter(),
        delay: Box::pin(tokio::time::sleep(Duration::ZERO)),
        inter_token: Duration::ZERO,
    }
}

/// The worker's `generate` endpoint: `request` is one JSON line
/// `{"tokens": [...], "max_tokens": n}`; the answer streams one JSON line per token.
#[instrument_endpoint(component = "backend", endpoint = "generate")]
pub async fn generate(
    request: String,
    timings: EngineTimings,
) -> impl Stream<Item = Result<String, EngineError>> {
    let Ok(parsed) = serde_json::from_str::<Value>(&request) else {
        return refuse(EngineError::InvalidRequest);
    };
    let (Some(tokens), Some(max_tokens)) =
        (parsed["tokens"].as_array(), parsed["max_tokens"].as_u64())
    else {
        return refuse(EngineError::InvalidRequest);
    };
    if tokens.len() > CONTEXT_LENGTH {
        return refuse(EngineError::ContextExceeded);
    }
    let seed = tokens
        .iter()
        .filter_map(Value::as_u64)
        .fold(7u64, |h, t| h.wrapping_mul(31).wrapping_add(t));
    let items: Vec<Result<String, EngineError>> = (0..max_tokens)
        .map(|i| {
            #[allow(clippy::cast_possible_truncation)]
            let word = WORDS[(seed.wrapping_add(i) % WORDS.len() as u64) as usize];
            Ok(json!({ "index": i, "text": format!("{word} ") }).to_string())
        })
        .collect();
    #[allow(clippy::cast_possible_truncation)]
    let prefill = timings.prefill_base + timings.prefill_per_token * tokens.len() as u32;
    TokenStream {
        items: items.into_iter(),
        delay: Box::pin(tokio::time::sleep(prefill)),
        inter_token: timings.inter_token,
    }
}

/// Serves `generate` on `listener`: one request line per connection, one line per token back.
pub async fn serve_worker(listener: TcpListener, timings: EngineTimings) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        tokio::spawn(handle(stream, timings));
    }
}

async fn handle(stream: TcpStream, timings: EngineTimings) {
    let (read, write) = stream.into_split();
    let mut line = String::new();
    if BufReader::new(read).read_line(&mut line).await.is_err() {
        return;
    }
    let line = line.trim_end().to_owned();
    // The frontend passes the request's trace on: the request's duration then keeps its id.
    let trace = serde_json::from_str::<Value>(&line)
        .ok()
        .and_then(|v| v["trace_id"].as_str().map(str::to_owned));
    let serve = answer(line, write, timings);
    match trace {
        Some(id) => dynamo_metrics::trace::with_trace_id(&id, serve).await,
        None => serve.await,
    }
}

/// Runs `generate` on one request line and writes its token lines back.
async fn answer(line: String, mut write: tokio::net::tcp::OwnedWriteHalf, timings: EngineTimings) {
    let mut tokens = std::pin::pin!(generate(line, timings).await);
    while let Some(item) = std::future::poll_fn(|cx| tokens.as_mut().poll_next(cx)).await {
        let out = match item {
            Ok(token) => token,
            Err(e) => json!({ "error": format!("{e:?}") }).to_string(),
        };
        // A client gone away ends the stream here; dropping it counts the cancellation.
        if write
            .write_all(format!("{out}\n").as_bytes())
            .await
            .is_err()
        {
            return;
        }
    }
}

/// Binds the worker's loopback port.
///
/// # Errors
/// The operating system's, when the port cannot be bound.
pub async fn bind_worker() -> std::io::Result<(TcpListener, SocketAddr)> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    Ok((listener, addr))
}
