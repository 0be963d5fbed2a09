//! The request metrics of one endpoint, [`EndpointMetrics`], and the table of the endpoint
//! families.

use std::sync::Arc;

use dynamo_metrics_naming::{self as naming, MetricKind};

use super::calls::{CallTable, DurationBuckets};
use crate::describe::MetricDescriptor;
use crate::error::Result;
use crate::metrics::timer;
use crate::metrics::{Histogram, IntCounter, IntCounterVec, IntGauge, Series, SeriesCell};
use crate::registry::scope::{Level, MetricsRegistry, MetricsScope};

/// Bucket bounds of `dynamo_component_request_duration_seconds`, in seconds: from 5 ms to
/// 10 minutes, so long generations are not clipped at the top bucket.
pub const REQUEST_DURATION_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0,
    600.0,
];

/// The `error_type` of a handler that panicked.
pub const PANIC_ERROR_TYPE: &str = naming::PANIC_ERROR_TYPE;
/// The `error_type` of an error whose type does not implement [`ErrorType`](crate::ErrorType).
pub const DEFAULT_ERROR_TYPE: &str = naming::DEFAULT_ERROR_TYPE;

/// One family of the endpoint metrics, declared by this crate.
const fn family(
    short_name: &'static str,
    name: &'static str,
    kind: MetricKind,
    value_type: &'static str,
    help: &'static str,
) -> MetricDescriptor {
    MetricDescriptor::__new(
        naming::DEFAULT_SUBSYSTEM,
        short_name,
        name,
        kind,
        value_type,
        help,
    )
    .__level(Level::Endpoint)
    .__declared(
        "dynamo_metrics::EndpointMetrics",
        file!(),
        line!(),
        column!(),
    )
}

/// The endpoint metric families, in the order of [`EndpointMetrics`]' fields. Adding one is
/// a row here and a field there.
pub(crate) const DESCRIPTORS: [MetricDescriptor; 7] = [
    family(
        "requests_total",
        "dynamo_component_requests_total",
        MetricKind::Counter,
        "u64",
        "Total number of requests processed by work handler",
    )
    .__striped(),
    family(
        "request_duration_seconds",
        "dynamo_component_request_duration_seconds",
        MetricKind::Histogram,
        "f64",
        "Time spent processing requests by work handler",
    )
    .__buckets(Some(REQUEST_DURATION_BUCKETS), None)
    .__native(
        naming::NativeParams::DEFAULT.factor,
        naming::NativeParams::DEFAULT.max_buckets,
    )
    .__striped(),
    family(
        "inflight_requests",
        "dynamo_component_inflight_requests",
        MetricKind::Gauge,
        "i64",
        "Number of requests currently being processed by work handler",
    )
    .__striped(),
    family(
        "request_bytes_total",
        "dynamo_component_request_bytes_total",
        MetricKind::Counter,
        "u64",
        "Total number of bytes received in requests by work handler",
    )
    .__striped(),
    family(
        "response_bytes_total",
        "dynamo_component_response_bytes_total",
        MetricKind::Counter,
        "u64",
        "Total number of bytes sent in responses by work handler",
    )
    .__striped(),
    family(
        "errors_total",
        "dynamo_component_errors_total",
        MetricKind::Counter,
        "u64",
        "Total number of errors in work handler processing",
    )
    .__labels(&["error_type"]),
    family(
        "cancellation_total",
        "dynamo_component_cancellation_total",
        MetricKind::Counter,
        "u64",
        "Total number of requests cancelled by work handler",
    ),
];

/// The one series of the label-less family `desc` in `scope`.
fn series<C: SeriesCell>(scope: &MetricsScope, desc: &MetricDescriptor) -> Result<Series<C>> {
    scope.declared(desc)?.series(&[])
}

/// The request metrics of one endpoint: the `dynamo_component_*` families every endpoint
/// has, with its hierarchy labels.
#[derive(Clone, Debug)]
pub struct EndpointMetrics {
    requests: IntCounter,
    duration: Histogram,
    inflight: IntGauge,
    request_bytes: IntCounter,
    response_bytes: IntCounter,
    errors: IntCounterVec,
    cancellations: IntCounter,
}

impl EndpointMetrics {
    /// Creates (or finds) the request metrics on `registry`, normally an
    /// [`Endpoint`](crate::Endpoint). The `handler` and `panic` error series start at zero.
    ///
    /// # Errors
    /// [`Error::Conflict`](crate::Error::Conflict) when a family of the same name was declared
    /// differently.
    pub fn register<R: MetricsRegistry + ?Sized>(registry: &R) -> Result<Self> {
        let scope = registry.with_subsystem(dynamo_metrics_naming::DEFAULT_SUBSYSTEM)?;
        Self::create(&scope, true)
    }

