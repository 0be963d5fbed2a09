//! Prometheus metrics for Dynamo-style distributed inference services.
//!
//! A [`DistributedRuntime`] is the root of a hierarchy of [`Namespace`]s, [`Component`]s and
//! [`Endpoint`]s. Each level implements [`MetricsRegistry`] and creates metrics named
//! `dynamo_<subsystem>_<name>` that carry the hierarchy labels of the level. Metrics are
//! declared by hand, as a struct with [`#[derive(DynamoMetrics)]`](macro@DynamoMetrics), or
//! recorded for every call of a handler with [`#[instrument_endpoint]`](macro@instrument_endpoint):
//!
//! ```
//! use dynamo_metrics::{
//!     DistributedRuntime, DynamoMetrics, HistogramFamily, IntCounterFamily, LabelSet,
//!     LabelValue, MetricsRegistry, SystemServerConfig, instrument_endpoint,
//! };
//!
//! #[derive(LabelValue, Clone, Copy)]
//! enum Status {
//!     Success,
//!     Error,
//! }
//!
//! #[derive(LabelSet)]
//! struct Outcome {
//!     model: String,
//!     status: Status,
//! }
//!
//! #[derive(LabelSet)]
//! struct Model {
//!     model: String,
//! }
//!
//! /// Metrics of a request router, one family per field.
//! #[derive(DynamoMetrics)]
//! #[metrics(subsystem = "router", level = "runtime")]
//! struct Router {
//!     /// Requests routed, by model and outcome
//!     requests_total: IntCounterFamily<Outcome>,
//!     /// Time to first token
//!     #[metric(unit = "seconds", buckets = log(0.001, 480, 18))]
//!     time_to_first_token: HistogramFamily<Model>,
//! }
//!
//! // Counts requests, durations, bytes, errors and cancellations of the endpoint.
//! #[instrument_endpoint(component = "backend", endpoint = "generate")]
//! async fn generate(prompt: String) -> Result<String, std::io::Error> {
//!     Ok(prompt.to_uppercase())
//! }
//!
//! #[tokio::main(flavor = "current_thread")]
//! async fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     let runtime = DistributedRuntime::new()?;
//!     let server = SystemServerConfig::at(([127, 0, 0, 1], 0));
//!     # #[cfg(feature = "server")]
//!     let addr = runtime.start_system_server(server).await?; // GET /metrics, /health, /live
//!
//!     let router = Router::register(&runtime)?;
//!     let answer = generate("hello".into()).await?;
//!     router.requests_total.inc(&Outcome { model: "llama".into(), status: Status::Success });
//!     router.time_to_first_token.observe(&Model { model: "llama".into() }, 0.05);
//!
//!     let endpoint = runtime.namespace("dynamo")?.component("backend")?.endpoint("generate")?;
//!     let kv_blocks = endpoint.create_intgauge("kv_blocks", "KV cache blocks in use", &[])?;
//!     kv_blocks.set(42);
//!
//!     let text = runtime.render(); // what GET /metrics on `addr` serves
//!     let worker = runtime.worker_id().unwrap_or_default(); // on every series, generated
//!     # #[cfg(feature = "metrics")]
//!     for line in [
//!         format!(r#"dynamo_router_requests_total{{worker_id="{worker}",model="llama",status="success"}} 1"#),
//!         format!(r#"dynamo_component_requests_total{{dynamo_namespace="dynamo",dynamo_component="backend",dynamo_endpoint="generate",worker_id="{worker}"}} 1"#),
//!         format!(r#"dynamo_component_response_bytes_total{{dynamo_namespace="dynamo",dynamo_component="backend",dynamo_endpoint="generate",worker_id="{worker}"}} 5"#),
//!         format!(r#"dynamo_component_kv_blocks{{dynamo_namespace="dynamo",dynamo_component="backend",dynamo_endpoint="generate",worker_id="{worker}"}} 42"#),
//!     ] {
//!         assert!(text.lines().any(|l| l == line), "{line}");
//!     }
//!     # let _ = answer;
//!     # #[cfg(feature = "server")]
//!     # let _ = addr;
//!     runtime.shutdown().await;
//!     Ok(())
//! }
//! ```
//!
//! Details:
//! - Metric types live on atomics: incrementing a resolved series is one atomic operation
//!   (floats: one compare-and-swap loop); a family typed by a bounded [`LabelSet`] finds its
//!   series by index. Each type also implements [`prometheus::core::Collector`].
//! - Names and labels follow one rule table ([`dynamo_metrics_naming`]), checked at compile
//!   time by the macros and at run time otherwise; breaking a rule is a compile error or a
//!   typed [`Error`], never a panic and never a silent rewrite.
//! - Every macro-declared metric is in the [`catalog`]; a runtime refuses to start when two
//!   declarations of one family disagree, and creates the series of instrumented endpoints
//!   and runtime-level structs at zero when it starts.
//! - [`DistributedRuntime::render`] writes the text format 0.0.4: every family once, sorted,
//!   with series text rendered once at creation.
//! - Every instrumented call is recorded by the runtime it runs under: see
//!   [`DistributedRuntime::scope`] for the rules.
//! - Features: `metrics` (default) records and exports; off, every metric type is a
//!   zero-sized no-op with the same API and `#[instrument_endpoint]` leaves functions as
//!   written. `derive` (default) re-exports the macros. `server` (default) is the status
//!   server and [`DistributedRuntime::metrics_router`], the same routes to mount in an
//!   application's own axum server; off, axum and hyper are not compiled. `tls` (off by
//!   default) gives the status server TLS, client certificates and basic auth from a web
//!   configuration file (see [`SystemServerConfig::web_config_file`]); `gpu` the NVML gauges.
#![warn(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]
// With `metrics` off the recording machinery still checks declarations but records nothing.
#![cfg_attr(not(feature = "metrics"), allow(dead_code))]

