//! One model of what a family holds at one moment, whoever produced it: our own series (for
//! the `prometheus` `Collector` impls), the GPU collector, foreign `prometheus` collectors.
//! Text is written from it by [`write_text`], `prometheus` protobuf types are built from it
//! by [`to_proto`]: the one place each happens. See [`Snapshot`] for details.
//!
//! Our own families render from text pre-rendered per series instead (see `metrics`), the
//! fast path of every scrape; their bytes are the same as [`write_text`] gives.

use prometheus::proto;

use crate::format::Format;
use crate::metrics::Exemplar;
use crate::text;

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
            self.schema -= 1;
            for buckets in [&mut self.positive, &mut self.negative] {
                let mut merged: Vec<(i32, u64)> = Vec::with_capacity(buckets.len());
                for (k, n) in buckets.drain(..) {
                    // Buckets 2j-1 and 2j become bucket j one schema down.
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
}

/// Appends `family` in a text format: 0.0.4 or OpenMetrics. A foreign counter whose name does
/// not end in `_total` is `unknown` in OpenMetrics: its samples would have to be renamed
/// `<name>_total` otherwise, and every query of the name it has in the text format (a DCGM
/// dashboard's `DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION`, say) would lose its series.
pub(crate) fn write_text(out: &mut String, family: &Snapshot, format: Format) {
    let openmetrics = format == Format::OpenMetrics;
    let name = family.name.as_str();
    let kind = match family.kind {
        Kind::Counter if openmetrics && !name.ends_with("_total") => Kind::Untyped,
        kind => kind,
    };
    if openmetrics {
        text::write_openmetrics_header(out, name, &family.help, kind.as_str());
    } else {
        text::write_header(out, name, &family.help, kind.as_str());
    }
    for series in &family.series {
        let labels = || series.labels.iter().map(|(k, v)| (k.as_str(), v.as_str()));
        let mut line = |suffix: &str, extra: Option<(&str, &str)>, v: f64| {
            text::write_series_prefix(out, &family.name, suffix, labels(), extra);
            text::write_f64(out, v);
            out.push('\n');
        };
        match &series.value {
            Value::Scalar(v) => line("", None, *v),
            Value::Histogram {
                buckets,
                sum,
                count,
                ..
            } => {
                for (bound, c) in buckets {
                    line(
                        "_bucket",
                        Some(("le", &text::format_bound(*bound))),
                        *c as f64,
                    );
                }
                if buckets.last().is_none_or(|(b, _)| *b != f64::INFINITY) {
                    line("_bucket", Some(("le", "+Inf")), *count as f64);
                }
                line("_sum", None, *sum);
                line("_count", None, *count as f64);
            }
            Value::Summary {
                quantiles,
                sum,
                count,
            } => {
                for (q, v) in quantiles {
                    line("", Some(("quantile", &text::format_bound(*q))), *v);
                }
                line("_sum", None, *sum);
                line("_count", None, *count as f64);
            }
        }
    }
}

/// `family` as a `prometheus` family, for the `Collector` impls. Builds only through setters,
/// which both shapes of `prometheus::proto` have (see `foreign`).
pub(crate) fn to_proto(family: &Snapshot) -> proto::MetricFamily {
    let metrics = family.series.iter().map(|s| {
        let labels = s
            .labels
            .iter()
            .map(|(k, v)| {
                let mut pair = proto::LabelPair::default();
                pair.set_name(k.clone());
                pair.set_value(v.clone());
                pair
            })
            .collect();
        let mut metric = proto::Metric::from_label(labels);
        match (&s.value, family.kind) {
            (Value::Scalar(v), Kind::Counter) => {
                let mut c = proto::Counter::default();
                c.set_value(*v);
                metric.set_counter(c);
            }
            (Value::Scalar(v), _) => {
                let mut g = proto::Gauge::default();
                g.set_value(*v);
                metric.set_gauge(g);
            }
            (
                Value::Histogram {
                    buckets,
                    sum,
                    count,
                    ..
                },
                _,
            ) => {
                // The `prometheus` crate's model has no native buckets: classic ones only.
                let mut h = proto::Histogram::default();
                h.set_bucket(
                    buckets
                        .iter()
                        .map(|(bound, c)| {
                            let mut b = proto::Bucket::default();
                            b.set_upper_bound(*bound);
                            b.set_cumulative_count(*c);
                            b
                        })
                        .collect(),
                );
                h.set_sample_sum(*sum);
                h.set_sample_count(*count);
                metric.set_histogram(h);
            }
            (
                Value::Summary {
                    quantiles,
                    sum,
                    count,
                },
                _,
            ) => {
                let mut summary = proto::Summary::default();
                summary.set_quantile(
                    quantiles
                        .iter()
                        .map(|(q, v)| {
                            let mut quantile = proto::Quantile::default();
                            quantile.set_quantile(*q);
                            quantile.set_value(*v);
                            quantile
                        })
                        .collect(),
                );
                summary.set_sample_sum(*sum);
                summary.set_sample_count(*count);
                metric.set_summary(summary);
            }
        }
        metric
    });
    let mut out = proto::MetricFamily::default();
    out.set_name(family.name.clone());
    out.set_help(family.help.clone());
    out.set_field_type(match family.kind {
        Kind::Counter => proto::MetricType::COUNTER,
        Kind::Gauge => proto::MetricType::GAUGE,
        Kind::Histogram => proto::MetricType::HISTOGRAM,
        Kind::Summary => proto::MetricType::SUMMARY,
        // Built from our own families only, which are never untyped; a gauge reads the same.
        Kind::Untyped => proto::MetricType::GAUGE,
    });
    out.set_metric(metrics.collect());
    out
}
