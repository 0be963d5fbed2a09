//! Autoref-specialisation probes, so the macro can ask any value for its size and error
//! type: types without [`PayloadSize`] count 0 bytes, `Result` errors without
//! [`ErrorType`] count as [`DEFAULT_ERROR_TYPE`], and other values are no error.

use super::endpoint::DEFAULT_ERROR_TYPE;
use super::error_type::ErrorType;
use super::payload::PayloadSize;

/// Wraps a reference to probe.
pub struct Probe<'a, T: ?Sized>(pub &'a T);

/// Probe for the size: `(&Probe(&x)).probe_size()`.
pub trait ViaPayloadSize {
    /// The size.
    fn probe_size(&self) -> u64;
}
impl<T: PayloadSize + ?Sized> ViaPayloadSize for Probe<'_, T> {
    fn probe_size(&self) -> u64 {
        self.0.payload_size()
    }
}
/// Fallback: no size.
pub trait NoPayloadSize {
    /// Zero.
    fn probe_size(&self) -> u64;
}
impl<T: ?Sized> NoPayloadSize for &Probe<'_, T> {
    fn probe_size(&self) -> u64 {
        0
    }
}

/// Probe for an error: `(&&Probe(&x)).probe_error()`.
pub trait ViaErrorType {
    /// The error type of an `Err`.
    fn probe_error(&self) -> Option<&'static str>;
}
impl<T, E: ErrorType> ViaErrorType for &Probe<'_, Result<T, E>> {
    fn probe_error(&self) -> Option<&'static str> {
        self.0.as_ref().err().map(ErrorType::error_type)
    }
}
/// Fallback for other `Result`s.
pub trait ViaResult {
    /// The default error type of an `Err`.
    fn probe_error(&self) -> Option<&'static str>;
}
impl<T, E> ViaResult for &&Probe<'_, Result<T, E>> {
    fn probe_error(&self) -> Option<&'static str> {
        self.0.as_ref().err().map(|_| DEFAULT_ERROR_TYPE)
    }
}
/// Fallback for values that are not `Result`s.
pub trait NotAnError {
    /// `None`.
    fn probe_error(&self) -> Option<&'static str>;
}
impl<T: ?Sized> NotAnError for Probe<'_, T> {
    fn probe_error(&self) -> Option<&'static str> {
        None
    }
}
