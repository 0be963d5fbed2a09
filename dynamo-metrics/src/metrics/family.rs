//! Metric families: the shared description of a metric and its series, sorted by label
//! values. See [`Family`] for details.

use std::any::Any;
use std::ops::Deref;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::Relaxed};

use parking_lot::RwLock;
use prometheus::core::Desc;
use prometheus::proto;

use super::buckets::DEFAULT_BUCKETS;
use super::cell::SeriesCell;
pub(crate) use super::meta::Meta;
pub(crate) use super::series::Series;
use super::series::with_scratch;
use super::sorted::{Chunked, Pos};
use crate::exposition::prepared::{self, Header, Prepared, SeriesText};
use crate::exposition::protobuf;
use crate::exposition::snapshot::Snapshot;
use crate::exposition::{Format, PreparedFamily};
use crate::sync::epoch::Epoch;

/// The value of every variable label of the series that collects label combinations beyond
/// a family's cap.
pub const OVERFLOW: &str = "__overflow__";

/// A series in its family's sorted list, with the first part of its text (the part its view
/// shares) beside the pointer: a render copies that part without waiting for the series.
struct Entry<C: SeriesCell> {
    view: Arc<str>,
    series: Series<C>,
}

impl<C: SeriesCell> Deref for Entry<C> {
    type Target = Series<C>;

    #[inline]
    fn deref(&self) -> &Series<C> {
        &self.series
    }
}

/// How many series with variable labels the families of one runtime may create together.
#[derive(Debug)]
pub(crate) struct Budget {
    limit: usize,
    used: AtomicUsize,
}

impl Budget {
    pub(crate) fn new(limit: usize) -> Self {
        Budget {
            limit,
            used: AtomicUsize::new(0),
        }
    }

    /// Takes one series from the budget, if any is left.
    fn take(&self) -> bool {
        self.used
            .fetch_update(Relaxed, Relaxed, |used| {
                (used < self.limit).then_some(used + 1)
            })
            .is_ok()
    }

    /// Gives one series back.
    fn give_back(&self) {
        let _ = self
            .used
            .fetch_update(Relaxed, Relaxed, |used| used.checked_sub(1));
    }
}

/// A family: its description and its series, sorted by label values so renders are stable.
pub(crate) struct Family<C: SeriesCell> {
    meta: Arc<Meta>,
    /// The text all its series share.
    shared: <C::Text as Prepared<C>>::Shared,
    header: Header,
    series: RwLock<Chunked<Entry<C>>>,
    /// The most series with one set of fixed label values (one level's view); more label
    /// combinations fold into that view's overflow series.
    max_series: AtomicUsize,
    max_label_len: AtomicUsize,
    /// Shared by every family of a runtime; `None` for standalone families.
    budget: Option<Arc<Budget>>,
    /// Whether new integer series are striped across cache lines.
    striped: AtomicBool,
    /// Changes whenever a series is removed: handles cached by label values before then are
    /// not used after.
    generation: Arc<Epoch>,
}

impl<C: SeriesCell> Family<C> {
    pub(crate) fn new(meta: Meta, budget: Option<Arc<Budget>>) -> Self {
        let bounds = meta.buckets.as_deref().unwrap_or(DEFAULT_BUCKETS);
        Family {
            header: Header::new(&meta.name, &meta.help, meta.kind.into()),
            shared: <C::Text as Prepared<C>>::shared(&meta.name, bounds),
            meta: Arc::new(meta),
            series: RwLock::new(Chunked::default()),
            max_series: AtomicUsize::new(dynamo_metrics_naming::DEFAULT_MAX_SERIES),
            max_label_len: AtomicUsize::new(dynamo_metrics_naming::DEFAULT_MAX_LABEL_LEN),
            budget,
            generation: Arc::default(),
            striped: AtomicBool::new(false),
        }
    }

    /// Sets the most series one view of the family holds.
    pub(crate) fn set_max_series(&self, max_series: usize) {
        self.max_series.store(max_series.max(1), Relaxed);
    }

    /// Stripes the integer series created from now on across cache lines.
    pub(crate) fn set_striped(&self, striped: bool) {
        self.striped.store(striped, Relaxed);
    }

    /// Sets the longest label value, in bytes, a series of the family takes.
    pub(crate) fn set_max_label_len(&self, max_label_len: usize) {
        self.max_label_len.store(max_label_len.max(1), Relaxed);
    }

