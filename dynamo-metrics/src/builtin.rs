//! The built-in metrics of a Dynamo-style frontend, preprocessor and KV router, declared
//! with this crate's own derive. See [`FrontendMetrics`], [`PreprocessorMetrics`] and
//! [`router`] for details.
//!
//! Names, types and labels follow Dynamo's, with its known flaws fixed: histogram buckets
//! wide enough that p99 is not clipped (request duration to 10 minutes, time to first token
//! to 480 s, inter-token latency to 80 s), bucket overrides read from the variables the
//! Dynamo docs name (`DYN_METRICS_TTFT_MIN`, ..., not `DYN_HISTOGRAM_DYN_METRICS_...`), a
//! disconnect count that is a counter, and `dynamo_preprocessor_*` metrics that exist.

pub mod router;

use crate::{HistogramFamily, IntCounterFamily, IntGaugeFamily, LabelSet, LabelValue};

/// Whether a request asked for a streamed response.
#[derive(LabelValue, Clone, Copy, Debug, PartialEq, Eq)]
pub enum RequestType {
    /// Server-sent events, one chunk per token batch.
    Stream,
    /// One response at the end.
    Unary,
}

/// How a request ended.
#[derive(LabelValue, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// A complete response.
    Success,
    /// An error response, or none.
    Error,
}

/// The OpenAI-compatible route a request came in on.
#[derive(LabelValue, Clone, Copy, Debug, PartialEq, Eq)]
pub enum FrontendEndpoint {
    /// `/v1/chat/completions`
    ChatCompletions,
    /// `/v1/completions`
    Completions,
}

/// Why a request failed (`""` when it did not).
#[derive(LabelValue, Clone, Copy, Debug, PartialEq, Eq)]
pub enum FrontendErrorType {
    /// No error.
    #[label(value = "")]
    None,
    /// Malformed JSON or missing or invalid fields (400).
    Validation,
    /// An unknown model (404).
    NotFound,
    /// Refused for lack of capacity (503).
    Overload,
    /// The client went away before the response ended.
    Cancelled,
    /// The backend did not answer in time (504).
    ResponseTimeout,
    /// Anything else (500).
    Internal,
    /// A feature the frontend does not support (501).
    NotImplemented,
}

/// The labels of `dynamo_frontend_requests_total`.
#[derive(LabelSet, Debug)]
pub struct RequestLabels {
    /// The model, lower-cased.
    pub model: String,
    /// The route.
    pub endpoint: FrontendEndpoint,
    /// Stream or unary.
    pub request_type: RequestType,
    /// Success or error.
    pub status: Status,
    /// Why it failed.
    pub error_type: FrontendErrorType,
}

/// A `model` label, lower-cased as Dynamo does.
#[derive(LabelSet, Debug)]
pub struct ModelLabels {
    /// The model, lower-cased.
    pub model: String,
}

impl ModelLabels {
    /// The label of `model`, lower-cased.
    pub fn new(model: &str) -> Self {
        ModelLabels {
            model: model.to_lowercase(),
        }
    }
}

/// What a worker does in a disaggregated deployment.
#[derive(LabelValue, Clone, Copy, Debug, PartialEq, Eq)]
pub enum WorkerType {
    /// Computes prompts' KV caches.
    Prefill,
    /// Generates tokens (every worker of an aggregated deployment).
    Decode,
}

/// The labels of the frontend's per-worker gauges: which worker (its id as the worker
/// reports it), its data-parallel rank, its type.
#[derive(LabelSet, Debug, Clone)]
pub struct WorkerLabels {
    /// The worker's id.
    pub worker_id: String,
    /// The data-parallel rank (`none` without data parallelism, as Dynamo writes it).
    pub dp_rank: String,
    /// Prefill or decode.
    pub worker_type: WorkerType,
}

/// A `worker_type` label.
#[derive(LabelSet, Debug, Clone)]
pub struct WorkerTypeLabels {
    /// Prefill or decode.
    pub worker_type: WorkerType,
}

