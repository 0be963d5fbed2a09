//! The store behind a runtime: every family by name, foreign collectors, and the render of
//! all of them into one exposition. See [`Store`] for details.

use std::collections::btree_map::Entry;
use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use dynamo_metrics_naming::{HIERARCHY_LABELS, SERIES_SUFFIXES};
use parking_lot::{Mutex, RwLock};
use prometheus::core::Collector;
use prometheus::proto;

use crate::error::{Error, Result};
use crate::exposition::snapshot::Snapshot;
use crate::exposition::{Exposed, Families};
use crate::metrics::{AnyFamily, Budget, Family, Meta, SeriesCell};
use crate::registry::sources::{Foreign, Health, Producer};
use crate::relay::RelaySource;

/// All families of one runtime, keyed and rendered by name.
pub(crate) struct Store {
    /// Series with variable labels that all families together may still create.
    budget: Arc<Budget>,
    families: RwLock<BTreeMap<String, Arc<dyn AnyFamily>>>,
    foreign: RwLock<Vec<Foreign>>,
    /// Foreign family names already reported as unusable, so each is logged once.
    warned: Mutex<HashSet<String>>,
    /// Failures of foreign sources: counted, each change logged once.
    pub(crate) health: Health,
}

impl Default for Store {
    fn default() -> Self {
        Store::new(dynamo_metrics_naming::DEFAULT_SERIES_BUDGET)
    }
}

impl Store {
    /// A store whose families may create `budget` series with variable labels together.
    pub(crate) fn new(budget: usize) -> Self {
        Store {
            budget: Arc::new(Budget::new(budget)),
            families: RwLock::default(),
            foreign: RwLock::default(),
            warned: Mutex::default(),
            health: Health::default(),
        }
    }

    /// The family `meta` describes: the existing one when it was declared before with the same
    /// shape, a new one otherwise.
    ///
    /// # Errors
    /// [`Error::Conflict`] when the name is taken by a different declaration, by the series
    /// of another family, or by a foreign collector.
    pub(crate) fn family<C: SeriesCell>(&self, meta: Meta) -> Result<Arc<Family<C>>> {
        let mut families = self.families.write();
        if let Some(existing) = families.get(&meta.name) {
            let same = existing.meta().shape() == meta.shape();
            if let (true, Ok(family)) = (same, existing.clone().into_any().downcast()) {
                return Ok(family);
            }
            return Err(conflict(&meta, existing.meta().describe()));
        }
        for taken in sample_name_clashes(&meta) {
            if let Some(other) = families.get(&taken) {
                let existing = format!("{taken:?}: {}", other.meta().describe());
                return Err(conflict(&meta, existing));
            }
        }
        if self.foreign_names().any(|n| n == meta.name) {
            let existing = "a foreign collector registered with the runtime".to_owned();
            return Err(conflict(&meta, existing));
        }
        let family = Arc::new(Family::<C>::new(meta, Some(self.budget.clone())));
        families.insert(family.meta().name.clone(), family.clone());
        Ok(family)
    }

    fn foreign_names(&self) -> impl Iterator<Item = String> {
        let foreign = self.foreign.read();
        let names: Vec<String> = foreign.iter().flat_map(|f| f.names.clone()).collect();
        names.into_iter()
    }

