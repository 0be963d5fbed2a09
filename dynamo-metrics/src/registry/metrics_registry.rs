//! The [`MetricsRegistry`] trait: what every level of the hierarchy (the runtime, a namespace,
//! a component, an endpoint) offers to create metrics with its labels, and to merge foreign
//! sources (collectors, relayed expositions) into the runtime's output.

use std::sync::Arc;

use dynamo_metrics_naming as naming;
use prometheus::core::Collector;

use crate::error::{Error, Result};
use crate::metrics::{
    Counter, CounterVec, Gauge, GaugeVec, Histogram, HistogramVec, IntCounter, IntCounterVec,
    IntGauge, IntGaugeVec,
};
use crate::registry::scope::{MetricsScope, ScopeInner};
use crate::relay::RelaySource;

/// Creates metrics at one level of the runtime hierarchy.
///
/// Every metric is named `dynamo_<subsystem>_<name>` (subsystem `component` unless changed
/// with [`with_subsystem`](Self::with_subsystem)) and carries the hierarchy labels of the
/// level it is created at: none on the runtime, `dynamo_namespace` on a namespace, plus
/// `dynamo_component` on a component, plus `dynamo_endpoint` on an endpoint. Constant labels
/// given at creation follow them, then the variable labels of labelled families.
///
/// Declaring the same metric again with the same type, help, labels and buckets returns the
/// same family, so two endpoints of one component may each create `requests_total` and get
/// one family with two series. A different declaration under a taken name is refused with
/// [`Error::Conflict`], which names both declarations and where they were made; a scrape can
/// therefore never fail on a conflict.
///
/// # Errors
/// Every `create_*` method returns [`Error::InvalidName`] for a name or label that breaks the
/// rules of [`dynamo_metrics_naming`], [`Error::DuplicateLabel`], [`Error::EmptyHelp`],
/// [`Error::InvalidBuckets`] (histograms) or [`Error::Conflict`].
pub trait MetricsRegistry {
    /// The scope metrics of this level are created in.
    fn metrics_scope(&self) -> &MetricsScope;

