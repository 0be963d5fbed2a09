//! The OpenAI-compatible HTTP frontend: validation, the preprocessor (a chat template and a
//! deterministic whitespace tokenizer), a call to the worker over TCP, and the response, as
//! server-sent events or one JSON body. Every step records the built-in frontend and
//! preprocessor metrics.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use dynamo_metrics::DistributedRuntime;
use dynamo_metrics::builtin::router::{RouterLabels, RouterOverheadMetrics, RouterRequestMetrics};
use dynamo_metrics::builtin::{
    FrontendEndpoint, FrontendErrorType, FrontendMetrics, ModelLabels, PreprocessorErrorLabels,
    PreprocessorErrorType, PreprocessorMetrics, RequestLabels, RequestType, Status, WorkerLabels,
    WorkerTypeLabels,
};
use futures_core::Stream;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::sync::mpsc;

use super::kv::{self, BLOCK_SIZE, KvIndex};

/// The most tokens one request may ask for.
const MAX_TOKENS_LIMIT: u64 = 1024;

/// Everything the handlers share.
pub struct App {
    /// The frontend's own runtime: its `/metrics`.
    pub runtime: DistributedRuntime,
    /// `dynamo_frontend_*`.
    pub frontend: FrontendMetrics,
    /// `dynamo_preprocessor_*`.
    pub preprocessor: PreprocessorMetrics,
    /// The models served, lower-cased.
    pub models: Vec<String>,
    /// The KV-aware router in front of the workers.
    pub router: KvRouter,
}

/// The router: the workers' loopback addresses and ids, the index of their caches, what each
/// is busy with, and the router's metrics.
pub struct KvRouter {
    /// Each worker's loopback address.
    pub workers: Vec<SocketAddr>,
    /// Each worker's labels in the frontend's per-worker gauges.
    pub worker_labels: Vec<WorkerLabels>,
    /// Which worker holds which blocks, from their events.
    pub index: Arc<parking_lot::Mutex<KvIndex>>,
    /// Blocks each worker is decoding.
    pub load: parking_lot::Mutex<Vec<usize>>,
    /// `dynamo_router_overhead_*`.
    pub overhead: RouterOverheadMetrics,
    /// `dynamo_component_router_*`.
    pub requests: RouterRequestMetrics,
    /// This router's `router_id`.
    pub id: RouterLabels,
}

/// Estimated time to move one token's KV cache between workers.
const TRANSFER_SECONDS_PER_TOKEN: f64 = 2e-6;

/// A request's place on a worker: its blocks in the router's load and the frontend's
/// per-worker gauges until it ends, its prompt tokens until its first token.
struct Placement {
    worker: usize,
    blocks: usize,
    prefill_tokens: i64,
}

/// The frontend's routes.
pub fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/v1/chat/completions", post(chat))
        .route("/v1/completions", post(completions))
        .route("/v1/models", get(models))
        // `/metrics` (negotiated format, gzip), `/health` and `/live` of the frontend's runtime.
        .merge(app.runtime.metrics_router())
        .fallback(|| async {
            error_body(
                StatusCode::NOT_FOUND,
                "not found",
                "invalid_request_error",
                None,
            )
        })
        .with_state(app)
}

async fn models(State(app): State<Arc<App>>) -> Response {
    let data: Vec<Value> = app
        .models
        .iter()
        .map(|m| json!({ "id": m, "object": "model", "owned_by": "dynamo-demo" }))
        .collect();
    axum::Json(json!({ "object": "list", "data": data })).into_response()
}

async fn chat(State(app): State<Arc<App>>, headers: HeaderMap, body: Bytes) -> Response {
    handle(
        app,
        FrontendEndpoint::ChatCompletions,
        trace_id(&headers),
        body,
    )
    .await
}

async fn completions(State(app): State<Arc<App>>, headers: HeaderMap, body: Bytes) -> Response {
    handle(app, FrontendEndpoint::Completions, trace_id(&headers), body).await
}

/// The trace id of a valid W3C `traceparent` header, carried to the worker so that its
/// request duration keeps it as an exemplar.
fn trace_id(headers: &HeaderMap) -> Option<String> {
    let header = headers.get("traceparent")?.to_str().ok()?;
    dynamo_metrics::trace::trace_id_from_traceparent(header).map(str::to_owned)
}

