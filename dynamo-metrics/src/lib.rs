//! Prometheus metrics for Dynamo-style distributed inference services.
//!
//! A [`DistributedRuntime`] is the root of a hierarchy of [`Namespace`]s, [`Component`]s and
//! [`Endpoint`]s. Each level implements [`MetricsRegistry`] and creates metrics named
//! `dynamo_<subsystem>_<name>` that carry the hierarchy labels of the level:
//!
//! ```
//! use dynamo_metrics::{DistributedRuntime, MetricsRegistry};
//!
//! # fn main() -> Result<(), dynamo_metrics::Error> {
//! let runtime = DistributedRuntime::new()?;
//! let endpoint = runtime.namespace("demo")?.component("backend")?.endpoint("generate")?;
//! let requests = endpoint.create_intcounter("requests_total", "Requests handled", &[])?;
//! requests.inc();
//!
//! let text = runtime.render();
//! # #[cfg(feature = "metrics")]
//! assert!(text.contains(
//!     "# TYPE dynamo_component_requests_total counter\n\
//!      dynamo_component_requests_total{dynamo_namespace=\"demo\",\
//!      dynamo_component=\"backend\",dynamo_endpoint=\"generate\"} 1\n"
//! ));
//! # Ok(())
//! # }
//! ```
//!
//! Details:
//! - Metric types live on atomics: incrementing a resolved series is one atomic operation
//!   (floats: one compare-and-swap loop). Each type also implements
//!   [`prometheus::core::Collector`], so it can be registered in a plain
//!   `prometheus::Registry`.
//! - Names and labels follow one rule table ([`dynamo_metrics_naming`]); breaking a rule is
//!   a typed [`Error`], never a panic and never a silent rewrite.
//! - [`DistributedRuntime::render`] writes the text format 0.0.4: every family once, sorted,
//!   with series text rendered once at creation, so a scrape costs little more than
//!   formatting the numbers.
//! - The system status server ([`DistributedRuntime::start_system_server`], or
//!   `DYN_SYSTEM_PORT` with [`DistributedRuntime::from_env`]) serves `/metrics`, `/health`
//!   and `/live`.
#![warn(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]
// With `metrics` off the recording machinery still checks declarations but records nothing.
#![cfg_attr(not(feature = "metrics"), allow(dead_code))]

mod catalog;
mod config;
mod endpoint;
mod error;
mod hierarchy;
mod labels;
mod metrics;
mod registry;
mod runtime;
mod server;
mod text;
mod typed;

pub use catalog::{MetricDescriptor, catalog, check_catalog};
pub use config::{RuntimeConfig, SystemServerConfig};
pub use dynamo_metrics_naming as naming;
pub use endpoint::{
    DEFAULT_ERROR_TYPE, EndpointMetrics, ErrorType, PANIC_ERROR_TYPE, PayloadSize,
    REQUEST_DURATION_BUCKETS, RequestGuard,
};
pub use error::{Error, Result};
pub use hierarchy::{Component, Endpoint, Level, MetricsRegistry, MetricsScope, Namespace};
pub use labels::{LabelField, LabelSet, LabelValue};
pub use metrics::{
    Counter, CounterVec, DEFAULT_BUCKETS, Gauge, GaugeVec, Histogram, HistogramVec, IntCounter,
    IntCounterVec, IntGauge, IntGaugeVec, OVERFLOW, exponential_buckets, linear_buckets,
};
pub use prometheus;
pub use runtime::DistributedRuntime;
pub use text::CONTENT_TYPE;
pub use typed::{
    CounterFamily, DEFAULT_MAX_SERIES, DynamoMetrics, GaugeFamily, HistogramFamily,
    IntCounterFamily, IntGaugeFamily, LabeledFamily, MetricField, SeriesHandle,
};

#[cfg(feature = "derive")]
pub use dynamo_metrics_derive::{
    DynamoMetrics, ErrorType, LabelSet, LabelValue, instrument_endpoint,
};

/// What generated code names. Not public API: it changes without notice.
#[doc(hidden)]
pub mod __private {
    pub use crate::catalog::RuntimeMetrics;
    pub use crate::endpoint::probe::{
        NoPayloadSize, NotAnError, Probe, ViaErrorType, ViaPayloadSize, ViaResult,
    };
    pub use crate::endpoint::{EndpointSite, InstrumentedStream, StaticEndpoint};
    pub use crate::labels::{cardinality, contains};
    pub use crate::typed::{FieldSpec, check_level};
    pub use inventory;

    use dynamo_metrics_naming::MetricKind;

    /// Whether two kinds are the same, in a const context.
    pub const fn same_kind(a: MetricKind, b: MetricKind) -> bool {
        a as u8 == b as u8
    }
}
