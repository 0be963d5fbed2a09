//! Writing the Prometheus text exposition format 0.0.4: escaping and number formatting.
//!
//! Everything here appends to a caller's buffer and allocates nothing of its own, so a render
//! of the whole registry costs one buffer and the numbers written into it.

use super::format::Format;
use super::snapshot::{Exemplar, Kind, Snapshot, Value};

/// Appends a label value with backslash, double quote and newline escaped.
pub(crate) fn write_label_value(out: &mut String, value: &str) {
    write_escaped(out, value, true);
}

fn write_escaped(out: &mut String, s: &str, quote: bool) {
    let mut start = 0;
    for (i, b) in s.bytes().enumerate() {
        let escaped = match b {
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'"' if quote => "\\\"",
            _ => continue,
        };
        // `i` is the index of an ASCII byte, so both slices end on character boundaries.
        out.push_str(&s[start..i]);
        out.push_str(escaped);
        start = i + 1;
    }
    out.push_str(&s[start..]);
}

/// Appends an unsigned integer sample value.
#[inline]
pub(crate) fn write_u64(out: &mut String, v: u64) {
    out.push_str(itoa::Buffer::new().format(v));
}

/// Appends a signed integer sample value.
#[inline]
pub(crate) fn write_i64(out: &mut String, v: i64) {
    out.push_str(itoa::Buffer::new().format(v));
}

/// Appends a float sample value: `NaN`, `+Inf`, `-Inf`, integers without a fraction, and the
/// shortest representation that parses back to the same value otherwise.
#[inline]
pub(crate) fn write_f64(out: &mut String, v: f64) {
    if v.is_nan() {
        out.push_str("NaN");
    } else if v.is_infinite() {
        out.push_str(if v > 0.0 { "+Inf" } else { "-Inf" });
    } else if v.fract() == 0.0 && v.abs() < 1e15 {
        // Exact: every integer below 2^53 is representable, so the cast loses nothing.
        #[allow(clippy::cast_possible_truncation)]
        write_i64(out, v as i64);
    } else {
        out.push_str(ryu::Buffer::new().format_finite(v));
    }
}

/// Formats a histogram bucket bound for the `le` label (`0.005`, `1`, `+Inf`).
pub(crate) fn format_bound(bound: f64) -> String {
    let mut out = String::new();
    write_f64(&mut out, bound);
    out
}

/// Appends `k="v"` pairs separated by commas, values escaped. A label with an empty value is
/// left out, as Prometheus reads it anyway (an endpoint label the endpoint has no value for).
pub(crate) fn write_label_pairs<'a>(
    out: &mut String,
    labels: impl IntoIterator<Item = (&'a str, &'a str)>,
) {
    let labels = labels.into_iter().filter(|(_, v)| !v.is_empty());
    for (i, (k, v)) in labels.enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(k);
        out.push_str("=\"");
        write_label_value(out, v);
        out.push('"');
    }
}

/// Appends `name{l1="v1",...,extra="x"} `: the part of a sample line before its value. Labels
/// with empty values are left out, as in [`write_label_pairs`].
pub(crate) fn write_series_prefix<'a>(
    out: &mut String,
    name: &str,
    suffix: &str,
    labels: impl IntoIterator<Item = (&'a str, &'a str)>,
    extra: Option<(&str, &str)>,
) {
    out.push_str(name);
    out.push_str(suffix);
    let mut first = true;
    let mut pair = |k: &str, v: &str| {
        out.push(if first { '{' } else { ',' });
        first = false;
        out.push_str(k);
        out.push_str("=\"");
        write_label_value(out, v);
        out.push('"');
    };
    for (k, v) in labels.into_iter().filter(|(_, v)| !v.is_empty()) {
        pair(k, v);
    }
    if let Some((k, v)) = extra {
        pair(k, v);
    }
    if !first {
        out.push('}');
    }
    out.push(' ');
}

/// Appends ` # {labels} value timestamp`, an exemplar after an OpenMetrics sample value.
pub(crate) fn write_exemplar(out: &mut String, e: &Exemplar) {
    out.push_str(" # {");
    write_label_pairs(out, e.labels.iter().map(|(k, v)| (&**k, &**v)));
    out.push_str("} ");
    write_f64(out, e.value);
    out.push(' ');
    out.push_str(itoa::Buffer::new().format(e.timestamp.0));
    out.push('.');
    let nanos = itoa::Buffer::new().format(e.timestamp.1).len();
    out.extend(std::iter::repeat_n('0', 9usize.saturating_sub(nanos)));
    out.push_str(itoa::Buffer::new().format(e.timestamp.1));
}

/// The end of an OpenMetrics exposition.
pub(crate) const OPENMETRICS_EOF: &str = "# EOF\n";

/// Appends the `# HELP` and `# TYPE` lines of a family in a text format. In OpenMetrics a
/// counter's family name has no `_total` (its samples do), help escapes double quotes too, and
/// untyped is `unknown`.
pub(crate) fn write_header(out: &mut String, name: &str, help: &str, kind: Kind, format: Format) {
    let openmetrics = format == Format::OpenMetrics;
    let (name, kind) = match kind {
        Kind::Counter if openmetrics => (name.strip_suffix("_total").unwrap_or(name), "counter"),
        Kind::Untyped if openmetrics => (name, "unknown"),
        kind => (name, kind.as_str()),
    };
    out.push_str("# HELP ");
    out.push_str(name);
    out.push(' ');
    write_escaped(out, help, openmetrics);
    out.push_str("\n# TYPE ");
    out.push_str(name);
    out.push(' ');
    out.push_str(kind);
    out.push('\n');
}