/// The metrics of an OpenAI-compatible HTTP frontend, `dynamo_frontend_*`.
///
/// Bucket bounds are log-spaced (see [`log_buckets`](crate::log_buckets)) and can be replaced
/// at registration by `DYN_METRICS_<NAME>_MIN`, `_MAX` and `_COUNT` for `REQUEST_DURATION`,
/// `INPUT_SEQUENCE`, `OUTPUT_SEQUENCE`, `TTFT` and `ITL`.
#[derive(crate::DynamoMetrics, Debug)]
#[metrics(subsystem = "frontend")]
pub struct FrontendMetrics {
    /// Total number of LLM requests processed
    #[metric(striped)]
    pub requests_total: IntCounterFamily<RequestLabels>,
    /// Number of requests in flight
    #[metric(striped)]
    pub inflight_requests: IntGaugeFamily<ModelLabels>,
    /// Number of requests waiting for their first token
    pub queued_requests: IntGaugeFamily<ModelLabels>,
    /// Clients that disconnected before their response ended
    pub disconnected_clients_total: IntCounterFamily<ModelLabels>,
    /// Time from request to the end of its response in seconds
    #[metric(
        unit = "seconds",
        buckets = log(0.01, 600, 16),
        buckets_env = "DYN_METRICS_REQUEST_DURATION",
        native
    )]
    pub request_duration: HistogramFamily<ModelLabels>,
    /// Input sequence length in tokens
    #[metric(buckets = log(50, 128000, 12), buckets_env = "DYN_METRICS_INPUT_SEQUENCE")]
    pub input_sequence_tokens: HistogramFamily<ModelLabels>,
    /// Output sequence length in tokens
    #[metric(buckets = log(50, 32000, 10), buckets_env = "DYN_METRICS_OUTPUT_SEQUENCE")]
    pub output_sequence_tokens: HistogramFamily<ModelLabels>,
    /// Total number of output tokens generated
    #[metric(striped)]
    pub output_tokens_total: IntCounterFamily<ModelLabels>,
    /// Prompt tokens served from the KV cache per request
    #[metric(buckets = log(50, 128000, 12))]
    pub cached_tokens: HistogramFamily<ModelLabels>,
    /// Time to first token in seconds
    #[metric(
        unit = "seconds",
        buckets = log(0.001, 480, 18),
        buckets_env = "DYN_METRICS_TTFT",
        native
    )]
    pub time_to_first_token: HistogramFamily<ModelLabels>,
    /// Inter-token latency in seconds
    #[metric(
        unit = "seconds",
        buckets = log(0.001, 80, 20),
        buckets_env = "DYN_METRICS_ITL",
        native,
        striped
    )]
    pub inter_token_latency: HistogramFamily<ModelLabels>,
    /// Context length of the model in tokens
    pub model_context_length: IntGaugeFamily<ModelLabels>,
    /// KV cache block size of the model in tokens
    pub model_kv_cache_block_size: IntGaugeFamily<ModelLabels>,
    /// Total KV cache blocks of the model
    pub model_total_kv_blocks: IntGaugeFamily<ModelLabels>,
    /// Maximum number of sequences the model runs at once
    pub model_max_num_seqs: IntGaugeFamily<ModelLabels>,
    /// KV cache blocks in use for decoding on each worker, as the router sees them
    pub worker_active_decode_blocks: IntGaugeFamily<WorkerLabels>,
    /// Prompt tokens being prefilled on each worker, as the router sees them
    pub worker_active_prefill_tokens: IntGaugeFamily<WorkerLabels>,
    /// Requests waiting in the router's queue for a worker
    pub router_queue_pending_requests: IntGaugeFamily<WorkerTypeLabels>,
}

impl FrontendMetrics {
    /// Creates at zero every series of `model` (lower-cased): each outcome of
    /// `requests_total` the frontend can report (every route and request type, success, and
    /// an error of each `error_type`), the gauges, counters and histograms by model; so that
    /// the rate of a rare error reads 0 from the start, not "no data".
    pub fn serve_model(&self, model: &str) {
        let labels = ModelLabels::new(model);
        let outcomes = [(Status::Success, FrontendErrorType::None)]
            .into_iter()
            .chain(
                [
                    FrontendErrorType::Validation,
                    FrontendErrorType::NotFound,
                    FrontendErrorType::Overload,
                    FrontendErrorType::Cancelled,
                    FrontendErrorType::ResponseTimeout,
                    FrontendErrorType::Internal,
                    FrontendErrorType::NotImplemented,
                ]
                .map(|e| (Status::Error, e)),
            );
        for (status, error_type) in outcomes {
            for endpoint in [
                FrontendEndpoint::ChatCompletions,
                FrontendEndpoint::Completions,
            ] {
                for request_type in [RequestType::Stream, RequestType::Unary] {
                    self.requests_total.get(&RequestLabels {
                        model: labels.model.clone(),
                        endpoint,
                        request_type,
                        status,
                        error_type,
                    });
                }
            }
        }
        for gauge in [
            &self.inflight_requests,
            &self.queued_requests,
            &self.model_context_length,
            &self.model_kv_cache_block_size,
            &self.model_total_kv_blocks,
            &self.model_max_num_seqs,
        ] {
            gauge.get(&labels);
        }
        for counter in [&self.disconnected_clients_total, &self.output_tokens_total] {
            counter.get(&labels);
        }
        for histogram in [
            &self.request_duration,
            &self.input_sequence_tokens,
            &self.output_sequence_tokens,
            &self.cached_tokens,
            &self.time_to_first_token,
            &self.inter_token_latency,
        ] {
            histogram.get(&labels);
        }
    }
}

/// What went wrong in preprocessing.
#[derive(LabelValue, Clone, Copy, Debug, PartialEq, Eq)]
pub enum PreprocessorErrorType {
    /// The request cannot be preprocessed (no messages, no prompt).
    InvalidRequest,
    /// The chat template failed.
    Template,
    /// Tokenizing failed.
    Tokenize,
}

/// The labels of `dynamo_preprocessor_errors_total`.
#[derive(LabelSet, Debug)]
pub struct PreprocessorErrorLabels {
    /// The model, lower-cased.
    pub model: String,
    /// What went wrong.
    pub error_type: PreprocessorErrorType,
}

/// The metrics of the preprocessor (chat template and tokenizer), `dynamo_preprocessor_*`.
#[derive(crate::DynamoMetrics, Debug)]
#[metrics(subsystem = "preprocessor")]
pub struct PreprocessorMetrics {
    /// Total number of requests preprocessed
    pub requests_total: IntCounterFamily<ModelLabels>,
    /// Time spent applying the chat template in seconds
    #[metric(unit = "seconds", buckets = exponential(0.00001, 4, 10))]
    pub template_duration: HistogramFamily<ModelLabels>,
    /// Time spent tokenizing in seconds
    #[metric(unit = "seconds", buckets = exponential(0.00001, 4, 10))]
    pub tokenize_duration: HistogramFamily<ModelLabels>,
    /// Total number of input tokens produced
    pub input_tokens_total: IntCounterFamily<ModelLabels>,
    /// Total number of requests that failed preprocessing
    pub errors_total: IntCounterFamily<PreprocessorErrorLabels>,
}
