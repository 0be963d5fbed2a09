//! Metric families: the shared description of a metric and its series, sorted by label
//! values. See [`Family`] for details.

use std::any::Any;
use std::sync::{Arc, OnceLock};

use parking_lot::RwLock;
use prometheus::core::Desc;
use prometheus::proto;

use super::cell::Cell;
pub(crate) use super::meta::Meta;
use crate::snapshot::SeriesSnapshot;

/// The value of every variable label of the series that collects label combinations beyond
/// a family's cap.
pub const OVERFLOW: &str = "__overflow__";

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
