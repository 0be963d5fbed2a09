//! The backend worker: a mock engine whose `generate` endpoint streams tokens with
//! configurable prefill and per-token delays, served over TCP on loopback, one JSON line per
//! request and per token. It keeps a KV cache of the prompts it prefilled: cached blocks are
//! not prefilled again, and what enters and leaves the cache goes to the router as events.

use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use std::sync::Arc;

use dynamo_metrics::builtin::router::{KvCacheLabels, KvStatsMetrics};
use dynamo_metrics::{ErrorType, instrument_endpoint};
use tokio::sync::mpsc::UnboundedSender;

use super::kv::{self, BLOCK_SIZE, KvCache, KvEvent};
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

/// KV cache blocks of one mock worker.
pub const KV_BLOCKS: usize = 4096;

/// One worker's engine: its place among the workers, its delays, its KV cache, where its
/// cache events go, and the cache's gauges.
pub struct Engine {
    /// The worker's index among the router's workers.
    pub index: usize,
    /// The mock delays.
    pub timings: EngineTimings,
    /// The KV cache.
    pub cache: parking_lot::Mutex<KvCache>,
    /// The router's event channel: (worker index, event).
    pub events: UnboundedSender<(usize, KvEvent)>,
    /// `dynamo_component_total_blocks`, `_gpu_cache_usage_percent`.
    pub stats: KvStatsMetrics,
    /// The engine's own metrics, with vLLM's names, relayed by the worker.
    pub vllm: Arc<super::engine_metrics::EngineMetrics>,
}

impl Engine {
    /// Takes a prompt into the cache: the tokens found cached, the events sent on.
    fn admit(&self, model: &str, tokens: &[u64]) -> usize {
        let seq = kv::sequence_hashes(&kv::block_hashes(tokens));
        let (cached, events) = self.cache.lock().admit(&seq);
        self.report_cache(model);
        for event in events {
            let _ = self.events.send((self.index, event));
        }
        cached * BLOCK_SIZE
    }

    /// Sets the KV cache gauges of `model` from the cache.
    pub fn report_cache(&self, model: &str) {
        let cache = self.cache.lock();
        let labels = KvCacheLabels {
            model: model.to_owned(),
            dp_rank: "0".to_owned(),
        };
        #[allow(clippy::cast_precision_loss, clippy::cast_possible_wrap)]
        {
            self.stats
                .total_blocks
                .set(&labels, cache.capacity() as i64);
            let usage = cache.len() as f64 / cache.capacity() as f64;
            self.stats.gpu_cache_usage_percent.set(&labels, usage);
            self.vllm.kv_cache_usage(model, usage);
        }
    }
}

/// A stream of token lines: the first after the prefill delay, the rest one inter-token delay
/// apart; a refused request is one error item.
pub struct TokenStream {
    items: std::vec::IntoIter<Result<String, EngineError>>,
    delay: Pin<Box<Sleep>>,
    inter_token: Duration,
    /// The engine's record of the request, ended when the stream is dropped.
    record: Option<super::engine_metrics::RequestRecord>,
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
        let item = self.items.next();
        if let (Some(Ok(_)), Some(record)) = (&item, &mut self.record) {
            record.token();
        }
        Poll::Ready(item)
    }
}

fn refuse(error: EngineError) -> TokenStream {
    TokenStream {
        items: vec![Err(error)].into_iter(),
        delay: Box::pin(tokio::time::sleep(Duration::ZERO)),
        inter_token: Duration::ZERO,
        record: None,
    }
}

/// The worker's `generate` endpoint for `model`: `request` is one JSON line
/// `{"tokens": [...], "max_tokens": n}`; the answer streams one JSON line per token. Its
/// metrics carry the model.
#[instrument_endpoint(component = "backend", endpoint = "generate", labels(model = model))]
pub async fn generate(
    model: String,
    request: String,
    engine: Arc<Engine>,
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
    let tokens: Vec<u64> = tokens.iter().filter_map(Value::as_u64).collect();
    let cached = engine.admit(&model, &tokens);
    let timings = engine.timings;
    let seed = tokens
        .iter()
        .fold(7u64, |h, t| h.wrapping_mul(31).wrapping_add(*t));
    let items: Vec<Result<String, EngineError>> = (0..max_tokens)
        .map(|i| {
            #[allow(clippy::cast_possible_truncation)]
            let word = WORDS[(seed.wrapping_add(i) % WORDS.len() as u64) as usize];
            Ok(json!({ "index": i, "text": format!("{word} ") }).to_string())
        })
        .collect();
    // Cached blocks are not prefilled again.
    #[allow(clippy::cast_possible_truncation)]
    let prefill = timings.prefill_base + timings.prefill_per_token * (tokens.len() - cached) as u32;
    TokenStream {
        items: items.into_iter(),
        delay: Box::pin(tokio::time::sleep(prefill)),
        inter_token: timings.inter_token,
        record: Some(engine.vllm.start(&model, tokens.len())),
    }
}

/// Serves `generate` on `listener`: one request line per connection, one line per token back.
/// Each connection's task keeps the metrics runtime this one runs under.
pub async fn serve_worker(listener: TcpListener, engine: Arc<Engine>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        dynamo_metrics::spawn(handle(stream, engine.clone()));
    }
}

async fn handle(stream: TcpStream, engine: Arc<Engine>) {
    let (read, write) = stream.into_split();
    let mut line = String::new();
    if BufReader::new(read).read_line(&mut line).await.is_err() {
        return;
    }
    let line = line.trim_end().to_owned();
    // The frontend passes the request's trace on: the request's duration then keeps its id.
    let parsed = serde_json::from_str::<Value>(&line).ok();
    let field = |k: &str| {
        parsed
            .as_ref()
            .and_then(|v| v[k].as_str().map(str::to_owned))
    };
    let trace = field("trace_id");
    let serve = answer(field("model").unwrap_or_default(), line, write, engine);
    match trace {
        Some(id) => dynamo_metrics::trace::with_trace_id(&id, serve).await,
        None => serve.await,
    }
}

/// Runs `generate` on one request line and writes its token lines back.
async fn answer(
    model: String,
    line: String,
    mut write: tokio::net::tcp::OwnedWriteHalf,
    engine: Arc<Engine>,
) {
    let mut tokens = std::pin::pin!(generate(model, line, engine).await);
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
