//! A strict reader of the text exposition formats, 0.0.4 and OpenMetrics 1.0, as engines
//! write them (Python's `prometheus_client`, plain and multiprocess, the Go client, the
//! `prometheus` crate): `# HELP`, `# TYPE`, `# UNIT`, `# EOF`, counters with `_total` (and
//! `_created`, dropped), histograms and summaries grouped into one series per label set,
//! escapes, exemplars, `NaN` and infinities, timestamps (dropped). See [`parse`] for details.

use std::collections::BTreeMap;

use crate::exposition::snapshot::{Exemplar, Kind, SeriesSnapshot, Snapshot, Value};

/// Why a text was refused.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct ParseError {
    /// The line, from 1.
    pub(crate) line: usize,
    pub(crate) reason: String,
}

/// What [`parse`] found: the families, and how many series were left out past the cap.
#[derive(Debug, Default)]
pub(crate) struct Parsed {
    pub(crate) families: Vec<Snapshot>,
    pub(crate) overflow: usize,
}

/// A family being read: its declared type, help, and series by label values.
struct Reading {
    name: String,
    help: String,
    kind: Kind,
    /// OpenMetrics `gaugehistogram`: read, not kept.
    skipped: bool,
    /// OpenMetrics `info`: the samples, and so the family, are named `x_info`.
    info: bool,
    series: BTreeMap<Vec<(String, String)>, Partial>,
    /// The order series first appeared in.
    order: Vec<Vec<(String, String)>>,
}

/// One series as its samples arrive.
#[derive(Default)]
struct Partial {
    value: Option<f64>,
    buckets: Vec<(f64, u64)>,
    quantiles: Vec<(f64, f64)>,
    sum: Option<f64>,
    count: Option<u64>,
    exemplars: Vec<(usize, Exemplar)>,
}

/// Parses `text`, keeping at most `max_series` series (the rest counted as overflow) and
/// refusing a line longer than `max_line` bytes.
///
/// A family is declared by `# TYPE` (or `# HELP`); samples whose names are the family's or
/// its type's suffixes (`_total`, `_bucket`, `_sum`, `_count`, `_created`) belong to it, other
/// samples start an untyped family of their own. A counter family is named as its samples are
/// (`x_total`), as the text 0.0.4 format and this crate name counters.
///
/// # Errors
/// A [`ParseError`] with the line: a malformed sample, label, value or escape, a `# TYPE`
/// after the family's samples or given twice, a family whose samples come in two places, a
/// histogram bucket or count that is not a whole number, text after `# EOF`.
pub(crate) fn parse(text: &str, max_series: usize, max_line: usize) -> Result<Parsed, ParseError> {
    let mut done: Vec<Reading> = Vec::new();
    let mut current: Option<Reading> = None;
    let mut seen: BTreeMap<String, (Kind, bool)> = BTreeMap::new();
    let mut series_count = 0usize;
    let mut overflow = 0usize;
    let mut eof = false;
    for (i, raw) in text.split('\n').enumerate() {
        let number = i + 1;
        let fail = |reason: String| ParseError {
            line: number,
            reason,
        };
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        if line.len() > max_line {
            return Err(fail(format!(
                "a line of {} bytes, more than {max_line}",
                line.len()
            )));
        }
        if line.is_empty() {
            continue;
        }
        if eof {
            return Err(fail("text after # EOF".to_owned()));
        }
        if let Some(comment) = line.strip_prefix('#') {
            let mut words = comment.trim_start().splitn(3, ' ');
            let (keyword, name, rest) = (words.next(), words.next(), words.next());
            match (keyword, name) {
                (Some("EOF"), None) => eof = true,
                (Some(keyword @ ("HELP" | "TYPE" | "UNIT")), Some(name)) => {
                    check_name(name).map_err(fail)?;
                    let family = reading_for(&mut current, &mut done, &mut seen, name, number)?;
                    match keyword {
                        "HELP" => {
                            family.help = unescape(rest.unwrap_or(""), false).map_err(fail)?
                        }
                        "TYPE" => {
                            if !family.series.is_empty() {
                                return Err(fail(format!("# TYPE of {name} after its samples")));
                            }
                            let word = rest.unwrap_or("").trim();
                            let (kind, skipped) = kind_of(word).map_err(fail)?;
                            family.kind = kind;
                            family.skipped |= skipped;
                            family.info = word == "info";
                        }
                        _ => {}
                    }
                }
                // Any other comment.
                _ => {}
            }
            continue;
        }
        let sample = sample(line).map_err(fail)?;
        let family = match current.as_mut().filter(|f| belongs(f, &sample.name)) {
            Some(family) => family,
            None => {
                let name = sample.name.clone();
                reading_for(&mut current, &mut done, &mut seen, &name, number)?
            }
        };
        if family.skipped {
            continue;
        }
        add(family, sample, &mut series_count, max_series, &mut overflow).map_err(fail)?;
    }
    done.extend(current);
    let families = done
        .into_iter()
        .filter(|f| !f.skipped && !f.series.is_empty())
        .map(finish)
        .collect::<Result<_, _>>()
        .map_err(|(name, reason)| ParseError {
            line: 0,
            reason: format!("{name}: {reason}"),
        })?;
    Ok(Parsed { families, overflow })
}

