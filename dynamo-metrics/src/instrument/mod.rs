//! Request metrics of endpoints, recorded by `#[instrument_endpoint]` or by hand through
//! [`EndpointMetrics::start`]. See [`EndpointMetrics`] for details.
//!
//! - [`endpoint`]: the request metrics of an endpoint; [`guard`]: the guard of one request;
//! - [`binding`]: which runtime an instrumented call is recorded by;
//! - [`site`]: the statics of one instrumented function; [`labelled`]: its endpoints under
//!   the label values its calls give;
//! - [`payload`] and [`error_type`]: what a request, a response and an error count as;
//! - [`stream`]: response streams; [`probe`]: what the macro asks of any value;
//! - [`calls`]: calls recorded per thread and runtime, read back at render.
//!
//! It imports `metrics`, `registry` and `describe`; the runtime binds it at start.

pub(crate) mod binding;
pub(crate) mod calls;
pub(crate) mod endpoint;
pub(crate) mod error_type;
pub(crate) mod guard;
pub(crate) mod labelled;
pub(crate) mod payload;
pub(crate) mod probe;
pub(crate) mod site;
pub(crate) mod stream;

pub use endpoint::{
    DEFAULT_ERROR_TYPE, EndpointMetrics, PANIC_ERROR_TYPE, REQUEST_DURATION_BUCKETS,
};
pub use error_type::ErrorType;
pub use guard::RequestGuard;
pub use payload::PayloadSize;
