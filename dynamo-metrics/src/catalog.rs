//! Statically declared metrics: every macro-declared metric submits a [`MetricDescriptor`]
//! with `inventory`, and [`catalog`] lists them all.

use std::collections::BTreeMap;

use dynamo_metrics_naming::MetricKind;

use crate::error::{Error, Result};
use crate::hierarchy::Level;

/// A metric declared by a macro: what it is and where it was declared.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MetricDescriptor {
    /// The full metric name, `dynamo_<subsystem>_<name>`.
    pub name: &'static str,
    /// Counter, gauge or histogram.
    pub kind: MetricKind,
    /// The HELP text.
    pub help: &'static str,
    /// The variable label names (the hierarchy labels of its level come in front).
    pub labels: &'static [&'static str],
    /// Constant labels and their values.
    pub const_labels: &'static [(&'static str, &'static str)],
    /// The subsystem, the middle part of the name.
    pub subsystem: &'static str,
    /// The level it is declared for, if the declaration names one.
    pub level: Option<Level>,
    /// Histogram bucket bounds; `None` for the defaults or other kinds.
    pub buckets: Option<&'static [f64]>,
    /// The struct or function that declares it.
    pub source: &'static str,
    /// The file of the declaration.
    pub file: &'static str,
    /// The line of the declaration.
    pub line: u32,
}

inventory::collect!(MetricDescriptor);

/// A `#[derive(DynamoMetrics)]` struct declared for the runtime level: registered when a
/// runtime starts, so its series exist at zero before first use.
#[doc(hidden)]
pub struct RuntimeMetrics {
    /// Registers the struct on the runtime's scope and drops it.
    pub register: fn(&crate::MetricsScope) -> Result<()>,
}

inventory::collect!(RuntimeMetrics);

/// Registers every runtime-level struct on `scope`.
pub(crate) fn register_runtime_metrics(scope: &crate::MetricsScope) -> Result<()> {
    for m in inventory::iter::<RuntimeMetrics>() {
        (m.register)(scope)?;
    }
    Ok(())
}

impl MetricDescriptor {
    fn same_shape(&self, other: &MetricDescriptor) -> bool {
        self.kind == other.kind
            && self.help == other.help
            && self.labels == other.labels
            && self
                .const_labels
                .iter()
                .map(|(k, _)| k)
                .eq(other.const_labels.iter().map(|(k, _)| k))
            && self.level == other.level
            && self.buckets == other.buckets
    }

    fn describe(&self) -> String {
        format!(
            "{} {} with help {:?} and labels [{}] at {}:{}",
            self.source,
            self.kind,
            self.help,
            self.labels.join(", "),
            self.file,
            self.line
        )
    }
}

/// Every metric declared with the macros in this program, sorted by name, then file and line.
pub fn catalog() -> Vec<&'static MetricDescriptor> {
    let mut all: Vec<&'static MetricDescriptor> = inventory::iter::<MetricDescriptor>()
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
            Some(f) if !f.same_shape(d) => {
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
