//! The metrics of a KV-aware router and of the KV caches it routes by, declared with this
//! crate's own derive: [`RouterOverheadMetrics`], [`RouterRequestMetrics`],
//! [`KvIndexerMetrics`], [`KvStatsMetrics`]. Names, labels and buckets are Dynamo's, so its
//! dashboards read them unchanged.

use crate::{GaugeFamily, HistogramFamily, IntCounterFamily, IntGaugeFamily, LabelSet, LabelValue};

/// The `router_id` label: which router (a frontend may run several) did the work.
#[derive(LabelSet, Debug, Clone)]
pub struct RouterLabels {
    /// The router's id.
    pub router_id: String,
}

/// Time spent in each stage of routing one request, `dynamo_router_overhead_*_ms`, by
/// `router_id`. Hashing is microseconds (`exponential(0.001, 2, 15)` ms); finding matches,
/// scheduling and the whole are up to seconds (`exponential(0.01, 3, 17)` ms).
#[derive(crate::DynamoMetrics, Debug)]
#[metrics(subsystem = "router")]
pub struct RouterOverheadMetrics {
    /// Time spent hashing the request's tokens into KV blocks, in milliseconds
    #[metric(buckets = exponential(0.001, 2, 15))]
    pub overhead_block_hashing_ms: HistogramFamily<RouterLabels>,
    /// Time spent chaining block hashes into sequence hashes, in milliseconds
    #[metric(buckets = exponential(0.001, 2, 15))]
    pub overhead_seq_hashing_ms: HistogramFamily<RouterLabels>,
    /// Time spent finding the workers that hold the request's blocks, in milliseconds
    #[metric(buckets = exponential(0.01, 3, 17))]
    pub overhead_indexer_find_matches_ms: HistogramFamily<RouterLabels>,
    /// Time spent choosing a worker from overlaps and loads, in milliseconds
    #[metric(buckets = exponential(0.01, 3, 17))]
    pub overhead_scheduling_ms: HistogramFamily<RouterLabels>,
    /// Time spent routing the request in all, in milliseconds
    #[metric(buckets = exponential(0.01, 3, 17))]
    pub overhead_total_ms: HistogramFamily<RouterLabels>,
}

/// The requests a KV router routed, `dynamo_component_router_*`, on the router's component,
/// by `router_id`. Token counts and latencies as the frontend's; `kv_hit_rate` is the share
/// of a request's prompt blocks the chosen worker already held.
#[derive(crate::DynamoMetrics, Debug)]
#[metrics(level = "component")]
pub struct RouterRequestMetrics {
    /// Total number of requests routed
    pub router_requests_total: IntCounterFamily<RouterLabels>,
    /// Time to first token of routed requests in seconds
    #[metric(unit = "seconds", buckets = log(0.001, 480, 18))]
    pub router_time_to_first_token: HistogramFamily<RouterLabels>,
    /// Inter-token latency of routed requests in seconds
    #[metric(unit = "seconds", buckets = log(0.001, 2, 13))]
    pub router_inter_token_latency: HistogramFamily<RouterLabels>,
    /// Input sequence length of routed requests in tokens
    #[metric(buckets = log(50, 128000, 12))]
    pub router_input_sequence_tokens: HistogramFamily<RouterLabels>,
    /// Output sequence length of routed requests in tokens
    #[metric(buckets = log(50, 32000, 10))]
    pub router_output_sequence_tokens: HistogramFamily<RouterLabels>,
    /// Share of a routed request's prompt blocks found in the chosen worker's KV cache
    #[metric(buckets = linear(0, 0.05, 21))]
    pub router_kv_hit_rate: HistogramFamily<RouterLabels>,
    /// Estimated time to move the missing KV blocks to the chosen worker in seconds
    #[metric(unit = "seconds", buckets = log(0.001, 10, 15))]
    pub router_kv_transfer_estimated_latency: HistogramFamily<RouterLabels>,
    /// Queries to a remote indexer that failed
    pub router_remote_indexer_query_failures_total: IntCounterFamily<RouterLabels>,
    /// Writes to a remote indexer that failed
    pub router_remote_indexer_write_failures_total: IntCounterFamily<RouterLabels>,
}

/// What a KV cache event did.
#[derive(LabelValue, Clone, Copy, Debug, PartialEq, Eq)]
pub enum KvEventType {
    /// Blocks entered a worker's cache.
    Stored,
    /// Blocks left it.
    Removed,
    /// The whole cache was dropped.
    Cleared,
}

/// How applying a KV cache event to the index went.
#[derive(LabelValue, Clone, Copy, Debug, PartialEq, Eq)]
pub enum KvEventStatus {
    /// Applied.
    Ok,
    /// A stored block's parent is not in the index.
    ParentBlockNotFound,
    /// A removed block is not in the index.
    BlockNotFound,
    /// The event names no block, or one that cannot be.
    InvalidBlock,
}

/// The labels of `dynamo_component_kv_cache_events_applied`.
#[derive(LabelSet, Debug)]
pub struct KvEventLabels {
    /// What the event did.
    pub event_type: KvEventType,
    /// How applying it went.
    pub status: KvEventStatus,
}

/// The KV index of a router: the cache events of workers it applied, on the router's
/// component, every `event_type` x `status` at zero from the start.
#[derive(crate::DynamoMetrics, Debug)]
#[metrics(level = "component")]
pub struct KvIndexerMetrics {
    /// KV cache events applied to the index, by type and outcome. A gauge that only grows:
    /// Dynamo's name has no `_total`, which a counter needs, and its dashboards read it so
    #[metric(striped)]
    pub kv_cache_events_applied: IntGaugeFamily<KvEventLabels>,
}

/// The labels of a worker's KV cache: the model and the data-parallel rank.
#[derive(LabelSet, Debug, Clone)]
pub struct KvCacheLabels {
    /// The model, lower-cased.
    pub model: String,
    /// The data-parallel rank (`0` without data parallelism).
    pub dp_rank: String,
}

/// The KV cache a worker reports, on its component, by `model` and `dp_rank`.
#[derive(crate::DynamoMetrics, Debug)]
#[metrics(level = "component")]
pub struct KvStatsMetrics {
    /// Total KV cache blocks of the worker
    pub total_blocks: IntGaugeFamily<KvCacheLabels>,
    /// Share of the worker's KV cache blocks in use, from 0 to 1
    pub gpu_cache_usage_percent: GaugeFamily<KvCacheLabels>,
}

impl RouterOverheadMetrics {
    /// Creates the series of `router` at zero, before it routes its first request.
    pub fn add_router(&self, router: &RouterLabels) {
        for stage in [
            &self.overhead_block_hashing_ms,
            &self.overhead_seq_hashing_ms,
            &self.overhead_indexer_find_matches_ms,
            &self.overhead_scheduling_ms,
            &self.overhead_total_ms,
        ] {
            stage.get(router);
        }
    }
}

impl RouterRequestMetrics {
    /// Creates the series of `router` at zero, before it routes its first request.
    pub fn add_router(&self, router: &RouterLabels) {
        for counter in [
            &self.router_requests_total,
            &self.router_remote_indexer_query_failures_total,
            &self.router_remote_indexer_write_failures_total,
        ] {
            counter.get(router);
        }
        for histogram in [
            &self.router_time_to_first_token,
            &self.router_inter_token_latency,
            &self.router_input_sequence_tokens,
            &self.router_output_sequence_tokens,
            &self.router_kv_hit_rate,
            &self.router_kv_transfer_estimated_latency,
        ] {
            histogram.get(router);
        }
    }
}
