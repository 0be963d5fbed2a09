//! Procedural macros of `dynamo-metrics`; use them through its re-exports, which document
//! them. Each entry point parses, validates (collecting every error) and expands; on error it
//! emits the errors and a stub, so one mistake gives one error.

mod ctxt;
mod endpoint;
mod labels;
mod metrics;

use proc_macro::TokenStream;

/// Implements `DynamoMetrics` for a struct whose fields are metrics: `register(&node)`
/// creates them all on any level of the runtime hierarchy.
///
/// Each field is an `IntCounter`, `Counter`, `IntGauge`, `Gauge` or `Histogram`, or a family
/// of one typed by a label set (`IntCounterFamily<L>`, `HistogramFamily<L>`, ...). Its name is
/// `dynamo_<subsystem>_[<prefix>_]<field name>[_<unit>]`; its HELP is the doc comment.
///
/// - Struct attributes, `#[metrics(...)]`: `subsystem = "frontend"` (default `component`),
///   `level = "runtime" | "namespace" | "component" | "endpoint"` (checked at registration;
///   runtime-level structs are also registered when a runtime starts), `prefix = "..."`.
/// - Field attributes, `#[metric(...)]`: `name = "..."`, `help = "..."`, `unit = "seconds"`,
///   `buckets = [0.1, 1, 10]` (finite number literals, strictly increasing; `f64::INFINITY` may
///   end the list, the `+Inf` bucket every histogram has) or `exponential(start, factor, count)`,
///   `linear(start, width, count)`, `log(min, max, count)`, `const_labels(key = "value")`,
///   `max_series = N` (string label sets; default 1000), `max_label_len = N` (the longest
///   string label value in bytes; default 256, longer values count under the overflow series),
///   `striped` (integer counters and gauges that many threads update at once: one atomic per
///   CPU on its own cache line, summed on render; histograms: one set of counts per thread
///   that observes, written without locked instructions, summed on render).
///
/// Counters must end in `_total` (nothing is added for you). Every rule of the name table is
/// checked at compile time, at the token that breaks it, and all errors of a struct are
/// reported together.
#[proc_macro_derive(DynamoMetrics, attributes(metrics, metric))]
pub fn derive_dynamo_metrics(input: TokenStream) -> TokenStream {
    metrics::derive(syn::parse_macro_input!(input as syn::DeriveInput)).into()
}

/// Implements `LabelSet` for a struct of labels: each field name is a label name, each field
/// an enum deriving `LabelValue` (bounded: series created up front, found by index) or a
/// string (`String`, `&'static str`, `Cow<'static, str>`: looked up, capped per family).
#[proc_macro_derive(LabelSet)]
pub fn derive_label_set(input: TokenStream) -> TokenStream {
    labels::derive_set(syn::parse_macro_input!(input as syn::DeriveInput)).into()
}

/// Implements `LabelValue` for an enum of unit variants: each variant is one value of a
/// label, its name in snake_case unless `#[label(value = "...")]` says otherwise.
#[proc_macro_derive(LabelValue, attributes(label))]
pub fn derive_label_value(input: TokenStream) -> TokenStream {
    labels::derive_value(syn::parse_macro_input!(input as syn::DeriveInput)).into()
}

/// Implements `ErrorType` for an error enum: each variant is one `error_type` of
/// `dynamo_component_errors_total`, its name in snake_case unless
/// `#[error_type(name = "...")]` says otherwise.
#[proc_macro_derive(ErrorType, attributes(error_type))]
pub fn derive_error_type(input: TokenStream) -> TokenStream {
    labels::derive_error_type(syn::parse_macro_input!(input as syn::DeriveInput)).into()
}

/// Records the request metrics of an endpoint for every call of the function:
/// `#[instrument_endpoint(component = "backend", endpoint = "generate")]`.
///
/// On `async fn` and `fn`, free or in `impl` blocks, with generics, `where` clauses and
/// `impl Trait` returns; the signature and body are kept as written. Each call counts
/// `dynamo_component_requests_total`, the in-flight gauge, the duration (to the end of the
/// stream for functions returning `impl Stream`, or with the `stream` flag), request bytes of
/// the first argument (or `request = <argument>`) and response bytes of the result through
/// `PayloadSize`, `Err` results by `ErrorType` (default `handler`), panics (`panic`) and
/// cancellations (the future or stream dropped first). The namespace is the runtime's
/// (`DYN_NAMESPACE`, default `dynamo`); calls before a runtime starts are counted too.
/// With the `metrics` feature off the function is left exactly as written.
#[proc_macro_attribute]
pub fn instrument_endpoint(args: TokenStream, item: TokenStream) -> TokenStream {
    endpoint::expand(args.into(), item.into()).into()
}