    /// How many series have the fixed label values `fixed`.
    fn count_with(series: &Chunked<Entry<C>>, fixed: &[String]) -> usize {
        if Self::one_view(series, fixed) {
            return series.len();
        }
        let fixed_values = || fixed.iter().map(String::as_str);
        let starts = |e: &Entry<C>| e.values().take(fixed.len()).cmp(fixed_values());
        let from = series.partition_point(|e| starts(e).is_lt());
        let to = series.partition_point(|e| starts(e).is_le());
        to - from
    }

    pub(crate) fn meta(&self) -> &Arc<Meta> {
        &self.meta
    }

    /// How many times a series was removed, shared: see
    /// [`LocalCache`](super::local::LocalCache).
    pub(crate) fn generation(&self) -> &Arc<Epoch> {
        &self.generation
    }

    /// Whether every series has the fixed values `fixed`: the first and the last do (they are
    /// sorted, so all between do too).
    fn one_view(series: &Chunked<Entry<C>>, fixed: &[String]) -> bool {
        let has_fixed = |e: &Entry<C>| e.starts_with(fixed);
        series.first().is_some_and(has_fixed) && series.last().is_some_and(has_fixed)
    }

    /// The position of the series with `fixed` then `values` in `series` (sorted by all its
    /// values), or where it would go.
    fn find(series: &Chunked<Entry<C>>, fixed: &[String], values: &[&str]) -> Result<Pos, Pos> {
        // The common case, a family seen from one place (a runtime's `worker_id` is a fixed
        // value of every family), compares the rest alone: no string compare of the fixed
        // values at every probe.
        if Self::one_view(series, fixed) {
            return series.binary_search_by(|s| s.cmp_values(fixed.len(), values.iter().copied()));
        }
        let key = fixed
            .iter()
            .map(String::as_str)
            .chain(values.iter().copied());
        series.binary_search_by(|s| s.cmp_values(0, key.clone()))
    }

    /// The series with label values `fixed` followed by `values`, created at zero if new.
    /// The caller has checked that the count matches the family's labels. A new combination
    /// gets the overflow series instead (every variable label [`OVERFLOW`]), and the second
    /// value is `true`, when a value is longer than the family's label length limit, when the
    /// view already holds its most series, or when the runtime's budget is spent.
    pub(crate) fn get_or_create(&self, fixed: &[String], values: &[&str]) -> (Series<C>, bool) {
        let max_len = self.max_label_len.load(Relaxed);
        let too_long = values.iter().any(|v| v.len() > max_len);
        // Where a new series would go, and as of which change to the list.
        let mut place = None;
        if !too_long {
            let series = self.series.read();
            match Self::find(&series, fixed, values) {
                Ok(i) => return (series[i].series.clone(), false),
                Err(i) => place = Some((i, series.changes())),
            }
        }
        let mut series = self.series.write();
        let found = match place {
            // Not looked up: only the overflow series is wanted.
            None => Err(Pos::default()),
            // Nothing came or went since the search: its answer holds.
            Some((i, changes)) if changes == series.changes() => Err(i),
            Some(_) => Self::find(&series, fixed, values),
        };
        let overflow;
        let (i, values, overflowed) = match found {
            Ok(i) => return (series[i].series.clone(), false),
            // Series without variable labels are bounded by the hierarchy, not by input.
            Err(i) if values.is_empty() => (i, values, false),
            Err(i)
                if !too_long
                    && Self::count_with(&series, fixed) < self.max_series.load(Relaxed)
                    && self.budget.as_ref().is_none_or(|b| b.take()) =>
            {
                (i, values, false)
            }
            Err(_) => {
                overflow = vec![OVERFLOW; values.len()];
                match Self::find(&series, fixed, &overflow) {
                    Ok(i) => return (series[i].series.clone(), true),
                    Err(i) => (i, &overflow[..], true),
                }
            }
        };
        let values = fixed
            .iter()
            .map(String::as_str)
            .chain(values.iter().copied());
        let (view, created) = with_scratch(|line| {
            let at = <C::Text as Prepared<C>>::write_texts(
                &self.meta.name,
                &self.meta.labels,
                values.clone(),
                fixed.len(),
                line,
            );
            let (view, own) = line.split_at(at);
            // The view's text is kept once, by the first series of the view; its neighbours
            // share it.
            let view = series
                .around(i)
                .map(|e| &e.view)
                .find(|v| ***v == *view)
                .map_or_else(|| Arc::from(view), Arc::clone);
            let cell = C::new(&self.meta, self.striped.load(Relaxed));
            let created = Series::new(cell, self.meta.clone(), own, values);
            (view, created)
        });
        series.insert(
            i,
            Entry {
                view,
                series: created.clone(),
            },
        );
        (created, overflowed)
    }

