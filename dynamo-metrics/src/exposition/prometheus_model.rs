//! The `prometheus` crate's model, both ways: the families of foreign `prometheus` collectors
//! read into [`Snapshot`]s ([`snapshot`]), and snapshots of our own families as that model for
//! our types' `Collector` impls ([`to_proto`]).
//!
//! The `prometheus` crate has two shapes of its `proto` types: a plain model, and the
//! generated protobuf model when its `protobuf` feature is on (its default). Cargo unifies
//! features across a user's whole dependency graph, so this crate cannot know which shape it
//! is compiled against, and the two share no accessor for counter, gauge and untyped values.
//! What both shapes share is the crate's own [`TextEncoder`]: we let it write each family and
//! read its lines back. The output is therefore the same bytes under either shape.

use prometheus::proto::{self, MetricType};
use prometheus::{Encoder as _, TextEncoder};

use crate::exposition::snapshot::{Kind, SeriesSnapshot, Snapshot, Value};

/// One sample line of the `prometheus` text encoder.
#[derive(Debug, Clone, PartialEq)]
struct Sample {
    /// What follows the family name in the sample name: `""`, `_bucket`, `_sum`, `_count`.
    suffix: String,
    /// The labels, `le` or `quantile` last where the type has one.
    labels: Vec<(String, String)>,
    value: f64,
}

/// `family` in our own model. Histograms and summaries are read through accessors both
/// shapes share; counter and gauge values through the text encoder (one line per metric, in
/// order); untyped values through `Debug`. Timestamps are dropped, as the exposition of a
/// live process should not carry them.
///
/// # Errors
/// A sentence saying why the family cannot be read (it has no name, or the encoder refused it).
pub(crate) fn snapshot(family: &proto::MetricFamily) -> Result<Snapshot, String> {
    let name = family.name();
    if name.is_empty() {
        return Err("it has no name".to_owned());
    }
    let metrics = family.get_metric();
    let kind = match family.get_field_type() {
        MetricType::COUNTER => Kind::Counter,
        MetricType::GAUGE => Kind::Gauge,
        MetricType::HISTOGRAM => Kind::Histogram,
        MetricType::SUMMARY => Kind::Summary,
        MetricType::UNTYPED => Kind::Untyped,
    };
    let scalars = match kind {
        Kind::Counter | Kind::Gauge if !metrics.is_empty() => scalar_values(family)?,
        _ => Vec::new(),
    };
    let series = metrics
        .iter()
        .enumerate()
        .map(|(i, m)| {
            let labels = m
                .get_label()
                .iter()
                .map(|p| (p.name().to_owned(), p.value().to_owned()))
                .collect();
            let value = match kind {
                Kind::Counter | Kind::Gauge => Value::Scalar(
                    *scalars
                        .get(i)
                        .ok_or("the text encoder wrote fewer lines than metrics")?,
                ),
                Kind::Untyped => Value::Scalar(
                    untyped_value(&format!("{m:?}")).ok_or("its untyped value cannot be read")?,
                ),
                Kind::Histogram => {
                    let h = m.get_histogram();
                    Value::Histogram {
                        buckets: h
                            .get_bucket()
                            .iter()
                            .map(|b| (b.upper_bound(), b.cumulative_count()))
                            .collect(),
                        sum: h.get_sample_sum(),
                        count: h.get_sample_count(),
                        native: None,
                    }
                }
                Kind::Summary => {
                    let s = m.get_summary();
                    Value::Summary {
                        quantiles: s
                            .get_quantile()
                            .iter()
                            .map(|q| (q.quantile(), q.value()))
                            .collect(),
                        sum: s.sample_sum(),
                        count: s.sample_count(),
                    }
                }
            };
            Ok(SeriesSnapshot {
                labels,
                value,
                exemplars: Vec::new(),
            })
        })
        .collect::<Result<_, String>>()?;
    Ok(Snapshot {
        name: name.to_owned(),
        help: family.help().to_owned(),
        kind,
        series,
    })
}

