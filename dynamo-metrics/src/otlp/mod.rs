//! Push to OpenTelemetry (feature `otlp`): every family a scrape shows, exported on a timer to
//! an OTLP receiver over gRPC or HTTP/protobuf. The encoding is the exposition layer's
//! (`exposition::otlp`); this module delivers it.
//!
//! - [`config`]: [`OtlpConfig`], in code and from the standard `OTEL_*` variables;
//! - `transport`: one request over HTTP/1.1 or HTTP/2, plain or TLS, and what its answer means;
//! - `decode`: the little it reads of answers (partial success, gRPC status details);
//! - `exporter`: the task that exports, retries, keeps the delta state and counts itself.
//!
//! It imports the exposition layer, the metric handles for its own families, and nothing of
//! the runtime: the runtime hands it a [`Source`].

pub(crate) mod config;
mod decode;
pub(crate) mod exporter;
mod transport;

pub use config::{OtlpConfig, OtlpProtocol, Temporality};

use crate::describe::{Declared, MetricDescriptor, runtime_family};
use crate::error::Result;
use crate::exposition::otlp::{Context, Resource};
use crate::metrics::{Histogram, IntCounter, IntCounterVec};
use crate::registry::scope::MetricsScope;

/// What the exporter exports: a runtime's families, encoded at the moment of each export.
pub(crate) trait Source: Send + Sync {
    /// Writes one `ExportMetricsServiceRequest` of everything a scrape would show now into
    /// `buffer` (see [`encode_request`](crate::exposition::otlp::encode_request)); where the
    /// message starts in it.
    fn encode_otlp(
        &self,
        resource: &Resource,
        ctx: &mut Context<'_>,
        buffer: &mut Vec<u8>,
    ) -> usize;
    /// When the runtime started, in nanoseconds since the epoch: the start of cumulative
    /// series.
    fn started_unix_nanos(&self) -> u64;
}

static EXPORTS: MetricDescriptor = runtime_family!(
    "dynamo_metrics::DistributedRuntime",
    "metrics",
    "otlp_exports_total",
    Counter,
    "u64",
    "OTLP exports by result: delivered whole (success), delivered with points rejected by the receiver (partial), or given up after the retries the export timeout allows (failure)",
)
.__labels(&["result"]);

static EXPORT_DURATION: MetricDescriptor = runtime_family!(
    "dynamo_metrics::DistributedRuntime",
    "metrics",
    "otlp_export_duration_seconds",
    Histogram,
    "f64",
    "Time to encode and deliver one OTLP export, retries included",
)
.__buckets(
    Some(&[
        0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
    ]),
    None,
);

static POINTS: MetricDescriptor = runtime_family!(
    "dynamo_metrics::DistributedRuntime",
    "metrics",
    "otlp_points_total",
    Counter,
    "u64",
    "OTLP data points by outcome: taken by the receiver (sent), refused by it in a partial success (rejected), or in an export that was given up (dropped; a delta export's changes go into the next one instead)",
)
.__labels(&["outcome"]);

static RETRIES: MetricDescriptor = runtime_family!(
    "dynamo_metrics::DistributedRuntime",
    "metrics",
    "otlp_retries_total",
    Counter,
    "u64",
    "OTLP requests sent again after a retryable answer or no answer",
);

inventory::submit! { Declared(&EXPORTS) }
inventory::submit! { Declared(&EXPORT_DURATION) }
inventory::submit! { Declared(&POINTS) }
inventory::submit! { Declared(&RETRIES) }

/// The exporter's own families, created at zero when it starts.
#[derive(Clone, Debug)]
pub(crate) struct OtlpMetrics {
    pub(crate) success: IntCounter,
    pub(crate) partial: IntCounter,
    pub(crate) failure: IntCounter,
    pub(crate) duration: Histogram,
    pub(crate) sent: IntCounter,
    pub(crate) rejected: IntCounter,
    pub(crate) dropped: IntCounter,
    pub(crate) retries: IntCounter,
}

impl OtlpMetrics {
    pub(crate) fn register(scope: &MetricsScope) -> Result<Self> {
        let exports = IntCounterVec::from_view(scope.declared(&EXPORTS)?);
        let points = IntCounterVec::from_view(scope.declared(&POINTS)?);
        Ok(OtlpMetrics {
            success: exports.with_label_values(&["success"])?,
            partial: exports.with_label_values(&["partial"])?,
            failure: exports.with_label_values(&["failure"])?,
            duration: Histogram::from_series(scope.declared(&EXPORT_DURATION)?.series(&[])?),
            sent: points.with_label_values(&["sent"])?,
            rejected: points.with_label_values(&["rejected"])?,
            dropped: points.with_label_values(&["dropped"])?,
            retries: IntCounter::from_series(scope.declared(&RETRIES)?.series(&[])?),
        })
    }
}
