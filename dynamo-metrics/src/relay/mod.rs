//! Relayed expositions: an engine's own metrics (vLLM, SGLang, TensorRT-LLM, usually written by
//! Python's `prometheus_client`) read at each scrape and merged into ours with our labels.
//!
//! - [`RelaySource`]: where to read (a callback that returns exposition text, or the URL of
//!   an engine's `/metrics`), what to keep, rename and bound;
//! - `parse`: the strict reader of text 0.0.4 and OpenMetrics into the exposition model,
//!   `lines` the reader of one line;
//! - `fetch`: one bounded `GET` over plain HTTP/1.1.
//!
//! It imports only the exposition model; the registry attaches a source to a level and serves
//! what it reads (see `MetricsRegistry::relay`).

mod fetch;
mod lines;
pub(crate) mod parse;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::error::{Error, Result};
use crate::exposition::snapshot::Snapshot;

/// Why a source was left out of a scrape. Its `reason` is the label of
/// `dynamo_metrics_source_failures_total`.
#[derive(Debug, PartialEq)]
pub(crate) enum Failure {
    /// No connection (refused, no route, name not found).
    Unreachable(String),
    /// No whole answer within the source's deadline.
    Timeout,
    /// An answer other than 200.
    Status(u16),
    /// More bytes than the source's cap.
    TooLarge,
    /// Not HTTP, or not an exposition (with the line at fault).
    Garbage(String),
    /// The callback or collector panicked.
    Panic,
}

impl Failure {
    /// The `reason` label.
    pub(crate) fn reason(&self) -> &'static str {
        match self {
            Failure::Unreachable(_) => "unreachable",
            Failure::Timeout => "timeout",
            Failure::Status(_) => "status",
            Failure::TooLarge => "too_large",
            Failure::Garbage(_) => "garbage",
            Failure::Panic => "panic",
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Unreachable(why) => write!(f, "unreachable: {why}"),
            Failure::Timeout => f.write_str("no whole answer within the deadline"),
            Failure::Status(status) => write!(f, "answered HTTP {status}"),
            Failure::TooLarge => f.write_str("larger than the byte cap"),
            Failure::Garbage(why) => write!(f, "not an exposition: {why}"),
            Failure::Panic => f.write_str("panicked"),
        }
    }
}

/// Where a source's text comes from.
#[derive(Clone)]
enum Origin {
    Callback(Arc<dyn Fn() -> String + Send + Sync>),
    Url(fetch::Target),
}

/// An exposition relayed into a runtime's output at the level it is attached to
/// (`MetricsRegistry::relay`): read at every scrape and OTLP export, parsed, filtered,
/// renamed, and served in every format with the level's labels (hierarchy, endpoint labels,
/// `worker_id`) added to each series. Where a series already has a label of that name, the
/// source's value wins (as Dynamo's relay does), unless [`ours_win`](Self::ours_win).
///
/// A source fails alone: unreachable, slow past its deadline, answering other than 200 or
/// with text that is not an exposition, larger than its byte cap, a callback that panics;
/// it is then left out of that scrape, the failure is counted in
/// `dynamo_metrics_source_failures_total{source, reason}` and logged once per change, and the
/// rest of the page is served. Series past its cap are left out and counted in
/// `dynamo_metrics_relay_series_dropped_total{source}`. A family named like one of ours is left
/// out and logged once, never served twice.
#[derive(Clone)]
pub struct RelaySource {
    name: String,
    origin: Origin,
    keep: Vec<String>,
    drop: Vec<String>,
    renames: Vec<(String, String)>,
    pub(crate) deadline: Duration,
    max_bytes: usize,
    max_series: usize,
    pub(crate) ours_win: bool,
}

impl fmt::Debug for RelaySource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let origin = match &self.origin {
            Origin::Callback(_) => "callback".to_owned(),
            Origin::Url(t) => format!("http://{}:{}{}", t.host, t.port, t.path),
        };
        f.debug_struct("RelaySource")
            .field("name", &self.name)
            .field("origin", &origin)
            .field("keep", &self.keep)
            .field("drop", &self.drop)
            .field("renames", &self.renames)
            .field("deadline", &self.deadline)
            .finish_non_exhaustive()
    }
}

/// The longest line of an exposition a source may send.
const MAX_LINE: usize = 64 * 1024;

/// The most series kept from one source by default: an engine's page (a histogram is one
/// series), well above what vLLM or SGLang write for a few models.
const DEFAULT_MAX_SERIES: usize = 10_000;

impl RelaySource {
    fn new(name: &str, origin: Origin) -> Self {
        RelaySource {
            name: name.to_owned(),
            origin,
            keep: Vec::new(),
            drop: Vec::new(),
            renames: Vec::new(),
            deadline: Duration::from_secs(2),
            max_bytes: 16 << 20,
            max_series: DEFAULT_MAX_SERIES,
            ours_win: false,
        }
    }

