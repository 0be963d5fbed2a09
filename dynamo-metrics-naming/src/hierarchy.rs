//! The levels of the runtime hierarchy and the labels each injects: [`Level`],
//! [`HIERARCHY_LABELS`].

use std::fmt;

/// The label naming the namespace a metric belongs to.
pub const NAMESPACE_LABEL: &str = "dynamo_namespace";
/// The label naming the component a metric belongs to.
pub const COMPONENT_LABEL: &str = "dynamo_component";
/// The label naming the endpoint a metric belongs to.
pub const ENDPOINT_LABEL: &str = "dynamo_endpoint";

/// The label naming the worker (the runtime) a series comes from: injected by the runtime on
/// every series of a worker, at every level, as Dynamo injects it.
pub const WORKER_ID_LABEL: &str = "worker_id";

/// The hierarchy labels, in the order the levels nest: injected by the runtime, never by hand.
pub const HIERARCHY_LABELS: [&str; 3] = [NAMESPACE_LABEL, COMPONENT_LABEL, ENDPOINT_LABEL];

/// A level of the runtime hierarchy: where a metric lives and which hierarchy labels it gets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Level {
    /// The runtime itself: no hierarchy labels.
    Runtime,
    /// A namespace: `dynamo_namespace`.
    Namespace,
    /// A component: `dynamo_namespace`, `dynamo_component`.
    Component,
    /// An endpoint: all three hierarchy labels.
    Endpoint,
}

impl Level {
    /// Every level, outermost first.
    pub const ALL: [Level; 4] = [
        Level::Runtime,
        Level::Namespace,
        Level::Component,
        Level::Endpoint,
    ];

    /// The level's name in lower case, as the `level = ".."` attribute spells it.
    pub const fn as_str(self) -> &'static str {
        match self {
            Level::Runtime => "runtime",
            Level::Namespace => "namespace",
            Level::Component => "component",
            Level::Endpoint => "endpoint",
        }
    }

    /// The level named `name`, if any.
    pub fn from_name(name: &str) -> Option<Level> {
        Level::ALL.into_iter().find(|l| l.as_str() == name)
    }

    /// The level one down: a namespace's, a component's, an endpoint's; `None` below an
    /// endpoint.
    pub const fn below(self) -> Option<Level> {
        match self {
            Level::Runtime => Some(Level::Namespace),
            Level::Namespace => Some(Level::Component),
            Level::Component => Some(Level::Endpoint),
            Level::Endpoint => None,
        }
    }

    /// The hierarchy labels a metric at this level carries, outermost first.
    pub const fn labels(self) -> &'static [&'static str] {
        match self {
            Level::Runtime => &[],
            Level::Namespace => &[NAMESPACE_LABEL],
            Level::Component => &[NAMESPACE_LABEL, COMPONENT_LABEL],
            Level::Endpoint => &HIERARCHY_LABELS,
        }
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
