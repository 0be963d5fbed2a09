//! The endpoints of one instrumented function under the label values its calls give, as
//! `#[instrument_endpoint(.., labels(model = ..))]` asks. See [`LabelledEndpoints`].

use std::sync::Arc;
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
    known: RwLock<Vec<(Box<[String]>, Arc<EndpointMetrics>)>>,
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

    /// The metrics of the endpoint labelled `values` (in the order of the names), made at
    /// the first call; `None` when the component refuses them (counted and logged once).
    #[inline]
    pub(crate) fn get(&self, values: &[&str]) -> Option<Arc<EndpointMetrics>> {
        let known = self.known.read();
        if let Some((_, metrics)) = known.iter().find(|(v, _)| same(v, values)) {
            return Some(metrics.clone());
        }
        drop(known);
        match self.create(values) {
            Ok(metrics) => Some(metrics),
            Err(error) => {
                self.overflows.inc();
                if !self.warned.swap(true, Relaxed) {
                    tracing::warn!(%error, "calls with these endpoint labels are recorded without them");
                }
                None
            }
        }
    }

    /// Creates (or finds) the metrics of the endpoint labelled `values` at zero.
    ///
    /// # Errors
    /// [`Error::EndpointLabels`](crate::Error::EndpointLabels) as
    /// [`Component::endpoint_with_labels`] refuses them.
    #[cold]
    pub(crate) fn create(&self, values: &[&str]) -> Result<Arc<EndpointMetrics>> {
        let mut known = self.known.write();
        if let Some((_, metrics)) = known.iter().find(|(v, _)| same(v, values)) {
            return Ok(metrics.clone());
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
        let metrics = Arc::new(EndpointMetrics::register(&endpoint)?);
        known.push((
            values.iter().map(|v| (*v).to_owned()).collect(),
            metrics.clone(),
        ));
        Ok(metrics)
    }
}

fn same(known: &[String], values: &[&str]) -> bool {
    known.len() == values.len() && known.iter().zip(values).all(|(a, b)| a == b)
}
