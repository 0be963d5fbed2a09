//! Serving what a runtime exposes over HTTP: the system status server and the routes to mount
//! in an application's own axum server.
//!
//! - [`config`]: [`SystemServerConfig`](config::SystemServerConfig), compiled with or without
//!   the `server` feature, since a [`RuntimeConfig`](crate::RuntimeConfig) holds one;
//! - `server`: the routes (`/metrics`, `/health`, `/live`), content negotiation and gzip
//!   through [`exposition`](crate::exposition), the exporter's own metrics, start and
//!   shutdown;
//! - `buffers`: the `/metrics` route's page buffers, reused from scrape to scrape;
//! - `listener`: accepting connections so that hostile clients cannot starve the listener;
//! - `web` (feature `tls`): the web configuration file: TLS, basic auth, headers, reload.
//!
//! It imports the layers below it (`exposition`, `metrics`, `describe`, `registry`) and knows
//! what it serves only through `server::Source`, which the runtime implements.

#[cfg(feature = "server")]
pub(crate) mod buffers;
pub(crate) mod config;
#[cfg(feature = "server")]
pub(crate) mod listener;
#[cfg(feature = "server")]
pub(crate) mod server;
#[cfg(feature = "tls")]
pub(crate) mod web;
