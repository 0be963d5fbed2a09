//! The OTLP encoding: one `ExportMetricsServiceRequest` (`opentelemetry/proto/collector/
//! metrics/v1`) of every family, written by hand from what a scrape reads at the same moment.
//! See [`encode_request`] for details.
//!
//! - `points`: one `Metric` per family and its data points, for our series read in place and
//!   for snapshots;
//! - `prepared`: the fast path, counters and gauges whose point heads were encoded once;
//! - `exemplar`: exemplars with their trace and span ids as bytes;
//! - `delta`: the state that turns cumulative values into deltas, acknowledged per export.
//!
//! How the Prometheus model maps onto OTLP's:
//!
//! | family | OTLP |
//! |---|---|
//! | counter | `Sum`, monotonic, cumulative (or delta) |
//! | gauge, untyped | `Gauge` |
//! | histogram with native buckets | `ExponentialHistogram` (scale = schema; the classic buckets are not sent) |
//! | histogram | `Histogram` with explicit bounds (counts per bucket, not cumulative) |
//! | summary | `Summary` (always cumulative: OTLP has no delta summaries) |
//!
//! A series' labels become its point's attributes (a label with an empty value is left out,
//! as in every format); names stay the names a scrape shows; the unit comes from the name's
//! suffix ([`unit_of`]). Exemplars carry `trace_id` and `span_id` as bytes when they are
//! W3C hex ids, their other labels as filtered attributes.

mod delta;
mod exemplar;
mod points;
mod prepared;

pub(crate) use delta::DeltaState;
pub(crate) use points::write_snapshot;
pub(crate) use prepared::{number_point_head, write_prepared_scalars};

use super::wire::{bytes, header, nested_len};
use super::{Exposed, Families};

/// The identity of everything an export carries: the resource's attributes and the
/// instrumentation scope.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Resource {
    /// `service.name`, `host.name` and the others, in order, as strings.
    pub(crate) attributes: Vec<(String, String)>,
    /// The instrumentation scope: name and version.
    pub(crate) scope: (String, String),
}

/// What one export writes besides the values: its times and its temporality.
pub(crate) struct Context<'a> {
    /// When cumulative series started: the runtime's start, in nanoseconds since the epoch.
    pub(crate) start: u64,
    /// The time of this export, in nanoseconds since the epoch.
    pub(crate) now: u64,
    /// Counters and histograms as deltas from the last acknowledged export; `None` for
    /// cumulative.
    pub(crate) delta: Option<&'a mut DeltaState>,
    /// Data points written so far.
    pub(crate) points: u64,
}

impl Context<'_> {
    /// Whether every point can be written from what a series reads now, without state.
    pub(crate) fn cumulative(&self) -> bool {
        self.delta.is_none()
    }
}

/// The bytes of the `Resource` message's fields and the `InstrumentationScope`'s.
fn resource_fields(resource: &Resource) -> (Vec<u8>, Vec<u8>) {
    let mut attributes = Vec::new();
    for (k, v) in &resource.attributes {
        points::write_attribute(&mut attributes, 1, k, v);
    }
    let mut scope = Vec::new();
    bytes(&mut scope, 1, resource.scope.0.as_bytes());
    bytes(&mut scope, 2, resource.scope.1.as_bytes());
    (attributes, scope)
}

/// Writes the `ExportMetricsServiceRequest` of every family `families` holds into `buffer`
/// (cleared first, its allocation reused): one `ResourceMetrics` with `resource`, one
/// `ScopeMetrics`, one `Metric` per family with series. Returns where the message starts:
/// it is `buffer[start..]`.
///
/// The metrics are written first, after room for the headers in front: the lengths of the two
/// enclosing messages are known only then, and nothing is copied to place them.
pub(crate) fn encode_request(
    families: &dyn Families,
    resource: &Resource,
    ctx: &mut Context<'_>,
    buffer: &mut Vec<u8>,
) -> usize {
    let (resource_bytes, scope_bytes) = resource_fields(resource);
    // Keys and lengths of the request's, resource metrics' and scope metrics' fields, of the
    // resource and of the scope: at most 1 + 10 bytes each.
    let room = resource_bytes.len() + scope_bytes.len() + 5 * 11;
    buffer.clear();
    buffer.resize(room, 0);
    families.each_family(&|_| true, &mut |family| match family {
        Exposed::Prepared(family) => family.write_otlp(buffer, ctx),
        Exposed::Snapshot(family) => write_snapshot(buffer, ctx, family),
    });
    let metrics = buffer.len() - room;
    let scope_metrics = nested_len(1, scope_bytes.len()) + metrics;
    let resource_metrics = nested_len(1, resource_bytes.len()) + nested_len(2, scope_metrics);
    let mut head = Vec::with_capacity(room);
    header(&mut head, 1, resource_metrics);
    header(&mut head, 1, resource_bytes.len());
    head.extend_from_slice(&resource_bytes);
    header(&mut head, 2, scope_metrics);
    header(&mut head, 1, scope_bytes.len());
    head.extend_from_slice(&scope_bytes);
    let start = room - head.len();
    buffer[start..room].copy_from_slice(&head);
    start
}

/// The unit of a family from its name's suffix, in UCUM as OTLP writes it: `_seconds` is
/// `s`, `_bytes` `By`, and so on; empty when the name says none. A counter's `_total` is
/// looked past.
pub(crate) fn unit_of(name: &str) -> &'static str {
    let name = name.strip_suffix("_total").unwrap_or(name);
    const UNITS: &[(&str, &str)] = &[
        ("_seconds", "s"),
        ("_milliseconds", "ms"),
        ("_ms", "ms"),
        ("_microseconds", "us"),
        ("_nanoseconds", "ns"),
        ("_bytes", "By"),
        ("_percent", "%"),
        ("_ratio", "1"),
        ("_celsius", "Cel"),
        ("_watts", "W"),
        ("_joules", "J"),
        ("_hertz", "Hz"),
        ("_megahertz", "MHz"),
    ];
    UNITS
        .iter()
        .find(|(suffix, _)| name.ends_with(suffix))
        .map_or("", |(_, unit)| unit)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_come_from_the_suffix() {
        assert_eq!(unit_of("dynamo_frontend_time_to_first_token_seconds"), "s");
        assert_eq!(unit_of("dynamo_component_request_bytes_total"), "By");
        assert_eq!(unit_of("dynamo_router_overhead_total_ms"), "ms");
        assert_eq!(unit_of("dynamo_component_requests_total"), "");
        assert_eq!(unit_of("gpu_utilization_percent"), "%");
        assert_eq!(unit_of("kv_hit_ratio"), "1");
    }
}