fn error_body(status: StatusCode, message: &str, kind: &str, code: Option<&str>) -> Response {
    let body =
        json!({ "error": { "message": message, "type": kind, "param": null, "code": code } });
    (status, axum::Json(body)).into_response()
}

/// A request refused before it reached the worker.
struct Refusal {
    status: StatusCode,
    message: String,
    error_type: FrontendErrorType,
    code: Option<&'static str>,
    /// Set when the preprocessor is what refused it.
    preprocessing: Option<PreprocessorErrorType>,
}

fn invalid(message: impl Into<String>) -> Refusal {
    Refusal {
        status: StatusCode::BAD_REQUEST,
        message: message.into(),
        error_type: FrontendErrorType::Validation,
        code: None,
        preprocessing: None,
    }
}

/// A prompt the preprocessor cannot turn into tokens.
fn unprocessable(message: impl Into<String>, why: PreprocessorErrorType) -> Refusal {
    Refusal {
        preprocessing: Some(why),
        ..invalid(message)
    }
}

const ROLES: [&str; 4] = ["system", "user", "assistant", "tool"];

/// What a valid request asks for.
struct Request {
    model: String,
    stream: bool,
    max_tokens: u64,
    prompt: Prompt,
}

enum Prompt {
    Chat(Vec<(String, String)>),
    Text(String),
}

/// The `model` label of requests for models not served (and of requests too malformed to
/// name one): one fixed value, so input cannot make series.
const UNKNOWN_MODEL: &str = "unknown";

/// At most 64 characters of `s`, for error messages that quote input.
fn excerpt(s: &str) -> String {
    match s.char_indices().nth(64) {
        Some((end, _)) => format!("{}...", &s[..end]),
        None => s.to_owned(),
    }
}

fn parse(
    app: &App,
    endpoint: FrontendEndpoint,
    body: &[u8],
) -> Result<Request, (String, bool, Refusal)> {
    let value: Value = serde_json::from_slice(body).map_err(|e| {
        (
            UNKNOWN_MODEL.to_owned(),
            false,
            invalid(format!("request body is not valid JSON: {e}")),
        )
    })?;
    let stream = match &value["stream"] {
        Value::Null => false,
        Value::Bool(b) => *b,
        _ => {
            return Err((
                UNKNOWN_MODEL.to_owned(),
                false,
                invalid("`stream` must be true or false"),
            ));
        }
    };
    let Some(model) = value["model"].as_str() else {
        return Err((
            UNKNOWN_MODEL.to_owned(),
            stream,
            invalid("missing required field `model`"),
        ));
    };
    let model = model.to_lowercase();
    if !app.models.contains(&model) {
        // Labels only ever take the names of served models: any other name is counted under
        // one fixed value, and the answer does not echo unbounded input back.
        return Err((
            UNKNOWN_MODEL.to_owned(),
            stream,
            Refusal {
                status: StatusCode::NOT_FOUND,
                message: format!("the model `{}` does not exist", excerpt(&model)),
                error_type: FrontendErrorType::NotFound,
                code: Some("model_not_found"),
                preprocessing: None,
            },
        ));
    }
    let fail = |refusal: Refusal| (model.clone(), stream, refusal);
    let max_tokens = match &value["max_tokens"] {
        Value::Null => 16,
        v => match v.as_u64() {
            Some(n) if (1..=MAX_TOKENS_LIMIT).contains(&n) => n,
            _ => {
                return Err(fail(invalid(format!(
                    "`max_tokens` must be a whole number from 1 to {MAX_TOKENS_LIMIT}"
                ))));
            }
        },
    };
    let prompt = match endpoint {
        FrontendEndpoint::ChatCompletions => {
            let Some(messages) = value["messages"].as_array().filter(|m| !m.is_empty()) else {
                return Err(fail(unprocessable(
                    "missing required field `messages` (a non-empty array)",
                    PreprocessorErrorType::InvalidRequest,
                )));
            };
            let mut turns = Vec::new();
            for m in messages {
                match (m["role"].as_str(), m["content"].as_str()) {
                    (Some(role), Some(content)) if ROLES.contains(&role) => {
                        turns.push((role.to_owned(), content.to_owned()));
                    }
                    (Some(role), Some(_)) => {
                        return Err(fail(unprocessable(
                            format!("the chat template has no role {role:?}; use one of {ROLES:?}"),
                            PreprocessorErrorType::Template,
                        )));
                    }
                    _ => {
                        return Err(fail(unprocessable(
                            "each message needs a string `role` and `content`",
                            PreprocessorErrorType::InvalidRequest,
                        )));
                    }
                }
            }
            Prompt::Chat(turns)
        }
        FrontendEndpoint::Completions => match value["prompt"].as_str() {
            Some(p) => Prompt::Text(p.to_owned()),
            None => {
                return Err(fail(unprocessable(
                    "missing required field `prompt` (a string)",
                    PreprocessorErrorType::InvalidRequest,
                )));
            }
        },
    };
    Ok(Request {
        model,
        stream,
        max_tokens,
        prompt,
    })
}

