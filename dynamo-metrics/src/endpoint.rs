//! Request metrics of endpoints, recorded by `#[instrument_endpoint]` or by hand through
//! [`EndpointMetrics::start`]. See [`EndpointMetrics`] for details.

use std::pin::Pin;
use std::sync::OnceLock;
use std::task::{Context, Poll};

use futures_core::Stream;
use quanta::Instant;

use dynamo_metrics_naming::MetricKind;

use crate::catalog::MetricDescriptor;
use crate::error::Result;
use crate::hierarchy::Level;
use crate::hierarchy::{MetricsRegistry, MetricsScope, root_scope};
use crate::metrics::{Histogram, IntCounter, IntCounterVec, IntGauge};
use crate::registry::Registry;
use crate::runtime::DistributedRuntime;

/// Bucket bounds of `dynamo_component_request_duration_seconds`, in seconds: from 5 ms to
/// 10 minutes, so long generations are not clipped at the top bucket.
pub const REQUEST_DURATION_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0,
    600.0,
];

/// The `error_type` of a handler that panicked.
pub const PANIC_ERROR_TYPE: &str = "panic";
/// The `error_type` of an error whose type does not implement [`ErrorType`].
pub const DEFAULT_ERROR_TYPE: &str = "handler";

/// The size in bytes of a request or response payload, for
/// `dynamo_component_request_bytes_total` and `dynamo_component_response_bytes_total`.
pub trait PayloadSize {
    /// How many bytes the payload has (serialised, for structured values).
    fn payload_size(&self) -> u64;
}

fn len(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}

impl PayloadSize for [u8] {
    fn payload_size(&self) -> u64 {
        len(self.len())
    }
}

impl PayloadSize for Vec<u8> {
    fn payload_size(&self) -> u64 {
        len(self.len())
    }
}

impl PayloadSize for str {
    fn payload_size(&self) -> u64 {
        len(self.len())
    }
}

impl PayloadSize for String {
    fn payload_size(&self) -> u64 {
        len(self.len())
    }
}

impl PayloadSize for bytes::Bytes {
    fn payload_size(&self) -> u64 {
        len(self.len())
    }
}

