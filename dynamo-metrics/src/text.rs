//! Writing the Prometheus text exposition format 0.0.4: escaping and number formatting.
//!
//! Everything here appends to a caller's buffer and allocates nothing of its own, so a render
//! of the whole registry costs one buffer and the numbers written into it.

/// The content type of the text exposition format this crate writes.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Appends `help` with backslash and newline escaped, as HELP lines require.
pub(crate) fn write_help(out: &mut Vec<u8>, help: &str) {
    write_escaped(out, help, false);
}

/// Appends a label value with backslash, double quote and newline escaped.
pub(crate) fn write_label_value(out: &mut Vec<u8>, value: &str) {
    write_escaped(out, value, true);
}

fn write_escaped(out: &mut Vec<u8>, s: &str, quote: bool) {
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let escaped: &[u8] = match b {
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'"' if quote => b"\\\"",
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..i]);
        out.extend_from_slice(escaped);
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
}

/// Appends an unsigned integer sample value.
#[inline]
pub(crate) fn write_u64(out: &mut Vec<u8>, v: u64) {
    out.extend_from_slice(itoa::Buffer::new().format(v).as_bytes());
}

/// Appends a signed integer sample value.
#[inline]
pub(crate) fn write_i64(out: &mut Vec<u8>, v: i64) {
    out.extend_from_slice(itoa::Buffer::new().format(v).as_bytes());
}

/// Appends a float sample value: `NaN`, `+Inf`, `-Inf`, integers without a fraction, and the
/// shortest representation that parses back to the same value otherwise.
#[inline]
pub(crate) fn write_f64(out: &mut Vec<u8>, v: f64) {
    if v.is_nan() {
        out.extend_from_slice(b"NaN");
    } else if v.is_infinite() {
        out.extend_from_slice(if v > 0.0 { b"+Inf" } else { b"-Inf" });
    } else if v.fract() == 0.0 && v.abs() < 1e15 {
        // Exact: every integer below 2^53 is representable, so the cast loses nothing.
        #[allow(clippy::cast_possible_truncation)]
        write_i64(out, v as i64);
    } else {
        out.extend_from_slice(ryu::Buffer::new().format_finite(v).as_bytes());
    }
}

/// Formats a histogram bucket bound for the `le` label (`0.005`, `1`, `+Inf`).
pub(crate) fn format_bound(bound: f64) -> String {
    let mut out = Vec::new();
    write_f64(&mut out, bound);
    String::from_utf8(out).unwrap_or_default()
}

/// Appends `name{l1="v1",...,extra="x"} `: the part of a sample line before its value.
pub(crate) fn write_series_prefix<'a>(
    out: &mut Vec<u8>,
    name: &str,
    suffix: &str,
    labels: impl IntoIterator<Item = (&'a str, &'a str)>,
    extra: Option<(&str, &str)>,
) {
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(suffix.as_bytes());
    let mut first = true;
    let mut pair = |k: &str, v: &str| {
        out.push(if first { b'{' } else { b',' });
        first = false;
        out.extend_from_slice(k.as_bytes());
        out.extend_from_slice(b"=\"");
        write_label_value(out, v);
        out.push(b'"');
    };
    for (k, v) in labels {
        pair(k, v);
    }
    if let Some((k, v)) = extra {
        pair(k, v);
    }
    if !first {
        out.push(b'}');
    }
    out.push(b' ');
}

/// Appends the `# HELP` and `# TYPE` lines of a family.
pub(crate) fn write_header(out: &mut Vec<u8>, name: &str, help: &str, kind: &str) {
    out.extend_from_slice(b"# HELP ");
    out.extend_from_slice(name.as_bytes());
    out.push(b' ');
    write_help(out, help);
    out.extend_from_slice(b"\n# TYPE ");
    out.extend_from_slice(name.as_bytes());
    out.push(b' ');
    out.extend_from_slice(kind.as_bytes());
    out.push(b'\n');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(v: f64) -> String {
        let mut out = Vec::new();
        write_f64(&mut out, v);
        String::from_utf8(out).unwrap()
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
        let mut out = Vec::new();
        write_label_value(&mut out, "a\\b\"c\nd é");
        assert_eq!(String::from_utf8(out).unwrap(), r#"a\\b\"c\nd é"#);
        let mut out = Vec::new();
        write_help(&mut out, "say \"hi\"\\\n");
        assert_eq!(String::from_utf8(out).unwrap(), r#"say "hi"\\\n"#);
    }

    #[test]
    fn prefixes() {
        let mut out = Vec::new();
        write_series_prefix(&mut out, "m", "_bucket", [("a", "x")], Some(("le", "1")));
        write_series_prefix(&mut out, "m", "", [], None);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "m_bucket{a=\"x\",le=\"1\"} m "
        );
    }
}
