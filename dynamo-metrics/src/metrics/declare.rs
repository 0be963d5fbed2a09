//! Checking a metric declaration against the naming rules and turning it into a family
//! description. See [`Declaration`] for details.

use std::collections::HashSet;

use dynamo_metrics_naming::{self as naming, MetricKind};

use super::buckets::check_buckets;
use super::meta::Meta;
use crate::error::{Error, Result};

/// Everything a caller says about a metric, before it is checked.
pub(crate) struct Declaration<'a> {
    pub(crate) kind: MetricKind,
    pub(crate) value_type: &'static str,
    /// The name as the caller wrote it (the part after the subsystem, or the whole name of a
    /// standalone metric).
    pub(crate) short_name: &'a str,
    pub(crate) full_name: String,
    pub(crate) help: &'a str,
    /// Labels the level injects, with their values.
    pub(crate) hierarchy: &'a [(&'static str, String)],
    pub(crate) const_labels: &'a [(&'a str, &'a str)],
    pub(crate) variable_labels: &'a [&'a str],
    pub(crate) buckets: Option<&'a [f64]>,
    /// Native histograms only.
    pub(crate) native: Option<dynamo_metrics_naming::NativeParams>,
    pub(crate) declared_at: String,
}

impl Declaration<'_> {
    /// Checks every rule and returns the family description and the values of its fixed
    /// labels (hierarchy then constant labels).
    pub(crate) fn check(self) -> Result<(Meta, Box<[String]>)> {
        naming::check_metric_name(self.short_name).map_err(|reason| Error::InvalidName {
            what: "metric name",
            name: self.short_name.to_owned(),
            reason,
        })?;
        naming::check_metric_name_for(self.kind, &self.full_name).map_err(|reason| {
            Error::InvalidName {
                what: "metric name",
                name: self.full_name.clone(),
                reason,
            }
        })?;
        if self.help.trim().is_empty() {
            return Err(Error::EmptyHelp {
                family: self.full_name,
            });
        }
        if let Some((k, _)) = self
            .const_labels
            .iter()
            .find(|(k, _)| *k == naming::WORKER_ID_LABEL)
        {
            return Err(Error::InvalidName {
                what: "label name",
                name: (*k).to_owned(),
                reason: naming::NameError::WorkerIdLabel,
            });
        }
        let user_labels = self
            .const_labels
            .iter()
            .map(|(k, _)| *k)
            .chain(self.variable_labels.iter().copied());
        let mut seen = HashSet::new();
        for label in user_labels {
            naming::check_user_label_name(self.kind, label).map_err(|reason| {
                Error::InvalidName {
                    what: "label name",
                    name: label.to_owned(),
                    reason,
                }
            })?;
            if !seen.insert(label) {
                return Err(Error::DuplicateLabel {
                    family: self.full_name,
                    label: label.to_owned(),
                });
            }
        }
        let buckets = match (self.kind, self.buckets) {
            (MetricKind::Histogram, Some(b)) => Some(check_buckets(&self.full_name, b)?),
            _ => None,
        };
        let native = match (self.kind, self.native) {
            (MetricKind::Histogram, Some(params)) if params.schema().is_some() => Some(params),
            (MetricKind::Histogram, Some(params)) => {
                return Err(Error::InvalidBuckets {
                    family: self.full_name,
                    reason: format!(
                        "native histograms need a bucket factor above 1 and at least one bucket, got factor {} and {} buckets",
                        params.factor, params.max_buckets
                    ),
                });
            }
            _ => None,
        };
        let fixed: Box<[String]> = self
            .hierarchy
            .iter()
            .map(|(_, v)| v.clone())
            .chain(self.const_labels.iter().map(|(_, v)| (*v).to_owned()))
            .collect();
        let labels = self
            .hierarchy
            .iter()
            .map(|(k, _)| *k)
            .chain(self.const_labels.iter().map(|(k, _)| *k))
            .chain(self.variable_labels.iter().copied())
            .map(str::to_owned)
            .collect();
        let meta = Meta {
            name: self.full_name,
            help: self.help.to_owned(),
            kind: self.kind,
            value_type: self.value_type,
            labels,
            hierarchy: self.hierarchy.len(),
            buckets,
            native,
            declared_at: self.declared_at,
        };
        Ok((meta, fixed))
    }
}
