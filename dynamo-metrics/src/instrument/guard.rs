//! The request metrics of one endpoint and the guard of one request: [`EndpointMetrics`],
//! [`RequestGuard`], and the table of the endpoint families.

use std::sync::Arc;

use dynamo_metrics_naming::{self as naming, MetricKind};
use std::sync::OnceLock;

use crate::describe::MetricDescriptor;
use crate::error::Result;
use crate::metrics::{Cell, Histogram, IntCounter, IntCounterVec, IntGauge, Series};
use crate::scope::{Level, MetricsRegistry, MetricsScope};

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
    ),
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
fn series<C: Cell>(scope: &MetricsScope, desc: &MetricDescriptor) -> Result<Arc<Series<C>>> {
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
        Self::create(&scope)
    }

    pub(crate) fn create(r: &MetricsScope) -> Result<Self> {
        let [
            requests,
            duration,
            inflight,
            request_bytes,
            response_bytes,
            errors,
            cancellations,
        ] = &DESCRIPTORS;
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

    /// Counts a request as started and returns the guard that finishes it: dropping the
    /// guard without [`RequestGuard::finish`] counts a cancellation (or, while panicking, a
    /// `panic` error); either way the in-flight gauge goes back down and the duration is
    /// observed.
    pub fn start(&self) -> RequestGuard<'_> {
        self.requests.inc();
        self.inflight.inc();
        RequestGuard::new(Held::Borrowed(self))
    }

    /// As [`start`](Self::start), on the pending cells of `site` (these metrics), which it
    /// tells when done.
    pub(crate) fn start_pending(&'static self, site: &'static dyn Settle) -> RequestGuard<'static> {
        self.requests.inc();
        self.inflight.inc();
        RequestGuard::new(Held::Pending(site))
    }

    /// As [`start`](Self::start), the guard sharing ownership of the metrics, so it may
    /// outlive the runtime they were resolved from.
    pub(crate) fn start_shared(self: Arc<Self>) -> RequestGuard<'static> {
        self.requests.inc();
        self.inflight.inc();
        RequestGuard::new(Held::Shared(self))
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

/// One request in flight. See [`EndpointMetrics::start`].
///
/// Durations are measured with a TSC-based clock (`quanta`), about a third of the cost of
/// `std::time::Instant::now` per read; it falls back to the OS clock where the TSC is not
/// reliable. The start is a raw counter reading; only the difference is scaled to time.
#[derive(Debug)]
pub struct RequestGuard<'a> {
    metrics: Held<'a>,
    started: u64,
    finished: bool,
}

/// The process's clock for request durations.
#[inline]
fn clock() -> &'static quanta::Clock {
    static CLOCK: OnceLock<quanta::Clock> = OnceLock::new();
    CLOCK.get_or_init(quanta::Clock::new)
}

/// What owns pending cells: told when a guard that recorded into them is done.
pub(crate) trait Settle: Sync + std::fmt::Debug {
    /// The pending cells.
    fn pending(&'static self) -> Option<&'static EndpointMetrics>;
    /// Moves the pending records to a live runtime, if there is one now.
    fn settle(&'static self);
}

/// The metrics a guard records into.
#[derive(Debug)]
pub(crate) enum Held<'a> {
    /// Nowhere (the pending metrics could not be created).
    Nothing,
    Borrowed(&'a EndpointMetrics),
    Shared(Arc<EndpointMetrics>),
    /// The pending cells of an instrumented function, while no runtime is alive; the
    /// function moves them on when the guard is done.
    Pending(&'static dyn Settle),
}

impl<'a> RequestGuard<'a> {
    pub(crate) fn new(metrics: Held<'a>) -> Self {
        RequestGuard {
            metrics,
            started: clock().raw(),
            finished: false,
        }
    }

    #[inline]
    fn metrics(&self) -> Option<&EndpointMetrics> {
        match &self.metrics {
            Held::Nothing => None,
            Held::Borrowed(m) => Some(m),
            Held::Pending(site) => site.pending(),
            Held::Shared(m) => Some(m),
        }
    }

    /// Adds request payload bytes.
    #[inline]
    pub fn request_bytes(&self, n: u64) {
        if let Some(m) = self.metrics()
            && n > 0
        {
            m.request_bytes.inc_by(n);
        }
    }

    /// Adds response payload bytes.
    #[inline]
    pub fn response_bytes(&self, n: u64) {
        if let Some(m) = self.metrics()
            && n > 0
        {
            m.response_bytes.inc_by(n);
        }
    }

    /// Counts an error of type `error_type`. The family holds at most
    /// [`DEFAULT_MAX_SERIES`](crate::DEFAULT_MAX_SERIES) series; more error types fold into
    /// its overflow series, counted by `dynamo_metrics_series_overflow_total`.
    pub fn error(&self, error_type: &str) {
        if let Some(m) = self.metrics() {
            m.errors.lookup(&[error_type]).inc();
        }
    }

    /// Marks the request complete; the guard's drop then records no cancellation.
    pub fn finish(mut self) {
        self.finished = true;
    }
}

impl Drop for RequestGuard<'_> {
    fn drop(&mut self) {
        let Some(m) = self.metrics() else { return };
        if !self.finished {
            if std::thread::panicking() {
                self.error(PANIC_ERROR_TYPE);
            } else {
                m.cancellations.inc();
            }
        }
        let clock = clock();
        #[allow(clippy::cast_precision_loss)] // durations below 2^53 ns, 104 days, are exact
        let elapsed = clock.delta_as_nanos(self.started, clock.raw()) as f64 * 1e-9;
        // Within a trace (see `trace::with_trace_id`), the duration carries its id.
        match crate::trace::current_trace_id() {
            Some(trace) => m
                .duration
                .observe_with_exemplar(elapsed, &[("trace_id", &trace)]),
            None => m.duration.observe(elapsed),
        }
        m.inflight.dec();
        if let Held::Pending(site) = self.metrics {
            site.settle();
        }
    }
}