/// The preprocessor: the chat template, then the tokenizer (one token per whitespace-separated
/// word, its id a hash of the word: deterministic, not a real vocabulary).
fn preprocess(m: &PreprocessorMetrics, request: &Request) -> Vec<u64> {
    let model = ModelLabels::new(&request.model);
    m.requests_total.inc(&model);
    let started = Instant::now();
    let text = match &request.prompt {
        Prompt::Chat(turns) => turns
            .iter()
            .map(|(role, content)| format!("<|{role}|> {content}"))
            .collect::<Vec<_>>()
            .join("\n"),
        Prompt::Text(t) => t.clone(),
    };
    m.template_duration
        .observe(&model, started.elapsed().as_secs_f64());
    let started = Instant::now();
    let tokens: Vec<u64> = text
        .split_whitespace()
        .map(|w| {
            w.bytes().fold(1469598103934665603u64, |h, b| {
                (h ^ u64::from(b)).wrapping_mul(1099511628211)
            }) % 50_000
        })
        .collect();
    m.tokenize_duration
        .observe(&model, started.elapsed().as_secs_f64());
    m.input_tokens_total.inc_by(&model, tokens.len() as u64);
    tokens
}

/// One request from admission to its end: in flight, queued until its first token, and on
/// drop counted with its outcome (cancelled when it ends before it is marked done).
struct Tracker {
    app: Arc<App>,
    model: ModelLabels,
    endpoint: FrontendEndpoint,
    request_type: RequestType,
    started: Instant,
    last_token: Option<Instant>,
    tokens: u64,
    outcome: Option<FrontendErrorType>,
    placement: Placement,
}

impl Tracker {
    fn new(
        app: Arc<App>,
        request: &Request,
        endpoint: FrontendEndpoint,
        placement: Placement,
    ) -> Self {
        let model = ModelLabels::new(&request.model);
        app.frontend.inflight_requests.inc(&model);
        app.frontend.queued_requests.inc(&model);
        let worker = &app.router.worker_labels[placement.worker];
        app.frontend
            .worker_active_prefill_tokens
            .add(worker, placement.prefill_tokens);
        #[allow(clippy::cast_possible_wrap)]
        app.frontend
            .worker_active_decode_blocks
            .add(worker, placement.blocks as i64);
        app.frontend
            .router_queue_pending_requests
            .inc(&pending(worker));
        Tracker {
            app,
            model,
            endpoint,
            request_type: if request.stream {
                RequestType::Stream
            } else {
                RequestType::Unary
            },
            started: Instant::now(),
            last_token: None,
            tokens: 0,
            outcome: None,
            placement,
        }
    }

    fn token(&mut self) {
        let now = Instant::now();
        let app = self.app.clone();
        let (f, r) = (&app.frontend, &app.router);
        match self.last_token {
            None => {
                let ttft = (now - self.started).as_secs_f64();
                f.time_to_first_token.observe(&self.model, ttft);
                r.requests.router_time_to_first_token.observe(&r.id, ttft);
                f.queued_requests.dec(&self.model);
                self.prefilled();
            }
            Some(last) => {
                let itl = (now - last).as_secs_f64();
                f.inter_token_latency.observe(&self.model, itl);
                r.requests.router_inter_token_latency.observe(&r.id, itl);
            }
        }
        f.output_tokens_total.inc(&self.model);
        self.last_token = Some(now);
        self.tokens += 1;
    }

