//! `docs/metrics.md`, generated from the catalog of every metric this program declares.

use std::fmt::Write as _;

use dynamo_metrics::{Level, MetricDescriptor, catalog};

/// The metrics reference as Markdown: one row per family (declared more than once, it lists
/// every source).
pub fn markdown() -> String {
    let mut out = String::from(
        "# Metrics reference\n\n\
         Generated from `dynamo_metrics::catalog()` by `cargo run -p dynamo-examples --bin gen-metrics-doc`;\n\
         a test fails when this file is stale. Hierarchy labels come first, by level: endpoint\n\
         `dynamo_namespace, dynamo_component, dynamo_endpoint`; component the first two; namespace\n\
         the first; runtime none. Families declared without a level take the labels of the level\n\
         they are registered at.\n\n\
         | Name | Type | Labels | Buckets | Level | Help | Declared by |\n\
         |---|---|---|---|---|---|---|\n",
    );
    let all = catalog();
    let mut i = 0;
    while i < all.len() {
        let d: &MetricDescriptor = all[i];
        let mut sources = vec![d.source];
        while i + 1 < all.len() && all[i + 1].name == d.name {
            i += 1;
            if !sources.contains(&all[i].source) {
                sources.push(all[i].source);
            }
        }
        i += 1;
        let mut labels: Vec<String> = d
            .const_labels
            .iter()
            .map(|(k, v)| format!("{k}=\"{v}\""))
            .collect();
        labels.extend(d.labels.iter().map(|l| (*l).to_owned()));
        let buckets = d.buckets.map_or_else(
            || {
                if d.kind == dynamo_metrics::naming::MetricKind::Histogram {
                    "default".to_owned()
                } else {
                    String::new()
                }
            },
            |b| {
                b.iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            },
        );
        let level = match d.level {
            Some(Level::Runtime) => "runtime",
            Some(Level::Namespace) => "namespace",
            Some(Level::Component) => "component",
            Some(Level::Endpoint) => "endpoint",
            None => "any",
        };
        let _ = writeln!(
            out,
            "| `{}` | {} | {} | {} | {} | {} | {} |",
            d.name,
            d.kind,
            labels.join(", "),
            buckets,
            level,
            d.help,
            sources
                .iter()
                .map(|s| format!("`{s}`"))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    out
}
