//! The runtime hierarchy `DistributedRuntime -> Namespace -> Component -> Endpoint`: each
//! level is created once per name and has the [`MetricsScope`] of its labels.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use dynamo_metrics_naming as naming;
use parking_lot::Mutex;

use crate::error::{Error, Result};
use crate::registry::scope::{MetricsRegistry, MetricsScope};

fn check_level_name(level: &'static str, name: &str) -> Result<()> {
    naming::check_hierarchy_name(name).map_err(|reason| Error::InvalidHierarchyName {
        level,
        name: name.to_owned(),
        reason,
    })
}

/// The children of a level, created once per name.
struct Children<T>(Mutex<BTreeMap<String, T>>);

impl<T: Clone> Children<T> {
    fn new() -> Self {
        Children(Mutex::new(BTreeMap::new()))
    }

    fn get_or_insert(
        &self,
        level: &'static str,
        name: &str,
        make: impl FnOnce() -> T,
    ) -> Result<T> {
        check_level_name(level, name)?;
        Ok(self
            .0
            .lock()
            .entry(name.to_owned())
            .or_insert_with(make)
            .clone())
    }
}

/// The runtime's children, kept beside its root scope.
pub(crate) struct Namespaces(Children<Namespace>);

impl Namespaces {
    pub(crate) fn new() -> Self {
        Namespaces(Children::new())
    }

    pub(crate) fn get(&self, root: &MetricsScope, name: &str) -> Result<Namespace> {
        self.0.get_or_insert("namespace", name, || Namespace {
            inner: Arc::new(NamespaceInner {
                name: name.to_owned(),
                scope: root.child(name, &[]),
                components: Children::new(),
            }),
        })
    }
}

/// A namespace: metrics created here carry `dynamo_namespace`.
#[derive(Clone)]
pub struct Namespace {
    inner: Arc<NamespaceInner>,
}

struct NamespaceInner {
    name: String,
    scope: MetricsScope,
    components: Children<Component>,
}

impl Namespace {
    /// The namespace's name, the value of its `dynamo_namespace` label.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// The component `name` of this namespace; the same node each time it is asked for.
    ///
    /// # Errors
    /// [`Error::InvalidHierarchyName`] when `name` is empty or not a word of `[A-Za-z0-9_-]`.
    pub fn component(&self, name: &str) -> Result<Component> {
        let ns = &self.inner;
        ns.components
            .get_or_insert("component", name, || Component {
                inner: Arc::new(ComponentInner {
                    name: name.to_owned(),
                    namespace: ns.name.clone(),
                    scope: ns.scope.child(name, &[]),
                    endpoints: Children::new(),
                }),
            })
    }
}

/// A component of a namespace: metrics created here carry `dynamo_namespace` and
/// `dynamo_component`.
#[derive(Clone)]
pub struct Component {
    inner: Arc<ComponentInner>,
}

struct ComponentInner {
    name: String,
    namespace: String,
    scope: MetricsScope,
    endpoints: Children<Endpoint>,
}

impl Component {
    /// The component's name, the value of its `dynamo_component` label.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// The name of the namespace it belongs to.
    pub fn namespace(&self) -> &str {
        &self.inner.namespace
    }

    /// The endpoint `name` of this component; the same node each time it is asked for.
    ///
    /// # Errors
    /// [`Error::InvalidHierarchyName`] when `name` is empty or not a word of `[A-Za-z0-9_-]`.
    pub fn endpoint(&self, name: &str) -> Result<Endpoint> {
        self.endpoint_with_labels(name, &[])
    }