impl PayloadSize for serde_json::Value {
    fn payload_size(&self) -> u64 {
        struct Count(u64);
        impl std::io::Write for Count {
            fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
                self.0 += len(buf.len());
                Ok(buf.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let mut count = Count(0);
        match serde_json::to_writer(&mut count, self) {
            Ok(()) => count.0,
            Err(_) => 0,
        }
    }
}

impl PayloadSize for Vec<String> {
    fn payload_size(&self) -> u64 {
        self.iter().map(PayloadSize::payload_size).sum()
    }
}

impl PayloadSize for Vec<serde_json::Value> {
    fn payload_size(&self) -> u64 {
        self.iter().map(PayloadSize::payload_size).sum()
    }
}

impl<T: PayloadSize + ?Sized> PayloadSize for &T {
    fn payload_size(&self) -> u64 {
        (**self).payload_size()
    }
}

impl<T: PayloadSize + ?Sized> PayloadSize for Box<T> {
    fn payload_size(&self) -> u64 {
        (**self).payload_size()
    }
}

impl<T: PayloadSize> PayloadSize for Option<T> {
    fn payload_size(&self) -> u64 {
        self.as_ref().map_or(0, PayloadSize::payload_size)
    }
}

/// The successful value's size; an error has none.
impl<T: PayloadSize, E> PayloadSize for std::result::Result<T, E> {
    fn payload_size(&self) -> u64 {
        self.as_ref().map_or(0, PayloadSize::payload_size)
    }
}

/// A bounded name for an error, the `error_type` label of `dynamo_component_errors_total`.
/// Derive it on error enums with [`#[derive(ErrorType)]`](macro@crate::ErrorType); errors
/// of other types count as [`DEFAULT_ERROR_TYPE`].
pub trait ErrorType {
    /// The name of this error's kind: a short, bounded, snake_case word.
    fn error_type(&self) -> &'static str;
}

/// One family of the endpoint metrics: what it is created with and described by.
struct Spec {
    name: &'static str,
    full_name: &'static str,
    help: &'static str,
    kind: MetricKind,
    labels: &'static [&'static str],
    buckets: Option<&'static [f64]>,
}

const fn spec(
    name: &'static str,
    full_name: &'static str,
    help: &'static str,
    kind: MetricKind,
) -> Spec {
    Spec {
        name,
        full_name,
        help,
        kind,
        labels: &[],
        buckets: None,
    }
}

/// The endpoint metric families, in the order [`EndpointMetrics::create`] takes them.
const SPECS: [Spec; 7] = [
    spec(
        "requests_total",
        "dynamo_component_requests_total",
        "Total number of requests processed by work handler",
        MetricKind::Counter,
    ),
    Spec {
        buckets: Some(REQUEST_DURATION_BUCKETS),
        ..spec(
            "request_duration_seconds",
            "dynamo_component_request_duration_seconds",
            "Time spent processing requests by work handler",
            MetricKind::Histogram,
        )
    },
    spec(
        "inflight_requests",
        "dynamo_component_inflight_requests",
        "Number of requests currently being processed by work handler",
        MetricKind::Gauge,
    ),
    spec(
        "request_bytes_total",
        "dynamo_component_request_bytes_total",
        "Total number of bytes received in requests by work handler",
        MetricKind::Counter,
    ),
    spec(
        "response_bytes_total",
        "dynamo_component_response_bytes_total",
        "Total number of bytes sent in responses by work handler",
        MetricKind::Counter,
    ),
    Spec {
        labels: &["error_type"],
        ..spec(
            "errors_total",
            "dynamo_component_errors_total",
            "Total number of errors in work handler processing",
            MetricKind::Counter,
        )
    },
    spec(
        "cancellation_total",
        "dynamo_component_cancellation_total",
        "Total number of requests cancelled by work handler",
        MetricKind::Counter,
    ),
];

const fn descriptor(
    spec: &Spec,
    source: &'static str,
    file: &'static str,
    line: u32,
) -> MetricDescriptor {
    MetricDescriptor {
        name: spec.full_name,
        kind: spec.kind,
        help: spec.help,
        labels: spec.labels,
        const_labels: &[],
        subsystem: dynamo_metrics_naming::DEFAULT_SUBSYSTEM,
        level: Some(Level::Endpoint),
        buckets: spec.buckets,
        source,
        file,
        line,
    }
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

    fn create(r: &MetricsScope) -> Result<Self> {
        let [
            requests,
            duration,
            inflight,
            request_bytes,
            response_bytes,
            errors,
            cancellations,
        ] = &SPECS;
        let errors = r.create_intcountervec(errors.name, errors.help, errors.labels, &[])?;
        for t in [DEFAULT_ERROR_TYPE, PANIC_ERROR_TYPE] {
            errors.with_label_values(&[t])?;
        }
        Ok(EndpointMetrics {
            requests: r.create_intcounter(requests.name, requests.help, &[])?,
            duration: r.create_histogram(duration.name, duration.help, &[], duration.buckets)?,
            inflight: r.create_intgauge(inflight.name, inflight.help, &[])?,
            request_bytes: r.create_intcounter(request_bytes.name, request_bytes.help, &[])?,
            response_bytes: r.create_intcounter(response_bytes.name, response_bytes.help, &[])?,
            errors,
            cancellations: r.create_intcounter(cancellations.name, cancellations.help, &[])?,
        })
    }

    /// Counts a request as started and returns the guard that finishes it: dropping the
    /// guard without [`RequestGuard::finish`] counts a cancellation (or, while panicking, a
    /// `panic` error); either way the in-flight gauge goes back down and the duration is
    /// observed.
    pub fn start(&self) -> RequestGuard<'_> {
        self.requests.inc();
        self.inflight.inc();
        RequestGuard {
            metrics: Some(self),
            started: Instant::now(),
            finished: false,
            site: None,
        }
    }

    fn drain_into(&self, other: &EndpointMetrics) {
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
/// reliable.
#[derive(Debug)]
pub struct RequestGuard<'a> {
    metrics: Option<&'a EndpointMetrics>,
    started: Instant,
    finished: bool,
    site: Option<&'static StaticEndpoint>,
}

impl RequestGuard<'_> {
    /// Adds request payload bytes.
    #[inline]
    pub fn request_bytes(&self, n: u64) {
        if let Some(m) = self.metrics
            && n > 0
        {
            m.request_bytes.inc_by(n);
        }
    }

