//! Foreign sources of families: collectors of the `prometheus` crate and relayed expositions,
//! each read at every scrape with the labels of the level it was attached to, each failing
//! alone. See [`Foreign::read`] for details.

use std::collections::HashMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::OnceLock;

use parking_lot::Mutex;
use prometheus::core::Collector;

use crate::describe::{Declared, MetricDescriptor, runtime_family};
use crate::error::Result;
use crate::exposition::prometheus_model as model;
use crate::exposition::snapshot::Snapshot;
use crate::metrics::IntCounterVec;
use crate::registry::scope::MetricsScope;
use crate::relay::{Failure, RelaySource};

static SOURCE_FAILURES: MetricDescriptor = runtime_family!(
    "dynamo_metrics::DistributedRuntime",
    "metrics",
    "source_failures_total",
    Counter,
    "u64",
    "Reads of a foreign source (a relayed exposition, a prometheus collector) left out of a scrape, by source and reason: unreachable, timeout, status, too_large, garbage, panic",
)
.__labels(&["source", "reason"]);

static RELAY_DROPPED: MetricDescriptor = runtime_family!(
    "dynamo_metrics::DistributedRuntime",
    "metrics",
    "relay_series_dropped_total",
    Counter,
    "u64",
    "Series of a relayed exposition left out of a scrape because the source sent more than its cap",
)
.__labels(&["source"]);

inventory::submit! { Declared(&SOURCE_FAILURES) }
inventory::submit! { Declared(&RELAY_DROPPED) }

/// Where a foreign source's families come from.
pub(crate) enum Producer {
    Collector(Box<dyn Collector>),
    Relay(RelaySource),
    /// The tokio runtime a `DistributedRuntime` was made in.
    Tokio(tokio::runtime::Handle),
}

/// A foreign source with the labels of the level it was attached to.
pub(crate) struct Foreign {
    pub(crate) labels: Vec<(&'static str, String)>,
    /// The names it describes (collectors; a relay's are known only when read).
    pub(crate) names: Vec<String>,
    pub(crate) producer: Producer,
    /// Its `source` label.
    pub(crate) source: String,
}

/// The counters failures go to (once the runtime made them), and the last failure of each
/// source, so that each change is logged once.
#[derive(Default)]
pub(crate) struct Health {
    counters: OnceLock<(IntCounterVec, IntCounterVec)>,
    last: Mutex<HashMap<String, String>>,
}

impl Health {
    /// Creates `dynamo_metrics_source_failures_total` and
    /// `dynamo_metrics_relay_series_dropped_total` on the runtime's root `scope`.
    pub(crate) fn register(&self, scope: &MetricsScope) -> Result<()> {
        let failures = IntCounterVec::from_view(scope.declared(&SOURCE_FAILURES)?);
        let dropped = IntCounterVec::from_view(scope.declared(&RELAY_DROPPED)?);
        let _ = self.counters.set((failures, dropped));
        Ok(())
    }

    fn failed(&self, source: &str, failure: &Failure) {
        if let Some((failures, _)) = self.counters.get()
            && let Ok(c) = failures.with_label_values(&[source, failure.reason()])
        {
            c.inc();
        }
        let why = failure.to_string();
        let mut last = self.last.lock();
        if last.get(source) != Some(&why) {
            tracing::warn!(source, "foreign source left out of the scrape: {why}");
            last.insert(source.to_owned(), why);
        }
    }

    fn succeeded(&self, source: &str, overflow: usize) {
        if overflow > 0
            && let Some((_, dropped)) = self.counters.get()
            && let Ok(c) = dropped.with_label_values(&[source])
        {
            c.inc_by(overflow as u64);
        }
        if self.last.lock().remove(source).is_some() {
            tracing::info!(source, "foreign source read again");
        }
    }
}

impl Foreign {
    /// Reads the source's families now, each series with the labels of its level (a relayed
    /// series keeps a label it has of the same name, unless the source says ours win); `None`
    /// when it fails, counted and logged in `health`. A panic in a collector or callback is
    /// caught here.
    /// A collector's family that the model cannot take goes to `unusable` (name, why).
    pub(crate) fn read(
        &self,
        health: &Health,
        unusable: &dyn Fn(&str, &str),
    ) -> Option<Vec<Snapshot>> {
        let read = match &self.producer {
            Producer::Collector(collector) => {
                catch_unwind(AssertUnwindSafe(|| collector.collect()))
                    .map_err(|_| Failure::Panic)
                    .map(|families| {
                        let snapshots = families
                            .iter()
                            .filter_map(|f| {
                                model::snapshot(f)
                                    .map_err(|why| unusable(f.name(), &why))
                                    .ok()
                            })
                            .collect();
                        (snapshots, 0)
                    })
            }
            Producer::Relay(relay) => relay.read(),
            Producer::Tokio(handle) => Ok((super::tokio_runtime::sample(handle), 0)),
        };
        let (mut families, overflow): (Vec<Snapshot>, usize) = match read {
            Ok(read) => read,
            Err(failure) => {
                health.failed(&self.source, &failure);
                return None;
            }
        };
        health.succeeded(&self.source, overflow);
        let ours_win = matches!(&self.producer, Producer::Relay(r) if r.ours_win);
        let ours: Vec<(&str, &str)> = self
            .labels
            .iter()
            .filter(|(_, v)| !v.is_empty())
            .map(|(k, v)| (*k, v.as_str()))
            .collect();
        for family in &mut families {
            for series in &mut family.series {
                if ours_win {
                    series
                        .labels
                        .retain(|(k, _)| !ours.iter().any(|(o, _)| o == k));
                }
                let own = std::mem::take(&mut series.labels);
                let mut labels = Vec::with_capacity(ours.len() + own.len());
                for (k, v) in &ours {
                    if !own.iter().any(|(s, _)| s == k) {
                        labels.push(((*k).to_owned(), (*v).to_owned()));
                    }
                }
                labels.extend(own);
                series.labels = labels;
            }
        }
        Some(families)
    }

    /// Whether reading it may wait on the network.
    #[cfg(feature = "server")]
    pub(crate) fn is_remote(&self) -> bool {
        matches!(&self.producer, Producer::Relay(r) if r.is_remote())
    }
}