/// Whether OpenMetrics shows the `_sum` of `sum` (and, for a histogram, its `_count`): not
/// when the sum is negative or NaN, nor for a histogram with a bound below zero. OpenMetrics
/// 1.0 counts `_sum` among the counter-like samples, which are never negative or NaN, says a
/// histogram with negative buckets "MUST NOT contain a sum value", and a histogram has both
/// `_sum` and `_count` or neither; strict parsers (Python's `prometheus_client`) refuse the
/// whole page otherwise. The `+Inf` bucket still gives the count, and the text format and
/// protobuf still carry both.
pub(crate) fn openmetrics_totals(sum: f64, negative_bound: bool) -> bool {
    sum >= 0.0 && !negative_bound
}

/// Appends `family` in a text format: 0.0.4 or OpenMetrics. A foreign counter whose name does
/// not end in `_total` is `unknown` in OpenMetrics: its samples would have to be renamed
/// `<name>_total` otherwise, and every query of the name it has in the text format (a DCGM
/// dashboard's `DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION`, say) would lose its series. In
/// OpenMetrics a sample carries the exemplar of its slot, if the snapshot has one.
pub(crate) fn write_snapshot(out: &mut String, family: &Snapshot, format: Format) {
    let openmetrics = format == Format::OpenMetrics;
    let name = family.name.as_str();
    let kind = match family.kind {
        Kind::Counter if openmetrics && !name.ends_with("_total") => Kind::Untyped,
        kind => kind,
    };
    write_header(out, name, &family.help, kind, format);
    for series in &family.series {
        let labels = || series.labels.iter().map(|(k, v)| (k.as_str(), v.as_str()));
        // A sample line; in OpenMetrics with the exemplar of `slot`, if there is one.
        let mut line = |suffix: &str, extra: Option<(&str, &str)>, v: f64, slot: Option<usize>| {
            write_series_prefix(out, &family.name, suffix, labels(), extra);
            write_f64(out, v);
            let exemplar = slot.filter(|_| openmetrics).and_then(|slot| {
                series
                    .exemplars
                    .iter()
                    .find(|(s, _)| *s == slot)
                    .map(|(_, e)| e)
            });
            if let Some(e) = exemplar {
                write_exemplar(out, e);
            }
            out.push('\n');
        };
        match &series.value {
            Value::Scalar(v) => line("", None, *v, Some(0)),
            Value::Histogram {
                buckets,
                sum,
                count,
                ..
            } => {
                for (i, (bound, c)) in buckets.iter().enumerate() {
                    let le = Some(("le", &*format_bound(*bound)));
                    line("_bucket", le, *c as f64, Some(i));
                }
                if buckets.last().is_none_or(|(b, _)| *b != f64::INFINITY) {
                    let le = Some(("le", "+Inf"));
                    line("_bucket", le, *count as f64, Some(buckets.len()));
                }
                let negative_bound = buckets.iter().any(|(b, _)| *b < 0.0);
                if !openmetrics || openmetrics_totals(*sum, negative_bound) {
                    line("_sum", None, *sum, None);
                    line("_count", None, *count as f64, None);
                }
            }
            Value::Summary {
                quantiles,
                sum,
                count,
            } => {
                for (q, v) in quantiles {
                    line("", Some(("quantile", &format_bound(*q))), *v, None);
                }
                if !openmetrics || openmetrics_totals(*sum, false) {
                    line("_sum", None, *sum, None);
                }
                line("_count", None, *count as f64, None);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(v: f64) -> String {
        let mut out = String::new();
        write_f64(&mut out, v);
        out
    }

    #[test]
    fn floats() {
        assert_eq!(f(0.0), "0");
        assert_eq!(f(-3.0), "-3");
        assert_eq!(f(0.005), "0.005");
        assert_eq!(f(2.5), "2.5");
        assert_eq!(f(1e20), "1e20");
        assert_eq!(f(f64::NAN), "NaN");
        assert_eq!(f(f64::INFINITY), "+Inf");
        assert_eq!(f(f64::NEG_INFINITY), "-Inf");
        for v in [
            0.1,
            1.0 / 3.0,
            1e-9,
            123456.789,
            f64::MAX,
            f64::MIN_POSITIVE,
        ] {
            assert_eq!(f(v).parse::<f64>().unwrap(), v);
        }
    }

    #[test]
    fn escaping() {
        let mut out = String::new();
        write_label_value(&mut out, "a\\b\"c\nd é");
        assert_eq!(out, r#"a\\b\"c\nd é"#);
        let mut out = String::new();
        write_escaped(&mut out, "say \"hi\"\\\n", false);
        assert_eq!(out, r#"say "hi"\\\n"#);
    }

    #[test]
    fn prefixes() {
        let mut out = String::new();
        write_series_prefix(&mut out, "m", "_bucket", [("a", "x")], Some(("le", "1")));
        write_series_prefix(&mut out, "m", "", [], None);
        assert_eq!(out, "m_bucket{a=\"x\",le=\"1\"} m ");
    }
}
