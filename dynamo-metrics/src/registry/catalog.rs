//! Every statically declared metric of the program: [`catalog`] lists them, [`check_catalog`]
//! checks that declarations of one family agree, and runtime-level structs are registered
//! when a runtime starts.

use std::collections::BTreeMap;

use crate::describe::{Declared, MetricDescriptor};
use crate::error::{Error, Result};
use crate::registry::scope::MetricsScope;

/// A `#[derive(DynamoMetrics)]` struct declared for the runtime level: registered when a
/// runtime starts, so its series exist at zero before first use.
#[doc(hidden)]
pub struct RuntimeMetrics {
    /// Registers the struct on the runtime's scope and drops it.
    pub register: fn(&MetricsScope) -> Result<()>,
}

inventory::collect!(RuntimeMetrics);

/// Registers every runtime-level struct on `scope`.
pub(crate) fn register_runtime_metrics(scope: &MetricsScope) -> Result<()> {
    for m in inventory::iter::<RuntimeMetrics>() {
        (m.register)(scope)?;
    }
    Ok(())
}

/// Every metric declared with the macros in this program, sorted by name, then file and line.
pub fn catalog() -> Vec<&'static MetricDescriptor> {
    let mut all: Vec<&'static MetricDescriptor> = inventory::iter::<Declared>()
        .map(|d| d.0)
        .chain(
            crate::instrument::site::sites()
                .iter()
                .flat_map(|s| s.descriptors()),
        )
        .collect();
    all.sort_by(|a, b| (a.name, a.file, a.line).cmp(&(b.name, b.file, b.line)));
    all
}

/// Checks the catalog as a whole: a name declared twice must be declared the same way.
///
/// # Errors
/// [`Error::Conflict`] naming both declarations and their source locations.
pub fn check_catalog() -> Result<()> {
    let mut first: BTreeMap<&str, &MetricDescriptor> = BTreeMap::new();
    for d in catalog() {
        match first.get(d.name) {
            Some(f) if f.shape() != d.shape() => {
                return Err(Error::Conflict {
                    family: d.name.to_owned(),
                    existing: f.describe(),
                    new: d.describe(),
                });
            }
            Some(_) => {}
            None => {
                first.insert(d.name, d);
            }
        }
    }
    Ok(())
}