// The built-in metrics use this crate's own derive, which names `::dynamo_metrics`.
extern crate self as dynamo_metrics;

#[cfg(feature = "derive")]
pub mod builtin;
mod describe;
mod error;
mod exposition;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzz;
#[cfg(feature = "gpu")]
mod gpu;
mod instrument;
mod metrics;
#[cfg(feature = "otlp")]
mod otlp;
mod registry;
mod relay;
mod runtime;
mod serve;
mod sync;
pub mod trace;
mod typed;

pub use describe::MetricDescriptor;
pub use dynamo_metrics_naming as naming;
pub use error::{Error, Result};
pub use exposition::{CONTENT_TYPE, Escaping, Format, Negotiated};
/// The trait a streaming handler's `impl Stream<Item = ..>` return type names, re-exported so
/// `#[instrument_endpoint]` handlers need no dependency of their own for it.
pub use futures_core::Stream;
#[cfg(feature = "gpu")]
pub use gpu::{GpuCollector, GpuConfig, GpuDevice, GpuReadings, GpuSource, NvmlSource};
pub use instrument::{
    DEFAULT_ERROR_TYPE, EndpointMetrics, ErrorType, PANIC_ERROR_TYPE, PayloadSize,
    REQUEST_DURATION_BUCKETS, RequestGuard,
};
pub use metrics::{
    Counter, CounterVec, DEFAULT_BUCKETS, Gauge, GaugeVec, Histogram, HistogramVec, IntCounter,
    IntCounterVec, IntGauge, IntGaugeVec, MAX_EXEMPLAR_LABEL_CHARS, OVERFLOW, exponential_buckets,
    linear_buckets, log_buckets,
};
#[cfg(feature = "otlp")]
pub use otlp::{OtlpConfig, OtlpProtocol, Temporality};
pub use prometheus;
pub use registry::catalog::{catalog, check_catalog};
pub use registry::hierarchy::{Component, Endpoint, Namespace};
pub use registry::scope::{Level, MetricsRegistry, MetricsScope};
pub use relay::RelaySource;
pub use runtime::DistributedRuntime;
pub use runtime::config::{RuntimeConfig, WorkerId};
pub use runtime::scoped::{Scoped, spawn, spawn_blocking};
pub use serve::config::SystemServerConfig;
pub use typed::family::{
    CounterFamily, DEFAULT_MAX_LABEL_LEN, DEFAULT_MAX_SERIES, GaugeFamily, HistogramFamily,
    IntCounterFamily, IntGaugeFamily, LabeledFamily, SeriesHandle,
};
pub use typed::fields::{DynamoMetrics, MetricField};
pub use typed::label_set::{LabelField, LabelSet, LabelValue};

#[cfg(feature = "derive")]
pub use dynamo_metrics_derive::{
    DynamoMetrics, ErrorType, LabelSet, LabelValue, instrument_endpoint,
};

/// What generated code names. Not public API: it changes without notice.
#[doc(hidden)]
pub mod __private {
    pub use crate::describe::Declared;
    pub use crate::instrument::probe::{
        NoPayloadSize, NotAnError, Probe, ViaErrorType, ViaPayloadSize, ViaResult,
    };
    pub use crate::instrument::site::{EndpointSite, StaticEndpoint};
    pub use crate::instrument::stream::InstrumentedStream;
    pub use crate::registry::catalog::RuntimeMetrics;
    pub use crate::typed::fields::check_level;
    pub use crate::typed::label_set::{cardinality, contains};
    pub use inventory;

    use dynamo_metrics_naming::MetricKind;

    /// Whether two kinds are the same, in a const context.
    pub const fn same_kind(a: MetricKind, b: MetricKind) -> bool {
        a as u8 == b as u8
    }
}
