//! Metric families: the shared description of a metric and its series, sorted by label
//! values. See [`Family`] for details.

use std::any::Any;
use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use dynamo_metrics_naming::MetricKind;
use parking_lot::RwLock;
use prometheus::core::Desc;
use prometheus::proto;

use super::cell::Cell;
use crate::describe::Shape;
use crate::snapshot::{self, SeriesSnapshot, Snapshot};
use crate::text;

/// The value of every variable label of the series that collects label combinations beyond
/// a family's cap.
pub const OVERFLOW: &str = "__overflow__";

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
    /// Histograms only; `None` means [`DEFAULT_BUCKETS`].
    pub(crate) buckets: Option<Arc<[f64]>>,
    /// Where the declaration was made, for error messages.
    pub(crate) declared_at: String,
}

impl Meta {
    /// Label name and value pairs of the series with `values`.
    pub(crate) fn pairs<'a>(
        &'a self,
        values: &'a [String],
    ) -> impl Iterator<Item = (&'a str, &'a str)> + 'a {
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
        }
    }

    /// The declaration in words: `counter of u64, help "...", labels [a, b] (declared at ..)`.
    pub(crate) fn describe(&self) -> String {
        format!("{} (declared {})", self.shape(), self.declared_at)
    }

    fn header(&self) -> Box<str> {
        let mut out = String::new();
        text::write_header(&mut out, &self.name, &self.help, self.kind.as_str());
        out.into_boxed_str()
    }

    /// A `prometheus` family of `series`.
    fn to_proto(&self, series: Vec<SeriesSnapshot>) -> proto::MetricFamily {
        snapshot::to_proto(&Snapshot {
            name: self.name.clone(),
            help: self.help.clone(),
            kind: self.kind.into(),
            series,
        })
    }

    /// A `prometheus` descriptor: the first `fixed.len()` labels constant, the rest variable.
    /// `None` where the `prometheus` crate refuses it (it never should: our rules are stricter).
    fn desc(&self, fixed: &[String]) -> Option<Desc> {
        let constant: HashMap<String, String> = self
            .pairs(fixed)
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        let variable = self.labels[fixed.len()..].to_vec();
        Desc::new(self.name.clone(), self.help.clone(), variable, constant).ok()
    }
}

/// One series: its value cell first (the hot path touches nothing else), then its identity.
pub(crate) struct Series<C: Cell> {
    pub(crate) cell: C,
    pub(crate) meta: Arc<Meta>,
    values: Box<[String]>,
    desc: OnceLock<Option<Desc>>,
}

/// A series in its family's sorted list, with its pre-rendered text beside the pointer: a
/// render reads both without first following the pointer.
struct Entry<C: Cell> {
    series: Arc<Series<C>>,
    text: C::Text,
}

impl<C: Cell> Series<C> {
    fn snapshot(&self) -> SeriesSnapshot {
        SeriesSnapshot {
            labels: self
                .meta
                .pairs(&self.values)
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect(),
            value: self.cell.value(),
        }
    }

    /// The `prometheus` descriptor of this series alone, every label constant.
    pub(crate) fn desc(&self) -> Vec<&Desc> {
        self.desc
            .get_or_init(|| self.meta.desc(&self.values))
            .iter()
            .collect()
    }

    /// The series as a `prometheus` family of one.
    pub(crate) fn collect(&self) -> Vec<proto::MetricFamily> {
        vec![self.meta.to_proto(vec![self.snapshot()])]
    }
}

/// A family: its description and its series, sorted by label values so renders are stable.
pub(crate) struct Family<C: Cell> {
    meta: Arc<Meta>,
    header: Box<str>,
    series: RwLock<Vec<Entry<C>>>,
}

impl<C: Cell> Family<C> {
    pub(crate) fn new(meta: Meta) -> Self {
        Family {
            header: meta.header(),
            meta: Arc::new(meta),
            series: RwLock::new(Vec::new()),
        }
    }

    pub(crate) fn meta(&self) -> &Arc<Meta> {
        &self.meta
    }

