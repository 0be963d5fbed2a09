//! The endpoints of one instrumented function under the label values its calls give, as
//! `#[instrument_endpoint(.., labels(model = ..))]` asks. See [`LabelledEndpoints`].

use std::sync::atomic::{AtomicBool, Ordering::Relaxed};

use parking_lot::RwLock;

use super::endpoint::EndpointMetrics;
use crate::error::Result;
use crate::metrics::IntCounter;
use crate::registry::hierarchy::Component;
use crate::registry::scope::MetricsRegistry;

/// The request metrics of one instrumented function in one runtime, one set per list of
/// label values its calls gave (a worker's models), each on the endpoint with those labels.
/// Values the component cannot take (past its cap of labelled endpoints, or too long) are
/// recorded on the endpoint without labels and counted in
/// `dynamo_metrics_series_overflow_total{family="dynamo_component_requests_total"}`.
pub(crate) struct LabelledEndpoints {
    component: Component,
    endpoint: String,
    names: &'static [&'static str],
    /// A few entries in practice (the models a worker serves): a scan beats hashing them.
    /// Only ever grows: a call names its entry by position.
    known: RwLock<Vec<(Box<[String]>, EndpointMetrics)>>,
    overflows: IntCounter,
    warned: AtomicBool,
}

impl LabelledEndpoints {
    /// The endpoints `endpoint` of `component` labelled `names`.
    pub(crate) fn new(
        component: Component,
        endpoint: &str,
        names: &'static [&'static str],
    ) -> Result<Self> {
        let overflows = component
            .metrics_scope()
            .overflow_counter("dynamo_component_requests_total")?;
        Ok(LabelledEndpoints {
            component,
            endpoint: endpoint.to_owned(),
            names,
            known: RwLock::new(Vec::new()),
            overflows,
            warned: AtomicBool::new(false),
        })
    }

    /// The label names, in the order of the values.
    pub(crate) fn names(&self) -> &'static [&'static str] {
        self.names
    }

    /// Starts a call on the endpoint labelled `values` (in the order of the names), made at
    /// the first call; its place here, for [`with`](Self::with). `None` when the component
    /// refuses the values (counted and logged once).
    #[inline]
    pub(crate) fn begin(&self, values: &[&str]) -> Option<u32> {
        let known = self.known.read();
        if let Some(slot) = known.iter().position(|(v, _)| same(v, values)) {
            known[slot].1.begin();
            return u32::try_from(slot).ok();
        }
        drop(known);
        match self.create(values) {
            Ok(slot) => {
                self.with(slot, EndpointMetrics::begin);
                u32::try_from(slot).ok()
            }
            Err(error) => {
                self.overflows.inc();
                if !self.warned.swap(true, Relaxed) {
                    tracing::warn!(%error, "calls with these endpoint labels are recorded without them");
                }
                None
            }
        }
    }

    /// Runs `f` on the metrics at `slot` (entries are never removed, so a slot stays).
    #[inline]
    pub(crate) fn with<R>(&self, slot: usize, f: impl FnOnce(&EndpointMetrics) -> R) -> Option<R> {
        self.known.read().get(slot).map(|(_, m)| f(m))
    }

    /// Creates (or finds) the metrics of the endpoint labelled `values` at zero; their slot.
    ///
    /// # Errors
    /// [`Error::EndpointLabels`](crate::Error::EndpointLabels) as
    /// [`Component::endpoint_with_labels`] refuses them.
    #[cold]
    pub(crate) fn create(&self, values: &[&str]) -> Result<usize> {
        let mut known = self.known.write();
        if let Some(slot) = known.iter().position(|(v, _)| same(v, values)) {
            return Ok(slot);
        }
        let labels: Vec<(&str, &str)> = self
            .names
            .iter()
            .copied()
            .zip(values.iter().copied())
            .collect();
        let endpoint = self
            .component
            .endpoint_with_labels(&self.endpoint, &labels)?;
        let metrics = EndpointMetrics::register(&endpoint)?;
        known.push((values.iter().map(|v| (*v).to_owned()).collect(), metrics));
        Ok(known.len() - 1)
    }
}

fn same(known: &[String], values: &[&str]) -> bool {
    known.len() == values.len() && known.iter().zip(values).all(|(a, b)| a == b)
}
