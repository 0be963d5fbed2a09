//! A strict reader of the text exposition formats, 0.0.4 and OpenMetrics 1.0, as engines
//! write them (Python's `prometheus_client`, plain and multiprocess, the Go client, the
//! `prometheus` crate): `# HELP`, `# TYPE`, `# UNIT`, `# EOF`, counters with `_total` (and
//! `_created`, dropped), histograms and summaries grouped into one series per label set,
//! escapes, exemplars, `NaN` and infinities, timestamps (dropped). See [`parse`] for details.

use std::collections::{BTreeMap, HashMap};
use std::hash::BuildHasher;

use super::lines::{Sample, check_name, number, sample, unescape};
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
    /// Series in the order they first appeared, with their labels.
    series: Vec<(Vec<(String, String)>, Partial)>,
    /// Where each series is in `series`, by a hash of its labels (labels compared on a hit).
    index: HashMap<u64, usize>,
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
    if current.as_ref().is_none_or(|f| f.name != name) {
        let next = next_reading(current.as_ref(), seen, name, line)?;
        done.extend(current.replace(next));
    }
    current.as_mut().ok_or_else(|| ParseError {
        line,
        reason: "no family".to_owned(),
    })
}

/// A new family `name` after `current` (which ends), checked against those `seen` before.
fn next_reading(
    current: Option<&Reading>,
    seen: &mut BTreeMap<String, (Kind, bool)>,
    name: &str,
    line: usize,
) -> Result<Reading, ParseError> {
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
    if let Some(f) = current {
        seen.insert(f.name.clone(), (f.kind, f.info));
    }
    seen.insert(name.to_owned(), (Kind::Untyped, false));
    // `prometheus_client` writes the creation time of `x_total` (or of a histogram or summary
    // `x`) as a gauge family `x_created` in text 0.0.4, the family just before: not a metric
    // of the engine's, left out as OpenMetrics' `_created` samples are.
    let created = name.strip_suffix("_created").is_some_and(|base| {
        current.is_some_and(|f| {
            f.name == base
                || (f.kind == Kind::Counter && f.name.strip_suffix("_total") == Some(base))
        })
    });
    Ok(Reading {
        name: name.to_owned(),
        help: String::new(),
        kind: Kind::Untyped,
        skipped: created,
        info: false,
        series: Vec::new(),
        index: HashMap::new(),
    })
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

fn whole(v: f64, what: &str) -> Result<u64, String> {
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let n = v as u64;
    if v >= 0.0 && v.fract() == 0.0 && v <= 2f64.powi(63) {
        Ok(n)
    } else {
        Err(format!("{what} {v} is not a whole number"))
    }
}

/// The hash of a series' labels, with a fixed key: equal labels, equal hashes.
fn hash_of(labels: &[(String, String)]) -> u64 {
    static KEYS: std::sync::OnceLock<std::collections::hash_map::RandomState> =
        std::sync::OnceLock::new();
    KEYS.get_or_init(Default::default).hash_one(labels)
}

impl Reading {
    /// Where the series with `labels` is, if it was read before.
    fn position(&self, labels: &[(String, String)]) -> Option<usize> {
        match self.index.get(&hash_of(labels)) {
            Some(&i) if self.series[i].0 == labels => Some(i),
            // Two label sets with one hash: found by comparing them all.
            Some(_) => self.series.iter().position(|(l, _)| l == labels),
            None => None,
        }
    }

    /// Adds a series with `labels`; where it is.
    fn insert(&mut self, labels: Vec<(String, String)>) -> usize {
        let at = self.series.len();
        self.index.entry(hash_of(&labels)).or_insert(at);
        self.series.push((labels, Partial::default()));
        at
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
    let at = match family.position(&labels) {
        Some(at) => at,
        None => {
            if *count >= max {
                *overflow += 1;
                return Ok(());
            }
            *count += 1;
            family.insert(labels)
        }
    };
    let series = &mut family.series[at].1;
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
        series,
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
    let mut out = Vec::with_capacity(series.len());
    for (labels, p) in series {
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