    /// The endpoint `name` of this component with labels of its own beside the hierarchy
    /// labels, as a model-serving worker's endpoints carry `model`: metrics created on it
    /// carry them, so the endpoint metrics of two models served by one worker stay apart.
    /// The names must be among the runtime's endpoint labels
    /// ([`RuntimeConfig::endpoint_labels`](crate::RuntimeConfig::endpoint_labels), and those
    /// instrumented functions give); a label left out has no value and is not written. The same
    /// node each time it is asked for with the same values.
    ///
    /// A component holds at most [`DEFAULT_MAX_SERIES`](crate::DEFAULT_MAX_SERIES) endpoints
    /// with labels, each value at most [`DEFAULT_MAX_LABEL_LEN`](crate::DEFAULT_MAX_LABEL_LEN)
    /// bytes, so values from requests cannot grow the exposition without bound.
    ///
    /// # Errors
    /// [`Error::InvalidHierarchyName`] for `name` as [`endpoint`](Self::endpoint);
    /// [`Error::EndpointLabels`] for a label that is not an endpoint label of the runtime,
    /// one given twice, a value too long, or a component at its cap.
    pub fn endpoint_with_labels(&self, name: &str, labels: &[(&str, &str)]) -> Result<Endpoint> {
        let c = &self.inner;
        let refuse = |reason: String| Error::EndpointLabels {
            endpoint: format!("{}/{}/{name}", c.namespace, c.name),
            labels: describe_labels(labels),
            reason,
        };
        let names = c.scope.endpoint_label_names();
        let mut key = name.to_owned();
        for (i, (k, v)) in labels.iter().enumerate() {
            if !names.contains(k) {
                return Err(refuse(format!(
                    "{k:?} is not an endpoint label of this runtime (its endpoint labels: {})",
                    names.join(", ")
                )));
            }
            if labels[..i].iter().any(|(seen, _)| seen == k) {
                return Err(refuse(format!("{k:?} is given twice")));
            }
            if v.len() > naming::DEFAULT_MAX_LABEL_LEN {
                return Err(refuse(format!(
                    "the value of {k:?} is {} bytes, more than {}",
                    v.len(),
                    naming::DEFAULT_MAX_LABEL_LEN
                )));
            }
        }
        // The key lists every endpoint label's value in the runtime's order.
        for n in names {
            key.push('\0');
            key.push_str(labels.iter().find(|(k, _)| k == n).map_or("", |(_, v)| v));
        }
        let labelled = labels.iter().any(|(_, v)| !v.is_empty());
        let make = || Endpoint {
            inner: Arc::new(EndpointInner {
                name: name.to_owned(),
                component: c.name.clone(),
                namespace: c.namespace.clone(),
                labels: labels
                    .iter()
                    .filter(|(_, v)| !v.is_empty())
                    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                    .collect(),
                scope: c.scope.child(name, labels),
            }),
        };
        check_level_name("endpoint", name)?;
        let mut endpoints = c.endpoints.0.lock();
        if let Some(found) = endpoints.get(&key) {
            return Ok(found.clone());
        }
        if labelled
            && endpoints
                .values()
                .filter(|e| !e.labels().is_empty())
                .count()
                >= naming::DEFAULT_MAX_SERIES
        {
            return Err(refuse(format!(
                "the component already has {} endpoints with labels, its cap",
                naming::DEFAULT_MAX_SERIES
            )));
        }
        Ok(endpoints.entry(key).or_insert_with(make).clone())
    }
}

/// `{k="v", ..}`, for error messages.
fn describe_labels(labels: &[(&str, &str)]) -> String {
    let pairs: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v:?}")).collect();
    format!("{{{}}}", pairs.join(", "))
}

/// An endpoint of a component: metrics created here carry all three hierarchy labels.
#[derive(Clone)]
pub struct Endpoint {
    inner: Arc<EndpointInner>,
}

struct EndpointInner {
    name: String,
    component: String,
    namespace: String,
    /// Its own labels with a value, in the order given.
    labels: Vec<(String, String)>,
    scope: MetricsScope,
}

impl Endpoint {
    /// The endpoint's name, the value of its `dynamo_endpoint` label.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// The name of the component it belongs to.
    pub fn component(&self) -> &str {
        &self.inner.component
    }

    /// The name of the namespace it belongs to.
    pub fn namespace(&self) -> &str {
        &self.inner.namespace
    }

    /// Its own labels (see [`Component::endpoint_with_labels`]), those with a value.
    pub fn labels(&self) -> &[(String, String)] {
        &self.inner.labels
    }
}

/// Implements `MetricsRegistry` and `Debug` for a level.
macro_rules! level {
    ($ty:ident) => {
        impl MetricsRegistry for $ty {
            fn metrics_scope(&self) -> &MetricsScope {
                &self.inner.scope
            }
        }

        impl fmt::Debug for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(stringify!($ty))
                    .field("labels", &self.hierarchy_labels())
                    .finish_non_exhaustive()
            }
        }
    };
}

level!(Namespace);
level!(Component);
level!(Endpoint);