    /// Adds response payload bytes.
    #[inline]
    pub fn response_bytes(&self, n: u64) {
        if let Some(m) = self.metrics
            && n > 0
        {
            m.response_bytes.inc_by(n);
        }
    }

    /// Counts an error of type `error_type`.
    pub fn error(&self, error_type: &str) {
        if let Some(m) = self.metrics
            && let Ok(c) = m.errors.with_label_values(&[error_type])
        {
            c.inc();
        }
    }

    /// Marks the request complete; the guard's drop then records no cancellation.
    pub fn finish(mut self) {
        self.finished = true;
    }
}

impl Drop for RequestGuard<'_> {
    fn drop(&mut self) {
        let Some(m) = self.metrics else { return };
        if !self.finished {
            if std::thread::panicking() {
                self.error(PANIC_ERROR_TYPE);
            } else {
                m.cancellations.inc();
            }
        }
        m.duration.observe_duration(self.started.elapsed());
        m.inflight.dec();
        if let Some(site) = self.site {
            site.settle();
        }
    }
}

/// The statics behind one `#[instrument_endpoint]` function. Before a runtime attaches it,
/// requests are recorded in private cells; attaching moves them into the runtime's series,
/// so requests served before the runtime started are counted.
#[doc(hidden)]
#[derive(Debug)]
pub struct StaticEndpoint {
    component: &'static str,
    endpoint: &'static str,
    descriptors: [MetricDescriptor; 7],
    attached: OnceLock<EndpointMetrics>,
    pending: OnceLock<Option<EndpointMetrics>>,
}

impl StaticEndpoint {
    /// For the macro: the function `source` at `file:line` serves `component/endpoint`.
    pub const fn new(
        component: &'static str,
        endpoint: &'static str,
        source: &'static str,
        file: &'static str,
        line: u32,
    ) -> Self {
        let (s, f, l) = (source, file, line);
        StaticEndpoint {
            component,
            endpoint,
            descriptors: [
                descriptor(&SPECS[0], s, f, l),
                descriptor(&SPECS[1], s, f, l),
                descriptor(&SPECS[2], s, f, l),
                descriptor(&SPECS[3], s, f, l),
                descriptor(&SPECS[4], s, f, l),
                descriptor(&SPECS[5], s, f, l),
                descriptor(&SPECS[6], s, f, l),
            ],
            attached: OnceLock::new(),
            pending: OnceLock::new(),
        }
    }

    /// The descriptors of the endpoint metrics this function records.
    pub(crate) fn descriptors(&self) -> &[MetricDescriptor] {
        &self.descriptors
    }

    fn pending(&self) -> Option<&EndpointMetrics> {
        self.pending
            .get_or_init(|| {
                let scope = root_scope(std::sync::Arc::new(Registry::default()));
                EndpointMetrics::create(&scope).ok()
            })
            .as_ref()
    }

