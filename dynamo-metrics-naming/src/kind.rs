//! The kinds of metric: [`MetricKind`].

use std::fmt;

/// What kind of metric a name belongs to; some rules depend on it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MetricKind {
    /// A monotonically increasing value (`counter` in the text format).
    Counter,
    /// A value that goes up and down (`gauge`).
    Gauge,
    /// Observations counted into buckets (`histogram`).
    Histogram,
}

impl MetricKind {
    /// The word the text exposition format uses in `# TYPE` lines.
    pub const fn as_str(self) -> &'static str {
        match self {
            MetricKind::Counter => "counter",
            MetricKind::Gauge => "gauge",
            MetricKind::Histogram => "histogram",
        }
    }
}

impl fmt::Display for MetricKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
