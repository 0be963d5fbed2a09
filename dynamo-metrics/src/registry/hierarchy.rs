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
                scope: root.child(name),
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
                    scope: ns.scope.child(name),
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
        let c = &self.inner;
        c.endpoints.get_or_insert("endpoint", name, || Endpoint {
            inner: Arc::new(EndpointInner {
                name: name.to_owned(),
                component: c.name.clone(),
                namespace: c.namespace.clone(),
                scope: c.scope.child(name),
            }),
        })
    }
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