    /// A source that calls `text` at each scrape for exposition text (text 0.0.4 or
    /// OpenMetrics), as Dynamo's `register_prometheus_expfmt_callback` does. `name` is the
    /// `source` label of its failures.
    pub fn callback(name: &str, text: impl Fn() -> String + Send + Sync + 'static) -> Self {
        RelaySource::new(name, Origin::Callback(Arc::new(text)))
    }

    /// A source that reads `url` (`http://host:port/path`, an engine's `/metrics`) at each
    /// scrape, within its deadline (default 2 s) and byte cap (default 16 MiB). The status
    /// server and the OTLP export read it on a blocking thread; code of yours that calls
    /// `render` or `encode` inside an async task should do the same (`spawn_blocking`), or a
    /// slow engine holds that task's thread.
    ///
    /// # Errors
    /// [`Error::Relay`] when `url` is not a plain `http://` URL with a host.
    pub fn url(name: &str, url: &str) -> Result<Self> {
        let target = fetch::Target::parse(url).ok_or_else(|| Error::Relay {
            source_name: name.to_owned(),
            reason: format!("{url:?} is not an http://host[:port][/path] URL"),
        })?;
        Ok(RelaySource::new(name, Origin::Url(target)))
    }

    /// Keeps only the families whose names start with one of `prefixes` (`vllm:`, `sglang:`).
    #[must_use]
    pub fn keep_prefixes(mut self, prefixes: &[&str]) -> Self {
        self.keep = prefixes.iter().map(|p| (*p).to_owned()).collect();
        self
    }

    /// Leaves out the families whose names start with one of `prefixes` (`python_`,
    /// `process_`: the engine's own process).
    #[must_use]
    pub fn drop_prefixes(mut self, prefixes: &[&str]) -> Self {
        self.drop = prefixes.iter().map(|p| (*p).to_owned()).collect();
        self
    }

    /// Renames families starting with `from` to start with `to` (`trtllm:` to `trtllm_`),
    /// after the filters.
    #[must_use]
    pub fn rename_prefix(mut self, from: &str, to: &str) -> Self {
        self.renames.push((from.to_owned(), to.to_owned()));
        self
    }

    /// The longest a scrape waits for this source.
    #[must_use]
    pub fn deadline(mut self, deadline: Duration) -> Self {
        self.deadline = deadline;
        self
    }

    /// The most bytes read from this source.
    #[must_use]
    pub fn max_bytes(mut self, max_bytes: usize) -> Self {
        self.max_bytes = max_bytes;
        self
    }

    /// The most series kept from this source (default 10,000); more are left
    /// out and counted.
    #[must_use]
    pub fn max_series(mut self, max_series: usize) -> Self {
        self.max_series = max_series;
        self
    }

    /// Our labels replace a series' own labels of the same names, instead of the reverse.
    #[must_use]
    pub fn ours_win(mut self) -> Self {
        self.ours_win = true;
        self
    }

    /// The `source` label of its failures.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether reading it may wait on the network.
    #[cfg(feature = "server")]
    pub(crate) fn is_remote(&self) -> bool {
        matches!(self.origin, Origin::Url(_))
    }

    /// Reads, parses, filters and renames the source's families now; the series left out
    /// past its cap.
    pub(crate) fn read(&self) -> std::result::Result<(Vec<Snapshot>, usize), Failure> {
        let text = match &self.origin {
            Origin::Callback(text) => {
                let text = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| text()))
                    .map_err(|_| Failure::Panic)?;
                if text.len() > self.max_bytes {
                    return Err(Failure::TooLarge);
                }
                text
            }
            Origin::Url(target) => {
                let body = fetch::get(target, self.deadline, self.max_bytes)?;
                String::from_utf8(body).map_err(|_| Failure::Garbage("invalid UTF-8".to_owned()))?
            }
        };
        let parsed = parse::parse(&text, self.max_series, MAX_LINE)
            .map_err(|e| Failure::Garbage(format!("line {}: {}", e.line, e.reason)))?;
        let families = parsed
            .families
            .into_iter()
            .filter(|f| {
                self.keep.is_empty() || self.keep.iter().any(|p| f.name.starts_with(p.as_str()))
            })
            .filter(|f| !self.drop.iter().any(|p| f.name.starts_with(p.as_str())))
            .map(|mut f| {
                if let Some((from, to)) = self
                    .renames
                    .iter()
                    .find(|(from, _)| f.name.starts_with(from.as_str()))
                {
                    f.name = format!("{to}{}", &f.name[from.len()..]);
                }
                f
            })
            .collect();
        Ok((families, parsed.overflow))
    }
}

#[cfg(test)]
mod tests;
