//! The statics behind one `#[instrument_endpoint]` function. See [`StaticEndpoint`] for
//! details.

use std::sync::OnceLock;

use super::binding;
use super::endpoint::{DESCRIPTORS, EndpointMetrics};
use super::guard::{Held, PendingCells, RequestGuard};
use crate::describe::MetricDescriptor;

/// The statics behind one `#[instrument_endpoint]` function: its default component and
/// endpoint names, its catalog entries, its index in every runtime's table of instrumented
/// functions, and the cells that record calls made while no runtime is alive. Those pending
/// records move into the next runtime that starts, so calls served before it are counted.
#[doc(hidden)]
#[derive(Debug)]
pub struct StaticEndpoint {
    component: &'static str,
    endpoint: &'static str,
    labels: &'static [&'static str],
    descriptors: [MetricDescriptor; 7],
    index: OnceLock<usize>,
    pending: PendingCells,
}

impl StaticEndpoint {
    /// For the macro: the function `source` at `file:line` serves `component/endpoint`,
    /// its calls labelled `labels`.
    pub const fn new(
        component: &'static str,
        endpoint: &'static str,
        labels: &'static [&'static str],
        source: &'static str,
        file: &'static str,
        line: u32,
    ) -> Self {
        let mut descriptors = DESCRIPTORS;
        let mut i = 0;
        while i < descriptors.len() {
            descriptors[i] = descriptors[i].__declared(source, file, line, 0);
            i += 1;
        }
        StaticEndpoint {
            component,
            endpoint,
            labels,
            descriptors,
            index: OnceLock::new(),
            pending: PendingCells::new(),
        }
    }

    /// The component name the attribute gives (a runtime may map it to another).
    pub(crate) fn component(&self) -> &'static str {
        self.component
    }

    /// The endpoint name the attribute gives (a runtime may map it to another).
    pub(crate) fn endpoint(&self) -> &'static str {
        self.endpoint
    }

    /// The names of the endpoint labels its calls give values for (`labels(..)` of the
    /// attribute), in the order of the values.
    pub(crate) fn labels(&self) -> &'static [&'static str] {
        self.labels
    }

    /// The descriptors of the endpoint metrics this function records.
    pub(crate) fn descriptors(&self) -> &[MetricDescriptor] {
        &self.descriptors
    }

    /// The position of this function in [`sites`] and in every runtime's table.
    #[inline]
    pub(crate) fn index(&'static self) -> usize {
        match self.index.get() {
            Some(i) => *i,
            None => {
                sites();
                self.index.get().copied().unwrap_or(usize::MAX)
            }
        }
    }

    /// Starts a request on the metrics of the runtime the call runs under (see
    /// [`binding`]), or on the pending cells while no runtime is alive.
    #[inline]
    pub fn start(&'static self) -> RequestGuard<'static> {
        let index = self.index();
        let runtime = binding::begin(index);
        match (runtime, u32::try_from(index)) {
            (Some(runtime), Ok(index)) => RequestGuard::new(Held::Bound { runtime, index }),
            _ => self.pending.start(index),
        }
    }

    /// Starts a request on the metrics of the endpoint labelled `values` (in the order of
    /// [`labels`](Self::labels)) in the runtime the call runs under. Empty values, values the
    /// runtime refuses, and calls while no runtime is alive go where [`start`](Self::start)
    /// puts them.
    #[inline]
    pub fn start_labelled(&'static self, values: &[&str]) -> RequestGuard<'static> {
        if values.iter().all(|v| v.is_empty()) {
            return self.start();
        }
        let index = self.index();
        match (binding::begin_labelled(index, values), u32::try_from(index)) {
            (Some((runtime, slot)), Ok(index)) => RequestGuard::new(Held::Labelled {
                runtime,
                index,
                slot,
            }),
            _ => self.start(),
        }
    }

    /// Moves the pending records into `target`.
    pub(crate) fn drain_pending_into(&self, target: &EndpointMetrics) {
        self.pending.drain_into(target);
    }
}

/// One instrumented function, submitted to `inventory` by the macro.
#[doc(hidden)]
#[derive(Debug)]
pub struct EndpointSite(pub &'static StaticEndpoint);

inventory::collect!(EndpointSite);

/// Every instrumented function of the program, in a fixed order: each one's position is its
/// [`index`](StaticEndpoint::index).
pub(crate) fn sites() -> &'static [&'static StaticEndpoint] {
    static SITES: OnceLock<Box<[&'static StaticEndpoint]>> = OnceLock::new();
    SITES.get_or_init(|| {
        let all: Box<[&'static StaticEndpoint]> =
            inventory::iter::<EndpointSite>().map(|s| s.0).collect();
        for (i, site) in all.iter().enumerate() {
            let _ = site.index.set(i);
        }
        all
    })
}