    fn done(&mut self, outcome: FrontendErrorType) {
        self.outcome = Some(outcome);
    }

    /// The prompt is prefilled (or never will be): its tokens leave the worker's count.
    fn prefilled(&mut self) {
        let worker = &self.app.router.worker_labels[self.placement.worker];
        let f = &self.app.frontend;
        f.worker_active_prefill_tokens
            .add(worker, -self.placement.prefill_tokens);
        f.router_queue_pending_requests.dec(&pending(worker));
        self.placement.prefill_tokens = 0;
    }
}

/// The router queue a request waits in for its first token.
fn pending(worker: &WorkerLabels) -> WorkerTypeLabels {
    WorkerTypeLabels {
        worker_type: worker.worker_type,
    }
}

impl Drop for Tracker {
    fn drop(&mut self) {
        let app = self.app.clone();
        let (f, r) = (&app.frontend, &app.router);
        f.inflight_requests.dec(&self.model);
        if self.last_token.is_none() {
            f.queued_requests.dec(&self.model);
            self.prefilled();
        }
        let Placement { worker, blocks, .. } = self.placement;
        #[allow(clippy::cast_possible_wrap)]
        f.worker_active_decode_blocks
            .add(&r.worker_labels[worker], -(blocks as i64));
        if let Some(load) = r.load.lock().get_mut(worker) {
            *load = load.saturating_sub(blocks);
        }
        #[allow(clippy::cast_precision_loss)]
        r.requests
            .router_output_sequence_tokens
            .observe(&r.id, self.tokens as f64);
        let error_type = self.outcome.unwrap_or(FrontendErrorType::Cancelled);
        if error_type == FrontendErrorType::Cancelled {
            f.disconnected_clients_total.inc(&self.model);
        }
        f.requests_total.inc(&RequestLabels {
            model: self.model.model.clone(),
            endpoint: self.endpoint,
            request_type: self.request_type,
            status: if error_type == FrontendErrorType::None {
                Status::Success
            } else {
                Status::Error
            },
            error_type,
        });
        f.request_duration
            .observe(&self.model, self.started.elapsed().as_secs_f64());
        if self.tokens > 0 {
            #[allow(clippy::cast_precision_loss)]
            f.output_sequence_tokens
                .observe(&self.model, self.tokens as f64);
        }
    }
}

