//! Bounded error names for `dynamo_component_errors_total`. See [`ErrorType`] for details.

/// A bounded name for an error, the `error_type` label of `dynamo_component_errors_total`.
/// Derive it on error enums with [`#[derive(ErrorType)]`](macro@crate::ErrorType); errors
/// of other types count as [`DEFAULT_ERROR_TYPE`](crate::DEFAULT_ERROR_TYPE).
pub trait ErrorType {
    /// The name of this error's kind: a short, bounded, snake_case word.
    fn error_type(&self) -> &'static str;
}
