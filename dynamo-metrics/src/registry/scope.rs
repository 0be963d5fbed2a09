//! Where metrics are created: [`MetricsScope`], the store, hierarchy labels and subsystem of
//! one level, and the [`MetricsRegistry`] trait every level of the hierarchy implements.

use std::fmt;
use std::panic::Location;
use std::sync::Arc;

use dynamo_metrics_naming as naming;
use prometheus::core::Collector;

use crate::describe::{Declared, MetricDescriptor, runtime_family};
use crate::error::{Error, Result};
use crate::metrics::{
    Counter, CounterVec, Declaration, Family, Gauge, GaugeVec, Histogram, HistogramVec, IntCounter,
    IntCounterVec, IntGauge, IntGaugeVec, Series, SeriesCell, View, location,
};
use crate::registry::identity::Identity;
use crate::registry::store::Store;

/// `dynamo_metrics_series_overflow_total{family}`, at runtime level.
static OVERFLOW_FAMILY: MetricDescriptor = runtime_family!(
    "dynamo_metrics::LabeledFamily",
    "metrics",
    "series_overflow_total",
    Counter,
    "u64",
    "Label combinations folded into a family's overflow series: the family reached its series cap, a label value was too long, or the runtime's series budget was spent",
)
.__labels(&["family"])
// One series per family that can overflow: bounded by the families, never folded.
.__max_series(usize::MAX);

inventory::submit! { Declared(&OVERFLOW_FAMILY) }

pub use dynamo_metrics_naming::Level;

/// Where metrics are created: the runtime's registry, the hierarchy labels of one level, and
/// a subsystem. Every level of the hierarchy has one; [`MetricsRegistry::with_subsystem`]
/// makes another with a different subsystem.
#[derive(Clone)]
pub struct MetricsScope {
    inner: Arc<ScopeInner>,
}

struct ScopeInner {
    store: Arc<Store>,
    subsystem: String,
    level: Level,
    /// The labels every metric made here carries, with their values: the level's hierarchy
    /// labels, an endpoint's own labels (empty where it has no value: not written), and the
    /// runtime's worker id.
    labels: Vec<(&'static str, String)>,
    identity: Arc<Identity>,
}

impl fmt::Debug for MetricsScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MetricsScope")
            .field("subsystem", &self.inner.subsystem)
            .field("labels", &self.inner.labels)
            .finish_non_exhaustive()
    }
}

