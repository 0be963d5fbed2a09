//! One line of a text exposition taken apart: a sample's name, labels, value and exemplar
//! (its timestamp read and dropped), names checked, escapes undone, numbers with `NaN` and
//! infinities. [`parse`](super::parse::parse) groups the samples into families.

use crate::exposition::snapshot::Exemplar;

/// A sample line taken apart.
pub(super) struct Sample {
    pub(super) name: String,
    pub(super) labels: Vec<(String, String)>,
    pub(super) value: f64,
    pub(super) exemplar: Option<Exemplar>,
}

pub(super) fn check_name(name: &str) -> Result<(), String> {
    let mut chars = name.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':');
    if first_ok && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':') {
        Ok(())
    } else {
        Err(format!("invalid metric name {name:?}"))
    }
}

pub(super) fn sample(line: &str) -> Result<Sample, String> {
    let end = line.find(['{', ' ']).unwrap_or(line.len());
    let (name, mut rest) = line.split_at(end);
    check_name(name)?;
    let labels = if let Some(after) = rest.strip_prefix('{') {
        let (labels, after) = label_set(after)?;
        rest = after;
        labels
    } else {
        Vec::new()
    };
    let (main, exemplar) = match rest.split_once(" # ") {
        Some((main, exemplar)) => (main, Some(exemplar)),
        None => (rest, None),
    };
    let mut words = main.split_whitespace();
    let value = number(words.next().ok_or("a sample without a value")?)?;
    // A timestamp, dropped: what we serve is read now.
    if let Some(ts) = words.next() {
        number(ts)?;
    }
    if words.next().is_some() {
        return Err(format!("text after the value in {line:?}"));
    }
    let exemplar = exemplar.map(exemplar_of).transpose()?;
    Ok(Sample {
        name: name.to_owned(),
        labels,
        value,
        exemplar,
    })
}

/// `{a="1",b="2"} value [timestamp]` after ` # `.
fn exemplar_of(text: &str) -> Result<Exemplar, String> {
    let after = text
        .trim_start()
        .strip_prefix('{')
        .ok_or("an exemplar without labels")?;
    let (labels, rest) = label_set(after)?;
    let mut words = rest.split_whitespace();
    let value = number(words.next().ok_or("an exemplar without a value")?)?;
    let timestamp = match words.next() {
        Some(ts) => {
            let ts = number(ts)?;
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            let t = (ts.trunc() as i64, (ts.fract() * 1e9) as u32);
            t
        }
        None => (0, 0),
    };
    Ok(Exemplar {
        labels: labels
            .into_iter()
            .map(|(k, v)| (k.into_boxed_str(), v.into_boxed_str()))
            .collect(),
        value,
        timestamp,
    })
}

/// The labels after `{`, up to and past `}`.
/// Label names and values, in order.
type Labels = Vec<(String, String)>;

fn label_set(mut text: &str) -> Result<(Labels, &str), String> {
    let mut labels = Vec::new();
    loop {
        text = text.trim_start();
        if let Some(rest) = text.strip_prefix('}') {
            return Ok((labels, rest));
        }
        let (name, rest) = text.split_once('=').ok_or("a label without `=`")?;
        let name = name.trim();
        let ok = name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !ok {
            return Err(format!("invalid label name {name:?}"));
        }
        let rest = rest
            .trim_start()
            .strip_prefix('"')
            .ok_or("a label value without quotes")?;
        let end = closing_quote(rest).ok_or("an unterminated label value")?;
        let value = unescape(&rest[..end], true)?;
        if labels.iter().any(|(k, _)| k == name) {
            return Err(format!("label {name:?} given twice"));
        }
        labels.push((name.to_owned(), value));
        text = rest[end + 1..].trim_start();
        text = text.strip_prefix(',').unwrap_or(text);
    }
}

/// The byte index of the quote that ends a value (escaped quotes skipped).
fn closing_quote(text: &str) -> Option<usize> {
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'"' => return Some(i),
            _ => i += 1,
        }
    }
    None
}

/// Undoes `\\`, `\n` (and `\"` in label values).
pub(super) fn unescape(text: &str, quotes: bool) -> Result<String, String> {
    if !text.contains('\\') {
        return Ok(text.to_owned());
    }
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('\\') => out.push('\\'),
            Some('n') => out.push('\n'),
            Some('"') if quotes => out.push('"'),
            // The text format keeps an unknown escape as it is.
            Some(other) if !quotes => {
                out.push('\\');
                out.push(other);
            }
            other => {
                return Err(format!(
                    "invalid escape \\{}",
                    other.map(String::from).unwrap_or_default()
                ));
            }
        }
    }
    Ok(out)
}

pub(super) fn number(word: &str) -> Result<f64, String> {
    match word {
        "+Inf" | "Inf" | "+inf" | "inf" => Ok(f64::INFINITY),
        "-Inf" | "-inf" => Ok(f64::NEG_INFINITY),
        "NaN" | "nan" => Ok(f64::NAN),
        _ => word
            .parse::<f64>()
            .ok()
            .filter(|v| v.is_finite())
            .ok_or_else(|| format!("invalid number {word:?}")),
    }
}