async fn handle(
    app: Arc<App>,
    endpoint: FrontendEndpoint,
    trace_id: Option<String>,
    body: Bytes,
) -> Response {
    let request = match parse(&app, endpoint, &body) {
        Ok(r) => r,
        Err((model, stream, refusal)) => {
            if let Some(error_type) = refusal.preprocessing {
                app.preprocessor.errors_total.inc(&PreprocessorErrorLabels {
                    model: model.clone(),
                    error_type,
                });
            }
            app.frontend.requests_total.inc(&RequestLabels {
                model,
                endpoint,
                request_type: if stream {
                    RequestType::Stream
                } else {
                    RequestType::Unary
                },
                status: Status::Error,
                error_type: refusal.error_type,
            });
            return error_body(
                refusal.status,
                &refusal.message,
                "invalid_request_error",
                refusal.code,
            );
        }
    };
    let tokens = preprocess(&app.preprocessor, &request);
    let model = ModelLabels::new(&request.model);
    let placement = place(&app, &model, &tokens);
    let worker = app.router.workers[placement.worker];
    let mut tracker = Tracker::new(app.clone(), &request, endpoint, placement);
    let lines = match open_worker(worker, &model.model, &tokens, request.max_tokens, trace_id).await
    {
        Ok(lines) => lines,
        Err(e) => {
            tracker.done(FrontendErrorType::Internal);
            return error_body(
                StatusCode::INTERNAL_SERVER_ERROR,
                &format!("worker unreachable: {e}"),
                "internal_error",
                None,
            );
        }
    };
    let object = match endpoint {
        FrontendEndpoint::ChatCompletions => "chat.completion",
        FrontendEndpoint::Completions => "text_completion",
    };
    if request.stream {
        let (tx, rx) = mpsc::channel::<Bytes>(16);
        tokio::spawn(relay(lines, tracker, tx, endpoint, request.model.clone()));
        return Response::builder()
            .header(header::CONTENT_TYPE, "text/event-stream")
            .header(header::CACHE_CONTROL, "no-cache")
            .body(Body::from_stream(Events(rx)))
            .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response());
    }
    let mut lines = lines;
    let mut text = String::new();
    loop {
        match lines.next_line().await {
            Ok(Some(line)) => match token_text(&line) {
                Ok(t) => {
                    tracker.token();
                    text.push_str(&t);
                }
                Err((status, error_type, message)) => {
                    tracker.done(error_type);
                    return error_body(status, &message, "invalid_request_error", None);
                }
            },
            Ok(None) => break,
            Err(e) => {
                tracker.done(FrontendErrorType::Internal);
                return error_body(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    &e.to_string(),
                    "internal_error",
                    None,
                );
            }
        }
    }
    tracker.done(FrontendErrorType::None);
    let choice = match endpoint {
        FrontendEndpoint::ChatCompletions => {
            json!({ "index": 0, "message": { "role": "assistant", "content": text }, "finish_reason": "length" })
        }
        FrontendEndpoint::Completions => {
            json!({ "index": 0, "text": text, "finish_reason": "length" })
        }
    };
    axum::Json(json!({
        "id": "cmpl-demo",
        "object": object,
        "model": request.model,
        "choices": [choice],
        "usage": { "prompt_tokens": tokens.len(), "completion_tokens": tracker.tokens, "total_tokens": tokens.len() as u64 + tracker.tokens },
    }))
    .into_response()
}

/// Routes a prompt of `tokens`: the worker whose cache holds most of it, load considered;
/// records what the router and the frontend know of it.
fn place(app: &App, model: &ModelLabels, tokens: &[u64]) -> Placement {
    let r = &app.router;
    let routed = {
        let load = r.load.lock().clone();
        kv::route(&r.index.lock(), tokens, &load, &r.overhead, &r.id)
    };
    if let Some(load) = r.load.lock().get_mut(routed.worker) {
        *load += routed.blocks;
    }
    #[allow(clippy::cast_precision_loss)]
    {
        let isl = tokens.len() as f64;
        app.frontend.input_sequence_tokens.observe(model, isl);
        let cached = (routed.cached_blocks * BLOCK_SIZE) as f64;
        app.frontend.cached_tokens.observe(model, cached);
        r.requests.router_requests_total.inc(&r.id);
        r.requests.router_input_sequence_tokens.observe(&r.id, isl);
        let hit_rate = match routed.blocks {
            0 => 0.0,
            n => routed.cached_blocks as f64 / n as f64,
        };
        r.requests.router_kv_hit_rate.observe(&r.id, hit_rate);
        // The blocks the chosen worker lacks, were they moved to it rather than prefilled;
        // estimated only where some are.
        let missing = routed.blocks - routed.cached_blocks;
        if missing > 0 {
            let estimate = (missing * BLOCK_SIZE) as f64 * TRANSFER_SECONDS_PER_TOKEN;
            r.requests
                .router_kv_transfer_estimated_latency
                .observe(&r.id, estimate);
        }
    }
    #[allow(clippy::cast_possible_wrap)]
    Placement {
        worker: routed.worker,
        blocks: routed.blocks,
        prefill_tokens: (tokens.len() - routed.cached_blocks * BLOCK_SIZE) as i64,
    }
}

/// A connection to the worker: its token lines, and the write half kept open until the
/// answer is read (dropping both closes the connection, which the worker sees as a
/// cancellation).
struct Lines {
    lines: tokio::io::Lines<BufReader<tokio::net::tcp::OwnedReadHalf>>,
    _write: tokio::net::tcp::OwnedWriteHalf,
}

impl Lines {
    async fn next_line(&mut self) -> std::io::Result<Option<String>> {
        self.lines.next_line().await
    }
}

