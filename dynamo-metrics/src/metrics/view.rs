//! Labelled families as seen from one level: [`View`] binds the values of the fixed labels
//! (hierarchy and constant labels); and families that belong to no runtime.

use std::panic::Location;
use std::sync::{Arc, OnceLock};

use prometheus::core::Desc;
use prometheus::proto;

use super::cell::SeriesCell;
use super::declare::Declaration;
use super::family::{Family, OVERFLOW, Series};
use super::local::LocalCache;
use crate::error::{Error, Result};

/// `at src/file.rs:12:5`: where a declaration was made, for conflict messages.
pub(crate) fn location(caller: &Location<'_>) -> String {
    format!("at {}:{}:{}", caller.file(), caller.line(), caller.column())
}

/// A family that belongs to no registry, for standalone metrics.
#[track_caller]
pub(super) fn standalone<C: SeriesCell>(
    name: &str,
    help: &str,
    labels: &[&str],
    buckets: Option<&[f64]>,
) -> Result<Arc<Family<C>>> {
    let (meta, _) = Declaration {
        kind: C::KIND,
        value_type: C::VALUE,
        short_name: name,
        full_name: name.to_owned(),
        help,
        hierarchy: &[],
        const_labels: &[],
        variable_labels: labels,
        buckets,
        native: None,
        declared_at: location(Location::caller()),
    }
    .check()?;
    Ok(Arc::new(Family::new(meta, None)))
}

/// A labelled family as seen from one place: the values of its fixed labels (hierarchy and
/// constant labels) are bound, the variable ones are given per series.
pub(crate) struct View<C: SeriesCell> {
    pub(super) family: Arc<Family<C>>,
    fixed: Box<[String]>,
    desc: OnceLock<Option<Desc>>,
    /// Counts label combinations folded into the overflow series, where one is kept.
    overflowed: OnceLock<Box<dyn Fn() + Send + Sync>>,
}

impl<C: SeriesCell> View<C> {
    pub(crate) fn new(family: Arc<Family<C>>, fixed: Box<[String]>) -> Self {
        View {
            family,
            fixed,
            desc: OnceLock::new(),
            overflowed: OnceLock::new(),
        }
    }

    /// Counts every fold into the overflow series by calling `count` (the family's
    /// `dynamo_metrics_series_overflow_total` series).
    pub(crate) fn count_overflows(&self, count: impl Fn() + Send + Sync + 'static) {
        let _ = self.overflowed.set(Box::new(count));
    }

    /// Sets the most series this view (and every view of the family) holds.
    pub(crate) fn set_max_series(&self, max_series: usize) {
        self.family.set_max_series(max_series);
    }

    /// Stripes the integer series the family creates from now on.
    pub(crate) fn set_striped(&self, striped: bool) {
        self.family.set_striped(striped);
    }

    /// Sets the longest label value this view (and every view of the family) takes.
    pub(crate) fn set_max_label_len(&self, max_label_len: usize) {
        self.family.set_max_label_len(max_label_len);
    }

    fn folded(&self, overflowed: bool) {
        if let (true, Some(count)) = (overflowed, self.overflowed.get()) {
            count();
        }
    }

    pub(super) fn variable_labels(&self) -> &[String] {
        &self.family.meta().labels[self.fixed.len()..]
    }

    /// How many fixed labels come before the variable ones.
    #[inline]
    pub(crate) fn fixed_len(&self) -> usize {
        self.fixed.len()
    }

    /// A cache of this view's series for each thread that looks them up.
    pub(crate) fn cache<H>(&self) -> LocalCache<H> {
        LocalCache::new(
            self.variable_labels().len(),
            self.family.generation().clone(),
        )
    }

    pub(crate) fn check_count(&self, values: &[&str]) -> Result<()> {
        let labels = self.variable_labels();
        if values.len() == labels.len() {
            Ok(())
        } else {
            Err(Error::LabelCount {
                family: self.family.meta().name.clone(),
                expected: labels.len(),
                labels: labels.join(", "),
                got: values.len(),
            })
        }
    }

    /// The series with these values, created at zero if new, or the overflow series when
    /// the family's limits say so (see [`Family::get_or_create`]); folds are counted.
    pub(crate) fn series(&self, values: &[&str]) -> Result<Series<C>> {
        self.check_count(values)?;
        let (series, overflowed) = self.family.get_or_create(&self.fixed, values);
        self.folded(overflowed);
        Ok(series)
    }

    /// As [`series`](Self::series), with a wrong count of values folded into the overflow
    /// series too; whether it folded.
    pub(crate) fn lookup(&self, values: &[&str]) -> (Series<C>, bool) {
        let (series, overflowed) = match self.check_count(values) {
            Ok(()) => self.family.get_or_create(&self.fixed, values),
            Err(_) => {
                let overflow = vec![OVERFLOW; self.variable_labels().len()];
                (self.family.get_or_create(&self.fixed, &overflow).0, true)
            }
        };
        self.folded(overflowed);
        (series, overflowed)
    }

    /// Moves every series of this view into the series with the same variable label values
    /// of `other`.
    pub(crate) fn drain_into(&self, other: &View<C>) {
        for (values, series) in self.family.series_after(&self.fixed) {
            let values: Vec<&str> = values.iter().map(String::as_str).collect();
            let (target, _) = other.lookup(&values);
            series.cell.drain_into(&target.cell);
        }
    }

    pub(super) fn remove(&self, values: &[&str]) -> Result<bool> {
        self.check_count(values)?;
        Ok(self.family.remove(&self.fixed, values))
    }

    pub(super) fn desc(&self) -> Vec<&Desc> {
        self.desc
            .get_or_init(|| self.family.desc(&self.fixed))
            .iter()
            .collect()
    }

    pub(super) fn collect(&self) -> Vec<proto::MetricFamily> {
        vec![self.family.export(&self.fixed)]
    }
}
