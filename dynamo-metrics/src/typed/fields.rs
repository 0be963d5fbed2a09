//! The traits `#[derive(DynamoMetrics)]` builds on: [`MetricField`] for each field type and
//! [`DynamoMetrics`] for the struct. See [`DynamoMetrics`] for details.

use dynamo_metrics_naming::MetricKind;

use crate::describe::MetricDescriptor;
use crate::error::{Error, Result};
use crate::registry::scope::{Level, MetricsRegistry, MetricsScope};

/// A type a field of a `#[derive(DynamoMetrics)]` struct may have.
pub trait MetricField: Sized {
    /// The kind of metric it is.
    const KIND: MetricKind;
    /// The Rust type of its values: `u64`, `i64` or `f64`.
    const VALUE_TYPE: &'static str;
    /// Its variable label names.
    const LABELS: &'static [&'static str];
    /// Creates the family `desc` describes in `scope`.
    #[doc(hidden)]
    fn register(scope: &MetricsScope, desc: &MetricDescriptor) -> Result<Self>;
}

/// A struct of metrics registered together: derive it with
/// [`#[derive(DynamoMetrics)]`](macro@crate::DynamoMetrics).
pub trait DynamoMetrics: Sized {
    /// Creates every metric of the struct on `registry` (any level the struct allows) and
    /// returns it; bounded label sets have all their series at zero from here on.
    ///
    /// # Errors
    /// [`Error::WrongLevel`] when the struct names a level and `registry` is another, or any
    /// error of the `create_*` methods of [`MetricsRegistry`].
    fn register<R: MetricsRegistry + ?Sized>(registry: &R) -> Result<Self>;
}

/// Checks that `scope` is at `level` (used by the derive).
#[doc(hidden)]
pub fn check_level(scope: &MetricsScope, level: Level, metrics: &'static str) -> Result<()> {
    if scope.level() == level {
        Ok(())
    } else {
        Err(Error::WrongLevel {
            metrics,
            expected: level,
            got: scope.level(),
        })
    }
}
