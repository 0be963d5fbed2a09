//! The description of a family as the store holds it: names, help, labels, buckets, where it
//! was first declared. See [`Meta`] for details.

use std::collections::HashMap;
use std::sync::Arc;

use dynamo_metrics_naming::MetricKind;
use prometheus::core::Desc;
use prometheus::proto;

use crate::describe::Shape;
use crate::exposition::prometheus_model;
use crate::exposition::snapshot::{SeriesSnapshot, Snapshot};

/// What a family is: everything two declarations of it must agree on, and where it was first
/// declared.
pub(crate) struct Meta {
    pub(crate) name: String,
    pub(crate) help: String,
    pub(crate) kind: MetricKind,
    /// The Rust type of the values (`u64`, `i64`, `f64`).
    pub(crate) value_type: &'static str,
    /// Every label name, in series order: hierarchy labels, constant labels, variable labels.
    pub(crate) labels: Box<[String]>,
    /// How many of `labels` are hierarchy labels.
    pub(crate) hierarchy: usize,
    /// Native histograms only: the parameters of the native buckets.
    pub(crate) native: Option<dynamo_metrics_naming::NativeParams>,
    /// Histograms only; `None` means [`DEFAULT_BUCKETS`](super::DEFAULT_BUCKETS).
    pub(crate) buckets: Option<Arc<[f64]>>,
    /// Where the declaration was made, for error messages.
    pub(crate) declared_at: String,
}

impl Meta {
    /// Label name and value pairs of the series with `values`.
    pub(crate) fn pairs<'a>(
        &'a self,
        values: &'a [String],
    ) -> impl Iterator<Item = (&'a str, &'a str)> + Clone + 'a {
        self.labels
            .iter()
            .map(String::as_str)
            .zip(values.iter().map(String::as_str))
    }

    /// What another declaration of this family must agree on.
    pub(crate) fn shape(&self) -> Shape<'_> {
        let (hierarchy, labels) = self.labels.split_at(self.hierarchy);
        Shape {
            kind: self.kind,
            value_type: self.value_type,
            help: &self.help,
            hierarchy: Some(hierarchy.iter().map(String::as_str).collect()),
            labels: labels.iter().map(String::as_str).collect(),
            buckets: Shape::bounds(self.kind, self.buckets.as_deref()),
            native: self.native,
        }
    }

    /// The declaration in words: `counter of u64, help "...", labels [a, b] (declared at ..)`.
    pub(crate) fn describe(&self) -> String {
        format!("{} (declared {})", self.shape(), self.declared_at)
    }

    /// A `prometheus` family of `series`.
    pub(crate) fn to_proto(&self, series: Vec<SeriesSnapshot>) -> proto::MetricFamily {
        prometheus_model::to_proto(&Snapshot {
            name: self.name.clone(),
            help: self.help.clone(),
            kind: self.kind.into(),
            series,
        })
    }

    /// A `prometheus` descriptor: the first `fixed.len()` labels constant, the rest variable.
    /// `None` where the `prometheus` crate refuses it (it never should: our rules are stricter).
    pub(crate) fn desc(&self, fixed: &[String]) -> Option<Desc> {
        let constant: HashMap<String, String> = self
            .pairs(fixed)
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        let variable = self.labels[fixed.len()..].to_vec();
        Desc::new(self.name.clone(), self.help.clone(), variable, constant).ok()
    }
}