/// Sends the request line to the worker and returns its token lines.
async fn open_worker(
    worker: SocketAddr,
    model: &str,
    tokens: &[u64],
    max_tokens: u64,
    trace_id: Option<String>,
) -> std::io::Result<Lines> {
    let stream = TcpStream::connect(worker).await?;
    let (read, mut write) = stream.into_split();
    let mut request = json!({ "model": model, "tokens": tokens, "max_tokens": max_tokens });
    if let Some(id) = trace_id {
        request["trace_id"] = json!(id);
    }
    let line = request.to_string();
    write.write_all(format!("{line}\n").as_bytes()).await?;
    Ok(Lines {
        lines: BufReader::new(read).lines(),
        _write: write,
    })
}

/// A token's text, or the engine's refusal: its status, error type and message.
fn token_text(line: &str) -> Result<String, (StatusCode, FrontendErrorType, String)> {
    let internal = |m: String| {
        (
            StatusCode::INTERNAL_SERVER_ERROR,
            FrontendErrorType::Internal,
            m,
        )
    };
    let v: Value =
        serde_json::from_str(line).map_err(|e| internal(format!("bad worker line: {e}")))?;
    match v["error"].as_str() {
        Some("ContextExceeded") => Err((
            StatusCode::BAD_REQUEST,
            FrontendErrorType::Validation,
            format!(
                "the prompt is longer than the model's context of {} tokens",
                super::engine::CONTEXT_LENGTH
            ),
        )),
        Some(e) => Err(internal(format!("engine error: {e}"))),
        None => Ok(v["text"].as_str().unwrap_or_default().to_owned()),
    }
}

/// Streams worker lines to the client as server-sent events; a send that fails means the
/// client went away, and the tracker's drop counts the cancellation.
async fn relay(
    mut lines: Lines,
    mut tracker: Tracker,
    tx: mpsc::Sender<Bytes>,
    endpoint: FrontendEndpoint,
    model: String,
) {
    loop {
        let event = match lines.next_line().await {
            Ok(Some(line)) => match token_text(&line) {
                Ok(text) => {
                    tracker.token();
                    let delta = match endpoint {
                        FrontendEndpoint::ChatCompletions => {
                            json!({ "index": 0, "delta": { "content": text }, "finish_reason": null })
                        }
                        FrontendEndpoint::Completions => {
                            json!({ "index": 0, "text": text, "finish_reason": null })
                        }
                    };
                    json!({ "id": "cmpl-demo", "object": "chunk", "model": model, "choices": [delta] }).to_string()
                }
                Err((_, error_type, message)) => {
                    tracker.done(error_type);
                    let event =
                        json!({ "error": { "message": message, "type": "invalid_request_error" } });
                    let _ = tx.send(Bytes::from(format!("data: {event}\n\n"))).await;
                    return;
                }
            },
            Ok(None) => {
                // The last chunk says why generation stopped (the mock engine always stops at
                // `max_tokens`), then the end of the stream.
                let last = match endpoint {
                    FrontendEndpoint::ChatCompletions => {
                        json!({ "index": 0, "delta": {}, "finish_reason": "length" })
                    }
                    FrontendEndpoint::Completions => {
                        json!({ "index": 0, "text": "", "finish_reason": "length" })
                    }
                };
                let last = json!({ "id": "cmpl-demo", "object": "chunk", "model": model, "choices": [last] });
                let sent = tx
                    .send(Bytes::from(format!("data: {last}\n\n")))
                    .await
                    .is_ok()
                    && tx
                        .send(Bytes::from_static(b"data: [DONE]\n\n"))
                        .await
                        .is_ok();
                if sent {
                    tracker.done(FrontendErrorType::None);
                }
                return;
            }
            Err(_) => {
                tracker.done(FrontendErrorType::Internal);
                return;
            }
        };
        if tx
            .send(Bytes::from(format!("data: {event}\n\n")))
            .await
            .is_err()
        {
            return;
        }
    }
}

/// The body of a streamed response.
struct Events(mpsc::Receiver<Bytes>);

impl Stream for Events {
    type Item = Result<Bytes, Infallible>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.0.poll_recv(cx).map(|b| b.map(Ok))
    }
}