/// The family being read if it is `name`, else a new one (the one before finished). A name
/// read before is a family split in two places.
fn reading_for<'a>(
    current: &'a mut Option<Reading>,
    done: &mut Vec<Reading>,
    seen: &mut BTreeMap<String, (Kind, bool)>,
    name: &str,
    line: usize,
) -> Result<&'a mut Reading, ParseError> {
    if current.as_ref().is_some_and(|f| f.name == name) {
        return Ok(current.as_mut().expect("just checked"));
    }
    let twice = |family: &str| ParseError {
        line,
        reason: format!("family {family} appears twice"),
    };
    if seen.contains_key(name) {
        return Err(twice(name));
    }
    // A sample of a family read before (`a_total` after the family `a` ended).
    for suffix in SUFFIXES {
        if let Some(base) = name.strip_suffix(suffix)
            && let Some((kind, info)) = seen.get(base)
            && suffixes(*kind, *info).contains(&suffix)
        {
            return Err(twice(base));
        }
    }
    if let Some(f) = current.as_ref() {
        seen.insert(f.name.clone(), (f.kind, f.info));
    }
    seen.insert(name.to_owned(), (Kind::Untyped, false));
    // `prometheus_client` writes the creation time of `x_total` (or of a histogram or summary
    // `x`) as a gauge family `x_created` in text 0.0.4, the family just before: not a metric
    // of the engine's, left out as OpenMetrics' `_created` samples are.
    let created = name.strip_suffix("_created").is_some_and(|base| {
        current.as_ref().is_some_and(|f| {
            f.name == base
                || (f.kind == Kind::Counter && f.name.strip_suffix("_total") == Some(base))
        })
    });
    done.extend(current.take());
    Ok(current.insert(Reading {
        name: name.to_owned(),
        help: String::new(),
        kind: Kind::Untyped,
        skipped: created,
        info: false,
        series: BTreeMap::new(),
        order: Vec::new(),
    }))
}

fn kind_of(word: &str) -> Result<(Kind, bool), String> {
    Ok(match word {
        "counter" => (Kind::Counter, false),
        "gauge" | "stateset" | "info" => (Kind::Gauge, false),
        "histogram" => (Kind::Histogram, false),
        "gaugehistogram" => (Kind::Histogram, true),
        "summary" => (Kind::Summary, false),
        "untyped" | "unknown" => (Kind::Untyped, false),
        other => return Err(format!("unknown type {other:?}")),
    })
}

/// Every suffix a sample's name may add to its family's.
const SUFFIXES: [&str; 8] = [
    "_total", "_created", "_bucket", "_sum", "_count", "_gcount", "_gsum", "_info",
];

/// The suffixes of the samples of a family of `kind` (`info`: an OpenMetrics info).
fn suffixes(kind: Kind, info: bool) -> &'static [&'static str] {
    match kind {
        Kind::Counter => &["", "_total", "_created"],
        Kind::Histogram => &["_bucket", "_sum", "_count", "_created", "_gcount", "_gsum"],
        Kind::Summary => &["", "_sum", "_count", "_created"],
        Kind::Gauge if info => &["_info"],
        Kind::Gauge | Kind::Untyped => &[""],
    }
}

/// Whether a sample named `name` belongs to `family`.
fn belongs(family: &Reading, name: &str) -> bool {
    name.strip_prefix(family.name.as_str())
        .is_some_and(|rest| suffixes(family.kind, family.info).contains(&rest))
}

