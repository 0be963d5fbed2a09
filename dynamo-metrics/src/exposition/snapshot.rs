//! One model of what a family holds at one moment, whoever produced it: the GPU collector,
//! foreign `prometheus` collectors, our own families when they are not written from their
//! prepared text. [`text::write_snapshot`](super::text::write_snapshot) and
//! [`protobuf::write_snapshot`](super::protobuf::write_snapshot) write it,
//! [`prometheus_model::to_proto`](super::prometheus_model::to_proto) turns it into the
//! `prometheus` crate's model. See [`Snapshot`] for details.

/// A sample kept beside a series: its labels, value and the time it was recorded.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Exemplar {
    pub(crate) labels: Box<[(Box<str>, Box<str>)]>,
    pub(crate) value: f64,
    /// Seconds and nanoseconds since the Unix epoch.
    pub(crate) timestamp: (i64, u32),
}

/// The type of a family, as the exposition formats name it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Counter,
    Gauge,
    Histogram,
    Summary,
    Untyped,
}

impl Kind {
    /// The word of `# TYPE` lines.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Histogram => "histogram",
            Kind::Summary => "summary",
            Kind::Untyped => "untyped",
        }
    }
}

impl From<dynamo_metrics_naming::MetricKind> for Kind {
    fn from(kind: dynamo_metrics_naming::MetricKind) -> Self {
        use dynamo_metrics_naming::MetricKind as K;
        match kind {
            K::Counter => Kind::Counter,
            K::Gauge => Kind::Gauge,
            K::Histogram => Kind::Histogram,
        }
    }
}

/// A family at one moment: its identity and every series' value.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Snapshot {
    pub(crate) name: String,
    pub(crate) help: String,
    pub(crate) kind: Kind,
    pub(crate) series: Vec<SeriesSnapshot>,
}

/// One series: its labels (in order), value and exemplars (by slot: 0 for a counter, the
/// classic bucket for a histogram).
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct SeriesSnapshot {
    pub(crate) labels: Vec<(String, String)>,
    pub(crate) value: Value,
    pub(crate) exemplars: Vec<(usize, Exemplar)>,
}

/// The value of one series.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Value {
    /// Counters, gauges, untyped.
    Scalar(f64),
    /// Cumulative counts per upper bound (`+Inf` may be left out), sum and count, and the
    /// native buckets of a native histogram (protobuf only).
    Histogram {
        buckets: Vec<(f64, u64)>,
        sum: f64,
        count: u64,
        native: Option<Box<Native>>,
    },
    /// Values per quantile, sum and count.
    Summary {
        quantiles: Vec<(f64, f64)>,
        sum: f64,
        count: u64,
    },
}

/// The native buckets of a histogram: bucket `k` holds `(2^((k-1)·2^-schema), 2^(k·2^-schema)]`
/// (negated for the negative ones), keys sorted, empty buckets left out.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Native {
    pub(crate) schema: i8,
    pub(crate) zero_threshold: f64,
    pub(crate) zero_count: u64,
    pub(crate) positive: Vec<(i32, u64)>,
    pub(crate) negative: Vec<(i32, u64)>,
}

impl Native {
    /// Halves the resolution (merging neighbours) until at most `max_buckets` are left or
    /// the schema is at its lowest, -4.
    pub(crate) fn limit(&mut self, max_buckets: u32) {
        let max = usize::try_from(max_buckets).unwrap_or(usize::MAX);
        while self.positive.len() + self.negative.len() > max && self.schema > -4 {
            self.downscale();
        }
    }

    /// Halves the resolution once: buckets `2j-1` and `2j` become bucket `j` one schema
    /// down.
    pub(crate) fn downscale(&mut self) {
        self.schema -= 1;
        for buckets in [&mut self.positive, &mut self.negative] {
            let mut merged: Vec<(i32, u64)> = Vec::with_capacity(buckets.len());
            for (k, n) in buckets.drain(..) {
                let k = (k + 1) >> 1;
                match merged.last_mut() {
                    Some((last, count)) if *last == k => *count += n,
                    _ => merged.push((k, n)),
                }
            }
            *buckets = merged;
        }
    }
}