/// The value of every metric of a counter or gauge family, in order, as the `prometheus`
/// text encoder writes them.
fn scalar_values(family: &proto::MetricFamily) -> Result<Vec<f64>, String> {
    let mut text = Vec::new();
    TextEncoder::new()
        .encode(std::slice::from_ref(family), &mut text)
        .map_err(|e| format!("the prometheus text encoder refused it: {e}"))?;
    let text = String::from_utf8(text).map_err(|_| "its text is not UTF-8".to_owned())?;
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|line| {
            parse_sample(family.name(), line)
                .map(|s| s.value)
                .ok_or_else(|| format!("cannot read {line:?}"))
        })
        .collect()
}

/// Reads `name{a="x",b="y"} value [timestamp]` as the `prometheus` text encoder writes it.
fn parse_sample(family: &str, line: &str) -> Option<Sample> {
    let name_end = line.find(['{', ' '])?;
    let suffix = line[..name_end].strip_prefix(family)?.to_owned();
    let mut rest = &line[name_end..];
    let mut labels = Vec::new();
    if let Some(mut inner) = rest.strip_prefix('{') {
        loop {
            if let Some(after) = inner.strip_prefix('}') {
                rest = after;
                break;
            }
            let inner_start = inner.strip_prefix(',').unwrap_or(inner);
            let eq = inner_start.find('=')?;
            let label = inner_start[..eq].to_owned();
            let (value, after) = unquote(inner_start[eq + 1..].strip_prefix('"')?)?;
            labels.push((label, value));
            inner = after;
        }
    }
    let value = rest.strip_prefix(' ')?.split(' ').next()?;
    Some(Sample {
        suffix,
        labels,
        value: value.parse().ok()?,
    })
}

/// Reads an escaped label value up to its closing quote; returns it and what follows.
fn unquote(s: &str) -> Option<(String, &str)> {
    let mut value = String::new();
    let mut chars = s.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Some((value, &s[i + 1..])),
            '\\' => value.push(match chars.next()?.1 {
                'n' => '\n',
                other => other,
            }),
            c => value.push(c),
        }
    }
    None
}

/// The value of an untyped metric, read from its `Debug` text: the one view of it that both
/// shapes of `prometheus::proto::Metric` offer. Plain: `untyped: Untyped { value: 1.5 }`;
/// protobuf: `untyped: MessageField(Some(Untyped { value: Some(1.5), .. }))`, or
/// `MessageField(None)` / `value: None` when unset (0, as the protobuf default).
fn untyped_value(debug: &str) -> Option<f64> {
    let field = outside_strings(debug, "untyped: ")?;
    let rest = &debug[field + "untyped: ".len()..];
    let rest = rest
        .strip_prefix("MessageField(Some(")
        .unwrap_or(rest)
        .strip_prefix("Untyped { value: ");
    let Some(rest) = rest else {
        return Some(0.0);
    };
    let rest = rest.strip_prefix("Some(").unwrap_or(rest);
    if rest.starts_with("None") {
        return Some(0.0);
    }
    let end = rest.find([')', ',', ' ', '}'])?;
    rest[..end].parse().ok()
}

/// The first position of `needle` in `debug` that is not inside a quoted string.
fn outside_strings(debug: &str, needle: &str) -> Option<usize> {
    let mut in_string = false;
    let mut escaped = false;
    for (i, c) in debug.char_indices() {
        if in_string {
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => in_string = false,
                _ => {}
            }
        } else if c == '"' {
            in_string = true;
        } else if debug[i..].starts_with(needle) {
            return Some(i);
        }
    }
    None
}