/// A sample line taken apart.
struct Sample {
    name: String,
    labels: Vec<(String, String)>,
    value: f64,
    exemplar: Option<Exemplar>,
}

fn check_name(name: &str) -> Result<(), String> {
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

fn sample(line: &str) -> Result<Sample, String> {
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
fn label_set(mut text: &str) -> Result<(Vec<(String, String)>, &str), String> {
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
fn unescape(text: &str, quotes: bool) -> Result<String, String> {
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

fn number(word: &str) -> Result<f64, String> {
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

fn whole(v: f64, what: &str) -> Result<u64, String> {
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let n = v as u64;
    if v >= 0.0 && v.fract() == 0.0 && v <= 2f64.powi(63) {
        Ok(n)
    } else {
        Err(format!("{what} {v} is not a whole number"))
    }
}

/// Adds one sample to its family's series.
fn add(
    family: &mut Reading,
    sample: Sample,
    count: &mut usize,
    max: usize,
    overflow: &mut usize,
) -> Result<(), String> {
    let suffix = &sample.name[family.name.len()..];
    if suffix == "_created" {
        return Ok(());
    }
    let mut labels = sample.labels;
    let special = match (family.kind, suffix) {
        (Kind::Histogram, "_bucket") => "le",
        (Kind::Summary, "") => "quantile",
        _ => "",
    };
    let position = labels.iter().position(|(k, _)| k == special);
    let special_value = match (special, position) {
        ("", _) => None,
        (_, Some(i)) => Some(number(&labels.remove(i).1)?),
        (label, None) => return Err(format!("a {} sample without {label}", sample.name)),
    };
    if !family.series.contains_key(&labels) {
        if *count >= max {
            *overflow += 1;
            return Ok(());
        }
        *count += 1;
        family.order.push(labels.clone());
    }
    let series = family.series.entry(labels).or_default();
    match (family.kind, suffix, special_value) {
        (Kind::Histogram, "_bucket", Some(le)) => {
            let slot = series.buckets.len();
            series
                .buckets
                .push((le, whole(sample.value, "a bucket count")?));
            series.exemplars.extend(sample.exemplar.map(|e| (slot, e)));
        }
        (Kind::Histogram | Kind::Summary, "_sum", _) => series.sum = Some(sample.value),
        (Kind::Histogram | Kind::Summary, "_count", _) => {
            series.count = Some(whole(sample.value, "a count")?);
        }
        (Kind::Summary, "", Some(q)) => series.quantiles.push((q, sample.value)),
        (Kind::Histogram, _, _) => {} // _gcount, _gsum of a gauge histogram: skipped above
        (_, _, _) => {
            if series.value.replace(sample.value).is_some() {
                return Err(format!("two samples of one series of {}", sample.name));
            }
            series.exemplars.extend(sample.exemplar.map(|e| (0, e)));
        }
    }
    Ok(())
}

/// The family as the model holds it.
fn finish(family: Reading) -> Result<Snapshot, (String, String)> {
    let Reading {
        name,
        help,
        kind,
        mut series,
        order,
        info,
        ..
    } = family;
    // A family is named as its samples are: a counter `x_total` whether declared `x` or
    // `x_total`, an info `x_info`.
    let name = if kind == Kind::Counter && !name.ends_with("_total") {
        format!("{name}_total")
    } else if info {
        format!("{name}_info")
    } else {
        name
    };
    let mut out = Vec::with_capacity(order.len());
    for labels in order {
        let Some(p) = series.remove(&labels) else {
            continue;
        };
        let value = match kind {
            Kind::Histogram => {
                let mut buckets = p.buckets;
                buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
                let count = p.count.or(buckets.last().map(|b| b.1)).unwrap_or(0);
                Value::Histogram {
                    buckets,
                    sum: p.sum.unwrap_or(0.0),
                    count,
                    native: None,
                }
            }
            Kind::Summary => Value::Summary {
                quantiles: p.quantiles,
                sum: p.sum.unwrap_or(0.0),
                count: p.count.unwrap_or(0),
            },
            _ => match p.value {
                Some(v) => Value::Scalar(v),
                None => return Err((name, "a series without a value".to_owned())),
            },
        };
        out.push(SeriesSnapshot {
            labels,
            value,
            exemplars: p.exemplars,
        });
    }
    Ok(Snapshot {
        name,
        help,
        kind,
        series: out,
    })
}