    /// Label values (after `fixed`) and series of every series whose values start with
    /// `fixed`.
    pub(crate) fn series_after(&self, fixed: &[String]) -> Vec<(Vec<String>, Series<C>)> {
        self.series
            .read()
            .iter()
            .filter(|s| s.starts_with(fixed))
            .map(|s| {
                (
                    s.values().skip(fixed.len()).map(str::to_owned).collect(),
                    s.series.clone(),
                )
            })
            .collect()
    }

    /// Removes the series with label values `fixed` followed by `values`; whether it existed.
    /// Its memory and pre-rendered text go with it (handles to it keep only the series), and
    /// it goes back to the runtime's budget.
    pub(crate) fn remove(&self, fixed: &[String], values: &[&str]) -> bool {
        let mut series = self.series.write();
        match Self::find(&series, fixed, values) {
            Ok(i) => {
                let Some(removed) = series.remove(i) else {
                    return false;
                };
                self.generation.changed();
                let mut variable = removed.values().skip(fixed.len()).peekable();
                let budgeted = variable.peek().is_some() && variable.any(|v| v != OVERFLOW);
                if let (true, Some(budget)) = (budgeted, &self.budget) {
                    budget.give_back();
                }
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
            .filter(|s| s.starts_with(fixed))
            .map(|s| s.snapshot())
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
    /// The family's series now; `None` when it has none yet.
    fn snapshot(&self) -> Option<Snapshot>;
    /// The family as the exposition writes it.
    fn as_prepared(&self) -> &dyn PreparedFamily;
    fn into_any(self: Arc<Self>) -> Arc<dyn Any + Send + Sync>;
}

impl<C: SeriesCell> AnyFamily for Family<C> {
    fn meta(&self) -> &Arc<Meta> {
        &self.meta
    }

    fn snapshot(&self) -> Option<Snapshot> {
        let series = self.series.read();
        if series.is_empty() {
            return None;
        }
        Some(Snapshot {
            name: self.meta.name.clone(),
            help: self.meta.help.clone(),
            kind: self.meta.kind.into(),
            series: series.iter().map(|s| s.snapshot()).collect(),
        })
    }

    fn as_prepared(&self) -> &dyn PreparedFamily {
        self
    }

    fn into_any(self: Arc<Self>) -> Arc<dyn Any + Send + Sync> {
        self
    }
}

impl<C: SeriesCell> PreparedFamily for Family<C> {
    fn write_text(&self, out: &mut String, format: Format) {
        let series = self.series.read();
        let series = series.iter().map(|e| {
            let text = SeriesText {
                view: &e.view,
                own: e.series.own_text(),
            };
            (text, &e.series.cell)
        });
        prepared::write_family::<C, C::Text>(out, format, &self.header, &self.shared, series);
    }

    fn write_protobuf(&self, out: &mut Vec<u8>) {
        let meta = &self.meta;
        let series = self.series.read();
        // Counters and gauges without exemplars: each series' `Metric` message up to its
        // value, encoded at its first protobuf scrape and kept, as its text line is; read in
        // one pass, given up at the first series that is not such a scalar.
        let kind = meta.kind.into();
        let prepared = series.iter().map(|s| {
            let value = s.cell.scalar()?;
            let head = (s.lazy().protobuf).get_or_init(|| {
                protobuf::scalar_metric_head(kind, &meta.labels, &s.owned_values())
            });
            Some((&**head, value))
        });
        let family = (&*meta.name, &*meta.help, kind);
        if series.is_empty() || protobuf::write_prepared_scalars(out, family, prepared) {
            return;
        }
        drop(series);
        if let Some(snap) = self.snapshot() {
            protobuf::write_snapshot(out, &snap);
        }
    }

    #[cfg(feature = "otlp")]
    fn write_otlp(&self, out: &mut Vec<u8>, ctx: &mut crate::exposition::otlp::Context<'_>) {
        use crate::exposition::otlp;
        let meta = &self.meta;
        if ctx.cumulative() {
            let series = self.series.read();
            // As in `write_protobuf`, with each series' OTLP point head.
            let kind = meta.kind.into();
            let prepared = series.iter().map(|s| {
                let value = s.cell.scalar()?;
                let head = (s.lazy().otlp).get_or_init(|| {
                    let labels = meta.labels.iter().map(String::as_str);
                    otlp::number_point_head(kind, labels.zip(s.values()))
                });
                Some((&**head, value))
            });
            let family = (&*meta.name, &*meta.help, kind);
            if otlp::write_prepared_scalars(out, ctx, family, prepared) {
                return;
            }
        }
        if let Some(snap) = self.snapshot() {
            otlp::write_snapshot(out, ctx, &snap);
        }
    }
}