/// `family` as a `prometheus` family, for the `Collector` impls. Builds only through setters,
/// which both shapes of `prometheus::proto` have (see `foreign`).
pub(crate) fn to_proto(family: &Snapshot) -> proto::MetricFamily {
    let metrics = family.series.iter().map(|s| {
        // As in our own formats, a label with an empty value is not written.
        let labels = s
            .labels
            .iter()
            .filter(|(_, v)| !v.is_empty())
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

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(suffix: &str, labels: &[(&str, &str)], value: f64) -> Sample {
        Sample {
            suffix: suffix.to_owned(),
            labels: labels
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            value,
        }
    }

    #[test]
    fn sample_lines() {
        let line = r#"m_bucket{a="x \"q\" \\ \n é",le="0.5"} 3 1700000000000"#;
        assert_eq!(
            parse_sample("m", line),
            Some(sample(
                "_bucket",
                &[("a", "x \"q\" \\ \n é"), ("le", "0.5")],
                3.0
            ))
        );
        assert_eq!(parse_sample("m", "m 1.5"), Some(sample("", &[], 1.5)));
        assert_eq!(
            parse_sample("m", "m -inf").map(|s| s.value),
            Some(f64::NEG_INFINITY)
        );
        assert!(parse_sample("m", "m NaN").unwrap().value.is_nan());
        assert_eq!(parse_sample("m", r#"m{a="x} 1"#), None);
        assert_eq!(parse_sample("other", "m 1"), None);
    }

    #[test]
    fn untyped_values_in_both_shapes() {
        let plain = r#"Metric { label: [LabelPair { name: "untyped: Untyped { value: 9 }", value: "\"" }], gauge: Gauge { value: 0.0 }, untyped: Untyped { value: 1.5 }, histogram: Histogram { sample_count: 0 }, timestamp_ms: 0 }"#;
        assert_eq!(untyped_value(plain), Some(1.5));
        let protobuf = r#"Metric { label: [], gauge: MessageField(None), untyped: MessageField(Some(Untyped { value: Some(-2e-7), special_fields: SpecialFields { .. } })), timestamp_ms: None }"#;
        assert_eq!(untyped_value(protobuf), Some(-2e-7));
        let unset = r#"Metric { label: [], untyped: MessageField(None), timestamp_ms: None }"#;
        assert_eq!(untyped_value(unset), Some(0.0));
        let none = r#"Metric { untyped: MessageField(Some(Untyped { value: None, special_fields: SpecialFields { } })) }"#;
        assert_eq!(untyped_value(none), Some(0.0));
        assert_eq!(untyped_value("Metric { }"), None);
    }

    #[test]
    fn families_from_the_prometheus_crate() {
        use prometheus::core::Collector;
        let h = prometheus::HistogramVec::new(
            prometheus::HistogramOpts::new("h", "help").buckets(vec![0.5, 1.0]),
            &["route"],
        )
        .unwrap();
        h.with_label_values(&["a\"b"]).observe(0.7);
        let labels = vec![("route".to_owned(), "a\"b".to_owned())];
        assert_eq!(
            snapshot(&h.collect()[0]).unwrap(),
            Snapshot {
                name: "h".into(),
                help: "help".into(),
                kind: Kind::Histogram,
                series: vec![SeriesSnapshot {
                    labels,
                    value: Value::Histogram {
                        buckets: vec![(0.5, 0), (1.0, 1)],
                        sum: 0.7,
                        count: 1,
                        native: None
                    },
                    exemplars: Vec::new(),
                }],
            }
        );
        let c = prometheus::IntCounterVec::new(prometheus::Opts::new("c_total", "help"), &["k"])
            .unwrap();
        c.with_label_values(&["x } y"]).inc_by(7);
        c.with_label_values(&["z"]).inc_by(2);
        // Each value stays with its labels, whatever order the crate collects them in.
        let mut values: Vec<(String, Value)> = snapshot(&c.collect()[0])
            .unwrap()
            .series
            .into_iter()
            .map(|s| (s.labels[0].1.clone(), s.value))
            .collect();
        values.sort_by(|a, b| a.0.cmp(&b.0));
        assert_eq!(
            values,
            [
                ("x } y".to_owned(), Value::Scalar(7.0)),
                ("z".to_owned(), Value::Scalar(2.0))
            ]
        );
    }
}