impl MetricsScope {
    /// The scope of `level` whose hierarchy labels have `values`, outermost first; an
    /// endpoint's own labels have `endpoint` (by name; the others are empty).
    fn new(
        store: Arc<Store>,
        identity: Arc<Identity>,
        level: Level,
        values: Vec<String>,
        endpoint: &[(&str, &str)],
    ) -> Self {
        let mut labels: Vec<(&'static str, String)> =
            level.labels().iter().copied().zip(values).collect();
        if level == Level::Endpoint {
            labels.extend(identity.endpoint_labels.iter().map(|name| {
                let value = endpoint.iter().find(|(k, _)| k == name);
                (
                    *name,
                    value.map_or_else(String::new, |(_, v)| (*v).to_owned()),
                )
            }));
        }
        if let Some(id) = &identity.worker_id {
            labels.push((naming::WORKER_ID_LABEL, id.clone()));
        }
        MetricsScope {
            inner: Arc::new(ScopeInner {
                store,
                subsystem: naming::DEFAULT_SUBSYSTEM.to_owned(),
                level,
                labels,
                identity,
            }),
        }
    }

    /// The scope one level down, named `name` (a namespace, component or endpoint name);
    /// an endpoint's scope has its own labels set to `endpoint`. Below an endpoint there is
    /// none: the endpoint's own scope.
    pub(crate) fn child(&self, name: &str, endpoint: &[(&str, &str)]) -> Self {
        let inner = &self.inner;
        let Some(level) = inner.level.below() else {
            return self.clone();
        };
        let mut values: Vec<String> = inner.labels[..inner.level.labels().len()]
            .iter()
            .map(|(_, v)| v.clone())
            .collect();
        values.push(name.to_owned());
        MetricsScope::new(
            inner.store.clone(),
            inner.identity.clone(),
            level,
            values,
            endpoint,
        )
    }

    /// The names of the labels an endpoint of this runtime may carry.
    pub(crate) fn endpoint_label_names(&self) -> &[&'static str] {
        &self.inner.identity.endpoint_labels
    }

    fn describe(&self) -> String {
        let labels: Vec<String> = self
            .inner
            .labels
            .iter()
            .map(|(k, v)| format!("{k}={v:?}"))
            .collect();
        format!("{{{}}}", labels.join(", "))
    }

    /// Checks a declaration and returns its family (new or existing) and fixed label values.
    fn family<C: SeriesCell>(&self, declaration: Declaration<'_>) -> Result<View<C>> {
        // A runtime-level family whose own labels name workers describes other workers: the
        // runtime's own id is not added to it. Anywhere else the name is the runtime's.
        let own = |k: &str| {
            declaration.variable_labels.contains(&k)
                || declaration.const_labels.iter().any(|(c, _)| *c == k)
        };
        if declaration
            .variable_labels
            .contains(&naming::WORKER_ID_LABEL)
            && self.inner.level != Level::Runtime
        {
            return Err(Error::InvalidName {
                what: "label name",
                name: naming::WORKER_ID_LABEL.to_owned(),
                reason: naming::NameError::WorkerIdLabel,
            });
        }
        // So does a family's own label named like an endpoint label: its value wins.
        let injected = |k: &str| {
            !(own(k) && (k == naming::WORKER_ID_LABEL || self.endpoint_label_names().contains(&k)))
        };
        let kept: Vec<(&'static str, String)>;
        let mut hierarchy = declaration.hierarchy;
        if hierarchy.iter().any(|(k, _)| !injected(k)) {
            kept = hierarchy
                .iter()
                .filter(|(k, _)| injected(k))
                .cloned()
                .collect();
            hierarchy = &kept;
        }
        let (meta, fixed) = Declaration {
            declared_at: format!("{} in scope {}", declaration.declared_at, self.describe()),
            hierarchy,
            ..declaration
        }
        .check()?;
        let family: Arc<Family<C>> = self.inner.store.family(meta)?;
        Ok(View::new(family, fixed))
    }

    /// The one series of a family without variable labels, declared where the caller's
    /// caller is (through `#[track_caller]`).
    #[track_caller]
    fn single<C: SeriesCell>(
        &self,
        name: &str,
        help: &str,
        const_labels: &[(&str, &str)],
        buckets: Option<&[f64]>,
    ) -> Result<Arc<Series<C>>> {
        self.labelled(name, help, &[], const_labels, buckets)?
            .series(&[])
    }

    /// A family with variable labels, declared where the caller's caller is.
    #[track_caller]
    fn labelled<C: SeriesCell>(
        &self,
        name: &str,
        help: &str,
        variable_labels: &[&str],
        const_labels: &[(&str, &str)],
        buckets: Option<&[f64]>,
    ) -> Result<View<C>> {
        let full_name = naming::full_name(&self.inner.subsystem, name);
        let view: View<C> = self.family(Declaration {
            kind: C::KIND,
            value_type: C::VALUE,
            short_name: name,
            full_name: full_name.clone(),
            help,
            hierarchy: &self.inner.labels,
            const_labels,
            variable_labels,
            buckets,
            native: None,
            declared_at: location(Location::caller()),
        })?;
        // Labels given by hand can take any value: count what folds into overflow.
        if !variable_labels.is_empty() {
            let overflows = self.overflow_counter(&full_name)?;
            view.count_overflows(move || overflows.inc());
        }
        Ok(view)
    }

    /// The family `desc` describes, at this scope's level (its subsystem is the
    /// descriptor's). Buckets come from the descriptor's variables when they are set.
    pub(crate) fn declared<C: SeriesCell>(&self, desc: &MetricDescriptor) -> Result<View<C>> {
        let from_env = match desc.buckets_env {
            Some(prefix) => crate::metrics::env_buckets(prefix, |v| std::env::var(v).ok())?,
            None => None,
        };
        self.family(Declaration {
            kind: C::KIND,
            value_type: C::VALUE,
            short_name: desc.short_name,
            full_name: desc.name.to_owned(),
            help: desc.help,
            hierarchy: &self.inner.labels,
            const_labels: desc.const_labels,
            variable_labels: desc.labels,
            buckets: from_env.as_deref().or(desc.buckets),
            native: desc.native,
            declared_at: format!("by {} at {}", desc.source, desc.location()),
        })
        .inspect(|view: &View<C>| {
            view.set_max_series(desc.max_series);
            view.set_max_label_len(desc.max_label_len);
            view.set_striped(desc.striped);
        })
    }

    /// The runtime's own scope, with its worker id.
    pub(crate) fn root(&self) -> MetricsScope {
        let inner = &self.inner;
        MetricsScope::new(
            inner.store.clone(),
            inner.identity.clone(),
            Level::Runtime,
            Vec::new(),
            &[],
        )
    }

    /// The level this scope belongs to.
    pub fn level(&self) -> Level {
        self.inner.level
    }

    /// The runtime-level counter of label combinations folded into overflow series, for
    /// the family `family`.
    pub(crate) fn overflow_counter(&self, family: &str) -> Result<IntCounter> {
        let root = self.root();
        IntCounterVec::from_view(root.declared(&OVERFLOW_FAMILY)?).with_label_values(&[family])
    }
}

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
}

impl MetricsRegistry for MetricsScope {
    fn metrics_scope(&self) -> &MetricsScope {
        self
    }
}

/// The root scope of a runtime with `identity`: no hierarchy labels.
pub(crate) fn root_scope(store: Arc<Store>, identity: Identity) -> MetricsScope {
    MetricsScope::new(store, Arc::new(identity), Level::Runtime, Vec::new(), &[])
}