    fn find(series: &[Entry<C>], fixed: &[String], values: &[&str]) -> Result<usize, usize> {
        let key = fixed
            .iter()
            .map(String::as_str)
            .chain(values.iter().copied());
        series.binary_search_by(|e| {
            let values = e.series.values.iter().map(String::as_str);
            values.cmp(key.clone())
        })
    }

    /// The series with label values `fixed` followed by `values`, created at zero if new.
    /// The caller has checked that the count matches the family's labels. When the family
    /// already has `cap` series, a new combination gets the overflow series instead (every
    /// variable label [`OVERFLOW`]), and the second value is `true`.
    pub(crate) fn get_or_create(
        &self,
        fixed: &[String],
        values: &[&str],
        cap: usize,
    ) -> (Arc<Series<C>>, bool) {
        {
            let series = self.series.read();
            if let Ok(i) = Self::find(&series, fixed, values) {
                return (series[i].series.clone(), false);
            }
        }
        let mut series = self.series.write();
        let (i, values, overflowed) = match Self::find(&series, fixed, values) {
            Ok(i) => return (series[i].series.clone(), false),
            Err(_) if series.len() >= cap => {
                let overflow = vec![OVERFLOW; values.len()];
                match Self::find(&series, fixed, &overflow) {
                    Ok(i) => return (series[i].series.clone(), true),
                    Err(i) => (i, overflow, true),
                }
            }
            Err(i) => (i, values.to_vec(), false),
        };
        let values: Box<[String]> = fixed
            .iter()
            .cloned()
            .chain(values.iter().map(|v| (*v).to_owned()))
            .collect();
        let text = C::text(&self.meta, &values);
        let created = Arc::new(Series {
            cell: C::new(&self.meta),
            meta: self.meta.clone(),
            values,
            desc: OnceLock::new(),
        });
        series.insert(
            i,
            Entry {
                series: created.clone(),
                text,
            },
        );
        (created, overflowed)
    }

    /// Label values (after `fixed`) and series of every series whose values start with
    /// `fixed`.
    pub(crate) fn series_after(&self, fixed: &[String]) -> Vec<(Vec<String>, Arc<Series<C>>)> {
        self.series
            .read()
            .iter()
            .filter(|e| e.series.values.starts_with(fixed))
            .map(|e| (e.series.values[fixed.len()..].to_vec(), e.series.clone()))
            .collect()
    }

    /// Removes the series with label values `fixed` followed by `values`; whether it existed.
    pub(crate) fn remove(&self, fixed: &[String], values: &[&str]) -> bool {
        let mut series = self.series.write();
        match Self::find(&series, fixed, values) {
            Ok(i) => {
                series.remove(i);
                true
            }
            Err(_) => false,
        }
    }

    /// The series whose values start with `fixed`, as one `prometheus` family.
    pub(crate) fn export(&self, fixed: &[String]) -> proto::MetricFamily {
        let series = self
            .series
            .read()
            .iter()
            .filter(|e| e.series.values.starts_with(fixed))
            .map(|e| e.series.snapshot())
            .collect();
        self.meta.to_proto(series)
    }

    /// The `prometheus` descriptor with the first `fixed.len()` labels constant.
    pub(crate) fn desc(&self, fixed: &[String]) -> Option<Desc> {
        self.meta.desc(fixed)
    }
}

/// A family of any cell type, as the registry holds it.
pub(crate) trait AnyFamily: Send + Sync {
    fn meta(&self) -> &Arc<Meta>;
    /// Appends the family's text; nothing when it has no series yet.
    fn render(&self, out: &mut String);
    fn into_any(self: Arc<Self>) -> Arc<dyn Any + Send + Sync>;
}

impl<C: Cell> AnyFamily for Family<C> {
    fn meta(&self) -> &Arc<Meta> {
        &self.meta
    }

    fn render(&self, out: &mut String) {
        let series = self.series.read();
        if series.is_empty() {
            return;
        }
        out.push_str(&self.header);
        for e in series.iter() {
            e.series.cell.render(&e.text, out);
        }
    }

    fn into_any(self: Arc<Self>) -> Arc<dyn Any + Send + Sync> {
        self
    }
}
