//! Where families live and are found: the store of one runtime, the scope of each level of the
//! hierarchy, and the catalog of every statically declared metric.
//!
//! - [`store`]: every family of a runtime by name, foreign collectors, and the walk of all of
//!   them in name order that the exposition writes;
//! - [`scope`]: [`MetricsScope`](scope::MetricsScope) and the
//!   [`MetricsRegistry`](scope::MetricsRegistry) trait: creating families with a level's
//!   labels;
//! - [`identity`]: a runtime's worker id and endpoint label names, on every scope;
//! - [`hierarchy`]: `Namespace -> Component -> Endpoint`, each made once per name;
//! - [`catalog`]: the descriptors `inventory` gathers, checked together.
//!
//! It imports `describe`, `metrics` and `exposition`; the runtime, the instrumented endpoints
//! and the typed families build on it.

pub(crate) mod catalog;
pub(crate) mod hierarchy;
pub(crate) mod identity;
pub(crate) mod scope;
pub(crate) mod store;
