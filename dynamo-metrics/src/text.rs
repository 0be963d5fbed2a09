//! Writing the Prometheus text exposition format 0.0.4: escaping and number formatting.
//!
//! Everything here appends to a caller's buffer and allocates nothing of its own, so a render
//! of the whole registry costs one buffer and the numbers written into it.

/// The content type of the text exposition format this crate writes.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Appends `help` with backslash and newline escaped, as HELP lines require.
pub(crate) fn write_help(out: &mut String, help: &str) {
    write_escaped(out, help, false);
}

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

/// Appends `k="v"` pairs separated by commas, values escaped.
pub(crate) fn write_label_pairs<'a>(
    out: &mut String,
    labels: impl IntoIterator<Item = (&'a str, &'a str)>,
) {
    for (i, (k, v)) in labels.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(k);
        out.push_str("=\"");
        write_label_value(out, v);
        out.push('"');
    }
}

/// Appends `name{l1="v1",...,extra="x"} `: the part of a sample line before its value.
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
    for (k, v) in labels {
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

/// Appends the `# HELP` and `# TYPE` lines of a family in OpenMetrics: a counter's family name
/// has no `_total` (its samples do), help escapes double quotes too, and untyped is `unknown`.
pub(crate) fn write_openmetrics_header(out: &mut String, name: &str, help: &str, kind: &str) {
    let (name, kind) = match kind {
        "counter" => (name.strip_suffix("_total").unwrap_or(name), kind),
        "untyped" => (name, "unknown"),
        _ => (name, kind),
    };
    out.push_str("# HELP ");
    out.push_str(name);
    out.push(' ');
    write_escaped(out, help, true);
    out.push_str("\n# TYPE ");
    out.push_str(name);
    out.push(' ');
    out.push_str(kind);
    out.push('\n');
}

/// The end of an OpenMetrics exposition.
pub(crate) const OPENMETRICS_EOF: &str = "# EOF\n";

/// Appends the `# HELP` and `# TYPE` lines of a family.
pub(crate) fn write_header(out: &mut String, name: &str, help: &str, kind: &str) {
    out.push_str("# HELP ");
    out.push_str(name);
    out.push(' ');
    write_help(out, help);
    out.push_str("\n# TYPE ");
    out.push_str(name);
    out.push(' ');
    out.push_str(kind);
    out.push('\n');
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
        write_help(&mut out, "say \"hi\"\\\n");
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