    /// Adds a collector whose families are merged into every render, its series labelled
    /// with `labels` (the hierarchy labels of the level it was registered at).
    ///
    /// # Errors
    /// [`Error::Collector`] when it describes no metric, uses a name one of our families has,
    /// or sets a hierarchy label itself.
    pub(crate) fn register_collector(
        &self,
        collector: Box<dyn Collector>,
        labels: Vec<(&'static str, String)>,
    ) -> Result<()> {
        let refuse = |reason: String| Err(Error::Collector { reason });
        let descs = collector.desc();
        if descs.is_empty() {
            return refuse("it describes no metrics".to_owned());
        }
        let families = self.families.read();
        for desc in &descs {
            if families.contains_key(&desc.fq_name) {
                return refuse(format!(
                    "metric {:?} is already a family of this runtime",
                    desc.fq_name
                ));
            }
            let label_names = desc
                .variable_labels
                .iter()
                .map(String::as_str)
                .chain(desc.const_label_pairs.iter().map(proto::LabelPair::name));
            for label in label_names {
                if HIERARCHY_LABELS.contains(&label) {
                    return refuse(format!(
                        "metric {:?} sets the hierarchy label {label:?}, which the runtime injects",
                        desc.fq_name
                    ));
                }
            }
        }
        let names: Vec<String> = descs.iter().map(|d| d.fq_name.clone()).collect();
        let source = format!("collector:{}", names.join(","));
        // Still holding the families lock: no family can take one of these names meanwhile.
        self.foreign.write().push(Foreign {
            labels,
            names,
            producer: Producer::Collector(collector),
            source,
        });
        drop(families);
        Ok(())
    }

    /// Adds a relayed exposition, read at every render, its series labelled with `labels`
    /// (those of the level it was attached at).
    ///
    /// # Errors
    /// [`Error::Relay`] when a source of the same name is attached already.
    pub(crate) fn register_relay(
        &self,
        relay: RelaySource,
        labels: Vec<(&'static str, String)>,
    ) -> Result<()> {
        let mut foreign = self.foreign.write();
        if relay.name().is_empty() || foreign.iter().any(|f| f.source == relay.name()) {
            return Err(Error::Relay {
                source_name: relay.name().to_owned(),
                reason: "a source needs a name of its own in the runtime".to_owned(),
            });
        }
        foreign.push(Foreign {
            labels,
            names: Vec::new(),
            source: relay.name().to_owned(),
            producer: Producer::Relay(relay),
        });
        Ok(())
    }

    /// Adds the metrics of the tokio runtime of `handle`, sampled at every render, labelled
    /// with `labels` (the runtime's).
    pub(crate) fn register_tokio(
        &self,
        handle: tokio::runtime::Handle,
        labels: Vec<(&'static str, String)>,
    ) {
        self.foreign.write().push(Foreign {
            labels,
            names: Vec::new(),
            source: "tokio".to_owned(),
            producer: Producer::Tokio(handle),
        });
    }

    /// Whether a render may wait on the network (a relayed URL is attached).
    #[cfg(feature = "server")]
    pub(crate) fn reads_remote(&self) -> bool {
        self.foreign.read().iter().any(Foreign::is_remote)
    }

    /// Collects every foreign collector's families, merged by name, each series with the
    /// hierarchy labels of the level its collector was registered at.
    ///
    /// Read without the families' lock: a relayed URL may take up to its deadline, and the
    /// families of the runtime stay free meanwhile. Names taken by our families are left out
    /// by the caller.
    fn foreign_snapshots(&self, keep: &dyn Fn(&str) -> bool) -> BTreeMap<String, Snapshot> {
        let foreign = self.foreign.read();
        let mut merged: BTreeMap<String, Snapshot> = BTreeMap::new();
        let unusable = |name: &str, why: &str| self.warn_once(name, why);
        for f in foreign.iter() {
            for snap in f.read(&self.health, &unusable).unwrap_or_default() {
                let name = snap.name.as_str();
                if !keep(name) {
                    continue;
                }
                let name = snap.name.clone();
                let name = name.as_str();
                match merged.entry(snap.name.clone()) {
                    Entry::Vacant(e) => {
                        e.insert(snap);
                    }
                    Entry::Occupied(mut e) if e.get().kind == snap.kind => {
                        e.get_mut().series.extend(snap.series);
                    }
                    Entry::Occupied(_) => self.warn_once(name, "collectors disagree on its type"),
                }
            }
        }
        merged
    }

    fn warn_once(&self, name: &str, why: &str) {
        if self.warned.lock().insert(name.to_owned()) {
            tracing::warn!(
                family = name,
                "foreign metric family left out of /metrics: {why}"
            );
        }
    }
}

impl Families for Store {
    /// Ours and the foreign collectors', merged in name order.
    fn each_family(&self, keep: &dyn Fn(&str) -> bool, each: &mut dyn FnMut(Exposed<'_>)) {
        // One lock at a time: the foreign sources' (read first, while they take their time),
        // then the families'.
        let mut foreign = self.foreign_snapshots(keep);
        let families = self.families.read();
        foreign.retain(|name, _| {
            let ours = families.contains_key(name);
            if ours {
                self.warn_once(name, "it has the name of one of this runtime's families");
            }
            !ours
        });
        in_name_order(&families, keep, &foreign, |next| match next {
            Next::Ours(family) => each(Exposed::Prepared(family.as_prepared())),
            Next::Theirs(snap) => each(Exposed::Snapshot(snap)),
        });
    }
}

/// One family of an exposition: ours, or a foreign collector's.
enum Next<'a, T> {
    Ours(&'a dyn AnyFamily),
    Theirs(&'a T),
}

/// Calls `each` with every family of `ours` that `keep` accepts and every one of `theirs`,
/// merged in name order (the names do not overlap: foreign families named like ours are left
/// out before). With `metrics` off our families record nothing and are not exported.
fn in_name_order<'a, T>(
    ours: &'a BTreeMap<String, Arc<dyn AnyFamily>>,
    keep: &dyn Fn(&str) -> bool,
    theirs: &'a BTreeMap<String, T>,
    mut each: impl FnMut(Next<'a, T>),
) {
    let mut ours = ours
        .iter()
        .filter(|(name, _)| cfg!(feature = "metrics") && keep(name))
        .peekable();
    let mut theirs = theirs.iter().peekable();
    loop {
        let next = match (ours.peek(), theirs.peek()) {
            (Some((a, _)), Some((b, _))) if a > b => theirs.next().map(|(_, t)| Next::Theirs(t)),
            (Some(_), _) => ours.next().map(|(_, f)| Next::Ours(&**f)),
            (None, Some(_)) => theirs.next().map(|(_, t)| Next::Theirs(t)),
            (None, None) => None,
        };
        match next {
            Some(next) => each(next),
            None => break,
        }
    }
}

fn conflict(new: &Meta, existing: String) -> Error {
    Error::Conflict {
        family: new.name.clone(),
        existing,
        new: new.describe(),
    }
}

/// Other family names whose samples would share names with this family's samples.
fn sample_name_clashes(meta: &Meta) -> Vec<String> {
    use dynamo_metrics_naming::MetricKind::Histogram;
    let mut names = Vec::new();
    if meta.kind == Histogram {
        names.extend(SERIES_SUFFIXES.iter().map(|s| format!("{}{s}", meta.name)));
    }
    for suffix in SERIES_SUFFIXES {
        if let Some(stem) = meta.name.strip_suffix(suffix) {
            names.push(stem.to_owned());
        }
    }
    names
}