    /// Creates the metrics in `r`; the families the table stripes are striped when
    /// `striped`.
    pub(crate) fn create(r: &MetricsScope, striped: bool) -> Result<Self> {
        let descriptors = DESCRIPTORS.map(|mut d| {
            d.striped &= striped;
            d
        });
        let [
            requests,
            duration,
            inflight,
            request_bytes,
            response_bytes,
            errors,
            cancellations,
        ] = &descriptors;
        let overflows = r.overflow_counter(errors.name)?;
        let errors = IntCounterVec::from_view(r.declared(errors)?);
        errors.count_overflows_in(overflows);
        for t in [DEFAULT_ERROR_TYPE, PANIC_ERROR_TYPE] {
            errors.with_label_values(&[t])?;
        }
        Ok(EndpointMetrics {
            requests: IntCounter::from_series(series(r, requests)?),
            duration: Histogram::from_series(series(r, duration)?),
            inflight: IntGauge::from_series(series(r, inflight)?),
            request_bytes: IntCounter::from_series(series(r, request_bytes)?),
            response_bytes: IntCounter::from_series(series(r, response_bytes)?),
            errors,
            cancellations: IntCounter::from_series(series(r, cancellations)?),
        })
    }

    /// Counts a request as started.
    #[inline]
    pub(crate) fn begin(&self) {
        self.requests.inc();
        self.inflight.inc();
    }

    /// Counts a request as done after `ticks` of the clock: cancelled (or, while panicking,
    /// failed with a `panic` error) unless `finished`.
    #[inline]
    pub(crate) fn end(&self, ticks: u64, finished: bool) {
        self.outcome(finished);
        if !self.observe_traced(ticks) {
            self.duration.observe(timer::seconds(ticks));
        }
        self.inflight.dec();
    }

    /// Counts a cancellation (or, while panicking, a `panic` error) unless `finished`.
    #[inline]
    pub(crate) fn outcome(&self, finished: bool) {
        if !finished {
            if std::thread::panicking() {
                self.error(PANIC_ERROR_TYPE);
            } else {
                self.cancellations.inc();
            }
        }
    }

    /// Within a trace (see `trace::with_trace_id`), observes a duration of `ticks` with the
    /// trace's id as exemplar; whether it did.
    #[inline]
    pub(crate) fn observe_traced(&self, ticks: u64) -> bool {
        match crate::trace::current_trace_id() {
            Some(trace) => {
                self.duration
                    .observe_with_exemplar(timer::seconds(ticks), &[("trace_id", &trace)]);
                true
            }
            None => false,
        }
    }

    /// How the thread records of instrumented calls count durations: as the duration family
    /// does.
    pub(crate) fn call_shape() -> DurationBuckets {
        let [_, duration, ..] = &DESCRIPTORS;
        DurationBuckets::new(
            duration.buckets.unwrap_or(REQUEST_DURATION_BUCKETS),
            duration.native,
        )
    }

    /// Makes the request, in-flight and duration series count the calls of `functions` that
    /// `table` records, beside their own; `false` (and nothing changed) unless all three
    /// take a source: striped, as they are when a runtime made these metrics, and not yet
    /// counting another table's.
    pub(crate) fn count_calls_of(&self, table: &Arc<CallTable>, functions: &Arc<[usize]>) -> bool {
        if !(self.requests.takes_source()
            && self.inflight.takes_source()
            && self.duration.takes_source())
        {
            return false;
        }
        let (t, f) = (table.clone(), functions.clone());
        let requests = self.requests.set_source(Box::new(move || t.started(&f)));
        let (t, f) = (table.clone(), functions.clone());
        let inflight = self.inflight.set_source(Box::new(move || t.in_flight(&f)));
        let (t, f) = (table.clone(), functions.clone());
        let duration = self
            .duration
            .set_source(Box::new(move |tally| t.tally(&f, tally)));
        requests && inflight && duration
    }

    /// Adds request payload bytes.
    #[inline]
    pub(crate) fn request_bytes(&self, n: u64) {
        if n > 0 {
            self.request_bytes.inc_by(n);
        }
    }

    /// Adds response payload bytes.
    #[inline]
    pub(crate) fn response_bytes(&self, n: u64) {
        if n > 0 {
            self.response_bytes.inc_by(n);
        }
    }

    /// Counts an error of type `error_type`.
    pub(crate) fn error(&self, error_type: &str) {
        self.errors.lookup(&[error_type]).inc();
    }

    pub(crate) fn drain_into(&self, other: &EndpointMetrics) {
        self.requests.drain_into(&other.requests);
        self.duration.drain_into(&other.duration);
        self.inflight.drain_into(&other.inflight);
        self.request_bytes.drain_into(&other.request_bytes);
        self.response_bytes.drain_into(&other.response_bytes);
        self.errors.drain_into(&other.errors);
        self.cancellations.drain_into(&other.cancellations);
    }
}
