//! Everything about output formats: what a scrape asks for, the one model of a family at one
//! moment, and one writer per format.
//!
//! - [`format`](mod@format): [`Format`], [`Escaping`] and [`Negotiated`]: `Accept`
//!   negotiation and every content type we answer with;
//! - [`snapshot`]: [`Snapshot`], a family at one moment with its exemplars: what every
//!   producer that has no prepared text hands over (the GPU collector, foreign collectors,
//!   our own histograms and exemplar-carrying counters for protobuf);
//! - [`text`]: the text writer (0.0.4 and OpenMetrics share it): escaping, numbers, headers,
//!   exemplars, and whole families from snapshots;
//! - [`prepared`]: the text each of our series prepares at creation and writes with the value
//!   its cell reads, the fast path of every scrape, in the same bytes as [`text`];
//! - [`protobuf`]: the delimited `MetricFamily` writer, over `wire` (varints, doubles,
//!   length-delimited fields);
//! - `otlp` (feature `otlp`): the OTLP `ExportMetricsServiceRequest` writer, cumulative or
//!   delta;
//! - [`prometheus_model`]: the `prometheus` crate's model, both ways, for foreign collectors
//!   and for our types' `Collector` impls.
//!
//! [`encode`] and [`write_text`] are the one entry: a producer of families ([`Families`], the
//! runtime's store) hands each family over as a [`Snapshot`] or as a [`PreparedFamily`], and
//! the writer of the format asked for takes it from there; the end of an OpenMetrics
//! exposition is written here, nowhere else. Adding a format is a writer file and a branch in
//! [`encode`].
//!
//! It imports nothing of this crate but the naming rules: metric types hand it their values,
//! and it knows no metric type.

pub(crate) mod format;
#[cfg(feature = "otlp")]
pub(crate) mod otlp;
pub(crate) mod prepared;
pub(crate) mod prometheus_model;
pub(crate) mod protobuf;
pub(crate) mod snapshot;
pub(crate) mod text;
mod wire;
#[cfg(test)]
mod writers_agree;

pub use format::{CONTENT_TYPE, Escaping, Format, Negotiated};

use snapshot::Snapshot;

/// A family as its producer hands it to the writers.
pub(crate) enum Exposed<'a> {
    /// One of ours: it writes itself from text prepared per series ([`prepared`]) and from
    /// its label values, through this module's writers.
    Prepared(&'a dyn PreparedFamily),
    /// Anyone's, in the one model.
    Snapshot(&'a Snapshot),
}

/// A family with text prepared per series: see [`prepared::write_family`].
pub(crate) trait PreparedFamily {
    /// Appends the family in a text format; nothing when it has no series.
    fn write_text(&self, out: &mut String, format: Format);
    /// Appends the family as a length-delimited protobuf `MetricFamily`; nothing when it has
    /// no series.
    fn write_protobuf(&self, out: &mut Vec<u8>);
    /// Appends the family as one OTLP `Metric` (field 2 of `ScopeMetrics`); nothing when it
    /// has no series.
    #[cfg(feature = "otlp")]
    fn write_otlp(&self, out: &mut Vec<u8>, ctx: &mut otlp::Context<'_>);
}

/// Whatever holds the families of an exposition: the store of a runtime.
pub(crate) trait Families {
    /// Calls `each` with every family whose name `keep` accepts, once, in name order.
    fn each_family(&self, keep: &dyn Fn(&str) -> bool, each: &mut dyn FnMut(Exposed<'_>));
}

/// Appends the exposition of `families` in a text format, the end of an OpenMetrics one
/// included.
pub(crate) fn write_text(
    out: &mut String,
    families: &dyn Families,
    format: Format,
    keep: &dyn Fn(&str) -> bool,
) {
    families.each_family(keep, &mut |family| match family {
        Exposed::Prepared(family) => family.write_text(out, format),
        Exposed::Snapshot(family) => text::write_snapshot(out, family, format),
    });
    if format == Format::OpenMetrics {
        out.push_str(text::OPENMETRICS_EOF);
    }
}

/// The exposition of `families` in `format`, into `out` (cleared first: its allocation is
/// reused).
pub(crate) fn encode_into(
    families: &dyn Families,
    format: Format,
    keep: &dyn Fn(&str) -> bool,
    out: &mut Vec<u8>,
) {
    out.clear();
    match format {
        Format::Text | Format::OpenMetrics => {
            // An empty buffer is valid UTF-8 whatever its capacity: nothing is checked.
            let mut text = String::from_utf8(std::mem::take(out)).unwrap_or_default();
            write_text(&mut text, families, format, keep);
            *out = text.into_bytes();
        }
        Format::Protobuf => families.each_family(keep, &mut |family| match family {
            Exposed::Prepared(family) => family.write_protobuf(out),
            Exposed::Snapshot(family) => protobuf::write_snapshot(out, family),
        }),
    }
}
