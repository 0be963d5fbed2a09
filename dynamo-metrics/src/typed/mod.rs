//! Metrics declared as Rust types: the run-time half of `#[derive(DynamoMetrics)]`,
//! `#[derive(LabelSet)]` and `#[derive(LabelValue)]`.
//!
//! - [`label_set`]: [`LabelSet`](label_set::LabelSet) and
//!   [`LabelValue`](label_set::LabelValue), label structs and their enum values;
//! - [`family`]: [`LabeledFamily`](family::LabeledFamily) and its aliases, families whose
//!   series are found by a `LabelSet`;
//! - [`fields`]: [`MetricField`](fields::MetricField) and
//!   [`DynamoMetrics`](fields::DynamoMetrics), what a derived struct registers with.
//!
//! It imports `registry`, `metrics` and `describe`.

pub(crate) mod family;
pub(crate) mod fields;
pub(crate) mod label_set;