    /// The labels this level injects, outermost first: its hierarchy labels, an endpoint's
    /// own labels (an empty value is one it does not have, and is not written), and the
    /// runtime's `worker_id`.
    fn hierarchy_labels(&self) -> &[(&'static str, String)] {
        &self.metrics_scope().inner.labels
    }

    /// The name prefix of metrics created here, `dynamo_<subsystem>`.
    fn prefix(&self) -> String {
        format!(
            "{}_{}",
            naming::PREFIX,
            self.metrics_scope().inner.subsystem
        )
    }

    /// The same level with another subsystem: `with_subsystem("frontend")` creates
    /// `dynamo_frontend_*` metrics.
    ///
    /// # Errors
    /// [`Error::InvalidName`] when `subsystem` is not a word of `[a-zA-Z0-9_]`.
    fn with_subsystem(&self, subsystem: &str) -> Result<MetricsScope> {
        naming::check_subsystem(subsystem).map_err(|reason| Error::InvalidName {
            what: "subsystem",
            name: subsystem.to_owned(),
            reason,
        })?;
        let inner = &self.metrics_scope().inner;
        Ok(MetricsScope {
            inner: Arc::new(ScopeInner {
                store: inner.store.clone(),
                subsystem: subsystem.to_owned(),
                level: inner.level,
                labels: inner.labels.clone(),
                identity: inner.identity.clone(),
            }),
        })
    }

    /// Creates (or finds) a float counter. See the trait docs for errors.
    #[track_caller]
    fn create_counter(
        &self,
        name: &str,
        help: &str,
        const_labels: &[(&str, &str)],
    ) -> Result<Counter> {
        self.metrics_scope()
            .single(name, help, const_labels, None)
            .map(Counter::from_series)
    }

    /// Creates (or finds) an integer counter. See the trait docs for errors.
    #[track_caller]
    fn create_intcounter(
        &self,
        name: &str,
        help: &str,
        const_labels: &[(&str, &str)],
    ) -> Result<IntCounter> {
        self.metrics_scope()
            .single(name, help, const_labels, None)
            .map(IntCounter::from_series)
    }

    /// Creates (or finds) a float gauge. See the trait docs for errors.
    #[track_caller]
    fn create_gauge(&self, name: &str, help: &str, const_labels: &[(&str, &str)]) -> Result<Gauge> {
        self.metrics_scope()
            .single(name, help, const_labels, None)
            .map(Gauge::from_series)
    }

    /// Creates (or finds) an integer gauge. See the trait docs for errors.
    #[track_caller]
    fn create_intgauge(
        &self,
        name: &str,
        help: &str,
        const_labels: &[(&str, &str)],
    ) -> Result<IntGauge> {
        self.metrics_scope()
            .single(name, help, const_labels, None)
            .map(IntGauge::from_series)
    }

    /// Creates (or finds) a histogram; `None` buckets means
    /// [`DEFAULT_BUCKETS`](crate::DEFAULT_BUCKETS). See the trait docs for errors.
    #[track_caller]
    fn create_histogram(
        &self,
        name: &str,
        help: &str,
        const_labels: &[(&str, &str)],
        buckets: Option<&[f64]>,
    ) -> Result<Histogram> {
        self.metrics_scope()
            .single(name, help, const_labels, buckets)
            .map(Histogram::from_series)
    }

    /// Creates (or finds) a family of float counters with variable labels `label_names`.
    #[track_caller]
    fn create_countervec(
        &self,
        name: &str,
        help: &str,
        label_names: &[&str],
        const_labels: &[(&str, &str)],
    ) -> Result<CounterVec> {
        self.metrics_scope()
            .labelled(name, help, label_names, const_labels, None)
            .map(CounterVec::from_view)
    }

    /// Creates (or finds) a family of integer counters with variable labels `label_names`.
    #[track_caller]
    fn create_intcountervec(
        &self,
        name: &str,
        help: &str,
        label_names: &[&str],
        const_labels: &[(&str, &str)],
    ) -> Result<IntCounterVec> {
        self.metrics_scope()
            .labelled(name, help, label_names, const_labels, None)
            .map(IntCounterVec::from_view)
    }

    /// Creates (or finds) a family of float gauges with variable labels `label_names`.
    #[track_caller]
    fn create_gaugevec(
        &self,
        name: &str,
        help: &str,
        label_names: &[&str],
        const_labels: &[(&str, &str)],
    ) -> Result<GaugeVec> {
        self.metrics_scope()
            .labelled(name, help, label_names, const_labels, None)
            .map(GaugeVec::from_view)
    }

    /// Creates (or finds) a family of integer gauges with variable labels `label_names`.
    #[track_caller]
    fn create_intgaugevec(
        &self,
        name: &str,
        help: &str,
        label_names: &[&str],
        const_labels: &[(&str, &str)],
    ) -> Result<IntGaugeVec> {
        self.metrics_scope()
            .labelled(name, help, label_names, const_labels, None)
            .map(IntGaugeVec::from_view)
    }

    /// Creates (or finds) a family of histograms with variable labels `label_names`.
    #[track_caller]
    fn create_histogramvec(
        &self,
        name: &str,
        help: &str,
        label_names: &[&str],
        const_labels: &[(&str, &str)],
        buckets: Option<&[f64]>,
    ) -> Result<HistogramVec> {
        self.metrics_scope()
            .labelled(name, help, label_names, const_labels, buckets)
            .map(HistogramVec::from_view)
    }

    /// Merges a collector of the `prometheus` crate (the process collector, or code that
    /// already uses that crate) into this runtime's exposition; its series get this level's
    /// hierarchy labels in front of their own.
    ///
    /// # Errors
    /// [`Error::Collector`] when it describes no metrics, uses the name of one of the
    /// runtime's families, or sets a hierarchy label itself.
    fn register_collector(&self, collector: Box<dyn Collector>) -> Result<()> {
        let scope = &self.metrics_scope().inner;
        scope
            .store
            .register_collector(collector, scope.labels.clone())
    }

    /// Relays an exposition (an engine's `/metrics`, or a callback's text) into this
    /// runtime's output at every scrape and OTLP export, its series labelled with this level's
    /// labels (hierarchy, endpoint labels, `worker_id`); see [`RelaySource`].
    ///
    /// # Errors
    /// [`Error::Relay`] when the runtime has a source of that name already.
    fn relay(&self, source: RelaySource) -> Result<()> {
        let scope = &self.metrics_scope().inner;
        scope.store.register_relay(source, scope.labels.clone())
    }
}

impl MetricsRegistry for MetricsScope {
    fn metrics_scope(&self) -> &MetricsScope {
        self
    }
}
