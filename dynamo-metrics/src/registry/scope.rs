//! Where metrics are created: [`MetricsScope`], the store, hierarchy labels and subsystem of
//! one level; the [`MetricsRegistry`] trait every level implements is in `metrics_registry`.

use std::fmt;
use std::panic::Location;
use std::sync::Arc;

use dynamo_metrics_naming as naming;

use crate::describe::{Declared, MetricDescriptor, runtime_family};
use crate::error::{Error, Result};
use crate::metrics::{
    Declaration, Family, IntCounter, IntCounterVec, Series, SeriesCell, View, location,
};
use crate::registry::identity::Identity;
pub use crate::registry::metrics_registry::MetricsRegistry;
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
    pub(super) inner: Arc<ScopeInner>,
}

pub(super) struct ScopeInner {
    pub(super) store: Arc<Store>,
    pub(super) subsystem: String,
    pub(super) level: Level,
    /// The labels every metric made here carries, with their values: the level's hierarchy
    /// labels, an endpoint's own labels (empty where it has no value: not written), the
    /// runtime's worker id and its constant labels.
    pub(super) labels: Vec<(&'static str, String)>,
    pub(super) identity: Arc<Identity>,
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
        labels.extend(identity.const_labels.iter().cloned());
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
        // So does a family's own label named like an endpoint label or a constant label: its
        // value wins.
        let configured = |k: &str| {
            self.endpoint_label_names().contains(&k)
                || self
                    .inner
                    .identity
                    .const_labels
                    .iter()
                    .any(|(c, _)| *c == k)
        };
        let injected = |k: &str| !(own(k) && (k == naming::WORKER_ID_LABEL || configured(k)));
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
    pub(super) fn single<C: SeriesCell>(
        &self,
        name: &str,
        help: &str,
        const_labels: &[(&str, &str)],
        buckets: Option<&[f64]>,
    ) -> Result<Series<C>> {
        self.labelled(name, help, &[], const_labels, buckets)?
            .series(&[])
    }

    /// A family with variable labels, declared where the caller's caller is.
    #[track_caller]
    pub(super) fn labelled<C: SeriesCell>(
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

/// The root scope of a runtime with `identity`: no hierarchy labels.
pub(crate) fn root_scope(store: Arc<Store>, identity: Identity) -> MetricsScope {
    MetricsScope::new(store, Arc::new(identity), Level::Runtime, Vec::new(), &[])
}
