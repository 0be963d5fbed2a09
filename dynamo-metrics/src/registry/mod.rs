//! Where families live and are found: the store of one runtime, the scope of each level of the
//! hierarchy, and the catalog of every statically declared metric.
//!
//! - [`store`]: every family of a runtime by name, foreign collectors, and the walk of all of
//!   them in name order that the exposition writes;
//! - [`scope`]: [`MetricsScope`](scope::MetricsScope): creating families with a level's
//!   labels;
//! - [`metrics_registry`]: the [`MetricsRegistry`](metrics_registry::MetricsRegistry) trait
//!   every level implements on its scope;
//! - [`sources`]: foreign sources (collectors of the `prometheus` crate, relayed
//!   expositions) read with their level's labels, each failing alone and counted;
//! - [`tokio_runtime`]: `dynamo_tokio_*`, the tokio runtime's metrics sampled at each scrape;
//! - [`identity`]: a runtime's worker id and endpoint label names, on every scope;
//! - [`hierarchy`]: `Namespace -> Component -> Endpoint`, each made once per name;
//! - [`catalog`]: the descriptors `inventory` gathers, checked together.
//!
//! It imports `describe`, `metrics`, `exposition` and `relay`; the runtime, the instrumented endpoints
//! and the typed families build on it.

pub(crate) mod catalog;
pub(crate) mod hierarchy;
pub(crate) mod identity;
pub(crate) mod metrics_registry;
pub(crate) mod scope;
pub(crate) mod sources;
pub(crate) mod store;
pub(crate) mod tokio_runtime;