    /// Starts a request on the runtime's series, or on the pending cells before one attached.
    #[inline]
    pub fn start(&'static self) -> RequestGuard<'static> {
        if let Some(m) = self.attached.get() {
            return m.start();
        }
        match self.pending() {
            Some(m) => {
                let mut guard = m.start();
                guard.site = Some(self);
                guard
            }
            None => RequestGuard {
                metrics: None,
                started: Instant::now(),
                finished: false,
                site: None,
            },
        }
    }

    /// Moves pending records to the runtime's series once one is attached. Called after every
    /// record into the pending cells, so none made while attaching is left behind.
    fn settle(&self) {
        if let (Some(target), Some(Some(pending))) = (self.attached.get(), self.pending.get()) {
            pending.drain_into(target);
        }
    }

    /// Attaches the runtime's endpoint `namespace/component/endpoint`: its series are created
    /// at zero, and pending records move there. The first runtime to attach keeps it.
    pub(crate) fn attach(
        &'static self,
        runtime: &DistributedRuntime,
        namespace: &str,
    ) -> Result<()> {
        if self.attached.get().is_some() {
            return Ok(());
        }
        let endpoint = runtime
            .namespace(namespace)?
            .component(self.component)?
            .endpoint(self.endpoint)?;
        let metrics = EndpointMetrics::register(&endpoint)?;
        if self.attached.set(metrics).is_ok() {
            self.settle();
        }
        Ok(())
    }
}

/// One instrumented function, submitted to `inventory` by the macro.
#[doc(hidden)]
#[derive(Debug)]
pub struct EndpointSite(pub &'static StaticEndpoint);

inventory::collect!(EndpointSite);

/// Every instrumented function of the program.
pub(crate) fn sites() -> impl Iterator<Item = &'static StaticEndpoint> {
    inventory::iter::<EndpointSite>().map(|s| s.0)
}

/// Attaches every instrumented function of the program to `runtime`.
pub(crate) fn attach_all(runtime: &DistributedRuntime, namespace: &str) -> Result<()> {
    for site in sites() {
        site.attach(runtime, namespace)?;
    }
    Ok(())
}

/// A response stream whose items are counted as response bytes (and errors), and whose end
/// finishes the request; dropped before its end, the request counts as cancelled.
#[doc(hidden)]
pub struct InstrumentedStream<S: Stream, F> {
    inner: Pin<Box<S>>,
    guard: Option<RequestGuard<'static>>,
    item: F,
}

impl<S: Stream, F: FnMut(&RequestGuard<'static>, &S::Item)> InstrumentedStream<S, F> {
    /// For the macro: `item` records one item's bytes and error.
    pub fn new(inner: S, guard: RequestGuard<'static>, item: F) -> Self {
        InstrumentedStream {
            inner: Box::pin(inner),
            guard: Some(guard),
            item,
        }
    }
}

impl<S: Stream, F: FnMut(&RequestGuard<'static>, &S::Item) + Unpin> Stream
    for InstrumentedStream<S, F>
{
    type Item = S::Item;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<S::Item>> {
        let this = &mut *self;
        let polled = this.inner.as_mut().poll_next(cx);
        match &polled {
            Poll::Ready(Some(item)) => {
                if let Some(guard) = &this.guard {
                    (this.item)(guard, item);
                }
            }
            Poll::Ready(None) => {
                if let Some(guard) = this.guard.take() {
                    guard.finish();
                }
            }
            Poll::Pending => {}
        }
        polled
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.inner.size_hint()
    }
}

/// Autoref-specialisation probes, so the macro can ask any value for its size and error
/// type: types without [`PayloadSize`] count 0 bytes, `Result` errors without
/// [`ErrorType`] count as [`DEFAULT_ERROR_TYPE`], and other values are no error.
#[doc(hidden)]
pub(crate) mod probe {
    use super::{DEFAULT_ERROR_TYPE, ErrorType, PayloadSize};

    /// Wraps a reference to probe.
    pub struct Probe<'a, T: ?Sized>(pub &'a T);

    /// Probe for the size: `(&Probe(&x)).probe_size()`.
    pub trait ViaPayloadSize {
        /// The size.
        fn probe_size(&self) -> u64;
    }
    impl<T: PayloadSize + ?Sized> ViaPayloadSize for Probe<'_, T> {
        fn probe_size(&self) -> u64 {
            self.0.payload_size()
        }
    }
    /// Fallback: no size.
    pub trait NoPayloadSize {
        /// Zero.
        fn probe_size(&self) -> u64;
    }
    impl<T: ?Sized> NoPayloadSize for &Probe<'_, T> {
        fn probe_size(&self) -> u64 {
            0
        }
    }

    /// Probe for an error: `(&&Probe(&x)).probe_error()`.
    pub trait ViaErrorType {
        /// The error type of an `Err`.
        fn probe_error(&self) -> Option<&'static str>;
    }
    impl<T, E: ErrorType> ViaErrorType for &Probe<'_, Result<T, E>> {
        fn probe_error(&self) -> Option<&'static str> {
            self.0.as_ref().err().map(ErrorType::error_type)
        }
    }
    /// Fallback for other `Result`s.
    pub trait ViaResult {
        /// The default error type of an `Err`.
        fn probe_error(&self) -> Option<&'static str>;
    }
    impl<T, E> ViaResult for &&Probe<'_, Result<T, E>> {
        fn probe_error(&self) -> Option<&'static str> {
            self.0.as_ref().err().map(|_| DEFAULT_ERROR_TYPE)
        }
    }
    /// Fallback for values that are not `Result`s.
    pub trait NotAnError {
        /// `None`.
        fn probe_error(&self) -> Option<&'static str>;
    }
    impl<T: ?Sized> NotAnError for Probe<'_, T> {
        fn probe_error(&self) -> Option<&'static str> {
            None
        }
    }
}
